/* SPDX-License-Identifier: MIT */
#include "daemon/proto/detached.h"
#include "daemon/proto/detached_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/config/config.h"
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

/* --- the store's answers ------------------------------------------------- */

static void djob_on_accept(struct proto *pr, struct store_req *r)
{
	struct session *s =
	        session_lookup(&pr->net->sessions, r->conn_slot, r->conn_gen);
	struct djob *x = djob_find(pr->detached, r->rec.id);
	struct job *j = x ? x->job : NULL;

	if (r->rc == 0) {
		if (s && j && j->tracked && j->owner == s)
			session_untrack_job(s, j);
		if (s)
			session_send_msg(s, msg_accepted(r->req_id, r->rec.id));
		return;
	}
	/* Not stored: the call ends here, and so does the job. */
	if (s)
		session_send_error(s, true, r->req_id, JOBD_E_INTERNAL,
		                   "the job could not be stored: %s", r->err);
	if (!x)
		return;
	if (j) {
		atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
		if (j->tracked)
			session_untrack_job(j->owner, j);
		j->answered = true;
		if (pool_unqueue(j->plugin->pool, j))
			job_free(j);
		/* else: running; it finds no row to start, or is dropped
		 * when it comes back (it is no longer registered). */
	}
	x->job = NULL;
	djob_remove(pr, x);
}

static void djob_on_finish(struct proto *pr, struct store_req *r)
{
	struct djob *x = djob_find(pr->detached, r->rec.id);
	struct attacher *a;

	if (!x)
		return;
	if (r->rc == 1) {
		djob_tell_attached(pr, x, djob_final_for, &r->rec);
	} else if (r->rc == 0) {
		/* It had ended already (this cannot race in one process, but
		 * the store is the judge): show what is stored. The
		 * attachers move to the reads, which end their wait. */
		while ((a = x->attachers)) {
			struct store_req *g = store_req_new(STORE_GET);

			x->attachers = a->next;
			if (g) {
				snprintf(g->rec.id, sizeof(g->rec.id), "%s",
				         x->id);
				g->purpose = P_ATTACH;
				g->conn_slot = a->slot;
				g->conn_gen = a->gen;
				g->has_id = true;
				g->req_id = a->req_id;
				djob_store_submit(pr, g);
			}
			free(a);
		}
	} else {
		struct err_arg e = {x->id, JOBD_E_INTERNAL,
		                    "the job's result could not be stored"};

		djob_tell_attached(pr, x, djob_error_for, &e);
	}
	djob_remove(pr, x);
}

/* An attach answered by the store with a job that is not finished: it is
 * live in the registry (it cannot be otherwise), so follow it there. */
static bool djob_on_get_attach(struct proto *pr, struct session *s,
                               struct store_req *r)
{
	struct djob *x;
	struct attacher *a;

	if (r->rc != 0 || job_state_final(r->rec.state))
		return false;
	x = djob_find(pr->detached, r->rec.id);
	if (!x || !(a = calloc(1, sizeof(*a))))
		return false;
	djob_attacher_add(x, a, r->conn_slot, r->conn_gen, r->req_id);
	return true;
}

/* A job read from the store for status/result/attach/cancel. */
static void djob_on_get(struct proto *pr, struct store_req *r)
{
	struct session *s =
	        session_lookup(&pr->net->sessions, r->conn_slot, r->conn_gen);

	if (!s)
		return;
	if (r->rc == 0 && !djob_allowed(pr, s, r->has_id, r->req_id, r->rec.id,
	                                r->rec.owner)) {
		if (r->purpose == P_ATTACH)
			session_wait_end(s);
		return;
	}
	if (r->purpose == P_ATTACH && djob_on_get_attach(pr, s, r))
		return; /* following the job again */
	if (r->purpose == P_ATTACH)
		session_wait_end(s);
	if (r->rc == JOBD_E_NOT_FOUND) {
		session_send_error(s, r->has_id, r->req_id, JOBD_E_NOT_FOUND,
		                   "no job \"%s\" (unknown, or its result "
		                   "expired)",
		                   r->rec.id);
		return;
	}
	if (r->rc < 0) {
		session_send_error(s, r->has_id, r->req_id, JOBD_E_INTERNAL,
		                   "job store: %s", r->err);
		return;
	}
	if (job_state_final(r->rec.state) &&
	    (r->purpose == P_RESULT || r->purpose == P_ATTACH)) {
		session_send_msg(s,
		                 djob_final_msg(r->has_id, r->req_id, &r->rec));
		return;
	}
	session_send_msg(s, djob_for(pr, s,
	                             djob_status_msg(r->has_id, r->req_id,
	                                             &r->rec, NULL)));
}

static void djob_on_list(struct proto *pr, struct store_req *r)
{
	struct session *s =
	        session_lookup(&pr->net->sessions, r->conn_slot, r->conn_gen);
	json_t *list, *o;
	struct djob *x;
	size_t i;

	if (!s)
		return;
	if (r->rc < 0) {
		session_send_error(s, r->has_id, r->req_id, JOBD_E_INTERNAL,
		                   "job store: %s", r->err);
		return;
	}
	list = json_array();
	for (i = 0; list && i < r->n_rows; i++) {
		struct store_rec live;

		x = djob_live(pr->detached, r->rows[i].id);
		if (x && x->job) {
			/* Fresher than the store: queued or running now. */
			djob_live_rec(x, &live);
			if (!job_state_final(r->rows[i].state))
				r->rows[i].state = live.state;
		}
		o = djob_for(pr, s, djob_json(&r->rows[i], x));
		if (o)
			json_array_append_new(list, o);
	}
	o = json_pack("{ss so sb}", "type", "jobs", "jobs",
	              list ? list : json_array(), "truncated", r->truncated);
	djob_put_id(o, r->has_id, r->req_id);
	session_send_msg(s, o);
}

