/* SPDX-License-Identifier: MIT */
/*
 * Fair share inside one plugin's queue (docs/backpressure.md): users take
 * turns. Jobs wait in one lane per user (one lane for jobs without a
 * user); each take serves the lane at the cursor and moves the cursor on,
 * so with several users waiting, each gets one job started per round, and
 * a single user sees plain FIFO. A user at its max_running is skipped
 * until one of its jobs ends. A user that starts waiting gets the next
 * turn.
 *
 * A pool embeds a struct fairq and calls it under its own lock; nothing
 * here locks or sleeps, so any kind of pool (threads, worker processes)
 * can use it.
 */
#ifndef JOBD_DAEMON_EXEC_FAIRQ_H
#define JOBD_DAEMON_EXEC_FAIRQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct job;

/* One user's counts across every pool, and its caps. Made by the layer
 * that knows users (proto), which keeps it for the daemon's life: a job
 * names it by pointer from any thread. */
struct job_user {
	char *name;              /* owned */
	atomic_uint max_running; /* 0: no cap */
	atomic_uint max_queued;  /* 0: no cap; checked by the caller */
	atomic_uint queued;      /* jobs waiting in any pool */
	atomic_uint running;     /* jobs running in any pool */
	struct job_user *next;   /* the owner's list */
};

struct fairq_lane;

struct fairq {
	struct fairq_lane *cursor; /* ring of lanes with waiting jobs */
	uint32_t count;            /* jobs waiting */
};

/* Appends j to its user's lane (j->user, NULL for none). 0 or -ENOMEM. */
int fairq_push(struct fairq *q, struct job *j);

/* The next job to start, or NULL if none may (empty, or every waiting
 * user at its max_running). Counts it running for its user. */
struct job *fairq_pop(struct fairq *q);

/* Takes j (waiting in q) out. */
void fairq_remove(struct fairq *q, struct job *j);

/* Takes every waiting job out, as a list through q_next, lane by lane. */
struct job *fairq_take_all(struct fairq *q);

/* j, popped earlier, has finished running. Any thread. */
void fairq_done(struct job *j);

/* Frees the lanes (the queue must be empty). */
void fairq_fini(struct fairq *q);

#endif
