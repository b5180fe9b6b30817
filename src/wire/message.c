/* SPDX-License-Identifier: MIT */
/*
 * Message codec for protocol version 1 (see message.h, docs/protocol.md).
 *
 * Validation is table-free on purpose: each message kind is a short function
 * reading its fields in a fixed order, so an error always names the first
 * bad field. The id is read before anything else so that even a refused
 * message can be answered with its id.
 */
#include "wire/message.h"

#include "wire/array.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

struct type_info {
	const char *name;
	bool from_client;
	bool from_server;
};

static const struct type_info type_table[MSG_TYPE_COUNT_] = {
        [MSG_HELLO] = {"hello", true, true},
        [MSG_CALL] = {"call", true, false},
        [MSG_CANCEL] = {"cancel", true, false},
        [MSG_DETACH] = {"detach", true, false},
        [MSG_STATUS] = {"status", true, true},
        [MSG_ATTACH] = {"attach", true, false},
        [MSG_RESULT] = {"result", true, true},
        [MSG_JOBS] = {"jobs", true, true},
        [MSG_PING] = {"ping", true, false},
        [MSG_STATS] = {"stats", true, true},
        [MSG_ACCEPTED] = {"accepted", false, true},
        [MSG_PROGRESS] = {"progress", false, true},
        [MSG_PONG] = {"pong", false, true},
        [MSG_ERROR] = {"error", false, true},
};

static const char *const error_names[JOBD_E_COUNT_] = {
        [JOBD_E_BAD_FRAME] = "bad_frame",
        [JOBD_E_TOO_LARGE] = "too_large",
        [JOBD_E_BAD_JSON] = "bad_json",
        [JOBD_E_BAD_REQUEST] = "bad_request",
        [JOBD_E_UNKNOWN_TYPE] = "unknown_type",
        [JOBD_E_UNSUPPORTED_VERSION] = "unsupported_version",
        [JOBD_E_DUPLICATE_ID] = "duplicate_id",
        [JOBD_E_UNKNOWN_PLUGIN] = "unknown_plugin",
        [JOBD_E_BUSY] = "busy",
        [JOBD_E_TIMEOUT] = "timeout",
        [JOBD_E_CANCELLED] = "cancelled",
        [JOBD_E_PLUGIN_FAILED] = "plugin_failed",
        [JOBD_E_SHUTTING_DOWN] = "shutting_down",
        [JOBD_E_NOT_FOUND] = "not_found",
        [JOBD_E_TOO_MANY_CONNECTIONS] = "too_many_connections",
        [JOBD_E_INTERNAL] = "internal",
        [JOBD_E_IDLE_TIMEOUT] = "idle_timeout",
        [JOBD_E_INTERRUPTED] = "interrupted",
        [JOBD_E_UNAUTHORIZED] = "unauthorized",
        [JOBD_E_FORBIDDEN] = "forbidden",
        [JOBD_E_PLUGIN_CRASHED] = "plugin_crashed",
        [JOBD_E_UNAVAILABLE] = "unavailable",
        [JOBD_E_OUT_OF_MEMORY] = "out_of_memory",
};

const char *msg_type_name(enum msg_type t)
{
	if ((int)t <= MSG_UNKNOWN || t >= MSG_TYPE_COUNT_)
		return NULL;
	return type_table[t].name;
}

const char *msg_error_name(enum jobd_error code)
{
	if ((int)code <= JOBD_OK || code >= JOBD_E_COUNT_)
		return error_names[JOBD_E_INTERNAL];
	return error_names[code];
}

enum jobd_error msg_error_from_name(const char *name)
{
	if (!name)
		return JOBD_E_INTERNAL;
	for (int i = JOBD_OK + 1; i < JOBD_E_COUNT_; i++)
		if (strcmp(error_names[i], name) == 0)
			return (enum jobd_error)i;
	/* A newer server's code: the client still gets an error. */
	return JOBD_E_INTERNAL;
}

