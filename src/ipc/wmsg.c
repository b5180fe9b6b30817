/* SPDX-License-Identifier: MIT */
/*
 * Worker protocol codec (see wmsg.h, docs/isolation.md). Each message kind
 * is a short function reading its fields in a fixed order, so an error
 * names the first bad field.
 */
#include "ipc/wmsg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jobd/plugin.h>

#include "wire/message.h"

struct type_info {
	const char *name;
	enum wmsg_from from;
};

static const struct type_info type_table[WMSG_TYPE_COUNT_] = {
        [WMSG_INIT] = {"init", WMSG_FROM_DAEMON},
        [WMSG_JOB] = {"job", WMSG_FROM_DAEMON},
        [WMSG_CANCEL] = {"cancel", WMSG_FROM_DAEMON},
        [WMSG_STOP] = {"stop", WMSG_FROM_DAEMON},
        [WMSG_READY] = {"ready", WMSG_FROM_WORKER},
        [WMSG_PROGRESS] = {"progress", WMSG_FROM_WORKER},
        [WMSG_LOG] = {"log", WMSG_FROM_WORKER},
        [WMSG_RESULT] = {"result", WMSG_FROM_WORKER},
        [WMSG_ERROR] = {"error", WMSG_FROM_WORKER},
        [WMSG_INIT_FAILED] = {"init_failed", WMSG_FROM_WORKER},
};

const char *wmsg_type_name(enum wmsg_type t)
{
	if ((int)t <= WMSG_UNKNOWN || t >= WMSG_TYPE_COUNT_)
		return NULL;
	return type_table[t].name;
}

bool wmsg_plugin_code_ok(int code)
{
	return code == JOBD_E_BAD_REQUEST || code == JOBD_E_CANCELLED ||
	       code == JOBD_E_TIMEOUT || code == JOBD_E_PLUGIN_FAILED ||
	       code == JOBD_E_BUSY;
}

/* ---- parsing ---- */

static int refuse(struct wmsg_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int refuse(struct wmsg_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* An integer field in [min, max]; absent is an error when required, else
 * *out keeps its default. */
static int get_int(json_t *root, const char *key, bool required, int64_t min,
                   int64_t max, int64_t *out, struct wmsg_error *err)
{
	json_t *v = json_object_get(root, key);

	if (!v)
		return required ? refuse(err, "%s: missing", key) : 0;
	if (!json_is_integer(v))
		return refuse(err, "%s: not an integer", key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return refuse(err,
		              "%s: %" JSON_INTEGER_FORMAT " is out of range",
		              key, json_integer_value(v));
	*out = json_integer_value(v);
	return 0;
}

static int get_str(json_t *root, const char *key, bool required, size_t max_len,
                   const char **out, struct wmsg_error *err)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v))
		return required ? refuse(err, "%s: missing", key) : 0;
	if (!json_is_string(v))
		return refuse(err, "%s: not a string", key);
	if (json_string_length(v) > max_len)
		return refuse(err, "%s: longer than %zu bytes", key, max_len);
	if (memchr(json_string_value(v), '\0', json_string_length(v)))
		return refuse(err, "%s: contains a NUL byte", key);
	*out = json_string_value(v);
	return 0;
}

static int get_job(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	return get_int(root, "job", true, 0, WMSG_JOB_MAX, &m->job, err);
}

/* A descriptor index: -1 when absent, else below the announced count. */
static int get_fd_index(json_t *root, const char *key, const struct wmsg *m,
                        int *out, struct wmsg_error *err)
{
	int64_t i = -1;

	if (!json_object_get(root, key))
		return 0;
	if (get_int(root, key, true, 0, WMSG_MAX_FDS - 1, &i, err) < 0)
		return -1;
	if ((unsigned)i >= m->nfds)
		return refuse(err, "%s: %d names no descriptor (fds is %u)",
		              key, (int)i, m->nfds);
	*out = (int)i;
	return 0;
}

