/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend of the job store: state_dir/jobs.db in WAL mode, one
 * prepared statement per request kind, a batch per transaction with a
 * savepoint per request. Runs on the store thread only (and, before it
 * starts, on the opening thread).
 */
#include "daemon/store/backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <jobd/error.h>

#include "daemon/util/clock.h"
#include "daemon/util/log.h"

/* 2: jobs.owner, added to a version 1 database by ALTER TABLE. */
#define SCHEMA_VERSION 2
enum stmt_id {
	ST_INSERT,
	ST_START,
	ST_STATE,
	ST_FINISH,
	ST_GET,
	ST_LIST,
	ST_REQUEUE,
	ST_UNFINISHED,
	ST_EXPIRE,
	ST_BUDGET,
	ST_CLAIM,
	ST_RENEW,
	ST_CANCEL,
	ST_COUNT_
};

static const char *const stmt_sql[ST_COUNT_] = {
        [ST_INSERT] = "INSERT INTO jobs(id, plugin, input, timeout_ms, "
                      "state, attempts, created_ms, started_ms, size, "
                      "owner) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                      "length(?3), ?9)",
        [ST_START] = "UPDATE jobs SET state = 'running', started_ms = ?2, "
                     "attempts = attempts + 1 "
                     "WHERE id = ?1 AND state = 'queued'",
        [ST_STATE] = "SELECT state, attempts FROM jobs WHERE id = ?1",
        /* The guard: a job's final state is written once. */
        [ST_FINISH] = "UPDATE jobs SET state = ?2, finished_ms = ?3, "
                      "code = ?4, message = ?5, output = ?6, "
                      "provenance = ?7, started_ms = coalesce(started_ms, "
                      "?8), size = length(input) + coalesce(length(?5), 0) "
                      "+ coalesce(length(?6), 0) + coalesce(length(?7), 0) "
                      "WHERE id = ?1 AND state IN ('queued', 'running') "
                      "AND (?9 IS NULL OR attempts = ?9)",
        [ST_GET] = "SELECT id, plugin, input, timeout_ms, state, attempts, "
                   "created_ms, started_ms, finished_ms, code, message, "
                   "output, provenance, owner FROM jobs WHERE id = ?1",
        [ST_LIST] = "SELECT id, plugin, NULL, timeout_ms, state, attempts, "
                    "created_ms, started_ms, finished_ms, code, message, "
                    "NULL, NULL, owner FROM jobs "
                    "WHERE (?1 IS NULL OR state = ?1) "
                    "AND (?2 IS NULL OR plugin = ?2) "
                    "AND (?4 IS NULL OR owner = ?4) "
                    "ORDER BY created_ms DESC, id LIMIT ?3",
        [ST_REQUEUE] = "UPDATE jobs SET state = 'queued' "
                       "WHERE id = ?1 AND state = 'running'",
        [ST_UNFINISHED] = "SELECT id, plugin, input, timeout_ms, state, "
                          "attempts, created_ms, started_ms, finished_ms, "
                          "code, message, NULL, NULL, owner FROM jobs "
                          "WHERE state IN ('queued', 'running') "
                          "ORDER BY created_ms, id",
        [ST_EXPIRE] = "DELETE FROM jobs WHERE finished_ms IS NOT NULL "
                      "AND finished_ms < ?1",
        /* Newest first, a running total: whatever lies past the budget
         * goes, oldest first by construction. */
        [ST_BUDGET] = "DELETE FROM jobs WHERE id IN (SELECT id FROM "
                      "(SELECT id, sum(size) OVER (ORDER BY finished_ms "
                      "DESC, id DESC ROWS UNBOUNDED PRECEDING) AS total "
                      "FROM jobs WHERE finished_ms IS NOT NULL) "
                      "WHERE total > ?1)",
        /* One host: no other claimer, so no locking beyond the
         * transaction's. */
        [ST_CLAIM] = "UPDATE jobs SET state = 'running', attempts = "
                     "attempts + 1, started_ms = ?3 WHERE id IN (SELECT id "
                     "FROM jobs WHERE state = 'queued' AND plugin IN "
                     "(SELECT value FROM json_each(?1)) ORDER BY "
                     "created_ms, id LIMIT ?2) RETURNING id, plugin, input, "
                     "timeout_ms, state, attempts, created_ms, started_ms, "
                     "finished_ms, code, message, NULL, NULL",
        [ST_RENEW] = "SELECT 1 FROM jobs WHERE id = ?1 AND attempts = ?2 "
                     "AND state = 'running'",
        [ST_CANCEL] = "UPDATE jobs SET state = 'cancelled', finished_ms = "
                      "?2, code = 'cancelled', message = ?3, size = "
                      "length(input) + coalesce(length(?3), 0) "
                      "WHERE id = ?1 AND state = 'queued'",
};

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS jobs ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " plugin TEXT NOT NULL,"
        " input TEXT NOT NULL,"
        " timeout_ms INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done',"
        "  'failed', 'cancelled', 'interrupted')),"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " created_ms INTEGER NOT NULL,"
        " started_ms INTEGER,"
        " finished_ms INTEGER,"
        " code TEXT,"
        " message TEXT,"
        " output TEXT,"
        " provenance TEXT,"
        " size INTEGER NOT NULL DEFAULT 0,"
        " owner TEXT,"
        " CHECK ((finished_ms IS NULL) = (state IN ('queued', 'running'))));"
        "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, created_ms);"
        "CREATE INDEX IF NOT EXISTS jobs_by_finished ON jobs(finished_ms) "
        " WHERE finished_ms IS NOT NULL;"
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL,"
        " value);";

