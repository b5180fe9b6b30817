/* SPDX-License-Identifier: MIT */
/*
 * libjobd-client: talk to jobd (docs/protocol.md) from C or C++.
 *
 * Two ways to use it, on the same handle:
 *
 *  - Call and response: jobd_client_call() sends one call and blocks until
 *    its output arrives, an error comes back, or the timeout passes.
 *  - Any order: jobd_client_submit() sends a call and returns its id at
 *    once; jobd_client_receive() returns the next finished answer, whichever
 *    call finishes first, tagged with its id. jobd_client_fd() gives the
 *    socket so that a program can wait in its own poll/epoll loop.
 *
 * Servers: a list "host:port,host:port" (IPv6 literals in brackets:
 * "[::1]:7878"); an entry "tls://host:port" is reached over TLS (1.2 or
 * newer; default port 7879): the server's certificate must chain to the
 * CA file (jobd_client_set_ca_file(), else $JOBD_CA, else the system's
 * store) and be issued for that host name or address. The client connects
 * to the first that answers, in order.
 * When a connect or the handshake fails it tries the next; when a working
 * connection is lost it moves on to the next server. Every failure message
 * names each server tried and why it failed.
 *
 * Why plain blocking-style sockets and poll(2), not an event loop: the
 * client owns one connection, and what a caller waits for is always "my
 * answer, or the next answer, or a timeout": one poll() on one fd says all
 * of that. An event loop (libevent) would force its dependency and its
 * loop ownership onto every program that links us, and make it awkward to
 * fit into the caller's own loop. So the socket is non-blocking, every
 * function that waits does so in poll() with a deadline, and the fd is
 * exposed for callers who have their own loop. While a function waits to
 * write it also reads, so a full pipe in one direction never deadlocks the
 * other (the server stops reading when too many calls are in flight and
 * only resumes when we take answers).
 *
 * Framing and message parsing are jobd's own wire library, linked in; the
 * same code the daemon uses. TLS is OpenSSL's libssl, driven over the
 * same non-blocking socket and the same poll() loops.
 *
 * Credentials (docs/security.md): the hello carries an access token when
 * there is one: the one set with jobd_client_set_token() or
 * jobd_client_set_token_file(), else $JOBD_TOKEN, else the first line of
 * the file named by $JOBD_TOKEN_FILE (read at each connect). The token is
 * sent only over TLS or to a loopback address, unless
 * jobd_client_set_plaintext_token() allows more. A tls:// server that asks
 * for a client certificate gets the one set with
 * jobd_client_set_client_cert().
 *
 * Thread safety: a handle is used by one thread at a time. Use one handle
 * per thread (they share nothing), or hold your own lock around every call
 * on a shared handle. The progress callback runs in the thread that is
 * inside a jobd_client_* function and must not call back into the same
 * handle. There is no global state; SIGPIPE is never raised (MSG_NOSIGNAL).
 *
 * Errors: functions that can fail return an int: JOBD_CLIENT_OK (0) or a
 * positive enum jobd_client_status. The details of the last failure on a
 * handle (a readable message, the server's error code, the busy hint)
 * are read with jobd_client_errmsg() and friends until the next call on
 * that handle. Answers taken with jobd_client_receive() carry their own
 * status and message.
 *
 * Binary arrays (protocol version 2, docs/protocol.md §12): the *_arrays
 * functions send named arrays of raw little-endian numbers beside a
 * call's JSON, and answers carry the arrays a result came with. The
 * client asks every server for version 2 in its hello; a server that
 * answers 1 (older jobd) serves everything else as before, and a call
 * with arrays is then refused locally with JOBD_CLIENT_E_UNSUPPORTED.
 * Neither direction copies array bytes in user space more than once:
 * sent arrays are written from the caller's memory, received ones point
 * into the answer's own buffer.
 *
 * JSON values are jansson's json_t (pkg-config jobd-client requires
 * jansson). Ownership is stated on every function: "borrowed" means the
 * caller keeps its reference, "new reference" means the caller must
 * json_decref() it.
 */
