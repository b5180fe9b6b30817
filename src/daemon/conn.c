/* SPDX-License-Identifier: MIT */
#include "daemon/conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/dispatch.h"
#include "daemon/job.h"
#include "daemon/jobd.h"
#include "daemon/log.h"
#include "wire/message.h"

/* How long a closing connection may take to read its last error frame. */
#define CLOSE_GRACE_SEC 2

static void conn_free(struct conn *c);

void conn_destroy(struct conn *c)
{
	conn_free(c);
}
static void conn_update_reading(struct conn *c);
static void conn_drained(struct conn *c);

/* --- the table: slot + generation names a connection across threads ----- */

int conn_table_init(struct jobd *jd, uint32_t n_slots)
{
	struct conn_table *t = &jd->conns;
	uint32_t i;

	t->slots = calloc(n_slots, sizeof(*t->slots));
	t->gens = calloc(n_slots, sizeof(*t->gens));
	t->free_list = calloc(n_slots, sizeof(*t->free_list));
	if (!t->slots || !t->gens || !t->free_list)
		return -ENOMEM;
	t->n_slots = n_slots;
	for (i = 0; i < n_slots; i++) {
		t->gens[i] = 1;
		t->free_list[i] = n_slots - 1 - i; /* pop low slots first */
	}
	t->n_free = n_slots;
	return 0;
}

void conn_table_fini(struct jobd *jd)
{
	struct conn_table *t = &jd->conns;

	free(t->slots);
	free(t->gens);
	free(t->free_list);
	memset(t, 0, sizeof(*t));
}

struct conn *conn_lookup(struct jobd *jd, uint32_t slot, uint32_t gen)
{
	struct conn_table *t = &jd->conns;

	if (slot >= t->n_slots || t->gens[slot] != gen)
		return NULL;
	return t->slots[slot];
}

void conn_foreach(struct jobd *jd, void (*fn)(struct conn *, void *), void *arg)
{
	struct conn_table *t = &jd->conns;
	uint32_t i;

	for (i = 0; i < t->n_slots; i++)
		if (t->slots[i])
			fn(t->slots[i], arg);
}

/* --- sending ------------------------------------------------------------- */

