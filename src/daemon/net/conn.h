/* SPDX-License-Identifier: MIT */
/*
 * A client connection over a stream socket (TCP today): a bufferevent, a
 * frame decoder, and the timers and caps that keep one client from hurting
 * the others. It is a session (session.h): the protocol answers through
 * that and never sees this type. Loop thread only.
 */
#ifndef JOBD_DAEMON_NET_CONN_H
#define JOBD_DAEMON_NET_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/net/session.h"
#include "wire/frame.h"

struct net;
struct ssl_ctx_st;

struct conn {
	struct session s; /* first; what the protocol layer sees */
	struct net *net;
	struct bufferevent *bev;
	struct frame_decoder dec;
	uint64_t input_reserved; /* its share of net->input_reserved */
	struct event *idle_ev;
	struct event *frame_ev;
	struct event *flush_ev; /* writes queued answers once per loop turn */
	bool flush_pending;     /* flush_ev is active */
	bool paused_inflight;   /* at max_inflight_per_connection */
	bool paused_output;     /* unsent output over max_output_buffer */
	bool arrays;            /* the decoder takes array frames */
	bool tls;               /* bev is a bufferevent_openssl */
	bool ready;             /* opened: TLS handshake done, or plain */
	bool seen_bytes;        /* its first byte has been looked at */
};

/* Takes over fd (accepted, any family). With tls (borrowed; the
 * connection keeps its own reference) the connection speaks TLS as a
 * server and is opened once the handshake is done. A Unix-socket peer is
 * named by SO_PEERCRED. Returns 0 or a negative errno; on failure fd is
 * closed. */
int conn_accept(struct net *n, int fd, const struct sockaddr *sa, int salen,
                struct ssl_ctx_st *tls);

#endif