#ifndef JOBD_CLIENT_H
#define JOBD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/array.h>
#include <jobd/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef JOBD_EXPORT
#if defined(__GNUC__)
#define JOBD_EXPORT __attribute__((visibility("default")))
#else
#define JOBD_EXPORT
#endif
#endif

/* Used when no server list is set. */
#define JOBD_CLIENT_DEFAULT_SERVER "127.0.0.1:7878"

/* Timeouts are in milliseconds; this one means "wait without limit". */
#define JOBD_CLIENT_FOREVER (-1)

/* What went wrong, from the client's point of view. */
enum jobd_client_status {
	JOBD_CLIENT_OK = 0,
	/* The server answered with an error message: jobd_client_error_code()
	 * and jobd_client_errmsg() hold its code and text. */
	JOBD_CLIENT_E_SERVER = 1,
	/* No server in the list could be reached (connect or handshake). */
	JOBD_CLIENT_E_CONNECT = 2,
	/* The caller's timeout passed before the answer arrived. */
	JOBD_CLIENT_E_TIMEOUT = 3,
	/* The connection broke while the answer was awaited. */
	JOBD_CLIENT_E_CONNECTION_LOST = 4,
	/* The server sent something that is not protocol v1. */
	JOBD_CLIENT_E_PROTOCOL = 5,
	/* A bad argument: malformed server list, unknown id, NULL input. */
	JOBD_CLIENT_E_INVALID = 6,
	/* Out of memory or another local system failure (see errmsg). */
	JOBD_CLIENT_E_SYSTEM = 7,
	/* jobd_client_receive(): nothing in flight, so nothing will come. */
	JOBD_CLIENT_E_IDLE = 8,
	/* The server refused our credentials (code `unauthorized`: no token,
	 * or a wrong one); errmsg names the servers. A new token, not a
	 * retry, is what helps. */
	JOBD_CLIENT_E_AUTH = 9,
	/* Arrays were given but the server agreed on protocol version 1
	 * only; nothing was sent. */
	JOBD_CLIENT_E_UNSUPPORTED = 10,
};

/* The connection and everything it tracks. Opaque. */
struct jobd_client;

/* One answer from jobd_client_receive(). Opaque; see the accessors. */
struct jobd_client_answer;

enum jobd_client_answer_kind {
	JOBD_CLIENT_ANSWER_RESULT = 1,   /* the call's output */
	JOBD_CLIENT_ANSWER_ERROR = 2,    /* the call failed (final) */
	JOBD_CLIENT_ANSWER_PROGRESS = 3, /* a progress report (not final) */
};

/*
 * Progress callback: called for each progress message of a call made on
 * this handle, from inside whichever jobd_client_* function read it.
 * message is borrowed for the duration of the callback and may be NULL.
 */
typedef void (*jobd_client_progress_fn)(void *userdata, uint64_t id,
                                        double fraction, const char *message);

/* ---- Lifecycle and settings ------------------------------------------ */

/* A new handle, not connected, with the default server list. Returns NULL
 * if out of memory. Free with jobd_client_free(). */
JOBD_EXPORT struct jobd_client *jobd_client_new(void);

/* Closes the connection and frees the handle, its queued answers and its
 * settings. Answers already handed out stay valid (free them separately).
 * Accepts NULL. */
JOBD_EXPORT void jobd_client_free(struct jobd_client *c);

/*
 * Sets the servers to use, "host:port[,host:port...]"; a host is a name,
 * an IPv4 address or a bracketed IPv6 address. The string is copied.
 * Closes a current connection. Returns JOBD_CLIENT_OK or
 * JOBD_CLIENT_E_INVALID (errmsg says which entry and why).
 */
JOBD_EXPORT int jobd_client_set_servers(struct jobd_client *c,
                                        const char *servers);

/* The name sent in the hello ("client" member); copied. Default
 * "libjobd-client". Takes effect on the next connect. */
