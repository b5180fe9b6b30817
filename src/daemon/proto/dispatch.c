/* SPDX-License-Identifier: MIT */
#include "daemon/proto/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/config/config.h"
#include "daemon/exec/arrays.h"
#include "daemon/exec/fairq.h"
#include "daemon/exec/job.h"
#include "daemon/exec/provenance.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/detached.h"
#include "daemon/proto/errors.h"
#include "daemon/proto/proto.h"
#include "daemon/proto/stats.h"
#include "daemon/util/shm.h"
#include "daemon/util/log.h"
#include "wire/message.h"
#include "jobd-build.h"

static void dispatch_hello(struct proto *pr, struct session *s, struct msg *m)
{
	json_t *reply;

	if (m->version < 1) {
		session_send_error(
		        s, m->has_id, m->id, JOBD_E_UNSUPPORTED_VERSION,
		        "protocol version %lld is not supported; this "
		        "server speaks 1 to %d",
		        (long long)m->version,
		        s->arrays_ok ? PROTOCOL_VERSION_ARRAYS
		                     : PROTOCOL_VERSION);
		return;
	}
	if (!auth_hello(pr, s, m))
		return;
	/* Version 2 (arrays) only once asked for: a client that says
	 * nothing or 1 sees no change. The answer is final: a later hello
	 * cannot take arrays back from a decoder that accepts them. */
	if (s->version < PROTOCOL_VERSION_ARRAYS) {
		int top = s->arrays_ok ? PROTOCOL_VERSION_ARRAYS
		                       : PROTOCOL_VERSION;

		s->version = m->version < top ? (int)m->version : top;
		s->max_array_bytes = pr->cfg->limits.max_array_bytes;
	}
	/* Before authentication the small cap is what holds. */
	reply = msg_hello_server("jobd " JOBD_VERSION,
	                         auth_pending(pr, s)
	                                 ? PROTOCOL_PREAUTH_MAX_FRAME
	                                 : pr->cfg->limits.max_frame_size);
	if (!reply)
		return;
	json_object_set_new(reply, "version", json_integer(s->version));
	if (s->version >= PROTOCOL_VERSION_ARRAYS)
		json_object_set_new(
		        reply, "max_array_bytes",
		        json_integer((json_int_t)s->max_array_bytes));
	if (auth_owner(s))
		json_object_set_new(reply, "user", json_string(auth_owner(s)));
	if (m->has_id)
		json_object_set_new(reply, "id", json_integer(m->id));
	session_send_msg(s, reply);
}

/* The job's deadline passed: answer timeout now, tell the plugin to stop,
 * and let the late result be dropped when it comes. */
static void job_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct session *s;

	if (j->detached) {
		detached_deadline(j->loop_ctx, j);
		return;
	}
	atomic_store(&j->stop_reason, JOBD_E_TIMEOUT);
	if (!j->tracked)
		return;
	s = j->owner;
	session_send_error(s, true, j->req_id, JOBD_E_TIMEOUT,
	                   "deadline of %llu ms passed",
	                   (unsigned long long)j->timeout_ms);
	j->answered = true;
	session_untrack_job(s, j);
	if (pool_unqueue(j->plugin->pool, j))
		job_free(j); /* never started: nothing will come back */
}

/* busy, with the hint in retry_after_ms and in the text. */
static void send_busy(struct session *s, int64_t id, uint64_t retry_ms,
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
	session_send_msg(s, e);
}

/* Refuses a call whose request bytes would pass limits.max_queued_input,
 * and charges an admitted one to j->input_bytes. True if admitted. */
static bool admit_input(struct proto *pr, struct session *s, struct msg *m,
                        struct plugin *p, uint64_t size)
{
	uint64_t max = pr->cfg->limits.max_queued_input;
	char why[200];