static void frame_cleanup(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

void conn_send_frame(struct conn *c, char *frame, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct config_limits *lim = &c->jd->cfg->limits;
	size_t pending;

	if (!frame)
		return;
	/* By reference: the worker's buffer goes to the socket uncopied. */
	if (evbuffer_add_reference(out, frame, len, frame_cleanup, NULL) < 0) {
		free(frame);
		return;
	}
	/* NOTE: EV_WRITE stays disabled while the socket keeps up, so that
	 * queueing an answer costs no epoll_ctl: the flush event writes
	 * everything queued in this turn of the loop with one writev, and
	 * only a socket that cannot take it all gets EV_WRITE (and libevent
	 * finishes the job). Saves two syscalls per answer at D=1
	 * (docs/benchmarks.md). */
	if (!c->flush_pending &&
	    !(bufferevent_get_enabled(c->bev) & EV_WRITE)) {
		c->flush_pending = true;
		event_active(c->flush_ev, EV_TIMEOUT, 0);
	}
	pending = evbuffer_get_length(out);
	if (pending > 2 * lim->max_output_buffer) {
		/* It reads nothing while we keep answering: let it go. */
		log_info("%s: %zu bytes unsent, over twice the output cap; "
		         "closing",
		         c->peer, pending);
		conn_close(c, JOBD_OK, NULL);
	} else if (pending > lim->max_output_buffer && !c->paused_output) {
		c->paused_output = true;
		conn_update_reading(c);
	}
}

void conn_send_msg(struct conn *c, json_t *msg)
{
	char *frame;
	size_t len;

	if (!msg)
		return;
	if (frame_encode(msg, &frame, &len) == 0)
		conn_send_frame(c, frame, len);
	json_decref(msg);
}

void conn_send_error(struct conn *c, bool has_id, int64_t id,
                     enum jobd_error code, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	conn_send_msg(c, msg_error(has_id, id, code, text));
}

/* --- in-flight calls ----------------------------------------------------- */

static void conn_arm_idle(struct conn *c)
{
	if (!c->jd->idle_tv || c->closing)
		return;
	if (c->n_inflight == 0 && c->n_waiting == 0)
		evtimer_add(c->idle_ev, c->jd->idle_tv);
	else
		evtimer_del(c->idle_ev);
}

void conn_track_job(struct conn *c, struct job *j)
{
	j->conn_slot = c->slot;
	j->conn_gen = c->gen;
	j->c_prev = NULL;
	j->c_next = c->inflight;
	if (c->inflight)
		c->inflight->c_prev = j;
	c->inflight = j;
	j->tracked = true;
	if (++c->n_inflight == 1)
		evtimer_del(c->idle_ev);
	if (c->n_inflight >= c->jd->cfg->limits.max_inflight_per_connection &&
	    !c->paused_inflight) {
		c->paused_inflight = true;
		conn_update_reading(c);
	}
}

void conn_untrack_job(struct conn *c, struct job *j)
{
	if (!j->tracked)
		return;
	if (j->c_prev)
		j->c_prev->c_next = j->c_next;
	else
		c->inflight = j->c_next;
	if (j->c_next)
		j->c_next->c_prev = j->c_prev;
	j->c_prev = j->c_next = NULL;
	j->tracked = false;
	c->n_inflight--;
	if (c->paused_inflight &&
	    c->n_inflight < c->jd->cfg->limits.max_inflight_per_connection) {
		c->paused_inflight = false;
		conn_update_reading(c);
	}
	conn_arm_idle(c);
}

void conn_wait_begin(struct conn *c)
{
	/* A closing connection's idle timer is its close timer: keep it. */
	if (c->n_waiting++ == 0 && !c->closing)
		evtimer_del(c->idle_ev);
}

void conn_wait_end(struct conn *c)
{
	if (c->n_waiting && --c->n_waiting == 0)
		conn_arm_idle(c);
}

struct job *conn_find_job(struct conn *c, int64_t id)
{
	struct job *j;

	for (j = c->inflight; j; j = j->c_next)
		if (j->req_id == id)
			return j;
	return NULL;
}

/* --- reading ------------------------------------------------------------- */

static void conn_handle_frame(struct conn *c, const char *body, size_t len)
{
	struct msg m;
	struct msg_error err;

	if (msg_parse(body, len, MSG_FROM_CLIENT, &m, &err) < 0) {
		conn_send_error(c, err.has_id, err.id, err.code, "%s",
		                err.text);
		return;
	}
	dispatch_message(c, &m);
	msg_fini(&m);
}

/* Keeps jd->input_reserved the sum of the frame bodies the decoders have
 * allocated. A frame that would take it past max_input_buffer closes its
 * connection (too_large), so that many clients each sending a large frame
 * slowly cannot make jobd hold max_connections x max_frame_size. Returns
 * -1 after closing c. */
static int conn_account_input(struct conn *c)
{
	struct jobd *jd = c->jd;
	uint64_t now = c->dec.body ? c->dec.body_size : 0;
	uint64_t others = jd->input_reserved - c->input_reserved;

	if (now > c->input_reserved &&
	    others + now > jd->cfg->limits.max_input_buffer) {
		log_warning("%s: a frame of %llu bytes would pass "
		            "max_input_buffer (%llu bytes of partial frames "
		            "held); closing",
		            c->peer, (unsigned long long)now,
		            (unsigned long long)others);
		conn_close(c, JOBD_E_TOO_LARGE,
		           "jobd holds its limit of partly received frames "
		           "(max_input_buffer); try again later");
		return -1;
	}
	jd->input_reserved = others + now;
	c->input_reserved = now;
	return 0;
}

static void conn_process_input(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	size_t used, len;
	const char *whole;
	uint32_t whole_len;
	char *body;
	int st;

	while (!c->closing && !c->paused_inflight && !c->paused_output) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || !v.iov_len)
			break;
		/* A whole frame in the buffer's first chunk is parsed where it
		 * lies: no body to allocate and copy (most requests). */
		if (!frame_decoder_mid_frame(&c->dec) &&
		    (used = frame_whole_at(v.iov_base, v.iov_len,
		                           c->dec.max_size, &whole,
		                           &whole_len))) {
			conn_handle_frame(c, whole, whole_len);
			evbuffer_drain(in, used);
			continue;
		}
		st = frame_decoder_feed(&c->dec, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (st == FRAME_READY) {
			body = frame_decoder_take(&c->dec, &len);
			if (body)
				conn_handle_frame(c, body, len);
			free(body);
		} else if (st == FRAME_EMPTY) {
			conn_close(c, JOBD_E_BAD_FRAME,
			           "frame length 0: a frame holds one JSON "
			           "object of at least 1 byte");
			return;
		} else if (st == FRAME_TOO_LARGE) {
			char text[160];

			snprintf(text, sizeof(text),
			         "frame of %u bytes is over max_frame_size %u",
			         frame_decoder_announced(&c->dec),
			         c->jd->cfg->limits.max_frame_size);
			conn_close(c, JOBD_E_TOO_LARGE, text);
			return;
		} else if (st < 0) {
			conn_close(c, JOBD_E_INTERNAL, "out of memory");
			return;
		}
		if (conn_account_input(c) < 0)
			return;
	}
	/* The frame deadline runs from a frame's first byte to its last. */
	if (c->jd->frame_tv && !c->closing) {
		if (frame_decoder_mid_frame(&c->dec)) {
			if (!evtimer_pending(c->frame_ev, NULL))
				evtimer_add(c->frame_ev, c->jd->frame_tv);
		} else {
			evtimer_del(c->frame_ev);
		}
	}
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	conn_arm_idle(c);
	conn_process_input(c);
}

