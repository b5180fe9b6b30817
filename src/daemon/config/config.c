/* SPDX-License-Identifier: MIT */
/*
 * The config schema: the keys, their types and limits, and the API the
 * daemon uses (config.h). Reading YAML is reader.c; units are units.c;
 * plugin options become JSON in yaml_json.c.
 */
#include "daemon/config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include <jansson.h>

#include "auth/trusted.h"
#include "daemon/config/access.h"
#include "daemon/config/reader.h"
#include "daemon/config/store_section.h"
#include "daemon/config/units.h"
#include "daemon/config/yaml_json.h"

/* ---- typed fields ------------------------------------------------------- */

enum field_kind {
	F_COUNT,
	F_SIZE,
	F_DURATION,
};

struct field {
	const char *key;
	enum field_kind kind;
	size_t offset;
	size_t width; /* 4 or 8: the member's size */
	uint64_t min, max;
};

#define LIMIT(k, kind, lo, hi)                                                 \
	{                                                                      \
#k, kind, offsetof(struct config_limits, k),                   \
		        sizeof(((struct config_limits *)0)->k), lo, hi         \
	}

static const struct field limit_fields[] = {
        LIMIT(max_connections, F_COUNT, 1, 1000000),
        LIMIT(max_frame_size, F_SIZE, 16, GIB),
        LIMIT(max_inflight_per_connection, F_COUNT, 1, 65536),
        {"idle_timeout", F_DURATION,
         offsetof(struct config_limits, idle_timeout_ms), 8, 0,
         DURATION_MAX_MS},
        {"frame_timeout", F_DURATION,
         offsetof(struct config_limits, frame_timeout_ms), 8, 0,
         DURATION_MAX_MS},
        LIMIT(max_output_buffer, F_SIZE, KIB, TIB),
        LIMIT(max_input_buffer, F_SIZE, KIB, TIB),
        LIMIT(max_queued_input, F_SIZE, KIB, TIB),
        LIMIT(max_array_bytes, F_SIZE, 64, 1024 * TIB),
        {"shutdown_timeout", F_DURATION,
         offsetof(struct config_limits, shutdown_timeout_ms), 8, 1,
         DURATION_MAX_MS},
        {"result_ttl", F_DURATION,
         offsetof(struct config_limits, result_ttl_ms), 8, 1, DURATION_MAX_MS},
        LIMIT(result_budget, F_SIZE, 1, 1024 * TIB),
        {NULL, F_COUNT, 0, 0, 0, 0},
};

static void store(void *base, const struct field *f, uint64_t v)
{
	char *p = (char *)base + f->offset;

	if (f->width == 4) {
		uint32_t v32 = (uint32_t)v;

		memcpy(p, &v32, 4);
	} else {
		memcpy(p, &v, 8);
	}
}

static void format_value(char *buf, size_t cap, enum field_kind kind,
                         uint64_t v)
{
	if (kind == F_SIZE)
		units_format(buf, cap, v, units_size, "0");
	else if (kind == F_DURATION)
		units_format(buf, cap, v, units_duration, "0");
	else
		snprintf(buf, cap, "%llu", (unsigned long long)v);
}

/* Reads the current event as field f's kind and checks its range. */
static int read_number(struct reader *r, enum field_kind kind, uint64_t min,
                       uint64_t max, uint64_t *out)
{
	const yaml_mark_t *mark = &r->ev.start_mark;
	char lo[32], hi[32];
	const char *s, *end;
	uint64_t v = 0;
	int rc;

	rc = reader_want_scalar(r, &s);
	if (rc < 0)
		return rc;
	switch (kind) {
	case F_COUNT:
		rc = units_parse_digits(s, &v, &end);
		if (rc == -EINVAL || (rc == 0 && *end != '\0'))
			return reader_fail(r, mark,
			                   "\"%s\" is not a whole number", s);
		break;
	case F_SIZE:
		rc = units_parse(s, units_size, 1, &v);
		if (rc == -EINVAL)
			return reader_fail(r, mark, "\"%s\" is not a size", s);
		if (rc == -ENOENT)
			return reader_fail(
			        r, mark,
			        "bad unit in \"%s\" (use B, kB, MB, GB, "
			        "TB, KiB, MiB, GiB or TiB)",
			        s);
		break;
	case F_DURATION:
		rc = units_parse(s, units_duration, SEC_MS, &v);
		if (rc == -EINVAL)
			return reader_fail(r, mark, "\"%s\" is not a duration",
			                   s);
		if (rc == -ENOENT)
			return reader_fail(
			        r, mark,
			        "bad unit in \"%s\" (use ms, s, m, h or d)", s);
		break;
	}
	if (rc == -ERANGE || v < min || v > max) {
		format_value(lo, sizeof(lo), kind, min);
		format_value(hi, sizeof(hi), kind, max);
		return reader_fail(r, mark, "%s is out of range (%s..%s)", s,
		                   lo, hi);
	}
	*out = v;
	return 0;
}

