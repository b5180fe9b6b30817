/* SPDX-License-Identifier: MIT */
/*
 * Hearing what other hosts do to jobs in a shared (PostgreSQL) store: a
 * connection of its own that LISTENs on the channel jobd, where the
 * database announces at commit every new job, claim, state change, cancel
 * request and progress (a trigger, pg_schema.c). Made for the event loop:
 * nothing here blocks after store_watch_open, reconnecting included.
 *
 * Notifications are not stored: whatever is sent while the connection is
 * down is lost. So after every (re)connection the caller is told to
 * resync, and reads the state of the jobs it follows from the store (the
 * polling fallback, docs/cluster.md).
 */
#ifndef JOBD_DAEMON_STORE_WATCH_H
#define JOBD_DAEMON_STORE_WATCH_H

#include <stdbool.h>

#include "daemon/store/store.h"

struct config_store;
struct store_watch;

/* One announcement; its strings live until the callback returns. */
struct store_event {
	const char *job;
	const char *plugin;
	enum job_state state;
	unsigned attempt;
	const char *host; /* running host, or NULL */
	bool cancel;      /* a cancel waits for the running host */
	bool has_progress;
	double fraction;
	const char *message; /* progress text, or NULL */
};

typedef void (*store_event_fn)(void *arg, const struct store_event *ev);

/* What the loop waits for before the next store_watch_step. */
enum store_watch_wait {
	STORE_WATCH_READ = 1,  /* store_watch_fd readable */
	STORE_WATCH_WRITE = 2, /* store_watch_fd writable (connecting) */
	STORE_WATCH_TIMER = 3, /* no socket: step again after retry_ms */
};

/* Connects (blocking: start-up only) and LISTENs. cs must name a
 * postgresql store. 0, or a negative errno and a malloc'd reason without
 * the password in *why. */
int store_watch_open(const struct config_store *cs, struct store_watch **out,
                     char **why);

/* The socket to wait on, or -1 (then wait for the timer). It changes when
 * the connection is made again: read it after every step. */
int store_watch_fd(const struct store_watch *w);

/*
 * Does what is due without blocking: reads and delivers announcements
 * (fn), notices a lost connection, advances a reconnection. Returns what
 * to wait for next; *retry_ms is set for STORE_WATCH_TIMER. *resync is
 * set true when announcements may have been missed (a connection was
 * made again): the caller reads its jobs' state from the store.
 */
enum store_watch_wait store_watch_step(struct store_watch *w, store_event_fn fn,
                                       void *arg, unsigned *retry_ms,
                                       bool *resync);

/* NULL ok. */
void store_watch_close(struct store_watch *w);

#endif