/* Either a value under `key` or a descriptor under key_fd with key_size. */
static int get_payload(json_t *root, const char *key, const char *key_fd,
                       const char *key_size, struct wmsg *m, json_t **value,
                       int *fd, uint64_t *size, struct wmsg_error *err)
{
	int64_t n = 0;

	if (get_fd_index(root, key_fd, m, fd, err) < 0)
		return -1;
	*value = json_object_get(root, key);
	if (*fd >= 0) {
		if (*value)
			return refuse(err, "%s and %s: only one may be given",
			              key, key_fd);
		if (get_int(root, key_size, true, 1, INT64_MAX, &n, err) < 0)
			return -1;
		*size = (uint64_t)n;
		return 0;
	}
	if (!*value)
		return refuse(err, "%s: missing", key);
	return 0;
}

static int get_double(json_t *root, const char *key, double *out,
                      struct wmsg_error *err)
{
	json_t *v = json_object_get(root, key);

	if (!v)
		return refuse(err, "%s: missing", key);
	if (!json_is_number(v))
		return refuse(err, "%s: not a number", key);
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < 0)
		return refuse(err, "%s: not a finite number >= 0", key);
	return 0;
}

static int get_usage(json_t *root, bool required, struct wmsg *m,
                     struct wmsg_error *err)
{
	json_t *u = json_object_get(root, "usage");
	int64_t rss = 0, delta = 0;
	json_t *reset;

	if (!u)
		return required ? refuse(err, "usage: missing") : 0;
	if (!json_is_object(u))
		return refuse(err, "usage: not an object");
	if (get_double(u, "user_s", &m->usage.user_s, err) < 0 ||
	    get_double(u, "system_s", &m->usage.system_s, err) < 0 ||
	    get_int(u, "maxrss_kb", true, 0, INT64_MAX, &rss, err) < 0 ||
	    get_int(u, "maxrss_delta_kb", true, 0, INT64_MAX, &delta, err) < 0)
		return -1;
	reset = json_object_get(u, "peak_reset");
	if (reset && !json_is_boolean(reset))
		return refuse(err, "usage.peak_reset: not a boolean");
	m->usage.maxrss_kb = (uint64_t)rss;
	m->usage.maxrss_delta_kb = (uint64_t)delta;
	m->usage.peak_reset = json_is_true(reset);
	m->has_usage = true;
	return 0;
}

static int parse_init(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	int64_t worker = 0, level = JOBD_LOG_INFO, threshold = 0;

	if (get_str(root, "plugin", true, 4096, &m->plugin, err) < 0 ||
	    get_fd_index(root, "plugin_fd", m, &m->plugin_fd, err) < 0)
		return -1;
	m->options = json_object_get(root, "options");
	if (!m->options)
		return refuse(err, "options: missing");
	if (!json_is_object(m->options))
		return refuse(err, "options: not an object");
	if (get_int(root, "worker", true, 0, UINT32_MAX, &worker, err) < 0 ||
	    get_int(root, "log_level", false, JOBD_LOG_ERROR, JOBD_LOG_DEBUG,
	            &level, err) < 0 ||
	    get_int(root, "fd_threshold", false, 0, INT64_MAX, &threshold,
	            err) < 0)
		return -1;
	m->worker = (uint32_t)worker;
	m->log_level = (int)level;
	m->fd_threshold = (uint64_t)threshold;
	return 0;
}

static int parse_job(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	int64_t timeout = 0;

	if (get_job(root, m, err) < 0 ||
	    get_payload(root, "input", "input_fd", "input_size", m, &m->input,
	                &m->input_fd, &m->input_size, err) < 0 ||
	    get_int(root, "timeout_ms", false, 0, INT64_MAX, &timeout, err) <
	            0 ||
	    get_str(root, "job_id", false, MSG_JOB_ID_MAX_LEN, &m->job_id,
	            err) < 0)
		return -1;
	m->timeout_ms = (uint64_t)timeout;
	return 0;
}

