/* SPDX-License-Identifier: MIT */
#include "daemon/net/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <systemd/sd-daemon.h>

#include "daemon/config/config.h"
#include "daemon/net/conn.h"
#include "daemon/net/net.h"
#include "daemon/net/tls.h"
#include "daemon/util/log.h"
#include "wire/frame.h"
#include "wire/message.h"

/* Retry accepting this soon after running out of file descriptors. */
#define ACCEPT_RETRY_MS 100
#define LISTEN_BACKLOG  1024
/* How long a client on a TLS port may take to send its first byte. */
#define TLS_FIRST_BYTE_SEC 10
#define TLS_HANDSHAKE_BYTE 0x16

/* A client of a TLS listener whose first byte has not come yet: it is
 * looked at (MSG_PEEK) before OpenSSL is, so that a plaintext client gets
 * a plain error frame that says what to do instead of a broken
 * handshake. */
struct tls_wait {
	struct tls_wait *prev, *next;
	struct net *net;
	struct event *ev;
	int fd;
	SSL_CTX *ctx; /* a reference */
	struct sockaddr_storage sa;
	int salen;
	char addr[64];
};

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

static void tls_wait_free(struct tls_wait *w, bool close_fd)
{
	struct net *n = w->net;

	if (w->prev)
		w->prev->next = w->next;
	else
		n->tls_waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	n->n_tls_waits--;
	event_free(w->ev);
	SSL_CTX_free(w->ctx);
	if (close_fd)
		close(w->fd);
	free(w);
}

static void tls_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tls_wait *w = arg;
	struct net *n = w->net;
	unsigned char b;
	ssize_t got;

	if (what & EV_TIMEOUT) {
		log_info("%s: sent nothing within %d s on a TLS port; "
		         "closing",
		         w->addr, TLS_FIRST_BYTE_SEC);
		tls_wait_free(w, true);
		return;
	}
	got = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* EV_PERSIST: wait on */
	if (got <= 0) {
		tls_wait_free(w, true);
		return;
	}
	if (b != TLS_HANDSHAKE_BYTE) {
		char sink[4096];
		int i;

		log_info("%s: plaintext on a TLS port; closing", w->addr);
		/* Read what it sent: closing with unread bytes would reset
		 * the connection and lose the answer that explains. */
		for (i = 0; i < 16; i++)
			if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				break;
		refuse(fd, JOBD_E_BAD_FRAME,
		       "this port speaks TLS: connect with tls://HOST:PORT "
		       "(jobctl, libjobd-client) or through a TLS library");
		tls_wait_free(w, false);
		return;
	}
	if (conn_accept(n, fd, (struct sockaddr *)&w->sa, w->salen, w->ctx) < 0)
		n->conns_refused++;
	tls_wait_free(w, false); /* the connection owns fd now */
}

