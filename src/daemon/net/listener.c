/* SPDX-License-Identifier: MIT */
#include "daemon/net/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "daemon/net/conn.h"
#include "daemon/net/net.h"
#include "daemon/util/log.h"
#include "wire/frame.h"
#include "wire/message.h"

/* Retry accepting this soon after running out of file descriptors. */
#define ACCEPT_RETRY_MS 100
#define LISTEN_BACKLOG  1024

/* Sends one error frame on a socket we will not serve, and closes it. */
static void refuse(int fd, enum jobd_error code, const char *text)
{
	json_t *msg = msg_error(false, 0, code, text);
	char *frame = NULL;
	size_t len;

	if (msg && frame_encode(msg, &frame, &len) == 0 &&
	    send(fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("refusal not sent: %s", strerror(errno));
	free(frame);
	json_decref(msg);
	close(fd);
}

static void listeners_pause(struct net *n)
{
	struct listener *l;

	if (n->accept_paused)
		return;
	for (l = n->listeners; l; l = l->next)
		evconnlistener_disable(l->evl);
	n->accept_paused = true;
}

void listeners_resume(struct net *n)
{
	struct listener *l;

	if (!n->accept_paused || n->refusing)
		return;
	for (l = n->listeners; l; l = l->next)
		evconnlistener_enable(l->evl);
	n->accept_paused = false;
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	listeners_resume(arg);
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
	struct net *n = arg;
	char text[128];

	if (n->refusing) {
		refuse(fd, JOBD_E_SHUTTING_DOWN, "jobd is shutting down");
		return;
	}
	if (n->sessions.count >= n->limits->max_connections ||
	    n->sessions.count >= n->sessions.n_slots) {
		n->conns_refused++;
		snprintf(text, sizeof(text),
		         "max_connections (%u) reached; try again later",
		         n->limits->max_connections);
		refuse(fd, JOBD_E_TOO_MANY_CONNECTIONS, text);
		return;
	}
	if (conn_accept(n, fd, sa, salen) < 0)
		n->conns_refused++;
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct net *n = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, ACCEPT_RETRY_MS * 1000};
	int fd;

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warning("accept: %s", strerror(err));
		return;
	}
	/* Out of descriptors: spend the reserve one to tell the waiting
	 * client why, then stop accepting until a connection closes (or a
	 * short timer), so a full table does not make the loop spin. */
	n->conns_refused++;
	if (n->reserve_fd >= 0) {
		close(n->reserve_fd);
		n->reserve_fd = -1;
		fd = accept4(evconnlistener_get_fd(evl), NULL, NULL,
		             SOCK_CLOEXEC);
		if (fd >= 0)
			refuse(fd, JOBD_E_TOO_MANY_CONNECTIONS,
			       "jobd is out of file descriptors; try again "
			       "later");
		n->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	log_warning("accept: %s; pausing new connections", strerror(err));
	listeners_pause(n);
	evtimer_add(n->accept_retry_ev, &tv);
}

static int listener_add(struct net *n, evutil_socket_t fd, const char *addr,
                        bool activated, bool own)
{
	struct listener *l = calloc(1, sizeof(*l));
	unsigned flags = LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;

	if (!l)
		return -ENOMEM;
	if (own)
		flags |= LEV_OPT_CLOSE_ON_FREE;
	evutil_make_socket_nonblocking(fd);
	l->evl = evconnlistener_new(n->base, accept_cb, n, flags,
	                            LISTEN_BACKLOG, fd);
	if (!l->evl) {
		free(l);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(l->evl, accept_error_cb);
	if (n->accept_paused)
		evconnlistener_disable(l->evl);
	l->addr = strdup(addr);
	l->activated = activated;
	l->next = n->listeners;
	n->listeners = l;
	return 0;
}

/* Splits "host:port" / "[v6]:port" into getaddrinfo's arguments. */
static int split_addr(const char *addr, char *host, size_t hsize, char *port,
                      size_t psize)
{
	const char *colon;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		snprintf(host, hsize, "%.*s", (int)(end - addr - 1), addr + 1);
		snprintf(port, psize, "%s", end + 2);
		return 0;
	}
	colon = strrchr(addr, ':');
	if (!colon)
		return -EINVAL;
	snprintf(host, hsize, "%.*s", (int)(colon - addr), addr);
	snprintf(port, psize, "%s", colon + 1);
	return 0;
}

static int listener_bind(struct net *n, const char *addr)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	char host[256], port[16];
	int fd = -1, one = 1, rc;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0) {
		log_error("listen %s: expected host:port", addr);
		return -EINVAL;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc) {
		log_error("listen %s: %s", addr, gai_strerror(rc));
		return -EINVAL;
	}
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			           sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0) {
			rc = 0;
			break;
		}
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (rc < 0) {
		log_error("listen %s: %s", addr, strerror(-rc));
		return rc;
	}
	rc = listener_add(n, fd, addr, false, true);
	if (rc < 0)
		close(fd);
	return rc;
}

