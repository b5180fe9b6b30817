/* SPDX-License-Identifier: MIT */
/* The PostgreSQL backend's statements and rows: text parameters, running a
 * statement with the failure sorted (lost connection, duplicate, other),
 * reading records. Store thread only. */
#include "daemon/store/pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpq's message, on one line. */
void pg_conn_error(const struct pg_store *s, char *err, size_t size)
{
	snprintf(err, size, "%s",
	         s->conn ? PQerrorMessage(s->conn) : "out of memory");
	err[strcspn(err, "\n")] = '\0';
}

/* --- parameters ----------------------------------------------------------- */

void pgp_text(struct params *p, const char *t)
{
	p->v[p->n++] = t;
}

void pgp_i64(struct params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", (long long)x);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

/* 0 is "not yet" (SQL NULL), as in struct store_rec. */
void pgp_opt_i64(struct params *p, int64_t x)
{
	if (x)
		pgp_i64(p, x);
	else
		pgp_text(p, NULL);
}

int pgp_json(struct params *p, const json_t *v)
{
	char *t = NULL;

	if (v) {
		t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!t)
			return -ENOMEM;
	}
	p->owned[p->n] = t;
	p->v[p->n++] = t;
	return 0;
}

void pgp_fini(struct params *p)
{
	int i;

	for (i = 0; i < p->n; i++)
		free(p->owned[i]);
}

/* --- running SQL ---------------------------------------------------------- */

/* A result the connection cannot have survived: the server went away or
 * is shutting down. */
static bool pg_is_lost(const struct pg_store *s, const PGresult *res)
{
	const char *code =
	        res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!res || PQstatus(s->conn) != CONNECTION_OK)
		return true;
	return code && (!strncmp(code, "08", 2) || !strcmp(code, "57P01") ||
	                !strcmp(code, "57P02") || !strcmp(code, "57P03"));
}

/*
 * Runs sql with p's parameters. Returns the result (PQclear it) when the
 * command succeeded. Otherwise NULL and *rc: -EPIPE when the connection is
 * lost (the batch will be run again), -EEXIST for a duplicate key, -EIO
 * for anything else; err holds the server's words.
 */
PGresult *pg_sql(struct pg_store *s, const char *sql, const struct params *p,
                 char *err, size_t size, int *rc)
{
	PGresult *res;
	ExecStatusType st;
	const char *code;

	res = PQexecParams(s->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL,
	                   NULL, NULL, 0);
	st = PQresultStatus(res);
	if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
		*rc = 0;
		return res;
	}
	if (res && PQresultErrorMessage(res)[0])
		snprintf(err, size, "%s", PQresultErrorMessage(res));
	else
		pg_conn_error(s, err, size);
	err[strcspn(err, "\n")] = '\0';
	code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (pg_is_lost(s, res))
		*rc = -EPIPE;
	else if (code && !strcmp(code, "23505"))
		*rc = -EEXIST;
	else
		*rc = -EIO;
	PQclear(res);
	return NULL;
}

/* A statement whose result is only success or failure. */
int pg_cmd(struct pg_store *s, const char *sql, char *err, size_t size)
{
	int rc;

	PQclear(pg_sql(s, sql, NULL, err, size, &rc));
	return rc;
}

int pg_rows_changed(const PGresult *res)
{
	return atoi(PQcmdTuples((PGresult *)res));
}

char *pg_dup_val(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL
	                                  : strdup(PQgetvalue(res, row, col));
}

int64_t pg_i64_val(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col)
	               ? 0
	               : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static json_t *pg_json_val(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_loadb(PQgetvalue(res, row, col),
	                  (size_t)PQgetlength(res, row, col),
	                  JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* Reads row i, in COLS order, into r. */
void pg_read_row(const PGresult *res, int i, struct store_rec *r)
{
	int st;

	snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, i, 0));
	r->plugin = pg_dup_val(res, i, 1);
	r->input = pg_json_val(res, i, 2);
	r->timeout_ms = (uint64_t)pg_i64_val(res, i, 3);
	st = job_state_from_name(PQgetvalue(res, i, 4));
	r->state = st < 0 ? JOB_FAILED : (enum job_state)st;
	r->attempts = (unsigned)pg_i64_val(res, i, 5);
	r->created_ms = pg_i64_val(res, i, 6);
	r->started_ms = pg_i64_val(res, i, 7);
	r->finished_ms = pg_i64_val(res, i, 8);
	r->code = pg_dup_val(res, i, 9);
	r->message = pg_dup_val(res, i, 10);
	r->output = pg_json_val(res, i, 11);
	r->provenance = pg_json_val(res, i, 12);
	r->host = pg_dup_val(res, i, 13);
	r->cancel_requested = !strcmp(PQgetvalue(res, i, 14), "t");
	r->has_progress = !PQgetisnull(res, i, 15);
	if (r->has_progress)
		r->fraction = strtod(PQgetvalue(res, i, 15), NULL);
	r->progress_message = pg_dup_val(res, i, 16);
	r->owner = pg_dup_val(res, i, 17);
}

/* Appends every row of res (COLS order) to r->rows, up to limit (0: no
 * limit); sets r->truncated if there were more. */
int pg_read_rows(const PGresult *res, struct store_req *r, size_t limit)
{
	size_t n = (size_t)PQntuples(res), i;

	if (limit && n > limit) {
		r->truncated = true;
		n = limit;
	}
	if (!n)
		return 0;
	r->rows = calloc(n, sizeof(*r->rows));
	if (!r->rows)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		pg_read_row(res, (int)i, &r->rows[i]);
	r->n_rows = n;
	return 0;
}
