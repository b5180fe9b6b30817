/* SPDX-License-Identifier: MIT */
/*
 * store:
 *   backend: postgresql        # or sqlite (the default)
 *   dsn: "host=db dbname=jobd" # libpq connection string or URI
 *   host: gpu1                 # this jobd's name; default: the host name
 *   lease: 30s                 # a claimed job's lease, renewed while it runs
 *
 * The dsn may carry a password: no message here quotes it.
 */
#include "daemon/config/store_section.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config/units.h"

#define LEASE_MIN_MS (1 * SEC_MS)
#define LEASE_MAX_MS (1 * DAY_MS)

static const char *const backend_names[] = {
        [CONFIG_STORE_SQLITE] = "sqlite",
        [CONFIG_STORE_POSTGRESQL] = "postgresql",
};

const char *config_store_backend_name(int backend)
{
	if (backend < 0 || backend > CONFIG_STORE_POSTGRESQL)
		return "unknown";
	return backend_names[backend];
}

void store_section_defaults(struct config_store *s)
{
	memset(s, 0, sizeof(*s));
	s->backend = CONFIG_STORE_SQLITE;
	s->lease_ms = 30 * SEC_MS;
}

void store_section_fini(struct config_store *s)
{
	if (!s)
		return;
	if (s->dsn) /* a password may be in it: do not leave it in freed
	               memory */
		explicit_bzero(s->dsn, strlen(s->dsn));
	free(s->dsn);
	free(s->host);
	memset(s, 0, sizeof(*s));
}

static int set_string(struct reader *r, char **dst)
{
	char *d;

	d = strdup((const char *)r->ev.data.scalar.value);
	if (!d)
		return reader_fail_nomem(r);
	free(*dst);
	*dst = d;
	return 0;
}

static const char *const store_keys[] = {"backend", "dsn", "host", "lease",
                                         NULL};

/* A host name as it appears in the store: printable, no spaces. */
static bool valid_host(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == n;
}

struct store_read {
	struct config_store *s;
	bool dsn_seen;
	yaml_mark_t dsn_mark;
};

static int store_pair(struct reader *r, const char *key,
                      const yaml_mark_t *key_mark, void *data)
{
	struct store_read *sr = data;
	struct config_store *s = sr->s;
	const yaml_mark_t *mark = &r->ev.start_mark;
	const char *v;
	uint64_t ms;
	int rc;

	if (strcmp(key, "backend") && strcmp(key, "dsn") &&
	    strcmp(key, "host") && strcmp(key, "lease"))
		return reader_fail_unknown_key(r, key_mark, key, store_keys);
	rc = reader_want_scalar(r, &v);
	if (rc < 0)
		return rc;
	if (strcmp(key, "backend") == 0) {
		if (strcmp(v, "sqlite") == 0)
			s->backend = CONFIG_STORE_SQLITE;
		else if (strcmp(v, "postgresql") == 0)
			s->backend = CONFIG_STORE_POSTGRESQL;
		else
			return reader_fail(r, mark,
			                   "unknown backend \"%s\" (use sqlite "
			                   "or postgresql)",
			                   v);
		return 0;
	}
	if (strcmp(key, "dsn") == 0) {
		if (!*v)
			return reader_fail(r, mark, "empty connection string");
		sr->dsn_seen = true;
		sr->dsn_mark = *key_mark;
		return set_string(r, &s->dsn);
	}
	if (strcmp(key, "host") == 0) {
		if (!valid_host(v))
			return reader_fail(r, mark,
			                   "bad host name \"%s\" (1 to 64 of "
			                   "A-Z, a-z, 0-9, '.', '-', '_')",
			                   v);
		return set_string(r, &s->host);
	}
	rc = units_parse(v, units_duration, SEC_MS, &ms);
	if (rc == -EINVAL)
		return reader_fail(r, mark, "\"%s\" is not a duration", v);
	if (rc == -ENOENT)
		return reader_fail(r, mark,
		                   "bad unit in \"%s\" (use ms, s, m, h or d)",
		                   v);
	if (rc < 0 || ms < LEASE_MIN_MS || ms > LEASE_MAX_MS)
		return reader_fail(r, mark, "%s is out of range (1s..1d)", v);
	s->lease_ms = ms;
	return 0;
}

int store_section_read(struct reader *r, const yaml_mark_t *key_mark,
                       struct config_store *s)
{
	struct store_read sr = {.s = s};
	int rc;

	rc = reader_section(r, store_pair, &sr);
	if (rc < 0)
		return rc;
	if (s->backend == CONFIG_STORE_POSTGRESQL && !s->dsn)
		return reader_fail(r, key_mark,
		                   "backend postgresql needs a dsn (a libpq "
		                   "connection string, such as \"host=db "
		                   "dbname=jobd\")");
	if (s->backend == CONFIG_STORE_SQLITE && sr.dsn_seen)
		return reader_fail(r, &sr.dsn_mark,
		                   "dsn is for backend postgresql; the sqlite "
		                   "backend keeps its database in state_dir");
	return 0;
}