struct sqlite_store {
	struct store_backend b; /* first */
	char *dir;
	char *db_path;
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT_];
};

static struct sqlite_store *sq_of(struct store_backend *b)
{
	return (struct sqlite_store *)(void *)b;
}

__attribute__((format(printf, 3, 4))) static int open_fail(char **why, int rc,
                                                           const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(why, fmt, ap) < 0)
		*why = NULL;
	va_end(ap);
	return rc;
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

static json_t *json_col(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	if (!t)
		return NULL;
	return json_loadb(t, (size_t)sqlite3_column_bytes(st, i),
	                  JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* Binds a JSON value as its compact text (NULL: SQL NULL). */
static int bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
	char *text;

	if (!v)
		return sqlite3_bind_null(st, i);
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		return SQLITE_NOMEM;
	return sqlite3_bind_text(st, i, text, -1, free);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt_ms(sqlite3_stmt *st, int i, int64_t ms)
{
	if (ms)
		sqlite3_bind_int64(st, i, ms);
	else
		sqlite3_bind_null(st, i);
}

/* Reads a row in ST_GET's column order into r. */
static void read_row(sqlite3_stmt *st, struct store_rec *r)
{
	const char *id = (const char *)sqlite3_column_text(st, 0);
	int s;

	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	r->plugin = dup_col(st, 1);
	r->input = json_col(st, 2);
	r->timeout_ms = (uint64_t)sqlite3_column_int64(st, 3);
	s = job_state_from_name((const char *)sqlite3_column_text(st, 4));
	r->state = s < 0 ? JOB_FAILED : (enum job_state)s;
	r->attempts = (unsigned)sqlite3_column_int(st, 5);
	r->created_ms = sqlite3_column_int64(st, 6);
	r->started_ms = sqlite3_column_int64(st, 7);
	r->finished_ms = sqlite3_column_int64(st, 8);
	r->code = dup_col(st, 9);
	r->message = dup_col(st, 10);
	r->output = json_col(st, 11);
	r->provenance = json_col(st, 12);
	r->owner = dup_col(st, 13);
}

static int exec_sql(struct sqlite_store *s, const char *sql, char *err,
                    size_t size)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, size, "%s", msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return -EIO;
}

/* A database made before jobs had owners (schema 1) gains the column;
 * its jobs have none, which only admins see (docs/security.md). In the
 * opening transaction, so it happens once or not at all. */
static int add_owner_column(struct sqlite_store *s, char *err, size_t size)
{
	sqlite3_stmt *st = NULL;
	bool have = false;

	if (sqlite3_prepare_v2(s->db, "PRAGMA table_info(jobs)", -1, &st,
	                       NULL) != SQLITE_OK) {
		snprintf(err, size, "%s", sqlite3_errmsg(s->db));
		return -EIO;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *col = (const char *)sqlite3_column_text(st, 1);

		if (col && !strcmp(col, "owner"))
			have = true;
	}
	sqlite3_finalize(st);
	if (have)
		return 0;
	return exec_sql(s, "ALTER TABLE jobs ADD COLUMN owner TEXT", err, size);
}

static int fail_req(struct sqlite_store *s, struct store_req *r)
{
	snprintf(r->err, sizeof(r->err), "%s", sqlite3_errmsg(s->db));
	return sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_PRIMARYKEY
	               ? -EEXIST
	               : -EIO;
}

static int run_insert(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_INSERT];
	const struct store_rec *j = &r->rec;
	int rc;

	sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->plugin, -1, SQLITE_STATIC);
	if (j->input)
		bind_json(st, 3, j->input);
	else
		sqlite3_bind_text(st, 3, "null", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)j->timeout_ms);
	sqlite3_bind_text(st, 5, job_state_name(j->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, (int)j->attempts);
	sqlite3_bind_int64(st, 7, j->created_ms);
	bind_opt_ms(st, 8, j->started_ms);
	bind_opt_text(st, 9, j->owner);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail_req(s, r);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int run_start(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_START];
	const char *state;
	int rc;

	sqlite3_bind_text(st, 1, r->rec.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->rec.started_ms);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail_req(s, r);
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	/* Running now (by us, or a detach recorded it so): fine, and its
	 * attempt is the fencing token. Otherwise it ended or vanished and
	 * must not run. */
	st = s->st[ST_STATE];
	sqlite3_bind_text(st, 1, r->rec.id, -1, SQLITE_STATIC);
	rc = JOBD_E_NOT_FOUND;
	if (sqlite3_step(st) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 0);
		if (state && !strcmp(state, "running")) {
			r->rec.attempts = (unsigned)sqlite3_column_int(st, 1);
			rc = 0;
		}
	}
	sqlite3_reset(st);
	return rc;
}

