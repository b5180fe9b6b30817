/* SPDX-License-Identifier: MIT */
/*
 * The client's one connection: connecting with failover over the server
 * list, the hello handshake, writing frames, reading and sorting answers.
 * The socket is non-blocking; every wait is a poll() with a deadline.
 * On a tls:// server the bytes go through tls.c (tls_recv/tls_send), and
 * the loops here stay the same.
 */
#include <errno.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client/client_priv.h"

int64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t conn_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : conn_now_ms() + timeout_ms;
}

/* Milliseconds left for poll(): -1 without a deadline, else 0..INT_MAX. */
static int conn_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - conn_now_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static const char *conn_display(const struct jobd_client *c)
{
	return c->servers.n ? c->servers.v[c->cur].display : "?";
}

void conn_close(struct jobd_client *c)
{
	tls_close(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	frame_decoder_fini(&c->dec);
	free(c->server_name);
	c->server_name = NULL;
	free(c->user);
	c->user = NULL;
	c->hello_seen = false;
	c->max_frame_size = 0;
	c->close_reason[0] = '\0';
}

void conn_lost(struct jobd_client *c, int status, const char *reason)
{
	struct jobd_client_answer *a;
	char text[512];
	bool had = c->inflight.count > 0;
	size_t i;

	snprintf(text, sizeof(text), "%s: %s", conn_display(c), reason);
	for (i = 0; i < c->inflight.cap; i++) {
		struct idmap_slot *s = &c->inflight.slots[i];

		if (!s->id || (s->flags & ID_ABANDONED))
			continue;
		/* If this allocation fails the waiter still learns: a
		 * blocking call sees fd < 0 with no answer (client_wait). */
		a = answer_local_error(s->id, status, text);
		if (a)
			answer_queue_push(&c->queue, a);
	}
	idmap_clear(&c->inflight);
	c->n_calls = 0;
	client_trail_add(c, conn_display(c), reason);
	client_fail(c, status, "%s", text);
	conn_close(c);
	if (had && c->servers.n)
		c->cur = (c->cur + 1) % c->servers.n;
}

/* A final answer (anything but progress) for id arrived: msg is stolen. */
static void conn_on_final(struct jobd_client *c, uint64_t id, bool is_error,
                          json_t *msg)
{
	struct jobd_client_answer *a;
	int flags = idmap_del(&c->inflight, id);

	if (flags < 0 || (flags & ID_ABANDONED)) {
		/* Not ours (a stray id) or given up on: drop it. */
		json_decref(msg);
		return;
	}
	if (flags & ID_CALL)
		c->n_calls--;
	a = answer_from_msg(is_error ? JOBD_CLIENT_ANSWER_ERROR
	                             : JOBD_CLIENT_ANSWER_RESULT,
	                    id, msg);
	if (!a)
		a = answer_local_error(id, JOBD_CLIENT_E_SYSTEM,
		                       "out of memory");
	if (a)
		answer_queue_push(&c->queue, a);
}

static void conn_on_progress(struct jobd_client *c, const struct msg *m)
{
	struct idmap_slot *s = idmap_get(&c->inflight, (uint64_t)m->id);
	struct jobd_client_answer *a;

	if (!s || (s->flags & ID_ABANDONED))
		return;
	if (c->progress_fn) {
		c->progress_fn(c->progress_ud, (uint64_t)m->id, m->fraction,
		               m->message);
		return;
	}
	if (!(s->flags & ID_CALL))
		return; /* a blocking call without a callback: not wanted */
	a = answer_from_msg(JOBD_CLIENT_ANSWER_PROGRESS, (uint64_t)m->id,
	                    json_incref(m->root));
	if (a)
		answer_queue_push(&c->queue, a);
}

/* One whole frame body. Returns OK or the status the connection was lost
 * with. */
static int conn_on_frame(struct jobd_client *c, const char *body, size_t len)
{
	struct msg m;
	struct msg_error e;
	const json_t *v;
	char why[700];

	if (msg_parse(body, len, MSG_FROM_SERVER, &m, &e) < 0) {
		/* A newer server may send types we do not know: ignore them
		 * (docs/protocol.md §11). Anything else is not protocol v1. */
		if (e.code == JOBD_E_UNKNOWN_TYPE)
			return JOBD_CLIENT_OK;
		snprintf(why, sizeof(why), "invalid message from server: %s",
		         e.text);
		conn_lost(c, JOBD_CLIENT_E_PROTOCOL, why);
		return JOBD_CLIENT_E_PROTOCOL;
	}
	switch (m.type) {
	case MSG_HELLO:
		free(c->server_name);
		c->server_name = m.name ? strdup(m.name) : NULL;
		v = json_object_get(m.root, "max_frame_size");
		if (json_is_integer(v) && json_integer_value(v) > 0 &&
		    json_integer_value(v) <= FRAME_MAX_LIMIT)
			c->max_frame_size = (uint32_t)json_integer_value(v);
		/* Who the server took us for (docs/protocol.md §12). */
		v = json_object_get(m.root, "user");
		free(c->user);
		c->user =
		        json_is_string(v) ? strdup(json_string_value(v)) : NULL;
		c->hello_seen = true;
		break;
	case MSG_PROGRESS:
		if (m.has_id)
			conn_on_progress(c, &m);
		break;
	case MSG_ERROR:
		if (!m.has_id) {
			/* About the connection; the server closes next, or,
			 * for a refused token, may let us try again: either
			 * way the handshake has failed. */
			snprintf(c->close_reason, sizeof(c->close_reason),
			         "%s: %s", m.code_name, m.message);
			if (!c->hello_seen && m.code == JOBD_E_UNAUTHORIZED)
				c->auth_refused = true;
			break;
		}
		conn_on_final(c, (uint64_t)m.id, true, json_incref(m.root));
		break;
	default:
		if (m.has_id)
			conn_on_final(c, (uint64_t)m.id, false,
			              json_incref(m.root));
		break;
	}
	msg_fini(&m);
	return JOBD_CLIENT_OK;
}

static int conn_feed(struct jobd_client *c, const char *data, size_t len)
{
	char why[200], *body;
	size_t used, blen;
	int r;

	for (;;) {
		r = frame_decoder_feed(&c->dec, data, len, &used);
		data += used;
		len -= used;
		if (r == FRAME_MORE)
			return JOBD_CLIENT_OK;
		if (r == FRAME_READY) {
			body = frame_decoder_take(&c->dec, &blen);
			r = conn_on_frame(c, body, blen);
			free(body);
			if (r != JOBD_CLIENT_OK)
				return r;
			continue;
		}
		if (r == FRAME_EMPTY) {
			conn_lost(c, JOBD_CLIENT_E_PROTOCOL,
			          "server sent a frame of length 0");
			return JOBD_CLIENT_E_PROTOCOL;
		}
		if (r == FRAME_TOO_LARGE) {
			/* A TLS record (alert 0x15, handshake 0x16, version
			 * 3.x) where a frame length should be. */
			if (!c->hello_seen &&
			    (c->dec.header[0] == 0x15 ||
			     c->dec.header[0] == 0x16) &&
			    c->dec.header[1] == 0x03)
				snprintf(why, sizeof(why),
				         "the server answered with TLS: write "
				         "the entry as tls://%s",
				         conn_display(c));
			else
				snprintf(why, sizeof(why),
				         "server announced a frame of %u bytes",
				         (unsigned)frame_decoder_announced(
				                 &c->dec));
			conn_lost(c, JOBD_CLIENT_E_PROTOCOL, why);
			return JOBD_CLIENT_E_PROTOCOL;
		}
		conn_lost(c, JOBD_CLIENT_E_SYSTEM,
		          "out of memory for an incoming frame");
		return JOBD_CLIENT_E_SYSTEM;
	}
}

/* Reads everything the socket has now. Returns OK or a lost status. */
static int conn_read(struct jobd_client *c)
{
	char buf[65536], why[400], tls_why[300] = "";
	ssize_t n;
	int r;

	for (;;) {
		n = tls_recv(c, buf, sizeof(buf), tls_why, sizeof(tls_why));
		if (n > 0) {
			r = conn_feed(c, buf, (size_t)n);
			if (r != JOBD_CLIENT_OK)
				return r;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return JOBD_CLIENT_OK;
		if (n < 0 && tls_why[0])
			snprintf(why, sizeof(why), "%s", tls_why);
		else if (n < 0)
			snprintf(why, sizeof(why), "%s", strerror(errno));
		else if (frame_decoder_mid_frame(&c->dec))
			snprintf(why, sizeof(why),
			         "connection closed in the middle of a frame "
			         "(%u of %u bytes received)",
			         (unsigned)c->dec.body_have,
			         (unsigned)c->dec.body_size);
		else if (c->close_reason[0])
			snprintf(why, sizeof(why),
			         "server closed the connection (%s)",
			         c->close_reason);
		else if (!c->hello_seen && !c->ssl)
			/* A TLS server closes on a plain hello without a
			 * word: say what it most likely is. */
			snprintf(
			        why, sizeof(why),
			        "server closed the connection before answering "
			        "hello (if it is a TLS port, write the entry "
			        "as "
			        "tls://%s)",
			        conn_display(c));
		else
			snprintf(why, sizeof(why),
			         "server closed the connection");
		conn_lost(c, JOBD_CLIENT_E_CONNECTION_LOST, why);
		return JOBD_CLIENT_E_CONNECTION_LOST;
	}
}

int conn_pump(struct jobd_client *c, int64_t deadline)
{
	struct pollfd pfd;
	int n;

	if (c->fd < 0)
		return client_fail(c, JOBD_CLIENT_E_CONNECTION_LOST,
		                   "not connected");
	for (;;) {
		pfd.fd = c->fd;
		pfd.events = POLLIN | (c->ssl_want_write ? POLLOUT : 0);
		pfd.revents = 0;
		n = poll(&pfd, 1, conn_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return client_fail(c, JOBD_CLIENT_E_SYSTEM, "poll: %s",
			                   strerror(errno));
		if (n > 0)
			return conn_read(c);
		/* poll() rounds; only give up once the deadline has passed. */
		if (deadline >= 0 && conn_now_ms() >= deadline)
			return JOBD_CLIENT_E_TIMEOUT;
	}
}

/* conn_send; with secret, the encoded frame is wiped before it is freed. */
static int conn_send_frame(struct jobd_client *c, const json_t *msg,
                           int64_t deadline, bool secret)
{
	char *buf = NULL, why[400], tls_why[300] = "";
	size_t len, off = 0;
	struct pollfd pfd;
	ssize_t n;
	int r, p;

	r = frame_encode(msg, &buf, &len);
	if (r == -EMSGSIZE)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "request too large for a frame");
	if (r < 0)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM,
		                   "out of memory encoding a request");
	if (c->max_frame_size && len - FRAME_HEADER_SIZE > c->max_frame_size) {
		r = client_fail(c, JOBD_CLIENT_E_INVALID,
		                "request is %zu bytes, over the server's "
		                "max_frame_size of %u",
		                len - FRAME_HEADER_SIZE,
		                (unsigned)c->max_frame_size);
		goto out;
	}
	while (off < len) {
		n = tls_send(c, buf + off, len - off, tls_why, sizeof(tls_why));
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(why, sizeof(why), "sending: %s",
			         tls_why[0] ? tls_why : strerror(errno));
			conn_lost(c, JOBD_CLIENT_E_CONNECTION_LOST, why);
			r = JOBD_CLIENT_E_CONNECTION_LOST;
			goto out;
		}
		/* The socket is full: wait for room, and read meanwhile, since
		 * the server may be waiting for us to take answers first. */
		pfd.fd = c->fd;
		pfd.events = POLLIN | POLLOUT;
		pfd.revents = 0;
		p = poll(&pfd, 1, conn_left(deadline));
		if (p < 0 && errno != EINTR) {
			r = client_fail(c, JOBD_CLIENT_E_SYSTEM, "poll: %s",
			                strerror(errno));
			goto out;
		}
		if (p == 0 && deadline >= 0 && conn_now_ms() >= deadline) {
			if (off == 0) {
				r = client_fail(
				        c, JOBD_CLIENT_E_TIMEOUT,
				        "%s: timed out sending a request",
				        conn_display(c));
				goto out;
			}
			/* Half a frame is out: the stream cannot be resumed
			 * by anyone else, so the connection goes. */
			conn_lost(c, JOBD_CLIENT_E_CONNECTION_LOST,
			          "timed out in the middle of sending a "
			          "request");
			r = JOBD_CLIENT_E_CONNECTION_LOST;
			goto out;
		}
		if (p > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			r = conn_read(c);
			if (r != JOBD_CLIENT_OK)
				goto out;
		}
	}
	r = JOBD_CLIENT_OK;
out:
	if (secret && buf)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

int conn_send(struct jobd_client *c, const json_t *msg, int64_t deadline)
{
	return conn_send_frame(c, msg, deadline, false);
}

/* Is fd connected to this machine (127.0.0.0/8, ::1, or v4-mapped)? */
static bool conn_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
		        24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a =
		        &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* The hello, with our token if we have one. Returns OK or a status with
 * why filled; the token is wiped from memory once sent. */
static int conn_hello(struct jobd_client *c, const struct server *s,
                      int64_t deadline, char *why, size_t why_size)
{
	char *token = NULL;
	json_t *hello;
	int r;

	if (client_token(c, &token, why, why_size) < 0)
		return JOBD_CLIENT_E_INVALID;
	/* A bearer token in clear text is anyone's who can see the network:
	 * only over TLS, or to this machine, unless the caller says so. */
	if (token && !s->tls && !c->plaintext_token &&
	    !conn_is_loopback(c->fd)) {
		snprintf(why, why_size,
		         "not sending the token unencrypted to %s: write the "
		         "entry as tls://%s:%s",
		         s->display, s->host, s->port);
		OPENSSL_cleanse(token, strlen(token));
		free(token);
		return JOBD_CLIENT_E_INVALID;
	}
	hello = msg_hello_token(c->name, token);
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	if (!hello) {
		snprintf(why, why_size, "out of memory");
		return JOBD_CLIENT_E_SYSTEM;
	}
	r = conn_send_frame(c, hello, deadline, true);
	if (json_object_get(hello, "token"))
		OPENSSL_cleanse(
		        (char *)json_string_value(
		                json_object_get(hello, "token")),
		        json_string_length(json_object_get(hello, "token")));
	json_decref(hello);
	return r;
}

/* Copies src into dst[size], cut if it does not fit. */
static void conn_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* One connect() to one address, waiting up to the deadline. Returns the
 * connected fd, or -1 with why filled. */
static int conn_connect_addr(const struct addrinfo *ai, int64_t deadline,
                             char *why, size_t why_size)
{
	struct pollfd pfd;
	socklen_t elen = sizeof(int);
	int fd, err = 0, n;

	fd = socket(ai->ai_family,
	            ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            ai->ai_protocol);
	if (fd < 0) {
		snprintf(why, why_size, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		err = errno;
		goto fail;
	}
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		n = poll(&pfd, 1, conn_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto fail;
		}
		if (n > 0)
			break;
		if (deadline >= 0 && conn_now_ms() >= deadline) {
			snprintf(why, why_size, "connect timed out");
			close(fd);
			return -1;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err == 0)
		return fd;
fail:
	snprintf(why, why_size, "%s", strerror(err));
	close(fd);
	return -1;
}

/*
 * Opens a connection to server i and does the handshake. Returns 0, -1
 * with why filled (the caller notes it), or -2 when the connection broke
 * during the handshake and conn_lost() has noted it already.
 */
static int conn_open(struct jobd_client *c, size_t i, int64_t deadline,
                     char *why, size_t why_size)
{
	const struct server *s = &c->servers.v[i];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	int fd = -1, r, one = 1;

	r = getaddrinfo(s->host, s->port, &hints, &res);
	if (r != 0) {
		snprintf(why, why_size, "%s",
		         r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = conn_connect_addr(ai, deadline, why, why_size);
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	c->fd = fd;
	c->cur = i;
	frame_decoder_init(&c->dec, FRAME_MAX_LIMIT);
	if (s->tls && tls_connect(c, s, deadline, why, why_size) < 0) {
		conn_close(c);
		return -1;
	}
	/* The hello costs one round trip per connection and buys a check
	 * that this is a jobd speaking v1, its frame limit, who the server
	 * takes us for, and an early failover when the server refuses us
	 * (too_many_connections, unauthorized). */
	why[0] = '\0';
	r = conn_hello(c, s, deadline, why, why_size);
	while (r == JOBD_CLIENT_OK && !c->hello_seen && !c->close_reason[0])
		r = conn_pump(c, deadline);
	if (r == JOBD_CLIENT_OK && c->hello_seen)
		return 0;
	if (c->fd < 0)
		return -2;
	if (r == JOBD_CLIENT_OK)
		snprintf(why, why_size, "refused: %s", c->close_reason);
	else if (r == JOBD_CLIENT_E_TIMEOUT)
		snprintf(why, why_size, "no answer to hello");
	else if (!why[0])
		conn_copy(why, why_size, c->errmsg);
	conn_close(c);
	return -1;
}

int conn_ensure(struct jobd_client *c, int64_t deadline)
{
	char why[700];
	size_t k, i, n = c->servers.n;
	int64_t now, sub;

	c->auth_refused = false;
	if (c->fd >= 0) {
		/* A server closes idle connections (idle_timeout, drain): find
		 * that out now, before a request is sent into the void and
		 * counted as a failure of this server. */
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

		if (poll(&pfd, 1, 0) > 0)
			conn_read(c);
		if (c->fd >= 0)
			return JOBD_CLIENT_OK;
		c->trail[0] = '\0';
	}
	for (k = 0; k < n; k++) {
		i = (c->cur + k) % n;
		now = conn_now_ms();
		if (deadline >= 0 && now >= deadline)
			break;
		sub = now + c->io_timeout_ms;
		if (deadline >= 0 && deadline < sub)
			sub = deadline;
		switch (conn_open(c, i, sub, why, sizeof(why))) {
		case 0:
			return JOBD_CLIENT_OK;
		case -1:
			client_trail_add(c, c->servers.v[i].display, why);
			break;
		default:
			break;
		}
	}
	if (c->auth_refused) {
		/* Told apart from "unreachable": retrying will not help, a
		 * right token will. */
		client_fail(c, JOBD_CLIENT_E_AUTH, "not authorized: %s",
		            c->trail);
		c->code = JOBD_E_UNAUTHORIZED;
		snprintf(c->code_name, sizeof(c->code_name), "unauthorized");
		return JOBD_CLIENT_E_AUTH;
	}
	if (deadline >= 0 && conn_now_ms() >= deadline)
		return client_fail(c, JOBD_CLIENT_E_TIMEOUT,
		                   "timed out connecting: %s",
		                   c->trail[0] ? c->trail : "no server tried");
	return client_fail(c, JOBD_CLIENT_E_CONNECT,
	                   "cannot reach a server: %s", c->trail);
}
