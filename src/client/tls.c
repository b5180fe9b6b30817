/* SPDX-License-Identifier: MIT */
/*
 * TLS for tls:// servers, and the client's credentials.
 *
 * OpenSSL runs over the client's own non-blocking socket (SSL_set_fd): the
 * handshake is a loop of SSL_connect and poll() under the connect
 * deadline, and afterwards tls_recv/tls_send stand in for recv/send in
 * conn.c, which keeps its poll() loops. SSL_read is always called until it
 * wants more bytes, so no decrypted data waits inside OpenSSL while the
 * caller polls the fd (jobd_client_fd() stays usable). TLS 1.2 is the
 * floor; the server's certificate must chain to the CA file (or the
 * system's store) and name the host of the server-list entry.
 *
 * SIGPIPE: OpenSSL writes to the socket with write(2), which raises
 * SIGPIPE on a connection the peer has reset, and the library promises
 * never to raise it. Every SSL call that may write runs with SIGPIPE
 * blocked in the calling thread; one it raised is taken back with
 * sigtimedwait before the mask is restored (as PostgreSQL's libpq does).
 * The process's signal dispositions are left alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "client/client_priv.h"

#define TOKEN_MAX 256

struct sigpipe_guard {
	sigset_t old;
	bool was_pending; /* someone else's SIGPIPE: leave it pending */
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	const struct timespec zero = {0, 0};
	sigset_t set, pending;
	int saved = errno;

	sigemptyset(&pending);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1) {
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	errno = saved;
}

/* The most recent OpenSSL error as text, or fallback. Clears the queue. */
static void ssl_reason(char *buf, size_t size, const char *fallback)
{
	unsigned long e, last = 0;
	const char *r;

	while ((e = ERR_get_error()) != 0)
		last = e;
	r = last ? ERR_reason_error_string(last) : NULL;
	snprintf(buf, size, "%s", r ? r : fallback);
}

void tls_ctx_free(struct jobd_client *c)
{
	SSL_CTX_free(c->tls_ctx);
	c->tls_ctx = NULL;
}

int tls_ctx_build(struct jobd_client *c, char *why, size_t why_size)
{
	const char *ca = c->ca_file ? c->ca_file : secure_getenv("JOBD_CA");
	char r[200];
	SSL_CTX *ctx;

	if (ca && !*ca)
		ca = NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(why, why_size, "TLS: cannot set up: out of memory");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* conn.c may retry a write with a moved buffer after reading. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (ca) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			ssl_reason(r, sizeof(r), "no certificate in it");
			snprintf(why, why_size, "CA file %s: %s%s", ca, r,
			         access(ca, R_OK) < 0 ? " (cannot read it)"
			                              : "");
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_reason(r, sizeof(r), "not found");
		snprintf(why, why_size, "TLS: the system's CA store: %s", r);
		goto fail;
	}
	if (c->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) !=
		    1) {
			ssl_reason(r, sizeof(r), "no certificate in it");
			snprintf(why, why_size, "client certificate %s: %s",
			         c->cert_file, r);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file,
		                                SSL_FILETYPE_PEM) != 1) {
			ssl_reason(r, sizeof(r), "no key in it");
			if (strstr(r, "mismatch"))
				snprintf(why, why_size,
				         "client key %s does not match "
				         "certificate %s",
				         c->key_file, c->cert_file);
			else
				snprintf(why, why_size, "client key %s: %s",
				         c->key_file, r);
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			ERR_clear_error();
			snprintf(why, why_size,
			         "client key %s does not match certificate %s",
			         c->key_file, c->cert_file);
			goto fail;
		}
	}
	SSL_CTX_free(c->tls_ctx);
	c->tls_ctx = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -1;
}

