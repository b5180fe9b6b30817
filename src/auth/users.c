/* SPDX-License-Identifier: MIT */
/*
 * Users file reader: libyaml's event API read by recursive descent, as
 * the daemon's config loader does, so that every error points at the
 * node that caused it and aliases are refused where they appear.
 */
#include "auth/users.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "auth/trusted.h"

#define PATH_CAP 256

struct rd {
	yaml_parser_t yp;
	yaml_event_t ev;
	bool have_ev;
	const char *name;
	const char *text;
	size_t len;
	char *error;
	int rc;
	char path[PATH_CAP]; /* dotted key of the node being read */
};

/* ---- errors ------------------------------------------------------------- */

static int fail_nomem(struct rd *r)
{
	if (!r->error) {
		r->error = strdup("out of memory");
		r->rc = -ENOMEM;
	}
	return r->rc;
}

static void set_error(struct rd *r, char *msg)
{
	char *p;

	if (!msg) {
		fail_nomem(r);
		return;
	}
	/* A quoted scalar may hold newlines: keep one line, forge no log. */
	for (p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	r->error = msg;
	r->rc = -EINVAL;
}

__attribute__((format(printf, 3, 4))) static int
fail(struct rd *r, const yaml_mark_t *mark, const char *fmt, ...)
{
	char what[300], *msg;
	va_list ap;

	if (r->error)
		return r->rc;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (asprintf(&msg, "%s:%zu:%zu: %s: %s", r->name, mark->line + 1,
	             mark->column + 1, r->path[0] ? r->path : "(top level)",
	             what) < 0)
		msg = NULL;
	set_error(r, msg);
	return r->rc;
}

static int fail_yaml(struct rd *r)
{
	yaml_mark_t mark = r->yp.problem_mark;
	char *msg;
	size_t i;

	if (r->error)
		return r->rc;
	if (r->yp.error == YAML_MEMORY_ERROR)
		return fail_nomem(r);
	if (r->yp.error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a mark. */
		mark.line = mark.column = 0;
		for (i = 0; i < r->yp.problem_offset && i < r->len; i++) {
			if (r->text[i] == '\n') {
				mark.line++;
				mark.column = 0;
			} else {
				mark.column++;
			}
		}
	}
	if (asprintf(&msg, "%s:%zu:%zu: invalid YAML: %s", r->name,
	             mark.line + 1, mark.column + 1,
	             r->yp.problem ? r->yp.problem : "error") < 0)
		msg = NULL;
	set_error(r, msg);
	return r->rc;
}

/* ---- events ------------------------------------------------------------- */

static int next(struct rd *r)
{
	if (r->have_ev) {
		yaml_event_delete(&r->ev);
		r->have_ev = false;
	}
	if (!yaml_parser_parse(&r->yp, &r->ev))
		return fail_yaml(r);
	r->have_ev = true;
	if (r->ev.type == YAML_ALIAS_EVENT)
		return fail(r, &r->ev.start_mark, "aliases are not supported");
	return 0;
}

static const char *kind(const yaml_event_t *ev)
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

static bool is_null(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n;

	if (!is_plain(ev))
		return false;
	n = ev->data.scalar.length;
	return n == 0 || (n == 1 && s[0] == '~') ||
	       (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
	                   !memcmp(s, "NULL", 4)));
}

/* The current event as a NUL-free, non-null string. */
static int want_scalar(struct rd *r, const char **s)
{
	if (r->ev.type != YAML_SCALAR_EVENT)
		return fail(r, &r->ev.start_mark, "expected a scalar, got %s",
		            kind(&r->ev));
	if (is_null(&r->ev))
		return fail(r, &r->ev.start_mark, "missing value");
	if (memchr(r->ev.data.scalar.value, '\0', r->ev.data.scalar.length))
		return fail(r, &r->ev.start_mark, "contains a NUL byte");
	*s = (const char *)r->ev.data.scalar.value;
	return 0;
}

static size_t path_push(struct rd *r, const char *key)
{
	size_t old = strlen(r->path);

	snprintf(r->path + old, PATH_CAP - old, "%s%s", old ? "." : "", key);
	return old;
}

static void path_pop(struct rd *r, size_t old)
{
	r->path[old] = '\0';
}

/* ---- validation --------------------------------------------------------- */

