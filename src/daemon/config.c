/* SPDX-License-Identifier: MIT */
/*
 * YAML configuration loader.
 *
 * Built on libyaml's event API as a recursive-descent reader: each event is
 * consumed once, so every error can point at the mark of the node that
 * caused it, aliases are seen (and refused) where they occur instead of being
 * silently expanded, and plain scalars can be told from quoted ones when
 * plugin options are turned into JSON (YAML 1.2 core schema).
 *
 * The first error stops the parse; its message is kept in struct reader and
 * returned as one line "file:line:column: key: what is wrong".
 */
#include "daemon/config.h"

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

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)

#define SEC_MS  1000ull
#define MIN_MS  (60ull * SEC_MS)
#define HOUR_MS (60ull * MIN_MS)
#define DAY_MS  (24ull * HOUR_MS)

/* Longest duration anyone can mean; keeps now + timeout far from overflow. */
#define DURATION_MAX_MS (3650ull * DAY_MS)

/* Bounds options: nesting, which an adversarial file could make deep enough
 * to exhaust the stack. */
#define MAX_DEPTH 64

/* Refuse absurd files before reading them into memory. */
#define MAX_FILE_SIZE (16ull * MIB)

#define PATH_CAP 512

struct reader {
	yaml_parser_t yp;
	yaml_event_t ev; /* the current event, valid while have_ev */
	bool have_ev;
	const char *name;
	const char *text;
	size_t len;
	char *error; /* first error, malloc'd */
	int rc;
	char path[PATH_CAP]; /* dotted key of the node being read */
	size_t path_len;
	int depth;
};

/* ---- small helpers ----------------------------------------------------- */

static char *xstrndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static size_t path_push(struct reader *r, const char *key)
{
	size_t old = r->path_len;
	int n;

	n = snprintf(r->path + old, PATH_CAP - old, "%s%s", old ? "." : "",
	             *key ? key : "\"\"");
	if (n < 0 || (size_t)n >= PATH_CAP - old)
		r->path_len = PATH_CAP - 1;
	else
		r->path_len = old + (size_t)n;
	return old;
}

static size_t path_push_index(struct reader *r, size_t i)
{
	size_t old = r->path_len;
	int n;

	n = snprintf(r->path + old, PATH_CAP - old, "[%zu]", i);
	if (n < 0 || (size_t)n >= PATH_CAP - old)
		r->path_len = PATH_CAP - 1;
	else
		r->path_len = old + (size_t)n;
	return old;
}

static void path_pop(struct reader *r, size_t old)
{
	r->path_len = old;
	r->path[old] = '\0';
}

