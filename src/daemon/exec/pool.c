/* SPDX-License-Identifier: MIT */
#include "daemon/exec/pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/config/config.h"
#include "daemon/exec/fairq.h"
#include "daemon/exec/procpool.h"
#include "daemon/util/log.h"

/* Bounds for the automatic queue size: never below a few jobs per worker
 * (so a burst is absorbed), never above what memory should hold. */
#define AUTO_BOUND_INITIAL        1024u
#define AUTO_BOUND_MIN_PER_WORKER 4u
#define AUTO_BOUND_MAX            65536u
/* Weight of a new sample in the service-time moving average (1/8). */
#define EWMA_SHIFT 3
/* A sample counts as at most this many times the average: one job that
 * was preempted for a time slice (milliseconds, against microseconds for a
 * fast plugin) at most doubles the estimate instead of shrinking the bound
 * a hundredfold; a real slowdown is still followed within ~15 jobs. */
#define EWMA_OUTLIER 8u
/* A worker that finds only jobs of users at their max_running looks
 * again this often: a job of theirs may end in another plugin's pool. */
#define CAPPED_RECHECK_NS (20 * 1000000L)

const double pool_hist_bounds_s[POOL_HIST_BUCKETS] = {
        0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600,
};

static void hist_add_locked(struct pool_hist *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	unsigned i;

	for (i = 0; i < POOL_HIST_BUCKETS; i++)
		if (s <= pool_hist_bounds_s[i])
			h->le[i]++;
	h->count++;
	h->sum_s += s;
}

struct worker {
	struct pool *pool;
	pthread_t thread;
	bool started;
	bool retire; /* set by resize: exit after the current job */
	bool exited;
};

struct pool {
	struct procpool *proc; /* set: a process pool; the rest is unused */
	char name[64];
	const struct pool_ops *ops;
	void *ctx;
	struct cq *done;

	pthread_mutex_t lock;
	pthread_cond_t more; /* a job was queued, or stopping */
	struct fairq q;      /* users take turns (fairq.h) */
	uint32_t queued;
	uint32_t running;
	uint32_t sleeping;    /* workers in pthread_cond_wait */
	uint32_t wakes_due;   /* of them, signalled and not yet up */
	uint32_t fixed_bound; /* 0: auto */
	uint64_t target_delay_ns;
	bool stopping;

	/* Each worker owns its struct (threads keep a pointer to it), so the
	 * array of pointers can grow on reload. Only the loop touches it. */
	struct worker **workers;
	unsigned n_workers;    /* slots in workers[] */
	unsigned want_workers; /* how many should be running */

	uint64_t done_count, failed_count, busy_count;
	struct pool_metrics metrics;
	uint64_t service_total_ns;
	uint64_t service_ewma_ns;
};

static uint32_t pool_bound_locked(const struct pool *p)
{
	uint64_t b;

	if (p->fixed_bound)
		return p->fixed_bound;
	if (!p->service_ewma_ns)
		return AUTO_BOUND_INITIAL;
	/* Little's law: with W workers each taking S per job, a queue of
	 * W * T / S jobs waits about T. Bound the queue by that delay. */
	b = (uint64_t)p->want_workers * p->target_delay_ns / p->service_ewma_ns;
	if (b < AUTO_BOUND_MIN_PER_WORKER * p->want_workers)
		b = AUTO_BOUND_MIN_PER_WORKER * p->want_workers;
	if (b > AUTO_BOUND_MAX)
		b = AUTO_BOUND_MAX;
	return (uint32_t)b;
}

/* When what is queued now will have run: the queue's own delay, about the
 * target for an auto bound. Multiplied in ns, so that sub-millisecond
 * service times do not round the hint down to nothing. */
static uint64_t pool_retry_after_locked(const struct pool *p)
{
	uint64_t ms =
	        p->service_ewma_ns *
	        (p->queued / (p->want_workers ? p->want_workers : 1) + 1) /
	        1000000ull;

	return ms ? ms : 1;
}

uint64_t pool_retry_after_ms(struct pool *p)
{
	uint64_t ms;

	if (p->proc)
		return procpool_retry_after_ms(p->proc);

	pthread_mutex_lock(&p->lock);
	ms = pool_retry_after_locked(p);
	pthread_mutex_unlock(&p->lock);
	return ms;
}

static void queue_remove_locked(struct pool *p, struct job *j)
{
	fairq_remove(&p->q, j);
	j->queued = false;
	p->queued--;
}

/* Waits for a job to start, or for stopping or retiring. NULL: leave. */
static struct job *worker_next_locked(struct pool *p, struct worker *w)
{
	struct timespec until;
	struct job *j;

	while (!w->retire) {
		j = fairq_pop(&p->q);
		if (j) {
			j->queued = false;
			p->queued--;
			return j;
		}
		if (p->stopping && !p->queued)
			return NULL;
		p->sleeping++;
		if (p->queued) {
			/* Jobs wait, but their users are at max_running. */
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += CAPPED_RECHECK_NS;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->more, &p->lock, &until);
		} else {
			pthread_cond_wait(&p->more, &p->lock);
		}
		p->sleeping--;
		if (p->wakes_due)
			p->wakes_due--;
	}
	return NULL;
}