int listeners_open(struct net *n, const struct config *cfg,
                   const char *config_path)
{
	char name[32];
	size_t i;
	int n_fds, fd, rc;

	n->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	n->accept_retry_ev = evtimer_new(n->base, accept_retry_cb, n);
	if (!n->accept_retry_ev)
		return -ENOMEM;
	n_fds = sd_listen_fds(1);
	if (n_fds < 0) {
		log_error("sd_listen_fds: %s", strerror(-n_fds));
		return n_fds;
	}
	for (fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n_fds; fd++) {
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_error("socket activation: fd %d is not a listening "
			          "stream socket",
			          fd);
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "fd:%d", fd);
		rc = listener_add(n, fd, name, true, true);
		if (rc < 0)
			return rc;
	}
	if (n_fds > 0) {
		log_info("serving %d socket(s) from systemd; ignoring listen:",
		         n_fds);
		return 0;
	}
	if (!cfg->n_listen) {
		log_error("%s: listen: no address to listen on", config_path);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_listen; i++) {
		rc = listener_bind(n, cfg->listen[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool in_list(char **list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

static void listener_free(struct listener *l)
{
	evconnlistener_free(l->evl);
	free(l->addr);
	free(l);
}

int listeners_apply(struct net *n, const struct config *cfg)
{
	struct listener **pp = &n->listeners, *l;
	size_t i;
	int rc = 0;

	for (l = n->listeners; l; l = l->next)
		if (l->activated)
			return 0; /* systemd owns the sockets */
	while ((l = *pp)) {
		if (!in_list(cfg->listen, cfg->n_listen, l->addr)) {
			log_info("no longer listening on %s", l->addr);
			*pp = l->next;
			listener_free(l);
		} else {
			pp = &l->next;
		}
	}
	for (i = 0; i < cfg->n_listen; i++) {
		for (l = n->listeners; l; l = l->next)
			if (!strcmp(l->addr, cfg->listen[i]))
				break;
		if (!l && listener_bind(n, cfg->listen[i]) == 0)
			log_info("now listening on %s", cfg->listen[i]);
		else if (!l)
			rc = -EADDRNOTAVAIL;
	}
	return rc;
}

void listeners_close(struct net *n)
{
	struct listener *l;

	while ((l = n->listeners)) {
		n->listeners = l->next;
		listener_free(l);
	}
	if (n->accept_retry_ev) {
		event_free(n->accept_retry_ev);
		n->accept_retry_ev = NULL;
	}
}

void listeners_describe(struct net *n, char *buf, size_t size)
{
	struct listener *l;
	struct sockaddr_storage ss;
	socklen_t len;
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	size_t used = 0;

	buf[0] = '\0';
	for (l = n->listeners; l && used < size; l = l->next) {
		len = sizeof(ss);
		if (getsockname(evconnlistener_get_fd(l->evl),
		                (struct sockaddr *)&ss, &len) < 0 ||
		    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host),
		                serv, sizeof(serv),
		                NI_NUMERICHOST | NI_NUMERICSERV))
			continue;
		used += (size_t)snprintf(buf + used, size - used,
		                         ss.ss_family == AF_INET6 ? "%s[%s]:%s"
		                                                  : "%s%s:%s",
		                         used ? "," : "", host, serv);
	}
}