/* "host:port" or "[v6]:port"; the host may be a name, resolved later. */
static int check_listen(struct reader *r, const char *s,
                        const yaml_mark_t *mark)
{
	char host[256];
	const char *colon, *port;
	unsigned long p;
	char *end;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		struct in6_addr a6;

		if (!close)
			return reader_fail(r, mark, "\"%s\": missing ']'", s);
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return reader_fail(r, mark, "\"%s\": bad IPv6 address",
			                   s);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return reader_fail(r, mark, "\"%s\": bad IPv6 address",
			                   s);
		if (close[1] != ':')
			return reader_fail(
			        r, mark, "\"%s\": expected \":port\" after ']'",
			        s);
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return reader_fail(r, mark,
			                   "\"%s\": expected host:port", s);
		if (memchr(s, ':', (size_t)(colon - s)))
			return reader_fail(r, mark,
			                   "\"%s\": an IPv6 address must be in "
			                   "brackets, as in [::1]:7878",
			                   s);
		hl = (size_t)(colon - s);
		if (hl == 0)
			return reader_fail(r, mark, "\"%s\": missing host", s);
		if (hl >= sizeof(host))
			return reader_fail(r, mark,
			                   "\"%s\": host name too long", s);
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (host[strspn(host, "abcdefghijklmnopqrstuvwxyz"
		                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                      "0123456789.-_")] != '\0')
			return reader_fail(r, mark, "\"%s\": bad host name", s);
		if (host[strspn(host, "0123456789.")] == '\0') {
			struct in_addr a4;

			if (inet_pton(AF_INET, host, &a4) != 1)
				return reader_fail(
				        r, mark, "\"%s\": bad IPv4 address", s);
		}
		port = colon + 1;
	}
	if (*port < '0' || *port > '9' || strlen(port) > 5)
		return reader_fail(r, mark, "\"%s\": bad port (0..65535)", s);
	errno = 0;
	p = strtoul(port, &end, 10);
	if (*end != '\0' || p > 65535)
		return reader_fail(r, mark, "\"%s\": bad port (0..65535)", s);
	return 0;
}

static int check_nonempty(struct reader *r, const char *s,
                          const yaml_mark_t *mark)
{
	if (!*s)
		return reader_fail(r, mark, "empty path");
	return 0;
}

/* ---- sections ------------------------------------------------------------ */

static int limit_pair(struct reader *r, const char *key,
                      const yaml_mark_t *key_mark, void *data)
{
	struct config_limits *l = data;
	const struct field *f;
	uint64_t v;
	int rc;

	for (f = limit_fields; f->key; f++)
		if (strcmp(f->key, key) == 0)
			break;
	if (!f->key) {
		/* The table is the list of keys: suggest from it. */
		const char *best = NULL;
		unsigned best_d = 3;

		for (f = limit_fields; f->key; f++)
			reader_consider_key(key, f->key, &best, &best_d);
		return reader_fail_unknown_near(r, key_mark, best);
	}
	rc = read_number(r, f->kind, f->min, f->max, &v);
	if (rc < 0)
		return rc;
	store(l, f, v);
	return 0;
}

static const char *const plugin_keys[] = {
        "workers",      "queue_bound", "queue_delay",  "timeout",
        "max_attempts", "options",     "isolation",    "memory_limit",
        "kill_grace",   "max_crashes", "crash_window", "cache",
        NULL,
};

static const char *const cache_keys[] = {"max_bytes", NULL};