/* Milliseconds left until deadline for poll(), -1 for none. */
static int left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - conn_now_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Why the handshake failed, for people: which check, and the fix. */
static void handshake_failure(struct jobd_client *c, const struct server *s,
                              char *why, size_t why_size)
{
	long v = SSL_get_verify_result(c->ssl);
	char r[200];

	if (v != X509_V_OK) {
		ERR_clear_error();
		snprintf(
		        why, why_size,
		        "TLS: server certificate not accepted: %s%s",
		        X509_verify_cert_error_string(v),
		        v == X509_V_ERR_HOSTNAME_MISMATCH ||
		                        v == X509_V_ERR_IP_ADDRESS_MISMATCH
		                ? " (the certificate is for another name than "
		                  "the one in the server list)"
		        : v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		                        v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
		                        v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
		                ? " (give the CA that signed it: --ca FILE or "
		                  "JOBD_CA)"
		                : "");
		return;
	}
	ssl_reason(r, sizeof(r), "the server closed the connection");
	snprintf(why, why_size, "TLS handshake failed: %s%s", r,
	         strstr(r, "wrong version number") ||
	                         strstr(r, "packet length too long") ||
	                         strstr(r, "record layer failure")
	                 ? " (is it a plain jobd port? then write the entry "
	                   "without tls://)"
	         : strstr(r, "protocol version") ||
	                         strstr(r, "unsupported protocol")
	                 ? " (this client speaks TLS 1.2 or newer only)"
	                 : "");
	(void)s;
}

int tls_connect(struct jobd_client *c, const struct server *s, int64_t deadline,
                char *why, size_t why_size)
{
	struct pollfd pfd;
	int r, err, n;

	if (!c->tls_ctx && tls_ctx_build(c, why, why_size) < 0)
		return -1;
	ERR_clear_error();
	c->ssl = SSL_new(c->tls_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(why, why_size, "TLS: cannot set up: out of memory");
		return -1;
	}
	if (s->numeric) {
		/* RFC 6066: no SNI for an address; verify the address. */
		r = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
		                                  s->host);
	} else {
		r = SSL_set_tlsext_host_name(c->ssl, s->host) == 1 &&
		    SSL_set1_host(c->ssl, s->host) == 1;
	}
	if (r != 1) {
		ERR_clear_error();
		snprintf(why, why_size, "TLS: cannot verify host %s", s->host);
		return -1;
	}
	for (;;) {
		struct sigpipe_guard g;

		ERR_clear_error();
		sigpipe_block(&g);
		r = SSL_connect(c->ssl);
		sigpipe_restore(&g);
		if (r == 1)
			return 0;
		err = SSL_get_error(c->ssl, r);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			c->ssl_failed = true;
			if (err == SSL_ERROR_SYSCALL && errno &&
			    !ERR_peek_error())
				snprintf(why, why_size,
				         "TLS handshake failed: %s",
				         strerror(errno));
			else
				handshake_failure(c, s, why, why_size);
			return -1;
		}
		pfd.fd = c->fd;
		pfd.events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		pfd.revents = 0;
		do
			n = poll(&pfd, 1, left_ms(deadline));
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			snprintf(why, why_size, "poll: %s", strerror(errno));
			return -1;
		}
		if (n == 0 && deadline >= 0 && conn_now_ms() >= deadline) {
			snprintf(why, why_size,
			         "TLS handshake timed out (is it a TLS port?)");
			return -1;
		}
	}
}

/* Maps an SSL_read/SSL_write failure to errno; EPROTO with why. */
static ssize_t io_failure(struct jobd_client *c, int r, bool reading, char *why,
                          size_t why_size)
{
	int err = SSL_get_error(c->ssl, r);
	char reason[200];

	switch (err) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			c->ssl_want_write = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify: the end of the stream */
	case SSL_ERROR_SYSCALL:
		/* Fatal: no SSL_shutdown after this (tls_close). */
		c->ssl_failed = true;
		if (!ERR_peek_error()) {
			if (errno == 0 && reading)
				return 0; /* EOF without close_notify */
			if (errno == 0)
				errno = EPIPE;
			snprintf(why, why_size, "%s", strerror(errno));
			return -1;
		}
		/* fall through */
	default:
		c->ssl_failed = true;
		ssl_reason(reason, sizeof(reason), "TLS failure");
		snprintf(why, why_size, "TLS: %s", reason);
		errno = EPROTO;
		return -1;
	}
}

