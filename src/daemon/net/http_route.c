/* SPDX-License-Identifier: MIT */
#include "daemon/net/http_route.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config/config.h"

static int fail(struct http_fail *f, int status, enum jobd_error code,
                const char *fmt, ...) JOBD_PRINTF(4, 5);

static int fail(struct http_fail *f, int status, enum jobd_error code,
                const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	f->code = code;
	f->allow = NULL;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* A path segment of len bytes made only of chars from set, 1..max. */
static bool seg_ok(const char *s, size_t len, const char *set, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if (!s[i] || !strchr(set, s[i]))
			return false;
	return true;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"
#define HEX_CHARS  "0123456789abcdef"

/* Decodes %XX and '+' of a query piece into out (cap bytes with its NUL).
 * -1 on a bad escape, a NUL, or a value too long. */
static int query_decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;
	unsigned v;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			if (i + 2 >= len ||
			    !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]) ||
			    sscanf(s + i + 1, "%2x", &v) != 1 || !v)
				return -1;
			c = (char)v;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (n + 1 >= cap)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

static const char *const job_states[] = {
        "queued", "running", "done", "failed", "cancelled", "interrupted",
};

static int query_param(struct http_route *r, const char *key, const char *val,
                       struct http_fail *f)
{
	bool call = r->kind == HTTP_R_CALL || r->kind == HTTP_R_SUBMIT;
	bool list = r->kind == HTTP_R_JOBS;
	size_t i;

	if (call && strcmp(key, "timeout") == 0) {
		uint64_t ms;

		if (config_parse_duration(val, &ms) < 0 || ms == 0)
			return fail(f, 400, JOBD_E_BAD_REQUEST,
			            "query: timeout: \"%s\" is not a duration "
			            "above 0 (500ms, 30s, 5m, 2h, 1d)",
			            val);
		r->timeout_ms = ms;
	} else if (list && strcmp(key, "state") == 0) {
		for (i = 0; i < sizeof(job_states) / sizeof(*job_states); i++)
			if (strcmp(val, job_states[i]) == 0)
				break;
		if (i == sizeof(job_states) / sizeof(*job_states))
			return fail(f, 400, JOBD_E_BAD_REQUEST,
			            "query: state: \"%s\" is not a job state",
			            val);
		snprintf(r->state, sizeof(r->state), "%s", val);
	} else if (list && strcmp(key, "plugin") == 0) {
		if (!seg_ok(val, strlen(val), NAME_CHARS, MSG_NAME_MAX_LEN))
			return fail(f, 400, JOBD_E_BAD_REQUEST,
			            "query: plugin: not a plugin name");
		snprintf(r->plugin, sizeof(r->plugin), "%s", val);
	} else if (list && strcmp(key, "limit") == 0) {
		char *end;
		long long v = strtoll(val, &end, 10);

		if (!*val || *end || v < 1 || v > 1000000)
			return fail(
			        f, 400, JOBD_E_BAD_REQUEST,
			        "query: limit: \"%s\" is not a whole number "
			        "from 1 to 1000000",
			        val);
		r->limit = v;
	} else {
		return fail(f, 400, JOBD_E_BAD_REQUEST,
		            "query: unknown parameter \"%s\"", key);
	}
	return 0;
}

static int parse_query(const char *query, struct http_route *r,
                       struct http_fail *f)
{
	const char *p = query, *amp, *eq;
	char key[32], val[80];
	size_t klen;

	while (p && *p) {
		amp = strchr(p, '&');
		if (!amp)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = (size_t)((eq ? eq : amp) - p);
		if (klen) {
			if (query_decode(p, klen, key, sizeof(key)))
				return fail(f, 400, JOBD_E_BAD_REQUEST,
				            "query: a parameter name is "
				            "malformed");
			if (!eq || query_decode(eq + 1, (size_t)(amp - eq - 1),
			                        val, sizeof(val)))
				return fail(f, 400, JOBD_E_BAD_REQUEST,
				            "query: %s: missing or malformed "
				            "value",
				            key);
			if (query_param(r, key, val, f))
				return -1;
		}
		p = *amp ? amp + 1 : amp;
	}
	return 0;
}

static int want_method(const char *method, const char *want,
                       struct http_fail *f)
{
	if (strcmp(method, want) == 0 ||
	    (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0))
		return 0;
	fail(f, 405, JOBD_E_BAD_REQUEST,
	     "method %.20s is not allowed here; "
	     "use %s",
	     method, want);
	f->allow = want;
	return -1;
}

