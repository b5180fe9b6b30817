/* SPDX-License-Identifier: MIT */
#include "daemon/net/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon/config/config.h"
#include "daemon/net/http_metrics.h"
#include "daemon/net/http_route.h"
#include "daemon/net/net.h"
#include "daemon/util/log.h"
#include "jobd-build.h"
#include "wire/message.h"

/* A quiet event stream gets a comment this often, so that proxies and
 * browsers keep it open (docs/http.md). */
#define SSE_KEEPALIVE_SEC 15
/* (route, status) pairs counted for jobd_http_requests_total: routes
 * times the statuses jobd answers with, well under this. */
#define MAX_COUNTS 128
/* How long a request may be answered before jobd watches its socket for a
 * hang-up (req_watch). */
#define WATCH_AFTER_MS 50

struct http_req;

struct http_server {
	struct net *net;
	struct evhttp *evh;
	const struct config *cfg; /* in force; http_apply_config swaps it */
	char addrs[256];
	struct http_req *reqs; /* live requests that are sessions */
	uint64_t accepted, refused;
	uint32_t open; /* requests that are sessions now */
	double start_time_s;
	const struct timeval *watch_tv; /* a common timeout: WATCH_AFTER_MS */
	struct http_count counts[MAX_COUNTS];
	size_t n_counts;
};

struct http_req {
	struct session s; /* first: what the protocol layer sees */
	struct http_server *srv;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct http_route route;
	struct http_req *prev, *next;
	struct event *step_ev;  /* sends `pending`, or frees a finished one */
	struct event *ping_ev;  /* event stream keep-alive */
	struct event *watch_ev; /* arms peek_ev once the answer takes a while */
	struct event *peek_ev;  /* watches for the client hanging up */
	json_t *pending;        /* the next message for dispatch, owned */
	size_t pending_size;    /* its request bytes (max_queued_input) */
	int step;               /* events: 0 status, 1 attach */
	int64_t seq;            /* events: the next event's id */
	bool conn_dead;         /* the client went away: nobody to answer */
	bool streaming;         /* the event stream's headers went out */
	bool finished;          /* answered: freed on the next step */
};

static struct http_server *srv_of(const struct net *n)
{
	return n->http;
}

static struct http_req *req_of(struct session *s)
{
	return (struct http_req *)(void *)s; /* s is the first member */
}

/* --- counting ------------------------------------------------------------ */

static void count_request(struct http_server *srv, const char *route,
                          int status)
{
	size_t i;

	for (i = 0; i < srv->n_counts; i++) {
		if (srv->counts[i].status == status &&
		    strcmp(srv->counts[i].route, route) == 0) {
			srv->counts[i].n++;
			return;
		}
	}
	if (srv->n_counts < MAX_COUNTS)
		srv->counts[srv->n_counts++] =
		        (struct http_count){route, status, 1};
}

/* --- answers ------------------------------------------------------------- */

static void add_header(struct evhttp_request *req, const char *k, const char *v)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), k, v);
}

/* Sends status with body (stolen) as JSON and counts it. */
static void send_json(struct http_server *srv, struct evhttp_request *req,
                      const char *route, int status, json_t *body)
{
	struct evbuffer *buf = evbuffer_new();
	char *text =
	        body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(body);
	if (buf && text) {
		evbuffer_add(buf, text, strlen(text));
		evbuffer_add(buf, "\n", 1);
	} else {
		status = 500;
	}
	free(text);
	add_header(req, "Content-Type", "application/json");
	add_header(req, "Cache-Control", "no-cache");
	count_request(srv, route, status);
	evhttp_send_reply(req, status, http_reason(status), buf);
	if (buf)
		evbuffer_free(buf);
}

/* An error as JSON: {code, message, ...}, with the headers its code asks
 * for. extra: more members (retry_after_ms, job, state...), borrowed. */