static int run_finish(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_FINISH];
	const struct store_rec *j = &r->rec;
	int rc;

	sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, job_state_name(j->state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, j->finished_ms ? j->finished_ms : wall_ms());
	bind_opt_text(st, 4, j->code);
	bind_opt_text(st, 5, j->message);
	bind_json(st, 6, j->output);
	bind_json(st, 7, j->provenance);
	bind_opt_ms(st, 8, j->started_ms);
	if (r->fence)
		sqlite3_bind_int64(st, 9, r->fence);
	else
		sqlite3_bind_null(st, 9);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail_req(s, r);
	if (rc == 0)
		rc = sqlite3_changes(s->db) == 1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int run_get(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_GET];
	char id[STORE_ID_LEN + 1];
	int rc, step;

	snprintf(id, sizeof(id), "%s", r->rec.id);
	store_rec_fini(&r->rec);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		read_row(st, &r->rec);
		rc = 0;
	} else if (step == SQLITE_DONE) {
		snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
		rc = JOBD_E_NOT_FOUND;
	} else {
		rc = fail_req(s, r);
	}
	sqlite3_reset(st);
	return rc;
}

static int run_list(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_LIST];
	unsigned limit = r->list_limit ? r->list_limit : 1000;
	struct store_rec *grown;
	size_t cap = 0;
	int step, rc = 0;

	if (r->list_state >= 0)
		sqlite3_bind_text(st, 1,
		                  job_state_name((enum job_state)r->list_state),
		                  -1, SQLITE_STATIC);
	bind_opt_text(st, 2, r->list_plugin);
	bind_opt_text(st, 4, r->rec.owner);
	/* One more than asked, to tell whether the list was cut. */
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit + 1);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->n_rows == limit) {
			r->truncated = true;
			break;
		}
		if (r->n_rows == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(r->rows, cap * sizeof(*grown));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			r->rows = grown;
		}
		memset(&r->rows[r->n_rows], 0, sizeof(r->rows[0]));
		read_row(st, &r->rows[r->n_rows++]);
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = fail_req(s, r);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int run_requeue(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_REQUEUE];
	int rc;

	sqlite3_bind_text(st, 1, r->rec.id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail_req(s, r);
	sqlite3_reset(st);
	return rc;
}