static enum msg_type type_from_name(const char *name, size_t len,
                                    enum msg_from from)
{
	/* "ping\u0000" is not "ping". */
	if (strlen(name) != len)
		return MSG_UNKNOWN;
	for (int t = MSG_UNKNOWN + 1; t < MSG_TYPE_COUNT_; t++) {
		const struct type_info *ti = &type_table[t];
		if (strcmp(ti->name, name) != 0)
			continue;
		if (from == MSG_FROM_CLIENT ? ti->from_client : ti->from_server)
			return (enum msg_type)t;
		return MSG_UNKNOWN;
	}
	return MSG_UNKNOWN;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* past U+10FFFF */
		return 4;
	}
	return 0;
}

/* Replaces every byte that does not start a valid sequence with '?', in
 * place. Error texts quote the input (jansson's "near '...'" does too) and
 * are truncated by snprintf; both can leave invalid UTF-8, which jansson
 * would then refuse to put in the error message we send back. The NUL
 * terminator stops every multi-byte check, so reads stay in bounds. */
static void utf8_sanitize(char *str)
{
	unsigned char *s = (unsigned char *)str;

	while (*s) {
		size_t n = utf8_seq_len(s);
		if (n == 0) {
			*s++ = '?';
			continue;
		}
		s += n;
	}
}

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static void
set_error(struct msg_error *err, enum jobd_error code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	utf8_sanitize(err->text);
}

/* ---- field readers ---- */

/* What a validator needs to read fields and say which one is wrong. */
struct vctx {
	json_t *root;
	const char *tname; /* prefix of every error text */
	struct msg_error *err;
};

static int bad(struct vctx *c, const char *key, const char *what)
{
	set_error(c->err, JOBD_E_BAD_REQUEST, "%s: \"%s\" %s", c->tname, key,
	          what);
	return -1;
}

static int need(struct vctx *c, const char *key, bool required, json_t **out)
{
	*out = json_object_get(c->root, key);
	if (!*out && required)
		return bad(c, key, "is required");
	return 0;
}

/* An integer in [lo, hi]; *present tells whether the key was there. */
static int get_int(struct vctx *c, const char *key, bool required, int64_t lo,
                   int64_t hi, const char *what, int64_t *out, bool *present)
{
	json_t *v;

	if (present)
		*present = false;
	if (need(c, key, required, &v) < 0)
		return -1;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return bad(c, key, what);
	*out = json_integer_value(v);
	if (present)
		*present = true;
	return 0;
}

/* A string. max_len 0 means any length (free text, such as a name shown to
 * people); otherwise 1..max_len bytes with no NUL, since identifiers are
 * handed on as C strings. */
static int get_str(struct vctx *c, const char *key, bool required,
                   size_t max_len, const char **out)
{
	json_t *v;
	size_t len;

	if (need(c, key, required, &v) < 0)
		return -1;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(c, key, "must be a string");
	if (max_len) {
		len = json_string_length(v);
		if (len == 0 || len > max_len ||
		    memchr(json_string_value(v), '\0', len))
			return bad(c, key,
			           "must be a string of 1 to 64 bytes "
			           "without NUL");
	}
	*out = json_string_value(v);
	return 0;
}

static bool plugin_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > MSG_NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static int get_id(struct vctx *c, bool required, struct msg *m)
{
	return get_int(c, "id", required, 0, MSG_ID_MAX,
	               "must be an integer in [0, 9007199254740991]", &m->id,
	               &m->has_id);
}

static int get_version(struct vctx *c, struct msg *m)
{
	json_t *v;

	if (need(c, "version", true, &v) < 0)
		return -1;
	if (!json_is_integer(v))
		return bad(c, "version", "must be an integer >= 1");
	if (json_integer_value(v) < 1) {
		/* Well-formed but unserviceable: its own code, so the peer
		 * learns it is the version, not the message. */
		set_error(c->err, JOBD_E_UNSUPPORTED_VERSION,
		          "hello: protocol version %lld is not supported "
		          "(this side speaks 1 to %d)",
		          (long long)json_integer_value(v), PROTOCOL_VERSION);
		return -1;
	}
	m->version = json_integer_value(v);
	return 0;
}

