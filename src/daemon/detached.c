/* SPDX-License-Identifier: MIT */
#include "daemon/detached.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/conn.h"
#include "daemon/dispatch.h"
#include "daemon/job.h"
#include "daemon/jobd.h"
#include "daemon/log.h"
#include "daemon/plugin.h"
#include "daemon/pool.h"
#include "daemon/provenance.h"
#include "daemon/store.h"
#include "wire/message.h"

#define N_BUCKETS 1024u /* power of two */
/* Recovered jobs that found their queue full try again this often. */
#define BACKLOG_RETRY_MS 100
/* jobs: newest first, at most this many unless "limit" says otherwise. */
#define JOBS_DEFAULT_LIMIT 1000u
#define JOBS_MAX_LIMIT     100000u

/* What the loop does with a store answer (store_req.purpose). */
enum purpose {
	P_NONE = 0,
	P_ACCEPT, /* INSERT: send `accepted` to whoever asked */
	P_FINISH, /* FINISH: answer the attached connections */
	P_STATUS, /* GET: a status message */
	P_RESULT, /* GET: the result, or a status if not finished */
	P_ATTACH, /* GET: the result, or a status if not finished */
	P_CANCEL, /* GET: a status message (the job is not live) */
	P_JOBS,   /* LIST */
};

struct attacher {
	struct attacher *next;
	uint32_t slot, gen;
	int64_t req_id;
};

/* A live detached job. */
struct djob {
	struct djob *hnext;
	char id[STORE_ID_LEN + 1];
	struct job *job; /* until it comes back, is freed, or finishes early */
	bool finishing;  /* the final state is on its way to the store */
	bool in_backlog; /* recovered, waiting for room in its queue */
	char plugin[MSG_NAME_MAX_LEN + 1];
	int64_t created_ms;
	bool has_progress;
	double fraction;
	char message[128];
	struct attacher *attachers;
};

struct detached {
	struct store *store;
	bool closing;
	struct djob *buckets[N_BUCKETS];
	size_t count;
	struct job **backlog; /* recovered jobs, in order */
	size_t n_backlog, cap_backlog;
	struct event *backlog_ev;
};

/* --- the registry -------------------------------------------------------- */

static unsigned id_hash(const char *id)
{
	unsigned h = 2166136261u; /* FNV-1a */

	while (*id)
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h & (N_BUCKETS - 1);
}

static struct djob *djob_find(struct detached *d, const char *id)
{
	struct djob *x;

	for (x = d->buckets[id_hash(id)]; x; x = x->hnext)
		if (!strcmp(x->id, id))
			return x;
	return NULL;
}

/* A job that can be read from memory: live and not yet finishing. */
static struct djob *djob_live(struct detached *d, const char *id)
{
	struct djob *x = djob_find(d, id);

	return x && !x->finishing ? x : NULL;
}

static struct djob *djob_add(struct detached *d, const char *id,
                             const char *plugin, int64_t created_ms)
{
	struct djob *x = calloc(1, sizeof(*x));
	unsigned h;

	if (!x)
		return NULL;
	snprintf(x->id, sizeof(x->id), "%s", id);
	snprintf(x->plugin, sizeof(x->plugin), "%s", plugin);
	x->created_ms = created_ms;
	h = id_hash(id);
	x->hnext = d->buckets[h];
	d->buckets[h] = x;
	d->count++;
	return x;
}

static void djob_remove(struct jobd *jd, struct djob *x)
{
	struct detached *d = jd->detached;
	struct djob **pp = &d->buckets[id_hash(x->id)];
	struct attacher *a;
	struct conn *c;

	while (*pp && *pp != x)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = x->hnext;
	d->count--;
	while ((a = x->attachers)) {
		x->attachers = a->next;
		c = conn_lookup(jd, a->slot, a->gen);
		if (c)
			conn_wait_end(c);
		free(a);
	}
	free(x);
}

size_t detached_live(struct jobd *jd)
{
	return jd->detached ? jd->detached->count : 0;
}

/* --- messages ------------------------------------------------------------ */

static void put_id(json_t *o, bool has_id, int64_t id)
{
	if (o && has_id)
		json_object_set_new(o, "id", json_integer(id));
}

/* A job as `status` and `jobs` show it. progress: the live job's, or
 * NULL. */
