/* SPDX-License-Identifier: MIT */
/*
 * The protocol layer's context: what each message means and what happens
 * to each finished job. It registers its handlers on the completion queue
 * and answers through sessions, so it never names a kind of connection;
 * messages arrive through the net_ops that core registers and forwards
 * here. Core hears back through proto_hooks. Loop thread.
 */
#ifndef JOBD_DAEMON_PROTO_PROTO_H
#define JOBD_DAEMON_PROTO_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/proto/auth.h"

struct config;
struct cq;
struct detached;
struct event_base;
struct net;
struct registry;
struct session;

/* What core wants to hear about. arg is the one given to proto_init. */
struct proto_hooks {
	/* A job came back while draining: the drain may be over. */
	void (*job_finished)(void *arg);
};

struct proto {
	struct event_base *base; /* borrowed, like the rest */
	struct net *net;
	struct registry *plugins;
	struct cq *done;
	const struct config *cfg;  /* in force; proto_apply_config swaps it */
	struct detached *detached; /* detached jobs and the job store */
	struct auth auth;          /* users, identities (auth.h) */

	uint64_t started_ns;
	uint64_t input_queued; /* request bytes of accepted calls */
	bool draining;         /* no new calls */

	const struct proto_hooks *hooks;
	void *hooks_arg;
};

/* Registers proto's completion handlers on done (CQ_JOB_DONE,
 * CQ_PROGRESS; detached_init adds CQ_STORE). Messages reach proto through
 * the net_ops core registers. Everything is borrowed for p's life. */
void proto_init(struct proto *p, struct event_base *base, struct net *net,
                struct registry *plugins, struct cq *done,
                const struct config *cfg, const struct proto_hooks *hooks,
                void *hooks_arg);

/* A session is ready for messages (net_ops.opened). */
void proto_session_opened(struct proto *p, struct session *s);

/* Unregisters from the completion queue. After detached_fini. */
void proto_fini(struct proto *p);

/* Reload: cfg is the config in force from now on. */
void proto_apply_config(struct proto *p, const struct config *cfg);

/* Draining begins: new calls are refused with shutting_down. */
void proto_begin_drain(struct proto *p);

/* Shutdown timeout: every call still waiting on a session is answered
 * shutting_down. */
void proto_fail_running(struct proto *p);

/* Daemon exit: every session forgets its calls (they are cancelled). */
void proto_abandon_sessions(struct proto *p);

/* Shutdown: takes the queued jobs out of every pool and answers them. */
void proto_fail_queued(struct proto *p);

#endif