static const struct {
	const char *path, *file;
} static_files[] = {
        {"/", "index.html"},
        {"/index.html", "index.html"},
        {"/app.js", "app.js"},
        {"/style.css", "style.css"},
};

static const struct {
	const char *rest, *pattern;
	enum http_route_kind kind;
	const char *method;
	bool public;
} fixed_routes[] = {
        {"health/live", "/v1/health/live", HTTP_R_LIVE, "GET", true},
        {"health/ready", "/v1/health/ready", HTTP_R_READY, "GET", true},
        {"openapi.json", "/v1/openapi.json", HTTP_R_OPENAPI, "GET", true},
        {"plugins", "/v1/plugins", HTTP_R_PLUGINS, "GET", false},
        {"jobs", "/v1/jobs", HTTP_R_JOBS, "GET", false},
};

static const struct {
	const char *tail, *pattern;
	enum http_route_kind kind;
	const char *method;
} job_routes[] = {
        {"", "/v1/jobs/{id}", HTTP_R_JOB, "GET"},
        {"/result", "/v1/jobs/{id}/result", HTTP_R_RESULT, "GET"},
        {"/cancel", "/v1/jobs/{id}/cancel", HTTP_R_CANCEL, "POST"},
        {"/events", "/v1/jobs/{id}/events", HTTP_R_EVENTS, "GET"},
};

static int route_plugin(const char *method, const char *path, const char *rest,
                        const char *query, struct http_route *r,
                        struct http_fail *f)
{
	const char *slash = strchr(rest, '/');
	size_t len;

	if (!slash)
		return fail(f, 404, JOBD_E_NOT_FOUND, "no route %.100s", path);
	if (strcmp(slash, "/call") == 0) {
		r->kind = HTTP_R_CALL;
		r->pattern = "/v1/plugins/{name}/call";
	} else if (strcmp(slash, "/jobs") == 0) {
		r->kind = HTTP_R_SUBMIT;
		r->pattern = "/v1/plugins/{name}/jobs";
	} else {
		return fail(f, 404, JOBD_E_NOT_FOUND, "no route %.100s", path);
	}
	if (want_method(method, "POST", f))
		return -1;
	len = (size_t)(slash - rest);
	if (!seg_ok(rest, len, NAME_CHARS, MSG_NAME_MAX_LEN))
		return fail(f, 400, JOBD_E_BAD_REQUEST,
		            "path: a plugin name is 1 to 64 of [a-z0-9_-]");
	memcpy(r->name, rest, len);
	r->name[len] = '\0';
	r->body = true;
	return parse_query(query, r, f);
}

static int route_job(const char *method, const char *path, const char *rest,
                     const char *query, struct http_route *r,
                     struct http_fail *f)
{
	const char *slash = strchr(rest, '/');
	size_t i, len = slash ? (size_t)(slash - rest) : strlen(rest);

	if (slash && strncmp(slash, "/arrays/", 8) == 0) {
		/* Binary arrays are not served yet: no job has one. */
		r->pattern = "/v1/jobs/{id}/arrays/{array}";
		return fail(f, 404, JOBD_E_NOT_FOUND,
		            "no such array: this server keeps no binary "
		            "arrays");
	}
	for (i = 0; i < sizeof(job_routes) / sizeof(*job_routes); i++)
		if (strcmp(slash ? slash : "", job_routes[i].tail) == 0)
			break;
	if (i == sizeof(job_routes) / sizeof(*job_routes))
		return fail(f, 404, JOBD_E_NOT_FOUND, "no route %.100s", path);
	r->kind = job_routes[i].kind;
	r->pattern = job_routes[i].pattern;
	if (want_method(method, job_routes[i].method, f))
		return -1;
	if (len != 16 || !seg_ok(rest, len, HEX_CHARS, 16))
		return fail(f, 400, JOBD_E_BAD_REQUEST,
		            "path: a job id is 16 of [0-9a-f]");
	memcpy(r->job, rest, len);
	r->job[len] = '\0';
	return parse_query(query, r, f);
}