static void send_error(struct http_server *srv, struct evhttp_request *req,
                       const char *route, int status, enum jobd_error code,
                       const char *message, const json_t *extra)
{
	json_t *body = json_pack("{ss ss}", "code", msg_error_name(code),
	                         "message", message ? message : "");
	json_t *ra = json_object_get(extra, "retry_after_ms");

	if (body && extra)
		json_object_update_missing(body, (json_t *)extra);
	if (body) {
		json_object_del(body, "type");
		json_object_del(body, "id");
	}
	if (json_is_integer(ra) && json_integer_value(ra) > 0) {
		char secs[32];

		snprintf(secs, sizeof(secs), "%lld",
		         (long long)((json_integer_value(ra) + 999) / 1000));
		add_header(req, "Retry-After", secs);
	}
	if (code == JOBD_E_UNAUTHORIZED)
		add_header(req, "WWW-Authenticate", "Bearer realm=\"jobd\"");
	send_json(srv, req, route, status, body);
}

static void send_fail(struct http_server *srv, struct evhttp_request *req,
                      const char *route, const struct http_fail *f)
{
	if (f->allow)
		add_header(req, "Allow",
		           strcmp(f->allow, "GET") == 0 ? "GET, HEAD"
		                                        : f->allow);
	send_error(srv, req, route, f->status, f->code, f->text, NULL);
}

/* --- the web page and the OpenAPI document ------------------------------- */

static const char *web_dir(const struct http_server *srv)
{
	return srv->cfg->http.web_dir ? srv->cfg->http.web_dir : JOBD_WEBDIR;
}

static void send_file(struct http_server *srv, struct evhttp_request *req,
                      const char *route, const char *path, const char *type)
{
	struct evbuffer *buf;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_warning("http: cannot serve %s: %s", path,
		            fd < 0 ? strerror(errno) : "not a file");
		if (fd >= 0)
			close(fd);
		send_error(srv, req, route, 404, JOBD_E_NOT_FOUND,
		           "this file is not installed", NULL);
		return;
	}
	buf = evbuffer_new();
	if (!buf || evbuffer_add_file(buf, fd, 0, st.st_size) < 0) {
		if (buf)
			evbuffer_free(buf);
		else
			close(fd);
		send_error(srv, req, route, 500, JOBD_E_INTERNAL,
		           "out of memory", NULL);
		return;
	}
	add_header(req, "Content-Type", type);
	add_header(req, "Cache-Control", "no-cache");
	add_header(req, "X-Content-Type-Options", "nosniff");
	add_header(req, "Content-Security-Policy",
	           "default-src 'self'; img-src 'self' data:; "
	           "frame-ancestors 'none'");
	count_request(srv, route, 200);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

static void send_static(struct http_server *srv, struct evhttp_request *req,
                        const struct http_route *r)
{
	const char *dot = strrchr(r->file, '.');
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", web_dir(srv), r->file);
	send_file(srv, req, r->pattern, path,
	          strcmp(dot, ".html") == 0 ? "text/html; charset=utf-8"
	          : strcmp(dot, ".css") == 0
	                  ? "text/css; charset=utf-8"
	                  : "text/javascript; charset=utf-8");
}

/* The installed document; with a web_dir of a source tree, the one beside
 * it in docs/. */
static void send_openapi(struct http_server *srv, struct evhttp_request *req,
                         const struct http_route *r)
{
	char path[4096];

	if (srv->cfg->http.web_dir)
		snprintf(path, sizeof(path), "%s/../docs/openapi.json",
		         srv->cfg->http.web_dir);
	else
		snprintf(path, sizeof(path), "%s", JOBD_OPENAPI);
	send_file(srv, req, r->pattern, path, "application/json");
}

/* --- the request as a session -------------------------------------------- */

static void req_free(struct http_req *h);

static void schedule_step(struct http_req *h)
{
	event_active(h->step_ev, EV_TIMEOUT, 0);
}

/* The answer is out (or nobody waits for it): the session ends on the next
 * turn of the loop, never under the caller. */
static void req_finish(struct http_req *h)
{
	if (h->finished)
		return;
	h->finished = true;
	h->s.closing = true;
	if (h->evcon && !h->conn_dead)
		evhttp_connection_set_closecb(h->evcon, NULL, NULL);
	if (h->ping_ev)
		evtimer_del(h->ping_ev);
	if (h->peek_ev)
		event_del(h->peek_ev);
	if (h->watch_ev)
		evtimer_del(h->watch_ev);
	schedule_step(h);
}

