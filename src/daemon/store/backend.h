/* SPDX-License-Identifier: MIT */
/*
 * What a job store backend does, apart from the queue and thread that
 * drive it (store.c): run requests, batch them into transactions, load the
 * unfinished jobs at start-up, clean up old results. SQLite (sqlite.c) for
 * one host, PostgreSQL (pg.c) for a database several hosts share.
 * Every call runs on the store thread (or, before it starts, on the
 * opening thread), one at a time. Private to store/.
 */
#ifndef JOBD_DAEMON_STORE_BACKEND_H
#define JOBD_DAEMON_STORE_BACKEND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/store/store.h"

struct store_backend;

struct store_backend_ops {
	const char *name;
	/* Runs one request outside any batch; fills r->rc and r->err and
	 * returns r->rc (see enum store_op). */
	int (*run_one)(struct store_backend *b, struct store_req *r);
	/* Runs a list of requests (linked through next) as one
	 * transaction, each request on its own: one failing does not undo
	 * the others. Fills each r->rc and r->err; logs failures. */
	void (*run_batch)(struct store_backend *b, struct store_req *list);
	/* Every queued or running job, oldest first (rows malloc'd, the
	 * caller frees them with store_rec_fini and free). */
	int (*load_unfinished)(struct store_backend *b, struct store_rec **rows,
	                       size_t *n_rows);
	/* Deletes results finished before cut_ms (Unix ms), then the oldest
	 * results past budget bytes. Logs what it removed or why not. */
	void (*cleanup)(struct store_backend *b, int64_t cut_ms,
	                uint64_t budget);
	/* Closes and frees b. */
	void (*close)(struct store_backend *b);
};

/* A backend embeds this first. */
struct store_backend {
	const struct store_backend_ops *ops;
	/* Where the data is, for messages; never a password. */
	char where[256];
	/* Set by store.c once the store is stopping: a backend waiting for
	 * a lost database gives up soon instead of holding the exit. */
	const atomic_bool *stopping;
};

/* Opens (creating when needed) state_dir/jobs.db. 0, or a negative errno
 * with a malloc'd reason naming the path in *why. */
int store_sqlite_open(const char *state_dir, struct store_backend **out,
                      char **why);

struct config_store;

/* Connects to the PostgreSQL database cs->dsn names, creates or migrates
 * the schema (refusing one newer than this jobd knows). 0, or a negative
 * errno with a malloc'd reason in *why (without the password). */
int store_pg_open(const struct config_store *cs, struct store_backend **out,
                  char **why);

#endif