/* plugins.NAME.cache: the result cache (exec/cache.h). */
static int cache_pair(struct reader *r, const char *key,
                      const yaml_mark_t *key_mark, void *data)
{
	struct config_plugin *p = data;
	uint64_t v;
	int rc;

	if (strcmp(key, "max_bytes") != 0)
		return reader_fail_unknown_key(r, key_mark, key, cache_keys);
	rc = read_number(r, F_SIZE, 1, 1024 * TIB, &v);
	if (rc == 0)
		p->cache_max_bytes = v;
	return rc;
}

/* "process" or "thread", for the plugin key and the top-level default. */
static int read_isolation(struct reader *r, enum config_isolation *out)
{
	const char *s;
	int rc = reader_want_scalar(r, &s);

	if (rc < 0)
		return rc;
	if (strcmp(s, "process") == 0)
		*out = CONFIG_ISOLATION_PROCESS;
	else if (strcmp(s, "thread") == 0)
		*out = CONFIG_ISOLATION_THREAD;
	else
		return reader_fail(r, &r->ev.start_mark,
		                   "expected \"process\" or \"thread\", "
		                   "got \"%s\"",
		                   s);
	return 0;
}

static int plugin_pair(struct reader *r, const char *key,
                       const yaml_mark_t *key_mark, void *data)
{
	struct config_plugin *p = data;
	uint64_t v;
	json_t *j = NULL;
	int rc;

	if (strcmp(key, "workers") == 0) {
		rc = read_number(r, F_COUNT, 1, 1024, &v);
		if (rc == 0)
			p->workers = (unsigned)v;
	} else if (strcmp(key, "queue_bound") == 0) {
		if (r->ev.type == YAML_SCALAR_EVENT &&
		    strcmp((const char *)r->ev.data.scalar.value, "auto") ==
		            0) {
			p->queue_bound = CONFIG_QUEUE_BOUND_AUTO;
			return 0;
		}
		if (r->ev.type == YAML_SCALAR_EVENT &&
		    strspn((const char *)r->ev.data.scalar.value,
		           "0123456789") != r->ev.data.scalar.length &&
		    !reader_is_null(&r->ev))
			return reader_fail(
			        r, &r->ev.start_mark,
			        "expected a number or \"auto\", got \"%s\"",
			        (const char *)r->ev.data.scalar.value);
		rc = read_number(r, F_COUNT, 1, 1000000, &v);
		if (rc == 0)
			p->queue_bound = (uint32_t)v;
	} else if (strcmp(key, "queue_delay") == 0) {
		rc = read_number(r, F_DURATION, 1, 3600000, &v);
		if (rc == 0)
			p->queue_delay_ms = v;
	} else if (strcmp(key, "timeout") == 0) {
		rc = read_number(r, F_DURATION, 0, DURATION_MAX_MS, &v);
		if (rc == 0)
			p->timeout_ms = v;
	} else if (strcmp(key, "max_attempts") == 0) {
		rc = read_number(r, F_COUNT, 1, 100, &v);
		if (rc == 0)
			p->max_attempts = (unsigned)v;
	} else if (strcmp(key, "cache") == 0) {
		rc = reader_section(r, cache_pair, p);
	} else if (strcmp(key, "isolation") == 0) {
		rc = read_isolation(r, &p->isolation);
	} else if (strcmp(key, "memory_limit") == 0) {
		rc = read_number(r, F_SIZE, 0, UINT64_C(1) << 50, &v);
		if (rc == 0)
			p->memory_limit = v;
	} else if (strcmp(key, "kill_grace") == 0) {
		rc = read_number(r, F_DURATION, 0, 3600000, &v);
		if (rc == 0)
			p->kill_grace_ms = v;
	} else if (strcmp(key, "max_crashes") == 0) {
		rc = read_number(r, F_COUNT, 1, 1000000, &v);
		if (rc == 0)
			p->max_crashes = (unsigned)v;
	} else if (strcmp(key, "crash_window") == 0) {
		rc = read_number(r, F_DURATION, 1, DURATION_MAX_MS, &v);
		if (rc == 0)
			p->crash_window_ms = v;
	} else if (strcmp(key, "options") == 0) {
		rc = yaml_node_to_json(r, &j);
		if (rc == 0) {
			json_decref(p->options);
			p->options = j;
		}
	} else {
		rc = reader_fail_unknown_key(r, key_mark, key, plugin_keys);
	}
	return rc;
}

