/* SPDX-License-Identifier: MIT */
#include "daemon/config/reader.h"

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

/* ---- small helpers ----------------------------------------------------- */

static char *reader_strndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static size_t reader_path_push(struct reader *r, const char *key)
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

size_t reader_path_push_index(struct reader *r, size_t i)
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

void reader_path_pop(struct reader *r, size_t old)
{
	r->path_len = old;
	r->path[old] = '\0';
}

static void reader_set_error(struct reader *r, int rc, char *msg)
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
int reader_fail(struct reader *r, const yaml_mark_t *mark, const char *fmt, ...)
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
	reader_set_error(r, -EINVAL, msg);
	if (!msg)
		r->rc = -ENOMEM;
	return r->rc;
}

int reader_fail_nomem(struct reader *r)
{
	if (!r->error) {
		r->error = strdup("out of memory");
		r->rc = -ENOMEM;
	}
	return r->rc;
}

/* Reader errors carry a byte offset, not a mark: turn it into line:col. */
static void reader_offset_to_mark(const struct reader *r, size_t off,
                                  yaml_mark_t *m)
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

static int reader_fail_yaml(struct reader *r)
{
	const yaml_parser_t *yp = &r->yp;
	yaml_mark_t mark = yp->problem_mark;
	char *msg = NULL;
	int n;

	if (r->error)
		return r->rc;
	if (yp->error == YAML_MEMORY_ERROR)
		return reader_fail_nomem(r);
	if (yp->error == YAML_READER_ERROR)
		reader_offset_to_mark(r, yp->problem_offset, &mark);
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
		return reader_fail_nomem(r);
	reader_set_error(r, -EINVAL, msg);
	return r->rc;
}

/* Advances to the next event. Aliases are refused here, wherever they are:
 * expanding them could turn a small file into a huge options object. */
int reader_next(struct reader *r)
{
	if (r->have_ev) {
		yaml_event_delete(&r->ev);
		r->have_ev = false;
	}
	if (!yaml_parser_parse(&r->yp, &r->ev))
		return reader_fail_yaml(r);
	r->have_ev = true;
	if (r->ev.type == YAML_ALIAS_EVENT)
		return reader_fail(r, &r->ev.start_mark,
		                   "aliases (*%s) are not supported",
		                   (const char *)r->ev.data.alias.anchor);
	return 0;
}

const char *reader_event_kind(const yaml_event_t *ev)
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

static bool reader_is_plain(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT &&
	       ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       !ev->data.scalar.tag;
}

bool reader_is_null_text(const char *s, size_t n)
{
	return n == 0 || (n == 1 && s[0] == '~') ||
	       (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
	                   !memcmp(s, "NULL", 4)));
}

/* A plain scalar that YAML's core schema reads as null. */
bool reader_is_null(const yaml_event_t *ev)
{
	return reader_is_plain(ev) &&
	       reader_is_null_text((const char *)ev->data.scalar.value,
	                           ev->data.scalar.length);
}

/* The current event as a NUL-free C string; the error names the key. */
int reader_want_scalar(struct reader *r, const char **s)
{
	const yaml_event_t *ev = &r->ev;

	if (ev->type != YAML_SCALAR_EVENT)
		return reader_fail(r, &ev->start_mark,
		                   "expected a scalar, got %s",
		                   reader_event_kind(ev));
	if (reader_is_null(ev))
		return reader_fail(r, &ev->start_mark, "missing value");
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
		return reader_fail(r, &ev->start_mark, "contains a NUL byte");
	*s = (const char *)ev->data.scalar.value;
	return 0;
}

/* Optimal string alignment distance, for "did you mean" hints. */
static unsigned reader_edit_distance(const char *a, const char *b)
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
void reader_consider_key(const char *key, const char *cand, const char **best,
                         unsigned *best_d)
{
	unsigned d = reader_edit_distance(key, cand);

	if (d < *best_d) {
		*best_d = d;
		*best = cand;
	}
}

int reader_fail_unknown_near(struct reader *r, const yaml_mark_t *mark,
                             const char *best)
{
	if (best)
		return reader_fail(r, mark, "unknown key; did you mean \"%s\"?",
		                   best);
	return reader_fail(r, mark, "unknown key");
}

