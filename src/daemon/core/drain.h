/* SPDX-License-Identifier: MIT */
/*
 * Shutdown: SIGTERM drains (no new calls, running jobs finish within
 * shutdown_timeout, answers reach the clients, then the loop exits).
 */
#ifndef JOBD_DAEMON_CORE_DRAIN_H
#define JOBD_DAEMON_CORE_DRAIN_H

struct jobd;

/* Stops accepting and new calls; the loop exits once every job is done
 * (or shutdown_timeout passed) and the answers are out. */
void drain_begin(struct jobd *jd);

/* While draining: finishes once no job is queued or running. */
void drain_check(struct jobd *jd);

/* A session's slot was freed: accepting may resume, or the drain end. */
void drain_session_freed(struct jobd *jd);

#endif