JOBD_EXPORT int jobd_client_set_name(struct jobd_client *c, const char *name);

/*
 * How long one connect plus handshake, and writing one request, may take
 * before that server counts as failed (default 5000 ms). ms >= 1.
 */
JOBD_EXPORT int jobd_client_set_io_timeout(struct jobd_client *c, int ms);

/*
 * Routes progress messages to fn (userdata is passed back, not owned).
 * With fn NULL (the default), jobd_client_receive() returns them as
 * JOBD_CLIENT_ANSWER_PROGRESS answers and jobd_client_call() drops them.
 */
JOBD_EXPORT void jobd_client_set_progress(struct jobd_client *c,
                                          jobd_client_progress_fn fn,
                                          void *userdata);

/*
 * Connects now (otherwise the first request connects), trying the list in
 * order from the current server, and does the hello handshake. A no-op
 * when connected. timeout_ms bounds the whole attempt (JOBD_CLIENT_FOREVER:
 * only the io timeout per server). Returns JOBD_CLIENT_OK,
 * JOBD_CLIENT_E_CONNECT or JOBD_CLIENT_E_TIMEOUT.
 */
JOBD_EXPORT int jobd_client_connect(struct jobd_client *c, int timeout_ms);

/* ---- Credentials and TLS (version 0.2) ------------------------------ */

/*
 * The access token to send in the hello (copied; the client keeps it in
 * memory it wipes when replaced or freed). NULL clears it (then the
 * environment is used, see above). Takes effect on the next connect.
 * Returns JOBD_CLIENT_OK or JOBD_CLIENT_E_INVALID (empty, longer than 256
 * bytes, or not printable ASCII).
 */
JOBD_EXPORT int jobd_client_set_token(struct jobd_client *c, const char *token);

/*
 * Reads the token now from the first line of path. The file must be a
 * regular file owned by the caller (or root) with no access for group or
 * others (chmod 600), as ssh asks of a private key. Returns
 * JOBD_CLIENT_OK or JOBD_CLIENT_E_INVALID (errmsg says what to fix).
 */
JOBD_EXPORT int jobd_client_set_token_file(struct jobd_client *c,
                                           const char *path);

/*
 * The CA certificates (PEM) that tls:// servers must chain to, instead of
 * $JOBD_CA or the system's store. Loaded now: returns JOBD_CLIENT_OK or
 * JOBD_CLIENT_E_INVALID (unreadable, no certificate in it). NULL goes
 * back to the default. Takes effect on the next connect.
 */
JOBD_EXPORT int jobd_client_set_ca_file(struct jobd_client *c,
                                        const char *path);

/*
 * Mutual TLS: the certificate (PEM, may hold the chain) and private key
 * (PEM) shown to tls:// servers that ask for one. Loaded now; returns
 * JOBD_CLIENT_OK or JOBD_CLIENT_E_INVALID (unreadable, or the key does not
 * match). Both NULL: none.
 */
JOBD_EXPORT int jobd_client_set_client_cert(struct jobd_client *c,
                                            const char *cert_file,
                                            const char *key_file);

/*
 * allow != 0: send the token over plain TCP to any address (a network
 * that is already encrypted, such as a VPN). Default 0: only to loopback
 * addresses; to others the connect fails with a message saying so.
 */
JOBD_EXPORT void jobd_client_set_plaintext_token(struct jobd_client *c,
                                                 int allow);

/* The user name the server's hello says we are, or NULL (not connected,
 * no users on that server, or not yet authenticated). Borrowed, valid
 * until the connection changes. */
JOBD_EXPORT const char *jobd_client_user(const struct jobd_client *c);

/* "host:port" of the server connected to, or NULL when not connected.
 * Borrowed: valid until the connection changes. */
JOBD_EXPORT const char *jobd_client_server(const struct jobd_client *c);

/* The server's name from its hello ("jobd 0.1.0"), or NULL. Borrowed,
 * valid until the connection changes. */
