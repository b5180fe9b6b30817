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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client/client_priv.h"
#include "wire/array.h"

/* The largest data block accepted from a server that does not announce
 * its max_array_bytes: the protocol's default limit. */
#define CONN_MAX_ARRAY_BYTES_DEFAULT ((uint64_t)1 << 30)

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
	c->version = 0;
	c->max_array_bytes = 0;
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

/* The arrays that came with a message: the frame's data block and the
 * arrays pointing into it (data NULL and n 0 for none). */
struct conn_arrays {
	void *data; /* owned until handed to an answer */
	struct jobd_array v[JOBD_ARRAYS_MAX];
	size_t n;
};

/* Builds the answer for a server message (msg stolen), handing it the
 * arrays; an allocation failure becomes a local error answer. */
static struct jobd_client_answer *conn_answer(enum jobd_client_answer_kind kind,
                                              uint64_t id, json_t *msg,
                                              struct conn_arrays *arr)
{
	struct jobd_client_answer *a = answer_from_msg(kind, id, msg);
	void *data = arr->data;

	arr->data = NULL;
	if (a && answer_take_arrays(a, data, arr->v, arr->n) == 0)
		return a;
	if (!a)
		free(data);
	jobd_client_answer_free(a);
	if (kind == JOBD_CLIENT_ANSWER_PROGRESS)
		return NULL;
	return answer_local_error(id, JOBD_CLIENT_E_SYSTEM, "out of memory");
}

/* A final answer (anything but progress) for id arrived: msg is stolen. */
static void conn_on_final(struct jobd_client *c, uint64_t id, bool is_error,
                          json_t *msg, struct conn_arrays *arr)
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
	a = conn_answer(is_error ? JOBD_CLIENT_ANSWER_ERROR
	                         : JOBD_CLIENT_ANSWER_RESULT,
	                id, msg, arr);
	if (a)
		answer_queue_push(&c->queue, a);
}

static void conn_on_progress(struct jobd_client *c, const struct msg *m,
                             struct conn_arrays *arr)
{
	struct idmap_slot *s = idmap_get(&c->inflight, (uint64_t)m->id);
	struct jobd_client_answer *a;

	if (!s || (s->flags & ID_ABANDONED))
		return;
	if (c->progress_fn) {
		/* The callback has no place for arrays: they are dropped,
		 * as the server may drop any progress report. */
		c->progress_fn(c->progress_ud, (uint64_t)m->id, m->fraction,
		               m->message);
		return;
	}
	if (!(s->flags & ID_CALL))
		return; /* a blocking call without a callback: not wanted */
	a = conn_answer(JOBD_CLIENT_ANSWER_PROGRESS, (uint64_t)m->id,
	                json_incref(m->root), arr);
	if (a)
		answer_queue_push(&c->queue, a);
}

/* The server's hello: what it is, its limits, and the version agreed. */
static void conn_on_hello(struct jobd_client *c, const struct msg *m)
{
	const json_t *v;

	free(c->server_name);
	c->server_name = m->name ? strdup(m->name) : NULL;
	v = json_object_get(m->root, "max_frame_size");
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= FRAME_MAX_LIMIT)
		c->max_frame_size = (uint32_t)json_integer_value(v);
	/* A server may not answer more than we asked; if it does, we still
	 * speak only what we know. */
	c->version = m->version < PROTOCOL_VERSION_ARRAYS
	                     ? (int)m->version
	                     : PROTOCOL_VERSION_ARRAYS;
	if (c->version >= PROTOCOL_VERSION_ARRAYS) {
		v = json_object_get(m->root, "max_array_bytes");
		c->max_array_bytes =
		        json_is_integer(v) && json_integer_value(v) > 0
		                ? (uint64_t)json_integer_value(v)
		                : CONN_MAX_ARRAY_BYTES_DEFAULT;
		/* From the next frame on the server may send arrays; the
		 * server's own limit bounds what it sends. */
		frame_decoder_allow_arrays(&c->dec, c->max_array_bytes, NULL);
	}
	/* Who the server took us for (docs/protocol.md §13). */
	v = json_object_get(m->root, "user");
	free(c->user);
	c->user = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
	c->hello_seen = true;
}

/* Parses the arrays of m against the frame's data block into arr. Returns
 * 0, or -1 with why filled. */
