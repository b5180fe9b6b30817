/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front end (docs/http.md): libevent's evhttp on the daemon's
 * loop. Each request that needs the protocol becomes a session in the same
 * table as the binary connections and sends dispatch the same messages a
 * binary client would (http_route.c says which); its answer frames come
 * back through the session's ops and become an HTTP response or a stream
 * of Server-Sent Events. The protocol layer never learns it was HTTP.
 * Loop thread only.
 */
#ifndef JOBD_DAEMON_NET_HTTP_H
#define JOBD_DAEMON_NET_HTTP_H

struct net;
struct config;

/* Binds cfg's http.listen addresses (none: does nothing). 0 or a negative
 * errno after logging. */
int http_open(struct net *n, const struct config *cfg);

/* Reload: the limits and web_dir of cfg (borrowed until the next call);
 * the listen addresses are kept as they were. */
void http_apply_config(struct net *n, const struct config *cfg);

/* Daemon exit: frees every request, unsent answers and all, and the
 * server. Before net_fini. */
void http_free(struct net *n);

/* The bound addresses, for the start-up line; "" when none. */
const char *http_describe(const struct net *n);

#endif
