/* SPDX-License-Identifier: MIT */
#include "daemon/config/yaml_json.h"

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

#include "daemon/config/reader.h"

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
static int yaml_scalar_to_json(struct reader *r, json_t **out)
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
		return reader_fail(r, &ev->start_mark, "unsupported tag %s",
		                   tag);
	if (tag && (strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, "!") == 0))
		plain = false;

	if (plain) {
		if (reader_is_null_text(s, n)) {
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
			return reader_fail(r, &ev->start_mark,
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
				return reader_fail(r, &ev->start_mark,
				                   "integer %s is out of range",
				                   buf);
			*out = json_integer(v);
			return *out ? 0 : reader_fail_nomem(r);
		}
		if (n < sizeof(buf) && match_re_float(s, n)) {
			double d;

			memcpy(buf, s, n);
			buf[n] = '\0';
			errno = 0;
			d = strtod(buf, &end);
			if (errno == ERANGE && (d > 1 || d < -1))
				return reader_fail(r, &ev->start_mark,
				                   "number %s is out of range",
				                   buf);
			*out = json_real(d);
			return *out ? 0 : reader_fail_nomem(r);
		}
	}
	*out = json_stringn(s, n);
	if (!*out)
		return reader_fail(r, &ev->start_mark,
		                   "string is not valid UTF-8");
	return 0;
}

static int json_pair(struct reader *r, const char *key,
                     const yaml_mark_t *key_mark, void *data)
{
	json_t *obj = data, *v = NULL;
	int rc;

	rc = yaml_node_to_json(r, &v);
	if (rc < 0)
		return rc;
	if (json_object_set_new(obj, key, v) < 0)
		return reader_fail(r, key_mark, "key is not valid UTF-8");
	return 0;
}

/* The node at the current event as JSON; *out is new on success. */
int yaml_node_to_json(struct reader *r, json_t **out)
{
	json_t *v = NULL;
	size_t i = 0, old;
	int rc = 0;

	if (r->depth >= MAX_DEPTH)
		return reader_fail(r, &r->ev.start_mark,
		                   "nested more than %d levels deep",
		                   MAX_DEPTH);
	r->depth++;
	switch (r->ev.type) {
	case YAML_SCALAR_EVENT:
		rc = yaml_scalar_to_json(r, &v);
		break;
	case YAML_MAPPING_START_EVENT:
		v = json_object();
		if (!v) {
			rc = reader_fail_nomem(r);
			break;
		}
		rc = reader_for_each_pair(r, "key", json_pair, v);
		break;
	case YAML_SEQUENCE_START_EVENT:
		v = json_array();
		if (!v) {
			rc = reader_fail_nomem(r);
			break;
		}
		for (;;) {
			json_t *item = NULL;

			rc = reader_next(r);
			if (rc < 0 || r->ev.type == YAML_SEQUENCE_END_EVENT)
				break;
			old = reader_path_push_index(r, i++);
			rc = yaml_node_to_json(r, &item);
			if (rc < 0)
				break;
			reader_path_pop(r, old);
			if (json_array_append_new(v, item) < 0) {
				rc = reader_fail_nomem(r);
				break;
			}
		}
		break;
	default:
		rc = reader_fail(r, &r->ev.start_mark, "unexpected YAML event");
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