static void set_error_str(struct reader *r, int rc, char *msg)
{
	char *p;

	if (r->error) {
		free(msg);
		return;
	}
	/* Errors quote values, and a quoted YAML scalar may hold newlines
	 * or escapes: the message stays one line, and forges no log line. */
	for (p = msg; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	r->error = msg;
	r->rc = rc;
}

/* Records the first error at mark, prefixed with the current key path. */
__attribute__((format(printf, 3, 4))) static int
fail(struct reader *r, const yaml_mark_t *mark, const char *fmt, ...)
{
	char what[512];
	char *msg = NULL;
	va_list ap;

	if (r->error)
		return r->rc;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (asprintf(&msg, "%s:%zu:%zu: %s: %s", r->name, mark->line + 1,
	             mark->column + 1, r->path_len ? r->path : "(top level)",
	             what) < 0)
		msg = NULL;
	set_error_str(r, -EINVAL, msg);
	if (!msg)
		r->rc = -ENOMEM;
	return r->rc;
}

static int fail_nomem(struct reader *r)
{
	if (!r->error) {
		r->error = strdup("out of memory");
		r->rc = -ENOMEM;
	}
	return r->rc;
}

/* Reader errors carry a byte offset, not a mark: turn it into line:col. */
static void offset_to_mark(const struct reader *r, size_t off, yaml_mark_t *m)
{
	size_t i;

	m->index = off;
	m->line = 0;
	m->column = 0;
	for (i = 0; i < off && i < r->len; i++) {
		if (r->text[i] == '\n') {
			m->line++;
			m->column = 0;
		} else {
			m->column++;
		}
	}
}

static int fail_yaml(struct reader *r)
{
	const yaml_parser_t *yp = &r->yp;
	yaml_mark_t mark = yp->problem_mark;
	char *msg = NULL;
	int n;

	if (r->error)
		return r->rc;
	if (yp->error == YAML_MEMORY_ERROR)
		return fail_nomem(r);
	if (yp->error == YAML_READER_ERROR)
		offset_to_mark(r, yp->problem_offset, &mark);
	if (yp->context)
		n = asprintf(&msg,
		             "%s:%zu:%zu: invalid YAML: %s (%s at line %zu, "
		             "column %zu)",
		             r->name, mark.line + 1, mark.column + 1,
		             yp->problem ? yp->problem : "error", yp->context,
		             yp->context_mark.line + 1,
		             yp->context_mark.column + 1);
	else
		n = asprintf(&msg, "%s:%zu:%zu: invalid YAML: %s", r->name,
		             mark.line + 1, mark.column + 1,
		             yp->problem ? yp->problem : "error");
	if (n < 0)
		return fail_nomem(r);
	set_error_str(r, -EINVAL, msg);
	return r->rc;
}

/* Advances to the next event. Aliases are refused here, wherever they are:
 * expanding them could turn a small file into a huge options object. */
static int next(struct reader *r)
{
	if (r->have_ev) {
		yaml_event_delete(&r->ev);
		r->have_ev = false;
	}
	if (!yaml_parser_parse(&r->yp, &r->ev))
		return fail_yaml(r);
	r->have_ev = true;
	if (r->ev.type == YAML_ALIAS_EVENT)
		return fail(r, &r->ev.start_mark,
		            "aliases (*%s) are not supported",
		            (const char *)r->ev.data.alias.anchor);
	return 0;
}

static const char *event_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return "a scalar";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	default:
		return "something else";
	}
}

static bool is_plain(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT &&
	       ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       !ev->data.scalar.tag;
}

static bool is_null_text(const char *s, size_t n)
{
	return n == 0 || (n == 1 && s[0] == '~') ||
	       (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
	                   !memcmp(s, "NULL", 4)));
}

/* A plain scalar that YAML's core schema reads as null. */
static bool is_null(const yaml_event_t *ev)
{
	return is_plain(ev) && is_null_text((const char *)ev->data.scalar.value,
	                                    ev->data.scalar.length);
}

/* The current event as a NUL-free C string; the error names the key. */
static int want_scalar(struct reader *r, const char **s)
{
	const yaml_event_t *ev = &r->ev;

	if (ev->type != YAML_SCALAR_EVENT)
		return fail(r, &ev->start_mark, "expected a scalar, got %s",
		            event_kind(ev));
	if (is_null(ev))
		return fail(r, &ev->start_mark, "missing value");
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
		return fail(r, &ev->start_mark, "contains a NUL byte");
	*s = (const char *)ev->data.scalar.value;
	return 0;
}

/* Optimal string alignment distance, for "did you mean" hints. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned d[3][66];
	size_t la = strlen(a), lb = strlen(b);
	size_t i, j;

	if (la > 64 || lb > 64)
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		unsigned *cur = d[i % 3], *prev = d[(i - 1) % 3];
		unsigned *prev2 = d[(i + 1) % 3];

		cur[0] = (unsigned)i;
		for (j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return d[la % 3][lb];
}

/* A near miss (fewer than 3 edits) for the "did you mean": keeps cand in
 * *best if it is closer to key than what *best_d says. */
static void consider_key(const char *key, const char *cand, const char **best,
                         unsigned *best_d)
{
	unsigned d = edit_distance(key, cand);

	if (d < *best_d) {
		*best_d = d;
		*best = cand;
	}
}

