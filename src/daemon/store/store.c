/* SPDX-License-Identifier: MIT */
#include "daemon/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jobd/error.h>

#include "daemon/config/config.h"
#include "daemon/store/backend.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"

/* Cleanup runs every ttl/4, clamped to this range. */
#define CLEANUP_MIN_MS 1000u
#define CLEANUP_MAX_MS 60000u
/* More requests than this wait for the next transaction, so that one
 * commit never holds the answers of a huge burst for long. */
#define BATCH_MAX 512

struct store_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

/* The generic half of the store: the request queue, its thread, the
 * answers' way back, and the state_dir lock. What the requests do to the
 * data is the backend's (backend.h). */
struct store {
	char *dir;
	int lock_fd;
	struct store_backend *backend;

	struct cq *done;
	uint64_t ttl_ms, budget;
	uint64_t cleanup_every_ms;

	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct store_req *head, *tail;
	bool stopping;
	atomic_bool stopping_now; /* the backend reads it without the lock */
	bool cleanup_asked;
	uint64_t cleanups_done;
};

/* --- the queue ------------------------------------------------------------ */

int store_load_unfinished(struct store *s, struct store_rec **rows,
                          size_t *n_rows)
{
	return s->backend->ops->load_unfinished(s->backend, rows, n_rows);
}

int store_run_now(struct store *s, struct store_req *r)
{
	r->rc = s->backend->ops->run_one(s->backend, r);
	return r->rc;
}

static void complete(struct store *s, struct store_req *r)
{
	struct store_waiter *w = r->waiter;

	if (w) {
		pthread_mutex_lock(&w->lock);
		w->done = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
	} else {
		cq_push(s->done, &r->item);
	}
}

/* Wakes the waiters and hands the rest back to the loop in one push, so a
 * batch costs the loop one wake-up. */
static void complete_batch(struct store *s, struct store_req *batch)
{
	struct cq_item *first = NULL, *last = NULL;
	struct store_req *r, *next;

	for (r = batch; r; r = next) {
		next = r->next;
		if (r->waiter) {
			complete(s, r);
			continue;
		}
		r->item.next = NULL;
		if (last)
			last->next = &r->item;
		else
			first = &r->item;
		last = &r->item;
	}
	if (first)
		cq_push_list(s->done, first, last);
}

static void cleanup(struct store *s)
{
	int64_t cut;
	uint64_t budget;

	/* A reload may change the limits while we run: read them once. */
	pthread_mutex_lock(&s->lock);
	cut = wall_ms() - (int64_t)s->ttl_ms;
	budget = s->budget;
	pthread_mutex_unlock(&s->lock);
	s->backend->ops->cleanup(s->backend, cut, budget);
}

static void *store_main(void *arg)
{
	struct store *s = arg;
	struct store_req *batch, **tailp;
	uint64_t next_cleanup = (monotonic_ns() / 1000000u) + 200, now;
	struct timespec ts;
	int n;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->head && !s->stopping) {
			now = (monotonic_ns() / 1000000u);
			if (now >= next_cleanup || s->cleanup_asked) {
				pthread_mutex_unlock(&s->lock);
				cleanup(s);
				pthread_mutex_lock(&s->lock);
				next_cleanup = (monotonic_ns() / 1000000u) +
				               s->cleanup_every_ms;
				if (s->cleanup_asked) {
					s->cleanup_asked = false;
					s->cleanups_done++;
					pthread_cond_broadcast(&s->more);
				}
				continue;
			}
			ts.tv_sec = (time_t)(next_cleanup / 1000);
			ts.tv_nsec = (long)(next_cleanup % 1000) * 1000000L;
			pthread_cond_timedwait(&s->more, &s->lock, &ts);
		}
		if (!s->head)
			break; /* stopping, and nothing left */
		batch = s->head;
		tailp = &batch;
		for (n = 0; *tailp && n < BATCH_MAX; n++)
			tailp = &(*tailp)->next;
		s->head = *tailp;
		if (!s->head)
			s->tail = NULL;
		*tailp = NULL;
		pthread_mutex_unlock(&s->lock);
		s->backend->ops->run_batch(s->backend, batch);
		complete_batch(s, batch);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* --- life ---------------------------------------------------------------- */

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

int store_open(const char *state_dir, const struct config_store *cs,
               struct store **out, char **why)
{
	struct store *s;
	char *lock_path = NULL;
	struct stat st;
	int rc;

