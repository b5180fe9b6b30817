/* SPDX-License-Identifier: MIT */
/*
 * The job store: detached jobs and their results in SQLite (WAL mode,
 * synchronous=FULL) under state_dir, on a thread of its own so that no
 * database work ever runs on the event loop (docs/jobs.md).
 *
 * Requests go into a FIFO; the store thread takes every waiting request,
 * runs them in one transaction (each under its own savepoint, so one
 * failure does not undo the others) and commits once: a burst of submits
 * costs one fsync (group commit). A finished request goes back to the loop
 * through the completion queue as a CQ_STORE item, or, for store_call(),
 * wakes the thread that waits on it. FIFO order is the consistency rule:
 * a read queued after a write sees it.
 *
 * The same thread deletes expired results periodically: older than
 * result_ttl first, then the oldest finished ones while the stored total is
 * over result_budget.
 */
#ifndef JOBD_DAEMON_STORE_H
#define JOBD_DAEMON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/util/cq.h"

#define STORE_ID_LEN 16 /* hex characters of a job id */

enum job_state {
	JOB_QUEUED = 0,
	JOB_RUNNING,
	JOB_DONE,
	JOB_FAILED,
	JOB_CANCELLED,
	JOB_INTERRUPTED,
	JOB_STATE_COUNT_
};

/* "queued", ...; job_state_from_name returns -1 for an unknown name. */
const char *job_state_name(enum job_state s);
int job_state_from_name(const char *name);
static inline bool job_state_final(enum job_state s)
{
	return s >= JOB_DONE;
}

/* One job as stored. Strings and JSON values are owned by the record. */
struct store_rec {
	char id[STORE_ID_LEN + 1];
	char *plugin;
	json_t *input;
	uint64_t timeout_ms;
	enum job_state state;
	unsigned attempts; /* runs started, across restarts */
	int64_t created_ms, started_ms, finished_ms; /* Unix ms; 0: not yet */
	char *code;     /* error code name for failed/cancelled/interrupted */
	char *message;  /* its text */
	json_t *output; /* done: the plugin's output */
	json_t *provenance; /* when the plugin ran */
	/* The user who submitted it (docs/protocol.md §12), or NULL on a
	 * server without users. STORE_LIST: only this user's jobs, NULL for
	 * all. */
	char *owner;

	/* A shared store (docs/cluster.md); the SQLite backend leaves these
	 * empty on reads and ignores them on writes. */
	char *host;            /* the host that runs (or last ran) the job */
	bool retry_safe;       /* INSERT: the plugin may run it again */
	unsigned max_attempts; /* INSERT: runs allowed if retry_safe */
	bool cancel_requested; /* a cancel is waiting for the running host */
	bool has_progress;
	double fraction;        /* progress, 0..1 */
	char *progress_message; /* its text */
};

void store_rec_fini(struct store_rec *r);

enum store_op {
	/* rec: the new job (state queued or running). rc 0, or -EEXIST. */
	STORE_INSERT = 1,
	/* rec.id, rec.started_ms: a worker is about to run it. Sets running
	 * and counts an attempt if it was queued. rc 0 when the job is
	 * (now) running, with its attempt (the fencing token) in
	 * rec.attempts; JOBD_E_NOT_FOUND when it is missing or final. */
	STORE_START,
	/* rec: the final state with code/message/output/provenance. Only a
	 * queued or running job changes (SQL guard): rc 1 if this request
	 * ended the job, 0 if it had already ended. */
	STORE_FINISH,
	/* rec.id in; the whole record out. rc 0 or JOBD_E_NOT_FOUND. */
	STORE_GET,
	/* list_state (-1: any), list_plugin (NULL: any), list_limit in;
	 * rows out, newest first, without input/output/provenance. */
	STORE_LIST,
	/* rec.id: back to queued (recovery of a retry-safe job). */
	STORE_REQUEUE,

	/* The shared-store requests (docs/cluster.md). Each has a
	 * single-host meaning under SQLite, given after "SQLite:". */