static int fail_unknown_near(struct reader *r, const yaml_mark_t *mark,
                             const char *best)
{
	if (best)
		return fail(r, mark, "unknown key; did you mean \"%s\"?", best);
	return fail(r, mark, "unknown key");
}

static int fail_unknown_key(struct reader *r, const yaml_mark_t *mark,
                            const char *key, const char *const *known)
{
	const char *best = NULL;
	unsigned best_d = 3;
	size_t i;

	for (i = 0; known[i]; i++)
		consider_key(key, known[i], &best, &best_d);
	return fail_unknown_near(r, mark, best);
}

/* ---- numbers, sizes, durations ----------------------------------------- */

/* Leading decimal digits of s into *v; *end past them. -EINVAL if none. */
static int parse_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*v = n;
	*end = p;
	return 0;
}

struct unit {
	const char *name;
	uint64_t factor;
};

static const struct unit duration_units[] = {
        {"ms", 1},      {"s", SEC_MS}, {"m", MIN_MS},
        {"h", HOUR_MS}, {"d", DAY_MS}, {NULL, 0},
};

static const struct unit size_units[] = {
        {"B", 1},
        {"kB", 1000ull},
        {"MB", 1000000ull},
        {"GB", 1000000000ull},
        {"TB", 1000000000000ull},
        {"KiB", KIB},
        {"MiB", MIB},
        {"GiB", GIB},
        {"TiB", TIB},
        {NULL, 0},
};

/* 0, -EINVAL (not a number), -ERANGE (overflow) or -ENOENT (bad unit). */
static int parse_with_unit(const char *s, const struct unit *units,
                           uint64_t bare, uint64_t *out)
{
	const char *end;
	uint64_t v;
	size_t i;
	int rc;

	rc = parse_digits(s, &v, &end);
	if (rc < 0)
		return rc;
	while (*end == ' ')
		end++;
	if (*end == '\0') {
		if (v > UINT64_MAX / bare)
			return -ERANGE;
		*out = v * bare;
		return 0;
	}
	for (i = 0; units[i].name; i++) {
		if (strcmp(end, units[i].name) == 0) {
			if (v > UINT64_MAX / units[i].factor)
				return -ERANGE;
			*out = v * units[i].factor;
			return 0;
		}
	}
	return -ENOENT;
}

int config_parse_duration(const char *s, uint64_t *ms)
{
	int rc = parse_with_unit(s, duration_units, SEC_MS, ms);

	return rc == -ENOENT ? -EINVAL : rc;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
	int rc = parse_with_unit(s, size_units, 1, bytes);

	return rc == -ENOENT ? -EINVAL : rc;
}

/* Renders n with the largest unit that divides it, for range messages. */
static void format_with_unit(char *buf, size_t cap, uint64_t n,
                             const struct unit *units, const char *zero)
{
	const struct unit *best = &units[0];
	size_t i;

	if (n == 0) {
		snprintf(buf, cap, "%s", zero);
		return;
	}
	for (i = 0; units[i].name; i++) {
		/* Only binary size units: a decimal one would read oddly here.
		 */
		if (units == size_units && units[i].factor % 1024 &&
		    units[i].factor != 1)
			continue;
		if (n % units[i].factor == 0 && units[i].factor >= best->factor)
			best = &units[i];
	}
	snprintf(buf, cap, "%llu%s", (unsigned long long)(n / best->factor),
	         best->name);
}

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
		format_with_unit(buf, cap, v, size_units, "0");
	else if (kind == F_DURATION)
		format_with_unit(buf, cap, v, duration_units, "0");
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

	rc = want_scalar(r, &s);
	if (rc < 0)
		return rc;
	switch (kind) {
	case F_COUNT:
		rc = parse_digits(s, &v, &end);
		if (rc == -EINVAL || (rc == 0 && *end != '\0'))
			return fail(r, mark, "\"%s\" is not a whole number", s);
		break;
	case F_SIZE:
		rc = parse_with_unit(s, size_units, 1, &v);
		if (rc == -EINVAL)
			return fail(r, mark, "\"%s\" is not a size", s);
		if (rc == -ENOENT)
			return fail(r, mark,
			            "bad unit in \"%s\" (use B, kB, MB, GB, "
			            "TB, KiB, MiB, GiB or TiB)",
			            s);
		break;
	case F_DURATION:
		rc = parse_with_unit(s, duration_units, SEC_MS, &v);
		if (rc == -EINVAL)
			return fail(r, mark, "\"%s\" is not a duration", s);
		if (rc == -ENOENT)
			return fail(r, mark,
			            "bad unit in \"%s\" (use ms, s, m, h or d)",
			            s);
		break;
	}
	if (rc == -ERANGE || v < min || v > max) {
		format_value(lo, sizeof(lo), kind, min);
		format_value(hi, sizeof(hi), kind, max);
		return fail(r, mark, "%s is out of range (%s..%s)", s, lo, hi);
	}
	*out = v;
	return 0;
}