JOBD_EXPORT const char *jobd_client_server_name(const struct jobd_client *c);

/* ---- Errors of the last failed call on this handle ------------------- */

/* A one-line readable message; "" after success. Borrowed: valid until
 * the next jobd_client_* call on the handle. */
JOBD_EXPORT const char *jobd_client_errmsg(const struct jobd_client *c);

/* After JOBD_CLIENT_E_SERVER: the protocol code (an unknown code string is
 * JOBD_E_INTERNAL); after JOBD_CLIENT_E_AUTH: JOBD_E_UNAUTHORIZED;
 * otherwise JOBD_OK. */
JOBD_EXPORT enum jobd_error jobd_client_error_code(const struct jobd_client *c);

/* After JOBD_CLIENT_E_SERVER or _E_AUTH: the code as sent ("busy",
 * "unauthorized"); else NULL.
 * Borrowed like errmsg. */
JOBD_EXPORT const char *jobd_client_error_name(const struct jobd_client *c);

/* After a `busy` error: the server's retry_after_ms hint (>= 0); else -1. */
JOBD_EXPORT int64_t jobd_client_retry_after_ms(const struct jobd_client *c);

/* A static English name for a status ("timeout", "connect failed"). */
JOBD_EXPORT const char *jobd_client_status_str(int status);

/* ---- Call and response ----------------------------------------------- */

/*
 * Runs plugin on input and waits for the answer. input is borrowed (it is
 * copied into the request). timeout_ms (>= 1 or JOBD_CLIENT_FOREVER) bounds
 * the whole call, connects included; it is also sent to the server as the
 * call's timeout_ms so that the job stops there too. On JOBD_CLIENT_OK,
 * *output is a new reference to the output. If the connection is lost
 * before the answer, the call is sent again to the next server in the
 * list (each server at most once per call): jobs are computations, so
 * running one twice is safe, if wasteful. On a timeout the client sends
 * `cancel` and forgets the call. Returns JOBD_CLIENT_OK or a status.
 */
JOBD_EXPORT int jobd_client_call(struct jobd_client *c, const char *plugin,
                                 const json_t *input, int timeout_ms,
                                 json_t **output);

/*
 * Sends any request that has one answer with the same id (ping, stats,
 * and later status/result/jobs): type is the message type, fields
 * (borrowed, may be NULL) are the members besides "type" and "id". On
 * JOBD_CLIENT_OK, *reply is a new reference to the whole answer message.
 * An `error` answer returns JOBD_CLIENT_E_SERVER (and *reply is NULL).
 * Not retried on another server.
 */
JOBD_EXPORT int jobd_client_request(struct jobd_client *c, const char *type,
                                    const json_t *fields, int timeout_ms,
                                    json_t **reply);

/* ping -> pong. Returns JOBD_CLIENT_OK or a status. */
JOBD_EXPORT int jobd_client_ping(struct jobd_client *c, int timeout_ms);

/* stats -> *stats, a new reference to the stats message (docs/protocol.md
 * §8: uptime_ms, connections, plugins). */
JOBD_EXPORT int jobd_client_stats(struct jobd_client *c, int timeout_ms,
                                  json_t **stats);

/* ---- Any order ------------------------------------------------------- */

/*
 * Sends a call and returns at once with its id in *id (ids are chosen by
 * the client, unique among calls in flight on the handle). input is
 * borrowed. timeout_ms (>= 1, or 0 for none) is the server-side deadline
 * sent with the call. Blocks only while the request is being written
 * (bounded by the io timeout); answers that arrive meanwhile are queued.
 * Connects first if needed. Returns JOBD_CLIENT_OK or a status.
 */
JOBD_EXPORT int jobd_client_submit(struct jobd_client *c, const char *plugin,
                                   const json_t *input, int timeout_ms,
                                   uint64_t *id);

