/* SPDX-License-Identifier: MIT */
#include "daemon/net/conn.h"

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
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pwd.h>
#include <sys/un.h>

#include "daemon/net/net.h"
#include "daemon/net/tls.h"
#include "daemon/util/log.h"
#include "daemon/util/shm.h"
#include "wire/message.h"

/* Bytes per read and write callback once arrays may flow. */
#define CONN_ARRAY_IO_CHUNK (4u << 20)

/* How long a closing connection may take to read its last error frame. */
#define CLOSE_GRACE_SEC 2
/* How long a TLS client may take over its handshake. */
#define TLS_HANDSHAKE_SEC 10
/* The first byte of a TLS record carrying a handshake (a ClientHello). */
#define TLS_HANDSHAKE_BYTE 0x16

static void conn_free(struct conn *c);
static void conn_update_reading(struct conn *c);
static void conn_drained(struct conn *c);
static void conn_close(struct conn *c, enum jobd_error code,
                       const char *message);

static void conn_session_close(struct session *s, enum jobd_error code,
                               const char *message);
static void conn_destroy(struct session *s);

static struct conn *conn_of(struct session *s)
{
	return (struct conn *)(void *)s; /* s is the first member */
}

/* --- sending ------------------------------------------------------------- */

static void frame_cleanup(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

/* Something was queued: write it this loop turn, and hold a client
 * that does not read to max_output_buffer. */
static void conn_queued(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct config_limits *lim = c->net->limits;
	size_t pending;

	/* NOTE: EV_WRITE stays disabled while the socket keeps up, so that
	 * queueing an answer costs no epoll_ctl: the flush event writes
	 * everything queued in this turn of the loop with one writev, and
	 * only a socket that cannot take it all gets EV_WRITE (and libevent
	 * finishes the job). Saves two syscalls per answer at D=1
	 * (docs/benchmarks.md). */
	if (c->tls) {
		/* OpenSSL writes records itself: no writev of our own. */
		if (!(bufferevent_get_enabled(c->bev) & EV_WRITE))
			bufferevent_enable(c->bev, EV_WRITE);
	} else if (!c->flush_pending &&
	           !(bufferevent_get_enabled(c->bev) & EV_WRITE)) {
		c->flush_pending = true;
		event_active(c->flush_ev, EV_TIMEOUT, 0);
	}
	pending = evbuffer_get_length(out);
	if (pending > 2 * lim->max_output_buffer) {
		/* It reads nothing while we keep answering: let it go. */
		log_info("%s: %zu bytes unsent, over twice the output cap; "
		         "closing",
		         c->s.peer, pending);
		conn_close(c, JOBD_OK, NULL);
	} else if (pending > lim->max_output_buffer && !c->paused_output) {
		c->paused_output = true;
		conn_update_reading(c);
	}
}

static void conn_send_frame(struct session *s, char *frame, size_t len)
{
	struct conn *c = conn_of(s);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (!frame)
		return;
	/* By reference: the worker's buffer goes to the socket uncopied. */
	if (evbuffer_add_reference(out, frame, len, frame_cleanup, NULL) < 0) {
		free(frame);
		return;
	}
	conn_queued(c);
}

/* What the last piece of a frame calls when libevent lets go of it. */
struct pieces_done {
	void (*done)(void *arg);
	void *arg;
};

static void pieces_cleanup(const void *data, size_t len, void *arg)
{
	struct pieces_done *d = arg;

	d->done(d->arg);
	free(d);
}

static void conn_send_pieces(struct session *s, const struct iovec *iov, int n,
                             void (*done)(void *arg), void *arg)
{
	struct conn *c = conn_of(s);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer *frame = evbuffer_new();
	struct pieces_done *d = malloc(sizeof(*d));
	int i, last = n - 1;

	/* The pieces go by reference (an array's bytes are never copied);
	 * they are gathered first so that the frame is queued whole or not
	 * at all. Empty pieces are skipped: the done call rides on the last
	 * piece that has bytes. */
	while (last > 0 && iov[last].iov_len == 0)
		last--;
	if (!frame || !d || n < 1)
		goto fail;
	d->done = done;
	d->arg = arg;
	for (i = 0; i <= last; i++) {
		if (!iov[i].iov_len)
			continue;
		if (evbuffer_add_reference(frame, iov[i].iov_base,
		                           iov[i].iov_len,
		                           i == last ? pieces_cleanup : NULL,
		                           i == last ? d : NULL) < 0)
			goto fail;
		if (i == last)
			d = NULL; /* the buffer calls it now */
	}
	if (evbuffer_add_buffer(out, frame) < 0)
		log_warning("%s: an answer could not be queued", c->s.peer);
	evbuffer_free(frame); /* runs done if the pieces did not move */
	conn_queued(c);
	return;
fail:
	if (frame)
		evbuffer_free(frame);
	if (d) {
		free(d);
		done(arg);
	}
}

/* --- load ---------------------------------------------------------------- */

static void conn_arm_idle(struct conn *c)
{
	if (!c->net->idle_tv || c->s.closing || !c->ready)
		return;
	if (c->s.n_inflight == 0 && c->s.n_waiting == 0)
		evtimer_add(c->idle_ev, c->net->idle_tv);
	else
		evtimer_del(c->idle_ev);
}

/* Calls in flight or waiting changed: reading pauses at
 * max_inflight_per_connection, and a busy connection is never idle. */
static void conn_load_changed(struct session *s)
{
	struct conn *c = conn_of(s);
	bool full =
	        s->n_inflight >= c->net->limits->max_inflight_per_connection;

	if (full != c->paused_inflight) {
		c->paused_inflight = full;
		conn_update_reading(c);
	}
	conn_arm_idle(c);
}

static void conn_set_frame_cap(struct session *s, uint32_t max)
{
	struct conn *c = conn_of(s);
	uint32_t limit = c->net->limits->max_frame_size;

	c->dec.max_size = max && max < limit ? max : limit;
}

/* --- reading ------------------------------------------------------------- */

/* One whole frame: its body and, for an array frame, its data block
 * (owned here; NULL for none). */
static void conn_handle_frame(struct conn *c, const char *body, size_t len,
                              void *data, uint64_t data_len)
{
	struct msg m;
	struct msg_error err;

	if (msg_parse(body, len, MSG_FROM_CLIENT, &m, &err) < 0) {
		session_send_error(&c->s, err.has_id, err.id, err.code, "%s",
		                   err.text);
		shm_free(data);
		return;
	}
	c->s.in_data = data;
	c->s.in_data_len = data_len;
	c->net->ops->message(c->net->ops_arg, &c->s, &m);
	shm_free(c->s.in_data); /* unless the handler kept it */
	c->s.in_data = NULL;
	c->s.in_data_len = 0;
	msg_fini(&m);
}

static const struct frame_data_ops conn_shm_ops = {
        .alloc = shm_alloc_cb,
        .release = shm_release_cb,
};

/* After a hello that agreed on version 2, array frames are accepted from
 * the next frame on, their data blocks put in shared memory. */
static void conn_check_version(struct conn *c)
{
	if (c->arrays || c->s.version < PROTOCOL_VERSION_ARRAYS)
		return;
	frame_decoder_allow_arrays(&c->dec, c->s.max_array_bytes,
	                           &conn_shm_ops);
	/* libevent moves 16 KiB per read and write callback by default: an
	 * 8 MB array would take 500 turns of the loop each way. */
	bufferevent_set_max_single_read(c->bev, CONN_ARRAY_IO_CHUNK);
	bufferevent_set_max_single_write(c->bev, CONN_ARRAY_IO_CHUNK);
	c->arrays = true;
}

/* Inside an array frame's data block with nothing buffered: reads from
 * the socket straight into the block (one copy, the kernel's, instead of
 * socket -> evbuffer -> block). Returns the decoder's status after the
 * bytes read (FRAME_MORE when none could be), or -1 at EOF or an error,
 * which the bufferevent then reports on its own read. */
static int conn_read_direct(struct conn *c)
{
	size_t room;
	void *p;
	ssize_t n;
	int st = FRAME_MORE;

	while ((p = frame_decoder_direct(&c->dec, &room)) && room) {
		n = recv(bufferevent_getfd(c->bev), p, room, MSG_DONTWAIT);
		if (n <= 0)
			break;
		st = frame_decoder_wrote(&c->dec, (size_t)n);
		if (st != FRAME_MORE)
			break;
	}
	return st;
}

/* Keeps net->input_reserved the sum of the frame bodies the decoders have
 * allocated. A frame that would take it past max_input_buffer closes its
 * connection (too_large), so that many clients each sending a large frame
 * slowly cannot make jobd hold max_connections x max_frame_size. Returns
 * -1 after closing c. */
static int conn_account_input(struct conn *c)
{
	struct net *n = c->net;
	uint64_t now = frame_decoder_reserve(&c->dec);
	uint64_t others = n->input_reserved - c->input_reserved;

	if (now > c->input_reserved &&
	    others + now > n->limits->max_input_buffer) {
		log_warning("%s: a frame of %llu bytes would pass "
		            "max_input_buffer (%llu bytes of partial frames "
		            "held); closing",
		            c->s.peer, (unsigned long long)now,
		            (unsigned long long)others);
		conn_close(c, JOBD_E_TOO_LARGE,
		           "jobd holds its limit of partly received frames "
		           "(max_input_buffer); try again later");
		return -1;
	}
	n->input_reserved = others + now;
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
	uint64_t data_len;
	void *data;
	char *body;
	int st;

	while (!c->s.closing && !c->paused_inflight && !c->paused_output) {
		conn_check_version(c);
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || !v.iov_len) {
			/* Only a data block has room to read into. */
			if (!c->arrays || c->tls || !c->dec.data ||
			    conn_read_direct(c) != FRAME_READY)
				break;
			st = FRAME_READY;
			goto ready;
		}
		if (!c->seen_bytes) {
			c->seen_bytes = true;
			/* A TLS client on a plain port: its ClientHello would
			 * read as a frame of hundreds of MiB. Say so in the
			 * log and in a plain error frame, and close: the
			 * client's handshake fails at once on bytes that are
			 * no TLS record ("wrong version number"), which
			 * libjobd-client explains. (Only when no frame that
			 * long is allowed, so nothing valid is lost.) */
			if (!c->tls &&
			    *(const unsigned char *)v.iov_base ==
			            TLS_HANDSHAKE_BYTE &&
			    c->dec.max_size < (uint32_t)TLS_HANDSHAKE_BYTE
			                              << 24) {
				log_info("%s: a TLS handshake on a plain "
				         "port; closing (use a listener with "
				         "tls:)",
				         c->s.peer);
				conn_close(c, JOBD_E_BAD_FRAME,
				           "this port speaks plain jobd "
				           "frames, not TLS");
				return;
			}
		}
		/* A whole frame in the buffer's first chunk is parsed where it
		 * lies: no body to allocate and copy (most requests). */
		if (!frame_decoder_mid_frame(&c->dec) &&
		    (used = frame_whole_at(v.iov_base, v.iov_len,
		                           c->dec.max_size, &whole,
		                           &whole_len))) {
			conn_handle_frame(c, whole, whole_len, NULL, 0);
			evbuffer_drain(in, used);
			continue;
		}
		st = frame_decoder_feed(&c->dec, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
	ready:
		if (st == FRAME_READY) {
			/* Counted until handled: the job charges its bytes
			 * to max_queued_input from here on. */
			body = frame_decoder_take_data(&c->dec, &len, &data,
			                               &data_len);
			if (conn_account_input(c) < 0) {
				free(body);
				shm_free(data);
				return;
			}
			if (body)
				conn_handle_frame(c, body, len, data, data_len);
			else
				shm_free(data);
			free(body);
			continue;
		} else if (st == FRAME_SIZED) {
			/* Judged from the prefix: nothing allocated yet. */
			if (conn_account_input(c) < 0)
				return;
			continue;
		} else if (st == FRAME_EMPTY) {
			conn_close(c, JOBD_E_BAD_FRAME,
			           "frame length 0: a frame holds one JSON "
			           "object of at least 1 byte");
			return;
		} else if (st == FRAME_TOO_LARGE &&
		           frame_decoder_announced(&c->dec) >=
		                   FRAME_ARRAY_FLAG) {
			/* docs/protocol.md §12.1: the array flag before
			 * version 2 is a framing error, not a length. */
			conn_close(c, JOBD_E_BAD_FRAME,
			           "array frame before hello version 2");
			return;
		} else if (st == FRAME_DATA_TOO_LARGE) {
			char text[160];

			snprintf(
			        text, sizeof(text),
			        "arrays of %llu bytes are over max_array_bytes "
			        "%llu",
			        (unsigned long long)
			                frame_decoder_announced_data(&c->dec),
			        (unsigned long long)c->s.max_array_bytes);
			conn_close(c, JOBD_E_TOO_LARGE, text);
			return;
		} else if (st == FRAME_BAD_PREFIX) {
			conn_close(
			        c, JOBD_E_BAD_FRAME,
			        "array frame prefix: reserved bytes not zero, "
			        "or a data length that is not a multiple of "
			        "64");
			return;
		} else if (st == FRAME_TOO_LARGE) {
			char text[200];

			if (c->dec.max_size < c->net->limits->max_frame_size)
				snprintf(text, sizeof(text),
				         "frame of %u bytes is over %u, the "
				         "limit before authentication",
				         frame_decoder_announced(&c->dec),
				         c->dec.max_size);
			else
				snprintf(text, sizeof(text),
				         "frame of %u bytes is over "
				         "max_frame_size %u",
				         frame_decoder_announced(&c->dec),
				         c->net->limits->max_frame_size);
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
	if (c->net->frame_tv && !c->s.closing) {
		if (frame_decoder_mid_frame(&c->dec)) {
			if (!evtimer_pending(c->frame_ev, NULL))
				evtimer_add(c->frame_ev, c->net->frame_tv);
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
	bool want = !c->s.closing && !c->paused_inflight && !c->paused_output;

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
	if (c->s.closing) {
		conn_free(c);
		return;
	}
	if (c->paused_output) {
		c->paused_output = false;
		conn_update_reading(c);
	}
}

/* The TLS handshake is done: the connection is a session from now on. */
static void conn_tls_ready(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

	c->ready = true;
	evtimer_del(c->frame_ev);
	c->s.peer_cert_subject = ssl ? tls_peer_subject(ssl) : NULL;
	log_debug("%s: TLS %s%s%s", c->s.peer, ssl ? SSL_get_version(ssl) : "",
	          c->s.peer_cert_subject ? ", client " : "",
	          c->s.peer_cert_subject ? c->s.peer_cert_subject : "");
	if (c->net->ops && c->net->ops->opened)
		c->net->ops->opened(c->net->ops_arg, &c->s);
	conn_arm_idle(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		conn_tls_ready(c);
		return;
	}
	if (c->tls && (what & BEV_EVENT_ERROR)) {
		char err[256] = "";
		unsigned long e;

		while ((e = bufferevent_get_openssl_error(bev)))
			if (ERR_reason_error_string(e))
				snprintf(err, sizeof(err), "%s",
				         ERR_reason_error_string(e));
		if (!err[0] && !c->ready)
			snprintf(err, sizeof(err),
			         "the client ended it (it may not trust our "
			         "certificate)");
		if (err[0])
			log_info("%s: TLS %s: %s", c->s.peer,
			         c->ready ? "error" : "handshake failed", err);
	}
	if (what & BEV_EVENT_ERROR)
		log_debug("%s: %s", c->s.peer,
		          evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("%s: closed by peer", c->s.peer);
		conn_free(c);
	}
}

static void conn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->s.closing) {
		conn_free(c); /* never read its last frame */
		return;
	}
	log_debug("%s: idle, closing", c->s.peer);
	conn_close(c, JOBD_E_IDLE_TIMEOUT, "idle_timeout: no request arrived");
}

static void conn_frame_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (!c->ready) {
		log_info("%s: TLS handshake not done within %d s; closing",
		         c->s.peer, TLS_HANDSHAKE_SEC);
		conn_free(c);
		return;
	}

	log_info("%s: frame not complete within frame_timeout, closing",
	         c->s.peer);
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
		snprintf(c->s.peer, sizeof(c->s.peer),
		         sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
		         serv);
	else
		snprintf(c->s.peer, sizeof(c->s.peer), "conn#%u", c->s.slot);
}

/* A Unix-socket peer: its uid as a user name (SO_PEERCRED), which the
 * protocol layer may map to a user. */
static void conn_unix_peer(struct conn *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		snprintf(c->s.peer, sizeof(c->s.peer), "unix#%u", c->s.slot);
		return;
	}
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		c->s.peer_unix_user = strdup(res->pw_name);
	snprintf(c->s.peer, sizeof(c->s.peer), "unix:%s(pid %d)",
	         c->s.peer_unix_user ? c->s.peer_unix_user : "?",
	         (int)cred.pid);
}

static const struct session_ops conn_session_ops = {
        .send_frame = conn_send_frame,
        .close = conn_session_close,
        .load_changed = conn_load_changed,
        .set_frame_cap = conn_set_frame_cap,
        .destroy = conn_destroy,
        .send_pieces = conn_send_pieces,
};

int conn_accept(struct net *n, int fd, const struct sockaddr *sa, int salen,
                struct ssl_ctx_st *tls)
{
	struct conn *c;
	SSL *ssl = NULL;

	if (!n->sessions.n_free) {
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
	c->net = n;
	c->s.ops = &conn_session_ops;
	c->s.version = PROTOCOL_VERSION;
	c->s.arrays_ok = true;
	frame_decoder_init(&c->dec, n->limits->max_frame_size);
	if (tls) {
		ssl = SSL_new(tls);
		if (!ssl)
			goto fail;
		c->tls = true;
		c->bev = bufferevent_openssl_socket_new(
		        n->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		        BEV_OPT_CLOSE_ON_FREE);
		if (!c->bev)
			goto fail; /* it freed neither ssl nor fd */
		ssl = NULL;
		/* A client that closes without close_notify has only
		 * closed: an EOF, as on a plain socket. */
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(n->base, fd,
		                                BEV_OPT_CLOSE_ON_FREE);
		if (!c->bev)
			goto fail;
	}
	fd = -1; /* the bufferevent owns it now */
	c->idle_ev = evtimer_new(n->base, conn_idle_cb, c);
	c->frame_ev = evtimer_new(n->base, conn_frame_cb, c);
	c->flush_ev = event_new(n->base, -1, 0, conn_flush_cb, c);
	if (!c->idle_ev || !c->frame_ev || !c->flush_ev)
		goto fail;
	session_table_add(&n->sessions, &c->s); /* n_free checked above */
	if (sa && sa->sa_family == AF_UNIX)
		conn_unix_peer(c, bufferevent_getfd(c->bev));
	else
		conn_describe_peer(c, sa, salen);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	                  c);
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_disable(c->bev, EV_WRITE); /* see conn_send_frame */
	n->conns_total++;
	log_debug("%s: connected", c->s.peer);
	if (c->tls) {
		struct timeval tv = {TLS_HANDSHAKE_SEC, 0};

		evtimer_add(c->frame_ev, &tv); /* until conn_tls_ready */
		return 0;
	}
	c->ready = true;
	if (n->ops && n->ops->opened)
		n->ops->opened(n->ops_arg, &c->s);
	conn_arm_idle(c);
	return 0;
fail:
	SSL_free(ssl);
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

static void conn_close(struct conn *c, enum jobd_error code,
                       const char *message)
{
	struct timeval now = {0, 0}, grace = {CLOSE_GRACE_SEC, 0};
	size_t pending;

	if (c->s.closing)
		return;
	if (code != JOBD_OK)
		session_send_msg(&c->s, msg_error(false, 0, code, message));
	c->s.closing = true;
	bufferevent_disable(c->bev, EV_READ);
	evtimer_del(c->frame_ev);
	if (c->net->ops) /* nobody will read its answers */
		c->net->ops->gone(c->net->ops_arg, &c->s);
	/* Never freed here: callers up the stack still hold c. The write
	 * callback frees it once the error frame is out, the timer when the
	 * grace passes; at once when nothing is queued, or for a silent
	 * close of a client that reads nothing. A silent close otherwise
	 * keeps what is queued: the error that explains it. */
	pending = evbuffer_get_length(bufferevent_get_output(c->bev));
	if (!pending ||
	    (code == JOBD_OK && pending > c->net->limits->max_output_buffer))
		evtimer_add(c->idle_ev, &now);
	else
		evtimer_add(c->idle_ev, &grace);
}

static void conn_session_close(struct session *s, enum jobd_error code,
                               const char *message)
{
	conn_close(conn_of(s), code, message);
}

static void conn_free(struct conn *c)
{
	struct net *n = c->net;

	if (n->ops)
		n->ops->gone(n->ops_arg, &c->s);
	session_table_remove(&n->sessions, &c->s);
	n->input_reserved -= c->input_reserved;
	event_free(c->idle_ev);
	event_free(c->frame_ev);
	event_free(c->flush_ev);
	bufferevent_free(c->bev);
	frame_decoder_fini(&c->dec);
	free(c->s.peer_unix_user);
	free(c->s.peer_cert_subject);
	free(c);
	if (n->ops)
		n->ops->slot_freed(n->ops_arg);
}

static void conn_destroy(struct session *s)
{
	conn_free(conn_of(s));
}
