/* SPDX-License-Identifier: MIT */
/*
 * A worker pool: a bounded FIFO of jobs and the workers that run them, in
 * the manner of nginx's thread pools. A full queue refuses at once (busy)
 * instead of blocking the loop. Finished jobs go to a completion queue; the
 * interface is submit/complete only, so a later backend can run workers as
 * child processes behind the same calls.
 */
#ifndef JOBD_DAEMON_POOL_H
#define JOBD_DAEMON_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <jobd/error.h>

#include "daemon/util/cq.h"
#include "daemon/exec/job.h"

/* What the pool runs; all called on worker threads. */
struct pool_ops {
	/* Before a worker's first job; non-zero stops that worker. */
	int (*worker_init)(void *ctx, void **worker_state);
	void (*worker_fini)(void *ctx, void *worker_state);
	/* Runs the job and fills its status, fail_msg and frame. */
	void (*run)(void *ctx, void *worker_state, struct job *j);
};

struct pool_stats {
	unsigned workers;
	uint32_t queue_bound; /* the bound in force now (auto: computed) */
	bool auto_bound;
	uint32_t queued;
	uint32_t running;
	uint64_t done;
	uint64_t failed;
	uint64_t busy; /* refused with a full queue */
	double mean_service_ms;
	/* Process pools (exec/procpool.c) only. */
	bool process;
	uint64_t restarts;       /* workers replaced after a crash or kill */
	uint32_t crashes;        /* within crash_window */
	uint64_t quarantined_ms; /* quarantine left; 0: none */
};

/* What /metrics shows (docs/http.md): how calls ended, by code, and how
 * long they took, as histograms over fixed bounds in seconds. */
#define POOL_HIST_BUCKETS 13
extern const double pool_hist_bounds_s[POOL_HIST_BUCKETS];

struct pool_hist {
	uint64_t le[POOL_HIST_BUCKETS]; /* cumulative: at most bound[i] */
	uint64_t count;                 /* all, the +Inf bucket */
	double sum_s;
};

struct pool_metrics {
	/* [JOBD_OK] ran fine; [code] ended with that error: failed in the
	 * plugin, refused busy, cancelled or timed out in the queue. */
	uint64_t outcome[JOBD_E_COUNT_];
	struct pool_hist duration; /* queued to finished, of calls that ran */
	struct pool_hist queue;    /* queued to started */
};

struct pool;
struct procpool;

/* A pool whose workers are processes: every call below forwards to pp
 * (exec/procpool.c), which the pool then owns. */
int pool_new_process(struct procpool *pp, struct pool **out);

/* Starts `workers` threads. bound CONFIG_QUEUE_BOUND_AUTO (0) sizes the
 * queue from the measured service time (docs/backpressure.md). ops and ctx
 * are borrowed for the pool's life. */
int pool_new(const char *name, unsigned workers, uint32_t bound,
             uint64_t target_delay_ms, const struct pool_ops *ops, void *ctx,
             struct cq *done, struct pool **out);

/* Loop thread. 0: queued, the pool owns j until it reaches `done`.
 * -EBUSY: queue full (j untouched; *retry_after_ms filled when not NULL).
 * -ESHUTDOWN: the pool is stopping. */
int pool_submit(struct pool *p, struct job *j, uint64_t *retry_after_ms);

/* The retry_after_ms hint pool_submit gives when it says busy: about how
 * long the queue now takes to run (at least 1). */
uint64_t pool_retry_after_ms(struct pool *p);

/* Loop thread. If j is still waiting in the queue, removes it and returns
 * true: ownership is back with the caller. False: a worker has it. */
bool pool_unqueue(struct pool *p, struct job *j);

/* Changes the size and bound of a running pool (reload). */
int pool_resize(struct pool *p, unsigned workers, uint32_t bound);

/* The queueing delay an auto bound aims for (0: the default, 1 s). */
void pool_set_target_delay(struct pool *p, uint64_t target_delay_ms);

void pool_get_stats(struct pool *p, struct pool_stats *out);

/* A copy of the counters, under the pool's lock. */
void pool_get_metrics(struct pool *p, struct pool_metrics *out);

/* Jobs queued or running. */
uint32_t pool_pending(struct pool *p);

/* Removes every queued job and hands them to fn (loop thread) so the
 * caller can answer them; running jobs go on. */
void pool_drain_queue(struct pool *p, void (*fn)(struct job *, void *),
                      void *arg);

/* Stops taking jobs, lets the workers finish what they hold, joins them
 * (worker_fini runs on each). Queued jobs must have been drained. */
void pool_stop(struct pool *p);

/* pool_stop() then frees. Accepts NULL. */
void pool_free(struct pool *p);

#endif