static bool valid_plugin_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void plugin_fini(struct config_plugin *p)
{
	free(p->name);
	json_decref(p->options);
}

static int plugins_pair(struct reader *r, const char *key,
                        const yaml_mark_t *key_mark, void *data)
{
	struct config *c = data;
	struct config_plugin p, *np;
	int rc;

	/* for_each_pair already refused a repeated name in this mapping. */
	if (!valid_plugin_name(key))
		return reader_fail(
		        r, key_mark,
		        "bad plugin name (1 to 64 of a-z, 0-9, '_', '-')");
	config_plugin_defaults(&p);
	p.name = strdup(key);
	p.options = json_object();
	if (!p.name || !p.options) {
		plugin_fini(&p);
		return reader_fail_nomem(r);
	}
	rc = reader_section(r, plugin_pair, &p);
	if (rc < 0) {
		plugin_fini(&p);
		return rc;
	}
	np = realloc(c->plugins, (c->n_plugins + 1) * sizeof(*np));
	if (!np) {
		plugin_fini(&p);
		return reader_fail_nomem(r);
	}
	c->plugins = np;
	c->plugins[c->n_plugins++] = p;
	return 0;
}

static int read_plugins(struct reader *r, struct config *c)
{
	if (reader_is_null(&r->ev))
		return 0;
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return reader_fail(r, &r->ev.start_mark,
		                   "expected a mapping of plugin names, got %s",
		                   reader_event_kind(&r->ev));
	return reader_for_each_pair(r, "plugin section", plugins_pair, c);
}

static const char *const http_keys[] = {
        "listen", "max_header_size", "header_timeout", "web_dir", NULL,
};

static int http_pair(struct reader *r, const char *key,
                     const yaml_mark_t *key_mark, void *data)
{
	struct config_http *h = data;
	const char *s;
	uint64_t v;
	char *d;
	int rc;

	if (strcmp(key, "listen") == 0)
		return reader_string_list(r, &h->listen, &h->n_listen,
		                          check_listen);
	if (strcmp(key, "max_header_size") == 0) {
		rc = read_number(r, F_SIZE, 1024, 1024 * 1024, &v);
		if (rc == 0)
			h->max_header_size = (uint32_t)v;
		return rc;
	}
	if (strcmp(key, "header_timeout") == 0) {
		rc = read_number(r, F_DURATION, 1, DURATION_MAX_MS, &v);
		if (rc == 0)
			h->header_timeout_ms = v;
		return rc;
	}
	if (strcmp(key, "web_dir") == 0) {
		rc = reader_want_scalar(r, &s);
		if (rc < 0)
			return rc;
		if (!*s)
			return reader_fail(r, &r->ev.start_mark, "empty path");
		d = strdup(s);
		if (!d)
			return reader_fail_nomem(r);
		free(h->web_dir);
		h->web_dir = d;
		return 0;
	}
	return reader_fail_unknown_key(r, key_mark, key, http_keys);
}

static const char *const top_keys[] = {
        "listen",    "plugin_dirs",
        "state_dir", "log_level",
        "limits",    "http",
        "plugins",   "store",
        "isolation", "plugin_strict_modes",
        "auth",      "allow_unauthenticated",
        NULL,
};

/* true or false, as YAML 1.2's core schema spells them. */
static int read_bool(struct reader *r, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE"};
	static const char *const no[] = {"false", "False", "FALSE"};
	const char *s;
	size_t i;
	int rc;

	rc = reader_want_scalar(r, &s);
	if (rc < 0)
		return rc;
	for (i = 0; i < 3; i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*out = !strcmp(s, yes[i]);
			return 0;
		}
	}
	return reader_fail(r, &r->ev.start_mark,
	                   "\"%s\" is not a boolean (use true or false)", s);
}