static int parse_ready(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	int64_t flags = 0, major = 0, minor = 0;

	if (get_str(root, "name", true, MSG_NAME_MAX_LEN, &m->name, err) < 0 ||
	    get_str(root, "version", false, 256, &m->version, err) < 0 ||
	    get_str(root, "description", false, WMSG_TEXT_MAX, &m->description,
	            err) < 0 ||
	    get_int(root, "flags", true, 0, UINT32_MAX, &flags, err) < 0 ||
	    get_int(root, "abi_major", true, 0, UINT16_MAX, &major, err) < 0 ||
	    get_int(root, "abi_minor", true, 0, UINT16_MAX, &minor, err) < 0 ||
	    get_int(root, "pid", true, 1, INT32_MAX, &m->pid, err) < 0)
		return -1;
	m->flags = (uint32_t)flags;
	m->abi_major = (uint16_t)major;
	m->abi_minor = (uint16_t)minor;
	return 0;
}

static int parse_progress(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	if (get_job(root, m, err) < 0 ||
	    get_double(root, "fraction", &m->fraction, err) < 0 ||
	    get_str(root, "message", false, WMSG_TEXT_MAX, &m->message, err) <
	            0)
		return -1;
	if (m->fraction > 1.0)
		return refuse(err, "fraction: over 1");
	return 0;
}

static int parse_log(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	int64_t level = 0;

	if (get_int(root, "level", true, JOBD_LOG_ERROR, JOBD_LOG_DEBUG, &level,
	            err) < 0 ||
	    get_str(root, "text", true, WMSG_TEXT_MAX, &m->text, err) < 0)
		return -1;
	m->level = (int)level;
	return 0;
}

static int parse_result(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	if (get_job(root, m, err) < 0 ||
	    get_payload(root, "output", "output_fd", "output_size", m,
	                &m->output, &m->output_fd, &m->output_size, err) < 0 ||
	    get_usage(root, true, m, err) < 0)
		return -1;
	return 0;
}

static int parse_error(json_t *root, struct wmsg *m, struct wmsg_error *err)
{
	if (get_job(root, m, err) < 0 ||
	    get_str(root, "code", true, 64, &m->code_name, err) < 0 ||
	    get_str(root, "message", true, WMSG_TEXT_MAX, &m->message, err) <
	            0 ||
	    get_usage(root, false, m, err) < 0)
		return -1;
	m->code = msg_error_from_name(m->code_name);
	/* internal: the worker itself failed (out of memory encoding the
	 * output, an input it could not read). */
	if (!wmsg_plugin_code_ok(m->code) && m->code != JOBD_E_INTERNAL)
		return refuse(err,
		              "code: \"%.40s\" is not a code a plugin "
		              "may return",
		              m->code_name);
	return 0;
}

static int parse_init_failed(json_t *root, struct wmsg *m,
                             struct wmsg_error *err)
{
	if (get_str(root, "stage", true, 32, &m->stage, err) < 0 ||
	    get_str(root, "message", true, WMSG_TEXT_MAX, &m->message, err) < 0)
		return -1;
	if (strcmp(m->stage, "load") && strcmp(m->stage, "init") &&
	    strcmp(m->stage, "worker_init"))
		return refuse(err,
		              "stage: \"%.40s\" is not load, init or "
		              "worker_init",
		              m->stage);
	return 0;
}

static void wmsg_clear(struct wmsg *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < WMSG_MAX_FDS; i++)
		m->fds[i] = -1;
	m->plugin_fd = m->input_fd = m->output_fd = -1;
}

int wmsg_parse(const char *body, size_t len, enum wmsg_from from,
               struct wmsg *out, struct wmsg_error *err)
{
	json_error_t jerr;
	json_t *root;
	const char *type = NULL;
	int64_t nfds = 0;
	int rc = -1;