static void tls_wait_new(struct net *n, struct listener *l, int fd,
                         const struct sockaddr *sa, int salen)
{
	struct timeval tv = {TLS_FIRST_BYTE_SEC, 0};
	struct tls_wait *w = calloc(1, sizeof(*w));
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (!w || (size_t)salen > sizeof(w->sa)) {
		free(w);
		close(fd);
		n->conns_refused++;
		return;
	}
	w->net = n;
	w->fd = fd;
	memcpy(&w->sa, sa, (size_t)salen);
	w->salen = salen;
	if (getnameinfo(sa, (socklen_t)salen, host, sizeof(host), serv,
	                sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(w->addr, sizeof(w->addr), "%.40s:%.8s", host, serv);
	else
		snprintf(w->addr, sizeof(w->addr), "a TLS client");
	w->ev = event_new(n->base, fd, EV_READ | EV_PERSIST, tls_wait_cb, w);
	if (!w->ev || event_add(w->ev, &tv) < 0) {
		if (w->ev)
			event_free(w->ev);
		free(w);
		close(fd);
		n->conns_refused++;
		return;
	}
	SSL_CTX_up_ref(l->tls);
	w->ctx = l->tls;
	w->next = n->tls_waits;
	if (w->next)
		w->next->prev = w;
	n->tls_waits = w;
	n->n_tls_waits++;
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	struct net *n = l->net;
	char text[128];

	if (n->refusing) {
		refuse(fd, JOBD_E_SHUTTING_DOWN, "jobd is shutting down");
		return;
	}
	if (n->sessions.count + n->n_tls_waits >= n->limits->max_connections ||
	    n->sessions.count + n->n_tls_waits >= n->sessions.n_slots) {
		n->conns_refused++;
		snprintf(text, sizeof(text),
		         "max_connections (%u) reached; try again later",
		         n->limits->max_connections);
		refuse(fd, JOBD_E_TOO_MANY_CONNECTIONS, text);
		return;
	}
	if (l->tls)
		tls_wait_new(n, l, fd, sa, salen);
	else if (conn_accept(n, fd, sa, salen, NULL) < 0)
		n->conns_refused++;
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	struct net *n = l->net;
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

/* What identifies a listener's TLS setup across reloads. */
static char *tls_identity(const struct config_tls *t)
{
	char *s = NULL;

	if (t && asprintf(&s, "%s\n%s\n%s", t->cert, t->key,
	                  t->client_ca ? t->client_ca : "") < 0)
		s = NULL;
	return s;
}

static void listener_free(struct listener *l)
{
	evconnlistener_free(l->evl);
	if (l->unix_path)
		unlink(l->unix_path);
	SSL_CTX_free(l->tls);
	free(l->unix_path);
	free(l->tls_key);
	free(l->addr);
	free(l);
}

static int listener_add(struct net *n, evutil_socket_t fd, const char *addr,
                        bool activated, bool own, const struct config_tls *t,
                        const char *unix_path)
{
	struct listener *l = calloc(1, sizeof(*l));
	unsigned flags = LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
	int rc;

	if (!l)
		return -ENOMEM;
	l->net = n;
	if (t) {
		rc = tls_ctx_new(t, addr, &l->tls);
		if (rc < 0) {
			free(l);
			return rc;
		}
		l->tls_key = tls_identity(t);
	}
	if (own)
		flags |= LEV_OPT_CLOSE_ON_FREE;
	evutil_make_socket_nonblocking(fd);
	l->evl = evconnlistener_new(n->base, accept_cb, l, flags,
	                            LISTEN_BACKLOG, fd);
	if (!l->evl) {
		SSL_CTX_free(l->tls);
		free(l->tls_key);
		free(l);
		return -ENOMEM;
	}
	l->unix_path = unix_path ? strdup(unix_path) : NULL;
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

/* A Unix socket at path, mode 0666: who the peer is comes from
 * SO_PEERCRED, and a peer the users file does not name must still
 * authenticate. A stale socket of ours is replaced; any other file is
 * left alone. */
static int listener_bind_unix(struct net *n, const char *addr)
{
	const char *path = addr + 5;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("listen %s: %s exists and is not a socket",
			          addr, path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_error("listen %s: %s", addr, strerror(-rc));
		return rc;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		log_error("listen %s: %s", addr, strerror(-rc));
		close(fd);
		unlink(path);
		return rc;
	}
	rc = listener_add(n, fd, addr, false, true, NULL, path);
	if (rc < 0) {
		close(fd);
		unlink(path);
	}
	return rc;
}

static int listener_bind(struct net *n, const char *addr,
                         const struct config_tls *t)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	char host[256], port[16];
	int fd = -1, one = 1, rc;

	if (!strncmp(addr, "unix:", 5))
		return listener_bind_unix(n, addr);
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
	rc = listener_add(n, fd, addr, false, true, t, NULL);
	if (rc < 0)
		close(fd);
	return rc;
}

/* A socket from systemd: the config's listen: rule (config/access.c)
 * applies to it too, checked on the address it is bound to. */
static bool socket_is_local(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_UNIX)
		return true;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
		        24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a =
		        &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
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
		if (!cfg->users_file && !cfg->allow_unauthenticated &&
		    !socket_is_local(fd)) {
			log_error(
			        "socket activation: %s is bound to an address "
			        "other machines can reach, and %s has no auth "
			        "section: anyone who reaches it could run any "
			        "plugin and read or cancel every job. Add "
			        "auth: "
			        "{users_file: ...} (docs/security.md), bind "
			        "the "
			        "socket to loopback, or say "
			        "allow_unauthenticated: true",
			        name, config_path);
			return -EACCES;
		}
		rc = listener_add(n, fd, name, true, true, NULL, NULL);
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
		rc = listener_bind(n, cfg->listen[i],
		                   cfg->listen_opts ? cfg->listen_opts[i].tls
		                                    : NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The config entry for listener l with the same address and TLS files,
 * or -1 (then l goes, and a new one is bound if the address stays). */
static long config_index(const struct config *cfg, const struct listener *l)
{
	size_t i;
	char *key;
	bool same;

	for (i = 0; i < cfg->n_listen; i++) {
		if (strcmp(l->addr, cfg->listen[i]))
			continue;
		key = tls_identity(cfg->listen_opts ? cfg->listen_opts[i].tls
		                                    : NULL);
		same = (!key && !l->tls_key) ||
		       (key && l->tls_key && !strcmp(key, l->tls_key));
		free(key);
		return same ? (long)i : -1;
	}
	return -1;
}

/* SIGHUP: the certificate and key again, for a renewed certificate. */
static void listener_reload_tls(struct listener *l, const struct config_tls *t)
{
	SSL_CTX *ctx;

	if (tls_ctx_new(t, l->addr, &ctx) < 0) {
		log_error("listen %s: keeping the certificate loaded before",
		          l->addr);
		return;
	}
	SSL_CTX_free(l->tls); /* open connections hold their own reference */
	l->tls = ctx;
}

int listeners_apply(struct net *n, const struct config *cfg)
{
	struct listener **pp = &n->listeners, *l;
	size_t i;
	long k;
	int rc = 0;

	for (l = n->listeners; l; l = l->next)
		if (l->activated)
			return 0; /* systemd owns the sockets */
	while ((l = *pp)) {
		k = config_index(cfg, l);
		if (k < 0) {
			log_info("no longer listening on %s%s", l->addr,
			         l->tls ? " (TLS)" : "");
			*pp = l->next;
			listener_free(l);
		} else {
			if (l->tls)
				listener_reload_tls(l, cfg->listen_opts[k].tls);
			pp = &l->next;
		}
	}
	for (i = 0; i < cfg->n_listen; i++) {
		for (l = n->listeners; l; l = l->next)
			if (!strcmp(l->addr, cfg->listen[i]))
				break;
		if (!l &&
		    listener_bind(n, cfg->listen[i],
		                  cfg->listen_opts ? cfg->listen_opts[i].tls
		                                   : NULL) == 0)
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
	while (n->tls_waits)
		tls_wait_free(n->tls_waits, true);
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
		if (l->unix_path) {
			used += (size_t)snprintf(buf + used, size - used,
			                         "%sunix:%s", used ? "," : "",
			                         l->unix_path);
			continue;
		}
		len = sizeof(ss);
		if (getsockname(evconnlistener_get_fd(l->evl),
		                (struct sockaddr *)&ss, &len) < 0 ||
		    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host),
		                serv, sizeof(serv),
		                NI_NUMERICHOST | NI_NUMERICSERV))
			continue;
		used += (size_t)snprintf(
		        buf + used, size - used,
		        ss.ss_family == AF_INET6 ? "%s[%s]:%s%s" : "%s%s:%s%s",
		        used ? "," : "", host, serv, l->tls ? " (TLS)" : "");
	}
}