/* ---- per-type validators ---- */

static int v_hello(struct vctx *c, enum msg_from from, struct msg *m)
{
	json_t *v;

	if (get_version(c, m) < 0)
		return -1;
	if (get_str(c, from == MSG_FROM_CLIENT ? "client" : "server", false, 0,
	            &m->name) < 0)
		return -1;
	if (from != MSG_FROM_CLIENT)
		return 0;
	/* The token's value is never put in a message: only its shape. */
	v = json_object_get(c->root, "token");
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) < 1 ||
	    json_string_length(v) > MSG_TOKEN_MAX_LEN ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return bad(c, "token",
		           "must be a string of 1 to 256 bytes without NUL");
	m->token = json_string_value(v);
	m->token_len = json_string_length(v);
	return 0;
}

static int v_call(struct vctx *c, struct msg *m)
{
	json_t *v;
	bool has_timeout;

	if (need(c, "plugin", true, &v) < 0)
		return -1;
	if (!json_is_string(v))
		return bad(c, "plugin", "must be a string");
	if (!plugin_name_ok(json_string_value(v), json_string_length(v)))
		return bad(c, "plugin",
		           "must be 1 to 64 characters of [a-z0-9_-]");
	m->plugin = json_string_value(v);

	if (need(c, "input", true, &m->input) < 0)
		return -1;
	if (get_int(c, "timeout_ms", false, 1, INT64_MAX,
	            "must be an integer >= 1", &m->timeout_ms,
	            &has_timeout) < 0)
		return -1;

	v = json_object_get(c->root, "detach");
	if (v) {
		if (!json_is_boolean(v))
			return bad(c, "detach", "must be a boolean");
		m->detach = json_is_true(v);
	}
	return 0;
}

static int v_cancel(struct vctx *c, struct msg *m)
{
	if (get_str(c, "job", false, MSG_JOB_ID_MAX_LEN, &m->job) < 0)
		return -1;
	if (!m->has_id && !m->job) {
		set_error(c->err, JOBD_E_BAD_REQUEST,
		          "cancel: \"id\" or \"job\" is required");
		return -1;
	}
	return 0;
}

static int v_jobs_filter(struct vctx *c, struct msg *m)
{
	if (get_str(c, "state", false, MSG_NAME_MAX_LEN, &m->state) < 0)
		return -1;
	return get_str(c, "plugin", false, MSG_NAME_MAX_LEN, &m->plugin);
}

static int v_progress(struct vctx *c, struct msg *m)
{
	json_t *v;
	double f;

	if (need(c, "fraction", true, &v) < 0)
		return -1;
	if (!json_is_number(v))
		return bad(c, "fraction", "must be a number in [0, 1]");
	f = json_number_value(v);
	if (!(f >= 0.0 && f <= 1.0))
		return bad(c, "fraction", "must be a number in [0, 1]");
	m->fraction = f;
	return get_str(c, "message", false, 0, &m->message);
}

static int v_error(struct vctx *c, struct msg *m)
{
	if (get_str(c, "code", true, 0, &m->code_name) < 0)
		return -1;
	m->code = msg_error_from_name(m->code_name);
	return get_str(c, "message", true, 0, &m->message);
}

static int validate_client(struct vctx *c, struct msg *m)
{
	switch (m->type) {
	case MSG_HELLO:
		return v_hello(c, MSG_FROM_CLIENT, m);
	case MSG_CALL:
		return v_call(c, m);
	case MSG_CANCEL:
		return v_cancel(c, m);
	case MSG_DETACH:
		return 0; /* id, checked as required by the caller */
	case MSG_STATUS:
	case MSG_ATTACH:
	case MSG_RESULT:
		return get_str(c, "job", true, MSG_JOB_ID_MAX_LEN, &m->job);
	case MSG_JOBS:
		return v_jobs_filter(c, m);
	default:
		return 0; /* ping, stats: nothing beyond an optional id */
	}
}