int http_route_parse(const char *method, const char *path, const char *query,
                     struct http_route *r, struct http_fail *f)
{
	const char *rest;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->pattern = "other";
	for (i = 0; i < sizeof(static_files) / sizeof(*static_files); i++) {
		if (strcmp(path, static_files[i].path) == 0) {
			r->kind = HTTP_R_STATIC;
			r->pattern = "/";
			r->file = static_files[i].file;
			r->public = true;
			return want_method(method, "GET", f);
		}
	}
	if (strcmp(path, "/metrics") == 0) {
		r->kind = HTTP_R_METRICS;
		r->pattern = "/metrics";
		if (want_method(method, "GET", f))
			return -1;
		return parse_query(query, r, f);
	}
	if (strncmp(path, "/v1/", 4) != 0)
		return fail(f, 404, JOBD_E_NOT_FOUND, "no route %.100s", path);
	rest = path + 4;
	for (i = 0; i < sizeof(fixed_routes) / sizeof(*fixed_routes); i++) {
		if (strcmp(rest, fixed_routes[i].rest) == 0) {
			r->kind = fixed_routes[i].kind;
			r->pattern = fixed_routes[i].pattern;
			r->public = fixed_routes[i].public;
			if (want_method(method, fixed_routes[i].method, f))
				return -1;
			return parse_query(query, r, f);
		}
	}
	if (strncmp(rest, "plugins/", 8) == 0)
		return route_plugin(method, path, rest + 8, query, r, f);
	if (strncmp(rest, "jobs/", 5) == 0)
		return route_job(method, path, rest + 5, query, r, f);
	return fail(f, 404, JOBD_E_NOT_FOUND, "no route %.100s", path);
}

json_t *http_route_message(const struct http_route *r, int step, int64_t id,
                           json_t *steal_input)
{
	json_t *m;

	if (r->kind == HTTP_R_CALL || r->kind == HTTP_R_SUBMIT)
		return msg_call(
		        id, r->name, steal_input ? steal_input : json_null(),
		        (int64_t)r->timeout_ms, r->kind == HTTP_R_SUBMIT);
	json_decref(steal_input);
	switch (r->kind) {
	case HTTP_R_PLUGINS:
	case HTTP_R_METRICS:
		return msg_stats(true, id);
	case HTTP_R_JOBS:
		m = msg_jobs(true, id, r->state[0] ? r->state : NULL,
		             r->plugin[0] ? r->plugin : NULL);
		if (m && r->limit)
			json_object_set_new(m, "limit", json_integer(r->limit));
		return m;
	case HTTP_R_JOB:
		return msg_job_request(MSG_STATUS, true, id, r->job);
	case HTTP_R_RESULT:
		return msg_job_request(MSG_RESULT, true, id, r->job);
	case HTTP_R_CANCEL:
		return msg_cancel(true, id, r->job);
	case HTTP_R_EVENTS:
		return msg_job_request(step ? MSG_ATTACH : MSG_STATUS, true, id,
		                       r->job);
	default:
		return NULL;
	}
}

int http_status_of(enum jobd_error code)
{
	switch (code) {
	case JOBD_OK:
		return 200;
	case JOBD_E_BAD_FRAME:
	case JOBD_E_BAD_JSON:
	case JOBD_E_BAD_REQUEST:
	case JOBD_E_UNKNOWN_TYPE:
	case JOBD_E_UNSUPPORTED_VERSION:
		return 400;
	case JOBD_E_UNAUTHORIZED:
		return 401;
	case JOBD_E_FORBIDDEN:
		return 403;
	case JOBD_E_NOT_FOUND:
	case JOBD_E_UNKNOWN_PLUGIN:
		return 404;
	case JOBD_E_IDLE_TIMEOUT:
		return 408;
	case JOBD_E_CANCELLED:
	case JOBD_E_INTERRUPTED:
	case JOBD_E_DUPLICATE_ID:
		return 409;
	case JOBD_E_TOO_LARGE:
		return 413;
	case JOBD_E_PLUGIN_FAILED:
		return 422;
	case JOBD_E_BUSY:
		return 429;
	case JOBD_E_SHUTTING_DOWN:
	case JOBD_E_TOO_MANY_CONNECTIONS:
		return 503;
	case JOBD_E_TIMEOUT:
		return 504;
	default:
		return 500;
	}
}

const char *http_reason(int status)
{
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
	        {200, "OK"},
	        {202, "Accepted"},
	        {400, "Bad Request"},
	        {401, "Unauthorized"},
	        {403, "Forbidden"},
	        {404, "Not Found"},
	        {405, "Method Not Allowed"},
	        {408, "Request Timeout"},
	        {409, "Conflict"},
	        {413, "Content Too Large"},
	        {415, "Unsupported Media Type"},
	        {422, "Unprocessable Content"},
	        {429, "Too Many Requests"},
	        {502, "Bad Gateway"},
	        {503, "Service Unavailable"},
	        {504, "Gateway Timeout"},
	};
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(*reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Internal Server Error";
}