static void req_send_json(struct http_req *h, int status, json_t *body)
{
	if (h->conn_dead || h->finished) {
		json_decref(body);
		return;
	}
	if (h->evcon)
		evhttp_connection_set_closecb(h->evcon, NULL, NULL);
	send_json(h->srv, h->req, h->route.pattern, status, body);
	h->req = NULL; /* evhttp frees it once written */
	req_finish(h);
}

static void req_send_error(struct http_req *h, enum jobd_error code,
                           const char *message, const json_t *extra)
{
	if (h->conn_dead || h->finished)
		return;
	if (h->evcon)
		evhttp_connection_set_closecb(h->evcon, NULL, NULL);
	send_error(h->srv, h->req, h->route.pattern, http_status_of(code), code,
	           message, extra);
	h->req = NULL;
	req_finish(h);
}

/* A copy of an answer without the protocol's own members. */
static json_t *body_of(json_t *msg)
{
	json_t *b = json_copy(msg);

	if (b) {
		json_object_del(b, "type");
		json_object_del(b, "id");
	}
	return b;
}

/* --- the event stream ---------------------------------------------------- */

static void sse_write(struct http_req *h, const char *text, size_t len)
{
	struct evbuffer *buf;

	if (h->conn_dead || h->finished || !h->streaming)
		return;
	buf = evbuffer_new();
	if (!buf)
		return;
	evbuffer_add(buf, text, len);
	evhttp_send_reply_chunk(h->req, buf);
	evbuffer_free(buf);
}

/* One event: "id: N" (when with_id), "event: NAME", one line of data. */
static void sse_event(struct http_req *h, const char *name, json_t *data,
                      bool with_id)
{
	char *text =
	        data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char *ev = NULL;
	int len;

	json_decref(data);
	if (!text)
		return;
	if (with_id)
		len = asprintf(&ev, "id: %lld\nevent: %s\ndata: %s\n\n",
		               (long long)h->seq++, name, text);
	else
		len = asprintf(&ev, "event: %s\ndata: %s\n\n", name, text);
	free(text);
	if (len > 0)
		sse_write(h, ev, (size_t)len);
	free(ev);
}

static void sse_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_req *h = arg;
	struct timeval tv = {SSE_KEEPALIVE_SEC, 0};

	sse_write(h, ": keep-alive\n\n", 14);
	evtimer_add(h->ping_ev, &tv);
}

static void sse_start(struct http_req *h, json_t *status)
{
	struct timeval tv = {SSE_KEEPALIVE_SEC, 0};

	add_header(h->req, "Content-Type", "text/event-stream");
	add_header(h->req, "Cache-Control", "no-cache");
	count_request(h->srv, h->route.pattern, 200);
	evhttp_send_reply_start(h->req, 200, "OK");
	h->streaming = true;
	sse_write(h, "retry: 2000\n\n", 13);
	sse_event(h, "status", body_of(status), false);
	h->ping_ev = evtimer_new(h->srv->net->base, sse_ping_cb, h);
	if (h->ping_ev)
		evtimer_add(h->ping_ev, &tv);
}

static void sse_end(struct http_req *h)
{
	if (h->evcon && !h->conn_dead)
		evhttp_connection_set_closecb(h->evcon, NULL, NULL);
	if (!h->conn_dead && h->req)
		evhttp_send_reply_end(h->req);
	h->req = NULL;
	req_finish(h);
}

/* --- answers from dispatch ----------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "name")),
	              json_string_value(json_object_get(y, "name")));
}

/* {"plugins": [...]} sorted by name, as the OpenAPI document says. */
static json_t *plugin_list(json_t *stats)
{
	json_t *plugins = json_object_get(stats, "plugins");
	size_t n = json_object_size(plugins), i = 0;
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	json_t *list = json_array(), *p, *o;
	const char *name;

	if (!v || !list) {
		free(v);
		json_decref(list);
		return NULL;
	}
	json_object_foreach(plugins, name, p)
	{
		o = json_deep_copy(p);
		if (!o)
			continue;
		/* What /metrics shows, not the page. */
		json_object_del(o, "outcomes");
		json_object_del(o, "duration_seconds");
		json_object_del(o, "queue_seconds");
		json_object_set_new(o, "name", json_string(name));
		/* Quarantine, when worker processes land, sets this. */
		json_object_set_new(o, "state", json_string("ready"));
		v[i++] = o;
	}
	qsort(v, i, sizeof(*v), by_name);
	for (n = 0; n < i; n++)
		json_array_append_new(list, v[n]);
	free(v);
	return json_pack("{so}", "plugins", list);
}

