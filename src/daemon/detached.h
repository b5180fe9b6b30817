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
#ifndef JOBD_DAEMON_DETACHED_H
#define JOBD_DAEMON_DETACHED_H

#include <stddef.h>
#include <stdint.h>

struct jobd;
struct conn;
struct msg;
struct job;
struct cq_item;

/* Opens the store under state_dir, recovers what the last run left (queued
 * jobs run again; running ones run again if retry-safe, else end
 * interrupted), submits them, and starts the store thread. After the
 * plugins are loaded. Returns 0, or a negative errno after logging a line
 * that names the path and the problem. */
int detached_init(struct jobd *jd);

/* After the pools stopped and their completions were handled: finishes the
 * store's queue, closes it and frees the registry. */
void detached_fini(struct jobd *jd);

/* Exit with jobs still running: commits what the store holds and stops
 * its thread, freeing nothing. */
void detached_flush(struct jobd *jd);

/* Handles a call with "detach": true for job j, which dispatch made and
 * tracks on its connection. Like pool_submit: 0 when queued (the job is
 * then the pool's, `accepted` follows once the store committed it), or
 * -EBUSY / -ESHUTDOWN with j untouched. */
int detached_submit(struct jobd *jd, struct job *j, uint64_t *retry_after_ms);

/* Messages. */
void detached_detach(struct conn *c, struct msg *m);
void detached_status(struct conn *c, struct msg *m);
void detached_attach(struct conn *c, struct msg *m);
void detached_result(struct conn *c, struct msg *m);
void detached_jobs(struct conn *c, struct msg *m);
void detached_cancel(struct conn *c, struct msg *m); /* by job id */

/* Hooks for jobs with j->detached set. */
void detached_cancel_job(struct jobd *jd, struct job *j);
void detached_job_done(struct jobd *jd, struct job *j); /* frees j */
void detached_progress(struct jobd *jd, struct job *j, double fraction,
                       const char *message);
void detached_deadline(struct jobd *jd, struct job *j);
/* A detached job taken out of a queue at shutdown: it stays queued in
 * the store and runs after the restart. Frees j. */
void detached_forget(struct jobd *jd, struct job *j);

/* A CQ_STORE item came back; takes ownership. */
void detached_store_done(struct jobd *jd, struct cq_item *item);

/* Draining: detached jobs still queued leave the queues (they stay queued
 * in the store); running ones go on until shutdown_timeout. */
void detached_drain(struct jobd *jd);
/* shutdown_timeout passed: running detached jobs are told to stop; they
 * stay `running` in the store, so the restart decides. */
void detached_stop_running(struct jobd *jd);

/* Live detached jobs (for status lines). */
size_t detached_live(struct jobd *jd);

/* Reload: applies cfg's result_ttl and result_budget to the store. */
struct config;
void detached_apply_config(struct jobd *jd, const struct config *cfg);

#endif