int reader_fail_unknown_key(struct reader *r, const yaml_mark_t *mark,
                            const char *key, const char *const *known)
{
	const char *best = NULL;
	unsigned best_d = 3;
	size_t i;

	for (i = 0; known[i]; i++)
		reader_consider_key(key, known[i], &best, &best_d);
	return reader_fail_unknown_near(r, mark, best);
}

/* ---- mappings ----------------------------------------------------------- */

struct seen_key {
	char *key;
	size_t line;
};

int reader_for_each_pair(struct reader *r, const char *dup_what, pair_fn fn,
                         void *data)
{
	struct seen_key *seen = NULL;
	size_t n_seen = 0, i;
	yaml_mark_t key_mark;
	char *key = NULL;
	size_t old;
	int rc;

	for (;;) {
		rc = reader_next(r);
		if (rc < 0)
			goto out;
		if (r->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (r->ev.type != YAML_SCALAR_EVENT) {
			rc = reader_fail(r, &r->ev.start_mark,
			                 "keys must be scalars, not %s",
			                 reader_event_kind(&r->ev));
			goto out;
		}
		key_mark = r->ev.start_mark;
		if (memchr(r->ev.data.scalar.value, '\0',
		           r->ev.data.scalar.length)) {
			rc = reader_fail(r, &key_mark,
			                 "key contains a NUL byte");
			goto out;
		}
		key = reader_strndup((const char *)r->ev.data.scalar.value,
		                     r->ev.data.scalar.length);
		if (!key) {
			rc = reader_fail_nomem(r);
			goto out;
		}
		old = reader_path_push(r, key);
		for (i = 0; i < n_seen; i++) {
			if (strcmp(seen[i].key, key) == 0) {
				rc = reader_fail(
				        r, &key_mark,
				        "duplicate %s (first at line %zu)",
				        dup_what, seen[i].line);
				goto out;
			}
		}
		if (n_seen % 16 == 0) {
			struct seen_key *ns =
			        realloc(seen, (n_seen + 16) * sizeof(*seen));

			if (!ns) {
				rc = reader_fail_nomem(r);
				goto out;
			}
			seen = ns;
		}
		seen[n_seen].key = key;
		seen[n_seen].line = key_mark.line + 1;
		n_seen++;
		key = NULL;

		rc = reader_next(r);
		if (rc < 0)
			goto out;
		rc = fn(r, seen[n_seen - 1].key, &key_mark, data);
		if (rc < 0)
			goto out;
		reader_path_pop(r, old);
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
int reader_section(struct reader *r, pair_fn fn, void *data)
{
	if (reader_is_null(&r->ev))
		return 0;
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return reader_fail(r, &r->ev.start_mark,
		                   "expected a mapping, got %s",
		                   reader_event_kind(&r->ev));
	return reader_for_each_pair(r, "key", fn, data);
}

/* ---- lists of strings ---------------------------------------------------- */

static int reader_list_append(char ***list, size_t *n, const char *s)
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

static int reader_one_string(struct reader *r, char ***list, size_t *n,
                             check_fn check)
{
	const yaml_mark_t *mark = &r->ev.start_mark;
	const char *s;
	size_t i;
	int rc;

	rc = reader_want_scalar(r, &s);
	if (rc < 0)
		return rc;
	if (check) {
		rc = check(r, s, mark);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i], s) == 0)
			return reader_fail(r, mark, "\"%s\" is listed twice",
			                   s);
	if (reader_list_append(list, n, s) < 0)
		return reader_fail_nomem(r);
	return 0;
}

/* A sequence of strings, or one string, or null for none. Replaces *list. */
int reader_string_list(struct reader *r, char ***list, size_t *n,
                       check_fn check)
{
	size_t i = 0, old;
	int rc;

	if (reader_is_null(&r->ev))
		return 0;
	if (r->ev.type == YAML_SCALAR_EVENT)
		return reader_one_string(r, list, n, check);
	if (r->ev.type != YAML_SEQUENCE_START_EVENT)
		return reader_fail(r, &r->ev.start_mark,
		                   "expected a list of strings, got %s",
		                   reader_event_kind(&r->ev));
	for (;;) {
		rc = reader_next(r);
		if (rc < 0)
			return rc;
		if (r->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		old = reader_path_push_index(r, i++);
		rc = reader_one_string(r, list, n, check);
		if (rc < 0)
			return rc;
		reader_path_pop(r, old);
	}
}
