/* SPDX-License-Identifier: MIT */
#include "daemon/proto/detached.h"
#include "daemon/proto/detached_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/config/config.h"
#include "daemon/exec/fairq.h"
#include "daemon/exec/job.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/provenance.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/dispatch.h"
#include "daemon/proto/proto.h"
#include "daemon/store/store.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "wire/message.h"

/* --- submitting ---------------------------------------------------------- */

/* Fills the INSERT for job j as it is now. */
static struct store_req *djob_insert_req(struct proto *pr, struct job *j,
                                         const char *id, bool started)
{
	struct store_req *r = store_req_new(STORE_INSERT);

	if (!r)
		return NULL;
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	r->rec.plugin = strdup(plugin_name(j->plugin));
	if (j->user && !(r->rec.owner = strdup(j->user->name))) {
		store_req_free(r);
		return NULL;
	}
	/* A copy, not a reference: for a detach of a running job a worker
	 * holds the input now, and the job must stay its only owner (the
	 * store thread and the loop release this copy whenever they like).
	 * Both sides only read the input, so copying it now is safe. */
	r->rec.input = json_deep_copy(j->input);
	r->rec.timeout_ms = j->timeout_ms;
	r->rec.state = started ? JOB_RUNNING : JOB_QUEUED;
	r->rec.attempts = started ? j->prior_attempts + 1 : j->prior_attempts;
	r->rec.created_ms = j->queued_wall_ms;
	r->rec.started_ms = started ? j->started_wall_ms : 0;
	r->purpose = P_ACCEPT;
	r->conn_slot = j->conn_slot;
	r->conn_gen = j->conn_gen;
	r->has_id = true;
	r->req_id = j->req_id;
	if (!r->rec.plugin) {
		store_req_free(r);
		return NULL;
	}
	return r;
}

/* Names j as detached job id. Under j->lock, so that the worker either
 * sees the id (and records its start after our INSERT, which is queued
 * first) or has already set `started` (and our INSERT says running). */
static int djob_detach_job(struct proto *pr, struct job *j, const char *id,
                           struct pool *pool, uint64_t *retry_after_ms)
{
	struct store_req *r;
	int rc = 0;

	pthread_mutex_lock(&j->lock);
	if (j->answer_only) {
		/* Finished as a plain call; its answer is on the way. */
		pthread_mutex_unlock(&j->lock);
		return -EALREADY;
	}
	r = djob_insert_req(pr, j, id, j->started);
	if (!r)
		rc = -ENOMEM;
	else if (pool)
		rc = pool_submit(pool, j, retry_after_ms);
	if (rc == 0) {
		memcpy(j->job_id, id, sizeof(j->job_id));
		j->has_job_id = true;
		j->start_recorded = j->started; /* inserted as running */
		j->store = pr->detached->store;
		djob_store_submit(pr, r);
	} else {
		store_req_free(r);
	}
	pthread_mutex_unlock(&j->lock);
	if (rc == 0)
		j->detached = true;
	return rc;
}

/* A fresh id that no live job has (the store's primary key checks the
 * finished ones). */
static void djob_new_id(struct detached *d, char id[STORE_ID_LEN + 1])
{
	do
		store_new_id(id);
	while (djob_find(d, id));
}

int detached_submit(struct proto *pr, struct job *j, uint64_t *retry_after_ms)
{
	struct detached *d = pr->detached;
	char id[STORE_ID_LEN + 1];
	struct djob *x;
	int rc;

	djob_new_id(d, id);
	x = djob_add(d, id, plugin_name(j->plugin), j->queued_wall_ms,
	             j->user ? j->user->name : NULL);
	if (!x)
		return -ENOMEM;
	x->job = j;
	rc = djob_detach_job(pr, j, id, j->plugin->pool, retry_after_ms);
	if (rc < 0) {
		x->job = NULL;
		djob_remove(pr, x);
	}
	return rc; /* the caller translates (proto/errors.h) */
}