	*why = NULL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->more, &ca);
		pthread_condattr_destroy(&ca);
	}
	s->dir = strdup(state_dir);
	if (!s->dir || asprintf(&lock_path, "%s/lock", state_dir) < 0) {
		lock_path = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(state_dir, 0750) < 0 && errno != EEXIST) {
		rc = open_fail(why, -errno, "state_dir %s: cannot create: %s",
		               state_dir, strerror(errno));
		goto fail;
	}
	if (stat(state_dir, &st) < 0) {
		rc = open_fail(why, -errno, "state_dir %s: %s", state_dir,
		               strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = open_fail(why, -ENOTDIR, "state_dir %s: not a directory",
		               state_dir);
		goto fail;
	}
	s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (s->lock_fd < 0) {
		rc = open_fail(why, -errno,
		               "state_dir %s: not writable: %s: %s", state_dir,
		               lock_path, strerror(errno));
		goto fail;
	}
	/* Two daemons on one store would each recover the other's running
	 * jobs; the kernel drops the lock when we die, even by SIGKILL. */
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = open_fail(why, -EBUSY,
		               "state_dir %s is in use by another jobd (%s is "
		               "locked)",
		               state_dir, lock_path);
		goto fail;
	}
	if (cs && cs->backend == CONFIG_STORE_POSTGRESQL)
		rc = store_pg_open(cs, &s->backend, why);
	else
		rc = store_sqlite_open(state_dir, &s->backend, why);
	if (rc < 0)
		goto fail;
	s->backend->stopping = &s->stopping_now;
	free(lock_path);
	*out = s;
	return 0;
fail:
	free(lock_path);
	store_close(s);
	if (!*why)
		*why = strdup("out of memory");
	return rc;
}

const char *store_where(const struct store *s)
{
	return s->backend->where;
}

/* Caller holds s->lock, or the thread has not started. */
static void store_set_limits_locked(struct store *s, uint64_t ttl_ms,
                                    uint64_t budget_bytes)
{
	s->ttl_ms = ttl_ms;
	s->budget = budget_bytes;
	s->cleanup_every_ms = ttl_ms / 4;
	if (s->cleanup_every_ms < CLEANUP_MIN_MS)
		s->cleanup_every_ms = CLEANUP_MIN_MS;
	if (s->cleanup_every_ms > CLEANUP_MAX_MS)
		s->cleanup_every_ms = CLEANUP_MAX_MS;
}

void store_set_limits(struct store *s, uint64_t ttl_ms, uint64_t budget_bytes)
{
	pthread_mutex_lock(&s->lock);
	store_set_limits_locked(s, ttl_ms, budget_bytes);
	/* Apply a smaller budget or ttl now, not at the next period. */
	s->cleanup_asked = true;
	pthread_cond_broadcast(&s->more);
	pthread_mutex_unlock(&s->lock);
}

int store_start(struct store *s, struct cq *done, uint64_t ttl_ms,
                uint64_t budget_bytes)
{
	int rc;

	s->done = done;
	store_set_limits_locked(s, ttl_ms, budget_bytes);
	rc = pthread_create(&s->thread, NULL, store_main, s);
	if (rc)
		return -rc;
	s->started = true;
	return 0;
}

void store_submit(struct store *s, struct store_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = r;
	else
		s->head = r;
	s->tail = r;
	pthread_cond_signal(&s->more);
	pthread_mutex_unlock(&s->lock);
}

int store_call(struct store *s, struct store_req *r)
{
	struct store_waiter w = {.done = false};

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	r->waiter = &w;
	store_submit(s, r);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	r->waiter = NULL;
	return r->rc;
}

void store_cleanup_now(struct store *s)
{
	uint64_t before;

	if (!s || !s->started)
		return;
	pthread_mutex_lock(&s->lock);
	before = s->cleanups_done;
	s->cleanup_asked = true;
	pthread_cond_broadcast(&s->more);
	while (s->cleanups_done == before && !s->stopping)
		pthread_cond_wait(&s->more, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void store_stopping(struct store *s)
{
	if (s)
		atomic_store(&s->stopping_now, true);
}

void store_stop(struct store *s)
{
	if (!s || !s->started)
		return;
	atomic_store(&s->stopping_now, true);
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->more);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->started = false;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_stop(s);
	if (s->backend)
		s->backend->ops->close(s->backend);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	pthread_cond_destroy(&s->more);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}