static void conn_update_reading(struct conn *c)
{
	bool want = !c->closing && !c->paused_inflight && !c->paused_output;

	if (want) {
		bufferevent_enable(c->bev, EV_READ);
		/* Frames that arrived while paused are already buffered and
		 * would not raise a read event: handle them on the next turn
		 * of the loop, not from deep inside whoever resumed us. */
		if (evbuffer_get_length(bufferevent_get_input(c->bev)))
			bufferevent_trigger(c->bev, EV_READ,
			                    BEV_TRIG_IGNORE_WATERMARKS |
			                            BEV_TRIG_DEFER_CALLBACKS);
	} else {
		bufferevent_disable(c->bev, EV_READ);
	}
}

/* Runs after the callbacks of this loop turn: writes what they queued. */
static void conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int n;

	c->flush_pending = false;
	if (!evbuffer_get_length(out))
		return;
	/* The bufferevent keeps its output's start frozen and thaws it
	 * around its own writes; do as it does. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, bufferevent_getfd(c->bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) || n < 0) {
		/* A full socket, or an error libevent will report through
		 * conn_event_cb once it tries itself. */
		bufferevent_enable(c->bev, EV_WRITE);
		return;
	}
	conn_drained(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	/* libevent emptied the output: back to writing from flush_ev. */
	bufferevent_disable(bev, EV_WRITE);
	conn_drained(c);
}

/* The output has drained completely. May free c. */
static void conn_drained(struct conn *c)
{
	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->paused_output) {
		c->paused_output = false;
		conn_update_reading(c);
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_ERROR)
		log_debug("%s: %s", c->peer,
		          evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("%s: closed by peer", c->peer);
		conn_free(c);
	}
}

static void conn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->closing) {
		conn_free(c); /* never read its last frame */
		return;
	}
	log_debug("%s: idle, closing", c->peer);
	conn_close(c, JOBD_E_IDLE_TIMEOUT, "idle_timeout: no request arrived");
}