static json_t *job_json(const struct store_rec *r, const struct djob *x)
{
	json_t *o;

	o = json_pack("{ss ss ss sI so so so}", "job", r->id, "plugin",
	              r->plugin ? r->plugin : "", "state",
	              job_state_name(r->state), "attempts",
	              (json_int_t)r->attempts, "queued_at",
	              iso8601_json(r->created_ms), "started_at",
	              iso8601_json(r->started_ms), "finished_at",
	              iso8601_json(r->finished_ms));
	if (!o)
		return NULL;
	if (r->code)
		json_object_set_new(o, "error",
		                    json_pack("{ss ss}", "code", r->code,
		                              "message",
		                              r->message ? r->message : ""));
	if (x && x->has_progress)
		json_object_set_new(
		        o, "progress",
		        x->message[0]
		                ? json_pack("{sf ss}", "fraction", x->fraction,
		                            "message", x->message)
		                : json_pack("{sf}", "fraction", x->fraction));
	return o;
}

static json_t *status_msg(bool has_id, int64_t id, const struct store_rec *r,
                          const struct djob *x)
{
	json_t *o = job_json(r, x);

	if (o) {
		json_object_set_new(o, "type", json_string("status"));
		put_id(o, has_id, id);
	}
	return o;
}

/* The final answer for a finished job: result, or error with its code. */
static json_t *final_msg(bool has_id, int64_t id, const struct store_rec *r)
{
	json_t *o;

	if (r->state == JOB_DONE) {
		o = json_pack("{ss sO*}", "type", "result", "output",
		              r->output);
		if (o && !r->output)
			json_object_set_new(o, "output", json_null());
	} else {
		o = json_pack("{ss ss ss}", "type", "error", "code",
		              r->code ? r->code : "internal", "message",
		              r->message ? r->message : "");
	}
	if (!o)
		return NULL;
	put_id(o, has_id, id);
	json_object_set_new(o, "job", json_string(r->id));
	json_object_set_new(o, "state", json_string(job_state_name(r->state)));
	if (r->provenance)
		json_object_set(o, "provenance", r->provenance);
	return o;
}

/* A live job's record, from memory. */
static void live_rec(const struct djob *x, struct store_rec *r)
{
	struct job *j = x->job;

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", x->id);
	r->plugin = (char *)x->plugin; /* borrowed: never fini'd */
	r->created_ms = x->created_ms;
	r->state = JOB_QUEUED;
	if (j) {
		r->attempts = j->prior_attempts;
		pthread_mutex_lock(&j->lock);
		if (j->start_recorded) {
			r->state = JOB_RUNNING;
			r->started_ms = j->started_wall_ms;
			r->attempts++;
		}
		pthread_mutex_unlock(&j->lock);
	}
}

/* --- talking to the store ------------------------------------------------ */

static void submit(struct jobd *jd, struct store_req *r)
{
	struct detached *d = jd->detached;

	if (d->closing) {
		store_req_free(r);
		return;
	}
	store_submit(d->store, r);
}

/* Asks the store for job `id` on behalf of c's request m. */
static void ask_store(struct conn *c, const struct msg *m, const char *id,
                      enum purpose why)
{
	struct store_req *r = store_req_new(STORE_GET);

	if (!r) {
		conn_send_error(c, m->has_id, m->id, JOBD_E_INTERNAL,
		                "out of memory");
		return;
	}
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	r->purpose = why;
	r->conn_slot = c->slot;
	r->conn_gen = c->gen;
	r->has_id = m->has_id;
	r->req_id = m->id;
	submit(c->jd, r);
}

/* Hands the final state of x to the store; the attached connections are
 * answered when it is committed. Takes over the record's contents. */
static void djob_finish(struct jobd *jd, struct djob *x, struct store_rec *fin)
{
	struct store_req *r = store_req_new(STORE_FINISH);

	x->finishing = true;
	x->job = NULL;
	if (!r) {
		store_rec_fini(fin);
		djob_remove(jd, x);
		return;
	}
	r->rec = *fin;
	memset(fin, 0, sizeof(*fin));
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", x->id);
	r->purpose = P_FINISH;
	submit(jd, r);
}

static void djob_finish_error(struct jobd *jd, struct djob *x,
                              enum job_state state, enum jobd_error code,
                              const char *message)
{
	struct store_rec fin = {.state = state};

	fin.code = strdup(msg_error_name(code));
	fin.message = strdup(message);
	fin.finished_ms = wall_ms();
	djob_finish(jd, x, &fin);
}

/* Sends msg (built per attacher by fn) to every attached connection. */
static void tell_attached(struct jobd *jd, struct djob *x,
                          json_t *(*fn)(int64_t id, const void *arg),
                          const void *arg)
{
	struct attacher *a;
	struct conn *c;

	for (a = x->attachers; a; a = a->next) {
		c = conn_lookup(jd, a->slot, a->gen);
		if (c)
			conn_send_msg(c, fn(a->req_id, arg));
	}
}

