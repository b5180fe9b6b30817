/* SPDX-License-Identifier: MIT */
/*
 * Who may reach jobd, in the config (docs/security.md): the `listen:`
 * entries (an address, or a mapping with a `tls:` section), the `auth:`
 * section and `allow_unauthenticated`, and the rule that ties them: a
 * listener that others can reach needs auth. Private to config/.
 */
#include "daemon/config/access.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "daemon/config/reader.h"

static void tls_free(struct config_tls *t)
{
	if (!t)
		return;
	free(t->cert);
	free(t->key);
	free(t->client_ca);
	free(t);
}

void config_listen_fini(struct config_listen *l)
{
	free(l->address);
	tls_free(l->tls);
	memset(l, 0, sizeof(*l));
}

/* "unix:/absolute/path", short enough for sun_path. */
static int check_unix(struct reader *r, const char *s, const yaml_mark_t *mark)
{
	const char *path = s + 5;

	if (path[0] != '/')
		return reader_fail(r, mark,
		                   "\"%s\": a Unix socket needs an absolute "
		                   "path, as in unix:/run/jobd/jobd.sock",
		                   s);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return reader_fail(
		        r, mark, "\"%s\": path longer than %zu bytes", s,
		        sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return 0;
}

static int set_string(struct reader *r, char **dst)
{
	const char *s;
	int rc = reader_want_scalar(r, &s);

	if (rc < 0)
		return rc;
	if (!*s)
		return reader_fail(r, &r->ev.start_mark, "empty path");
	free(*dst);
	*dst = strdup(s);
	return *dst ? 0 : reader_fail_nomem(r);
}

static const char *const tls_keys[] = {"cert", "key", "client_ca", NULL};

static int tls_pair(struct reader *r, const char *key,
                    const yaml_mark_t *key_mark, void *data)
{
	struct config_tls *t = data;

	if (!strcmp(key, "cert"))
		return set_string(r, &t->cert);
	if (!strcmp(key, "key"))
		return set_string(r, &t->key);
	if (!strcmp(key, "client_ca"))
		return set_string(r, &t->client_ca);
	return reader_fail_unknown_key(r, key_mark, key, tls_keys);
}

struct entry_ctx {
	struct config_listen *l;
	check_fn check;
	yaml_mark_t tls_mark;
};

static const char *const entry_keys[] = {"address", "tls", NULL};

static int entry_pair(struct reader *r, const char *key,
                      const yaml_mark_t *key_mark, void *data)
{
	struct entry_ctx *e = data;
	const char *s;
	int rc;

	if (!strcmp(key, "address")) {
		rc = reader_want_scalar(r, &s);
		if (rc < 0)
			return rc;
		rc = strncmp(s, "unix:", 5)
		             ? e->check(r, s, &r->ev.start_mark)
		             : check_unix(r, s, &r->ev.start_mark);
		if (rc < 0)
			return rc;
		free(e->l->address);
		e->l->address = strdup(s);
		return e->l->address ? 0 : reader_fail_nomem(r);
	}
	if (!strcmp(key, "tls")) {
		e->tls_mark = r->ev.start_mark;
		if (!e->l->tls && !(e->l->tls = calloc(1, sizeof(*e->l->tls))))
			return reader_fail_nomem(r);
		rc = reader_section(r, tls_pair, e->l->tls);
		if (rc < 0)
			return rc;
		if (!e->l->tls->cert || !e->l->tls->key)
			return reader_fail(r, &e->tls_mark,
			                   "a TLS listener needs cert and key");
		return 0;
	}
	return reader_fail_unknown_key(r, key_mark, key, entry_keys);
}

/* One entry: a string, or {address, tls}. */
static int read_entry(struct reader *r, struct config_listen *l, check_fn check)
{
	struct entry_ctx e = {.l = l, .check = check};
	const yaml_mark_t mark = r->ev.start_mark;
	const char *s;
	int rc;

	l->line = mark.line + 1;
	l->column = mark.column + 1;
	if (r->ev.type == YAML_MAPPING_START_EVENT) {
		rc = reader_section(r, entry_pair, &e);
		if (rc < 0)
			return rc;
		if (!l->address)
			return reader_fail(r, &mark,
			                   "a listener needs an address");
		if (l->tls && !strncmp(l->address, "unix:", 5))
			return reader_fail(r, &e.tls_mark,
			                   "TLS is for TCP listeners; a Unix "
			                   "socket names its peer itself");
		return 0;
	}
	rc = reader_want_scalar(r, &s);
	if (rc < 0)
		return rc;
	rc = strncmp(s, "unix:", 5) ? check(r, s, &mark)
	                            : check_unix(r, s, &mark);
	if (rc < 0)
		return rc;
	l->address = strdup(s);
	return l->address ? 0 : reader_fail_nomem(r);
}

static int append(struct reader *r, struct config *c, struct config_listen *l,
                  const yaml_mark_t *mark)
{
	struct config_listen *nl;
	char **na;
	size_t i;

	for (i = 0; i < c->n_listen; i++)
		if (!strcmp(c->listen[i], l->address))
			return reader_fail(r, mark, "\"%s\" is listed twice",
			                   l->address);
	nl = realloc(c->listen_opts, (c->n_listen + 1) * sizeof(*nl));
	if (!nl)
		return reader_fail_nomem(r);
	c->listen_opts = nl;
	na = realloc(c->listen, (c->n_listen + 1) * sizeof(*na));
	if (!na)
		return reader_fail_nomem(r);
	c->listen = na;
	na[c->n_listen] = strdup(l->address);
	if (!na[c->n_listen])
		return reader_fail_nomem(r);
	nl[c->n_listen++] = *l;
	memset(l, 0, sizeof(*l));
	return 0;
}

static void clear_listen(struct config *c)
{
	size_t i;

	for (i = 0; i < c->n_listen; i++) {
		free(c->listen[i]);
		config_listen_fini(&c->listen_opts[i]);
	}
	free(c->listen);
	free(c->listen_opts);
	c->listen = NULL;
	c->listen_opts = NULL;
	c->n_listen = 0;
}

int config_read_listen(struct reader *r, struct config *c, check_fn check)
{
	struct config_listen l;
	yaml_mark_t mark;
	size_t i = 0, old;
	int rc;

	clear_listen(c);
	if (reader_is_null(&r->ev))
		return 0;
	if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
		memset(&l, 0, sizeof(l));
		mark = r->ev.start_mark;
		rc = read_entry(r, &l, check);
		if (rc == 0)
			rc = append(r, c, &l, &mark);
		config_listen_fini(&l);
		return rc;
	}
	for (;;) {
		rc = reader_next(r);
		if (rc < 0)
			return rc;
		if (r->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		old = reader_path_push_index(r, i++);
		memset(&l, 0, sizeof(l));
		mark = r->ev.start_mark;
		rc = read_entry(r, &l, check);
		if (rc == 0)
			rc = append(r, c, &l, &mark);
		config_listen_fini(&l);
		if (rc < 0)
			return rc;
		reader_path_pop(r, old);
	}
}

static const char *const auth_keys[] = {"users_file", NULL};

static int auth_pair(struct reader *r, const char *key,
                     const yaml_mark_t *key_mark, void *data)
{
	struct config *c = data;

	if (!strcmp(key, "users_file"))
		return set_string(r, &c->users_file);
	return reader_fail_unknown_key(r, key_mark, key, auth_keys);
}

int config_read_auth(struct reader *r, struct config *c)
{
	const yaml_mark_t mark = r->ev.start_mark;
	int rc;

	if (reader_is_null(&r->ev))
		return 0;
	rc = reader_section(r, auth_pair, c);
	if (rc < 0)
		return rc;
	if (!c->users_file)
		return reader_fail(r, &mark,
		                   "auth needs users_file (the users and "
		                   "their hashed tokens, docs/security.md)");
	return 0;
}

bool config_address_is_local(const char *address)
{
	char host[256];
	const char *colon;
	struct in_addr a4;
	struct in6_addr a6;
	size_t n;

	if (!strncmp(address, "unix:", 5))
		return true; /* file permissions and SO_PEERCRED guard it */
	if (address[0] == '[') {
		colon = strchr(address, ']');
		if (!colon)
			return false;
		n = (size_t)(colon - address - 1);
		if (n >= sizeof(host))
			return false;
		memcpy(host, address + 1, n);
		host[n] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1 &&
		       IN6_IS_ADDR_LOOPBACK(&a6);
	}
	colon = strrchr(address, ':');
	n = colon ? (size_t)(colon - address) : strlen(address);
	if (n >= sizeof(host))
		return false;
	memcpy(host, address, n);
	host[n] = '\0';
	if (!strcmp(host, "localhost"))
		return true;
	return inet_pton(AF_INET, host, &a4) == 1 &&
	       (ntohl(a4.s_addr) >> 24) == 127;
}

int config_check_access(const struct config *c, const char *name, char **error)
{
	size_t i;

	if (c->users_file || c->allow_unauthenticated)
		return 0;
	for (i = 0; i < c->n_listen; i++) {
		if (config_address_is_local(c->listen[i]))
			continue;
		if (error &&
		    asprintf(error,
		             "%s:%u:%u: listen[%zu]: \"%s\" can be reached "
		             "from other machines, and there is no auth "
		             "section: anyone who reaches it could run any "
		             "plugin and read or cancel every job. Add auth: "
		             "{users_file: ...} (docs/security.md), listen on "
		             "a loopback address, or say "
		             "allow_unauthenticated: true",
		             name, c->listen_opts[i].line,
		             c->listen_opts[i].column, i, c->listen[i]) < 0)
			*error = NULL;
		return -EINVAL;
	}
	/* The HTTP front end answers the same requests (docs/http.md). */
	for (i = 0; i < c->http.n_listen; i++) {
		if (config_address_is_local(c->http.listen[i]))
			continue;
		if (error &&
		    asprintf(error,
		             "%s: http.listen[%zu]: \"%s\" can be reached "
		             "from other machines, and there is no auth "
		             "section: anyone who reaches it could run any "
		             "plugin and read or cancel every job. Add auth: "
		             "{users_file: ...} (docs/security.md), listen on "
		             "a loopback address, or say "
		             "allow_unauthenticated: true",
		             name, i, c->http.listen[i]) < 0)
			*error = NULL;
		return -EINVAL;
	}
	return 0;
}
