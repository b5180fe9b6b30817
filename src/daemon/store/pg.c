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
		pg_conn_error(s, err, size);
		PQfinish(s->conn);
		s->conn = NULL;
		return -EIO;
	}
	/* An accepted job must survive a crash of the database: never let
	 * a server default of synchronous_commit=off decide otherwise. */
	if (pg_cmd(s,
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
		pg_conn_error(s, err, sizeof(err));
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

	rc = pg_cmd(s, "BEGIN", err, sizeof(err));
	if (rc == -EPIPE)
		return rc;
	for (r = list; r; r = r->next) {
		if (rc < 0) {
			r->rc = -EIO;
			snprintf(r->err, sizeof(r->err), "%s", err);
			continue;
		}
		if (pg_cmd(s, "SAVEPOINT req", err, sizeof(err)) == -EPIPE)
			return -EPIPE;
		r->rc = pg_exec_one(s, r);
		if (r->rc == -EPIPE)
			return -EPIPE;
		/* The transaction's state, not rc, says whether to roll
		 * back: a rerun's INSERT takes its own duplicate as success
		 * (rc 0), yet the failed statement aborted the savepoint,
		 * and every later request of the batch would fail. */
		if ((r->rc < 0 ||
		     PQtransactionStatus(s->conn) == PQTRANS_INERROR) &&
		    pg_cmd(s, "ROLLBACK TO SAVEPOINT req", err, sizeof(err)) ==
		            -EPIPE)
			return -EPIPE;
		if (pg_cmd(s, "RELEASE SAVEPOINT req", err, sizeof(err)) ==
		    -EPIPE)
			return -EPIPE;
	}
	if (rc < 0)
		return 0;
	res = pg_sql(s, "COMMIT", NULL, err, sizeof(err), &rc);
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
		pg_cmd(s, "ROLLBACK", err, sizeof(err));
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
		pg_conn_error(s, err, sizeof(err));
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
	pgp_text(&p, s->host);
	/* This host's own: what it runs, and what it accepted and nobody
	 * took. Other hosts' jobs are theirs to recover (or, once they stop
	 * renewing, for RESCUE). */
	while (!res) {
		if (ensure_connected(s) < 0)
			return -EIO;
		res = pg_sql(s,
		             "SELECT " PG_COLS " FROM jobs WHERE (state = "
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
	rc = pg_read_rows(res, &r, 0);
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
	if (pg_cmd(s, "BEGIN", err, sizeof(err)) < 0)
		goto fail;
	pgp_i64(&p, cut);
	res = pg_sql(s,
	             "DELETE FROM jobs WHERE finished_ms IS NOT NULL AND "
	             "finished_ms < $1::bigint",
	             &p, err, sizeof(err), &rc);
	if (!res)
		goto rollback;
	expired = pg_rows_changed(res);
	PQclear(res);
	p.n = 0;
	pgp_i64(&p, budget > INT64_MAX ? INT64_MAX : (int64_t)budget);
	/* Newest first, a running total: whatever lies past the budget
	 * goes, oldest first by construction. */
	res = pg_sql(s,
	             "DELETE FROM jobs WHERE id IN (SELECT id FROM (SELECT id, "
	             "sum(size) OVER (ORDER BY finished_ms DESC, id DESC ROWS "
	             "UNBOUNDED PRECEDING) AS total FROM jobs WHERE "
	             "finished_ms IS NOT NULL) t WHERE total > $1::bigint)",
	             &p, err, sizeof(err), &rc);
	if (!res)
		goto rollback;
	over = pg_rows_changed(res);
	PQclear(res);
	if (pg_cmd(s, "COMMIT", err, sizeof(err)) < 0)
		goto fail;
	if (expired || over)
		log_info("store: removed %d expired and %d over-budget results",
		         expired, over);
	return;
rollback:
	pg_cmd(s, "ROLLBACK", err + 100, sizeof(err) - 100);
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
