/* SPDX-License-Identifier: MIT */
#include "daemon/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/conn.h"
#include "daemon/detached.h"
#include "daemon/job.h"
#include "daemon/jobd.h"
#include "daemon/log.h"
#include "daemon/plugin.h"
#include "daemon/pool.h"
#include "daemon/stats.h"
#include "wire/message.h"
#include "jobd-build.h"

static void dispatch_hello(struct conn *c, struct msg *m)
{
	json_t *reply;

	if (m->version < 1) {
		conn_send_error(c, m->has_id, m->id, JOBD_E_UNSUPPORTED_VERSION,
		                "protocol version %lld is not supported; this "
		                "server speaks 1 to %d",
		                (long long)m->version, PROTOCOL_VERSION);
		return;
	}
	c->version = m->version < PROTOCOL_VERSION ? (int)m->version
	                                           : PROTOCOL_VERSION;
	reply = msg_hello_server("jobd " JOBD_VERSION,
	                         c->jd->cfg->limits.max_frame_size);
	if (!reply)
		return;
	json_object_set_new(reply, "version", json_integer(c->version));
	if (m->has_id)
		json_object_set_new(reply, "id", json_integer(m->id));
	conn_send_msg(c, reply);
}

/* The job's deadline passed: answer timeout now, tell the plugin to stop,
 * and let the late result be dropped when it comes. */
static void job_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct conn *c;

	if (j->detached) {
		detached_deadline(j->jd, j);
		return;
	}
	atomic_store(&j->stop_reason, JOBD_E_TIMEOUT);
	if (!j->tracked)
		return;
	c = j->owner;
	conn_send_error(c, true, j->req_id, JOBD_E_TIMEOUT,
	                "deadline of %llu ms passed",
	                (unsigned long long)j->timeout_ms);
	j->answered = true;
	conn_untrack_job(c, j);
	if (pool_unqueue(j->plugin->pool, j))
		job_free(j); /* never started: nothing will come back */
}

/* busy, with the hint in retry_after_ms and in the text. */
static void send_busy(struct conn *c, int64_t id, uint64_t retry_ms,
                      const char *why)
{
	char text[300];
	json_t *e;

	snprintf(text, sizeof(text), "%s; retry after %llu ms", why,
	         (unsigned long long)retry_ms);
	e = msg_error(true, id, JOBD_E_BUSY, text);
	if (e)
		json_object_set_new(e, "retry_after_ms",
		                    json_integer((json_int_t)retry_ms));
	conn_send_msg(c, e);
}

/* Refuses a call whose request bytes would pass limits.max_queued_input,
 * and charges an admitted one to j->input_bytes. True if admitted. */
static bool admit_input(struct conn *c, struct msg *m, struct plugin *p)
{
	struct jobd *jd = c->jd;
	uint64_t max = jd->cfg->limits.max_queued_input;
	char why[200];

	if (m->size > max) {
		conn_send_error(c, true, m->id, JOBD_E_TOO_LARGE,
		                "request of %zu bytes is over max_queued_input "
		                "%llu",
		                m->size, (unsigned long long)max);
		return false;
	}
	if (jd->input_queued + m->size > max) {
		snprintf(why, sizeof(why),
		         "jobd holds its limit of accepted requests "
		         "(max_queued_input, %llu bytes)",
		         (unsigned long long)max);
		send_busy(c, m->id, pool_retry_after_ms(p->pool), why);
		return false;
	}
	return true;
}

static void dispatch_call(struct conn *c, struct msg *m)
{
	struct jobd *jd = c->jd;
	struct plugin *p;
	struct job *j;
	uint64_t timeout_ms, retry_ms = 0;
	char *names;
	int rc;

	if (jd->draining) {
		conn_send_error(c, true, m->id, JOBD_E_SHUTTING_DOWN,
		                "jobd is shutting down; no new calls");
		return;
	}
	p = jobd_find_plugin(jd, m->plugin);
	if (!p) {
		names = jobd_plugin_names(jd);
		conn_send_error(c, true, m->id, JOBD_E_UNKNOWN_PLUGIN,
		                "plugin \"%s\" not found (available: %s)",
		                m->plugin, names ? names : "");
		free(names);
		return;
	}
	if (conn_find_job(c, m->id)) {
		conn_send_error(
		        c, true, m->id, JOBD_E_DUPLICATE_ID,
		        "id %lld is already in flight on this connection",
		        (long long)m->id);
		return;
	}
	if (!admit_input(c, m, p))
		return;
	j = job_new(p, json_incref(m->input));
	/* The job must hold the only reference: the message's root is freed
	 * on this thread while a worker may already read the input. */
	json_object_del(m->root, "input");
	m->input = NULL;
	if (!j) {
		conn_send_error(c, true, m->id, JOBD_E_INTERNAL,
		                "out of memory");
		return;
	}
	j->req_id = m->id;
	j->owner = c;
	j->jd = jd;
	j->input_bytes = m->size;
	jd->input_queued += m->size;
	timeout_ms = p->timeout_ms;
	if (m->timeout_ms > 0 &&
	    (!timeout_ms || (uint64_t)m->timeout_ms < timeout_ms))
		timeout_ms = (uint64_t)m->timeout_ms;
	/* Past ~292 years the deadline in ns would wrap around and expire at
	 * once: a timeout that large means none. */
	if (timeout_ms > UINT64_MAX / 2000000u)
		timeout_ms = 0;
	j->timeout_ms = timeout_ms;
	conn_track_job(c, j);
	if (timeout_ms) {
		struct timeval tv = {(time_t)(timeout_ms / 1000),
		                     (suseconds_t)(timeout_ms % 1000) * 1000};

		j->deadline_ns = j->t_queued_ns + timeout_ms * 1000000ull;
		j->deadline_ev = evtimer_new(jd->base, job_deadline_cb, j);
		if (j->deadline_ev)
			evtimer_add(j->deadline_ev, &tv);
	}
	if (m->detach)
		rc = detached_submit(jd, j, &retry_ms);
	else
		rc = pool_submit(p->pool, j, &retry_ms);
	if (rc == 0)
		return;
	conn_untrack_job(c, j);
	if (rc == -EBUSY) {
		char why[120];

		snprintf(why, sizeof(why), "plugin \"%s\" has a full queue",
		         m->plugin);
		send_busy(c, m->id, retry_ms, why);
	} else {
		conn_send_error(c, true, m->id, JOBD_E_SHUTTING_DOWN,
		                "plugin \"%s\" is stopping", m->plugin);
	}
	job_free(j);
}

