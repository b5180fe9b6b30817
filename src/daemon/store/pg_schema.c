/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL schema as a list of migrations. Each runs once, in its
 * own transaction, and is recorded in jobd_migrations with the host that
 * applied it; a migration once released is never edited, only followed by
 * another. Hosts that start together take turns through a transaction
 * advisory lock, so each migration is applied exactly once.
 */
#include "daemon/store/pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util/log.h"

/* Any constant will do: it only has to differ from other users' locks in
 * the same database. "jobd" in ASCII. */
#define MIGRATION_LOCK "1785684580"

struct migration {
	int version;
	const char *what;
	const char *sql;
};

static const struct migration migrations[] = {
        {1, "jobs",
         /* The same table as SQLite's (sqlite.c), in PostgreSQL's
          * types. JSON is kept as text: exactly the bytes jobd wrote. */
         "CREATE TABLE jobs ("
         " id text PRIMARY KEY,"
         " plugin text NOT NULL,"
         " input text NOT NULL,"
         " timeout_ms bigint NOT NULL DEFAULT 0,"
         " state text NOT NULL CHECK (state IN ('queued', 'running',"
         "  'done', 'failed', 'cancelled', 'interrupted')),"
         " attempts integer NOT NULL DEFAULT 0,"
         " created_ms bigint NOT NULL,"
         " started_ms bigint,"
         " finished_ms bigint,"
         " code text,"
         " message text,"
         " output text,"
         " provenance text,"
         " size bigint NOT NULL DEFAULT 0,"
         " CHECK ((finished_ms IS NULL) = (state IN ('queued', "
         "'running'))));"
         "CREATE INDEX jobs_by_state ON jobs(state, created_ms);"
         "CREATE INDEX jobs_by_finished ON jobs(finished_ms)"
         " WHERE finished_ms IS NOT NULL;"},
        {2, "hosts, leases, fencing and notifications",
         /* host: who runs the job (or ran it last); submitted_by: who
          * accepted it. attempts is the fencing token. lease_until is
          * on the database's clock, so hosts' clocks need not agree.
          * retry_safe and max_attempts travel with the job, so that any
          * host can rescue it without having its plugin loaded. */
         "ALTER TABLE jobs"
         " ADD COLUMN host text,"
         " ADD COLUMN submitted_by text,"
         " ADD COLUMN lease_until timestamptz,"
         " ADD COLUMN retry_safe boolean NOT NULL DEFAULT false,"
         " ADD COLUMN max_attempts integer NOT NULL DEFAULT 1,"
         " ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,"
         " ADD COLUMN progress double precision,"
         " ADD COLUMN progress_message text;"
         "CREATE INDEX jobs_claimable ON jobs(plugin, created_ms)"
         " WHERE state = 'queued';"
         "CREATE INDEX jobs_leases ON jobs(lease_until)"
         " WHERE state = 'running';"
         /* Every change a host must hear about, sent at commit on the
          * channel jobd. A lease renewal sets none of these columns and
          * stays quiet. The message is cut to stay far below NOTIFY's
          * 8000-byte payload limit. */
         "CREATE FUNCTION jobd_notify() RETURNS trigger LANGUAGE plpgsql"
         " AS $f$ BEGIN"
         " PERFORM pg_notify('jobd', json_build_object("
         "  'job', NEW.id, 'plugin', NEW.plugin, 'state', NEW.state,"
         "  'attempt', NEW.attempts, 'host', NEW.host,"
         "  'cancel', NEW.cancel_requested, 'fraction', NEW.progress,"
         "  'message', left(NEW.progress_message, 200))::text);"
         " RETURN NULL; END $f$;"
         "CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF state,"
         " cancel_requested, progress, progress_message ON jobs"
         " FOR EACH ROW EXECUTE FUNCTION jobd_notify();"},
        {3, "owners",
         /* The user who submitted the job (docs/protocol.md §12); none
          * for jobs from before users, which only admins see. */
         "ALTER TABLE jobs ADD COLUMN owner text;"},
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

#define SCHEMA_VERSION 3
const int pg_schema_version = SCHEMA_VERSION;

static int exec_ok(PGconn *conn, const char *sql, char *err, size_t size)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, size, "%s", PQerrorMessage(conn));
		err[strcspn(err, "\n")] = '\0';
		rc = -EIO;
	}
	PQclear(res);
	return rc;
}

/* The newest version applied, 0 for a fresh database; -1 on error. */
static int applied_version(PGconn *conn, char *err, size_t size)
{
	PGresult *res;
	int v = -1;

	res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM "
	                   "jobd_migrations");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	else {
		snprintf(err, size, "%s", PQerrorMessage(conn));
		err[strcspn(err, "\n")] = '\0';
	}
	PQclear(res);
	return v;
}

static void rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

int pg_schema_migrate(PGconn *conn, const char *host, char *err, size_t size)
{
	const struct migration *m;
	const char *params[3];
	char vtext[16];
	PGresult *res;
	int have;

	for (;;) {
		if (exec_ok(conn, "BEGIN", err, size) < 0)
			return -EIO;
		if (exec_ok(conn,
		            "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")",
		            err, size) < 0 ||
		    exec_ok(conn,
		            "CREATE TABLE IF NOT EXISTS jobd_migrations ("
		            " version integer PRIMARY KEY,"
		            " what text NOT NULL,"
		            " applied_at timestamptz NOT NULL DEFAULT now(),"
		            " applied_by text)",
		            err, size) < 0) {
			rollback(conn);
			return -EIO;
		}
		have = applied_version(conn, err, size);
		if (have < 0) {
			rollback(conn);
			return -EIO;
		}
		if (have > pg_schema_version) {
			rollback(conn);
			snprintf(
			        err, size,
			        "the database has schema version %d, newer "
			        "than "
			        "this jobd's %d: a newer jobd migrated it; run "
			        "that version (or newer) here too",
			        have, pg_schema_version);
			return -EPROTO;
		}
		if (have == pg_schema_version)
			return exec_ok(conn, "COMMIT", err, size);
		m = &migrations[have]; /* the list is dense: version i+1 at i */
		if (exec_ok(conn, m->sql, err, size) < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", err);
			rollback(conn);
			snprintf(err, size, "migration %d (%s) failed: %s",
			         m->version, m->what, why);
			return -EIO;
		}
		snprintf(vtext, sizeof(vtext), "%d", m->version);
		params[0] = vtext;
		params[1] = m->what;
		params[2] = host;
		res = PQexecParams(conn,
		                   "INSERT INTO jobd_migrations(version, what, "
		                   "applied_by) VALUES($1, $2, $3)",
		                   3, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			snprintf(err, size, "%s", PQerrorMessage(conn));
			err[strcspn(err, "\n")] = '\0';
			PQclear(res);
			rollback(conn);
			return -EIO;
		}
		PQclear(res);
		if (exec_ok(conn, "COMMIT", err, size) < 0)
			return -EIO;
		log_notice("job store: applied schema migration %d (%s)",
		           m->version, m->what);
	}
}

/* The list and the number must agree. */
_Static_assert(N_MIGRATIONS == SCHEMA_VERSION,
               "SCHEMA_VERSION is the last migration's");
