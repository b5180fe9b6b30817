/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend, inside: what its schema's migrations
 * (pg_schema.c) offer the connection code (pg.c). Private to store/.
 */
#ifndef JOBD_DAEMON_STORE_PG_H
#define JOBD_DAEMON_STORE_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "daemon/store/backend.h"

/* The newest schema this jobd knows (pg_schema.c's list). */
extern const int pg_schema_version;

/* Brings the database's schema to pg_schema_version, one migration per
 * transaction, hosts starting at once taking turns (an advisory lock).
 * Refuses (-EPROTO) a database whose schema is newer than ours. 0, or a
 * negative errno with the reason in err. host: recorded as applied_by. */
int pg_schema_migrate(PGconn *conn, const char *host, char *err, size_t size);

#endif