static void conn_frame_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	log_info("%s: frame not complete within frame_timeout, closing",
	         c->peer);
	conn_close(c, JOBD_E_IDLE_TIMEOUT,
	           "frame_timeout: a frame began but did not end in time");
}

/* --- life ---------------------------------------------------------------- */

static void conn_describe_peer(struct conn *c, const struct sockaddr *sa,
                               int salen)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (sa &&
	    getnameinfo(sa, (socklen_t)salen, host, sizeof(host), serv,
	                sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(c->peer, sizeof(c->peer),
		         sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
		         serv);
	else
		snprintf(c->peer, sizeof(c->peer), "conn#%u", c->slot);
}

int conn_accept(struct jobd *jd, int fd, const struct sockaddr *sa, int salen)
{
	struct conn_table *t = &jd->conns;
	struct conn *c;
	uint32_t slot;

	if (!t->n_free) {
		close(fd);
		return -ENOSPC;
	}
	/* Answers are already coalesced per loop turn (flush_ev): Nagle
	 * would only hold a small answer back until the client's ACK, which
	 * a client waiting for it may delay (docs/benchmarks.md). */
	if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->jd = jd;
	c->version = PROTOCOL_VERSION;
	frame_decoder_init(&c->dec, jd->cfg->limits.max_frame_size);
	c->bev = bufferevent_socket_new(jd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		goto fail;
	fd = -1; /* the bufferevent owns it now */
	c->idle_ev = evtimer_new(jd->base, conn_idle_cb, c);
	c->frame_ev = evtimer_new(jd->base, conn_frame_cb, c);
	c->flush_ev = event_new(jd->base, -1, 0, conn_flush_cb, c);
	if (!c->idle_ev || !c->frame_ev || !c->flush_ev)
		goto fail;
	slot = t->free_list[--t->n_free];
	t->slots[slot] = c;
	t->count++;
	c->slot = slot;
	c->gen = t->gens[slot];
	conn_describe_peer(c, sa, salen);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	                  c);
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_disable(c->bev, EV_WRITE); /* see conn_send_frame */
	conn_arm_idle(c);
	jd->conns_total++;
	log_debug("%s: connected", c->peer);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (c) {
		if (c->idle_ev)
			event_free(c->idle_ev);
		if (c->frame_ev)
			event_free(c->frame_ev);
		if (c->flush_ev)
			event_free(c->flush_ev);
		if (c->bev)
			bufferevent_free(c->bev);
		frame_decoder_fini(&c->dec);
		free(c);
	}
	return -ENOMEM;
}

void conn_close(struct conn *c, enum jobd_error code, const char *message)
{
	struct timeval now = {0, 0}, grace = {CLOSE_GRACE_SEC, 0};

	if (c->closing)
		return;
	if (code != JOBD_OK)
		conn_send_msg(c, msg_error(false, 0, code, message));
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	evtimer_del(c->frame_ev);
	dispatch_conn_gone(c); /* nobody will read its answers */
	/* Never freed here: callers up the stack still hold c. The write
	 * callback frees it once the error frame is out, the timer when the
	 * grace passes (at once for a silent close). */
	if (code == JOBD_OK ||
	    !evbuffer_get_length(bufferevent_get_output(c->bev)))
		evtimer_add(c->idle_ev, &now);
	else
		evtimer_add(c->idle_ev, &grace);
}

static void conn_free(struct conn *c)
{
	struct jobd *jd = c->jd;
	struct conn_table *t = &jd->conns;

	dispatch_conn_gone(c);
	t->slots[c->slot] = NULL;
	t->gens[c->slot]++;
	if (!t->gens[c->slot])
		t->gens[c->slot] = 1; /* 0 means "no connection" in a job */
	t->free_list[t->n_free++] = c->slot;
	t->count--;
	jd->input_reserved -= c->input_reserved;
	event_free(c->idle_ev);
	event_free(c->frame_ev);
	event_free(c->flush_ev);
	bufferevent_free(c->bev);
	frame_decoder_fini(&c->dec);
	free(c);
	jobd_conn_closed(jd);
}