static void answer_stats(struct http_req *h, json_t *msg)
{
	struct http_server *srv = h->srv;
	struct net *n = srv->net;
	struct http_metrics_in in;
	struct evbuffer *buf;
	size_t len;
	char *text;

	if (h->route.kind == HTTP_R_PLUGINS) {
		req_send_json(h, 200, plugin_list(msg));
		return;
	}
	memset(&in, 0, sizeof(in));
	in.version = JOBD_VERSION;
	in.start_time_s = srv->start_time_s;
	in.ready = !n->refusing;
	in.tcp_open = net_count(n) - srv->open;
	in.tcp_accepted = n->conns_total;
	in.tcp_refused = n->conns_refused;
	in.http_open = srv->open;
	in.http_accepted = srv->accepted;
	in.http_refused = srv->refused;
	count_request(srv, h->route.pattern, 200); /* this one */
	in.requests = srv->counts;
	in.n_requests = srv->n_counts;
	text = http_metrics_render(msg, &in, &len);
	buf = evbuffer_new();
	if (!text || !buf) {
		free(text);
		if (buf)
			evbuffer_free(buf);
		req_send_error(h, JOBD_E_INTERNAL, "out of memory", NULL);
		return;
	}
	evbuffer_add(buf, text, len);
	free(text);
	evhttp_connection_set_closecb(h->evcon, NULL, NULL);
	add_header(h->req, "Content-Type", "text/plain; version=0.0.4");
	add_header(h->req, "Cache-Control", "no-cache");
	evhttp_send_reply(h->req, 200, "OK", buf);
	evbuffer_free(buf);
	h->req = NULL;
	req_finish(h);
}

static void answer_events(struct http_req *h, const char *type, json_t *msg)
{
	if (strcmp(type, "progress") == 0) {
		json_t *d = body_of(msg);

		sse_event(h, "progress", d, true);
		return;
	}
	if (!h->streaming) {
		if (strcmp(type, "status") != 0) {
			req_send_error(h,
			               msg_error_from_name(json_string_value(
			                       json_object_get(msg, "code"))),
			               json_string_value(
			                       json_object_get(msg, "message")),
			               msg);
			return;
		}
		sse_start(h, msg);
		h->step = 1;
		h->pending = http_route_message(&h->route, 1, 2, NULL);
		h->pending_size = 0;
		schedule_step(h);
		return;
	}
	if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
		sse_event(h, type, body_of(msg), true);
		sse_end(h);
	}
	/* A status (cancel's) or anything else: not part of the stream. */
}

/* One answer frame from dispatch, as the binary client would get it. */
static void http_send_frame(struct session *s, char *frame, size_t len)
{
	struct http_req *h = req_of(s);
	const char *type;
	json_error_t jerr;
	json_t *msg;

	if (!frame)
		return;
	msg = len > 4 ? json_loadb(frame + 4, len - 4, JSON_ALLOW_NUL, &jerr)
	              : NULL;
	free(frame);
	if (!msg || h->finished || h->conn_dead) {
		json_decref(msg);
		return;
	}
	type = json_string_value(json_object_get(msg, "type"));
	if (!type || strcmp(type, "hello") == 0 || strcmp(type, "pong") == 0) {
		json_decref(msg);
		return;
	}
	if (h->route.kind == HTTP_R_EVENTS) {
		answer_events(h, type, msg);
	} else if (strcmp(type, "progress") == 0) {
		/* A plain call's progress has no place in one response. */
	} else if (strcmp(type, "error") == 0) {
		req_send_error(
		        h,
		        msg_error_from_name(json_string_value(
		                json_object_get(msg, "code"))),
		        json_string_value(json_object_get(msg, "message")),
		        msg);
	} else if (strcmp(type, "accepted") == 0) {
		const char *job =
		        json_string_value(json_object_get(msg, "job"));
		char loc[96];

		snprintf(loc, sizeof(loc), "/v1/jobs/%s", job ? job : "");
		if (h->req)
			add_header(h->req, "Location", loc);
		req_send_json(h, 202, json_pack("{ss}", "job", job ? job : ""));
	} else if (strcmp(type, "status") == 0 &&
	           h->route.kind == HTTP_R_RESULT) {
		if (h->req)
			add_header(h->req, "Retry-After", "1");
		req_send_json(h, 202, body_of(msg));
	} else if (strcmp(type, "stats") == 0) {
		answer_stats(h, msg);
	} else {
		/* result, status, jobs: the body is the answer. */
		req_send_json(h, 200, body_of(msg));
	}
	json_decref(msg);
}