static json_t *final_for(int64_t id, const void *arg)
{
	return final_msg(true, id, arg);
}

struct err_arg {
	const char *job;
	enum jobd_error code;
	const char *text;
};

static json_t *error_for(int64_t id, const void *arg)
{
	const struct err_arg *e = arg;
	json_t *o = msg_error(true, id, e->code, e->text);

	if (o)
		json_object_set_new(o, "job", json_string(e->job));
	return o;
}

/* --- submitting ---------------------------------------------------------- */

/* Fills the INSERT for job j as it is now. */
static struct store_req *insert_req(struct jobd *jd, struct job *j,
                                    const char *id, bool started)
{
	struct store_req *r = store_req_new(STORE_INSERT);

	if (!r)
		return NULL;
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	r->rec.plugin = strdup(plugin_name(j->plugin));
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
static int detach_job(struct jobd *jd, struct job *j, const char *id,
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
	r = insert_req(jd, j, id, j->started);
	if (!r)
		rc = -ENOMEM;
	else if (pool)
		rc = pool_submit(pool, j, retry_after_ms);
	if (rc == 0) {
		memcpy(j->job_id, id, sizeof(j->job_id));
		j->has_job_id = true;
		j->start_recorded = j->started; /* inserted as running */
		j->store = jd->detached->store;
		submit(jd, r);
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
static void new_id(struct detached *d, char id[STORE_ID_LEN + 1])
{
	do
		store_new_id(id);
	while (djob_find(d, id));
}

int detached_submit(struct jobd *jd, struct job *j, uint64_t *retry_after_ms)
{
	struct detached *d = jd->detached;
	char id[STORE_ID_LEN + 1];
	struct djob *x;
	int rc;

	new_id(d, id);
	x = djob_add(d, id, plugin_name(j->plugin), j->queued_wall_ms);
	if (!x)
		return -ENOMEM;
	x->job = j;
	rc = detach_job(jd, j, id, j->plugin->pool, retry_after_ms);
	if (rc < 0) {
		x->job = NULL;
		djob_remove(jd, x);
		if (rc == -ENOMEM)
			rc = -ESHUTDOWN;
	}
	return rc;
}

void detached_detach(struct conn *c, struct msg *m)
{
	struct jobd *jd = c->jd;
	struct job *j = conn_find_job(c, m->id);
	char id[STORE_ID_LEN + 1];
	struct djob *x;
	int rc;

	if (!j) {
		conn_send_error(c, true, m->id, JOBD_E_NOT_FOUND,
		                "detach: no call with id %lld is in flight",
		                (long long)m->id);
		return;
	}
	if (j->detached)
		return; /* already on its way: `accepted` follows */
	new_id(jd->detached, id);
	x = djob_add(jd->detached, id, plugin_name(j->plugin),
	             j->queued_wall_ms);
	rc = x ? detach_job(jd, j, id, NULL, NULL) : -ENOMEM;
	if (rc < 0) {
		if (x)
			djob_remove(jd, x);
		if (rc == -EALREADY)
			conn_send_error(
			        c, true, m->id, JOBD_E_NOT_FOUND,
			        "detach: call %lld has just finished; its "
			        "answer follows",
			        (long long)m->id);
		else
			conn_send_error(c, true, m->id, JOBD_E_INTERNAL,
			                "detach: out of memory");
		return;
	}
	x->job = j;
}

/* --- the store's answers ------------------------------------------------- */

static void on_accept(struct jobd *jd, struct store_req *r)
{
	struct conn *c = conn_lookup(jd, r->conn_slot, r->conn_gen);
	struct djob *x = djob_find(jd->detached, r->rec.id);
	struct job *j = x ? x->job : NULL;

	if (r->rc == 0) {
		if (c && j && j->tracked && j->owner == c)
			conn_untrack_job(c, j);
		if (c)
			conn_send_msg(c, msg_accepted(r->req_id, r->rec.id));
		return;
	}
	/* Not stored: the call ends here, and so does the job. */
	if (c)
		conn_send_error(c, true, r->req_id, JOBD_E_INTERNAL,
		                "the job could not be stored: %s", r->err);
	if (!x)
		return;
	if (j) {
		atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
		if (j->tracked)
			conn_untrack_job(j->owner, j);
		j->answered = true;
		if (pool_unqueue(j->plugin->pool, j))
			job_free(j);
		/* else: running; it finds no row to start, or is dropped
		 * when it comes back (it is no longer registered). */
	}
	x->job = NULL;
	djob_remove(jd, x);
}

static void on_finish(struct jobd *jd, struct store_req *r)
{
	struct djob *x = djob_find(jd->detached, r->rec.id);
	struct attacher *a;

	if (!x)
		return;
	if (r->rc == 1) {
		tell_attached(jd, x, final_for, &r->rec);
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
				submit(jd, g);
			}
			free(a);
		}
	} else {
		struct err_arg e = {x->id, JOBD_E_INTERNAL,
		                    "the job's result could not be stored"};

		tell_attached(jd, x, error_for, &e);
	}
	djob_remove(jd, x);
}

static void attacher_add(struct djob *x, struct attacher *a, uint32_t slot,
                         uint32_t gen, int64_t req_id)
{
	a->slot = slot;
	a->gen = gen;
	a->req_id = req_id;
	a->next = x->attachers;
	x->attachers = a;
}

/* An attach answered by the store with a job that is not finished: it is
 * live in the registry (it cannot be otherwise), so follow it there. */
static bool on_get_attach(struct jobd *jd, struct conn *c, struct store_req *r)
{
	struct djob *x;
	struct attacher *a;

	if (r->rc != 0 || job_state_final(r->rec.state))
		return false;
	x = djob_find(jd->detached, r->rec.id);
	if (!x || !(a = calloc(1, sizeof(*a))))
		return false;
	attacher_add(x, a, r->conn_slot, r->conn_gen, r->req_id);
	return true;
}

/* A job read from the store for status/result/attach/cancel. */
static void on_get(struct jobd *jd, struct store_req *r)
{
	struct conn *c = conn_lookup(jd, r->conn_slot, r->conn_gen);

	if (!c)
		return;
	if (r->purpose == P_ATTACH && on_get_attach(jd, c, r))
		return; /* following the job again */
	if (r->purpose == P_ATTACH)
		conn_wait_end(c);
	if (r->rc == JOBD_E_NOT_FOUND) {
		conn_send_error(c, r->has_id, r->req_id, JOBD_E_NOT_FOUND,
		                "no job \"%s\" (unknown, or its result "
		                "expired)",
		                r->rec.id);
		return;
	}
	if (r->rc < 0) {
		conn_send_error(c, r->has_id, r->req_id, JOBD_E_INTERNAL,
		                "job store: %s", r->err);
		return;
	}
	if (job_state_final(r->rec.state) &&
	    (r->purpose == P_RESULT || r->purpose == P_ATTACH)) {
		conn_send_msg(c, final_msg(r->has_id, r->req_id, &r->rec));
		return;
	}
	conn_send_msg(c, status_msg(r->has_id, r->req_id, &r->rec, NULL));
}

static void on_list(struct jobd *jd, struct store_req *r)
{
	struct conn *c = conn_lookup(jd, r->conn_slot, r->conn_gen);
	json_t *list, *o;
	struct djob *x;
	size_t i;

	if (!c)
		return;
	if (r->rc < 0) {
		conn_send_error(c, r->has_id, r->req_id, JOBD_E_INTERNAL,
		                "job store: %s", r->err);
		return;
	}
	list = json_array();
	for (i = 0; list && i < r->n_rows; i++) {
		struct store_rec live;

		x = djob_live(jd->detached, r->rows[i].id);
		if (x && x->job) {
			/* Fresher than the store: queued or running now. */
			live_rec(x, &live);
			if (!job_state_final(r->rows[i].state))
				r->rows[i].state = live.state;
		}
		o = job_json(&r->rows[i], x);
		if (o)
			json_array_append_new(list, o);
	}
	o = json_pack("{ss so sb}", "type", "jobs", "jobs",
	              list ? list : json_array(), "truncated", r->truncated);
	put_id(o, r->has_id, r->req_id);
	conn_send_msg(c, o);
}

void detached_store_done(struct jobd *jd, struct cq_item *item)
{
	struct store_req *r = container_of(item, struct store_req, item);

	switch (r->purpose) {
	case P_ACCEPT:
		on_accept(jd, r);
		break;
	case P_FINISH:
		on_finish(jd, r);
		break;
	case P_STATUS:
	case P_RESULT:
	case P_ATTACH:
	case P_CANCEL:
		on_get(jd, r);
		break;
	case P_JOBS:
		on_list(jd, r);
		break;
	default:
		break;
	}
	store_req_free(r);
}

/* --- requests from clients ----------------------------------------------- */

static bool id_plausible(const char *id)
{
	size_t n = strlen(id);

	return n == STORE_ID_LEN && strspn(id, "0123456789abcdef") == n;
}

static bool refuse_unknown(struct conn *c, const struct msg *m)
{
	if (id_plausible(m->job))
		return false;
	conn_send_error(c, m->has_id, m->id, JOBD_E_NOT_FOUND,
	                "no job \"%s\" (job ids are 16 hex digits)", m->job);
	return true;
}

/* status and result: from memory while the job is live (an unfinished
 * job's `result` says how far it is), else from the store. */
static void detached_read(struct conn *c, struct msg *m, enum purpose purpose)
{
	struct djob *x;
	struct store_rec r;

	if (refuse_unknown(c, m))
		return;
	x = djob_live(c->jd->detached, m->job);
	if (!x) {
		ask_store(c, m, m->job, purpose);
		return;
	}
	live_rec(x, &r);
	conn_send_msg(c, status_msg(m->has_id, m->id, &r, x));
}

void detached_status(struct conn *c, struct msg *m)
{
	detached_read(c, m, P_STATUS);
}

void detached_result(struct conn *c, struct msg *m)
{
	detached_read(c, m, P_RESULT);
}

void detached_attach(struct conn *c, struct msg *m)
{
	struct djob *x;
	struct attacher *a;

	if (!m->has_id) {
		conn_send_error(c, false, 0, JOBD_E_BAD_REQUEST,
		                "attach: \"id\" is required (progress and the "
		                "result are tagged with it)");
		return;
	}
	if (refuse_unknown(c, m))
		return;
	conn_wait_begin(c);
	x = djob_find(c->jd->detached, m->job);
	if (!x || x->finishing) {
		/* Finished (or finishing: the store answers after the
		 * final write, which is queued first). */
		if (x && (a = calloc(1, sizeof(*a)))) {
			attacher_add(x, a, c->slot, c->gen, m->id);
			return;
		}
		ask_store(c, m, m->job, P_ATTACH);
		return;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		conn_wait_end(c);
		conn_send_error(c, true, m->id, JOBD_E_INTERNAL,
		                "out of memory");
		return;
	}
	attacher_add(x, a, c->slot, c->gen, m->id);
	if (x->has_progress)
		conn_send_msg(c,
		              msg_progress(m->id, x->fraction,
		                           x->message[0] ? x->message : NULL));
}

void detached_jobs(struct conn *c, struct msg *m)
{
	struct store_req *r;
	json_t *lim = json_object_get(m->root, "limit");
	int state = -1;

	if (m->state) {
		state = job_state_from_name(m->state);
		if (state < 0) {
			conn_send_error(
			        c, m->has_id, m->id, JOBD_E_BAD_REQUEST,
			        "jobs: \"state\" must be queued, running, "
			        "done, failed, cancelled or interrupted");
			return;
		}
	}
	if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
	            json_integer_value(lim) > JOBS_MAX_LIMIT)) {
		conn_send_error(c, m->has_id, m->id, JOBD_E_BAD_REQUEST,
		                "jobs: \"limit\" must be an integer from 1 to "
		                "%u",
		                JOBS_MAX_LIMIT);
		return;
	}
	r = store_req_new(STORE_LIST);
	if (!r || (m->plugin && !(r->list_plugin = strdup(m->plugin)))) {
		store_req_free(r);
		conn_send_error(c, m->has_id, m->id, JOBD_E_INTERNAL,
		                "out of memory");
		return;
	}
	r->list_state = state;
	r->list_limit =
	        lim ? (unsigned)json_integer_value(lim) : JOBS_DEFAULT_LIMIT;
	r->purpose = P_JOBS;
	r->conn_slot = c->slot;
	r->conn_gen = c->gen;
	r->has_id = m->has_id;
	r->req_id = m->id;
	submit(c->jd, r);
}