	wmsg_clear(out);
	err->text[0] = '\0';
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	                  &jerr);
	if (!root)
		return refuse(err, "not JSON: %s", jerr.text);
	if (!json_is_object(root)) {
		refuse(err, "not a JSON object");
		goto fail;
	}
	if (get_str(root, "type", true, 32, &type, err) < 0)
		goto fail;
	for (int t = WMSG_UNKNOWN + 1; t < WMSG_TYPE_COUNT_; t++)
		if (!strcmp(type, type_table[t].name) &&
		    type_table[t].from == from)
			out->type = t;
	if (out->type == WMSG_UNKNOWN) {
		refuse(err, "type: \"%.40s\" is not a message the %s sends",
		       type, from == WMSG_FROM_DAEMON ? "daemon" : "worker");
		goto fail;
	}
	if (get_int(root, "fds", false, 0, WMSG_MAX_FDS, &nfds, err) < 0)
		goto fail;
	out->nfds = (unsigned)nfds;
	out->root = root;
	out->size = len;
	switch (out->type) {
	case WMSG_INIT:
		rc = parse_init(root, out, err);
		break;
	case WMSG_JOB:
		rc = parse_job(root, out, err);
		break;
	case WMSG_CANCEL:
		rc = get_job(root, out, err);
		break;
	case WMSG_STOP:
		rc = 0;
		break;
	case WMSG_READY:
		rc = parse_ready(root, out, err);
		break;
	case WMSG_PROGRESS:
		rc = parse_progress(root, out, err);
		break;
	case WMSG_LOG:
		rc = parse_log(root, out, err);
		break;
	case WMSG_RESULT:
		rc = parse_result(root, out, err);
		break;
	case WMSG_ERROR:
		rc = parse_error(root, out, err);
		break;
	case WMSG_INIT_FAILED:
		rc = parse_init_failed(root, out, err);
		break;
	default:
		break;
	}
	if (rc == 0)
		return 0;
	{
		/* Name the message in the refusal: the log line is all the
		 * reader gets. */
		char text[sizeof(err->text)];

		snprintf(text, sizeof(text), "%.32s: %.160s", type, err->text);
		memcpy(err->text, text, sizeof(text));
	}
fail:
	json_decref(root);
	wmsg_clear(out);
	return -1;
}

