/* SPDX-License-Identifier: MIT */
/*
 * The client handle's insides, shared by the files of libjobd-client only.
 * Nothing here is exported.
 */
#ifndef JOBD_CLIENT_PRIV_H
#define JOBD_CLIENT_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include <jobd/client.h>

#include "client/idmap.h"
#include "client/servers.h"
#include "wire/frame.h"
#include "wire/message.h"

/* Flags of an in-flight id (struct idmap_slot.flags). */
enum {
	ID_CALL = 1u << 0,      /* submitted: answers go to receive() */
	ID_WAIT = 1u << 1,      /* a blocking call/request waits for it */
	ID_ABANDONED = 1u << 2, /* timed out: drop its answers */
};

struct jobd_client_answer {
	struct jobd_client_answer *next; /* queue link */
	enum jobd_client_answer_kind kind;
	uint64_t id;
	json_t *msg;    /* the message as received, owned; NULL if local */
	json_t *output; /* borrowed from msg */
	/* Protocol v2: the frame's data block (owned, free()) and the arrays
	 * in it (owned array of n_arrays; names borrow from msg, data from
	 * data). */
	void *data;
	struct jobd_array *arrays;
	size_t n_arrays;
	int status; /* ERROR: JOBD_CLIENT_E_* */
	enum jobd_error code;
	char *code_name; /* owned, or NULL */
	char *text;      /* owned, or NULL */
	int64_t retry_after_ms;
	double fraction;
};

struct answer_queue {
	struct jobd_client_answer *head, *tail;
	size_t count;
};

struct jobd_client {
	struct server_list servers;
	size_t cur; /* the server in use, or the first to try */
	char *name;
	int io_timeout_ms;
	jobd_client_progress_fn progress_fn;
	void *progress_ud;

	/* Credentials and TLS settings (tls.c). */
	char *token;     /* set by the API; owned, wiped when freed */
	char *ca_file;   /* set by the API, else $JOBD_CA, else the system's */
	char *cert_file; /* mutual TLS: our certificate chain, or NULL */
	char *key_file;  /* and its private key */
	bool plaintext_token; /* send the token unencrypted to non-loopback */
	SSL_CTX *tls_ctx;     /* built from the above on first use; owned */

	/* The connection. */
	int fd;              /* -1 when not connected */
	SSL *ssl;            /* on a tls:// server, over fd; owned */
	bool ssl_want_write; /* SSL_read needs the socket writable first */
	bool ssl_failed;     /* a fatal TLS error: no close_notify */
	char *user;          /* from the server's hello: who we are; owned */
	bool auth_refused;   /* the server refused our token (handshake) */
	struct frame_decoder dec;
	char *server_name;        /* from the server's hello; owned */
	uint32_t max_frame_size;  /* the server's, from hello */
	int version;              /* agreed in hello: 1, or 2 with arrays */
	uint64_t max_array_bytes; /* the server's (v2), from hello */
	bool hello_seen;
	char close_reason[300]; /* the server's error before it closes */

	struct idmap inflight;
	size_t n_calls; /* ID_CALL entries not abandoned */
	uint64_t next_id;
	struct answer_queue queue;

	/* The last failure, for jobd_client_errmsg() and friends. */
	int status;
	enum jobd_error code;
	char code_name[MSG_NAME_MAX_LEN + 1];
	int64_t retry_after_ms;
	char errmsg[2048];
	/* Servers tried during the current operation, "a: why; b: why". */
	char trail[1536];
};

/* ---- answer.c ---- */
struct jobd_client_answer *answer_new(enum jobd_client_answer_kind kind,
                                      uint64_t id);
/* An answer built from a server message; steals msg. NULL on ENOMEM. */
struct jobd_client_answer *answer_from_msg(enum jobd_client_answer_kind kind,
                                           uint64_t id, json_t *steal_msg);
/* Gives a the frame's data block (stolen, freed with the answer even on
 * failure) and a copy of the arrays that point into it. Returns 0 or
 * -ENOMEM. */
int answer_take_arrays(struct jobd_client_answer *a, void *steal_data,
                       const struct jobd_array *arrays, size_t n);
/* A client-side error answer with a copy of text. */
struct jobd_client_answer *answer_local_error(uint64_t id, int status,
                                              const char *text);
