/* SPDX-License-Identifier: MIT */
#include "daemon/net/net.h"

#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/net/listener.h"

static const struct timeval *common_timeout(struct net *n, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
	                     (suseconds_t)(ms % 1000) * 1000};

	/* Thousands of connections share one duration: libevent then keeps
	 * them in a queue instead of its heap, O(1) per re-arm. */
	return ms ? event_base_init_common_timeout(n->base, &tv) : NULL;
}

static void apply_limits(struct net *n, const struct config *cfg)
{
	n->limits = &cfg->limits;
	n->idle_tv = common_timeout(n, cfg->limits.idle_timeout_ms);
	n->frame_tv = common_timeout(n, cfg->limits.frame_timeout_ms);
}

int net_init(struct net *n, struct event_base *base, const struct config *cfg)
{
	memset(n, 0, sizeof(*n));
	n->base = base;
	n->reserve_fd = -1;
	apply_limits(n, cfg);
	return session_table_init(&n->sessions, cfg->limits.max_connections);
}

void net_set_ops(struct net *n, const struct net_ops *ops, void *arg)
{
	n->ops = ops;
	n->ops_arg = arg;
}

int net_apply_config(struct net *n, const struct config *cfg)
{
	apply_limits(n, cfg);
	return session_table_grow(&n->sessions, cfg->limits.max_connections);
}

static void destroy_session(struct session *s, void *arg)
{
	s->ops->destroy(s);
}

void net_fini(struct net *n)
{
	listeners_close(n);
	n->ops = NULL; /* the layer above is gone or going */
	if (n->sessions.slots)
		session_foreach(&n->sessions, destroy_session, NULL);
	session_table_fini(&n->sessions);
	if (n->reserve_fd >= 0)
		close(n->reserve_fd);
	n->reserve_fd = -1;
}