void wmsg_fini(struct wmsg *m)
{
	for (unsigned i = 0; i < m->nfds && i < WMSG_MAX_FDS; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	json_decref(m->root);
	wmsg_clear(m);
}

int wmsg_take_fd(struct wmsg *m, int i)
{
	int fd;

	if (i < 0 || (unsigned)i >= m->nfds || i >= WMSG_MAX_FDS)
		return -1;
	fd = m->fds[i];
	m->fds[i] = -1;
	return fd;
}

/* ---- building ---- */

static json_t *start(enum wmsg_type t)
{
	json_t *o = json_object();

	if (o && json_object_set_new(o, "type",
	                             json_string(type_table[t].name)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Sets key to steal (taken over even on failure); frees o on failure. */
static json_t *put(json_t *o, const char *key, json_t *steal)
{
	if (!o || !steal) {
		json_decref(steal);
		json_decref(o);
		return NULL;
	}
	if (json_object_set_new(o, key, steal) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *put_int(json_t *o, const char *key, int64_t v)
{
	return put(o, key, json_integer(v));
}

/* A string from text a plugin wrote: cut to WMSG_TEXT_MAX bytes and made
 * valid UTF-8 (if it is not, every byte outside ASCII becomes '?'), so that
 * a sloppy plugin cannot make the message unencodable and its line lost. */
static json_t *text_value(const char *s)
{
	size_t n = strnlen(s, WMSG_TEXT_MAX);
	json_t *v;
	char *copy;

	/* A cut text ends on a character boundary. */
	if (n == WMSG_TEXT_MAX)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;

	v = json_stringn(s, n);
	if (v)
		return v;
	copy = malloc(n + 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	copy[n] = '\0';
	v = json_string(copy);
	free(copy);
	return v;
}

static json_t *put_text(json_t *o, const char *key, const char *s)
{
	if (!s)
		return o;
	return put(o, key, text_value(s));
}

static json_t *put_fds(json_t *o, unsigned nfds)
{
	return nfds ? put_int(o, "fds", nfds) : o;
}

static json_t *usage_value(const struct wmsg_usage *u)
{
	return json_pack("{sfsfsIsIsb}", "user_s", u->user_s, "system_s",
	                 u->system_s, "maxrss_kb", (json_int_t)u->maxrss_kb,
	                 "maxrss_delta_kb", (json_int_t)u->maxrss_delta_kb,
	                 "peak_reset", u->peak_reset);
}

json_t *wmsg_init(const char *plugin, int plugin_fd, const json_t *options,
                  uint32_t worker, int log_level, uint64_t fd_threshold,
                  unsigned nfds)
{
	json_t *o = start(WMSG_INIT);

	o = put_text(o, "plugin", plugin);
	if (plugin_fd >= 0)
		o = put_int(o, "plugin_fd", plugin_fd);
	o = put(o, "options",
	        options ? json_deep_copy(options) : json_object());
	o = put_int(o, "worker", worker);
	o = put_int(o, "log_level", log_level);
	o = put_int(o, "fd_threshold", (int64_t)fd_threshold);
	return put_fds(o, nfds);
}

json_t *wmsg_job(int64_t job, const json_t *input, int input_fd,
                 uint64_t input_size, uint64_t timeout_ms, const char *job_id,
                 unsigned nfds)
{
	json_t *o = put_int(start(WMSG_JOB), "job", job);

	if (input_fd >= 0) {
		o = put_int(o, "input_fd", input_fd);
		o = put_int(o, "input_size", (int64_t)input_size);
	} else {
		/* The daemon keeps its reference; the message borrows. */
		o = put(o, "input",
		        input ? json_incref((json_t *)input) : json_null());
	}
	if (timeout_ms)
		o = put_int(o, "timeout_ms", (int64_t)timeout_ms);
	if (job_id)
		o = put(o, "job_id", json_string(job_id));
	return put_fds(o, nfds);
}

json_t *wmsg_cancel(int64_t job)
{
	return put_int(start(WMSG_CANCEL), "job", job);
}

json_t *wmsg_stop(void)
{
	return start(WMSG_STOP);
}

json_t *wmsg_ready(const char *name, const char *version,
                   const char *description, uint32_t flags, uint16_t abi_major,
                   uint16_t abi_minor, int64_t pid)
{
	json_t *o = put_text(start(WMSG_READY), "name", name);

	o = put_text(o, "version", version);
	o = put_text(o, "description", description);
	o = put_int(o, "flags", flags);
	o = put_int(o, "abi_major", abi_major);
	o = put_int(o, "abi_minor", abi_minor);
	return put_int(o, "pid", pid);
}

json_t *wmsg_progress(int64_t job, double fraction, const char *message)
{
	if (!(fraction >= 0.0)) /* also NaN */
		fraction = 0.0;
	else if (fraction > 1.0)
		fraction = 1.0;
	return put_text(put(put_int(start(WMSG_PROGRESS), "job", job),
	                    "fraction", json_real(fraction)),
	                "message", message);
}

json_t *wmsg_log(int level, const char *text)
{
	if (level < JOBD_LOG_ERROR)
		level = JOBD_LOG_ERROR;
	if (level > JOBD_LOG_DEBUG)
		level = JOBD_LOG_DEBUG;
	return put_text(put_int(start(WMSG_LOG), "level", level), "text",
	                text ? text : "");
}

json_t *wmsg_result(int64_t job, json_t *steal_output, int output_fd,
                    uint64_t output_size, const struct wmsg_usage *usage,
                    unsigned nfds)
{
	json_t *o = put_int(start(WMSG_RESULT), "job", job);

	if (output_fd >= 0) {
		json_decref(steal_output);
		o = put_int(o, "output_fd", output_fd);
		o = put_int(o, "output_size", (int64_t)output_size);
	} else {
		o = put(o, "output", steal_output ? steal_output : json_null());
	}
	o = put(o, "usage", usage_value(usage));
	return put_fds(o, nfds);
}

json_t *wmsg_error(int64_t job, enum jobd_error code, const char *message,
                   const struct wmsg_usage *usage)
{
	json_t *o = put_int(start(WMSG_ERROR), "job", job);

	o = put(o, "code", json_string(msg_error_name(code)));
	o = put_text(o, "message", message ? message : msg_error_name(code));
	if (usage)
		o = put(o, "usage", usage_value(usage));
	return o;
}

json_t *wmsg_init_failed(const char *stage, const char *message)
{
	return put_text(put_text(start(WMSG_INIT_FAILED), "stage", stage),
	                "message", message ? message : "no reason given");
}