static int top_pair(struct reader *r, const char *key,
                    const yaml_mark_t *key_mark, void *data)
{
	struct config *c = data;
	const char *s;
	char *d;
	int rc, level;

	if (strcmp(key, "listen") == 0)
		return config_read_listen(r, c, check_listen);
	if (strcmp(key, "auth") == 0)
		return config_read_auth(r, c);
	if (strcmp(key, "allow_unauthenticated") == 0)
		return read_bool(r, &c->allow_unauthenticated);
	if (strcmp(key, "plugin_dirs") == 0)
		return reader_string_list(r, &c->plugin_dirs, &c->n_plugin_dirs,
		                          check_nonempty);
	if (strcmp(key, "state_dir") == 0) {
		rc = reader_want_scalar(r, &s);
		if (rc < 0)
			return rc;
		if (!*s)
			return reader_fail(r, &r->ev.start_mark, "empty path");
		d = strdup(s);
		if (!d)
			return reader_fail_nomem(r);
		free(c->state_dir);
		c->state_dir = d;
		return 0;
	}
	if (strcmp(key, "log_level") == 0) {
		rc = reader_want_scalar(r, &s);
		if (rc < 0)
			return rc;
		level = config_log_level_from_name(s);
		if (level < 0)
			return reader_fail(
			        r, &r->ev.start_mark,
			        "unknown level \"%s\" (use error, warning, "
			        "notice, info or debug)",
			        s);
		c->log_level = level;
		return 0;
	}
	if (strcmp(key, "isolation") == 0)
		return read_isolation(r, &c->isolation);
	if (strcmp(key, "plugin_strict_modes") == 0)
		return read_bool(r, &c->plugin_strict_modes);
	if (strcmp(key, "limits") == 0)
		return reader_section(r, limit_pair, &c->limits);
	if (strcmp(key, "http") == 0)
		return reader_section(r, http_pair, &c->http);
	if (strcmp(key, "plugins") == 0)
		return read_plugins(r, c);
	if (strcmp(key, "store") == 0)
		return store_section_read(r, key_mark, &c->store);
	return reader_fail_unknown_key(r, key_mark, key, top_keys);
}

/* stream-start, at most one document whose root is a mapping (or empty). */
static int read_stream(struct reader *r, struct config *c)
{
	int rc;

	rc = reader_next(r);
	if (rc < 0)
		return rc;
	rc = reader_next(r);
	if (rc < 0 || r->ev.type == YAML_STREAM_END_EVENT)
		return rc;
	rc = reader_next(r); /* the root node */
	if (rc < 0)
		return rc;
	if (r->ev.type == YAML_MAPPING_START_EVENT)
		rc = reader_for_each_pair(r, "key", top_pair, c);
	else if (!reader_is_null(&r->ev))
		rc = reader_fail(r, &r->ev.start_mark,
		                 "expected a mapping, got %s",
		                 reader_event_kind(&r->ev));
	if (rc < 0)
		return rc;
	rc = reader_next(r); /* document end */
	if (rc < 0)
		return rc;
	rc = reader_next(r);
	if (rc < 0)
		return rc;
	if (r->ev.type != YAML_STREAM_END_EVENT)
		return reader_fail(r, &r->ev.start_mark,
		                   "only one YAML document is allowed");
	return 0;
}

/* ---- public API ------------------------------------------------------------
 */

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	if (n > 1024)
		return 1024;
	return (unsigned)n;
}

void config_plugin_defaults(struct config_plugin *p)
{
	p->workers = online_cpus();
	p->queue_bound = CONFIG_QUEUE_BOUND_AUTO;
	p->timeout_ms = 0;
	p->max_attempts = 3;
	p->queue_delay_ms = 1000;
	p->cache_max_bytes = 0;
	p->isolation = CONFIG_ISOLATION_UNSET;
	p->memory_limit = 0;
	p->kill_grace_ms = 5000;
	p->max_crashes = 5;
	p->crash_window_ms = 60000;
	p->options = NULL;
}

int config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->state_dir = strdup("/var/lib/jobd");
	if (!c->state_dir)
		return -ENOMEM;
	c->log_level = 6;
	c->isolation = CONFIG_ISOLATION_THREAD;
	c->plugin_strict_modes = true;
	c->limits.max_connections = 10000;
	c->limits.max_frame_size = 16 * MIB;
	c->limits.max_inflight_per_connection = 256;
	c->limits.idle_timeout_ms = 5 * MIN_MS;
	c->limits.frame_timeout_ms = 30 * SEC_MS;
	c->limits.max_output_buffer = 64 * MIB;
	c->limits.max_input_buffer = GIB;
	c->limits.max_queued_input = GIB;
	c->limits.max_array_bytes = GIB;
	c->limits.shutdown_timeout_ms = 30 * SEC_MS;
	c->limits.result_ttl_ms = 7 * DAY_MS;
	c->limits.result_budget = GIB;
	c->http.max_header_size = 16 * KIB;
	c->http.header_timeout_ms = 10 * SEC_MS;
	store_section_defaults(&c->store);
	return 0;
}

