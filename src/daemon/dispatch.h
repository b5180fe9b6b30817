/* SPDX-License-Identifier: MIT */
/*
 * What the daemon does with each message and each finished job: the
 * protocol's semantics, separate from the connection's I/O. Loop thread.
 */
#ifndef JOBD_DAEMON_DISPATCH_H
#define JOBD_DAEMON_DISPATCH_H

#include "daemon/cq.h"

struct conn;
struct msg;
struct jobd;
struct job;

/* Handles one valid message from c. */
void dispatch_message(struct conn *c, struct msg *m);

/* Handles one item from the completion queue (a finished job or a
 * progress note); takes ownership. */
void dispatch_completion(struct jobd *jd, struct cq_item *item);

/* Called when c goes away: its waiting calls are cancelled. */
void dispatch_conn_gone(struct conn *c);

/* Shutdown: answers the job with shutting_down and releases it (it was
 * taken from a queue). */
void dispatch_fail_queued(struct job *j, void *jd);

#endif
