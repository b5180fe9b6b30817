/* SPDX-License-Identifier: MIT */
/*
 * Listeners: sockets handed over by systemd (sd_listen_fds) or bound from
 * the config's `listen:` list, each an evconnlistener. Admission control
 * lives here: past max_connections, or out of file descriptors, a new
 * client gets one error frame and is closed, and accepting pauses instead of
 * spinning, resuming when a connection closes. Loop thread.
 */
#ifndef JOBD_DAEMON_NET_LISTENER_H
#define JOBD_DAEMON_NET_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

struct net;
struct config;
struct ssl_ctx_st;

struct listener {
	struct listener *next;
	struct net *net;
	struct evconnlistener *evl;
	char *addr;     /* "host:port" / "unix:/path" as configured, or
	                   "fd:N" */
	bool activated; /* from systemd: kept across reloads */
	/* TLS: the server context (a fresh one on every reload, which
	 * connections already open do not notice) and the files it came
	 * from; NULL for a plain listener. */
	struct ssl_ctx_st *tls;
	char *tls_key;   /* cert, key and client_ca paths: what says whether
	                    a reload changed the listener */
	char *unix_path; /* a Unix socket we made: unlinked when closed */
};

/* Opens every listener: systemd's sockets, else cfg's listen list.
 * config_path only names the file in errors. Returns 0 or a negative
 * errno after logging. */
int listeners_open(struct net *n, const struct config *cfg,
                   const char *config_path);

/* Reload: opens listeners new in cfg, closes ones no longer in it, and
 * re-reads the certificate and key of every TLS listener (a listener
 * whose files cannot be read keeps the context it had). */
int listeners_apply(struct net *n, const struct config *cfg);

/* Stops accepting and closes every listener (shutdown). */
void listeners_close(struct net *n);

/* Resumes accepting after a pause, if there is room now. */
void listeners_resume(struct net *n);

/* The actual bound addresses, comma-separated ("127.0.0.1:7878,..."). */
void listeners_describe(struct net *n, char *buf, size_t size);

#endif