void detached_detach(struct proto *pr, struct session *s, struct msg *m)
{
	struct job *j = session_find_job(s, m->id);
	char id[STORE_ID_LEN + 1];
	struct djob *x;
	int rc;

	if (!j) {
		session_send_error(s, true, m->id, JOBD_E_NOT_FOUND,
		                   "detach: no call with id %lld is in flight",
		                   (long long)m->id);
		return;
	}
	if (j->detached)
		return; /* already on its way: `accepted` follows */
	if (j->input_arrays) {
		/* The store keeps a job's JSON only, for now: a restart
		 * would run it without its arrays. */
		session_send_error(s, true, m->id, JOBD_E_BAD_REQUEST,
		                   "detach: a call with binary arrays cannot "
		                   "be detached yet");
		return;
	}
	djob_new_id(pr->detached, id);
	x = djob_add(pr->detached, id, plugin_name(j->plugin),
	             j->queued_wall_ms, j->user ? j->user->name : NULL);
	rc = x ? djob_detach_job(pr, j, id, NULL, NULL) : -ENOMEM;
	if (rc < 0) {
		if (x)
			djob_remove(pr, x);
		if (rc == -EALREADY)
			session_send_error(
			        s, true, m->id, JOBD_E_NOT_FOUND,
			        "detach: call %lld has just finished; its "
			        "answer follows",
			        (long long)m->id);
		else
			session_send_error(s, true, m->id, JOBD_E_INTERNAL,
			                   "detach: out of memory");
		return;
	}
	x->job = j;
}

/* --- requests from clients ----------------------------------------------- */

static bool djob_id_plausible(const char *id)
{
	size_t n = strlen(id);

	return n == STORE_ID_LEN && strspn(id, "0123456789abcdef") == n;
}

static bool djob_refuse_unknown(struct proto *pr, struct session *s,
                                const struct msg *m)
{
	if (djob_id_plausible(m->job))
		return false;
	session_send_error(s, m->has_id, m->id, JOBD_E_NOT_FOUND,
	                   "no job \"%s\" (job ids are 16 hex digits)", m->job);
	return true;
}

/* status and result: from memory while the job is live (an unfinished
 * job's `result` says how far it is), else from the store. */
static void djob_read(struct proto *pr, struct session *s, struct msg *m,
                      enum purpose purpose)
{
	struct djob *x;
	struct store_rec r;

	if (djob_refuse_unknown(pr, s, m))
		return;
	x = djob_live(pr->detached, m->job);
	if (!x) {
		djob_ask_store(pr, s, m, m->job, purpose);
		return;
	}
	if (!djob_allowed(pr, s, m->has_id, m->id, m->job, x->owner))
		return;
	djob_live_rec(x, &r);
	session_send_msg(
	        s, djob_for(pr, s, djob_status_msg(m->has_id, m->id, &r, x)));
}

void detached_status(struct proto *pr, struct session *s, struct msg *m)
{
	djob_read(pr, s, m, P_STATUS);
}

void detached_result(struct proto *pr, struct session *s, struct msg *m)
{
	djob_read(pr, s, m, P_RESULT);
}

void detached_attach(struct proto *pr, struct session *s, struct msg *m)
{
	struct djob *x;
	struct attacher *a;

	if (!m->has_id) {
		session_send_error(
		        s, false, 0, JOBD_E_BAD_REQUEST,
		        "attach: \"id\" is required (progress and the "
		        "result are tagged with it)");
		return;
	}
	if (djob_refuse_unknown(pr, s, m))
		return;
	x = djob_find(pr->detached, m->job);
	if (x && !djob_allowed(pr, s, true, m->id, m->job, x->owner))
		return;
	session_wait_begin(s);
	if (!x || x->finishing) {
		/* Finished (or finishing: the store answers after the
		 * final write, which is queued first). */
		if (x && (a = calloc(1, sizeof(*a)))) {
			djob_attacher_add(x, a, s->slot, s->gen, m->id);
			return;
		}
		djob_ask_store(pr, s, m, m->job, P_ATTACH);
		return;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		session_wait_end(s);
		session_send_error(s, true, m->id, JOBD_E_INTERNAL,
		                   "out of memory");
		return;
	}
	djob_attacher_add(x, a, s->slot, s->gen, m->id);
	if (x->has_progress)
		session_send_msg(
		        s, msg_progress(m->id, x->fraction,
		                        x->message[0] ? x->message : NULL));
}