	if (size > max) {
		session_send_error(
		        s, true, m->id, JOBD_E_TOO_LARGE,
		        "request of %llu bytes is over max_queued_input "
		        "%llu",
		        (unsigned long long)size, (unsigned long long)max);
		return false;
	}
	if (pr->input_queued + size > max) {
		snprintf(why, sizeof(why),
		         "jobd holds its limit of accepted requests "
		         "(max_queued_input, %llu bytes)",
		         (unsigned long long)max);
		send_busy(s, m->id, pool_retry_after_ms(p->pool), why);
		return false;
	}
	return true;
}

/* The input's SHA-256 for provenance, from its JSON text as it lies in
 * the frame (docs/protocol.md §9.2): never formatted a second time. */
static void dispatch_hash_input(struct job *j, const struct msg *m)
{
	size_t off, n;

	if (m->body &&
	    msg_member_span(m->body, m->size, "input", &off, &n) == 0)
		sha256_hex(m->body + off, n, j->input_sha256);
}

/* A user's max_queued: calls of theirs waiting in any queue. */
static bool admit_user(struct proto *pr, struct session *s, struct msg *m,
                       struct plugin *p)
{
	struct job_user *u = s->user ? s->user->ju : NULL;
	unsigned max = u ? atomic_load(&u->max_queued) : 0;
	unsigned queued = u ? atomic_load(&u->queued) : 0;
	char why[200];

	if (!max || queued < max)
		return true;
	snprintf(why, sizeof(why), "you have %u calls waiting, your max_queued",
	         queued);
	send_busy(s, m->id, pool_retry_after_ms(p->pool), why);
	return false;
}