static void http_session_close(struct session *s, enum jobd_error code,
                               const char *message)
{
	struct http_req *h = req_of(s);

	if (code != JOBD_OK)
		req_send_error(h, code, message, NULL);
	else if (h->streaming)
		sse_end(h);
	else
		req_finish(h);
}

/* An HTTP request reads nothing more once it is dispatched: nothing to
 * pause. */
static void http_load_changed(struct session *s)
{
}

static void http_destroy(struct session *s)
{
	req_free(req_of(s));
}

static const struct session_ops http_session_ops = {
        .send_frame = http_send_frame,
        .close = http_session_close,
        .load_changed = http_load_changed,
        .destroy = http_destroy,
};

/* Hands one message to dispatch, as conn.c does with a parsed frame. */
static void req_dispatch(struct http_req *h, json_t *root, size_t size)
{
	struct net *n = h->srv->net;
	struct msg_error err;
	struct msg m;

	if (!root) {
		req_send_error(h, JOBD_E_INTERNAL, "out of memory", NULL);
		return;
	}
	if (msg_validate(root, MSG_FROM_CLIENT, &m, &err) < 0) {
		json_decref(root);
		req_send_error(h, err.code, err.text, NULL);
		return;
	}
	json_decref(root); /* m holds its own reference */
	m.size = size;
	if (n->ops)
		n->ops->message(n->ops_arg, &h->s, &m);
	msg_fini(&m);
}

static void req_step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_req *h = arg;
	json_t *msg;

	if (h->finished) {
		req_free(h);
		return;
	}
	msg = h->pending;
	h->pending = NULL;
	if (msg)
		req_dispatch(h, msg, h->pending_size);
}

static void req_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct http_req *h = arg;
	struct net *n = h->srv->net;

	log_debug("%s: closed by peer", h->s.peer);
	h->conn_dead = true;
	if (n->ops) /* nobody will read its answers: cancel its calls */
		n->ops->gone(n->ops_arg, &h->s);
	req_finish(h);
}

/* NOTE: evhttp reads nothing while a request is being answered, so it
 * would notice a client that hung up only when the answer is written,
 * maybe an hour later, with the worker busy all along. A second read
 * event on the socket peeks: end of file means the client is gone, its
 * calls are cancelled and the request ends now. Bytes (a pipelined
 * request) stop the watch, and evhttp reads them in turn. */
static void req_peek_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_req *h = arg;
	struct net *n = h->srv->net;
	char c;
	ssize_t got = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR))) {
		event_del(h->peek_ev);
		return;
	}
	log_debug("%s: closed by peer", h->s.peer);
	if (n->ops)
		n->ops->gone(n->ops_arg, &h->s);
	if (h->streaming)
		sse_end(h);
	else
		req_send_error(h, JOBD_E_CANCELLED, "the client went away",
		               NULL);
}

static void req_watch_cb(evutil_socket_t unused, short what, void *arg)
{
	struct http_req *h = arg;
	struct bufferevent *bev =
	        h->evcon ? evhttp_connection_get_bufferevent(h->evcon) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

	if (fd < 0 || h->finished || h->conn_dead)
		return;
	h->peek_ev = event_new(h->srv->net->base, fd, EV_READ | EV_PERSIST,
	                       req_peek_cb, h);
	if (h->peek_ev)
		event_add(h->peek_ev, NULL);
}

/* Only an answer that takes a while needs the watch: arming it costs two
 * epoll_ctl calls, as much as the rest of a quick call's I/O. */