void detached_jobs(struct proto *pr, struct session *s, struct msg *m)
{
	struct store_req *r;
	json_t *lim = json_object_get(m->root, "limit");
	int state = -1;

	if (m->state) {
		state = job_state_from_name(m->state);
		if (state < 0) {
			session_send_error(
			        s, m->has_id, m->id, JOBD_E_BAD_REQUEST,
			        "jobs: \"state\" must be queued, running, "
			        "done, failed, cancelled or interrupted");
			return;
		}
	}
	if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
	            json_integer_value(lim) > JOBS_MAX_LIMIT)) {
		session_send_error(
		        s, m->has_id, m->id, JOBD_E_BAD_REQUEST,
		        "jobs: \"limit\" must be an integer from 1 to "
		        "%u",
		        JOBS_MAX_LIMIT);
		return;
	}
	r = store_req_new(STORE_LIST);
	if (!r || (m->plugin && !(r->list_plugin = strdup(m->plugin)))) {
		store_req_free(r);
		session_send_error(s, m->has_id, m->id, JOBD_E_INTERNAL,
		                   "out of memory");
		return;
	}
	/* Each user lists their own jobs; admins every job. */
	if (!auth_is_admin(pr, s) &&
	    !(r->rec.owner = strdup(auth_owner(s) ? auth_owner(s) : ""))) {
		store_req_free(r);
		session_send_error(s, m->has_id, m->id, JOBD_E_INTERNAL,
		                   "out of memory");
		return;
	}
	r->list_state = state;
	r->list_limit =
	        lim ? (unsigned)json_integer_value(lim) : JOBS_DEFAULT_LIMIT;
	r->purpose = P_JOBS;
	r->conn_slot = s->slot;
	r->conn_gen = s->gen;
	r->has_id = m->has_id;
	r->req_id = m->id;
	djob_store_submit(pr, r);
}

/* Cancels live job x. Returns true if it left a queue (and is ended). */
static bool djob_cancel(struct proto *pr, struct djob *x)
{
	struct job *j = x->job;

	if (!j)
		return false;
	atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
	if (!djob_take_waiting(pr, j))
		return false; /* running: it ends when the plugin returns */
	if (j->tracked)
		session_untrack_job(j->owner, j);
	djob_finish_error(pr, x, JOB_CANCELLED, JOBD_E_CANCELLED,
	                  "cancelled before it started");
	job_free(j);
	return true;
}

void detached_cancel(struct proto *pr, struct session *s, struct msg *m)
{
	struct djob *x;
	struct store_rec r;
	json_t *o;

	if (djob_refuse_unknown(pr, s, m))
		return;
	x = djob_live(pr->detached, m->job);
	if (!x) {
		djob_ask_store(pr, s, m, m->job,
		               P_CANCEL); /* ended, or unknown */
		return;
	}
	if (!djob_allowed(pr, s, m->has_id, m->id, m->job, x->owner))
		return;
	djob_live_rec(x, &r);
	if (djob_cancel(pr, x)) {
		r.state = JOB_CANCELLED;
		r.finished_ms = wall_ms();
		r.code = (char *)msg_error_name(JOBD_E_CANCELLED);
		r.message = (char *)"cancelled before it started";
		session_send_msg(s, djob_for(pr, s,
		                             djob_status_msg(m->has_id, m->id,
		                                             &r, NULL)));
		return;
	}
	o = djob_for(pr, s, djob_status_msg(m->has_id, m->id, &r, x));
	if (o)
		json_object_set_new(o, "cancel_requested", json_true());
	session_send_msg(s, o);
}

void detached_cancel_job(struct proto *pr, struct job *j)
{
	struct djob *x = djob_live(pr->detached, j->job_id);

	if (x && x->job == j)
		djob_cancel(pr, x);
	else
		atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
}