/* Removes j from the recovery backlog; true if it was there. */
static bool backlog_take(struct detached *d, struct job *j)
{
	size_t i;

	for (i = 0; i < d->n_backlog; i++) {
		if (d->backlog[i] == j) {
			memmove(&d->backlog[i], &d->backlog[i + 1],
			        (d->n_backlog - i - 1) * sizeof(*d->backlog));
			d->n_backlog--;
			return true;
		}
	}
	return false;
}

/* Takes a queued job out of its queue (or the backlog); true if it was
 * still waiting, and then the caller owns it. */
static bool take_waiting(struct jobd *jd, struct job *j)
{
	return pool_unqueue(j->plugin->pool, j) ||
	       backlog_take(jd->detached, j);
}

/* Cancels live job x. Returns true if it left a queue (and is ended). */
static bool djob_cancel(struct jobd *jd, struct djob *x)
{
	struct job *j = x->job;

	if (!j)
		return false;
	atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
	if (!take_waiting(jd, j))
		return false; /* running: it ends when the plugin returns */
	if (j->tracked)
		conn_untrack_job(j->owner, j);
	djob_finish_error(jd, x, JOB_CANCELLED, JOBD_E_CANCELLED,
	                  "cancelled before it started");
	job_free(j);
	return true;
}

void detached_cancel(struct conn *c, struct msg *m)
{
	struct djob *x;
	struct store_rec r;
	json_t *o;

	if (refuse_unknown(c, m))
		return;
	x = djob_live(c->jd->detached, m->job);
	if (!x) {
		ask_store(c, m, m->job, P_CANCEL); /* ended, or unknown */
		return;
	}
	live_rec(x, &r);
	if (djob_cancel(c->jd, x)) {
		r.state = JOB_CANCELLED;
		r.finished_ms = wall_ms();
		r.code = (char *)msg_error_name(JOBD_E_CANCELLED);
		r.message = (char *)"cancelled before it started";
		conn_send_msg(c, status_msg(m->has_id, m->id, &r, NULL));
		return;
	}
	o = status_msg(m->has_id, m->id, &r, x);
	if (o)
		json_object_set_new(o, "cancel_requested", json_true());
	conn_send_msg(c, o);
}