static int validate_server(struct vctx *c, struct msg *m)
{
	json_t *v;

	switch (m->type) {
	case MSG_HELLO:
		return v_hello(c, MSG_FROM_SERVER, m);
	case MSG_RESULT:
		return need(c, "output", true, &m->output);
	case MSG_ACCEPTED:
		return get_str(c, "job", true, MSG_JOB_ID_MAX_LEN, &m->job);
	case MSG_PROGRESS:
		return v_progress(c, m);
	case MSG_ERROR:
		return v_error(c, m);
	case MSG_STATUS:
		if (get_str(c, "job", true, MSG_JOB_ID_MAX_LEN, &m->job) < 0)
			return -1;
		return get_str(c, "state", true, MSG_NAME_MAX_LEN, &m->state);
	case MSG_JOBS:
		if (need(c, "jobs", true, &v) < 0)
			return -1;
		if (!json_is_array(v))
			return bad(c, "jobs", "must be an array");
		return 0;
	default:
		return 0; /* pong, stats: the rest is read from root */
	}
}

/* Whether the id is required for a type (otherwise optional). */
static bool id_required(enum msg_type t, enum msg_from from)
{
	if (from == MSG_FROM_CLIENT)
		return t == MSG_CALL || t == MSG_DETACH;
	return t == MSG_RESULT || t == MSG_ACCEPTED || t == MSG_PROGRESS;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	default:
		return "an object";
	}
}

int msg_validate(json_t *root, enum msg_from from, struct msg *out,
                 struct msg_error *err)
{
	struct vctx c = {.root = root, .tname = "message", .err = err};
	struct msg m = {0};
	json_t *type;

	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));

	if (!root || !json_is_object(root)) {
		set_error(err, JOBD_E_BAD_REQUEST,
		          "message must be a JSON object, not %s",
		          root ? json_kind(root) : "nothing");
		return -1;
	}

	/* The type's name only prefixes error texts here; it is judged after
	 * the id so that a refusal can carry the id. */
	type = json_object_get(root, "type");
	if (json_is_string(type) &&
	    type_from_name(json_string_value(type), json_string_length(type),
	                   from) != MSG_UNKNOWN)
		c.tname = json_string_value(type);

	if (get_id(&c, false, &m) < 0)
		return -1;
	if (err && m.has_id) {
		err->has_id = true;
		err->id = m.id;
	}

	if (!type) {
		set_error(err, JOBD_E_BAD_REQUEST, "\"type\" is required");
		return -1;
	}
	if (!json_is_string(type)) {
		set_error(err, JOBD_E_BAD_REQUEST, "\"type\" must be a string");
		return -1;
	}
	m.type = type_from_name(json_string_value(type),
	                        json_string_length(type), from);
	if (m.type == MSG_UNKNOWN) {
		set_error(err, JOBD_E_UNKNOWN_TYPE,
		          "unknown message type \"%.64s\"%s",
		          json_string_value(type),
		          from == MSG_FROM_CLIENT ? " from a client"
		                                  : " from a server");
		return -1;
	}
	if (id_required(m.type, from) && !m.has_id) {
		bad(&c, "id", "is required");
		return -1;
	}
	if ((from == MSG_FROM_CLIENT ? validate_client(&c, &m)
	                             : validate_server(&c, &m)) < 0)
		return -1;

	m.root = json_incref(root);
	*out = m;
	return 0;
}

