/* SPDX-License-Identifier: MIT */
/*
 * What the daemon does with each message and each finished job: the
 * protocol's semantics, apart from any transport. Answers go back through
 * the session the message came from. Loop thread.
 */
#ifndef JOBD_DAEMON_PROTO_DISPATCH_H
#define JOBD_DAEMON_PROTO_DISPATCH_H

#include "daemon/util/cq.h"

struct job;
struct msg;
struct proto;
struct session;

/* Handles one valid message from s. */
void dispatch_message(struct proto *pr, struct session *s, struct msg *m);

/* Completion handlers (registered by proto_init): a finished job
 * (CQ_JOB_DONE) and a progress note (CQ_PROGRESS). arg is the proto. */
void dispatch_job_done_cb(struct cq_item *item, void *arg);
void dispatch_progress_cb(struct cq_item *item, void *arg);

/* A job came back: answer its session, if still there, and free it. */
void dispatch_job_done(struct proto *pr, struct job *j);

/* s goes away: the calls it waits on are cancelled. */
void dispatch_session_gone(struct proto *pr, struct session *s);

/* Shutdown: answers the job with shutting_down and releases it (it was
 * taken from a queue). arg is the proto. */
void dispatch_fail_queued(struct job *j, void *arg);

#endif
