/* SPDX-License-Identifier: MIT */
#include "daemon/exec/fairq.h"

#include <errno.h>
#include <stdlib.h>

#include "daemon/exec/job.h"

struct fairq_lane {
	struct fairq_lane *prev, *next; /* the ring */
	struct job_user *user;
	struct job *head, *tail; /* through q_next / q_prev */
};

static struct fairq_lane *lane_find(struct fairq *q, struct job_user *u)
{
	struct fairq_lane *l = q->cursor;

	if (!l)
		return NULL;
	do {
		if (l->user == u)
			return l;
		l = l->next;
	} while (l != q->cursor);
	return NULL;
}

/* A new lane takes the cursor's place: the user just starting to wait
 * is served next, and everyone else keeps their order. */
static void lane_insert(struct fairq *q, struct fairq_lane *l)
{
	if (!q->cursor) {
		l->prev = l->next = l;
	} else {
		l->next = q->cursor;
		l->prev = q->cursor->prev;
		l->prev->next = l;
		q->cursor->prev = l;
	}
	q->cursor = l;
}

static void lane_drop(struct fairq *q, struct fairq_lane *l)
{
	if (l->next == l) {
		q->cursor = NULL;
	} else {
		l->prev->next = l->next;
		l->next->prev = l->prev;
		if (q->cursor == l)
			q->cursor = l->next;
	}
	free(l);
}

int fairq_push(struct fairq *q, struct job *j)
{
	struct fairq_lane *l = lane_find(q, j->user);

	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->user = j->user;
		lane_insert(q, l);
	}
	j->q_next = NULL;
	j->q_prev = l->tail;
	if (l->tail)
		l->tail->q_next = j;
	else
		l->head = j;
	l->tail = j;
	j->lane = l;
	q->count++;
	if (j->user)
		atomic_fetch_add(&j->user->queued, 1);
	return 0;
}

static bool may_run(const struct job_user *u)
{
	unsigned max;

	if (!u)
		return true;
	max = atomic_load(&((struct job_user *)u)->max_running);
	return !max || atomic_load(&((struct job_user *)u)->running) < max;
}

/* Unlinks j from its lane, dropping the lane when it empties. */
static void lane_unlink(struct fairq *q, struct job *j)
{
	struct fairq_lane *l = j->lane;

	if (j->q_prev)
		j->q_prev->q_next = j->q_next;
	else
		l->head = j->q_next;
	if (j->q_next)
		j->q_next->q_prev = j->q_prev;
	else
		l->tail = j->q_prev;
	j->q_prev = j->q_next = NULL;
	j->lane = NULL;
	q->count--;
	if (j->user)
		atomic_fetch_sub(&j->user->queued, 1);
	if (!l->head)
		lane_drop(q, l);
}

struct job *fairq_pop(struct fairq *q)
{
	struct fairq_lane *l = q->cursor, *next;
	struct job *j;

	if (!l)
		return NULL;
	do {
		if (may_run(l->user)) {
			j = l->head;
			next = l->next;
			/* The turn passes on whether or not the lane empties.
			 */
			q->cursor = next;
			lane_unlink(q, j);
			if (j->user)
				atomic_fetch_add(&j->user->running, 1);
			j->counted_running = true;
			return j;
		}
		l = l->next;
	} while (l != q->cursor);
	return NULL;
}

void fairq_remove(struct fairq *q, struct job *j)
{
	if (j->lane)
		lane_unlink(q, j);
}

struct job *fairq_take_all(struct fairq *q)
{
	struct job *list = NULL, **tail = &list, *j;

	while (q->cursor) {
		j = q->cursor->head;
		lane_unlink(q, j);
		*tail = j;
		tail = &j->q_next;
	}
	return list;
}

void fairq_done(struct job *j)
{
	if (j->counted_running && j->user)
		atomic_fetch_sub(&j->user->running, 1);
	j->counted_running = false;
}

void fairq_fini(struct fairq *q)
{
	while (q->cursor)
		lane_drop(q, q->cursor);
}