static void outcome_add_locked(struct pool *p, int code)
{
	if (code >= 0 && code < JOBD_E_COUNT_)
		p->metrics.outcome[code]++;
	else
		p->metrics.outcome[JOBD_E_INTERNAL]++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	void *worker_state = NULL;
	struct job *j;
	uint64_t took;

	if (p->ops->worker_init && p->ops->worker_init(p->ctx, &worker_state)) {
		log_error("%s: worker_init failed; this worker stops", p->name);
		pthread_mutex_lock(&p->lock);
		w->exited = true;
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		j = worker_next_locked(p, w);
		if (!j)
			break;
		p->running++;
		pthread_mutex_unlock(&p->lock);

		j->t_started_ns = monotonic_ns();
		p->ops->run(p->ctx, worker_state, j);
		j->t_finished_ns = monotonic_ns();
		took = j->t_finished_ns - j->t_started_ns;

		pthread_mutex_lock(&p->lock);
		p->running--;
		if (j->status == JOBD_OK)
			p->done_count++;
		else
			p->failed_count++;
		outcome_add_locked(p, j->status);
		hist_add_locked(&p->metrics.duration,
		                j->t_finished_ns - j->t_queued_ns);
		hist_add_locked(&p->metrics.queue,
		                j->t_started_ns - j->t_queued_ns);
		p->service_total_ns += took;
		if (p->service_ewma_ns &&
		    took > EWMA_OUTLIER * p->service_ewma_ns)
			took = EWMA_OUTLIER * p->service_ewma_ns;
		p->service_ewma_ns =
		        p->service_ewma_ns
		                ? p->service_ewma_ns -
		                          (p->service_ewma_ns >> EWMA_SHIFT) +
		                          (took >> EWMA_SHIFT)
		                : (took ? took : 1);
		/* Hand back outside the lock: cq_push may write the eventfd. */
		pthread_mutex_unlock(&p->lock);
		fairq_done(j); /* before the loop may free j */
		cq_push(p->done, &j->done);
		pthread_mutex_lock(&p->lock);
	}
	w->exited = true;
	pthread_mutex_unlock(&p->lock);
	if (p->ops->worker_fini)
		p->ops->worker_fini(p->ctx, worker_state);
	return NULL;
}

/* Starts a worker in slot i (which must be empty). */
static int pool_start_worker(struct pool *p, unsigned i)
{
	struct worker *w;
	int rc;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->pool = p;
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc) {
		log_error("%s: cannot start a worker: %s", p->name,
		          strerror(rc));
		free(w);
		return -rc;
	}
	w->started = true;
	p->workers[i] = w;
	return 0;
}

static void pool_join_worker(struct pool *p, unsigned i)
{
	pthread_join(p->workers[i]->thread, NULL);
	free(p->workers[i]);
	p->workers[i] = NULL;
}

int pool_new(const char *name, unsigned workers, uint32_t bound,
             uint64_t target_delay_ms, const struct pool_ops *ops, void *ctx,
             struct cq *done, struct pool **out)
{
	struct pool *p;
	unsigned i;
	int rc = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->ops = ops;
	p->ctx = ctx;
	p->done = done;
	p->fixed_bound = bound;
	p->target_delay_ns =
	        (target_delay_ms ? target_delay_ms : 1000) * 1000000ull;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	p->workers = calloc(workers, sizeof(*p->workers));
	if (!p->workers) {
		rc = -ENOMEM;
		goto fail;
	}
	p->n_workers = p->want_workers = workers;
	for (i = 0; i < workers; i++) {
		rc = pool_start_worker(p, i);
		if (rc < 0)
			goto fail;
	}
	*out = p;
	return 0;
fail:
	pool_free(p);
	return rc;
}

int pool_new_process(struct procpool *pp, struct pool **out)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->proc = pp;
	*out = p;
	return 0;
}

int pool_submit(struct pool *p, struct job *j, uint64_t *retry_after_ms)
{
	uint32_t bound;
	bool wake;

	if (p->proc)
		return procpool_submit(p->proc, j, retry_after_ms);

	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		return -ESHUTDOWN;
	}
	bound = pool_bound_locked(p);
	if (p->queued >= bound) {
		p->busy_count++;
		p->metrics.outcome[JOBD_E_BUSY]++;
		if (retry_after_ms)
			*retry_after_ms = pool_retry_after_locked(p);
		pthread_mutex_unlock(&p->lock);
		return -EBUSY;
	}
	if (fairq_push(&p->q, j) < 0) {
		pthread_mutex_unlock(&p->lock);
		return -ENOMEM;
	}
	j->queued = true;
	p->queued++;
	/* Wake one sleeper per job not already covered by a wake on its
	 * way, and after unlocking: signalled under the lock, the worker
	 * wakes only to block on the mutex we hold, a second futex wake. */
	wake = p->sleeping > p->wakes_due;
	if (wake)
		p->wakes_due++;
	pthread_mutex_unlock(&p->lock);
	if (wake)
		pthread_cond_signal(&p->more);
	return 0;
}