static int conn_arrays_of(const struct jobd_client *c, const struct msg *m,
                          struct conn_arrays *arr, uint64_t data_len, char *why,
                          size_t why_size)
{
	struct msg_error e;

	if (c->version < PROTOCOL_VERSION_ARRAYS)
		return 0; /* version 1: an "arrays" member is just unknown */
	if (!arr->data && !json_object_get(m->root, "arrays"))
		return 0;
	if (m->type != MSG_RESULT && m->type != MSG_PROGRESS) {
		snprintf(why, why_size, "server sent arrays with a %s message",
		         msg_type_name(m->type));
		return -1;
	}
	if (msg_arrays(m, arr->data, data_len, arr->v, &arr->n, &e) < 0) {
		snprintf(why, why_size, "invalid arrays from server: %s",
		         e.text);
		return -1;
	}
	return 0;
}

/* One whole frame: body, and data (its data block, stolen; NULL for
 * none). Returns OK or the status the connection was lost with. */
static int conn_on_frame(struct jobd_client *c, const char *body, size_t len,
                         void *data, uint64_t data_len)
{
	struct conn_arrays arr = {.data = data};
	struct msg m;
	struct msg_error e;
	char why[700];
	int r = JOBD_CLIENT_OK;

	if (msg_parse(body, len, MSG_FROM_SERVER, &m, &e) < 0) {
		/* A newer server may send types we do not know: ignore them
		 * (docs/protocol.md §11). Anything else is not the
		 * protocol. */
		if (e.code != JOBD_E_UNKNOWN_TYPE) {
			snprintf(why, sizeof(why),
			         "invalid message from server: %s", e.text);
			conn_lost(c, JOBD_CLIENT_E_PROTOCOL, why);
			r = JOBD_CLIENT_E_PROTOCOL;
		}
		free(arr.data);
		return r;
	}
	if (conn_arrays_of(c, &m, &arr, data_len, why, sizeof(why)) < 0) {
		conn_lost(c, JOBD_CLIENT_E_PROTOCOL, why);
		r = JOBD_CLIENT_E_PROTOCOL;
		goto out;
	}
	switch (m.type) {
	case MSG_HELLO:
		conn_on_hello(c, &m);
		break;
	case MSG_PROGRESS:
		if (m.has_id)
			conn_on_progress(c, &m, &arr);
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
		conn_on_final(c, (uint64_t)m.id, true, json_incref(m.root),
		              &arr);
		break;
	default:
		if (m.has_id)
			conn_on_final(c, (uint64_t)m.id, false,
			              json_incref(m.root), &arr);
		break;
	}
out:
	free(arr.data);
	msg_fini(&m);
	return r;
}

