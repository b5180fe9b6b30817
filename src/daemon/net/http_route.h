/* SPDX-License-Identifier: MIT */
/*
 * The REST API's routes (docs/http.md) as pure code: a method, a path and
 * a query become a route, and a route becomes the protocol message that
 * dispatch answers, as if a binary client had sent it. Also the status of
 * each error code. No I/O, no libevent: the fuzzer links it alone.
 */
#ifndef JOBD_DAEMON_NET_HTTP_ROUTE_H
#define JOBD_DAEMON_NET_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/error.h>
#include <jobd/plugin.h>

#include "wire/message.h"

enum http_route_kind {
	HTTP_R_STATIC,  /* a file of the web page: file */
	HTTP_R_LIVE,    /* GET /v1/health/live */
	HTTP_R_READY,   /* GET /v1/health/ready */
	HTTP_R_OPENAPI, /* GET /v1/openapi.json */
	HTTP_R_PLUGINS, /* GET /v1/plugins: stats */
	HTTP_R_CALL,    /* POST /v1/plugins/{name}/call: call */
	HTTP_R_SUBMIT,  /* POST /v1/plugins/{name}/jobs: call, detach */
	HTTP_R_JOBS,    /* GET /v1/jobs: jobs */
	HTTP_R_JOB,     /* GET /v1/jobs/{id}: status */
	HTTP_R_RESULT,  /* GET /v1/jobs/{id}/result: result */
	HTTP_R_CANCEL,  /* POST /v1/jobs/{id}/cancel: cancel */
	HTTP_R_EVENTS,  /* GET /v1/jobs/{id}/events: status, then attach */
	HTTP_R_METRICS, /* GET /metrics: stats */
};

struct http_route {
	enum http_route_kind kind;
	const char *pattern; /* the OpenAPI path, a metrics label (static) */
	char name[MSG_NAME_MAX_LEN + 1];
	char job[MSG_JOB_ID_MAX_LEN + 1];
	const char *file;    /* HTTP_R_STATIC: "index.html", ... (static) */
	uint64_t timeout_ms; /* ?timeout=, 0: none */
	char state[16];      /* GET /v1/jobs ?state= */
	char plugin[MSG_NAME_MAX_LEN + 1]; /* ?plugin= */
	int64_t limit;                     /* ?limit=, 0: none */
	bool body;                         /* the request body is the input */
	bool public;                       /* no token needed */
};

/* Why a request has no route: an HTTP status, the protocol's code, a
 * message, and for 405 the methods allowed. */
struct http_fail {
	int status;
	enum jobd_error code;
	const char *allow; /* 405 only (static) */
	char text[200];
};

/* method ("GET", "POST", ...), path (as sent, without the query) and
 * query (NULL or what follows '?'). 0 and *r filled, or -1 and *f filled
 * (r->pattern still names the route when one matched). */
int http_route_parse(const char *method, const char *path, const char *query,
                     struct http_route *r, struct http_fail *f);

/* The message dispatch gets for r at step (HTTP_R_EVENTS: 0 status,
 * 1 attach), tagged with id. steal_input: the body of a call, taken even
 * on failure. NULL if out of memory or r sends nothing. */
json_t *http_route_message(const struct http_route *r, int step, int64_t id,
                           json_t *steal_input);

/* The HTTP status of a protocol error code (docs/http.md). */
int http_status_of(enum jobd_error code);

/* The reason phrase of the statuses jobd answers with. */
const char *http_reason(int status);

#endif