void detached_cancel_job(struct jobd *jd, struct job *j)
{
	struct djob *x = djob_live(jd->detached, j->job_id);

	if (x && x->job == j)
		djob_cancel(jd, x);
	else
		atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
}

/* --- jobs coming back ---------------------------------------------------- */

void detached_job_done(struct jobd *jd, struct job *j)
{
	struct djob *x = djob_find(jd->detached, j->job_id);
	struct store_rec fin = {0};
	const char *text;

	if (j->tracked)
		conn_untrack_job(j->owner, j); /* `accepted` still follows */
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

		tell_attached(jd, x, error_for, &e);
		x->job = NULL;
		djob_remove(jd, x);
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
	djob_finish(jd, x, &fin);
	job_free(j);
}

static json_t *progress_for(int64_t id, const void *arg)
{
	const struct djob *x = arg;

	return msg_progress(id, x->fraction, x->message[0] ? x->message : NULL);
}

void detached_progress(struct jobd *jd, struct job *j, double fraction,
                       const char *message)
{
	struct djob *x = djob_live(jd->detached, j->job_id);

	if (!x || x->job != j)
		return;
	x->has_progress = true;
	x->fraction = fraction;
	snprintf(x->message, sizeof(x->message), "%s", message ? message : "");
	tell_attached(jd, x, progress_for, x);
}