bool pool_unqueue(struct pool *p, struct job *j)
{
	bool was;

	if (p->proc)
		return procpool_unqueue(p->proc, j);

	pthread_mutex_lock(&p->lock);
	was = j->queued;
	if (was) {
		int why = atomic_load(&j->stop_reason);

		queue_remove_locked(p, j);
		/* Only a cancel or a deadline takes a job out of the queue. */
		outcome_add_locked(p, why ? why : JOBD_E_CANCELLED);
	}
	pthread_mutex_unlock(&p->lock);
	return was;
}

/* Joins workers that have exited (retired by a shrink). */
static void pool_reap(struct pool *p)
{
	unsigned i;
	bool exited;

	for (i = 0; i < p->n_workers; i++) {
		if (!p->workers[i])
			continue;
		pthread_mutex_lock(&p->lock);
		exited = p->workers[i]->exited;
		pthread_mutex_unlock(&p->lock);
		if (exited)
			pool_join_worker(p, i);
	}
}

int pool_resize(struct pool *p, unsigned workers, uint32_t bound)
{
	struct worker **grown;
	unsigned i, live = 0;
	int rc;

	if (p->proc)
		return procpool_resize(p->proc, workers, bound);

	pool_reap(p);
	pthread_mutex_lock(&p->lock);
	p->fixed_bound = bound;
	for (i = 0; i < p->n_workers; i++) {
		struct worker *w = p->workers[i];

		if (!w || w->retire || w->exited)
			continue;
		if (live >= workers)
			w->retire = true; /* finishes its job, then exits */
		else
			live++;
	}
	p->want_workers = workers;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);

	if (workers > p->n_workers) {
		grown = realloc(p->workers, workers * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		memset(grown + p->n_workers, 0,
		       (workers - p->n_workers) * sizeof(*grown));
		p->workers = grown;
		p->n_workers = workers;
	}
	for (i = 0; i < p->n_workers && live < workers; i++) {
		if (p->workers[i])
			continue;
		rc = pool_start_worker(p, i);
		if (rc < 0)
			return rc;
		live++;
	}
	return 0;
}

void pool_set_target_delay(struct pool *p, uint64_t target_delay_ms)
{
	if (p->proc)
		return; /* the process pool's bound is fixed or by service time
		         */
	pthread_mutex_lock(&p->lock);
	p->target_delay_ns =
	        (target_delay_ms ? target_delay_ms : 1000) * 1000000ull;
	pthread_mutex_unlock(&p->lock);
}

void pool_get_stats(struct pool *p, struct pool_stats *out)
{
	if (p->proc) {
		procpool_get_stats(p->proc, out);
		return;
	}
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	out->workers = p->want_workers;
	out->queue_bound = pool_bound_locked(p);
	out->auto_bound = p->fixed_bound == 0;
	out->queued = p->queued;
	out->running = p->running;
	out->done = p->done_count;
	out->failed = p->failed_count;
	out->busy = p->busy_count;
	out->mean_service_ms =
	        p->done_count + p->failed_count
	                ? (double)p->service_total_ns / 1e6 /
	                          (double)(p->done_count + p->failed_count)
	                : 0.0;
	pthread_mutex_unlock(&p->lock);
}

void pool_get_metrics(struct pool *p, struct pool_metrics *out)
{
	if (p->proc) {
		procpool_get_metrics(p->proc, out);
		return;
	}
	pthread_mutex_lock(&p->lock);
	*out = p->metrics;
	pthread_mutex_unlock(&p->lock);
}

uint32_t pool_pending(struct pool *p)
{
	uint32_t n;

	if (p->proc)
		return procpool_pending(p->proc);

	pthread_mutex_lock(&p->lock);
	n = p->queued + p->running;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void pool_drain_queue(struct pool *p, void (*fn)(struct job *, void *),
                      void *arg)
{
	struct job *list, *j;

	if (p->proc) {
		procpool_drain_queue(p->proc, fn, arg);
		return;
	}

	pthread_mutex_lock(&p->lock);
	list = fairq_take_all(&p->q);
	for (j = list; j; j = j->q_next)
		j->queued = false;
	p->queued = 0;
	pthread_mutex_unlock(&p->lock);
	while (list) {
		j = list;
		list = j->q_next;
		j->q_prev = j->q_next = NULL;
		fn(j, arg);
	}
}

void pool_stop(struct pool *p)
{
	unsigned i;

	if (p->proc) {
		procpool_stop(p->proc);
		return;
	}

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->n_workers; i++)
		if (p->workers[i])
			pool_join_worker(p, i);
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	if (p->proc) {
		procpool_free(p->proc);
		free(p);
		return;
	}
	if (p->workers)
		pool_stop(p);
	free(p->workers);
	fairq_fini(&p->q);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
