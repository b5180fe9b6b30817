/* SPDX-License-Identifier: MIT */
/*
 * TLS for listeners (docs/security.md): an OpenSSL 3 server context per
 * TLS listener, made from the files its config names, and the subject of
 * a verified client certificate. TLS 1.2 or newer only. The files are
 * read through the trusted-file check (src/auth/trusted.h), the key as a
 * secret; SIGHUP makes a fresh context from them. Loop thread.
 */
#ifndef JOBD_DAEMON_NET_TLS_H
#define JOBD_DAEMON_NET_TLS_H

#include <openssl/ssl.h>

struct config_tls;

/* A new server context for t (cert chain, key, optional client_ca: then
 * a client certificate, if one is sent, must verify against it).
 * address only names the listener in messages. Returns 0, or a negative
 * errno after logging why. The caller SSL_CTX_free()s *out. */
int tls_ctx_new(const struct config_tls *t, const char *address, SSL_CTX **out);

/* The subject of ssl's verified client certificate in RFC 2253 form
 * (malloc'd), or NULL if the client sent none. */
char *tls_peer_subject(SSL *ssl);

/* The last OpenSSL errors of this thread as one line, for a log; the
 * queue is cleared. */
void tls_last_error(char *buf, size_t size);

#endif