static bool all_of(const char *s, const char *set, size_t max)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max && strspn(s, set) == n;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

bool users_valid_name(const char *s)
{
	return all_of(s, ALNUM "_.-", USERS_NAME_MAX_LEN);
}

bool users_valid_unix_user(const char *s)
{
	return all_of(s, ALNUM "_.-", 32) && s[0] != '-';
}

bool users_valid_plugin_pattern(const char *s)
{
	/* Plugin names are [a-z0-9_-]; globs add * ? [ ] !. */
	return all_of(s, "abcdefghijklmnopqrstuvwxyz0123456789_-*?[]!", 128);
}

/* ---- fields ------------------------------------------------------------- */

static int read_bool(struct rd *r, bool *out)
{
	const char *s;
	int rc = want_scalar(r, &s);

	if (rc < 0)
		return rc;
	if (is_plain(&r->ev) &&
	    (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")))
		*out = true;
	else if (is_plain(&r->ev) &&
	         (!strcmp(s, "false") || !strcmp(s, "False") ||
	          !strcmp(s, "FALSE")))
		*out = false;
	else
		return fail(r, &r->ev.start_mark,
		            "expected true or false, got \"%s\"", s);
	return 0;
}

static int read_cap(struct rd *r, uint32_t *out)
{
	const char *s;
	unsigned long long v = 0;
	size_t i;
	int rc = want_scalar(r, &s);

	if (rc < 0)
		return rc;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 8)
			return fail(r, &r->ev.start_mark,
			            "\"%s\" is not a whole number from 1 to %u",
			            s, USERS_CAP_MAX);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > USERS_CAP_MAX)
		return fail(r, &r->ev.start_mark, "%s is out of range (1..%u)",
		            s, USERS_CAP_MAX);
	*out = (uint32_t)v;
	return 0;
}

static int read_string(struct rd *r, char **out, bool (*valid)(const char *),
                       const char *rule)
{
	const char *s;
	int rc = want_scalar(r, &s);

	if (rc < 0)
		return rc;
	if (valid && !valid(s))
		return fail(r, &r->ev.start_mark, "\"%s\": %s", s, rule);
	free(*out);
	*out = strdup(s);
	return *out ? 0 : fail_nomem(r);
}

static int add_pattern(struct rd *r, struct users_entry *e, const char *s)
{
	char **nv;
	size_t i;

	if (!users_valid_plugin_pattern(s))
		return fail(r, &r->ev.start_mark,
		            "\"%s\": a plugin name or glob (a-z, 0-9, _, -, "
		            "and * ? [ ] !)",
		            s);
	for (i = 0; i < e->n_plugins; i++)
		if (!strcmp(e->plugins[i], s))
			return fail(r, &r->ev.start_mark,
			            "\"%s\" is listed twice", s);
	nv = realloc(e->plugins, (e->n_plugins + 1) * sizeof(*nv));
	if (!nv)
		return fail_nomem(r);
	e->plugins = nv;
	nv[e->n_plugins] = strdup(s);
	if (!nv[e->n_plugins])
		return fail_nomem(r);
	e->n_plugins++;
	return 0;
}

