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

/* --- shutdown ------------------------------------------------------------ */

void detached_drain(struct proto *pr)
{
	struct detached *d = pr->detached;
	struct djob *x, *next;
	unsigned b;

	if (!d)
		return;
	/* A lost database must not hold the drain: jobs whose start or end
	 * cannot be recorded now stay in it for the next start. */
	store_stopping(d->store);
	for (b = 0; b < N_BUCKETS; b++) {
		for (x = d->buckets[b]; x; x = next) {
			next = x->hnext;
			if (x->job && !x->finishing &&
			    djob_take_waiting(pr, x->job))
				detached_forget(pr, x->job);
		}
	}
}

void detached_stop_running(struct proto *pr)
{
	struct detached *d = pr->detached;
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

static void djob_recovered_deadline_cb(evutil_socket_t fd, short what,
                                       void *arg)
{
	struct job *j = arg;

	detached_deadline(j->loop_ctx, j);
}

static void djob_backlog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proto *pr = arg;
	struct detached *d = pr->detached;
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
	if (d->n_backlog && !pr->draining)
		evtimer_add(d->backlog_ev, &tv);
}

static int djob_backlog_add(struct proto *pr, struct job *j)
{
	struct detached *d = pr->detached;
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
static void djob_recover_end(struct store *s, const struct store_rec *row,
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
static struct job *djob_recover_row(struct proto *pr, struct store_rec *row)
{
	struct store *s = pr->detached->store;
	struct plugin *p = registry_find(pr->plugins, row->plugin);
	char text[400];
	struct job *j;

	if (!p) {
		snprintf(text, sizeof(text),
		         "plugin \"%s\" is not loaded after the restart",
		         row->plugin);
		djob_recover_end(s, row, JOB_FAILED, JOBD_E_UNKNOWN_PLUGIN,
		                 text);
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
			djob_recover_end(s, row, JOB_INTERRUPTED,
			                 JOBD_E_INTERRUPTED, text);
			return NULL;
		}
		if (row->attempts >= p->max_attempts) {
			snprintf(text, sizeof(text),
			         "jobd stopped while the job was running, %u "
			         "time(s); max_attempts for \"%s\" is %u",
			         row->attempts, row->plugin, p->max_attempts);
			djob_recover_end(s, row, JOB_INTERRUPTED,
			                 JOBD_E_INTERRUPTED, text);
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
	j->loop_ctx = pr;
	/* Its owner takes turns with the others, as before the restart. */
	j->user = row->owner ? auth_job_user(pr, row->owner) : NULL;
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

static int djob_recover(struct proto *pr)
{
	struct detached *d = pr->detached;
	struct store_rec *rows = NULL;
	size_t n = 0, i, again = 0, ended = 0;
	struct djob *x;
	struct job *j;
	int rc;

	rc = store_load_unfinished(d->store, &rows, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		j = djob_recover_row(pr, &rows[i]);
		if (!j) {
			ended++;
			continue;
		}
		x = djob_add(d, rows[i].id, rows[i].plugin, rows[i].created_ms,
		             rows[i].owner);
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
			j->deadline_ev = evtimer_new(
			        pr->base, djob_recovered_deadline_cb, j);
			if (j->deadline_ev)
				evtimer_add(j->deadline_ev, &tv);
		}
		if (pool_submit(j->plugin->pool, j, NULL) < 0 &&
		    djob_backlog_add(pr, j) < 0) {
			x->job = NULL;
			djob_remove(pr, x);
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

int detached_init(struct proto *pr)
{
	struct detached *d;
	char *why = NULL;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pr->detached = d;
	cq_set_handler(pr->done, CQ_STORE, detached_store_done, pr);
	d->backlog_ev = evtimer_new(pr->base, djob_backlog_cb, pr);
	if (!d->backlog_ev)
		return -ENOMEM;
	rc = store_open(pr->cfg->state_dir, &pr->cfg->store, &d->store, &why);
	if (rc < 0) {
		log_error("%s", why ? why : "job store: out of memory");
		free(why);
		return rc;
	}
	rc = djob_recover(pr);
	if (rc < 0) {
		log_error("job store %s: recovering jobs failed: %s",
		          store_where(d->store), strerror(-rc));
		return rc;
	}
	rc = store_start(d->store, pr->done, pr->cfg->limits.result_ttl_ms,
	                 pr->cfg->limits.result_budget);
	if (rc < 0) {
		log_error("job store: cannot start its thread: %s",
		          strerror(-rc));
		return rc;
	}
	log_info("job store: %s (result_ttl %llu ms, budget %llu bytes)",
	         store_where(d->store),
	         (unsigned long long)pr->cfg->limits.result_ttl_ms,
	         (unsigned long long)pr->cfg->limits.result_budget);
	return 0;
}

void detached_flush(struct proto *pr)
{
	if (pr->detached && pr->detached->store) {
		pr->detached->closing = true;
		store_stop(pr->detached->store);
	}
}

void detached_fini(struct proto *pr)
{
	struct detached *d = pr->detached;
	struct djob *x, *xn;
	unsigned b;
	size_t i;

	if (!d)
		return;
	/* The store's queue is finished first: final states commit. */
	d->closing = true;
	store_close(d->store);
	d->store = NULL;
	cq_run(pr->done); /* store answers are freed: d->closing */
	for (i = 0; i < d->n_backlog; i++)
		job_free(d->backlog[i]);
	free(d->backlog);
	for (b = 0; b < N_BUCKETS; b++)
		for (x = d->buckets[b]; x; x = xn) {
			xn = x->hnext;
			djob_remove(pr, x);
		}
	if (d->backlog_ev)
		event_free(d->backlog_ev);
	free(d);
	pr->detached = NULL;
	cq_set_handler(pr->done, CQ_STORE, NULL, NULL);
}

void detached_apply_config(struct proto *pr, const struct config *cfg)
{
	if (pr->detached && pr->detached->store)
		store_set_limits(pr->detached->store, cfg->limits.result_ttl_ms,
		                 cfg->limits.result_budget);
}