static void dispatch_call(struct proto *pr, struct session *s, struct msg *m)
{
	struct jobd_array arrays[JOBD_ARRAYS_MAX];
	size_t n_arrays = 0;
	struct msg_error err;
	struct plugin *p;
	struct job *j;
	uint64_t size, timeout_ms, retry_ms = 0;
	char *names;
	int rc;

	if (pr->draining) {
		session_send_error(s, true, m->id, JOBD_E_SHUTTING_DOWN,
		                   "jobd is shutting down; no new calls");
		return;
	}
	if (!auth_may_call(pr, s, true, m->id, m->plugin))
		return;
	p = registry_find(pr->plugins, m->plugin);
	if (!p) {
		names = registry_names(pr->plugins);
		session_send_error(s, true, m->id, JOBD_E_UNKNOWN_PLUGIN,
		                   "plugin \"%s\" not found (available: %s)",
		                   m->plugin, names ? names : "");
		free(names);
		return;
	}
	if (session_find_job(s, m->id)) {
		session_send_error(
		        s, true, m->id, JOBD_E_DUPLICATE_ID,
		        "id %lld is already in flight on this connection",
		        (long long)m->id);
		return;
	}
	/* Arrays: checked against the data block before anything is
	 * queued; the JSON and the bytes count together. */
	if (msg_arrays(m, s->in_data, s->in_data_len, arrays, &n_arrays, &err) <
	    0) {
		session_send_error(s, true, m->id, err.code, "%s", err.text);
		return;
	}
	if (n_arrays && !(p->desc->flags & JOBD_PLUGIN_ARRAYS)) {
		session_send_error(s, true, m->id, JOBD_E_BAD_REQUEST,
		                   "plugin \"%s\" takes no binary arrays",
		                   m->plugin);
		return;
	}
	if (n_arrays && p->process) {
		/* Not yet: the memfds are there for it (exec/arrays.h), the
		 * worker's side is not. */
		session_send_error(s, true, m->id, JOBD_E_BAD_REQUEST,
		                   "plugin \"%s\" runs in a worker process "
		                   "(isolation: process), which does not take "
		                   "binary arrays yet; its config may say "
		                   "isolation: thread",
		                   m->plugin);
		return;
	}
	if (n_arrays && m->detach) {
		session_send_error(s, true, m->id, JOBD_E_BAD_REQUEST,
		                   "detached jobs cannot carry binary arrays "
		                   "yet; call without detach");
		return;
	}
	size = m->size + s->in_data_len;
	if (!admit_user(pr, s, m, p) || !admit_input(pr, s, m, p, size))
		return;
	j = job_new(p, json_incref(m->input));
	if (j && n_arrays) {
		j->arrays = arrays_new();
		if (!j->arrays ||
		    arrays_set_input(j->arrays, s->in_data, s->in_data_len,
		                     arrays, n_arrays) < 0) {
			job_free(j);
			j = NULL;
		} else {
			s->in_data = NULL; /* the job's now */
			j->input_arrays = true;
		}
	}
	if (j)
		dispatch_hash_input(j, m);
	/* The job must hold the only reference: the message's root is freed
	 * on this thread while a worker may already read the input. */
	json_object_del(m->root, "input");
	m->input = NULL;
	if (!j) {
		session_send_error(s, true, m->id, JOBD_E_INTERNAL,
		                   "out of memory");
		return;
	}
	j->req_id = m->id;
	j->owner = s;
	j->user = s->user ? s->user->ju : NULL;
	j->loop_ctx = pr;
	j->version = s->version;
	j->input_bytes = size;
	j->input_account = &pr->input_queued;
	pr->input_queued += size;
	timeout_ms = p->timeout_ms;
	if (m->timeout_ms > 0 &&
	    (!timeout_ms || (uint64_t)m->timeout_ms < timeout_ms))
		timeout_ms = (uint64_t)m->timeout_ms;
	/* Past ~292 years the deadline in ns would wrap around and expire at
	 * once: a timeout that large means none. */
	if (timeout_ms > UINT64_MAX / 2000000u)
		timeout_ms = 0;
	j->timeout_ms = timeout_ms;
	session_track_job(s, j);
	if (timeout_ms) {
		struct timeval tv = {(time_t)(timeout_ms / 1000),
		                     (suseconds_t)(timeout_ms % 1000) * 1000};

		j->deadline_ns = j->t_queued_ns + timeout_ms * 1000000ull;
		j->deadline_ev = evtimer_new(pr->base, job_deadline_cb, j);
		if (j->deadline_ev)
			evtimer_add(j->deadline_ev, &tv);
	}
	if (m->detach)
		rc = detached_submit(pr, j, &retry_ms);
	else
		rc = pool_submit(p->pool, j, &retry_ms);
	if (rc == 0)
		return;
	session_untrack_job(s, j);
	if (rc == -EBUSY) {
		char why[120];

		snprintf(why, sizeof(why), "plugin \"%s\" has a full queue",
		         m->plugin);
		send_busy(s, m->id, retry_ms, why);
	} else if (rc == -ESHUTDOWN) {
		session_send_error(s, true, m->id, JOBD_E_SHUTTING_DOWN,
		                   "plugin \"%s\" is stopping", m->plugin);
	} else {
		/* Any other failure below is ours, not the client's. */
		session_send_error(s, true, m->id, proto_error_from_errno(rc),
		                   "the call could not be queued: %s",
		                   strerror(-rc));
	}
	job_free(j);
}

static void dispatch_cancel(struct proto *pr, struct session *s, struct msg *m)
{
	struct job *j;

	if (m->job) {
		detached_cancel(pr, s, m);
		return;
	}
	/* An id not in flight is ignored (docs/protocol.md): its answer has
	 * gone out already, and a second message with that id would confuse
	 * a client that reuses ids. */
	j = session_find_job(s, m->id);
	if (!j)
		return;
	if (j->detached) {
		/* Becoming a detached job: `accepted` still answers it. */
		detached_cancel_job(pr, j);
		return;
	}
	atomic_store(&j->stop_reason, JOBD_E_CANCELLED);
	if (pool_unqueue(j->plugin->pool, j)) {
		/* Still queued: it leaves the queue and is answered now. */
		session_send_error(s, true, j->req_id, JOBD_E_CANCELLED,
		                   "cancelled before it started");
		session_untrack_job(s, j);
		job_free(j);
	}
	/* Running: the plugin sees cancelled() and its answer says so. */
}

