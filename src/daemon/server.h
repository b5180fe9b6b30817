/* SPDX-License-Identifier: MIT */
/*
 * Listeners: sockets handed over by systemd (sd_listen_fds) or bound from
 * the config's `listen:` list, each an evconnlistener. Admission control
 * lives here: past max_connections, or out of file descriptors, a new
 * client gets one error frame and is closed, and accepting pauses instead of
 * spinning, resuming when a connection closes.
 */
#ifndef JOBD_DAEMON_SERVER_H
#define JOBD_DAEMON_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct jobd;
struct config;

struct listener {
	struct listener *next;
	struct evconnlistener *evl;
	char *addr;     /* "host:port" as configured, or "fd:N" */
	bool activated; /* from systemd: kept across reloads */
};

/* Opens every listener. Returns 0 or a negative errno after logging. */
int server_listen(struct jobd *jd);

/* Reload: opens listeners new in cfg, closes ones no longer in it. */
int server_apply(struct jobd *jd, const struct config *cfg);

/* Stops accepting and closes every listener (shutdown). */
void server_close(struct jobd *jd);

/* Resumes accepting after a pause, if there is room now. */
void server_resume(struct jobd *jd);

/* The actual bound addresses, comma-separated ("127.0.0.1:7878,..."). */
void server_describe(struct jobd *jd, char *buf, size_t size);

#endif