/* ---- mappings ----------------------------------------------------------- */

/*
 * Calls fn for each key/value pair of the mapping whose start is the current
 * event. fn sees the value as the current event and must consume exactly
 * that node. Keys must be scalars; duplicates are refused.
 */
typedef int (*pair_fn)(struct reader *r, const char *key,
                       const yaml_mark_t *key_mark, void *data);

struct seen_key {
	char *key;
	size_t line;
};

static int for_each_pair(struct reader *r, const char *dup_what, pair_fn fn,
                         void *data)
{
	struct seen_key *seen = NULL;
	size_t n_seen = 0, i;
	yaml_mark_t key_mark;
	char *key = NULL;
	size_t old;
	int rc;

	for (;;) {
		rc = next(r);
		if (rc < 0)
			goto out;
		if (r->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (r->ev.type != YAML_SCALAR_EVENT) {
			rc = fail(r, &r->ev.start_mark,
			          "keys must be scalars, not %s",
			          event_kind(&r->ev));
			goto out;
		}
		key_mark = r->ev.start_mark;
		if (memchr(r->ev.data.scalar.value, '\0',
		           r->ev.data.scalar.length)) {
			rc = fail(r, &key_mark, "key contains a NUL byte");
			goto out;
		}
		key = xstrndup((const char *)r->ev.data.scalar.value,
		               r->ev.data.scalar.length);
		if (!key) {
			rc = fail_nomem(r);
			goto out;
		}
		old = path_push(r, key);
		for (i = 0; i < n_seen; i++) {
			if (strcmp(seen[i].key, key) == 0) {
				rc = fail(r, &key_mark,
				          "duplicate %s (first at line %zu)",
				          dup_what, seen[i].line);
				goto out;
			}
		}
		if (n_seen % 16 == 0) {
			struct seen_key *ns =
			        realloc(seen, (n_seen + 16) * sizeof(*seen));

			if (!ns) {
				rc = fail_nomem(r);
				goto out;
			}
			seen = ns;
		}
		seen[n_seen].key = key;
		seen[n_seen].line = key_mark.line + 1;
		n_seen++;
		key = NULL;

		rc = next(r);
		if (rc < 0)
			goto out;
		rc = fn(r, seen[n_seen - 1].key, &key_mark, data);
		if (rc < 0)
			goto out;
		path_pop(r, old);
	}
	rc = 0;
out:
	free(key);
	for (i = 0; i < n_seen; i++)
		free(seen[i].key);
	free(seen);
	return rc;
}

/* The current event must start a mapping (or be null: an empty section). */
static int read_section(struct reader *r, pair_fn fn, void *data)
{
	if (is_null(&r->ev))
		return 0;
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return fail(r, &r->ev.start_mark, "expected a mapping, got %s",
		            event_kind(&r->ev));
	return for_each_pair(r, "key", fn, data);
}

/* ---- options: any YAML to JSON ------------------------------------------ */

static bool match_re_int(const char *s, size_t n, int base)
{
	size_t i = 0;

	if (base == 10 && i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	if (i == n)
		return false;
	for (; i < n; i++) {
		char c = s[i];
		bool ok = base == 16 ? (c >= '0' && c <= '9') ||
		                               (c >= 'a' && c <= 'f') ||
		                               (c >= 'A' && c <= 'F')
		          : base == 8 ? c >= '0' && c <= '7'
		                      : c >= '0' && c <= '9';
		if (!ok)
			return false;
	}
	return true;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool match_re_float(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		if (i == n)
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

static bool is_inf_or_nan(const char *s, size_t n)
{
	static const char *const words[] = {".inf", ".Inf", ".INF", ".nan",
	                                    ".NaN", ".NAN", NULL};
	size_t i;

	if (n > 1 && (s[0] == '-' || s[0] == '+') && s[1] == '.') {
		s++;
		n--;
	}
	for (i = 0; words[i]; i++)
		if (strlen(words[i]) == n && memcmp(s, words[i], n) == 0)
			return true;
	return false;
}

/* A scalar as JSON: plain ones by the YAML 1.2 core schema, others as
 * strings. An explicit !!str tag keeps a plain scalar a string. */
static int scalar_to_json(struct reader *r, json_t **out)
{
	const yaml_event_t *ev = &r->ev;
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	char buf[128], *end;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

	if (tag && strcmp(tag, YAML_STR_TAG) != 0 &&
	    strcmp(tag, YAML_INT_TAG) != 0 &&
	    strcmp(tag, YAML_FLOAT_TAG) != 0 &&
	    strcmp(tag, YAML_BOOL_TAG) != 0 &&
	    strcmp(tag, YAML_NULL_TAG) != 0 && strcmp(tag, "!") != 0)
		return fail(r, &ev->start_mark, "unsupported tag %s", tag);
	if (tag && (strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, "!") == 0))
		plain = false;

	if (plain) {
		if (is_null_text(s, n)) {
			*out = json_null();
			return 0;
		}
		if ((n == 4 &&
		     (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) ||
		      !memcmp(s, "TRUE", 4)))) {
			*out = json_true();
			return 0;
		}
		if ((n == 5 &&
		     (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) ||
		      !memcmp(s, "FALSE", 5)))) {
			*out = json_false();
			return 0;
		}
		if (is_inf_or_nan(s, n))
			return fail(r, &ev->start_mark,
			            "%.*s cannot be represented in JSON",
			            (int)n, s);
		if (n < sizeof(buf) && (match_re_int(s, n, 10) ||
		                        (n > 2 && s[0] == '0' && s[1] == 'o' &&
		                         match_re_int(s + 2, n - 2, 8)) ||
		                        (n > 2 && s[0] == '0' && s[1] == 'x' &&
		                         match_re_int(s + 2, n - 2, 16)))) {
			long long v;
			int base = 10;
			const char *digits = buf;

			memcpy(buf, s, n);
			buf[n] = '\0';
			if (s[0] == '0' && n > 2 && s[1] == 'o')
				base = 8, digits = buf + 2;
			else if (s[0] == '0' && n > 2 && s[1] == 'x')
				base = 16, digits = buf + 2;
			errno = 0;
			v = strtoll(digits, &end, base);
			if (errno == ERANGE)
				return fail(r, &ev->start_mark,
				            "integer %s is out of range", buf);
			*out = json_integer(v);
			return *out ? 0 : fail_nomem(r);
		}
		if (n < sizeof(buf) && match_re_float(s, n)) {
			double d;

			memcpy(buf, s, n);
			buf[n] = '\0';
			errno = 0;
			d = strtod(buf, &end);
			if (errno == ERANGE && (d > 1 || d < -1))
				return fail(r, &ev->start_mark,
				            "number %s is out of range", buf);
			*out = json_real(d);
			return *out ? 0 : fail_nomem(r);
		}
	}
	*out = json_stringn(s, n);
	if (!*out)
		return fail(r, &ev->start_mark, "string is not valid UTF-8");
	return 0;
}

static int node_to_json(struct reader *r, json_t **out);

static int json_pair(struct reader *r, const char *key,
                     const yaml_mark_t *key_mark, void *data)
{
	json_t *obj = data, *v = NULL;
	int rc;

	rc = node_to_json(r, &v);
	if (rc < 0)
		return rc;
	if (json_object_set_new(obj, key, v) < 0)
		return fail(r, key_mark, "key is not valid UTF-8");
	return 0;
}

/* The node at the current event as JSON; *out is new on success. */
static int node_to_json(struct reader *r, json_t **out)
{
	json_t *v = NULL;
	size_t i = 0, old;
	int rc = 0;

	if (r->depth >= MAX_DEPTH)
		return fail(r, &r->ev.start_mark,
		            "nested more than %d levels deep", MAX_DEPTH);
	r->depth++;
	switch (r->ev.type) {
	case YAML_SCALAR_EVENT:
		rc = scalar_to_json(r, &v);
		break;
	case YAML_MAPPING_START_EVENT:
		v = json_object();
		if (!v) {
			rc = fail_nomem(r);
			break;
		}
		rc = for_each_pair(r, "key", json_pair, v);
		break;
	case YAML_SEQUENCE_START_EVENT:
		v = json_array();
		if (!v) {
			rc = fail_nomem(r);
			break;
		}
		for (;;) {
			json_t *item = NULL;

			rc = next(r);
			if (rc < 0 || r->ev.type == YAML_SEQUENCE_END_EVENT)
				break;
			old = path_push_index(r, i++);
			rc = node_to_json(r, &item);
			if (rc < 0)
				break;
			path_pop(r, old);
			if (json_array_append_new(v, item) < 0) {
				rc = fail_nomem(r);
				break;
			}
		}
		break;
	default:
		rc = fail(r, &r->ev.start_mark, "unexpected YAML event");
		break;
	}
	r->depth--;
	if (rc < 0) {
		json_decref(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* ---- lists of strings ---------------------------------------------------- */

typedef int (*check_fn)(struct reader *r, const char *s,
                        const yaml_mark_t *mark);

static int list_append(char ***list, size_t *n, const char *s)
{
	char **nl = realloc(*list, (*n + 1) * sizeof(**list));

	if (!nl)
		return -ENOMEM;
	*list = nl;
	nl[*n] = strdup(s);
	if (!nl[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int read_one_string(struct reader *r, char ***list, size_t *n,
                           check_fn check)
{
	const yaml_mark_t *mark = &r->ev.start_mark;
	const char *s;
	size_t i;
	int rc;

	rc = want_scalar(r, &s);
	if (rc < 0)
		return rc;
	if (check) {
		rc = check(r, s, mark);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i], s) == 0)
			return fail(r, mark, "\"%s\" is listed twice", s);
	if (list_append(list, n, s) < 0)
		return fail_nomem(r);
	return 0;
}

/* A sequence of strings, or one string, or null for none. Replaces *list. */
static int read_string_list(struct reader *r, char ***list, size_t *n,
                            check_fn check)
{
	size_t i = 0, old;
	int rc;

	if (is_null(&r->ev))
		return 0;
	if (r->ev.type == YAML_SCALAR_EVENT)
		return read_one_string(r, list, n, check);
	if (r->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(r, &r->ev.start_mark,
		            "expected a list of strings, got %s",
		            event_kind(&r->ev));
	for (;;) {
		rc = next(r);
		if (rc < 0)
			return rc;
		if (r->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		old = path_push_index(r, i++);
		rc = read_one_string(r, list, n, check);
		if (rc < 0)
			return rc;
		path_pop(r, old);
	}
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
			return fail(r, mark, "\"%s\": missing ']'", s);
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return fail(r, mark, "\"%s\": bad IPv6 address", s);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return fail(r, mark, "\"%s\": bad IPv6 address", s);
		if (close[1] != ':')
			return fail(r, mark,
			            "\"%s\": expected \":port\" after ']'", s);
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return fail(r, mark, "\"%s\": expected host:port", s);
		if (memchr(s, ':', (size_t)(colon - s)))
			return fail(r, mark,
			            "\"%s\": an IPv6 address must be in "
			            "brackets, as in [::1]:7878",
			            s);
		hl = (size_t)(colon - s);
		if (hl == 0)
			return fail(r, mark, "\"%s\": missing host", s);
		if (hl >= sizeof(host))
			return fail(r, mark, "\"%s\": host name too long", s);
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (host[strspn(host, "abcdefghijklmnopqrstuvwxyz"
		                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                      "0123456789.-_")] != '\0')
			return fail(r, mark, "\"%s\": bad host name", s);
		if (host[strspn(host, "0123456789.")] == '\0') {
			struct in_addr a4;

			if (inet_pton(AF_INET, host, &a4) != 1)
				return fail(r, mark, "\"%s\": bad IPv4 address",
				            s);
		}
		port = colon + 1;
	}
	if (*port < '0' || *port > '9' || strlen(port) > 5)
		return fail(r, mark, "\"%s\": bad port (0..65535)", s);
	errno = 0;
	p = strtoul(port, &end, 10);
	if (*end != '\0' || p > 65535)
		return fail(r, mark, "\"%s\": bad port (0..65535)", s);
	return 0;
}

static int check_nonempty(struct reader *r, const char *s,
                          const yaml_mark_t *mark)
{
	if (!*s)
		return fail(r, mark, "empty path");
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
			consider_key(key, f->key, &best, &best_d);
		return fail_unknown_near(r, key_mark, best);
	}
	rc = read_number(r, f->kind, f->min, f->max, &v);
	if (rc < 0)
		return rc;
	store(l, f, v);
	return 0;
}

static const char *const plugin_keys[] = {
        "workers",      "queue_bound", "queue_delay", "timeout",
        "max_attempts", "options",     NULL,
};

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
		    !is_null(&r->ev))
			return fail(r, &r->ev.start_mark,
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
	} else if (strcmp(key, "options") == 0) {
		rc = node_to_json(r, &j);
		if (rc == 0) {
			json_decref(p->options);
			p->options = j;
		}
	} else {
		rc = fail_unknown_key(r, key_mark, key, plugin_keys);
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
		return fail(r, key_mark,
		            "bad plugin name (1 to 64 of a-z, 0-9, '_', '-')");
	config_plugin_defaults(&p);
	p.name = strdup(key);
	p.options = json_object();
	if (!p.name || !p.options) {
		plugin_fini(&p);
		return fail_nomem(r);
	}
	rc = read_section(r, plugin_pair, &p);
	if (rc < 0) {
		plugin_fini(&p);
		return rc;
	}
	np = realloc(c->plugins, (c->n_plugins + 1) * sizeof(*np));
	if (!np) {
		plugin_fini(&p);
		return fail_nomem(r);
	}
	c->plugins = np;
	c->plugins[c->n_plugins++] = p;
	return 0;
}

static int read_plugins(struct reader *r, struct config *c)
{
	if (is_null(&r->ev))
		return 0;
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return fail(r, &r->ev.start_mark,
		            "expected a mapping of plugin names, got %s",
		            event_kind(&r->ev));
	return for_each_pair(r, "plugin section", plugins_pair, c);
}

static const char *const top_keys[] = {
        "listen", "plugin_dirs", "state_dir", "log_level",
        "limits", "plugins",     NULL,
};

static int top_pair(struct reader *r, const char *key,
                    const yaml_mark_t *key_mark, void *data)
{
	struct config *c = data;
	const char *s;
	char *d;
	int rc, level;

	if (strcmp(key, "listen") == 0)
		return read_string_list(r, &c->listen, &c->n_listen,
		                        check_listen);
	if (strcmp(key, "plugin_dirs") == 0)
		return read_string_list(r, &c->plugin_dirs, &c->n_plugin_dirs,
		                        check_nonempty);
	if (strcmp(key, "state_dir") == 0) {
		rc = want_scalar(r, &s);
		if (rc < 0)
			return rc;
		if (!*s)
			return fail(r, &r->ev.start_mark, "empty path");
		d = strdup(s);
		if (!d)
			return fail_nomem(r);
		free(c->state_dir);
		c->state_dir = d;
		return 0;
	}
	if (strcmp(key, "log_level") == 0) {
		rc = want_scalar(r, &s);
		if (rc < 0)
			return rc;
		level = config_log_level_from_name(s);
		if (level < 0)
			return fail(r, &r->ev.start_mark,
			            "unknown level \"%s\" (use error, warning, "
			            "notice, info or debug)",
			            s);
		c->log_level = level;
		return 0;
	}
	if (strcmp(key, "limits") == 0)
		return read_section(r, limit_pair, &c->limits);
	if (strcmp(key, "plugins") == 0)
		return read_plugins(r, c);
	return fail_unknown_key(r, key_mark, key, top_keys);
}

/* stream-start, at most one document whose root is a mapping (or empty). */
static int read_stream(struct reader *r, struct config *c)
{
	int rc;

	rc = next(r);
	if (rc < 0)
		return rc;
	rc = next(r);
	if (rc < 0 || r->ev.type == YAML_STREAM_END_EVENT)
		return rc;
	rc = next(r); /* the root node */
	if (rc < 0)
		return rc;
	if (r->ev.type == YAML_MAPPING_START_EVENT)
		rc = for_each_pair(r, "key", top_pair, c);
	else if (!is_null(&r->ev))
		rc = fail(r, &r->ev.start_mark, "expected a mapping, got %s",
		          event_kind(&r->ev));
	if (rc < 0)
		return rc;
	rc = next(r); /* document end */
	if (rc < 0)
		return rc;
	rc = next(r);
	if (rc < 0)
		return rc;
	if (r->ev.type != YAML_STREAM_END_EVENT)
		return fail(r, &r->ev.start_mark,
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
	p->options = NULL;
}

int config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->state_dir = strdup("/var/lib/jobd");
	if (!c->state_dir)
		return -ENOMEM;
	c->log_level = 6;
	c->limits.max_connections = 10000;
	c->limits.max_frame_size = 16 * MIB;
	c->limits.max_inflight_per_connection = 256;
	c->limits.idle_timeout_ms = 5 * MIN_MS;
	c->limits.frame_timeout_ms = 30 * SEC_MS;
	c->limits.max_output_buffer = 64 * MIB;
	c->limits.max_input_buffer = GIB;
	c->limits.max_queued_input = GIB;
	c->limits.shutdown_timeout_ms = 30 * SEC_MS;
	c->limits.result_ttl_ms = 7 * DAY_MS;
	c->limits.result_budget = GIB;
	return 0;
}

void config_fini(struct config *c)
{
	size_t i;

	if (!c)
		return;
	free(c->path);
	for (i = 0; i < c->n_listen; i++)
		free(c->listen[i]);
	free(c->listen);
	for (i = 0; i < c->n_plugin_dirs; i++)
		free(c->plugin_dirs[i]);
	free(c->plugin_dirs);
	free(c->state_dir);
	for (i = 0; i < c->n_plugins; i++)
		plugin_fini(&c->plugins[i]);
	free(c->plugins);
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
	char *text = NULL, *nt;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	if (error)
		*error = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto fail_errno;
	}
	/* Read to EOF rather than trusting st_size: works for pipes too. */
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_FILE_SIZE) {
				rc = -EFBIG;
				goto fail_errno;
			}
			cap = cap ? cap * 2 : 4096;
			nt = realloc(text, cap);
			if (!nt) {
				rc = -ENOMEM;
				goto fail_errno;
			}
			text = nt;
		}
		n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto fail_errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	rc = config_parse(text ? text : "", len, path, out, error);
	free(text);
	return rc;

fail_errno:
	if (fd >= 0)
		close(fd);
	free(text);
	if (error && asprintf(error, "%s: %s", path, strerror(-rc)) < 0)
		*error = NULL;
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