void config_fini(struct config *c)
{
	size_t i;

	if (!c)
		return;
	free(c->path);
	for (i = 0; i < c->n_listen; i++) {
		free(c->listen[i]);
		if (c->listen_opts)
			config_listen_fini(&c->listen_opts[i]);
	}
	free(c->listen);
	free(c->listen_opts);
	free(c->users_file);
	for (i = 0; i < c->n_plugin_dirs; i++)
		free(c->plugin_dirs[i]);
	free(c->plugin_dirs);
	free(c->state_dir);
	for (i = 0; i < c->http.n_listen; i++)
		free(c->http.listen[i]);
	free(c->http.listen);
	free(c->http.web_dir);
	for (i = 0; i < c->n_plugins; i++)
		plugin_fini(&c->plugins[i]);
	free(c->plugins);
	store_section_fini(&c->store);
	memset(c, 0, sizeof(*c));
}

void config_free(struct config *c)
{
	config_fini(c);
	free(c);
}

int config_parse(const char *text, size_t len, const char *name,
                 struct config **out, char **error)
{
	struct reader r;
	struct config *c;
	int rc;

	*out = NULL;
	if (error)
		*error = NULL;
	memset(&r, 0, sizeof(r));
	r.name = name ? name : "<config>";
	r.text = text;
	r.len = len;

	c = calloc(1, sizeof(*c));
	if (!c || config_defaults(c) < 0 || !(c->path = strdup(r.name))) {
		config_free(c);
		if (error)
			*error = strdup("out of memory");
		return -ENOMEM;
	}
	if (!yaml_parser_initialize(&r.yp)) {
		config_free(c);
		if (error)
			*error = strdup("out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&r.yp, (const unsigned char *)text, len);
	rc = read_stream(&r, c);
	if (rc == 0) {
		rc = config_check_access(c, r.name, &r.error);
		if (rc < 0 && !r.error)
			rc = -ENOMEM;
	}
	if (r.have_ev)
		yaml_event_delete(&r.ev);
	yaml_parser_delete(&r.yp);
	if (rc < 0) {
		config_free(c);
		if (error)
			*error = r.error;
		else
			free(r.error);
		return rc;
	}
	*out = c;
	return 0;
}

int config_load(const char *path, struct config **out, char **error)
{
	char *text = NULL, *why = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (error)
		*error = NULL;
	/* Whoever can write the config can name the plugin directories:
	 * it is read only if only the administrator can change it
	 * (docs/security.md, "Trusted files"). */
	rc = trusted_read(path, 0, MAX_FILE_SIZE, &text, &len, &why);
	if (rc < 0) {
		if (error && (rc == -EPERM || rc == -EFBIG) && why) {
			*error = why;
			why = NULL;
		} else if (error &&
		           asprintf(error, "%s: %s", path, strerror(-rc)) < 0) {
			*error = NULL;
		}
		free(why);
		return rc;
	}
	rc = config_parse(text, len, path, out, error);
	free(text);
	return rc;
}

const struct config_plugin *config_plugin_find(const struct config *c,
                                               const char *name)
{
	size_t i;

	for (i = 0; i < c->n_plugins; i++)
		if (strcmp(c->plugins[i].name, name) == 0)
			return &c->plugins[i];
	return NULL;
}

static const char *const level_names[] = {
        [3] = "error", [4] = "warning", [5] = "notice",
        [6] = "info",  [7] = "debug",
};

int config_log_level_from_name(const char *name)
{
	int i;

	for (i = 3; i <= 7; i++)
		if (strcmp(level_names[i], name) == 0)
			return i;
	return -1;
}

const char *config_log_level_name(int level)
{
	if (level < 3 || level > 7)
		return NULL;
	return level_names[level];
}