static int run_claim(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_CLAIM];
	json_t *names = json_array();
	struct store_rec *grown;
	size_t i, cap = 0;
	int step, rc = 0;

	for (i = 0; names && i < r->n_claim; i++)
		json_array_append_new(names, json_string(r->claim_plugins[i]));
	if (!names || bind_json(st, 1, names) != SQLITE_OK) {
		json_decref(names);
		return -ENOMEM;
	}
	json_decref(names);
	sqlite3_bind_int64(st, 2, r->list_limit ? r->list_limit : 1);
	sqlite3_bind_int64(st, 3, wall_ms());
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->n_rows == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(r->rows, cap * sizeof(*grown));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			r->rows = grown;
		}
		memset(&r->rows[r->n_rows], 0, sizeof(r->rows[0]));
		read_row(st, &r->rows[r->n_rows++]);
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = fail_req(s, r);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc < 0 ? rc : (int)r->n_rows;
}

static int run_renew(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_RENEW];
	int step;

	sqlite3_bind_text(st, 1, r->rec.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->fence);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return fail_req(s, r);
	return step == SQLITE_ROW;
}

static int run_cancel(struct sqlite_store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_CANCEL];
	const char *state;
	int rc;

	sqlite3_bind_text(st, 1, r->rec.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, wall_ms());
	bind_opt_text(st, 3, r->rec.message);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail_req(s, r);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc < 0)
		return rc;
	if (sqlite3_changes(s->db) == 1)
		return 1;
	st = s->st[ST_STATE];
	sqlite3_bind_text(st, 1, r->rec.id, -1, SQLITE_STATIC);
	rc = JOBD_E_NOT_FOUND;
	if (sqlite3_step(st) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 0);
		rc = state && !strcmp(state, "running") ? 2 : 0;
	}
	sqlite3_reset(st);
	return rc;
}

static int exec_one(struct sqlite_store *s, struct store_req *r)
{
	switch (r->op) {
	case STORE_INSERT:
		return run_insert(s, r);
	case STORE_START:
		return run_start(s, r);
	case STORE_FINISH:
		return run_finish(s, r);
	case STORE_GET:
		return run_get(s, r);
	case STORE_LIST:
		return run_list(s, r);
	case STORE_REQUEUE:
		return run_requeue(s, r);
	case STORE_CLAIM:
		return run_claim(s, r);
	case STORE_RENEW:
		return run_renew(s, r);
	case STORE_CANCEL:
		return run_cancel(s, r);
	case STORE_RESCUE:
		return 0; /* one host: its restart recovers its jobs */
	case STORE_PROGRESS:
		return 1; /* one host: progress stays in memory */
	}
	return -EINVAL;
}

