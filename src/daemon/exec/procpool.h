/* SPDX-License-Identifier: MIT */
/*
 * A process pool: a plugin's jobs run in jobd-worker processes, one job at
 * a time per worker, driven from the event loop (docs/isolation.md). It
 * sits behind the same pool interface as the thread pool (pool.h forwards
 * to it), so nothing above exec/ knows which one runs a plugin. Loop
 * thread only: the queue, the workers and their sockets belong to the
 * loop, so nothing here takes a lock.
 *
 * A worker that dies ends its job with plugin_crashed (the message names
 * the signal or exit status) or out_of_memory, and is respawned with
 * backoff; max_crashes within crash_window quarantines the plugin (calls
 * get unavailable with retry_after_ms). A job whose deadline passed or
 * that was cancelled is asked to stop; after kill_grace its worker's
 * process group is killed and the worker replaced.
 */
#ifndef JOBD_DAEMON_EXEC_PROCPOOL_H
#define JOBD_DAEMON_EXEC_PROCPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/exec/job.h"
#include "daemon/util/cq.h"

struct event_base;
struct pool_metrics;
struct pool_stats;
struct procpool;

/* What the pool calls around a job, on the loop thread (plugin.c's
 * plugin_job_begin and plugin_job_end). */
struct procpool_ops {
	int (*begin)(void *ctx, struct job *j);
	void (*end)(void *ctx, struct job *j, int rc, json_t *output, bool ran,
	            bool daemon_code);
};

struct procpool_conf {
	const char *name;      /* the plugin's name, as the daemon read it */
	const char *path;      /* the .so, for messages */
	int plugin_fd;         /* open on the .so; borrowed */
	const json_t *options; /* the plugin's options: (may be NULL) */
	uint32_t flags;        /* the descriptor's flags (RETRY_SAFE) */
	unsigned workers;
	uint32_t bound;          /* 0: auto */
	uint64_t queue_delay_ms; /* auto: the queueing delay aimed for */
	uint64_t memory_limit;
	uint64_t kill_grace_ms;
	unsigned max_crashes;
	uint64_t crash_window_ms;
	unsigned max_attempts;
	uint32_t max_frame; /* limits.max_frame_size */
};

/* Once, before the first process pool: the loop every pool's sockets and
 * timers join, and the state_dir under which crashing inputs are kept.
 * Decides and logs how worker memory is limited. */
void procpool_setup(struct event_base *base, const char *state_dir);

/* Starts the workers and waits for each to load the plugin and answer
 * ready (init runs in the workers, never in the daemon). Fails, with a
 * malloc'd *why, when the first worker cannot start the plugin. */
int procpool_new(const struct procpool_conf *conf,
                 const struct procpool_ops *ops, void *ctx, struct cq *done,
                 struct procpool **out, char **why);

int procpool_submit(struct procpool *pp, struct job *j,
                    uint64_t *retry_after_ms);
uint64_t procpool_retry_after_ms(struct procpool *pp);
bool procpool_unqueue(struct procpool *pp, struct job *j);
int procpool_resize(struct procpool *pp, unsigned workers, uint32_t bound);
void procpool_set_limits(struct procpool *pp, uint64_t kill_grace_ms,
                         unsigned max_crashes, uint64_t crash_window_ms,
                         unsigned max_attempts);
void procpool_get_stats(struct procpool *pp, struct pool_stats *out);
void procpool_get_metrics(struct procpool *pp, struct pool_metrics *out);
uint32_t procpool_pending(struct procpool *pp);
void procpool_drain_queue(struct procpool *pp, void (*fn)(struct job *, void *),
                          void *arg);
/* Asks every worker to stop, waits kill_grace, kills what is left, reaps
 * them all. */
void procpool_stop(struct procpool *pp);
void procpool_free(struct procpool *pp);

#endif