int msg_parse(const char *body, size_t len, enum msg_from from, struct msg *out,
              struct msg_error *err)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));

	/* A raw NUL byte is never valid JSON, but jansson 2.14 lets one pass
	 * right after a number or literal ("[1\0]" loads as [1]). */
	if (!body) {
		body = "";
		len = 0;
	}
	const char *nul = memchr(body, '\0', len);
	if (nul) {
		set_error(err, JOBD_E_BAD_JSON,
		          "invalid JSON at byte %zu: raw NUL byte (write it "
		          "as \\u0000 inside a string)",
		          (size_t)(nul - body));
		return -1;
	}

	/* ALLOW_NUL: "\u0000" inside a string is valid JSON and must survive
	 * a round trip. DECODE_ANY: a scalar body is valid JSON, so it is a
	 * bad request, not bad JSON. */
	root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		set_error(err, JOBD_E_BAD_JSON,
		          "invalid JSON at line %d, column %d (byte %d): %s",
		          jerr.line, jerr.column, jerr.position, jerr.text);
		return -1;
	}
	rc = msg_validate(root, from, out, err);
	json_decref(root);
	if (rc == 0) {
		out->size = len;
		out->body = body;
	}
	return rc;
}

/* The end of the JSON string starting at s[i] == '"', or len. */
static size_t span_skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return len;
}

/* The end of the JSON value starting at s[i] (valid JSON: the body was
 * parsed already), or len. */
