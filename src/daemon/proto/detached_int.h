/* SPDX-License-Identifier: MIT */
/*
 * Detached jobs, inside: the registry of live jobs and what the four parts
 * (registry, requests, answers, recovery) share. Private to proto/.
 */
#ifndef JOBD_DAEMON_PROTO_DETACHED_INT_H
#define JOBD_DAEMON_PROTO_DETACHED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/error.h>

#include "auth/users.h"
#include "daemon/store/store.h"
#include "wire/message.h"

struct job;
struct msg;
struct pool;
struct proto;
struct session;

#define N_BUCKETS 1024u /* power of two */
/* Recovered jobs that found their queue full try again this often. */
#define BACKLOG_RETRY_MS 100
/* jobs: newest first, at most this many unless "limit" says otherwise. */
#define JOBS_DEFAULT_LIMIT 1000u
#define JOBS_MAX_LIMIT     100000u

/* What the loop does with a store answer (store_req.purpose). */
enum purpose {
	P_NONE = 0,
	P_ACCEPT, /* INSERT: send `accepted` to whoever asked */
	P_FINISH, /* FINISH: answer the attached connections */
	P_STATUS, /* GET: a status message */
	P_RESULT, /* GET: the result, or a status if not finished */
	P_ATTACH, /* GET: the result, or a status if not finished */
	P_CANCEL, /* GET: a status message (the job is not live) */
	P_JOBS,   /* LIST */
};

struct attacher {
	struct attacher *next;
	uint32_t slot, gen;
	int64_t req_id;
};

/* A live detached job. */
struct djob {
	struct djob *hnext;
	char id[STORE_ID_LEN + 1];
	struct job *job; /* until it comes back, is freed, or finishes early */
	bool finishing;  /* the final state is on its way to the store */
	bool in_backlog; /* recovered, waiting for room in its queue */
	char plugin[MSG_NAME_MAX_LEN + 1];
	char owner[USERS_NAME_MAX_LEN + 1]; /* "": none (no auth) */
	int64_t created_ms;
	bool has_progress;
	double fraction;
	char message[128];
	struct attacher *attachers;
};

struct detached {
	struct store *store;
	bool closing;
	struct djob *buckets[N_BUCKETS];
	size_t count;
	struct job **backlog; /* recovered jobs, in order */
	size_t n_backlog, cap_backlog;
	struct event *backlog_ev;
};

/* The registry (detached_registry.c): live jobs by id, loop thread. */

/* Any live job with id, finishing or not; NULL if none. */
struct djob *djob_find(struct detached *d, const char *id);
/* A live job with id that is not yet finishing; NULL if none. */
struct djob *djob_live(struct detached *d, const char *id);
/* A new entry (no job yet); NULL without memory. owner: the user who
 * submitted it, or NULL. */
struct djob *djob_add(struct detached *d, const char *id, const char *plugin,
                      int64_t created_ms, const char *owner);
/* Forgets x; its attached sessions stop waiting. Frees x. */
void djob_remove(struct proto *pr, struct djob *x);
/* a (malloc'd, ownership passes) attaches (slot, gen, req_id) to x. */
void djob_attacher_add(struct djob *x, struct attacher *a, uint32_t slot,
                       uint32_t gen, int64_t req_id);
/* Queues r for the store (r is freed when the store is closing). */
void djob_store_submit(struct proto *pr, struct store_req *r);
/* Asks the store for job id on behalf of s's request m; the answer comes
 * back as a CQ_STORE item with purpose why. */
void djob_ask_store(struct proto *pr, struct session *s, const struct msg *m,
                    const char *id, enum purpose why);
/* Hands x's final state to the store (takes over fin's contents); the
 * attached sessions are answered when it is committed. */
void djob_finish(struct proto *pr, struct djob *x, struct store_rec *fin);
/* djob_finish with an error code and message. */
void djob_finish_error(struct proto *pr, struct djob *x, enum job_state state,
                       enum jobd_error code, const char *message);
/* Builders for djob_tell_attached: the final answer (arg: the record) and
 * an error (arg: struct err_arg). */
json_t *djob_final_for(int64_t id, const void *arg);
json_t *djob_error_for(int64_t id, const void *arg);

/* The view (detached_view.c): records as messages, pure. */

/* A `status` message for r (x: the live job, for progress, or NULL). */
json_t *djob_status_msg(bool has_id, int64_t id, const struct store_rec *r,
                        const struct djob *x);
/* The final answer for a finished job: result, or error with its code. */
json_t *djob_final_msg(bool has_id, int64_t id, const struct store_rec *r);
/* A live job's record, from memory (strings borrowed: never fini'd). */
void djob_live_rec(const struct djob *x, struct store_rec *r);

/* Takes a queued job out of its queue (or the backlog); true if it was
 * still waiting, and then the caller owns it. */
bool djob_take_waiting(struct proto *pr, struct job *j);
/* Sends a message (built per attacher by fn) to every attached session. */
void djob_tell_attached(struct proto *pr, struct djob *x,
                        json_t *(*fn)(int64_t id, const void *arg),
                        const void *arg);

/* The argument djob_error_for builds an error message from. */
struct err_arg {
	const char *job;
	enum jobd_error code;
	const char *text;
};

/* May s see job x (live) / a stored job of owner? If not, s is answered
 * `forbidden` (with m's id) and false returned. */
bool djob_allowed(struct proto *pr, struct session *s, bool has_id, int64_t id,
                  const char *job, const char *owner);

/* o (a job as `status` or `jobs` shows it) for s: "user" only for
 * admins (docs/protocol.md §12). Returns o. */
json_t *djob_for(const struct proto *pr, const struct session *s, json_t *o);

/* Removes j from the recovery backlog; true if it was there. */
bool djob_backlog_take(struct detached *d, struct job *j);
/* Sets id on o when has_id. */
void djob_put_id(json_t *o, bool has_id, int64_t id);
/* A job as `status` and `jobs` show it. x: the live job, for progress. */
json_t *djob_json(const struct store_rec *r, const struct djob *x);

#endif
