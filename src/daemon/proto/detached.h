/* SPDX-License-Identifier: MIT */
/*
 * Detached jobs: what the protocol's detach/status/attach/result/jobs and
 * cancel-by-job mean, on top of the job store (store.h). Loop thread,
 * except where noted. docs/jobs.md describes the design.
 *
 * A live detached job (queued or running in this process) has an entry in
 * a registry keyed by job id: its job, its latest progress, and the
 * connections attached to it, each named by slot and generation. Finished
 * jobs live only in the store; a read of any job that is not live goes to
 * the store, queued behind every earlier write, so it sees them.
 */
#ifndef JOBD_DAEMON_PROTO_DETACHED_H
#define JOBD_DAEMON_PROTO_DETACHED_H

#include <stddef.h>
#include <stdint.h>

struct proto;
struct session;
struct msg;
struct job;
struct cq_item;

/* Opens the store under state_dir, recovers what the last run left (queued
 * jobs run again; running ones run again if retry-safe, else end
 * interrupted), submits them, and starts the store thread. After the
 * plugins are loaded. Returns 0, or a negative errno after logging a line
 * that names the path and the problem. */
int detached_init(struct proto *pr);

/* After the pools stopped and their completions were handled: finishes the
 * store's queue, closes it and frees the registry. */
void detached_fini(struct proto *pr);

/* Exit with jobs still running: commits what the store holds and stops
 * its thread, freeing nothing. */
void detached_flush(struct proto *pr);

/* Handles a call with "detach": true for job j, which dispatch made and
 * tracks on its session. Like pool_submit: 0 when queued (the job is then
 * the pool's, `accepted` follows once the store committed it), or -EBUSY,
 * -ESHUTDOWN or -ENOMEM with j untouched (proto/errors.h says what the
 * client hears). */
int detached_submit(struct proto *pr, struct job *j, uint64_t *retry_after_ms);

/* Messages. */
void detached_detach(struct proto *pr, struct session *s, struct msg *m);
void detached_status(struct proto *pr, struct session *s, struct msg *m);
void detached_attach(struct proto *pr, struct session *s, struct msg *m);
void detached_result(struct proto *pr, struct session *s, struct msg *m);
void detached_jobs(struct proto *pr, struct session *s, struct msg *m);
void detached_cancel(struct proto *pr, struct session *s,
                     struct msg *m); /* by job id */

/* Hooks for jobs with j->detached set. */
void detached_cancel_job(struct proto *pr, struct job *j);
void detached_job_done(struct proto *pr, struct job *j); /* frees j */
void detached_progress(struct proto *pr, struct job *j, double fraction,
                       const char *message);
void detached_deadline(struct proto *pr, struct job *j);
/* A detached job taken out of a queue at shutdown: it stays queued in
 * the store and runs after the restart. Frees j. */
void detached_forget(struct proto *pr, struct job *j);

/* The CQ_STORE completion handler (registered by detached_init): a store
 * answer came back; takes ownership. arg is the proto. */
void detached_store_done(struct cq_item *item, void *arg);

/* Draining: detached jobs still queued leave the queues (they stay queued
 * in the store); running ones go on until shutdown_timeout. */
void detached_drain(struct proto *pr);
/* shutdown_timeout passed: running detached jobs are told to stop; they
 * stay `running` in the store, so the restart decides. */
void detached_stop_running(struct proto *pr);

/* Live detached jobs (for status lines). */
size_t detached_live(struct proto *pr);

/* Reload: applies cfg's result_ttl and result_budget to the store. */
struct config;
void detached_apply_config(struct proto *pr, const struct config *cfg);

#endif
