/* SPDX-License-Identifier: MIT */
#include "daemon/net/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/exec/job.h"
#include "wire/frame.h"
#include "wire/message.h"

/* --- the table ------------------------------------------------------------ */

int session_table_init(struct session_table *t, uint32_t n_slots)
{
	uint32_t i;

	t->slots = calloc(n_slots, sizeof(*t->slots));
	t->gens = calloc(n_slots, sizeof(*t->gens));
	t->free_list = calloc(n_slots, sizeof(*t->free_list));
	if (!t->slots || !t->gens || !t->free_list)
		return -ENOMEM;
	t->n_slots = n_slots;
	for (i = 0; i < n_slots; i++) {
		t->gens[i] = 1;
		t->free_list[i] = n_slots - 1 - i; /* pop low slots first */
	}
	t->n_free = n_slots;
	return 0;
}

void session_table_fini(struct session_table *t)
{
	free(t->slots);
	free(t->gens);
	free(t->free_list);
	memset(t, 0, sizeof(*t));
}

int session_table_grow(struct session_table *t, uint32_t want)
{
	struct session **slots;
	uint32_t *gens, *free_list, i;

	if (want <= t->n_slots)
		return 0;
	slots = realloc(t->slots, want * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	gens = realloc(t->gens, want * sizeof(*gens));
	if (!gens)
		return -ENOMEM;
	t->gens = gens;
	free_list = realloc(t->free_list, want * sizeof(*free_list));
	if (!free_list)
		return -ENOMEM;
	t->free_list = free_list;
	for (i = t->n_slots; i < want; i++) {
		t->slots[i] = NULL;
		t->gens[i] = 1;
		t->free_list[t->n_free++] = i;
	}
	t->n_slots = want;
	return 0;
}

int session_table_add(struct session_table *t, struct session *s)
{
	uint32_t slot;

	if (!t->n_free)
		return -ENOSPC;
	slot = t->free_list[--t->n_free];
	t->slots[slot] = s;
	t->count++;
	s->slot = slot;
	s->gen = t->gens[slot];
	return 0;
}

void session_table_remove(struct session_table *t, struct session *s)
{
	t->slots[s->slot] = NULL;
	t->gens[s->slot]++;
	if (!t->gens[s->slot])
		t->gens[s->slot] = 1; /* 0 means "no session" in a job */
	t->free_list[t->n_free++] = s->slot;
	t->count--;
}

struct session *session_lookup(const struct session_table *t, uint32_t slot,
                               uint32_t gen)
{
	if (slot >= t->n_slots || t->gens[slot] != gen)
		return NULL;
	return t->slots[slot];
}

void session_foreach(const struct session_table *t,
                     void (*fn)(struct session *, void *), void *arg)
{
	uint32_t i;

	for (i = 0; i < t->n_slots; i++)
		if (t->slots[i])
			fn(t->slots[i], arg);
}

/* --- sending -------------------------------------------------------------- */

void session_send_msg(struct session *s, json_t *msg)
{
	char *frame;
	size_t len;

	if (!msg)
		return;
	if (frame_encode(msg, &frame, &len) == 0)
		session_send_frame(s, frame, len);
	json_decref(msg);
}

void session_send_error(struct session *s, bool has_id, int64_t id,
                        enum jobd_error code, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	session_send_msg(s, msg_error(has_id, id, code, text));
}

/* --- in-flight calls ------------------------------------------------------ */

void session_track_job(struct session *s, struct job *j)
{
	j->conn_slot = s->slot;
	j->conn_gen = s->gen;
	j->owner = s;
	j->c_prev = NULL;
	j->c_next = s->inflight;
	if (s->inflight)
		s->inflight->c_prev = j;
	s->inflight = j;
	j->tracked = true;
	s->n_inflight++;
	s->ops->load_changed(s);
}

void session_untrack_job(struct session *s, struct job *j)
{
	if (!j->tracked)
		return;
	if (j->c_prev)
		j->c_prev->c_next = j->c_next;
	else
		s->inflight = j->c_next;
	if (j->c_next)
		j->c_next->c_prev = j->c_prev;
	j->c_prev = j->c_next = NULL;
	j->tracked = false;
	s->n_inflight--;
	s->ops->load_changed(s);
}

struct job *session_find_job(const struct session *s, int64_t id)
{
	struct job *j;

	for (j = s->inflight; j; j = j->c_next)
		if (j->req_id == id)
			return j;
	return NULL;
}

void session_wait_begin(struct session *s)
{
	if (s->n_waiting++ == 0)
		s->ops->load_changed(s);
}

void session_wait_end(struct session *s)
{
	if (s->n_waiting && --s->n_waiting == 0)
		s->ops->load_changed(s);
}