/*
 * Takes the next answer of a submitted call, in the order they finished.
 * Waits up to timeout_ms (0: do not wait; JOBD_CLIENT_FOREVER). On
 * JOBD_CLIENT_OK *answer is a new answer owned by the caller (free it with
 * jobd_client_answer_free()). Returns JOBD_CLIENT_E_TIMEOUT if none came in
 * time, JOBD_CLIENT_E_IDLE at once if no call is in flight and none is
 * queued. If the connection is lost, every call that was in flight comes
 * out as an ERROR answer with status JOBD_CLIENT_E_CONNECTION_LOST; the
 * next submit connects to the next server.
 */
JOBD_EXPORT int jobd_client_receive(struct jobd_client *c, int timeout_ms,
                                    struct jobd_client_answer **answer);

/*
 * Asks the server to cancel call id. The call still ends with one answer:
 * its result if it finished first, else an error `cancelled`. Returns
 * JOBD_CLIENT_E_INVALID if id is not in flight.
 */
JOBD_EXPORT int jobd_client_cancel(struct jobd_client *c, uint64_t id);

/*
 * Asks the server to turn call id into a detached job (docs/protocol.md
 * §9). The call then ends with a RESULT answer whose message is
 * {"type":"accepted","job":JOB} (jobd_client_answer_message()), or with
 * its own result or error if it finished first. The job outlives the
 * connection; follow it with jobd_client_request() ("status", "attach",
 * "result"). Returns JOBD_CLIENT_E_INVALID if id is not in flight.
 */
JOBD_EXPORT int jobd_client_detach(struct jobd_client *c, uint64_t id);

/* Calls submitted and not yet answered, plus answers queued but not yet
 * received. */
JOBD_EXPORT size_t jobd_client_inflight(const struct jobd_client *c);
JOBD_EXPORT size_t jobd_client_queued(const struct jobd_client *c);

/*
 * The socket, for poll/epoll (wait for POLLIN / EPOLLIN), or -1 when not
 * connected. It may change whenever a jobd_client_* function runs (a
 * reconnect), so read it again after each. The client may already hold
 * answers that it read while doing something else: before waiting on the
 * fd, take answers until jobd_client_queued() is 0; when the fd is
 * readable, call jobd_client_receive() with timeout 0. Do not read from or
 * write to the fd yourself.
 */
JOBD_EXPORT int jobd_client_fd(const struct jobd_client *c);

/* ---- Binary arrays (protocol version 2) -------------------------------- */

/*
 * The protocol version agreed with the server in the last hello: 2 when
 * arrays can be sent and received, 1 for an older server, 0 when not
 * connected. jobd_client_connect() first to learn it before sending.
 */
JOBD_EXPORT int jobd_client_protocol_version(const struct jobd_client *c);

/*
 * jobd_client_call with arrays: runs plugin on input (borrowed JSON; use
 * an empty object when everything is in arrays) and arrays[0..n)
 * (borrowed: names and bytes are read while the request is written, and
 * again if it is sent to the next server after a lost connection; they
 * must stay unchanged until this returns). On JOBD_CLIENT_OK, *answer is
 * the RESULT answer, owned by the caller (jobd_client_answer_free()):
 * jobd_client_answer_output() for the JSON, jobd_client_answer_array*()
 * for the arrays. Returns as jobd_client_call, and also
 * JOBD_CLIENT_E_UNSUPPORTED (the server speaks version 1; nothing sent)
 * or JOBD_CLIENT_E_INVALID (an array breaks a rule of §12.2, or the
 * arrays pass the server's max_array_bytes; errmsg says which). With
 * n == 0 it is jobd_client_call returning the whole answer.
 */
JOBD_EXPORT int jobd_client_call_arrays(struct jobd_client *c,
                                        const char *plugin, const json_t *input,
                                        const struct jobd_array *arrays,
                                        size_t n, int timeout_ms,
                                        struct jobd_client_answer **answer);

/* jobd_client_submit with arrays (borrowed until it returns: they are
 * written before it does). Errors as jobd_client_call_arrays. */