/* Runs a batch in one transaction, each request under a savepoint. */
static void exec_batch(struct sqlite_store *s, struct store_req *list)
{
	struct store_req *r;
	char err[200];
	bool in_tx;

	in_tx = exec_sql(s, "BEGIN IMMEDIATE", err, sizeof(err)) == 0;
	for (r = list; r; r = r->next) {
		if (!in_tx) {
			r->rc = -EIO;
			snprintf(r->err, sizeof(r->err), "%s", err);
			continue;
		}
		exec_sql(s, "SAVEPOINT req", err, sizeof(err));
		r->rc = exec_one(s, r);
		if (r->rc < 0)
			exec_sql(s, "ROLLBACK TO req", err, sizeof(err));
		exec_sql(s, "RELEASE req", err, sizeof(err));
	}
	if (in_tx && exec_sql(s, "COMMIT", err, sizeof(err)) < 0) {
		log_error("store %s: commit failed: %s", s->db_path, err);
		exec_sql(s, "ROLLBACK", err, sizeof(err));
		for (r = list; r; r = r->next) {
			if (r->rc >= 0 && r->op != STORE_GET &&
			    r->op != STORE_LIST && r->op != STORE_RENEW) {
				r->rc = -EIO;
				snprintf(r->err, sizeof(r->err),
				         "commit failed");
			}
		}
	}
	for (r = list; r; r = r->next)
		if (r->rc < 0 && r->rc != -EEXIST)
			log_error("store %s: request %d for job %s: %s",
			          s->db_path, r->op, r->rec.id, r->err);
}

static int store_open_db(struct sqlite_store *s, char **why)
{
	char err[200];
	sqlite3_stmt *st = NULL;
	const char *text;
	int rc, i, version = 0;

	rc = sqlite3_open_v2(s->db_path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                             SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK)
		return open_fail(why, -EIO, "state_dir %s: cannot open %s: %s",
		                 s->dir, s->db_path,
		                 s->db ? sqlite3_errmsg(s->db)
		                       : sqlite3_errstr(rc));
	sqlite3_extended_result_codes(s->db, 1);
	/* Integrity first: a damaged file must stop us before we write. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		text = (const char *)sqlite3_column_text(st, 0);
		if (!text || strcmp(text, "ok")) {
			rc = open_fail(why, -EIO,
			               "state_dir %s: database %s is corrupt: "
			               "%s",
			               s->dir, s->db_path, text ? text : "?");
			sqlite3_finalize(st);
			return rc;
		}
	} else {
		rc = open_fail(why, -EIO,
		               "state_dir %s: database %s is unreadable: %s",
		               s->dir, s->db_path, sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* WAL: readers never block the writer and a commit is one append.
	 * synchronous=FULL: in WAL mode NORMAL may lose the last commits on
	 * power loss, and a job must survive once it was `accepted`. Group
	 * commit (one transaction per batch) pays for the extra fsync. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st,
	                        NULL);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal")) {
		rc = open_fail(why, -EIO,
		               "state_dir %s: cannot use WAL mode on %s: %s",
		               s->dir, s->db_path, sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (exec_sql(s, "PRAGMA synchronous=FULL", err, sizeof(err)) < 0)
		return open_fail(why, -EIO, "state_dir %s: %s: %s", s->dir,
		                 s->db_path, err);
	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION)
		return open_fail(
		        why, -EPROTO,
		        "state_dir %s: %s has schema version %d, newer "
		        "than this jobd's %d",
		        s->dir, s->db_path, version, SCHEMA_VERSION);
	/* Creating the schema and stamping the open is also the write probe:
	 * a read-only file or a full disk shows here, not at the first job. */
	if (exec_sql(s, "BEGIN IMMEDIATE", err, sizeof(err)) < 0 ||
	    exec_sql(s, schema_sql, err, sizeof(err)) < 0 ||
	    add_owner_column(s, err, sizeof(err)) < 0 ||
	    exec_sql(s, "PRAGMA user_version=2", err, sizeof(err)) < 0 ||
	    exec_sql(s,
	             "INSERT OR REPLACE INTO meta(key, value) VALUES "
	             "('opened_ms', CAST(1000 * (julianday('now') - "
	             "2440587.5) * 86400 AS INTEGER))",
	             err, sizeof(err)) < 0 ||
	    exec_sql(s, "COMMIT", err, sizeof(err)) < 0) {
		char err2[200];

		exec_sql(s, "ROLLBACK", err2, sizeof(err2));
		return open_fail(why, -EIO, "state_dir %s: cannot write %s: %s",
		                 s->dir, s->db_path, err);
	}
	for (i = 0; i < ST_COUNT_; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &s->st[i],
		                       NULL) != SQLITE_OK)
			return open_fail(why, -EIO,
			                 "state_dir %s: %s: bad statement: %s",
			                 s->dir, s->db_path,
			                 sqlite3_errmsg(s->db));
	}
	return 0;
}