static size_t span_skip_value(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	if (i < len && s[i] == '"')
		return span_skip_string(s, len, i);
	if (i < len && s[i] != '{' && s[i] != '[') {
		while (i < len && !strchr(",}] \t\r\n", s[i]))
			i++;
		return i;
	}
	for (; i < len; i++) {
		if (s[i] == '"') {
			i = span_skip_string(s, len, i) - 1;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if (s[i] == '}' || s[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return len;
}

static size_t span_skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i;
}

int msg_member_span(const char *body, size_t len, const char *key, size_t *off,
                    size_t *n)
{
	size_t klen = strlen(key), i, k0, v0, v1;
	bool found = false;

	i = span_skip_ws(body, len, 0);
	if (i >= len || body[i] != '{')
		return -1;
	i = span_skip_ws(body, len, i + 1);
	while (i < len && body[i] == '"') {
		k0 = i;
		i = span_skip_string(body, len, i);
		i = span_skip_ws(body, len, i);
		if (i >= len || body[i] != ':')
			return -1;
		v0 = span_skip_ws(body, len, i + 1);
		v1 = span_skip_value(body, len, v0);
		/* The last one wins, as in the parsed object. A key written
		 * with escapes is not recognised: the caller falls back. */
		if (v1 - v0 > 0 && k0 + klen + 2 <= len &&
		    body[k0 + klen + 1] == '"' &&
		    memcmp(body + k0 + 1, key, klen) == 0) {
			*off = v0;
			*n = v1 - v0;
			found = true;
		}
		i = span_skip_ws(body, len, v1);
		if (i < len && body[i] == ',')
			i = span_skip_ws(body, len, i + 1);
		else
			break;
	}
	return found ? 0 : -1;
}

void msg_fini(struct msg *m)
{
	if (!m)
		return;
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

int msg_arrays(const struct msg *m, const void *data, uint64_t data_len,
               struct jobd_array *out, size_t *n, struct msg_error *err)
{
	struct array_error ae;

	if (array_parse(json_object_get(m->root, "arrays"), data, data_len, out,
	                n, &ae) == 0)
		return 0;
	if (err) {
		memset(err, 0, sizeof(*err));
		err->has_id = m->has_id;
		err->id = m->id;
		set_error(err, ae.code, "%s: %s",
		          msg_type_name(m->type) ? msg_type_name(m->type)
		                                 : "message",
		          ae.text);
	}
	return -1;
}

/* ---- builders ---- */

/* A new object {"type": name}, with "id" when has_id. */
static json_t *start(enum msg_type t, bool has_id, int64_t id)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "type", json_string(type_table[t].name)) <
	            0 ||
	    (has_id && json_object_set_new(o, "id", json_integer(id)) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Sets key to steal (taken over even on failure); frees o on failure. */
static json_t *put(json_t *o, const char *key, json_t *steal)
{
	if (!o) {
		json_decref(steal);
		return NULL;
	}
	if (json_object_set_new(o, key, steal) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Like put() for an optional string: NULL leaves the key out. */
static json_t *put_str(json_t *o, const char *key, const char *s)
{
	if (!s)
		return o;
	return put(o, key, json_string(s));
}

json_t *msg_hello(const char *name)
{
	return msg_hello_version(name, PROTOCOL_VERSION);
}

json_t *msg_hello_version(const char *name, int64_t version)
{
	return put_str(put(start(MSG_HELLO, false, 0), "version",
	                   json_integer(version)),
	               "client", name);
}

json_t *msg_hello_token(const char *name, const char *token)
{
	return put_str(msg_hello(name), "token", token);
}

json_t *msg_hello_server(const char *name, uint32_t max_frame_size)
{
	return put(put_str(put(start(MSG_HELLO, false, 0), "version",
	                       json_integer(PROTOCOL_VERSION)),
	                   "server", name),
	           "max_frame_size", json_integer(max_frame_size));
}

json_t *msg_call(int64_t id, const char *plugin, json_t *steal_input,
                 int64_t timeout_ms, bool detach)
{
	json_t *o = put(put_str(start(MSG_CALL, true, id), "plugin", plugin),
	                "input", steal_input);

	if (o && timeout_ms > 0)
		o = put(o, "timeout_ms", json_integer(timeout_ms));
	if (o && detach)
		o = put(o, "detach", json_true());
	return o;
}

json_t *msg_cancel(bool has_id, int64_t id, const char *job)
{
	return put_str(start(MSG_CANCEL, has_id, id), "job", job);
}

json_t *msg_detach(int64_t id)
{
	return start(MSG_DETACH, true, id);
}

json_t *msg_job_request(enum msg_type type, bool has_id, int64_t id,
                        const char *job)
{
	if (type != MSG_STATUS && type != MSG_ATTACH && type != MSG_RESULT)
		return NULL;
	return put_str(start(type, has_id, id), "job", job);
}

json_t *msg_jobs(bool has_id, int64_t id, const char *state, const char *plugin)
{
	return put_str(put_str(start(MSG_JOBS, has_id, id), "state", state),
	               "plugin", plugin);
}

json_t *msg_ping(bool has_id, int64_t id)
{
	return start(MSG_PING, has_id, id);
}

json_t *msg_stats(bool has_id, int64_t id)
{
	return start(MSG_STATS, has_id, id);
}

json_t *msg_result(int64_t id, json_t *steal_output)
{
	return put(start(MSG_RESULT, true, id), "output", steal_output);
}

json_t *msg_accepted(int64_t id, const char *job)
{
	return put_str(start(MSG_ACCEPTED, true, id), "job", job);
}

json_t *msg_progress(int64_t id, double fraction, const char *message)
{
	/* Clamp so that a sloppy plugin cannot make us send a frame the
	 * client must refuse (NaN becomes 0). */
	if (!(fraction >= 0.0))
		fraction = 0.0;
	else if (fraction > 1.0)
		fraction = 1.0;
	return put_str(put(start(MSG_PROGRESS, true, id), "fraction",
	                   json_real(fraction)),
	               "message", message);
}

json_t *msg_pong(bool has_id, int64_t id)
{
	return start(MSG_PONG, has_id, id);
}

json_t *msg_error(bool has_id, int64_t id, enum jobd_error code,
                  const char *message)
{
	json_t *text;

	if (!message)
		message = msg_error_name(code);
	text = json_string(message);
	if (!text) {
		/* Not UTF-8 (a plugin's text, an echoed name): send it with
		 * the bad bytes replaced rather than not at all. */
		char *copy = strdup(message);
		if (copy) {
			utf8_sanitize(copy);
			text = json_string(copy);
			free(copy);
		}
	}
	return put(put(start(MSG_ERROR, has_id, id), "code",
	               json_string(msg_error_name(code))),
	           "message", text);
}
