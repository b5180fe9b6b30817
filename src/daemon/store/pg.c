/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend of the job store, through libpq: one connection,
 * owned by the store thread. A batch is one transaction with a savepoint
 * per request, as in SQLite; the schema is pg_schema.c's.
 *
 * A lost connection (PostgreSQL restarted, the network gone) loses no
 * request: the batch that met it is run again, whole, once a new
 * connection is up, and the store thread waits for that with backoff
 * while new requests queue behind it. If the COMMIT itself had no answer
 * the batch may have committed; the retry then reads a duplicate INSERT
 * and a FINISH that finds its own final state as the success they were.
 *
 * The connection string may hold a password: it is handed to libpq and
 * never printed; messages name the database by store_backend.where.
 */
#include "daemon/store/pg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jobd/error.h>

#include "daemon/config/config.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"

/* Reconnection: first retry after this, doubling up to the cap. */
#define RETRY_FIRST_MS 100u
#define RETRY_MAX_MS   5000u
/* While lost, say so again this often. */
#define RETRY_LOG_MS 60000u
/* Tries left once the store is stopping, before queued requests fail. */
#define RETRY_WHEN_STOPPING 3
/* Rows one RESCUE handles; the next call takes the rest. */
#define RESCUE_MAX "1000"
#define MAX_PARAMS 14

/* Columns of a whole record, in read_row's order. */
#define COLS                                                                   \
	"id, plugin, input, timeout_ms, state, attempts, created_ms, "         \
	"started_ms, finished_ms, code, message, output, provenance, host, "   \
	"cancel_requested, progress, progress_message"
#define COLS_J                                                                 \
	"j.id, j.plugin, j.input, j.timeout_ms, j.state, j.attempts, "         \
	"j.created_ms, j.started_ms, j.finished_ms, j.code, j.message, "       \
	"j.output, j.provenance, j.host, j.cancel_requested, j.progress, "     \
	"j.progress_message"
/* The same without the big values, for lists. */
#define COLS_SHORT                                                             \
	"id, plugin, NULL, timeout_ms, state, attempts, created_ms, "          \
	"started_ms, finished_ms, code, message, NULL, NULL, host, "           \
	"cancel_requested, progress, progress_message"
#define LEASE(p) "now() + " p "::bigint * interval '1 millisecond'"

struct pg_store {
	struct store_backend b; /* first */
	char *dsn;              /* secret: only libpq reads it */
	char *host;
	uint64_t lease_ms;
	PGconn *conn;
	bool in_doubt; /* re-running a batch whose COMMIT went unanswered */
	uint64_t down_since_ms; /* monotonic; 0 while connected */
};

static struct pg_store *pg_of(struct store_backend *b)
{
	return (struct pg_store *)(void *)b;
}