void dispatch_message(struct proto *pr, struct session *s, struct msg *m)
{
	json_t *o;

	if (!auth_admit(pr, s, m))
		return;

	/* Only a call carries arrays (docs/protocol.md §12.3). */
	if (m->type != MSG_CALL &&
	    (s->in_data || json_object_get(m->root, "arrays"))) {
		session_send_error(s, m->has_id, m->id, JOBD_E_BAD_REQUEST,
		                   "%s: only a call carries arrays",
		                   msg_type_name(m->type)
		                           ? msg_type_name(m->type)
		                           : "message");
		return;
	}
	switch (m->type) {
	case MSG_HELLO:
		dispatch_hello(pr, s, m);
		break;
	case MSG_CALL:
		dispatch_call(pr, s, m);
		break;
	case MSG_CANCEL:
		dispatch_cancel(pr, s, m);
		break;
	case MSG_PING:
		session_send_msg(s, msg_pong(m->has_id, m->id));
		break;
	case MSG_STATS:
		o = stats_build(pr, m->has_id, m->id);
		/* Who is waiting for what: for admins only. */
		if (o && pr->auth.users && auth_is_admin(pr, s))
			json_object_set_new(o, "users", auth_user_stats(pr));
		session_send_msg(s, o);
		break;
	case MSG_DETACH:
		detached_detach(pr, s, m);
		break;
	case MSG_STATUS:
		detached_status(pr, s, m);
		break;
	case MSG_ATTACH:
		detached_attach(pr, s, m);
		break;
	case MSG_RESULT:
		detached_result(pr, s, m);
		break;
	case MSG_JOBS:
		detached_jobs(pr, s, m);
		break;
	default:
		session_send_error(s, m->has_id, m->id, JOBD_E_UNKNOWN_TYPE,
		                   "type \"%s\" is not a request",
		                   msg_type_name(m->type));
		break;
	}
}

void dispatch_job_done(struct proto *pr, struct job *j)
{
	struct session *s = j->tracked ? j->owner : NULL;

	if (j->detached) {
		detached_job_done(pr, j);
		if (pr->draining)
			pr->hooks->job_finished(pr->hooks_arg);
		return;
	}
	if (s) {
		session_untrack_job(s, j);
		if (!j->answered && j->frame) {
			session_send_frame(s, j->frame, j->frame_len);
			j->frame = NULL;
		} else if (!j->answered && j->arrays &&
		           j->arrays->answer.iovcnt) {
			/* The arrays go with their answer, uncopied; the
			 * session frees them once written. */
			struct job_arrays *a = j->arrays;

			j->arrays = NULL;
			session_send_pieces(s, a->answer.iov, a->answer.iovcnt,
			                    arrays_free_cb, a);
		}
	}
	job_free(j);
	if (pr->draining)
		pr->hooks->job_finished(pr->hooks_arg);
}

void dispatch_job_done_cb(struct cq_item *item, void *arg)
{
	dispatch_job_done(arg, container_of(item, struct job, done));
}

void dispatch_progress_cb(struct cq_item *item, void *arg)
{
	struct proto *pr = arg;
	struct progress_note *n =
	        container_of(item, struct progress_note, item);
	struct job *j = n->job;

	/* A detached job's progress goes to those attached; the caller
	 * waiting for `accepted` gets only that. */
	if (j->detached)
		detached_progress(pr, j, n->fraction,
		                  n->message[0] ? n->message : NULL);
	else if (j->tracked && !j->answered)
		session_send_msg(
		        j->owner,
		        msg_progress(j->req_id, n->fraction,
		                     n->message[0] ? n->message : NULL));
	free(n);
}

void dispatch_session_gone(struct proto *pr, struct session *s)
{
	struct job *j;

	while ((j = s->inflight)) {
		session_untrack_job(s, j);
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
	struct proto *pr = arg;

	if (j->detached) {
		detached_forget(pr, j); /* stays queued in the store */
		return;
	}
	if (j->tracked) {
		struct session *s = j->owner;

		session_send_error(s, true, j->req_id, JOBD_E_SHUTTING_DOWN,
		                   "jobd stopped before the job could run");
		session_untrack_job(s, j);
	}
	job_free(j);
}
