/* SPDX-License-Identifier: MIT */
#include "daemon/util/cq.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/util/log.h"

int cq_init(struct cq *q)
{
	q->head = q->tail = NULL;
	memset(q->handlers, 0, sizeof(q->handlers));
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0)
		return -errno;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void cq_fini(struct cq *q)
{
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
	pthread_mutex_destroy(&q->lock);
}

void cq_push_list(struct cq *q, struct cq_item *first, struct cq_item *last)
{
	uint64_t one = 1;
	int was_empty;

	last->next = NULL;
	pthread_mutex_lock(&q->lock);
	was_empty = q->head == NULL;
	if (q->tail)
		q->tail->next = first;
	else
		q->head = first;
	q->tail = last;
	pthread_mutex_unlock(&q->lock);
	/* Only the first item of a batch wakes the loop; it takes them all. */
	if (was_empty && write(q->efd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		return; /* counter saturated means a wake-up is pending anyway
		         */
}

void cq_push(struct cq *q, struct cq_item *item)
{
	cq_push_list(q, item, item);
}

struct cq_item *cq_take_all(struct cq *q)
{
	struct cq_item *list;
	uint64_t n;

	/* Read first: a push after the swap below then leaves the eventfd
	 * readable, so no item is ever stranded. */
	if (read(q->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return NULL;
	pthread_mutex_lock(&q->lock);
	list = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	return list;
}

void cq_set_handler(struct cq *q, enum cq_kind kind, cq_handler_fn *fn,
                    void *arg)
{
	q->handlers[kind].fn = fn;
	q->handlers[kind].arg = fn ? arg : NULL;
}

size_t cq_run(struct cq *q)
{
	struct cq_item *item, *next;
	size_t n = 0;

	if (q->efd < 0)
		return 0;
	for (item = cq_take_all(q); item; item = next) {
		next = item->next;
		if (item->kind > 0 && item->kind < CQ_KIND_COUNT_ &&
		    q->handlers[item->kind].fn)
			q->handlers[item->kind].fn(item,
			                           q->handlers[item->kind].arg);
		else
			log_error("completion of kind %d has no handler",
			          (int)item->kind);
		n++;
	}
	return n;
}