static uint64_t mono_ms(void)
{
	return monotonic_ns() / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000),
	                      (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool stopping(const struct pg_store *s)
{
	return s->b.stopping && atomic_load(s->b.stopping);
}

/* libpq's message, on one line. */
static void conn_error(const struct pg_store *s, char *err, size_t size)
{
	snprintf(err, size, "%s",
	         s->conn ? PQerrorMessage(s->conn) : "out of memory");
	err[strcspn(err, "\n")] = '\0';
}

/* --- parameters ----------------------------------------------------------- */

struct params {
	const char *v[MAX_PARAMS];
	char num[MAX_PARAMS][24];
	char *owned[MAX_PARAMS];
	int n;
};

static void p_text(struct params *p, const char *t)
{
	p->v[p->n++] = t;
}

static void p_i64(struct params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", (long long)x);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

/* 0 is "not yet" (SQL NULL), as in struct store_rec. */
static void p_opt_i64(struct params *p, int64_t x)
{
	if (x)
		p_i64(p, x);
	else
		p_text(p, NULL);
}

static int p_json(struct params *p, const json_t *v)
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

static void p_fini(struct params *p)
{
	int i;

	for (i = 0; i < p->n; i++)
		free(p->owned[i]);
}

/* --- running SQL ---------------------------------------------------------- */

/* A result the connection cannot have survived: the server went away or
 * is shutting down. */
static bool is_lost(const struct pg_store *s, const PGresult *res)
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
static PGresult *run_sql(struct pg_store *s, const char *sql,
                         const struct params *p, char *err, size_t size,
                         int *rc)
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
		conn_error(s, err, size);
	err[strcspn(err, "\n")] = '\0';
	code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (is_lost(s, res))
		*rc = -EPIPE;
	else if (code && !strcmp(code, "23505"))
		*rc = -EEXIST;
	else
		*rc = -EIO;
	PQclear(res);
	return NULL;
}

/* A statement whose result is only success or failure. */
static int run_cmd(struct pg_store *s, const char *sql, char *err, size_t size)
{
	int rc;

	PQclear(run_sql(s, sql, NULL, err, size, &rc));
	return rc;
}

static int rows_changed(const PGresult *res)
{
	return atoi(PQcmdTuples((PGresult *)res));
}

static char *dup_val(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL
	                                  : strdup(PQgetvalue(res, row, col));
}

static int64_t i64_val(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col)
	               ? 0
	               : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static json_t *json_val(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_loadb(PQgetvalue(res, row, col),
	                  (size_t)PQgetlength(res, row, col),
	                  JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* Reads row i, in COLS order, into r. */
static void read_row(const PGresult *res, int i, struct store_rec *r)
{
	int st;

	snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, i, 0));
	r->plugin = dup_val(res, i, 1);
	r->input = json_val(res, i, 2);
	r->timeout_ms = (uint64_t)i64_val(res, i, 3);
	st = job_state_from_name(PQgetvalue(res, i, 4));
	r->state = st < 0 ? JOB_FAILED : (enum job_state)st;
	r->attempts = (unsigned)i64_val(res, i, 5);
	r->created_ms = i64_val(res, i, 6);
	r->started_ms = i64_val(res, i, 7);
	r->finished_ms = i64_val(res, i, 8);
	r->code = dup_val(res, i, 9);
	r->message = dup_val(res, i, 10);
	r->output = json_val(res, i, 11);
	r->provenance = json_val(res, i, 12);
	r->host = dup_val(res, i, 13);
	r->cancel_requested = !strcmp(PQgetvalue(res, i, 14), "t");
	r->has_progress = !PQgetisnull(res, i, 15);
	if (r->has_progress)
		r->fraction = strtod(PQgetvalue(res, i, 15), NULL);
	r->progress_message = dup_val(res, i, 16);
}

/* Appends every row of res (COLS order) to r->rows, up to limit (0: no
 * limit); sets r->truncated if there were more. */
static int read_rows(const PGresult *res, struct store_req *r, size_t limit)
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
		read_row(res, (int)i, &r->rows[i]);
	r->n_rows = n;
	return 0;
}

/* --- the requests ----------------------------------------------------------
 */

#define SQL(s, r, sql, p, rc) run_sql(s, sql, p, r->err, sizeof(r->err), rc)

static int pg_insert(struct pg_store *s, struct store_req *r)
{
	const struct store_rec *j = &r->rec;
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	p_text(&p, j->id);
	p_text(&p, j->plugin);
	if (j->input)
		rc = p_json(&p, j->input);
	else {
		p_text(&p, "null");
		rc = 0;
	}
	if (rc < 0)
		return rc;
	p_i64(&p, (int64_t)j->timeout_ms);
	p_text(&p, job_state_name(j->state));
	p_i64(&p, j->attempts);
	p_i64(&p, j->created_ms);
	p_opt_i64(&p, j->started_ms);
	p_text(&p, s->host);
	p_i64(&p, (int64_t)s->lease_ms);
	p_text(&p, j->retry_safe ? "t" : "f");
	p_i64(&p, j->max_attempts ? j->max_attempts : 1);
	res = SQL(s, r,
	          "INSERT INTO jobs(id, plugin, input, timeout_ms, state, "
	          "attempts, created_ms, started_ms, size, submitted_by, host, "
	          "lease_until, retry_safe, max_attempts) VALUES($1::text, "
	          "$2::text, $3::text, $4::bigint, $5::text, $6::integer, "
	          "$7::bigint, $8::bigint, length($3::text), $9::text, "
	          "CASE WHEN $5::text = 'running' THEN $9::text END, "
	          "CASE WHEN $5::text = 'running' THEN " LEASE(
	                  "$10") " END, "
	                         "$11::boolean, $12::integer)",
	          &p, &rc);
	p_fini(&p);
	PQclear(res);
	/* Our own insert, committed before the connection broke. */
	if (rc == -EEXIST && s->in_doubt)
		rc = 0;
	return rc;
}