ssize_t tls_recv(struct jobd_client *c, void *buf, size_t n, char *why,
                 size_t why_size)
{
	struct sigpipe_guard g;
	int r;

	if (!c->ssl)
		return recv(c->fd, buf, n, MSG_DONTWAIT);
	c->ssl_want_write = false;
	ERR_clear_error();
	errno = 0;
	sigpipe_block(&g); /* reading may write: alerts, key updates */
	r = SSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	sigpipe_restore(&g);
	if (r > 0)
		return r;
	return io_failure(c, r, true, why, why_size);
}

ssize_t tls_send(struct jobd_client *c, const void *buf, size_t n, char *why,
                 size_t why_size)
{
	struct sigpipe_guard g;
	int r;

	if (!c->ssl)
		return send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	ERR_clear_error();
	errno = 0;
	sigpipe_block(&g);
	r = SSL_write(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	sigpipe_restore(&g);
	if (r > 0)
		return r;
	if (io_failure(c, r, false, why, why_size) == 0)
		errno = EPIPE;
	return -1;
}

void tls_close(struct jobd_client *c)
{
	struct sigpipe_guard g;

	if (!c->ssl)
		return;
	/* One try: a close_notify if the socket takes it now, no wait; never
	 * after a fatal error (OpenSSL forbids it). */
	if (SSL_is_init_finished(c->ssl) && !c->ssl_failed) {
		sigpipe_block(&g);
		SSL_shutdown(c->ssl);
		sigpipe_restore(&g);
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->ssl_want_write = false;
	c->ssl_failed = false;
}

int client_read_token_file(const char *path, char **out, char *why,
                           size_t why_size)
{
	char buf[TOKEN_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, why_size, "token file %s: %s", path,
		         strerror(errno));
		return -1;
	}
	/* A secret, so the rule ssh has for private keys: ours (or root's),
	 * and nobody else may read or write it. Checked on what we read. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, why_size, "token file %s: not a regular file",
		         path);
		goto fail;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(why, why_size,
		         "token file %s belongs to uid %u, not to you; run: "
		         "chown %u %s",
		         path, (unsigned)st.st_uid, (unsigned)geteuid(), path);
		goto fail;
	}
	if (st.st_mode & 077) {
		snprintf(why, why_size,
		         "token file %s is open to others (mode %04o); run: "
		         "chmod 600 %s",
		         path, (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(why, why_size, "token file %s: %s", path,
		         strerror(errno));
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	if (buf[len] == '\0' && (size_t)n == sizeof(buf) - 1)
		len = sizeof(buf); /* no end of line in reach: too long */
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (len == 0 || len > TOKEN_MAX) {
		snprintf(why, why_size,
		         "token file %s: the first line must hold the token "
		         "(1 to %d characters)",
		         path, TOKEN_MAX);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	*out = strndup(buf, len);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!*out) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}

int client_token(struct jobd_client *c, char **out, char *why, size_t why_size)
{
	const char *env;

	*out = NULL;
	if (c->token) {
		*out = strdup(c->token);
		goto check;
	}
	env = secure_getenv("JOBD_TOKEN");
	if (env && *env) {
		*out = strdup(env);
		goto check;
	}
	env = secure_getenv("JOBD_TOKEN_FILE");
	if (env && *env)
		return client_read_token_file(env, out, why, why_size);
	return 0;
check:
	if (!*out) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	if (strlen(*out) > TOKEN_MAX) {
		snprintf(why, why_size, "the token is longer than %d bytes",
		         TOKEN_MAX);
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}