void detached_deadline(struct jobd *jd, struct job *j)
{
	struct djob *x = djob_live(jd->detached, j->job_id);
	char text[96];

	atomic_store(&j->stop_reason, JOBD_E_TIMEOUT);
	if (!x || x->job != j)
		return;
	snprintf(text, sizeof(text), "deadline of %llu ms passed",
	         (unsigned long long)j->timeout_ms);
	/* A caller still waiting for `accepted` gets it (the INSERT is
	 * queued before this FINISH); the timeout shows in the job. */
	if (take_waiting(jd, j)) {
		if (j->tracked)
			conn_untrack_job(j->owner, j);
		djob_finish_error(jd, x, JOB_FAILED, JOBD_E_TIMEOUT, text);
		job_free(j);
		return;
	}
	/* Running: the job ends now for everyone; the plugin is told to
	 * stop, and whatever it returns later is dropped. */
	djob_finish_error(jd, x, JOB_FAILED, JOBD_E_TIMEOUT, text);
}

void detached_forget(struct jobd *jd, struct job *j)
{
	struct djob *x = djob_find(jd->detached, j->job_id);

	if (j->tracked)
		conn_untrack_job(j->owner, j);
	if (x && x->job == j) {
		struct err_arg e = {x->id, JOBD_E_SHUTTING_DOWN,
		                    "jobd is stopping; the job stays queued "
		                    "and runs after the restart"};

		tell_attached(jd, x, error_for, &e);
		x->job = NULL;
		djob_remove(jd, x);
	}
	job_free(j);
}

/* --- shutdown ------------------------------------------------------------ */

void detached_drain(struct jobd *jd)
{
	struct detached *d = jd->detached;
	struct djob *x, *next;
	unsigned b;

	if (!d)
		return;
	for (b = 0; b < N_BUCKETS; b++) {
		for (x = d->buckets[b]; x; x = next) {
			next = x->hnext;
			if (x->job && !x->finishing && take_waiting(jd, x->job))
				detached_forget(jd, x->job);
		}
	}
}

void detached_stop_running(struct jobd *jd)
{
	struct detached *d = jd->detached;
	struct djob *x;
	unsigned b;

	if (!d)
		return;
	for (b = 0; b < N_BUCKETS; b++)
		for (x = d->buckets[b]; x; x = x->hnext)
			if (x->job)
				atomic_store(&x->job->stop_reason,
				             JOBD_E_SHUTTING_DOWN);
}