void answer_queue_push(struct answer_queue *q, struct jobd_client_answer *a);
struct jobd_client_answer *answer_queue_pop(struct answer_queue *q);
/* Unlinks and returns the first final (non-progress) answer for id. */
struct jobd_client_answer *answer_queue_take(struct answer_queue *q,
                                             uint64_t id);
/* Frees every queued answer for id (progress left after a timeout). */
void answer_queue_drop(struct answer_queue *q, uint64_t id);
void answer_queue_fini(struct answer_queue *q);

/* ---- conn.c ---- */
/* Milliseconds on CLOCK_MONOTONIC. */
int64_t conn_now_ms(void);
/* now + timeout_ms, or -1 (no deadline) for JOBD_CLIENT_FOREVER. */
int64_t conn_deadline(int timeout_ms);
/* Connects if not connected (failover over the list, handshake). Returns
 * JOBD_CLIENT_OK, E_CONNECT or E_TIMEOUT with the errmsg set. */
int conn_ensure(struct jobd_client *c, int64_t deadline);
/* Sends msg as one frame, reading answers meanwhile. Returns OK, or
 * E_TIMEOUT (nothing sent; the connection is intact), E_INVALID (too
 * large), E_SYSTEM, or E_CONNECTION_LOST (the connection was closed). */
int conn_send(struct jobd_client *c, const json_t *msg, int64_t deadline);
/* conn_send with arrays (borrowed, written from where they lie): an array
 * frame when n > 0. Also E_UNSUPPORTED when the server agreed on
 * version 1, E_INVALID when the arrays break a rule or pass the server's
 * max_array_bytes; nothing is sent then. */
int conn_send_arrays(struct jobd_client *c, const json_t *msg,
                     const struct jobd_array *arrays, size_t n,
                     int64_t deadline);
/* Waits until the fd is readable or the deadline passes, then reads
 * everything available. Returns OK (something may have been read),
 * E_TIMEOUT, or E_CONNECTION_LOST (the connection was closed and its calls
 * were turned into error answers). */
int conn_pump(struct jobd_client *c, int64_t deadline);
/* Closes the connection: every id in flight gets an error answer with
 * status and "server: reason"; the next connect starts at the next
 * server when anything was in flight. */
void conn_lost(struct jobd_client *c, int status, const char *reason);
/* Closes the connection quietly (nothing may be in flight). */
void conn_close(struct jobd_client *c);

/* ---- tls.c ---- */
/* (Re)builds c->tls_ctx from the settings (env JOBD_CA if no CA file was
 * set). Returns 0, or -1 with why filled. */
int tls_ctx_build(struct jobd_client *c, char *why, size_t why_size);
/* Frees c->tls_ctx. */
void tls_ctx_free(struct jobd_client *c);
/* The TLS handshake with server s over c->fd (connected, non-blocking),
 * verifying s's name or address. Returns 0 (c->ssl set) or -1 with why
 * filled (what failed, why, and how to fix it). */
int tls_connect(struct jobd_client *c, const struct server *s, int64_t deadline,
                char *why, size_t why_size);
/* Like recv/send on c->fd, through TLS when c->ssl: > 0 bytes, 0 at the
 * end of the stream (recv), -1 with errno (EAGAIN: wait; EPROTO: a TLS
 * failure, text in why). */
ssize_t tls_recv(struct jobd_client *c, void *buf, size_t n, char *why,
                 size_t why_size);
ssize_t tls_send(struct jobd_client *c, const void *buf, size_t n, char *why,
                 size_t why_size);
/* Sends close_notify if it can without waiting, and frees c->ssl. */
void tls_close(struct jobd_client *c);
/* The token to send: the API's, else $JOBD_TOKEN, else the contents of
 * $JOBD_TOKEN_FILE. *out is malloc'd (wipe and free it) or NULL for none.
 * Returns 0 or -1 with why filled (a bad token file). */
int client_token(struct jobd_client *c, char **out, char *why, size_t why_size);
/* Reads a token file: first line, owned by us or root, no access for
 * group or others. Returns 0 and a malloc'd token, or -1 with why. */
int client_read_token_file(const char *path, char **out, char *why,
                           size_t why_size);

/* ---- client.c ---- */
/* Records a failure (printf-style) and returns status. */
int client_fail(struct jobd_client *c, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Appends "server: reason" to the trail of servers tried. */
void client_trail_add(struct jobd_client *c, const char *server,
                      const char *reason);

#endif
