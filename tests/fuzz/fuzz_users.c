/* SPDX-License-Identifier: MIT */
/*
 * Users file parser (users_parse) on arbitrary text.
 *
 * Properties: exactly one of a table or an error comes back; an error is
 * one line that starts with the file name; an accepted table has valid,
 * distinct names, each user a way to authenticate, and it survives
 * users_format -> users_parse unchanged in size, names and hashes.
 */
#include <errno.h>
#include <string.h>

#include "auth/users.h"
#include "fuzz.h"

static void check_users(const struct users *u)
{
	struct users *back = NULL;
	char *text = NULL, *error = NULL;
	size_t i;

	for (i = 0; i < u->n; i++) {
		const struct users_entry *e = &u->v[i];

		FUZZ_CHECK(users_valid_name(e->name));
		FUZZ_CHECK(users_find(u, e->name) == e);
		FUZZ_CHECK(e->has_token || e->unix_user || e->cert_subject);
		FUZZ_CHECK(e->max_running <= USERS_CAP_MAX);
		FUZZ_CHECK(e->max_queued <= USERS_CAP_MAX);
		if (e->unix_user)
			FUZZ_CHECK(users_by_unix_user(u, e->unix_user) == e);
		if (e->cert_subject)
			FUZZ_CHECK(users_by_cert_subject(u, e->cert_subject) ==
			           e);
	}
	FUZZ_CHECK(users_format(u, &text) == 0);
	FUZZ_CHECK(users_parse(text, strlen(text), "again", &back, &error) ==
	           0);
	FUZZ_CHECK(back->n == u->n);
	for (i = 0; i < u->n; i++) {
		FUZZ_CHECK(!strcmp(back->v[i].name, u->v[i].name));
		FUZZ_CHECK(back->v[i].has_token == u->v[i].has_token);
		FUZZ_CHECK(!memcmp(back->v[i].token_sha256,
		                   u->v[i].token_sha256, TOKEN_SHA256_SIZE));
		FUZZ_CHECK(back->v[i].n_plugins == u->v[i].n_plugins);
		FUZZ_CHECK(back->v[i].admin == u->v[i].admin);
		FUZZ_CHECK(back->v[i].max_running == u->v[i].max_running);
		FUZZ_CHECK(back->v[i].max_queued == u->v[i].max_queued);
		FUZZ_CHECK(!back->v[i].unix_user == !u->v[i].unix_user);
		if (u->v[i].unix_user)
			FUZZ_CHECK(!strcmp(back->v[i].unix_user,
			                   u->v[i].unix_user));
		FUZZ_CHECK(!back->v[i].cert_subject == !u->v[i].cert_subject);
		if (u->v[i].cert_subject)
			FUZZ_CHECK(!strcmp(back->v[i].cert_subject,
			                   u->v[i].cert_subject));
		for (size_t k = 0; k < u->v[i].n_plugins; k++)
			FUZZ_CHECK(!strcmp(back->v[i].plugins[k],
			                   u->v[i].plugins[k]));
	}
	users_free(back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char name[] = "fuzz-users.yaml";
	struct users *u = NULL;
	char *error = NULL;
	int rc;

	rc = users_parse((const char *)data, size, name, &u, &error);
	if (rc == 0) {
		FUZZ_CHECK(u != NULL && error == NULL);
		check_users(u);
	} else {
		FUZZ_CHECK(rc < 0 && u == NULL && error != NULL);
		FUZZ_CHECK(strchr(error, '\n') == NULL);
		if (rc == -EINVAL)
			FUZZ_CHECK(!strncmp(error, name, sizeof(name) - 1) &&
			           error[sizeof(name) - 1] == ':');
	}
	users_free(u);
	free(error);
	return 0;
}