	/* claim_plugins (n_claim), list_limit in: takes up to list_limit
	 * queued jobs of those plugins, oldest first, marks them running on
	 * this host with a fresh lease and attempts + 1 (the fencing token
	 * for FINISH, RENEW and PROGRESS). Jobs another host is claiming
	 * at the same time are skipped, never shared (FOR UPDATE SKIP
	 * LOCKED). rows out, with input; rc the number claimed. SQLite: the
	 * same, without leases. */
	STORE_CLAIM,
	/* rec.id, fence in: extends the lease of a job this host runs. rc 1
	 * renewed, 2 renewed but a cancel was asked (stop the run), 0 the
	 * job is no longer this attempt's (rescued, ended): stop the run,
	 * its result would be refused. SQLite: 1 if the job is running
	 * under that attempt, else 0. */
	STORE_RENEW,
	/* Ends or re-queues the running jobs whose lease expired (their
	 * host stopped renewing): cancelled if a cancel was asked, queued
	 * again if retry_safe and attempts < max_attempts, else interrupted.
	 * rows out (id, plugin, state as now, attempts, host that held
	 * it); rc the number rescued. SQLite: none, rc 0 (one host recovers
	 * its own jobs at start, load_unfinished). */
	STORE_RESCUE,
	/* rec.id, rec.message in: a queued job ends cancelled at once (rc
	 * 1); a running one is marked for its host, which hears it through
	 * NOTIFY or its next RENEW (rc 2; rec.host and rec.attempts out); rc
	 * 0 if it had already ended, JOBD_E_NOT_FOUND if there is no such
	 * job. SQLite: the same, the running host being this one (nothing
	 * is marked). */
	STORE_CANCEL,
	/* rec.id, fence, rec.fraction, rec.progress_message in: records
	 * the progress of a running attempt for other hosts to read (and
	 * announces it). rc 1, or 0 if the attempt is no longer current.
	 * SQLite: nothing to share, rc 1. */
	STORE_PROGRESS,
};

struct store_waiter;

struct store_req {
	struct cq_item item; /* CQ_STORE on its way back */
	struct store_req *next;
	enum store_op op;
	struct store_rec rec;

	/* FINISH, RENEW, PROGRESS: the attempt that must still hold the job
	 * (its fencing token); 0: no check (single host). */
	unsigned fence;
	/* CLAIM: plugins this host has loaded and room for (owned). */
	char **claim_plugins;
	size_t n_claim;

	int list_state;
	char *list_plugin;
	unsigned list_limit;
	struct store_rec *rows;
	size_t n_rows;
	bool truncated;

	int rc;        /* see enum store_op; a negative errno on failure */
	char err[200]; /* the database's words for a failure */

	/* For the loop: what to do with the answer, and for whom. The store
	 * never reads these. */
	int purpose;
	uint32_t conn_slot, conn_gen;
	bool has_id;
	int64_t req_id;

	struct store_waiter *waiter; /* store_call() only */
};

struct store;
struct config_store;

/*
 * Opens (creating as needed) state_dir, takes the directory's lock file,
 * then opens the backend cs names (NULL: SQLite in state_dir/jobs.db),
 * checking integrity and the schema (creating or migrating it). Main
 * thread, before store_start. On failure returns a negative errno and a
 * malloc'd one-line reason naming the path or database and the problem in
 * *why (never a password).
 */
int store_open(const char *state_dir, const struct config_store *cs,
               struct store **out, char **why);

/* "postgresql host=.. port=.. dbname=.. user=..": a libpq connection
 * string without its secrets, for messages. -EINVAL (out is then just
 * "postgresql") if libpq cannot parse it. */
int store_pg_describe(const char *dsn, char *out, size_t size);

/* Where the jobs are, for people: "DIR/jobs.db", or "postgresql host=..
 * port=.. dbname=.. user=.." without the password. Valid until close. */
const char *store_where(const struct store *s);

/* Before store_start, on the opening thread: every queued or running job,
 * oldest first, with input. Caller frees rows (store_rec_fini each, then
 * free). */
int store_load_unfinished(struct store *s, struct store_rec **rows,
                          size_t *n_rows);

/* Before store_start: runs one request on the calling thread. */
int store_run_now(struct store *s, struct store_req *r);

/* Starts the store thread. done: where answered requests go. ttl_ms and
 * budget_bytes: what the periodic cleanup keeps. */
int store_start(struct store *s, struct cq *done, uint64_t ttl_ms,
                uint64_t budget_bytes);

/* Reload: new cleanup limits, applied at once. Any thread. */
void store_set_limits(struct store *s, uint64_t ttl_ms, uint64_t budget_bytes);

/* Any thread. Ownership of r passes to the store until it comes back as a
 * CQ_STORE item. */
void store_submit(struct store *s, struct store_req *r);

/* Any thread but the loop's (it blocks until committed). r stays the
 * caller's. Returns r->rc. */
int store_call(struct store *s, struct store_req *r);

/* Runs the cleanup now and waits for it (tests, and SIGHUP). */
void store_cleanup_now(struct store *s);

/* The daemon is stopping: from now on a backend that lost its database
 * gives up after a few quick tries instead of waiting for it (the requests
 * then fail; accepted jobs stay in the database for the next start). Any
 * thread; NULL ok. */
void store_stopping(struct store *s);

/* Finishes every queued request (their completions are pushed as usual),
 * stops the thread, closes the database, releases the lock. NULL ok. */
void store_close(struct store *s);

/* Like store_close, but leaves the database and memory alone: for an exit
 * that cannot free safely. A request submitted later never completes. */
void store_stop(struct store *s);

struct store_req *store_req_new(enum store_op op);
void store_req_free(struct store_req *r);

/* A fresh job id: 16 hex characters from getrandom(). */
void store_new_id(char id[STORE_ID_LEN + 1]);

#endif