static void dispatch_cancel(struct conn *c, struct msg *m)
{
	struct job *j;

	if (m->job) {
		detached_cancel(c, m);
		return;
	}
	/* An id not in flight is ignored (docs/protocol.md): its answer has
	 * gone out already, and a second message with that id would confuse
	 * a client that reuses ids. */
	j = conn_find_job(c, m->id);
	if (!j)
		return;
	if (j->detached) {
		/* Becoming a detached job: `accepted` still answers it. */
		detached_cancel_job(c->jd, j);
		return;
	}
	atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
	if (pool_unqueue(j->plugin->pool, j)) {
		/* Still queued: it leaves the queue and is answered now. */
		conn_send_error(c, true, j->req_id, JOBD_E_CANCELLED,
		                "cancelled before it started");
		conn_untrack_job(c, j);
		job_free(j);
	}
	/* Running: the plugin sees cancelled() and its answer says so. */
}

void dispatch_message(struct conn *c, struct msg *m)
{
	switch (m->type) {
	case MSG_HELLO:
		dispatch_hello(c, m);
		break;
	case MSG_CALL:
		dispatch_call(c, m);
		break;
	case MSG_CANCEL:
		dispatch_cancel(c, m);
		break;
	case MSG_PING:
		conn_send_msg(c, msg_pong(m->has_id, m->id));
		break;
	case MSG_STATS:
		conn_send_msg(c, stats_build(c->jd, m->has_id, m->id));
		break;
	case MSG_DETACH:
		detached_detach(c, m);
		break;
	case MSG_STATUS:
		detached_status(c, m);
		break;
	case MSG_ATTACH:
		detached_attach(c, m);
		break;
	case MSG_RESULT:
		detached_result(c, m);
		break;
	case MSG_JOBS:
		detached_jobs(c, m);
		break;
	default:
		conn_send_error(c, m->has_id, m->id, JOBD_E_UNKNOWN_TYPE,
		                "type \"%s\" is not a request",
		                msg_type_name(m->type));
		break;
	}
}

static void dispatch_job_done(struct jobd *jd, struct job *j)
{
	struct conn *c = j->tracked ? j->owner : NULL;

	if (j->detached) {
		detached_job_done(jd, j);
		if (jd->draining)
			jobd_drain_check(jd);
		return;
	}
	if (c) {
		conn_untrack_job(c, j);
		if (!j->answered && j->frame) {
			conn_send_frame(c, j->frame, j->frame_len);
			j->frame = NULL;
		}
	}
	job_free(j);
	if (jd->draining)
		jobd_drain_check(jd);
}

void dispatch_completion(struct jobd *jd, struct cq_item *item)
{
	if (item->kind == CQ_JOB_DONE) {
		dispatch_job_done(jd, container_of(item, struct job, done));
	} else if (item->kind == CQ_PROGRESS) {
		struct progress_note *n =
		        container_of(item, struct progress_note, item);
		struct job *j = n->job;

		/* A detached job's progress goes to those attached; the
		 * caller waiting for `accepted` gets only that. */
		if (j->detached)
			detached_progress(jd, j, n->fraction,
			                  n->message[0] ? n->message : NULL);
		else if (j->tracked && !j->answered)
			conn_send_msg(j->owner,
			              msg_progress(j->req_id, n->fraction,
			                           n->message[0] ? n->message
			                                         : NULL));
		free(n);
	} else if (item->kind == CQ_STORE) {
		detached_store_done(jd, item);
	}
}

void dispatch_conn_gone(struct conn *c)
{
	struct job *j;

	while ((j = c->inflight)) {
		conn_untrack_job(c, j);
		if (j->detached)
			continue; /* detached: it outlives the connection */
		/* A client that went away cancels the calls it waited on. */
		atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
		if (pool_unqueue(j->plugin->pool, j))
			job_free(j);
	}
}

void dispatch_fail_queued(struct job *j, void *arg)
{
	struct jobd *jd = arg;

	if (j->detached) {
		detached_forget(jd, j); /* stays queued in the store */
		return;
	}
	if (j->tracked) {
		struct conn *c = j->owner;

		conn_send_error(c, true, j->req_id, JOBD_E_SHUTTING_DOWN,
		                "jobd stopped before the job could run");
		conn_untrack_job(c, j);
	}
	job_free(j);
}