static int conn_feed(struct jobd_client *c, const char *data, size_t len)
{
	char why[200], *body;
	size_t used, blen;
	uint64_t dlen;
	void *block;
	int r;

	for (;;) {
		r = frame_decoder_feed(&c->dec, data, len, &used);
		data += used;
		len -= used;
		if (r == FRAME_MORE)
			return JOBD_CLIENT_OK;
		if (r == FRAME_SIZED)
			continue; /* an array frame within the server's limits
			           */
		if (r == FRAME_READY) {
			body = frame_decoder_take_data(&c->dec, &blen, &block,
			                               &dlen);
			r = conn_on_frame(c, body, blen, block, dlen);
			free(body);
			if (r != JOBD_CLIENT_OK)
				return r;
			continue;
		}
		if (r == FRAME_DATA_TOO_LARGE || r == FRAME_BAD_PREFIX) {
			snprintf(why, sizeof(why),
			         "server sent an array frame %s (%llu bytes of "
			         "data; its max_array_bytes is %llu)",
			         r == FRAME_BAD_PREFIX ? "with a broken prefix"
			                               : "over its limit",
			         (unsigned long long)
			                 frame_decoder_announced_data(&c->dec),
			         (unsigned long long)c->max_array_bytes);
			conn_lost(c, JOBD_CLIENT_E_PROTOCOL, why);
			return JOBD_CLIENT_E_PROTOCOL;
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
	size_t room;
	void *direct;
	ssize_t n;
	int r;

	for (;;) {
		/* Inside a large body or array data block, bytes are received
		 * straight into it: an array is copied once, by the kernel,
		 * and never again. */
		direct = frame_decoder_direct(&c->dec, &room);
		if (!direct || room < sizeof(buf) / 4)
			direct = buf;
		n = tls_recv(c, direct, direct == buf ? sizeof(buf) : room,
		             tls_why, sizeof(tls_why));
		if (n > 0 && direct != buf) {
			frame_decoder_wrote(&c->dec, (size_t)n);
			/* A feed of nothing takes a frame the bytes ended. */
			r = conn_feed(c, "", 0);
			if (r != JOBD_CLIENT_OK)
				return r;
			continue;
		}
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

/* Checks a request against the server's limits before anything is
 * written. Returns OK or a status with the errmsg set. */
static int conn_check_out(struct jobd_client *c, const struct frame_out *o,
                          size_t n)
{
	size_t json_len = o->head_len;
	uint64_t data_len = o->total - o->head_len;

	if (n) {
		/* head = prefix, JSON, zero padding; JSON ends with '}'. */
		while (json_len > FRAME_ARRAY_PREFIX_SIZE &&
		       o->head[json_len - 1] == '\0')
			json_len--;
		json_len -= FRAME_ARRAY_PREFIX_SIZE;
	} else {
		json_len -= FRAME_HEADER_SIZE;
	}
	if (c->max_frame_size && json_len > c->max_frame_size)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "request is %zu bytes, over the server's "
		                   "max_frame_size of %u",
		                   json_len, (unsigned)c->max_frame_size);
	if (n && data_len > c->max_array_bytes)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "arrays are %llu bytes, over the server's "
		                   "max_array_bytes of %llu",
		                   (unsigned long long)data_len,
		                   (unsigned long long)c->max_array_bytes);
	return JOBD_CLIENT_OK;
}

/* Steps the iovec list past n written bytes. */
static void conn_iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (n && *cnt) {
		if (n < (*iov)->iov_len) {
			(*iov)->iov_base = (char *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	/* Skip empty pieces so that cnt == 0 means done. */
	while (*cnt && (*iov)->iov_len == 0) {
		(*iov)++;
		(*cnt)--;
	}
}

/* conn_send_arrays; with secret, the encoded frame is wiped before it is
 * freed. */
static int conn_send_frame(struct jobd_client *c, const json_t *msg,
                           const struct jobd_array *arrays, size_t n,
                           int64_t deadline, bool secret)
{
	struct frame_out o = {0};
	struct iovec *iov;
	struct msghdr mh = {0};
	char why[400], tls_why[300] = "";
	struct pollfd pfd;
	uint64_t off = 0;
	ssize_t w;
	int r, p, cnt;

	if (n && c->version < PROTOCOL_VERSION_ARRAYS)
		return client_fail(c, JOBD_CLIENT_E_UNSUPPORTED,
		                   "%s speaks protocol version %d; arrays need "
		                   "version 2 (a newer jobd)",
		                   conn_display(c), c->version);
	if (n && array_check_list(arrays, n, &off, why, sizeof(why)) < 0)
		return client_fail(c, JOBD_CLIENT_E_INVALID, "%s", why);
	off = 0;
	r = frame_encode_arrays(msg, NULL, arrays, n, &o);
	if (r == -EMSGSIZE)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "request too large for a frame");
	if (r == -EINVAL)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "request cannot be encoded (a string that "
		                   "is not UTF-8?)");
	if (r < 0)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM,
		                   "out of memory encoding a request");
	r = conn_check_out(c, &o, n);
	if (r != JOBD_CLIENT_OK)
		goto out;
	/* Written from where the pieces lie: the arrays' bytes go from the
	 * caller's memory to the socket, never through a buffer of ours.
	 * TLS takes one piece at a time. */
	iov = o.iov;
	cnt = o.iovcnt;
	while (cnt > 0) {
		if (c->ssl) {
			w = tls_send(c, iov->iov_base, iov->iov_len, tls_why,
			             sizeof(tls_why));
		} else {
			mh.msg_iov = iov;
			mh.msg_iovlen = (size_t)cnt;
			w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (w > 0) {
			off += (uint64_t)w;
			conn_iov_advance(&iov, &cnt, (size_t)w);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
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
	if (secret && o.head)
		OPENSSL_cleanse(o.head, o.head_len);
	frame_out_fini(&o);
	return r;
}

int conn_send_arrays(struct jobd_client *c, const json_t *msg,
                     const struct jobd_array *arrays, size_t n,
                     int64_t deadline)
{
	return conn_send_frame(c, msg, arrays, n, deadline, false);
}

int conn_send(struct jobd_client *c, const json_t *msg, int64_t deadline)
{
	return conn_send_frame(c, msg, NULL, 0, deadline, false);
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
	/* Always ask for version 2 (arrays): an older server answers 1 and
	 * everything but arrays works as before. */
	hello = msg_hello_token(c->name, token);
	if (hello)
		json_object_set_new(hello, "version",
		                    json_integer(PROTOCOL_VERSION_ARRAYS));
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	if (!hello) {
		snprintf(why, why_size, "out of memory");
		return JOBD_CLIENT_E_SYSTEM;
	}
	r = conn_send_frame(c, hello, NULL, 0, deadline, true);
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