static void req_watch(struct http_req *h)
{
	h->watch_ev = evtimer_new(h->srv->net->base, req_watch_cb, h);
	if (h->watch_ev)
		evtimer_add(h->watch_ev, h->srv->watch_tv);
}

static void req_free(struct http_req *h)
{
	struct http_server *srv = h->srv;
	struct net *n = srv->net;

	if (n->ops)
		n->ops->gone(n->ops_arg, &h->s);
	if (h->req) {
		if (h->conn_dead) {
			/* evhttp let go of it when the connection failed. */
			evhttp_request_free(h->req);
		} else {
			if (h->evcon)
				evhttp_connection_set_closecb(h->evcon, NULL,
				                              NULL);
			if (h->streaming)
				evhttp_send_reply_end(h->req);
			else
				evhttp_send_error(h->req, 500, NULL);
		}
	}
	json_decref(h->pending);
	if (h->step_ev)
		event_free(h->step_ev);
	if (h->ping_ev)
		event_free(h->ping_ev);
	if (h->peek_ev)
		event_free(h->peek_ev);
	if (h->watch_ev)
		event_free(h->watch_ev);
	if (h->prev)
		h->prev->next = h->next;
	else
		srv->reqs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	session_table_remove(&n->sessions, &h->s);
	srv->open--;
	free(h);
	if (n->ops)
		n->ops->slot_freed(n->ops_arg);
}

/* --- requests ------------------------------------------------------------ */

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

/* Without users, a browser on this machine could be made to talk to us by
 * a web site whose name now points at 127.0.0.1 (DNS rebinding): only our
 * own names are accepted in Host. */
static bool host_ok(const struct http_server *srv, const char *host)
{
	char name[256];
	const char *end;
	size_t i, len;

	if (!host)
		return true; /* HTTP/1.0: no Host; nothing to rebind */
	end = host[0] == '[' ? strchr(host, ']') : strchr(host, ':');
	if (host[0] == '[' && end)
		end++;
	len = end ? (size_t)(end - host) : strlen(host);
	if (len >= sizeof(name))
		return false;
	memcpy(name, host, len);
	name[len] = '\0';
	if (strcasecmp(name, "localhost") == 0 ||
	    strcmp(name, "127.0.0.1") == 0 || strcmp(name, "[::1]") == 0)
		return true;
	for (i = 0; i < srv->cfg->http.n_listen; i++) {
		const char *l = srv->cfg->http.listen[i];
		const char *colon = strrchr(l, ':');

		if (colon && (size_t)(colon - l) == len &&
		    strncasecmp(l, name, len) == 0)
			return true;
	}
	return false;
}

/* "Bearer TOKEN" -> TOKEN; NULL when absent; "" when malformed. */
static const char *bearer(struct evhttp_request *req)
{
	const char *a = evhttp_find_header(
	        evhttp_request_get_input_headers(req), "Authorization");

	if (!a)
		return NULL;
	if (strncasecmp(a, "Bearer ", 7) != 0)
		return "";
	a += 7;
	while (*a == ' ')
		a++;
	return a;
}

/* The body as the call's input: JSON, at most max_frame_size (evhttp
 * refused a larger one already). NULL after answering. */
static json_t *read_input(struct http_server *srv, struct evhttp_request *req,
                          const struct http_route *r, size_t *size)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(
	        evhttp_request_get_input_headers(req), "Content-Type");
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	char text[300];
	json_t *v;

	if (ct && strncasecmp(ct, "application/json", 16) != 0) {
		send_error(srv, req, r->pattern, 415, JOBD_E_BAD_REQUEST,
		           "Content-Type must be application/json", NULL);
		return NULL;
	}
	if (len == 0) {
		send_error(srv, req, r->pattern, 400, JOBD_E_BAD_JSON,
		           "the body is empty: it must be the input as JSON",
		           NULL);
		return NULL;
	}
	v = json_loadb((const char *)evbuffer_pullup(in, -1), len,
	               JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!v) {
		snprintf(text, sizeof(text),
		         "the body is not JSON: %s at line %d, column %d",
		         jerr.text, jerr.line, jerr.column);
		send_error(srv, req, r->pattern, 400, JOBD_E_BAD_JSON, text,
		           NULL);
		return NULL;
	}
	*size = len;
	return v;
}