static int pg_start(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	p_text(&p, r->rec.id);
	p_i64(&p, r->rec.started_ms ? r->rec.started_ms : wall_ms());
	p_text(&p, s->host);
	p_i64(&p, (int64_t)s->lease_ms);
	res = SQL(s, r,
	          "UPDATE jobs SET state = 'running', started_ms = $2::bigint, "
	          "attempts = attempts + 1, host = $3::text, lease_until "
	          "= " LEASE("$4") " WHERE id = $1::text AND state = 'queued' "
	                           "RETURNING attempts",
	          &p, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		r->rec.attempts = (unsigned)i64_val(res, 0, 0);
		PQclear(res);
		return 0;
	}
	PQclear(res);
	/* Not queued: fine if it already runs (a detach recorded it so),
	 * otherwise it ended or vanished and must not run. */
	p.n = 1;
	res = SQL(s, r, "SELECT state, attempts FROM jobs WHERE id = $1::text",
	          &p, &rc);
	if (!res)
		return rc;
	rc = JOBD_E_NOT_FOUND;
	if (PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "running")) {
		r->rec.attempts = (unsigned)i64_val(res, 0, 1);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

static int pg_finish(struct pg_store *s, struct store_req *r)
{
	struct store_rec *j = &r->rec;
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	/* Fixed once, so that a retry can recognise its own write. */
	if (!j->finished_ms)
		j->finished_ms = wall_ms();
	p_text(&p, j->id);
	p_text(&p, job_state_name(j->state));
	p_i64(&p, j->finished_ms);
	p_text(&p, j->code);
	p_text(&p, j->message);
	if (p_json(&p, j->output) < 0 || p_json(&p, j->provenance) < 0) {
		p_fini(&p);
		return -ENOMEM;
	}
	p_opt_i64(&p, j->started_ms);
	p_opt_i64(&p, r->fence);
	/* The guards: a job's final state is written once, and only by the
	 * attempt that still holds it. */
	res = SQL(s, r,
	          "UPDATE jobs SET state = $2::text, finished_ms = $3::bigint, "
	          "code = $4::text, message = $5::text, output = $6::text, "
	          "provenance = $7::text, started_ms = coalesce(started_ms, "
	          "$8::bigint), lease_until = NULL, size = length(input) + "
	          "coalesce(length($5::text), 0) + coalesce(length($6::text), "
	          "0) + coalesce(length($7::text), 0) WHERE id = $1::text AND "
	          "state IN ('queued', 'running') AND ($9::integer IS NULL OR "
	          "attempts = $9::integer)",
	          &p, &rc);
	p_fini(&p);
	if (!res)
		return rc;
	rc = rows_changed(res) == 1;
	PQclear(res);
	if (rc == 0 && s->in_doubt) {
		p.n = 3;
		res = SQL(s, r,
		          "SELECT 1 FROM jobs WHERE id = $1::text AND state = "
		          "$2::text AND finished_ms = $3::bigint",
		          &p, &rc);
		if (!res)
			return rc;
		rc = PQntuples(res) == 1;
		PQclear(res);
	}
	return rc;
}

static int pg_get(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	char id[STORE_ID_LEN + 1];
	PGresult *res;
	int rc;

	snprintf(id, sizeof(id), "%s", r->rec.id);
	store_rec_fini(&r->rec);
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	p_text(&p, id);
	res = SQL(s, r, "SELECT " COLS " FROM jobs WHERE id = $1::text", &p,
	          &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		read_row(res, 0, &r->rec);
		rc = 0;
	} else {
		rc = JOBD_E_NOT_FOUND;
	}
	PQclear(res);
	return rc;
}

static int pg_list(struct pg_store *s, struct store_req *r)
{
	unsigned limit = r->list_limit ? r->list_limit : 1000;
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	p_text(&p, r->list_state >= 0
	                   ? job_state_name((enum job_state)r->list_state)
	                   : NULL);
	p_text(&p, r->list_plugin);
	/* One more than asked, to tell whether the list was cut. */
	p_i64(&p, (int64_t)limit + 1);
	res = SQL(s, r,
	          "SELECT " COLS_SHORT " FROM jobs WHERE ($1::text IS NULL OR "
	          "state = $1::text) AND ($2::text IS NULL OR plugin = "
	          "$2::text) ORDER BY created_ms DESC, id LIMIT $3::bigint",
	          &p, &rc);
	if (!res)
		return rc;
	rc = read_rows(res, r, limit);
	PQclear(res);
	return rc;
}

static int pg_requeue(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	int rc;

	p_text(&p, r->rec.id);
	PQclear(SQL(s, r,
	            "UPDATE jobs SET state = 'queued', host = NULL, "
	            "lease_until = NULL WHERE id = $1::text AND state = "
	            "'running'",
	            &p, &rc));
	return rc;
}

/* {"a","b"}: a text[] literal. Plugin names are [a-z0-9_-], but quote
 * anyway: the literal must not depend on that. */
static char *text_array(char **names, size_t n)
{
	size_t len = 3, i;
	char *out, *o;
	const char *c;

	for (i = 0; i < n; i++)
		len += 2 * strlen(names[i]) + 3;
	out = malloc(len);
	if (!out)
		return NULL;
	o = out;
	*o++ = '{';
	for (i = 0; i < n; i++) {
		if (i)
			*o++ = ',';
		*o++ = '"';
		for (c = names[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*o++ = '\\';
			*o++ = *c;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return out;
}

static int pg_claim(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	if (!r->n_claim)
		return 0;
	p.owned[0] = text_array(r->claim_plugins, r->n_claim);
	if (!p.owned[0])
		return -ENOMEM;
	p_text(&p, p.owned[0]);
	p_i64(&p, r->list_limit ? r->list_limit : 1);
	p_text(&p, s->host);
	p_i64(&p, wall_ms());
	p_i64(&p, (int64_t)s->lease_ms);
	/* SKIP LOCKED: rows another host is claiming right now are passed
	 * over, not waited for, so no two hosts take the same job and no
	 * host queues behind another. */
	res = SQL(s, r,
	          "UPDATE jobs j SET state = 'running', host = $3::text, "
	          "attempts = j.attempts + 1, started_ms = $4::bigint, "
	          "lease_until = " LEASE(
	                  "$5") " FROM (SELECT id FROM jobs "
	                        "WHERE state = 'queued' AND plugin = "
	                        "ANY($1::text[]) "
	                        "ORDER BY created_ms, id LIMIT $2::bigint FOR "
	                        "UPDATE SKIP "
	                        "LOCKED) c WHERE j.id = c.id RETURNING " COLS_J,
	          &p, &rc);
	p_fini(&p);
	if (!res)
		return rc;
	rc = read_rows(res, r, 0);
	PQclear(res);
	return rc < 0 ? rc : (int)r->n_rows;
}

static int pg_renew(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	p_text(&p, r->rec.id);
	p_i64(&p, r->fence);
	p_i64(&p, (int64_t)s->lease_ms);
	p_text(&p, s->host);
	res = SQL(
	        s, r,
	        "UPDATE jobs SET lease_until = " LEASE(
	                "$3") " WHERE id = "
	                      "$1::text AND attempts = $2::integer AND state = "
	                      "'running' "
	                      "AND host = $4::text RETURNING cancel_requested",
	        &p, &rc);
	if (!res)
		return rc;
	rc = 0;
	if (PQntuples(res) == 1)
		rc = !strcmp(PQgetvalue(res, 0, 0), "t") ? 2 : 1;
	PQclear(res);
	return rc;
}

static int pg_rescue(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	PGresult *res;
	size_t i;
	int rc;

	p_i64(&p, wall_ms());
	/* One statement: pick the expired leases (skipping rows a live host
	 * is finishing right now), decide each one's fate, apply it. */
	res = SQL(s, r,
	          "WITH x AS (SELECT id, host FROM jobs WHERE state = "
	          "'running' AND lease_until < now() ORDER BY lease_until "
	          "LIMIT " RESCUE_MAX " FOR UPDATE SKIP LOCKED), "
	          "y AS (SELECT x.id, x.host AS held_by, CASE "
	          " WHEN j.cancel_requested THEN 'cancelled'"
	          " WHEN j.retry_safe AND j.attempts < j.max_attempts"
	          "  THEN 'queued' ELSE 'interrupted' END AS fate "
	          " FROM x JOIN jobs j ON j.id = x.id), "
	          "z AS (SELECT y.*, CASE y.fate WHEN 'queued' THEN NULL "
	          " WHEN 'cancelled' THEN format('cancelled; host %s, which "
	          "was running it, stopped renewing its lease', y.held_by) "
	          " ELSE format('host %s stopped renewing the lease of "
	          "attempt %s, and plugin \"%s\" is not retry-safe or has "
	          "had its max_attempts (%s)', y.held_by, j.attempts, "
	          "j.plugin, j.max_attempts) END AS msg "
	          " FROM y JOIN jobs j ON j.id = y.id) "
	          "UPDATE jobs j SET state = z.fate, lease_until = NULL, "
	          "host = CASE WHEN z.fate = 'queued' THEN NULL ELSE j.host "
	          "END, finished_ms = CASE WHEN z.fate = 'queued' THEN NULL "
	          "ELSE $1::bigint END, code = CASE WHEN z.fate = 'queued' "
	          "THEN NULL ELSE z.fate END, message = z.msg, size = "
	          "length(j.input) + coalesce(length(z.msg), 0) "
	          "FROM z WHERE j.id = z.id "
	          "RETURNING j.id, j.plugin, j.state, j.attempts, z.held_by",
	          &p, &rc);
	if (!res)
		return rc;
	r->n_rows = 0;
	if (PQntuples(res) > 0) {
		r->rows = calloc((size_t)PQntuples(res), sizeof(*r->rows));
		if (!r->rows) {
			PQclear(res);
			return -ENOMEM;
		}
	}
	for (i = 0; i < (size_t)PQntuples(res); i++) {
		struct store_rec *o = &r->rows[i];
		int st = job_state_from_name(PQgetvalue(res, (int)i, 2));

		snprintf(o->id, sizeof(o->id), "%s",
		         PQgetvalue(res, (int)i, 0));
		o->plugin = dup_val(res, (int)i, 1);
		o->state = st < 0 ? JOB_FAILED : (enum job_state)st;
		o->attempts = (unsigned)i64_val(res, (int)i, 3);
		o->host = dup_val(res, (int)i, 4);
		r->n_rows++;
	}
	PQclear(res);
	return (int)r->n_rows;
}

static int pg_cancel(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	if (!r->rec.finished_ms)
		r->rec.finished_ms = wall_ms();
	p_text(&p, r->rec.id);
	p_i64(&p, r->rec.finished_ms);
	p_text(&p, r->rec.message);
	res = SQL(s, r,
	          "UPDATE jobs SET state = 'cancelled', finished_ms = "
	          "$2::bigint, code = 'cancelled', message = $3::text, size = "
	          "length(input) + coalesce(length($3::text), 0) WHERE id = "
	          "$1::text AND state = 'queued'",
	          &p, &rc);
	if (!res)
		return rc;
	rc = rows_changed(res);
	PQclear(res);
	if (rc == 1)
		return 1;
	p.n = 1;
	res = SQL(s, r,
	          "UPDATE jobs SET cancel_requested = true WHERE id = $1::text "
	          "AND state = 'running' RETURNING host, attempts",
	          &p, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		free(r->rec.host);
		r->rec.host = dup_val(res, 0, 0);
		r->rec.attempts = (unsigned)i64_val(res, 0, 1);
		PQclear(res);
		return 2;
	}
	PQclear(res);
	p.n = 2;
	res = SQL(
	        s, r,
	        "SELECT state = 'cancelled' AND finished_ms = $2::bigint FROM "
	        "jobs WHERE id = $1::text",
	        &p, &rc);
	if (!res)
		return rc;
	rc = JOBD_E_NOT_FOUND;
	if (PQntuples(res) == 1) /* ended; by us if a retry finds our write */
		rc = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	return rc;
}

static int pg_progress(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	char frac[32];
	PGresult *res;
	int rc;

	snprintf(frac, sizeof(frac), "%.6f", r->rec.fraction);
	p_text(&p, r->rec.id);
	p_opt_i64(&p, r->fence);
	p_text(&p, frac);
	p_text(&p, r->rec.progress_message);
	res = SQL(s, r,
	          "UPDATE jobs SET progress = $3::double precision, "
	          "progress_message = $4::text WHERE id = $1::text AND state "
	          "= 'running' AND ($2::integer IS NULL OR attempts = "
	          "$2::integer)",
	          &p, &rc);
	if (!res)
		return rc;
	rc = rows_changed(res) == 1;
	PQclear(res);
	return rc;
}

static int exec_one(struct pg_store *s, struct store_req *r)
{
	switch (r->op) {
	case STORE_INSERT:
		return pg_insert(s, r);
	case STORE_START:
		return pg_start(s, r);
	case STORE_FINISH:
		return pg_finish(s, r);
	case STORE_GET:
		return pg_get(s, r);
	case STORE_LIST:
		return pg_list(s, r);
	case STORE_REQUEUE:
		return pg_requeue(s, r);
	case STORE_CLAIM:
		return pg_claim(s, r);
	case STORE_RENEW:
		return pg_renew(s, r);
	case STORE_RESCUE:
		return pg_rescue(s, r);
	case STORE_CANCEL:
		return pg_cancel(s, r);
	case STORE_PROGRESS:
		return pg_progress(s, r);
	}
	return -EINVAL;
}

/* --- the connection --------------------------------------------------------
 */

/* The server's notices (a shutdown's warning, say) go to our log at
 * debug, not to stderr without a level. */
static void on_notice(void *arg, const char *message)
{
	const struct pg_store *s = arg;
	char line[300];

	snprintf(line, sizeof(line), "%s", message);
	line[strcspn(line, "\n")] = '\0';
	log_debug("job store %s: server says: %s", s->b.where, line);
}

/* One attempt. Our defaults come first so that the dsn can override them;
 * the keepalives notice a dead network in about 25 s instead of hours. */
static int connect_once(struct pg_store *s, char *err, size_t size)
{
	static const char *const keys[] = {
	        "application_name", "connect_timeout",
	        "keepalives_idle",  "keepalives_interval",
	        "keepalives_count", "dbname",
	        "client_encoding",  NULL};
	const char *vals[] = {"jobd", "10",   "10",   "5",
	                      "3",    s->dsn, "UTF8", NULL};

	PQfinish(s->conn);
	s->conn = PQconnectdbParams(keys, vals, 1);
	if (s->conn)
		PQsetNoticeProcessor(s->conn, on_notice, s);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		conn_error(s, err, size);
		PQfinish(s->conn);
		s->conn = NULL;
		return -EIO;
	}
	/* An accepted job must survive a crash of the database: never let
	 * a server default of synchronous_commit=off decide otherwise. */
	if (run_cmd(s,
	            "SELECT CASE WHEN current_setting('synchronous_commit') "
	            "= 'off' THEN set_config('synchronous_commit', 'on', "
	            "false) END",
	            err, size) < 0) {
		PQfinish(s->conn);
		s->conn = NULL;
		return -EIO;
	}
	return 0;
}

/* The connection broke: says so once per outage and drops it. */
static void note_lost(struct pg_store *s, const char *why)
{
	if (!s->down_since_ms) {
		s->down_since_ms = mono_ms();
		log_warning("job store %s: connection lost (%s); requests "
		            "wait and run again once it is back",
		            s->b.where, why);
	}
	PQfinish(s->conn);
	s->conn = NULL;
}

/* Waits until connected, retrying with backoff; requests queue meanwhile.
 * Gives up (-EIO) only when the store is stopping. */
static int ensure_connected(struct pg_store *s)
{
	unsigned delay = RETRY_FIRST_MS, left = RETRY_WHEN_STOPPING;
	uint64_t last_log = 0;
	char err[200];

	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	if (s->conn) {
		conn_error(s, err, sizeof(err));
		note_lost(s, err);
	}
	for (;;) {
		if (connect_once(s, err, sizeof(err)) == 0) {
			if (s->down_since_ms)
				log_notice(
				        "job store %s: connected again after "
				        "%.1f s",
				        s->b.where,
				        (double)(mono_ms() - s->down_since_ms) /
				                1000.0);
			s->down_since_ms = 0;
			return 0;
		}
		if (!s->down_since_ms)
			s->down_since_ms = mono_ms();
		if (!last_log || mono_ms() - last_log >= RETRY_LOG_MS) {
			log_error("job store %s: cannot connect: %s; requests "
			          "wait and are retried",
			          s->b.where, err);
			last_log = mono_ms();
		}
		if (stopping(s) && --left == 0) {
			log_error("job store %s: still unreachable while "
			          "stopping; the requests still queued fail",
			          s->b.where);
			return -EIO;
		}
		/* Stopping: a few quick tries, not the long waits. */
		sleep_ms(stopping(s) && delay > 500 ? 500 : delay);
		delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
	}
}

/* Undoes what a run of the batch put into its requests, for a rerun. */
static void reset_outputs(struct store_req *list)
{
	struct store_req *r;
	size_t i;

	for (r = list; r; r = r->next) {
		for (i = 0; i < r->n_rows; i++)
			store_rec_fini(&r->rows[i]);
		free(r->rows);
		r->rows = NULL;
		r->n_rows = 0;
		r->truncated = false;
		r->rc = 0;
		r->err[0] = '\0';
	}
}

/* One try at the batch: 0, or -EPIPE if the connection broke (and then
 * s->in_doubt if it broke at COMMIT). */
static int batch_once(struct pg_store *s, struct store_req *list)
{
	struct store_req *r;
	char err[200];
	PGresult *res;
	int rc;

	rc = run_cmd(s, "BEGIN", err, sizeof(err));
	if (rc == -EPIPE)
		return rc;
	for (r = list; r; r = r->next) {
		if (rc < 0) {
			r->rc = -EIO;
			snprintf(r->err, sizeof(r->err), "%s", err);
			continue;
		}
		if (run_cmd(s, "SAVEPOINT req", err, sizeof(err)) == -EPIPE)
			return -EPIPE;
		r->rc = exec_one(s, r);
		if (r->rc == -EPIPE)
			return -EPIPE;
		if (r->rc < 0 && run_cmd(s, "ROLLBACK TO SAVEPOINT req", err,
		                         sizeof(err)) == -EPIPE)
			return -EPIPE;
		if (run_cmd(s, "RELEASE SAVEPOINT req", err, sizeof(err)) ==
		    -EPIPE)
			return -EPIPE;
	}
	if (rc < 0)
		return 0;
	res = run_sql(s, "COMMIT", NULL, err, sizeof(err), &rc);
	if (rc == -EPIPE) {
		s->in_doubt = true;
		return -EPIPE;
	}
	/* A transaction that failed reports its COMMIT as ROLLBACK. */
	if (rc < 0 || strcmp(PQcmdStatus(res), "COMMIT")) {
		if (rc == 0)
			snprintf(err, sizeof(err),
			         "the transaction was rolled "
			         "back");
		log_error("job store %s: commit failed: %s", s->b.where, err);
		run_cmd(s, "ROLLBACK", err, sizeof(err));
		for (r = list; r; r = r->next)
			if (r->rc >= 0 && r->op != STORE_GET &&
			    r->op != STORE_LIST) {
				r->rc = -EIO;
				snprintf(r->err, sizeof(r->err),
				         "commit failed");
			}
	}
	PQclear(res);
	return 0;
}

static void pg_run_batch(struct store_backend *b, struct store_req *list)
{
	struct pg_store *s = pg_of(b);
	struct store_req *r;
	char err[200];
	size_t n = 0;

	for (r = list; r; r = r->next)
		n++;
	for (;;) {
		if (ensure_connected(s) < 0) {
			for (r = list; r; r = r->next) {
				r->rc = -EIO;
				snprintf(r->err, sizeof(r->err),
				         "the database is unreachable");
			}
			break;
		}
		if (batch_once(s, list) != -EPIPE)
			break;
		conn_error(s, err, sizeof(err));
		note_lost(s, err);
		log_info("job store %s: a batch of %zu request(s) met the lost "
		         "connection%s; it runs again, whole",
		         s->b.where, n,
		         s->in_doubt ? " at its commit, which may have "
		                       "happened"
		                     : "");
		reset_outputs(list);
	}
	s->in_doubt = false;
	for (r = list; r; r = r->next)
		if (r->rc < 0 && r->rc != -EEXIST)
			log_error("job store %s: request %d for job %s: %s",
			          s->b.where, r->op, r->rec.id, r->err);
}

static int pg_run_one(struct store_backend *b, struct store_req *r)
{
	struct store_req *next = r->next;

	/* One request is a batch of one: the same retries, one transaction. */
	r->next = NULL;
	pg_run_batch(b, r);
	r->next = next;
	return r->rc;
}

static int pg_load_unfinished(struct store_backend *b, struct store_rec **rows,
                              size_t *n_rows)
{
	struct pg_store *s = pg_of(b);
	struct store_req r = {.op = STORE_LIST};
	struct params p = {.n = 0};
	PGresult *res = NULL;
	int rc;

	*rows = NULL;
	*n_rows = 0;
	p_text(&p, s->host);
	/* This host's own: what it runs, and what it accepted and nobody
	 * took. Other hosts' jobs are theirs to recover (or, once they stop
	 * renewing, for RESCUE). */
	while (!res) {
		if (ensure_connected(s) < 0)
			return -EIO;
		res = run_sql(s,
		              "SELECT " COLS " FROM jobs WHERE (state = "
		              "'running' AND host = $1::text) OR (state = "
		              "'queued' AND submitted_by = $1::text) ORDER BY "
		              "created_ms, id",
		              &p, r.err, sizeof(r.err), &rc);
		if (!res && rc != -EPIPE) {
			log_error("job store %s: %s", s->b.where, r.err);
			return rc;
		}
		if (!res)
			note_lost(s, r.err);
	}
	rc = read_rows(res, &r, 0);
	PQclear(res);
	*rows = r.rows;
	*n_rows = r.n_rows;
	return rc;
}

static void pg_cleanup(struct store_backend *b, int64_t cut, uint64_t budget)
{
	struct pg_store *s = pg_of(b);
	struct params p = {.n = 0};
	PGresult *res;
	char err[200];
	int rc, expired = 0, over = 0;

	/* Not worth waiting for a lost database: the next round will do. */
	if ((!s->conn || PQstatus(s->conn) != CONNECTION_OK) &&
	    connect_once(s, err, sizeof(err)) < 0)
		goto fail;
	if (run_cmd(s, "BEGIN", err, sizeof(err)) < 0)
		goto fail;
	p_i64(&p, cut);
	res = run_sql(s,
	              "DELETE FROM jobs WHERE finished_ms IS NOT NULL AND "
	              "finished_ms < $1::bigint",
	              &p, err, sizeof(err), &rc);
	if (!res)
		goto rollback;
	expired = rows_changed(res);
	PQclear(res);
	p.n = 0;
	p_i64(&p, budget > INT64_MAX ? INT64_MAX : (int64_t)budget);
	/* Newest first, a running total: whatever lies past the budget
	 * goes, oldest first by construction. */
	res = run_sql(
	        s,
	        "DELETE FROM jobs WHERE id IN (SELECT id FROM (SELECT id, "
	        "sum(size) OVER (ORDER BY finished_ms DESC, id DESC ROWS "
	        "UNBOUNDED PRECEDING) AS total FROM jobs WHERE "
	        "finished_ms IS NOT NULL) t WHERE total > $1::bigint)",
	        &p, err, sizeof(err), &rc);
	if (!res)
		goto rollback;
	over = rows_changed(res);
	PQclear(res);
	if (run_cmd(s, "COMMIT", err, sizeof(err)) < 0)
		goto fail;
	if (expired || over)
		log_info("store: removed %d expired and %d over-budget results",
		         expired, over);
	return;
rollback:
	run_cmd(s, "ROLLBACK", err + 100, sizeof(err) - 100);
fail:
	if (s->conn && PQstatus(s->conn) != CONNECTION_OK)
		note_lost(s, err); /* the next batch waits for it */
	else
		log_warning("job store %s: cleanup failed: %s", s->b.where,
		            err);
}

static void pg_close(struct store_backend *b)
{
	struct pg_store *s = pg_of(b);

	if (!s)
		return;
	PQfinish(s->conn);
	if (s->dsn)
		explicit_bzero(s->dsn, strlen(s->dsn));
	free(s->dsn);
	free(s->host);
	free(s);
}

static const struct store_backend_ops pg_ops = {
        .name = "postgresql",
        .run_one = pg_run_one,
        .run_batch = pg_run_batch,
        .load_unfinished = pg_load_unfinished,
        .cleanup = pg_cleanup,
        .close = pg_close,
};

int store_pg_describe(const char *dsn, char *out, size_t size)
{
	static const char *const shown[] = {"host",   "hostaddr", "port",
	                                    "dbname", "user",     NULL};
	PQconninfoOption *opts, *o;
	char *errmsg = NULL;
	size_t len;
	int i;

	snprintf(out, size, "postgresql");
	opts = PQconninfoParse(dsn, &errmsg);
	PQfreemem(errmsg); /* it may quote the dsn: never shown */
	if (!opts)
		return -EINVAL;
	len = (size_t)snprintf(out, size, "postgresql");
	for (i = 0; shown[i]; i++)
		for (o = opts; o->keyword; o++)
			if (!strcmp(o->keyword, shown[i]) && o->val &&
			    *o->val && len < size)
				len += (size_t)snprintf(out + len, size - len,
				                        " %s=%s", o->keyword,
				                        o->val);
	PQconninfoFree(opts);
	return 0;
}

int store_pg_open(const struct config_store *cs, struct store_backend **out,
                  char **why)
{
	struct pg_store *s = calloc(1, sizeof(*s));
	char name[256], err[300];
	int rc;

	*out = NULL;
	*why = NULL;
	if (!s)
		return -ENOMEM;
	s->b.ops = &pg_ops;
	s->lease_ms = cs->lease_ms ? cs->lease_ms : 30000;
	if (cs->host) {
		snprintf(name, sizeof(name), "%s", cs->host);
	} else if (gethostname(name, sizeof(name)) < 0) {
		snprintf(name, sizeof(name), "localhost");
	}
	name[sizeof(name) - 1] = '\0';
	s->dsn = strdup(cs->dsn ? cs->dsn : "");
	s->host = strdup(name);
	if (!s->dsn || !s->host) {
		pg_close(&s->b);
		return -ENOMEM;
	}
	if (store_pg_describe(s->dsn, s->b.where, sizeof(s->b.where)) < 0) {
		pg_close(&s->b);
		*why = strdup("store.dsn: not a valid connection string (use "
		              "keyword=value pairs, such as \"host=db "
		              "dbname=jobd\", or a postgresql:// URI)");
		return -EINVAL;
	}
	if (connect_once(s, err, sizeof(err)) < 0) {
		rc = asprintf(why, "job store %s: cannot connect: %s",
		              s->b.where, err);
		pg_close(&s->b);
		if (rc < 0)
			*why = NULL;
		return -EIO;
	}
	rc = pg_schema_migrate(s->conn, s->host, err, sizeof(err));
	if (rc < 0) {
		if (asprintf(why, "job store %s: %s", s->b.where, err) < 0)
			*why = NULL;
		pg_close(&s->b);
		return rc;
	}
	log_info("job store %s: this host is \"%s\", leases last %llu ms",
	         s->b.where, s->host, (unsigned long long)s->lease_ms);
	*out = &s->b;
	return 0;
}
