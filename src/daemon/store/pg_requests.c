/* SPDX-License-Identifier: MIT */
/*
 * The SQL of each store request on PostgreSQL, run inside the batch's
 * transaction (pg.c). The cluster requests (CLAIM, RENEW, RESCUE, CANCEL,
 * PROGRESS) and the fencing token are described in store.h and
 * docs/cluster.md. Store thread only.
 */
#include "daemon/store/pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobd/error.h>

#include "daemon/util/clock.h"

/* Rows one RESCUE handles; the next call takes the rest. */
#define RESCUE_MAX "1000"

/* A statement of request r: its failure is described in r->err. */
#define SQL(s, r, sql, p, rc) pg_sql(s, sql, p, r->err, sizeof(r->err), rc)

static int pg_insert(struct pg_store *s, struct store_req *r)
{
	const struct store_rec *j = &r->rec;
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	pgp_text(&p, j->id);
	pgp_text(&p, j->plugin);
	if (j->input)
		rc = pgp_json(&p, j->input);
	else {
		pgp_text(&p, "null");
		rc = 0;
	}
	if (rc < 0)
		return rc;
	pgp_i64(&p, (int64_t)j->timeout_ms);
	pgp_text(&p, job_state_name(j->state));
	pgp_i64(&p, j->attempts);
	pgp_i64(&p, j->created_ms);
	pgp_opt_i64(&p, j->started_ms);
	pgp_text(&p, s->host);
	pgp_i64(&p, (int64_t)s->lease_ms);
	pgp_text(&p, j->retry_safe ? "t" : "f");
	pgp_i64(&p, j->max_attempts ? j->max_attempts : 1);
	pgp_text(&p, j->owner);
	res = SQL(s, r,
	          "INSERT INTO jobs(id, plugin, input, timeout_ms, state, "
	          "attempts, created_ms, started_ms, size, submitted_by, host, "
	          "lease_until, retry_safe, max_attempts, owner) "
	          "VALUES($1::text, "
	          "$2::text, $3::text, $4::bigint, $5::text, $6::integer, "
	          "$7::bigint, $8::bigint, length($3::text), $9::text, "
	          "CASE WHEN $5::text = 'running' THEN $9::text END, "
	          "CASE WHEN $5::text = 'running' THEN " PG_LEASE(
	                  "$10") " END, "
	                         "$11::boolean, $12::integer, $13::text)",
	          &p, &rc);
	pgp_fini(&p);
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

	pgp_text(&p, r->rec.id);
	pgp_i64(&p, r->rec.started_ms ? r->rec.started_ms : wall_ms());
	pgp_text(&p, s->host);
	pgp_i64(&p, (int64_t)s->lease_ms);
	res = SQL(
	        s, r,
	        "UPDATE jobs SET state = 'running', started_ms = $2::bigint, "
	        "attempts = attempts + 1, host = $3::text, lease_until "
	        "= " PG_LEASE("$4") " WHERE id = $1::text AND state = 'queued' "
	                            "RETURNING attempts",
	        &p, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		r->rec.attempts = (unsigned)pg_i64_val(res, 0, 0);
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
		r->rec.attempts = (unsigned)pg_i64_val(res, 0, 1);
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
	pgp_text(&p, j->id);
	pgp_text(&p, job_state_name(j->state));
	pgp_i64(&p, j->finished_ms);
	pgp_text(&p, j->code);
	pgp_text(&p, j->message);
	if (pgp_json(&p, j->output) < 0 || pgp_json(&p, j->provenance) < 0) {
		pgp_fini(&p);
		return -ENOMEM;
	}
	pgp_opt_i64(&p, j->started_ms);
	pgp_opt_i64(&p, r->fence);
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
	pgp_fini(&p);
	if (!res)
		return rc;
	rc = pg_rows_changed(res) == 1;
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
	pgp_text(&p, id);
	res = SQL(s, r, "SELECT " PG_COLS " FROM jobs WHERE id = $1::text", &p,
	          &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		pg_read_row(res, 0, &r->rec);
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

	pgp_text(&p, r->list_state >= 0
	                     ? job_state_name((enum job_state)r->list_state)
	                     : NULL);
	pgp_text(&p, r->list_plugin);
	/* One more than asked, to tell whether the list was cut. */
	pgp_i64(&p, (int64_t)limit + 1);
	pgp_text(&p, r->rec.owner); /* NULL: everyone's */
	res = SQL(s, r,
	          "SELECT " PG_COLS_SHORT
	          " FROM jobs WHERE ($1::text IS NULL OR "
	          "state = $1::text) AND ($2::text IS NULL OR plugin = "
	          "$2::text) AND ($4::text IS NULL OR owner = $4::text) "
	          "ORDER BY created_ms DESC, id LIMIT $3::bigint",
	          &p, &rc);
	if (!res)
		return rc;
	rc = pg_read_rows(res, r, limit);
	PQclear(res);
	return rc;
}

static int pg_requeue(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	int rc;

	pgp_text(&p, r->rec.id);
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
	pgp_text(&p, p.owned[0]);
	pgp_i64(&p, r->list_limit ? r->list_limit : 1);
	pgp_text(&p, s->host);
	pgp_i64(&p, wall_ms());
	pgp_i64(&p, (int64_t)s->lease_ms);
	/* SKIP LOCKED: rows another host is claiming right now are passed
	 * over, not waited for, so no two hosts take the same job and no
	 * host queues behind another. */
	res = SQL(s, r,
	          "UPDATE jobs j SET state = 'running', host = $3::text, "
	          "attempts = j.attempts + 1, started_ms = $4::bigint, "
	          "lease_until = " PG_LEASE(
	                  "$5") " FROM (SELECT id FROM jobs "
	                        "WHERE state = 'queued' AND plugin = "
	                        "ANY($1::text[]) "
	                        "ORDER BY created_ms, id LIMIT $2::bigint FOR "
	                        "UPDATE SKIP "
	                        "LOCKED) c WHERE j.id = c.id "
	                        "RETURNING " PG_COLS_J,
	          &p, &rc);
	pgp_fini(&p);
	if (!res)
		return rc;
	rc = pg_read_rows(res, r, 0);
	PQclear(res);
	return rc < 0 ? rc : (int)r->n_rows;
}

static int pg_renew(struct pg_store *s, struct store_req *r)
{
	struct params p = {.n = 0};
	PGresult *res;
	int rc;

	pgp_text(&p, r->rec.id);
	pgp_i64(&p, r->fence);
	pgp_i64(&p, (int64_t)s->lease_ms);
	pgp_text(&p, s->host);
	res = SQL(
	        s, r,
	        "UPDATE jobs SET lease_until = " PG_LEASE(
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

	pgp_i64(&p, wall_ms());
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
		o->plugin = pg_dup_val(res, (int)i, 1);
		o->state = st < 0 ? JOB_FAILED : (enum job_state)st;
		o->attempts = (unsigned)pg_i64_val(res, (int)i, 3);
		o->host = pg_dup_val(res, (int)i, 4);
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
	pgp_text(&p, r->rec.id);
	pgp_i64(&p, r->rec.finished_ms);
	pgp_text(&p, r->rec.message);
	res = SQL(s, r,
	          "UPDATE jobs SET state = 'cancelled', finished_ms = "
	          "$2::bigint, code = 'cancelled', message = $3::text, size = "
	          "length(input) + coalesce(length($3::text), 0) WHERE id = "
	          "$1::text AND state = 'queued'",
	          &p, &rc);
	if (!res)
		return rc;
	rc = pg_rows_changed(res);
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
		r->rec.host = pg_dup_val(res, 0, 0);
		r->rec.attempts = (unsigned)pg_i64_val(res, 0, 1);
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
	pgp_text(&p, r->rec.id);
	pgp_opt_i64(&p, r->fence);
	pgp_text(&p, frac);
	pgp_text(&p, r->rec.progress_message);
	res = SQL(s, r,
	          "UPDATE jobs SET progress = $3::double precision, "
	          "progress_message = $4::text WHERE id = $1::text AND state "
	          "= 'running' AND ($2::integer IS NULL OR attempts = "
	          "$2::integer)",
	          &p, &rc);
	if (!res)
		return rc;
	rc = pg_rows_changed(res) == 1;
	PQclear(res);
	return rc;
}

int pg_exec_one(struct pg_store *s, struct store_req *r)
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