static void describe_peer(struct http_req *h, struct evhttp_connection *evcon)
{
	const char *addr = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	snprintf(h->s.peer, sizeof(h->s.peer), "http:%s:%u", addr ? addr : "?",
	         port);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *srv = arg;
	struct net *n = srv->net;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *token, *last;
	struct http_route r;
	struct http_fail f;
	struct http_req *h;
	json_t *input = NULL, *hello;
	size_t size = 0;

	if (!path || !*path)
		path = "/";
	if (http_route_parse(method_name(evhttp_request_get_command(req)), path,
	                     evhttp_uri_get_query(uri), &r, &f) < 0) {
		send_fail(srv, req, r.pattern, &f);
		return;
	}
	if (!host_ok(srv,
	             evhttp_find_header(evhttp_request_get_input_headers(req),
	                                "Host"))) {
		send_error(srv, req, r.pattern, 403, JOBD_E_FORBIDDEN,
		           "Host is not one of this server's names", NULL);
		return;
	}
	switch (r.kind) {
	case HTTP_R_STATIC:
		send_static(srv, req, &r);
		return;
	case HTTP_R_OPENAPI:
		send_openapi(srv, req, &r);
		return;
	case HTTP_R_LIVE:
		send_json(srv, req, r.pattern, 200,
		          json_pack("{ss ss}", "status", "live", "version",
		                    JOBD_VERSION));
		return;
	case HTTP_R_READY:
		/* Quarantine, when it lands, is one more reason here. */
		send_json(srv, req, r.pattern, n->refusing ? 503 : 200,
		          json_pack("{ss ss}", "status",
		                    n->refusing ? "draining" : "ready",
		                    "version", JOBD_VERSION));
		return;
	default:
		break;
	}
	token = bearer(req);
	if (token && !*token) {
		send_error(srv, req, r.pattern, 401, JOBD_E_UNAUTHORIZED,
		           "Authorization: expected \"Bearer TOKEN\"", NULL);
		return;
	}
	if (token && strlen(token) > MSG_TOKEN_MAX_LEN) {
		send_error(srv, req, r.pattern, 401, JOBD_E_UNAUTHORIZED,
		           "the token is too long", NULL);
		return;
	}
	if (r.body && !(input = read_input(srv, req, &r, &size)))
		return;
	if (!n->sessions.n_free) {
		json_decref(input);
		srv->refused++;
		send_error(srv, req, r.pattern, 503,
		           JOBD_E_TOO_MANY_CONNECTIONS,
		           "max_connections reached; try again later", NULL);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (h)
		h->step_ev = event_new(n->base, -1, 0, req_step_cb, h);
	if (!h || !h->step_ev) {
		free(h);
		json_decref(input);
		send_error(srv, req, r.pattern, 500, JOBD_E_INTERNAL,
		           "out of memory", NULL);
		return;
	}
	h->s.ops = &http_session_ops;
	h->s.version = PROTOCOL_VERSION;
	h->srv = srv;
	h->req = req;
	h->route = r;
	h->evcon = evhttp_request_get_connection(req);
	session_table_add(&n->sessions, &h->s); /* n_free checked above */
	srv->open++;
	h->next = srv->reqs;
	if (srv->reqs)
		srv->reqs->prev = h;
	srv->reqs = h;
	describe_peer(h, h->evcon);
	if (h->evcon)
		evhttp_connection_set_closecb(h->evcon, req_closed_cb, h);
	req_watch(h);
	if (r.kind == HTTP_R_EVENTS) {
		last = evhttp_find_header(evhttp_request_get_input_headers(req),
		                          "Last-Event-ID");
		/* Ids go on from the last one the client saw. */
		h->seq = last ? strtoll(last, NULL, 10) + 1 : 1;
		if (h->seq < 1)
			h->seq = 1;
	}
	h->pending = http_route_message(&r, 0, 1, input);
	h->pending_size = size;
	if (token) {
		/* The identity path of the binary protocol: its hello with
		 * the token, answered before the request itself. */
		hello = msg_hello_token("jobd-http", token);
		if (hello)
			json_object_set_new(hello, "version",
			                    json_integer(PROTOCOL_VERSION));
		req_dispatch(h, hello, 0);
		if (h->finished)
			return;
	}
	req_step_cb(-1, 0, h);
}

/* Counts accepted connections; evhttp makes the bufferevent itself
 * otherwise. */
static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
	struct http_server *srv = arg;

	srv->accepted++;
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static void apply_limits(struct http_server *srv, const struct config *cfg)
{
	struct timeval tv = {
	        (time_t)(cfg->http.header_timeout_ms / 1000),
	        (suseconds_t)(cfg->http.header_timeout_ms % 1000) * 1000,
	};

	srv->cfg = cfg;
	evhttp_set_max_headers_size(srv->evh, cfg->http.max_header_size);
	evhttp_set_max_body_size(srv->evh, cfg->limits.max_frame_size);
	/* NOTE: libevent 2.1's evhttp times reads and writes for
	 * inactivity, re-armed on each read: header_timeout bounds a silent
	 * client, and max_header_size what a trickling one can hold. */
	evhttp_set_timeout_tv(srv->evh, &tv);
}

int http_open(struct net *n, const struct config *cfg)
{
	struct http_server *srv;
	struct timespec now;
	size_t i, used = 0;

	if (!cfg->http.n_listen)
		return 0;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->net = n;
	srv->evh = evhttp_new(n->base);
	if (!srv->evh) {
		free(srv);
		return -ENOMEM;
	}
	n->http = srv;
	{
		struct timeval tv = {0, WATCH_AFTER_MS * 1000};

		srv->watch_tv = event_base_init_common_timeout(n->base, &tv);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	srv->start_time_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	apply_limits(srv, cfg);
	evhttp_set_allowed_methods(
	        srv->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                          EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_bevcb(srv->evh, bev_cb, srv);
	evhttp_set_gencb(srv->evh, request_cb, srv);
	for (i = 0; i < cfg->http.n_listen; i++) {
		const char *a = cfg->http.listen[i];
		const char *colon = strrchr(a, ':');
		char host[256];
		struct evhttp_bound_socket *bs;
		size_t hl = colon ? (size_t)(colon - a) : 0;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char shown[128];

		if (!colon || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, a[0] == '[' ? a + 1 : a,
		       a[0] == '[' ? hl - 2 : hl);
		host[a[0] == '[' ? hl - 2 : hl] = '\0';
		bs = evhttp_bind_socket_with_handle(
		        srv->evh, host, (ev_uint16_t)atoi(colon + 1));
		if (!bs) {
			log_error("http: cannot listen on %s: %s", a,
			          strerror(errno));
			return -EADDRINUSE;
		}
		shown[0] = '\0';
		if (getsockname(evhttp_bound_socket_get_fd(bs),
		                (struct sockaddr *)&ss, &sl) == 0) {
			char h2[64];
			unsigned port = 0;

			if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (void *)&ss;

				inet_ntop(AF_INET6, &s6->sin6_addr, h2,
				          sizeof(h2));
				port = ntohs(s6->sin6_port);
				snprintf(shown, sizeof(shown), "[%s]:%u", h2,
				         port);
			} else {
				struct sockaddr_in *s4 = (void *)&ss;

				inet_ntop(AF_INET, &s4->sin_addr, h2,
				          sizeof(h2));
				port = ntohs(s4->sin_port);
				snprintf(shown, sizeof(shown), "%s:%u", h2,
				         port);
			}
		}
		used += (size_t)snprintf(
		        srv->addrs + used, sizeof(srv->addrs) - used,
		        "%shttp://%s", used ? "," : "", shown[0] ? shown : a);
		if (used >= sizeof(srv->addrs))
			used = sizeof(srv->addrs) - 1;
	}
	return 0;
}

void http_apply_config(struct net *n, const struct config *cfg)
{
	if (srv_of(n))
		apply_limits(srv_of(n), cfg);
}

void http_free(struct net *n)
{
	struct http_server *srv = srv_of(n);

	if (!srv)
		return;
	while (srv->reqs) {
		srv->reqs->finished = true;
		req_free(srv->reqs);
	}
	evhttp_free(srv->evh);
	free(srv);
	n->http = NULL;
}

const char *http_describe(const struct net *n)
{
	return srv_of(n) ? srv_of(n)->addrs : "";
}
