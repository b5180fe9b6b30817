/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend, inside. pg.c: the connection, batches,
 * reconnection, the ops table; pg_sql.c: statements and rows; pg_requests.c:
 * the SQL of each request kind; pg_schema.c: the migrations. Private to
 * store/.
 */
#ifndef JOBD_DAEMON_STORE_PG_H
#define JOBD_DAEMON_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "daemon/store/backend.h"

/* Columns of a whole record, in pg_read_row's order. */
#define PG_COLS                                                                \
	"id, plugin, input, timeout_ms, state, attempts, created_ms, "         \
	"started_ms, finished_ms, code, message, output, provenance, host, "   \
	"cancel_requested, progress, progress_message, owner"
#define PG_COLS_J                                                              \
	"j.id, j.plugin, j.input, j.timeout_ms, j.state, j.attempts, "         \
	"j.created_ms, j.started_ms, j.finished_ms, j.code, j.message, "       \
	"j.output, j.provenance, j.host, j.cancel_requested, j.progress, "     \
	"j.progress_message, j.owner"
/* The same without the big values, for lists. */
#define PG_COLS_SHORT                                                          \
	"id, plugin, NULL, timeout_ms, state, attempts, created_ms, "          \
	"started_ms, finished_ms, code, message, NULL, NULL, host, "           \
	"cancel_requested, progress, progress_message, owner"
#define PG_LEASE(p) "now() + " p "::bigint * interval '1 millisecond'"

/* The backend: one connection, used by the store thread only (pg.c). */
struct pg_store {
	struct store_backend b; /* first */
	char *dsn;              /* secret: only libpq reads it */
	char *host;
	uint64_t lease_ms;
	PGconn *conn;
	bool in_doubt; /* re-running a batch whose COMMIT went unanswered */
	uint64_t down_since_ms; /* monotonic; 0 while connected */
};

/* Parameters of one statement, as text (libpq's text format). */
#define MAX_PARAMS 14

struct params {
	const char *v[MAX_PARAMS];
	char num[MAX_PARAMS][24];
	char *owned[MAX_PARAMS];
	int n;
};

/* pg_sql.c: parameters, statements, rows. */
void pgp_text(struct params *p, const char *t); /* NULL: SQL NULL */
void pgp_i64(struct params *p, int64_t x);
void pgp_opt_i64(struct params *p, int64_t x);   /* 0: SQL NULL */
int pgp_json(struct params *p, const json_t *v); /* its compact text */
void pgp_fini(struct params *p);
/* libpq's last message for the connection, on one line. */
void pg_conn_error(const struct pg_store *s, char *err, size_t size);
/* Runs sql with p's parameters: the result (PQclear it) when the command
 * succeeded; otherwise NULL and *rc -EPIPE when the connection is lost
 * (the batch will run again), -EEXIST for a duplicate key, -EIO for
 * anything else, with the server's words in err. */
PGresult *pg_sql(struct pg_store *s, const char *sql, const struct params *p,
                 char *err, size_t size, int *rc);
/* A statement whose result is only success or failure. */
int pg_cmd(struct pg_store *s, const char *sql, char *err, size_t size);
int pg_rows_changed(const PGresult *res);
/* Row readers: NULL/0 for SQL NULL. */
char *pg_dup_val(const PGresult *res, int row, int col);
int64_t pg_i64_val(const PGresult *res, int row, int col);
/* Row i, in PG_COLS order, into r. */
void pg_read_row(const PGresult *res, int i, struct store_rec *r);
/* Every row of res into r->rows, up to limit (0: all); truncated if more. */
int pg_read_rows(const PGresult *res, struct store_req *r, size_t limit);

/* pg_requests.c: runs one request inside the open transaction; its
 * result as enum store_op says, or -EPIPE for a lost connection. */
int pg_exec_one(struct pg_store *s, struct store_req *r);

/* The newest schema this jobd knows (pg_schema.c's list). */
extern const int pg_schema_version;

/* Brings the database's schema to pg_schema_version, one migration per
 * transaction, hosts starting at once taking turns (an advisory lock).
 * Refuses (-EPROTO) a database whose schema is newer than ours. 0, or a
 * negative errno with the reason in err. host: recorded as applied_by. */
int pg_schema_migrate(PGconn *conn, const char *host, char *err, size_t size);

#endif
