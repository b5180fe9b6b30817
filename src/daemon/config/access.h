/* SPDX-License-Identifier: MIT */
/*
 * Listeners, auth and the open-listener rule, for the schema in
 * config.c. Private to config/.
 */
#ifndef JOBD_DAEMON_CONFIG_ACCESS_H
#define JOBD_DAEMON_CONFIG_ACCESS_H

#include <stdbool.h>

#include "daemon/config/config.h"
#include "daemon/config/reader.h"

/* listen: a string or a list of entries, each "host:port",
 * "unix:/path" or {address: ..., tls: {cert, key, client_ca}}. check
 * validates a host:port. Replaces c->listen and c->listen_opts. */
int config_read_listen(struct reader *r, struct config *c, check_fn check);

/* auth: {users_file: PATH}. */
int config_read_auth(struct reader *r, struct config *c);

/* Frees what l owns. */
void config_listen_fini(struct config_listen *l);

/* After the whole file is read: a listener others can reach needs auth
 * or allow_unauthenticated. Returns 0 or -EINVAL with a malloc'd
 * "file:line:column: listen[i]: ..." message that says why. */
int config_check_access(const struct config *c, const char *name, char **error);

#endif