JOBD_EXPORT int
jobd_client_submit_arrays(struct jobd_client *c, const char *plugin,
                          const json_t *input, const struct jobd_array *arrays,
                          size_t n, int timeout_ms, uint64_t *id);

/*
 * jobd_client_request that returns the whole answer, arrays included,
 * and may send arrays: for a detached call ("call" with "detach": true
 * in fields) and for "result" and "attach", whose result may carry the
 * job's output arrays. On JOBD_CLIENT_OK *answer is a RESULT answer
 * (owned by the caller) whose message is the reply. arrays may be NULL
 * when n is 0. Errors as jobd_client_request and
 * jobd_client_call_arrays.
 */
JOBD_EXPORT int jobd_client_request_arrays(struct jobd_client *c,
                                           const char *type,
                                           const json_t *fields,
                                           const struct jobd_array *arrays,
                                           size_t n, int timeout_ms,
                                           struct jobd_client_answer **answer);

/* ---- Answers ---------------------------------------------------------- */

/*
 * Every accessor below borrows from the answer: pointers it returns stay
 * valid until jobd_client_answer_free(a). Answers belong to the caller,
 * not to the handle, and outlive it.
 */

/* Frees the answer and all it holds. Accepts NULL. */
JOBD_EXPORT void jobd_client_answer_free(struct jobd_client_answer *a);
/* RESULT and ERROR are final (the id is free again); PROGRESS is not. */
JOBD_EXPORT enum jobd_client_answer_kind
jobd_client_answer_kind(const struct jobd_client_answer *a);
/* The id that jobd_client_submit() returned for this call. */
JOBD_EXPORT uint64_t jobd_client_answer_id(const struct jobd_client_answer *a);
/* RESULT: the output, borrowed from the answer (json_incref() to keep it
 * longer). NULL for other kinds. */
JOBD_EXPORT json_t *
jobd_client_answer_output(const struct jobd_client_answer *a);
/* The whole message as received (RESULT, ERROR from the server, PROGRESS),
 * borrowed; NULL for client-side errors. For extra members. */
JOBD_EXPORT json_t *
jobd_client_answer_message(const struct jobd_client_answer *a);
/* ERROR: JOBD_CLIENT_E_SERVER or a client-side status; else JOBD_CLIENT_OK. */
JOBD_EXPORT int jobd_client_answer_status(const struct jobd_client_answer *a);
/* ERROR from the server: its code; JOBD_OK otherwise. */
JOBD_EXPORT enum jobd_error
jobd_client_answer_error_code(const struct jobd_client_answer *a);
/* ERROR: the message text; PROGRESS: its message or NULL. Borrowed. */
JOBD_EXPORT const char *
jobd_client_answer_text(const struct jobd_client_answer *a);
/* ERROR `busy`: retry_after_ms; -1 otherwise. */
JOBD_EXPORT int64_t
jobd_client_answer_retry_after_ms(const struct jobd_client_answer *a);
/* PROGRESS: the fraction in [0, 1]; -1 for other kinds. */
JOBD_EXPORT double
jobd_client_answer_fraction(const struct jobd_client_answer *a);
/* RESULT and PROGRESS (version 2): how many arrays came with it. */
JOBD_EXPORT size_t
jobd_client_answer_array_count(const struct jobd_client_answer *a);
/*
 * Array i (0 <= i < count), or NULL. The struct, its name and its data
 * are borrowed from the answer, valid until jobd_client_answer_free(a):
 * the bytes were received straight into the answer's buffer and are not
 * copied again. data is 64-byte aligned.
 */
JOBD_EXPORT const struct jobd_array *
jobd_client_answer_array(const struct jobd_client_answer *a, size_t i);
/* The array called name, or NULL; borrowed like jobd_client_answer_array. */
JOBD_EXPORT const struct jobd_array *
jobd_client_answer_array_by_name(const struct jobd_client_answer *a,
                                 const char *name);

#ifdef __cplusplus
}
#endif

#endif
