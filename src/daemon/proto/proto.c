/* SPDX-License-Identifier: MIT */
#include "daemon/proto/proto.h"

#include <stdatomic.h>
#include <string.h>

#include "daemon/exec/job.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/detached.h"
#include "daemon/proto/dispatch.h"
#include "daemon/util/clock.h"
#include "daemon/util/cq.h"

void proto_init(struct proto *p, struct event_base *base, struct net *net,
                struct registry *plugins, struct cq *done,
                const struct config *cfg, const struct proto_hooks *hooks,
                void *hooks_arg)
{
	memset(p, 0, sizeof(*p));
	p->base = base;
	p->net = net;
	p->plugins = plugins;
	p->done = done;
	p->cfg = cfg;
	p->hooks = hooks;
	p->hooks_arg = hooks_arg;
	p->started_ns = monotonic_ns();
	cq_set_handler(done, CQ_JOB_DONE, dispatch_job_done_cb, p);
	cq_set_handler(done, CQ_PROGRESS, dispatch_progress_cb, p);
}

void proto_session_opened(struct proto *p, struct session *s)
{
	auth_session_opened(p, s);
}

void proto_fini(struct proto *p)
{
	auth_fini(p);
	if (!p->done)
		return;
	cq_set_handler(p->done, CQ_JOB_DONE, NULL, NULL);
	cq_set_handler(p->done, CQ_PROGRESS, NULL, NULL);
}

void proto_apply_config(struct proto *p, const struct config *cfg)
{
	p->cfg = cfg;
	detached_apply_config(p, cfg);
}

void proto_begin_drain(struct proto *p)
{
	p->draining = true;
	/* Queued detached jobs wait in the store for the next start. */
	detached_drain(p);
}

static void fail_running(struct session *s, void *arg)
{
	struct job *j, *next;

	for (j = s->inflight; j; j = next) {
		next = j->c_next;
		atomic_store(&j->stop_reason, JOBD_E_SHUTTING_DOWN);
		session_send_error(s, true, j->req_id, JOBD_E_SHUTTING_DOWN,
		                   "jobd stopped before the job finished");
		j->answered = true;
		session_untrack_job(s, j);
	}
}

void proto_fail_queued(struct proto *p)
{
	size_t i;

	detached_stop_running(p); /* they stay `running` in the store */
	for (i = 0; i < p->plugins->n_plugins; i++)
		pool_drain_queue(p->plugins->plugins[i]->pool,
		                 dispatch_fail_queued, p);
}

void proto_fail_running(struct proto *p)
{
	session_foreach(&p->net->sessions, fail_running, NULL);
}

static void abandon(struct session *s, void *arg)
{
	dispatch_session_gone(arg, s);
}

void proto_abandon_sessions(struct proto *p)
{
	if (!p->net)
		return; /* start-up failed before proto_init */
	session_foreach(&p->net->sessions, abandon, p);
	detached_drain(p);
}