void detached_store_done(struct cq_item *item, void *arg)
{
	struct proto *pr = arg;
	struct store_req *r = container_of(item, struct store_req, item);

	/* Closing: the store finished its queue; nobody waits any more. */
	if (!pr->detached || pr->detached->closing) {
		store_req_free(r);
		return;
	}
	switch (r->purpose) {
	case P_ACCEPT:
		djob_on_accept(pr, r);
		break;
	case P_FINISH:
		djob_on_finish(pr, r);
		break;
	case P_STATUS:
	case P_RESULT:
	case P_ATTACH:
	case P_CANCEL:
		djob_on_get(pr, r);
		break;
	case P_JOBS:
		djob_on_list(pr, r);
		break;
	default:
		break;
	}
	store_req_free(r);
}

/* --- jobs coming back ---------------------------------------------------- */

void detached_job_done(struct proto *pr, struct job *j)
{
	struct djob *x = djob_find(pr->detached, j->job_id);
	struct store_rec fin = {0};
	const char *text;

	if (j->tracked)
		session_untrack_job(j->owner, j); /* `accepted` still follows */
	if (!x || x->job != j || x->finishing) {
		job_free(j); /* ended early (deadline) or never stored */
		return;
	}
	if (j->status == JOBD_E_SHUTTING_DOWN) {
		/* Stopped by our shutdown: it stays `running` in the store
		 * and the restart decides. */
		struct err_arg e = {x->id, JOBD_E_SHUTTING_DOWN,
		                    "jobd stopped before the job finished; it "
		                    "continues after the restart"};

		djob_tell_attached(pr, x, djob_error_for, &e);
		x->job = NULL;
		djob_remove(pr, x);
		job_free(j);
		return;
	}
	fin.state = j->status == JOBD_OK            ? JOB_DONE
	            : j->status == JOBD_E_CANCELLED ? JOB_CANCELLED
	                                            : JOB_FAILED;
	if (j->status != JOBD_OK) {
		text = j->fail_msg                     ? j->fail_msg
		       : j->status == JOBD_E_TIMEOUT   ? "deadline passed"
		       : j->status == JOBD_E_CANCELLED ? "cancelled"
		                                       : "plugin failed";
		fin.code = strdup(msg_error_name((enum jobd_error)j->status));
		fin.message = strdup(text);
	}
	fin.output = j->output;
	j->output = NULL;
	fin.provenance = j->provenance;
	j->provenance = NULL;
	fin.started_ms = j->started_wall_ms;
	fin.finished_ms = j->finished_wall_ms ? j->finished_wall_ms : wall_ms();
	djob_finish(pr, x, &fin);
	job_free(j);
}

static json_t *djob_progress_for(int64_t id, const void *arg)
{
	const struct djob *x = arg;

	return msg_progress(id, x->fraction, x->message[0] ? x->message : NULL);
}

void detached_progress(struct proto *pr, struct job *j, double fraction,
                       const char *message)
{
	struct djob *x = djob_live(pr->detached, j->job_id);

	if (!x || x->job != j)
		return;
	x->has_progress = true;
	x->fraction = fraction;
	snprintf(x->message, sizeof(x->message), "%s", message ? message : "");
	djob_tell_attached(pr, x, djob_progress_for, x);
}

void detached_deadline(struct proto *pr, struct job *j)
{
	struct djob *x = djob_live(pr->detached, j->job_id);
	char text[96];

	atomic_store(&j->stop_reason, JOBD_E_TIMEOUT);
	if (!x || x->job != j)
		return;
	snprintf(text, sizeof(text), "deadline of %llu ms passed",
	         (unsigned long long)j->timeout_ms);
	/* A caller still waiting for `accepted` gets it (the INSERT is
	 * queued before this FINISH); the timeout shows in the job. */
	if (djob_take_waiting(pr, j)) {
		if (j->tracked)
			session_untrack_job(j->owner, j);
		djob_finish_error(pr, x, JOB_FAILED, JOBD_E_TIMEOUT, text);
		job_free(j);
		return;
	}
	/* Running: the job ends now for everyone; the plugin is told to
	 * stop, and whatever it returns later is dropped. */
	djob_finish_error(pr, x, JOB_FAILED, JOBD_E_TIMEOUT, text);
}

void detached_forget(struct proto *pr, struct job *j)
{
	struct djob *x = djob_find(pr->detached, j->job_id);

	if (j->tracked)
		session_untrack_job(j->owner, j);
	if (x && x->job == j) {
		struct err_arg e = {x->id, JOBD_E_SHUTTING_DOWN,
		                    "jobd is stopping; the job stays queued "
		                    "and runs after the restart"};

		djob_tell_attached(pr, x, djob_error_for, &e);
		x->job = NULL;
		djob_remove(pr, x);
	}
	job_free(j);
}