/* A list of names/globs, one string, or null for none. */
static int read_plugins(struct rd *r, struct users_entry *e)
{
	const char *s;
	int rc;

	if (r->ev.type == YAML_SCALAR_EVENT && is_null(&r->ev))
		return 0;
	if (r->ev.type == YAML_SCALAR_EVENT) {
		rc = want_scalar(r, &s);
		return rc < 0 ? rc : add_pattern(r, e, s);
	}
	if (r->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(r, &r->ev.start_mark,
		            "expected a list of plugin names, got %s",
		            kind(&r->ev));
	for (;;) {
		rc = next(r);
		if (rc < 0)
			return rc;
		if (r->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		rc = want_scalar(r, &s);
		if (rc < 0)
			return rc;
		rc = add_pattern(r, e, s);
		if (rc < 0)
			return rc;
	}
}

static int read_token_hash(struct rd *r, struct users_entry *e)
{
	const char *s;
	int rc = want_scalar(r, &s);

	if (rc < 0)
		return rc;
	/* The value is not echoed: a hash is not the token, but a message
	 * is no place for it either. */
	if (token_unhex(s, strlen(s), e->token_sha256, TOKEN_SHA256_SIZE) < 0)
		return fail(r, &r->ev.start_mark,
		            "expected 64 hex digits (the SHA-256 of the "
		            "token), got %zu characters",
		            strlen(s));
	e->has_token = true;
	return 0;
}

/* ---- structure ---------------------------------------------------------- */

static const char *const user_keys[] = {
        "token_sha256", "plugins",   "admin",        "max_running",
        "max_queued",   "unix_user", "cert_subject", NULL,
};

void users_entry_fini(struct users_entry *e)
{
	size_t i;

	free(e->name);
	for (i = 0; i < e->n_plugins; i++)
		free(e->plugins[i]);
	free(e->plugins);
	free(e->unix_user);
	free(e->cert_subject);
	OPENSSL_cleanse(e->token_sha256, sizeof(e->token_sha256));
	memset(e, 0, sizeof(*e));
}

static int read_user_field(struct rd *r, struct users_entry *e, int k)
{
	switch (k) {
	case 0:
		return read_token_hash(r, e);
	case 1:
		return read_plugins(r, e);
	case 2:
		return read_bool(r, &e->admin);
	case 3:
		return read_cap(r, &e->max_running);
	case 4:
		return read_cap(r, &e->max_queued);
	case 5:
		return read_string(r, &e->unix_user, users_valid_unix_user,
		                   "a Unix user name (1 to 32 of A-Z, a-z, "
		                   "0-9, _, ., -)");
	default:
		return read_string(r, &e->cert_subject, NULL, NULL);
	}
}

/* The mapping of one user; the current event is its value. */
static int read_user(struct rd *r, struct users_entry *e,
                     const yaml_mark_t *name_mark)
{
	unsigned seen = 0;
	yaml_mark_t km;
	const char *key;
	size_t old;
	int rc, k;

	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return fail(r, &r->ev.start_mark, "expected a mapping, got %s",
		            kind(&r->ev));
	for (;;) {
		rc = next(r);
		if (rc < 0)
			return rc;
		if (r->ev.type == YAML_MAPPING_END_EVENT)
			break;
		km = r->ev.start_mark;
		rc = want_scalar(r, &key);
		if (rc < 0)
			return rc;
		for (k = 0; user_keys[k]; k++)
			if (!strcmp(key, user_keys[k]))
				break;
		old = path_push(r, user_keys[k] ? user_keys[k] : "?");
		if (!user_keys[k]) {
			path_pop(r, old);
			path_push(r, key);
			return fail(r, &km,
			            "unknown key (use token_sha256, plugins, "
			            "admin, max_running, max_queued, unix_user "
			            "or cert_subject)");
		}
		if (seen & (1u << k))
			return fail(r, &km, "duplicate key");
		seen |= 1u << k;
		rc = next(r);
		if (rc < 0)
			return rc;
		rc = read_user_field(r, e, k);
		if (rc < 0)
			return rc;
		path_pop(r, old);
	}
	if (!e->has_token && !e->unix_user && !e->cert_subject)
		return fail(r, name_mark,
		            "no way to authenticate: give token_sha256, "
		            "unix_user or cert_subject");
	return 0;
}

/* A user must be told apart by each of its credentials. */
static int check_unique(struct rd *r, const struct users *u,
                        const struct users_entry *e, const yaml_mark_t *mark)
{
	size_t i;

	for (i = 0; i < u->n; i++) {
		const struct users_entry *o = &u->v[i];

		if (e->has_token && o->has_token &&
		    !CRYPTO_memcmp(e->token_sha256, o->token_sha256,
		                   TOKEN_SHA256_SIZE))
			return fail(r, mark, "same token_sha256 as user %s",
			            o->name);
		if (e->unix_user && o->unix_user &&
		    !strcmp(e->unix_user, o->unix_user))
			return fail(r, mark, "same unix_user as user %s",
			            o->name);
		if (e->cert_subject && o->cert_subject &&
		    !strcmp(e->cert_subject, o->cert_subject))
			return fail(r, mark, "same cert_subject as user %s",
			            o->name);
	}
	return 0;
}

static int read_users(struct rd *r, struct users *u)
{
	struct users_entry e, *nv;
	yaml_mark_t nm;
	const char *name;
	size_t old;
	int rc;

	if (r->ev.type == YAML_SCALAR_EVENT && is_null(&r->ev))
		return 0;
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return fail(r, &r->ev.start_mark,
		            "expected a mapping of user names, got %s",
		            kind(&r->ev));
	for (;;) {
		rc = next(r);
		if (rc < 0)
			return rc;
		if (r->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		nm = r->ev.start_mark;
		rc = want_scalar(r, &name);
		if (rc < 0)
			return rc;
		if (!users_valid_name(name))
			return fail(r, &nm,
			            "bad user name \"%s\" (1 to 64 of A-Z, "
			            "a-z, 0-9, _, ., -)",
			            name);
		old = path_push(r, name);
		if (users_find(u, name))
			return fail(r, &nm, "duplicate user");
		memset(&e, 0, sizeof(e));
		e.name = strdup(name);
		if (!e.name)
			return fail_nomem(r);
		rc = next(r);
		if (rc == 0)
			rc = read_user(r, &e, &nm);
		if (rc == 0)
			rc = check_unique(r, u, &e, &nm);
		if (rc == 0) {
			nv = realloc(u->v, (u->n + 1) * sizeof(*nv));
			if (!nv)
				rc = fail_nomem(r);
			else
				u->v = nv;
		}
		if (rc < 0) {
			users_entry_fini(&e);
			return rc;
		}
		u->v[u->n++] = e;
		path_pop(r, old);
	}
}

static int read_stream(struct rd *r, struct users *u)
{
	const char *key;
	bool seen = false;
	yaml_mark_t km;
	size_t old;
	int rc;

	rc = next(r); /* stream start */
	if (rc == 0)
		rc = next(r);
	if (rc < 0 || r->ev.type == YAML_STREAM_END_EVENT)
		return rc;
	rc = next(r); /* the root node */
	if (rc < 0)
		return rc;
	if (r->ev.type == YAML_MAPPING_START_EVENT) {
		for (;;) {
			rc = next(r);
			if (rc < 0)
				return rc;
			if (r->ev.type == YAML_MAPPING_END_EVENT)
				break;
			km = r->ev.start_mark;
			rc = want_scalar(r, &key);
			if (rc < 0)
				return rc;
			old = path_push(r, key);
			if (strcmp(key, "users") != 0)
				return fail(r, &km,
				            "unknown key (the file has one "
				            "section, users)");
			if (seen)
				return fail(r, &km, "duplicate key");
			seen = true;
			rc = next(r);
			if (rc == 0)
				rc = read_users(r, u);
			if (rc < 0)
				return rc;
			path_pop(r, old);
		}
	} else if (!(r->ev.type == YAML_SCALAR_EVENT && is_null(&r->ev))) {
		return fail(r, &r->ev.start_mark, "expected a mapping, got %s",
		            kind(&r->ev));
	}
	rc = next(r); /* document end */
	if (rc == 0)
		rc = next(r);
	if (rc < 0)
		return rc;
	if (r->ev.type != YAML_STREAM_END_EVENT)
		return fail(r, &r->ev.start_mark,
		            "only one YAML document is allowed");
	return 0;
}

/* ---- public ------------------------------------------------------------- */

struct users *users_new(const char *path)
{
	struct users *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->path = strdup(path ? path : "<users>");
	if (!u->path) {
		free(u);
		return NULL;
	}
	return u;
}

void users_free(struct users *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i < u->n; i++)
		users_entry_fini(&u->v[i]);
	free(u->v);
	free(u->path);
	free(u);
}

int users_parse(const char *text, size_t len, const char *name,
                struct users **out, char **error)
{
	struct users *u;
	struct rd r;
	int rc;

	*out = NULL;
	*error = NULL;
	memset(&r, 0, sizeof(r));
	r.name = name ? name : "<users>";
	r.text = text;
	r.len = len;
	u = users_new(r.name);
	if (!u || !yaml_parser_initialize(&r.yp)) {
		users_free(u);
		*error = strdup("out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&r.yp, (const unsigned char *)text, len);
	rc = read_stream(&r, u);
	if (r.have_ev)
		yaml_event_delete(&r.ev);
	yaml_parser_delete(&r.yp);
	if (rc < 0) {
		users_free(u);
		*error = r.error;
		return rc;
	}
	*out = u;
	return 0;
}

int users_load(const char *path, struct users **out, char **error)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = trusted_read(path, TRUSTED_SECRET, USERS_FILE_MAX, &text, &len,
	                  error);
	if (rc < 0)
		return rc;
	rc = users_parse(text, len, path, out, error);
	/* The file holds only hashes, but it is still nobody's business. */
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

const struct users_entry *users_by_token(const struct users *u,
                                         const char *token, size_t len)
{
	uint8_t h[TOKEN_SHA256_SIZE];
	size_t i, found = 0, mask;
	unsigned any = 0, eq;

	if (!u || !token || len == 0 || len > TOKEN_MAX_LEN)
		return NULL;
	if (token_sha256(token, len, h) < 0)
		return NULL;
	/* Every user is compared, and the match is picked with masks, not
	 * branches: the time taken says nothing about which user (if any)
	 * holds the token. Users without a token compare a hash of zeros,
	 * which no token has, and are masked out as well. */
	for (i = 0; i < u->n; i++) {
		eq = (unsigned)(CRYPTO_memcmp(h, u->v[i].token_sha256,
		                              TOKEN_SHA256_SIZE) == 0);
		eq &= (unsigned)u->v[i].has_token;
		mask = (size_t)0 - (size_t)(eq & ~any & 1u);
		found = (found & ~mask) | (i & mask);
		any |= eq;
	}
	OPENSSL_cleanse(h, sizeof(h));
	return any ? &u->v[found] : NULL;
}

const struct users_entry *users_by_unix_user(const struct users *u,
                                             const char *unix_user)
{
	size_t i;

	for (i = 0; u && unix_user && i < u->n; i++)
		if (u->v[i].unix_user && !strcmp(u->v[i].unix_user, unix_user))
			return &u->v[i];
	return NULL;
}

const struct users_entry *users_by_cert_subject(const struct users *u,
                                                const char *subject)
{
	size_t i;

	for (i = 0; u && subject && i < u->n; i++)
		if (u->v[i].cert_subject &&
		    !strcmp(u->v[i].cert_subject, subject))
			return &u->v[i];
	return NULL;
}

const struct users_entry *users_find(const struct users *u, const char *name)
{
	size_t i;

	for (i = 0; u && name && i < u->n; i++)
		if (!strcmp(u->v[i].name, name))
			return &u->v[i];
	return NULL;
}

bool users_may_call(const struct users_entry *e, const char *plugin)
{
	size_t i;

	if (!e || !plugin)
		return false;
	for (i = 0; i < e->n_plugins; i++)
		if (fnmatch(e->plugins[i], plugin, 0) == 0)
			return true;
	return false;
}

int users_add(struct users *u, struct users_entry *e, char *why,
              size_t why_size)
{
	struct users_entry *nv;
	size_t i;

	if (!e->name || !users_valid_name(e->name)) {
		snprintf(why, why_size,
		         "bad user name (1 to 64 of A-Z, a-z, 0-9, _, ., -)");
		return -EINVAL;
	}
	if (users_find(u, e->name)) {
		snprintf(why, why_size, "user %s exists already", e->name);
		return -EEXIST;
	}
	if (!e->has_token && !e->unix_user && !e->cert_subject) {
		snprintf(why, why_size, "user %s has no way to authenticate",
		         e->name);
		return -EINVAL;
	}
	if (e->unix_user && !users_valid_unix_user(e->unix_user)) {
		snprintf(why, why_size, "bad Unix user name");
		return -EINVAL;
	}
	for (i = 0; i < e->n_plugins; i++) {
		if (!users_valid_plugin_pattern(e->plugins[i])) {
			snprintf(why, why_size,
			         "\"%s\": a plugin name or glob (a-z, 0-9, _, "
			         "-, and * ? [ ] !)",
			         e->plugins[i]);
			return -EINVAL;
		}
	}
	for (i = 0; i < u->n; i++) {
		const struct users_entry *o = &u->v[i];

		if ((e->has_token && o->has_token &&
		     !CRYPTO_memcmp(e->token_sha256, o->token_sha256,
		                    TOKEN_SHA256_SIZE)) ||
		    (e->unix_user && o->unix_user &&
		     !strcmp(e->unix_user, o->unix_user)) ||
		    (e->cert_subject && o->cert_subject &&
		     !strcmp(e->cert_subject, o->cert_subject))) {
			snprintf(why, why_size,
			         "a credential of user %s is the same as one "
			         "of user %s",
			         e->name, o->name);
			return -EINVAL;
		}
	}
	nv = realloc(u->v, (u->n + 1) * sizeof(*nv));
	if (!nv) {
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	u->v = nv;
	u->v[u->n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}

int users_remove(struct users *u, const char *name)
{
	size_t i;

	for (i = 0; i < u->n; i++) {
		if (strcmp(u->v[i].name, name) != 0)
			continue;
		users_entry_fini(&u->v[i]);
		memmove(&u->v[i], &u->v[i + 1],
		        (u->n - i - 1) * sizeof(u->v[0]));
		u->n--;
		return 0;
	}
	return -ENOENT;
}

/* Length and code point of the UTF-8 sequence at s (valid: libyaml
 * checked it on the way in), or 1 and the byte for anything else. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	if (s[0] >= 0xc0 && s[0] < 0xe0 && (s[1] & 0xc0) == 0x80) {
		*cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (s[0] >= 0xe0 && s[0] < 0xf0 && (s[1] & 0xc0) == 0x80 &&
	    (s[2] & 0xc0) == 0x80) {
		*cp = (uint32_t)(s[0] & 0x0f) << 12 |
		      (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] < 0xf8 && (s[1] & 0xc0) == 0x80 &&
	    (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80) {
		*cp = (uint32_t)(s[0] & 0x07) << 18 |
		      (uint32_t)(s[1] & 0x3f) << 12 |
		      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		return 4;
	}
	*cp = s[0];
	return 1;
}

/*
 * A YAML double-quoted scalar that reads back as s: ", \ escaped, and so is
 * every character YAML would not keep as it is (controls, the line
 * separators NEL, LS and PS, a BOM, anything outside its printable set).
 */
static void put_quoted(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n;

	fputc('"', f);
	while (*s) {
		n = utf8_next(s, &cp);
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (int)cp);
		else if ((cp >= 0x20 && cp <= 0x7e) ||
		         (cp >= 0xa0 && cp <= 0xd7ff && cp != 0x2028 &&
		          cp != 0x2029) ||
		         (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) ||
		         cp >= 0x10000)
			fwrite(s, 1, n, f);
		else if (cp <= 0xff)
			fprintf(f, "\\x%02x", (unsigned)cp);
		else
			fprintf(f, "\\u%04x", (unsigned)cp);
		s += n;
	}
	fputc('"', f);
}

int users_format(const struct users *u, char **text)
{
	char hex[2 * TOKEN_SHA256_SIZE + 1];
	size_t len = 0, i, k;
	FILE *f;

	*text = NULL;
	f = open_memstream(text, &len);
	if (!f)
		return -ENOMEM;
	fputs("# jobd users (docs/security.md). Written by `jobd user`; keep "
	      "it\n"
	      "# mode 0600 (or 0640 root:jobd): it is refused if others can\n"
	      "# read it or anyone but its owner can write it.\n",
	      f);
	if (!u->n)
		fputs("users: {}\n", f);
	else
		fputs("users:\n", f);
	for (i = 0; i < u->n; i++) {
		const struct users_entry *e = &u->v[i];

		/* Quoted: a name such as "null" or "true" stays a string. */
		fputs("  ", f);
		put_quoted(f, e->name);
		fputs(":\n", f);
		if (e->has_token) {
			token_hex(e->token_sha256, TOKEN_SHA256_SIZE, hex);
			fprintf(f, "    token_sha256: %s\n", hex);
		}
		fputs("    plugins: [", f);
		for (k = 0; k < e->n_plugins; k++) {
			if (k)
				fputs(", ", f);
			put_quoted(f, e->plugins[k]);
		}
		fputs("]\n", f);
		fprintf(f, "    admin: %s\n", e->admin ? "true" : "false");
		if (e->max_running)
			fprintf(f, "    max_running: %u\n", e->max_running);
		if (e->max_queued)
			fprintf(f, "    max_queued: %u\n", e->max_queued);
		if (e->unix_user) {
			fputs("    unix_user: ", f);
			put_quoted(f, e->unix_user);
			fputc('\n', f);
		}
		if (e->cert_subject) {
			fputs("    cert_subject: ", f);
			put_quoted(f, e->cert_subject);
			fputc('\n', f);
		}
	}
	OPENSSL_cleanse(hex, sizeof(hex));
	if (fclose(f) != 0 || !*text) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	return 0;
}
