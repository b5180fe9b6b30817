/* SPDX-License-Identifier: MIT */
#include "daemon/proto/detached.h"
#include "daemon/proto/detached_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/config/config.h"
#include "daemon/exec/job.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/provenance.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/dispatch.h"
#include "daemon/proto/proto.h"
#include "daemon/store/store.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "wire/message.h"

/* --- the registry -------------------------------------------------------- */

static unsigned djob_id_hash(const char *id)
{
	unsigned h = 2166136261u; /* FNV-1a */

	while (*id)
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h & (N_BUCKETS - 1);
}

struct djob *djob_find(struct detached *d, const char *id)
{
	struct djob *x;

	for (x = d->buckets[djob_id_hash(id)]; x; x = x->hnext)
		if (!strcmp(x->id, id))
			return x;
	return NULL;
}

/* A job that can be read from memory: live and not yet finishing. */
struct djob *djob_live(struct detached *d, const char *id)
{
	struct djob *x = djob_find(d, id);

	return x && !x->finishing ? x : NULL;
}

bool djob_allowed(struct proto *pr, struct session *s, bool has_id, int64_t id,
                  const char *job, const char *owner)
{
	if (auth_may_see(pr, s, owner && *owner ? owner : NULL))
		return true;
	session_send_error(s, has_id, id, JOBD_E_FORBIDDEN,
	                   "job \"%s\" belongs to another user", job);
	return false;
}

json_t *djob_for(const struct proto *pr, const struct session *s, json_t *o)
{
	if (o && !(pr->auth.users && auth_is_admin(pr, s)))
		json_object_del(o, "user");
	return o;
}

struct djob *djob_add(struct detached *d, const char *id, const char *plugin,
                      int64_t created_ms, const char *owner)
{
	struct djob *x = calloc(1, sizeof(*x));
	unsigned h;

	if (!x)
		return NULL;
	snprintf(x->id, sizeof(x->id), "%s", id);
	snprintf(x->plugin, sizeof(x->plugin), "%s", plugin);
	snprintf(x->owner, sizeof(x->owner), "%s", owner ? owner : "");
	x->created_ms = created_ms;
	h = djob_id_hash(id);
	x->hnext = d->buckets[h];
	d->buckets[h] = x;
	d->count++;
	return x;
}

void djob_remove(struct proto *pr, struct djob *x)
{
	struct detached *d = pr->detached;
	struct djob **pp = &d->buckets[djob_id_hash(x->id)];
	struct attacher *a;
	struct session *s;

	while (*pp && *pp != x)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = x->hnext;
	d->count--;
	while ((a = x->attachers)) {
		x->attachers = a->next;
		s = session_lookup(&pr->net->sessions, a->slot, a->gen);
		if (s)
			session_wait_end(s);
		free(a);
	}
	free(x);
}

size_t detached_live(struct proto *pr)
{
	return pr->detached ? pr->detached->count : 0;
}

/* --- talking to the store ------------------------------------------------ */

void djob_store_submit(struct proto *pr, struct store_req *r)
{
	struct detached *d = pr->detached;

	if (d->closing) {
		store_req_free(r);
		return;
	}
	store_submit(d->store, r);
}

/* Asks the store for job `id` on behalf of s's request m. */
void djob_ask_store(struct proto *pr, struct session *s, const struct msg *m,
                    const char *id, enum purpose why)
{
	struct store_req *r = store_req_new(STORE_GET);

	if (!r) {
		session_send_error(s, m->has_id, m->id, JOBD_E_INTERNAL,
		                   "out of memory");
		return;
	}
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	r->purpose = why;
	r->conn_slot = s->slot;
	r->conn_gen = s->gen;
	r->has_id = m->has_id;
	r->req_id = m->id;
	djob_store_submit(pr, r);
}

/* Hands the final state of x to the store; the attached connections are
 * answered when it is committed. Takes over the record's contents. */
void djob_finish(struct proto *pr, struct djob *x, struct store_rec *fin)
{
	struct store_req *r = store_req_new(STORE_FINISH);

	x->finishing = true;
	x->job = NULL;
	if (!r) {
		store_rec_fini(fin);
		djob_remove(pr, x);
		return;
	}
	r->rec = *fin;
	memset(fin, 0, sizeof(*fin));
	snprintf(r->rec.id, sizeof(r->rec.id), "%s", x->id);
	r->purpose = P_FINISH;
	djob_store_submit(pr, r);
}

void djob_finish_error(struct proto *pr, struct djob *x, enum job_state state,
                       enum jobd_error code, const char *message)
{
	struct store_rec fin = {.state = state};

	fin.code = strdup(msg_error_name(code));
	fin.message = strdup(message);
	fin.finished_ms = wall_ms();
	djob_finish(pr, x, &fin);
}

/* Sends msg (built per attacher by fn) to every attached connection. */
void djob_tell_attached(struct proto *pr, struct djob *x,
                        json_t *(*fn)(int64_t id, const void *arg),
                        const void *arg)
{
	struct attacher *a;
	struct session *s;

	for (a = x->attachers; a; a = a->next) {
		s = session_lookup(&pr->net->sessions, a->slot, a->gen);
		if (s)
			session_send_msg(s, fn(a->req_id, arg));
	}
}

json_t *djob_final_for(int64_t id, const void *arg)
{
	return djob_final_msg(true, id, arg);
}

json_t *djob_error_for(int64_t id, const void *arg)
{
	const struct err_arg *e = arg;
	json_t *o = msg_error(true, id, e->code, e->text);

	if (o)
		json_object_set_new(o, "job", json_string(e->job));
	return o;
}

void djob_attacher_add(struct djob *x, struct attacher *a, uint32_t slot,
                       uint32_t gen, int64_t req_id)
{
	a->slot = slot;
	a->gen = gen;
	a->req_id = req_id;
	a->next = x->attachers;
	x->attachers = a;
}

/* Removes j from the recovery backlog; true if it was there. */
bool djob_backlog_take(struct detached *d, struct job *j)
{
	size_t i;

	for (i = 0; i < d->n_backlog; i++) {
		if (d->backlog[i] == j) {
			memmove(&d->backlog[i], &d->backlog[i + 1],
			        (d->n_backlog - i - 1) * sizeof(*d->backlog));
			d->n_backlog--;
			return true;
		}
	}
	return false;
}

/* Takes a queued job out of its queue (or the backlog); true if it was
 * still waiting, and then the caller owns it. */
bool djob_take_waiting(struct proto *pr, struct job *j)
{
	return pool_unqueue(j->plugin->pool, j) ||
	       djob_backlog_take(pr->detached, j);
}