/* --- recovery ------------------------------------------------------------ */

static void recovered_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	detached_deadline(j->jd, j);
}

static void backlog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;
	struct detached *d = jd->detached;
	struct timeval tv = {0, BACKLOG_RETRY_MS * 1000};
	size_t i = 0;

	while (i < d->n_backlog) {
		struct job *j = d->backlog[i];

		if (pool_submit(j->plugin->pool, j, NULL) < 0)
			break; /* keep the order: the rest waits too */
		memmove(&d->backlog[i], &d->backlog[i + 1],
		        (d->n_backlog - i - 1) * sizeof(*d->backlog));
		d->n_backlog--;
	}
	if (d->n_backlog && !jd->draining)
		evtimer_add(d->backlog_ev, &tv);
}

static int backlog_add(struct jobd *jd, struct job *j)
{
	struct detached *d = jd->detached;
	struct job **grown;
	size_t cap;

	if (d->n_backlog == d->cap_backlog) {
		cap = d->cap_backlog ? 2 * d->cap_backlog : 64;
		grown = realloc(d->backlog, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		d->backlog = grown;
		d->cap_backlog = cap;
	}
	d->backlog[d->n_backlog++] = j;
	return 0;
}

/* Ends a recovered row at once (before the store thread runs). */
static void recover_end(struct store *s, const struct store_rec *row,
                        enum job_state state, enum jobd_error code,
                        const char *message)
{
	struct store_req *r = store_req_new(STORE_FINISH);

	if (!r)
		return;
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", row->id);
	r->rec.state = state;
	r->rec.code = strdup(msg_error_name(code));
	r->rec.message = strdup(message);
	r->rec.finished_ms = wall_ms();
	store_run_now(s, r);
	store_req_free(r);
}

/* Decides what becomes of one unfinished row; returns the job to run, or
 * NULL if it ended. */
static struct job *recover_row(struct jobd *jd, struct store_rec *row)
{
	struct store *s = jd->detached->store;
	struct plugin *p = jobd_find_plugin(jd, row->plugin);
	char text[400];
	struct job *j;

	if (!p) {
		snprintf(text, sizeof(text),
		         "plugin \"%s\" is not loaded after the restart",
		         row->plugin);
		recover_end(s, row, JOB_FAILED, JOBD_E_UNKNOWN_PLUGIN, text);
		return NULL;
	}
	if (row->state == JOB_RUNNING) {
		if (!(p->desc->flags & JOBD_PLUGIN_RETRY_SAFE)) {
			snprintf(text, sizeof(text),
			         "jobd stopped while the job was running, and "
			         "plugin \"%s\" is not retry-safe (it does not "
			         "set JOBD_PLUGIN_RETRY_SAFE), so it was not "
			         "run "
			         "again; submit it again if that is safe",
			         row->plugin);
			recover_end(s, row, JOB_INTERRUPTED, JOBD_E_INTERRUPTED,
			            text);
			return NULL;
		}
		if (row->attempts >= p->max_attempts) {
			snprintf(text, sizeof(text),
			         "jobd stopped while the job was running, %u "
			         "time(s); max_attempts for \"%s\" is %u",
			         row->attempts, row->plugin, p->max_attempts);
			recover_end(s, row, JOB_INTERRUPTED, JOBD_E_INTERRUPTED,
			            text);
			return NULL;
		}
		{
			struct store_req *r = store_req_new(STORE_REQUEUE);

			if (r) {
				snprintf(r->rec.id, sizeof(r->rec.id), "%s",
				         row->id);
				store_run_now(s, r);
				store_req_free(r);
			}
		}
		log_info("job %s (%s): running when jobd stopped; running it "
		         "again (attempt %u of %u)",
		         row->id, row->plugin, row->attempts + 1,
		         p->max_attempts);
	}
	j = job_new(p, json_incref(row->input ? row->input : json_null()));
	if (!j)
		return NULL;
	j->jd = jd;
	j->queued_wall_ms = row->created_ms;
	j->prior_attempts = row->attempts;
	memcpy(j->job_id, row->id, sizeof(j->job_id));
	j->has_job_id = true;
	j->store = s;
	j->detached = true;
	j->timeout_ms = p->timeout_ms;
	if (row->timeout_ms &&
	    (!j->timeout_ms || row->timeout_ms < j->timeout_ms))
		j->timeout_ms = row->timeout_ms;
	if (j->timeout_ms > UINT64_MAX / 2000000u)
		j->timeout_ms = 0; /* would wrap in ns: no deadline */
	return j;
}

static int recover(struct jobd *jd)
{
	struct detached *d = jd->detached;
	struct store_rec *rows = NULL;
	size_t n = 0, i, again = 0, ended = 0;
	struct djob *x;
	struct job *j;
	int rc;

	rc = store_load_unfinished(d->store, &rows, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		j = recover_row(jd, &rows[i]);
		if (!j) {
			ended++;
			continue;
		}
		x = djob_add(d, rows[i].id, rows[i].plugin, rows[i].created_ms);
		if (!x) {
			job_free(j);
			rc = -ENOMEM;
			break;
		}
		x->job = j;
		/* The deadline counts from this start: time spent while jobd
		 * was down is not the job's fault. */
		if (j->timeout_ms) {
			struct timeval tv = {
			        (time_t)(j->timeout_ms / 1000),
			        (suseconds_t)(j->timeout_ms % 1000) * 1000};

			j->deadline_ns =
			        j->t_queued_ns + j->timeout_ms * 1000000ull;
			j->deadline_ev =
			        evtimer_new(jd->base, recovered_deadline_cb, j);
			if (j->deadline_ev)
				evtimer_add(j->deadline_ev, &tv);
		}
		if (pool_submit(j->plugin->pool, j, NULL) < 0 &&
		    backlog_add(jd, j) < 0) {
			x->job = NULL;
			djob_remove(jd, x);
			job_free(j);
			continue;
		}
		again++;
	}
	for (i = 0; i < n; i++)
		store_rec_fini(&rows[i]);
	free(rows);
	if (again || ended)
		log_notice(
		        "job store: %zu unfinished job(s) from the last run: "
		        "%zu queued again, %zu ended",
		        n, again, ended);
	if (d->n_backlog) {
		struct timeval tv = {0, BACKLOG_RETRY_MS * 1000};

		evtimer_add(d->backlog_ev, &tv);
	}
	return rc;
}

int detached_init(struct jobd *jd)
{
	struct detached *d;
	char *why = NULL;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	jd->detached = d;
	d->backlog_ev = evtimer_new(jd->base, backlog_cb, jd);
	if (!d->backlog_ev)
		return -ENOMEM;
	rc = store_open(jd->cfg->state_dir, &d->store, &why);
	if (rc < 0) {
		log_error("%s", why ? why : "job store: out of memory");
		free(why);
		return rc;
	}
	rc = recover(jd);
	if (rc < 0) {
		log_error("state_dir %s: recovering jobs failed: %s",
		          jd->cfg->state_dir, strerror(-rc));
		return rc;
	}
	rc = store_start(d->store, &jd->done, jd->cfg->limits.result_ttl_ms,
	                 jd->cfg->limits.result_budget);
	if (rc < 0) {
		log_error("job store: cannot start its thread: %s",
		          strerror(-rc));
		return rc;
	}
	log_info("job store: %s/jobs.db (result_ttl %llu ms, budget %llu "
	         "bytes)",
	         jd->cfg->state_dir,
	         (unsigned long long)jd->cfg->limits.result_ttl_ms,
	         (unsigned long long)jd->cfg->limits.result_budget);
	return 0;
}

void detached_flush(struct jobd *jd)
{
	if (jd->detached && jd->detached->store) {
		jd->detached->closing = true;
		store_stop(jd->detached->store);
	}
}

void detached_fini(struct jobd *jd)
{
	struct detached *d = jd->detached;
	struct cq_item *item, *next;
	struct djob *x, *xn;
	unsigned b;
	size_t i;

	if (!d)
		return;
	/* The store's queue is finished first: final states commit. */
	d->closing = true;
	store_close(d->store);
	d->store = NULL;
	if (jd->done.efd >= 0)
		for (item = cq_take_all(&jd->done); item; item = next) {
			next = item->next;
			if (item->kind == CQ_STORE)
				store_req_free(container_of(
				        item, struct store_req, item));
			else
				dispatch_completion(jd, item);
		}
	for (i = 0; i < d->n_backlog; i++)
		job_free(d->backlog[i]);
	free(d->backlog);
	for (b = 0; b < N_BUCKETS; b++)
		for (x = d->buckets[b]; x; x = xn) {
			xn = x->hnext;
			djob_remove(jd, x);
		}
	if (d->backlog_ev)
		event_free(d->backlog_ev);
	free(d);
	jd->detached = NULL;
}

void detached_apply_config(struct jobd *jd, const struct config *cfg)
{
	if (jd->detached && jd->detached->store)
		store_set_limits(jd->detached->store, cfg->limits.result_ttl_ms,
		                 cfg->limits.result_budget);
}
