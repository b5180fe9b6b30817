/* SPDX-License-Identifier: MIT */
#include "daemon/net/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/subject.h"
#include "auth/trusted.h"
#include "daemon/config/config.h"
#include "daemon/util/log.h"

/* A PEM file is small; anything past this is not one. */
#define TLS_FILE_MAX (1u << 20)

void tls_last_error(char *buf, size_t size)
{
	unsigned long e;
	size_t used = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) && used + 1 < size) {
		if (used)
			buf[used++] = ';', buf[used] = '\0';
		ERR_error_string_n(e, buf + used, size - used);
		used = strlen(buf);
	}
	if (!buf[0])
		snprintf(buf, size, "no detail from OpenSSL");
}

/* Reads path through the trusted-file check into a memory BIO. */
static BIO *read_pem(const char *path, unsigned flags, const char *address,
                     const char *what)
{
	char *text = NULL, *error = NULL;
	size_t len;
	BIO *bio;
	int rc;

	rc = trusted_read(path, flags, TLS_FILE_MAX, &text, &len, &error);
	if (rc < 0) {
		log_error("listen %s: tls.%s: %s", address, what,
		          error ? error : strerror(-rc));
		free(error);
		return NULL;
	}
	/* A BIO that owns a copy: the text is wiped at once. */
	bio = BIO_new((flags & TRUSTED_SECRET) ? BIO_s_secmem() : BIO_s_mem());
	if (bio && BIO_write(bio, text, (int)len) != (int)len) {
		BIO_free(bio);
		bio = NULL;
	}
	OPENSSL_cleanse(text, len);
	free(text);
	return bio;
}

static int load_chain(SSL_CTX *ctx, const struct config_tls *t,
                      const char *address)
{
	BIO *bio = read_pem(t->cert, 0, address, "cert");
	X509 *x;
	int n = 0, rc = 0;

	if (!bio)
		return -EINVAL;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (n++ == 0)
			rc = SSL_CTX_use_certificate(ctx, x) == 1 ? 0 : -EINVAL;
		else
			rc = SSL_CTX_add0_chain_cert(ctx, x) == 1 ? 0 : -EINVAL;
		if (n == 1 || rc < 0)
			X509_free(x);
		if (rc < 0)
			break;
	}
	ERR_clear_error(); /* the loop ends on "no start line" */
	BIO_free(bio);
	if (!n) {
		log_error("listen %s: tls.cert: %s holds no PEM certificate",
		          address, t->cert);
		return -EINVAL;
	}
	return rc;
}

static int load_key(SSL_CTX *ctx, const struct config_tls *t,
                    const char *address)
{
	BIO *bio = read_pem(t->key, TRUSTED_SECRET, address, "key");
	EVP_PKEY *k;
	char err[256];
	int rc = 0;

	if (!bio)
		return -EINVAL;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!k) {
		log_error("listen %s: tls.key: %s holds no PEM private key "
		          "(or one with a pass phrase, which jobd cannot ask "
		          "for)",
		          address, t->key);
		ERR_clear_error();
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_last_error(err, sizeof(err));
		log_error("listen %s: tls.key: %s does not match the "
		          "certificate %s: %s",
		          address, t->key, t->cert, err);
		rc = -EINVAL;
	}
	EVP_PKEY_free(k);
	return rc;
}

static int load_client_ca(SSL_CTX *ctx, const struct config_tls *t,
                          const char *address)
{
	BIO *bio = read_pem(t->client_ca, 0, address, "client_ca");
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	X509 *x;
	int n = 0;

	if (!bio || !names) {
		BIO_free(bio);
		sk_X509_NAME_free(names);
		return -EINVAL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		X509_STORE_add_cert(store, x);
		sk_X509_NAME_push(names,
		                  X509_NAME_dup(X509_get_subject_name(x)));
		X509_free(x);
		n++;
	}
	ERR_clear_error();
	BIO_free(bio);
	if (!n) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		log_error("listen %s: tls.client_ca: %s holds no PEM "
		          "certificate",
		          address, t->client_ca);
		return -EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	/* A client certificate is asked for, and one that does not verify
	 * ends the handshake; a client that sends none goes on and may
	 * still authenticate with a token (docs/protocol.md §12). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

int tls_ctx_new(const struct config_tls *t, const char *address, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int rc;

	*out = NULL;
	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* bufferevent_openssl may hand a write its buffer again at another
	 * address after SSL_ERROR_WANT_WRITE. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                              SSL_MODE_ENABLE_PARTIAL_WRITE);
	rc = load_chain(ctx, t, address);
	if (rc == 0)
		rc = load_key(ctx, t, address);
	if (rc == 0 && t->client_ca)
		rc = load_client_ca(ctx, t, address);
	if (rc < 0) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

char *tls_peer_subject(SSL *ssl)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	char *subject = NULL;

	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	if (subject_rfc2253(cert, &subject) < 0)
		return NULL;
	return subject;
}