static void sq_cleanup(struct store_backend *b, int64_t cut, uint64_t budget)
{
	struct sqlite_store *s = sq_of(b);
	char err[200];
	int expired = 0, over = 0;

	if (exec_sql(s, "BEGIN IMMEDIATE", err, sizeof(err)) < 0)
		goto fail;
	sqlite3_bind_int64(s->st[ST_EXPIRE], 1, cut);
	if (sqlite3_step(s->st[ST_EXPIRE]) == SQLITE_DONE)
		expired = sqlite3_changes(s->db);
	sqlite3_reset(s->st[ST_EXPIRE]);
	sqlite3_bind_int64(s->st[ST_BUDGET], 1, (sqlite3_int64)budget);
	if (sqlite3_step(s->st[ST_BUDGET]) == SQLITE_DONE)
		over = sqlite3_changes(s->db);
	sqlite3_reset(s->st[ST_BUDGET]);
	if (exec_sql(s, "COMMIT", err, sizeof(err)) < 0) {
		exec_sql(s, "ROLLBACK", err, sizeof(err));
		goto fail;
	}
	if (expired || over)
		log_info("store: removed %d expired and %d over-budget results",
		         expired, over);
	return;
fail:
	log_warning("store %s: cleanup failed: %s", s->db_path, err);
}

static int sq_load_unfinished(struct store_backend *b, struct store_rec **rows,
                              size_t *n_rows)
{
	struct sqlite_store *s = sq_of(b);
	sqlite3_stmt *st = s->st[ST_UNFINISHED];
	struct store_rec *grown;
	size_t cap = 0;
	int step, rc = 0;

	*rows = NULL;
	*n_rows = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n_rows == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(*rows, cap * sizeof(*grown));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			*rows = grown;
		}
		memset(&(*rows)[*n_rows], 0, sizeof(**rows));
		read_row(st, &(*rows)[(*n_rows)++]);
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		log_error("store %s: %s", s->db_path, sqlite3_errmsg(s->db));
		rc = -EIO;
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_run_one(struct store_backend *b, struct store_req *r)
{
	return exec_one(sq_of(b), r);
}

static void sq_run_batch(struct store_backend *b, struct store_req *list)
{
	exec_batch(sq_of(b), list);
}

static void sq_close(struct store_backend *b)
{
	struct sqlite_store *s = sq_of(b);
	int i;

	if (!s)
		return;
	for (i = 0; i < ST_COUNT_; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db)
		sqlite3_close(s->db);
	free(s->db_path);
	free(s->dir);
	free(s);
}

static const struct store_backend_ops sqlite_ops = {
        .name = "sqlite",
        .run_one = sq_run_one,
        .run_batch = sq_run_batch,
        .load_unfinished = sq_load_unfinished,
        .cleanup = sq_cleanup,
        .close = sq_close,
};

int store_sqlite_open(const char *state_dir, struct store_backend **out,
                      char **why)
{
	struct sqlite_store *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->b.ops = &sqlite_ops;
	s->dir = strdup(state_dir);
	if (!s->dir || asprintf(&s->db_path, "%s/jobs.db", state_dir) < 0) {
		s->db_path = NULL;
		sq_close(&s->b);
		return -ENOMEM;
	}
	snprintf(s->b.where, sizeof(s->b.where), "%s", s->db_path);
	rc = store_open_db(s, why);
	if (rc < 0) {
		sq_close(&s->b);
		return rc;
	}
	*out = &s->b;
	return 0;
}
