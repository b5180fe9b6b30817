/* SPDX-License-Identifier: MIT */
/* The users file put in force, at start-up and at reload: one home, so that
 * start-up and reload need not call each other. */
#include "daemon/core/accounts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "daemon/proto/auth.h"
#include "daemon/util/log.h"

int accounts_load(const struct config *cfg, struct proto *pr)
{
	struct users *users = NULL;
	char *error = NULL;
	int rc;

	if (!cfg->users_file) {
		auth_set_users(pr, NULL);
		return 0;
	}
	rc = users_load(cfg->users_file, &users, &error);
	if (rc < 0) {
		log_error("auth.users_file: %s", error ? error : strerror(-rc));
		free(error);
		return rc;
	}
	log_info("%zu user(s) from %s", users->n, cfg->users_file);
	auth_set_users(pr, users);
	return 0;
}
