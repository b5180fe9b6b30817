/* SPDX-License-Identifier: MIT */
/*
 * The connection layer's context: the session table, the limits and
 * timeouts every connection obeys, the counters, and the listeners. It
 * never names the protocol: the layer above registers a small ops table
 * once (net_set_ops), and the connections call through it, as nginx's
 * accept code calls ls->handler. Loop thread only.
 */
#ifndef JOBD_DAEMON_NET_NET_H
#define JOBD_DAEMON_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config/config.h"
#include "daemon/net/session.h"

struct event_base;
struct event;
struct timeval;
struct listener;
struct tls_wait;
struct http_server;
struct msg;

/* What the layer above does with what arrives. arg is the one given to
 * net_set_ops. */
struct net_ops {
	/* s is ready for messages (accepted; for TLS, after the
	 * handshake): the layer above may set its user and frame cap.
	 * Called before any message of s. */
	void (*opened)(void *arg, struct session *s);
	/* One valid message from s (m is valid for the call only). */
	void (*message)(void *arg, struct session *s, struct msg *m);
	/* s closes: nobody will read its answers (may come twice: at close
	 * and when it is freed). */
	void (*gone)(void *arg, struct session *s);
	/* A slot was freed: accepting may resume, a drain may end. */
	void (*slot_freed)(void *arg);
};

struct net {
	struct event_base *base; /* borrowed */
	/* The limits in force: borrowed from the config, replaced by
	 * net_apply_config on reload. */
	const struct config_limits *limits;
	const struct timeval *idle_tv; /* libevent common timeouts */
	const struct timeval *frame_tv;

	struct session_table sessions;
	uint64_t input_reserved; /* frame bodies held, all connections */
	uint64_t conns_total;
	uint64_t conns_refused;

	struct listener *listeners; /* list */
	struct tls_wait *tls_waits; /* TLS clients not yet sending */
	uint32_t n_tls_waits;
	struct http_server *http; /* the HTTP front end, or NULL */
	bool accept_paused;       /* out of fds or at max_connections */
	bool refusing;            /* shutting down: new clients refused */
	struct event *accept_retry_ev;
	int reserve_fd; /* kept open so EMFILE can still refuse cleanly */

	const struct net_ops *ops; /* borrowed */
	void *ops_arg;
};

/* Sets up the session table for cfg's max_connections. 0 or -ENOMEM. */
int net_init(struct net *n, struct event_base *base, const struct config *cfg);

/* Registers the layer above; ops and arg are borrowed for n's life. */
void net_set_ops(struct net *n, const struct net_ops *ops, void *arg);

/* Reload: new limits and timeouts; the session table grows when
 * max_connections rises. 0 or -ENOMEM (the table kept its size). */
int net_apply_config(struct net *n, const struct config *cfg);

/* Closes the listeners and frees every connection at once, unsent output
 * and all (daemon exit), then the table. The ops are not called. */
void net_fini(struct net *n);

/* Live sessions. */
static inline uint32_t net_count(const struct net *n)
{
	return n->sessions.count;
}

#endif
