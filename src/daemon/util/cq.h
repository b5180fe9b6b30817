/* SPDX-License-Identifier: MIT */
/*
 * Completion queue: how work travels from pools back to the event loop.
 * Producers (worker threads, or a future process backend's reader) push
 * items; the loop is woken through an eventfd only when the queue goes from
 * empty to non-empty, and then takes every item in one swap, so a burst of
 * completions costs one wake-up (nginx's done list, memcached's notify pipe).
 *
 * The queue knows no kind of item: whoever consumes a kind registers its
 * handler once (as an nginx task carries event.handler), and cq_run hands
 * each item to its kind's handler. Producers only set the kind.
 */
#ifndef JOBD_DAEMON_CQ_H
#define JOBD_DAEMON_CQ_H

#include <pthread.h>
#include <stddef.h>

/* The struct an item is embedded in, from a pointer to the item. */
#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The kinds are only numbers here; the layers that make and consume items
 * give them their meaning. */
enum cq_kind {
	CQ_JOB_DONE = 1, /* the item is embedded in a struct job */
	CQ_PROGRESS = 2, /* the item is embedded in a struct progress_note */
	CQ_STORE = 3,    /* a struct store_req coming back (store.h) */
	CQ_KIND_COUNT_
};

struct cq_item;

/* Takes ownership of item. Loop thread. */
typedef void cq_handler_fn(struct cq_item *item, void *arg);

struct cq_item {
	struct cq_item *next;
	enum cq_kind kind;
};

struct cq {
	pthread_mutex_t lock;
	struct cq_item *head;
	struct cq_item *tail;
	int efd; /* eventfd, EFD_NONBLOCK; the loop watches it */
	struct {
		cq_handler_fn *fn;
		void *arg; /* borrowed */
	} handlers[CQ_KIND_COUNT_];
};

int cq_init(struct cq *q);
void cq_fini(struct cq *q);

/* Any thread. Ownership of item passes to the queue. */
void cq_push(struct cq *q, struct cq_item *item);

/* Any thread. Pushes the list first..last (linked through next, in order)
 * with one lock and at most one wake-up. */
void cq_push_list(struct cq *q, struct cq_item *first, struct cq_item *last);

/* Loop thread. Clears the wake-up and returns every queued item in push
 * order as a list (ownership to the caller), or NULL. */
struct cq_item *cq_take_all(struct cq *q);

/* Loop thread. Sets (or, with fn NULL, clears) the handler of one kind;
 * arg is borrowed until it is cleared or the queue is finished. */
void cq_set_handler(struct cq *q, enum cq_kind kind, cq_handler_fn *fn,
                    void *arg);

/* Loop thread. Takes every queued item and hands each to its kind's
 * handler, in push order. An item of a kind without a handler is a bug:
 * it is logged and leaked rather than freed the wrong way. Returns how
 * many items were handled. */
size_t cq_run(struct cq *q);

#endif
