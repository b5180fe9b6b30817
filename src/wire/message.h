/* SPDX-License-Identifier: MIT */
/*
 * Message codec for protocol version 1 (docs/protocol.md): parses and
 * validates a frame body into a typed struct msg, and builds every message
 * kind as a jansson object. Pure code, no I/O.
 *
 * Rules: the body must be valid UTF-8 JSON (JSON_ALLOW_NUL) whose top level is
 * an object with a string `type` known for the direction it travels; each
 * required field must be present with the right JSON type; unknown extra
 * fields are ignored. Ids are JSON integers in [0, 2^53 - 1] so that every
 * JSON implementation can carry them exactly.
 */
#ifndef JOBD_WIRE_MESSAGE_H
#define JOBD_WIRE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/array.h>
#include <jobd/error.h>

/* The version this build's server speaks (its hello answers at most
 * this), and the one that carries binary arrays (§12), which the client
 * asks for. */
#define PROTOCOL_VERSION        1
#define PROTOCOL_VERSION_ARRAYS 2
#define MSG_ID_MAX              ((int64_t)9007199254740991) /* 2^53 - 1 */
#define MSG_JOB_ID_MAX_LEN      64
#define MSG_NAME_MAX_LEN        64
#define MSG_TOKEN_MAX_LEN       256 /* hello's token, bytes */
/* Until a connection has authenticated, frames past this are refused
 * (docs/protocol.md §13): an unknown peer cannot make the server buffer
 * max_frame_size bytes. */
#define PROTOCOL_PREAUTH_MAX_FRAME (64u * 1024)

/* Which side sent the message: the same `type` may mean different things. */
enum msg_from {
	MSG_FROM_CLIENT,
	MSG_FROM_SERVER,
};

enum msg_type {
	MSG_UNKNOWN = 0,
	/* client -> server */
	MSG_HELLO,  /* both directions */
	MSG_CALL,   /* id, plugin, input, [timeout_ms], [detach] */
	MSG_CANCEL, /* id (of the call) or job */
	MSG_DETACH, /* id: turn an in-flight call into a detached job */
	MSG_STATUS, /* [id], job; server: id, job, state, ... */
	MSG_ATTACH, /* [id], job */
	MSG_RESULT, /* client: [id], job; server: id, output */
	MSG_JOBS,   /* [id], [state], [plugin]; server: id, jobs */
	MSG_PING,   /* [id] */
	MSG_STATS,  /* [id]; server: id, stats... */
	/* server -> client only */
	MSG_ACCEPTED, /* id, job */
	MSG_PROGRESS, /* id, fraction, [message] */
	MSG_PONG,     /* [id] */
	MSG_ERROR,    /* [id], code, message */
	MSG_TYPE_COUNT_
};

/*
 * A parsed message. Every pointer field borrows from root, which the struct
 * owns: msg_fini() releases it. Fields not used by the type are zero/NULL.
 */
struct msg {
	enum msg_type type;
	json_t *root;
	size_t size; /* bytes of the frame body it was parsed from */
	/* That body, borrowed from msg_parse's caller: valid only as long
	 * as the caller keeps it (in the daemon, while the message is
	 * dispatched). NULL after msg_validate. */
	const char *body;

	bool has_id;
	int64_t id;

	/* hello */
	int64_t version;
	const char *name;  /* client or server name, may be NULL */
	const char *token; /* client hello: the access token, or NULL; a
	                      secret: never log it */
	size_t token_len;

	/* call */
	const char *plugin;
	json_t *input;
	int64_t timeout_ms; /* 0 = none given */
	bool detach;

	/* cancel / status / attach / result (client) / accepted */
	const char *job;

	/* jobs (client): filters, may be NULL */
	const char *state;

	/* server messages */
	json_t *output;        /* result */
	enum jobd_error code;  /* error */
	const char *code_name; /* error: the code string as sent */
	const char *message;   /* error, progress */
	double fraction;       /* progress */
};

/* Why a body was refused, with what is needed to answer it. */
struct msg_error {
	enum jobd_error code; /* BAD_JSON, BAD_REQUEST, UNKNOWN_TYPE, or
	                       * UNSUPPORTED_VERSION (hello, version < 1) */
	bool has_id;          /* the id could be read, so the answer has it */
	int64_t id;
	char text[200]; /* human-readable, names the field */
};

/* Parses body[0..len) sent by `from`. Returns 0 and fills *out (call
 * msg_fini() on it), or -1 and fills *err; *out is then empty. */
int msg_parse(const char *body, size_t len, enum msg_from from, struct msg *out,
              struct msg_error *err);

/* Validates an already decoded object (steals no reference; on success *out
 * holds a new reference to root). */
int msg_validate(json_t *root, enum msg_from from, struct msg *out,
                 struct msg_error *err);

void msg_fini(struct msg *m);

/*
 * Parses the `arrays` member of a parsed message against the data block
 * of its frame (data, data_len: NULL and 0 for a version 1 frame) into
 * out[0..*n) (room for JOBD_ARRAYS_MAX), pointing into data (array.h).
 * Returns 0, or -1 with *err filled (BAD_REQUEST, carrying the message's
 * id when it has one).
 */
int msg_arrays(const struct msg *m, const void *data, uint64_t data_len,
               struct jobd_array *out, size_t *n, struct msg_error *err);

/*
 * Where the value of top-level member key lies in a JSON object's text
 * body[0..len) that has been parsed as valid: *off and *n (the value's
 * text from its first to its last byte). The last of duplicate keys wins,
 * as in the parsed object. Returns 0, or -1 when the key is not found as
 * written plainly (a key spelt with escapes is not recognised).
 */
int msg_member_span(const char *body, size_t len, const char *key, size_t *off,
                    size_t *n);

/* The wire name of a type ("call", "result", ...), NULL for MSG_UNKNOWN. */
const char *msg_type_name(enum msg_type t);

/* Wire name <-> code: "bad_request" <-> JOBD_E_BAD_REQUEST. The name of an
 * unknown number is "internal"; an unknown name maps to JOBD_E_INTERNAL. */
const char *msg_error_name(enum jobd_error code);
enum jobd_error msg_error_from_name(const char *name);

/*
 * Builders. Each returns a new object (NULL only on allocation failure).
 * Arguments named `steal_*` are references the builder takes over, even on
 * failure; other pointers are copied. has_id/id: the message's id, omitted
 * when has_id is false.
 */
json_t *msg_hello(const char *name); /* client hello: "client": name */
/* Client hello with "token" (a secret: the caller wipes what it
 * encodes); token NULL leaves it out. */
json_t *msg_hello_token(const char *name, const char *token);
/* Client hello asking for a given protocol version. */
json_t *msg_hello_version(const char *name, int64_t version);
/* Server hello: "server": name, and the frame limit the client must keep. */
json_t *msg_hello_server(const char *name, uint32_t max_frame_size);
json_t *msg_call(int64_t id, const char *plugin, json_t *steal_input,
                 int64_t timeout_ms, bool detach); /* timeout_ms 0: none */
json_t *msg_cancel(bool has_id, int64_t id, const char *job);
json_t *msg_detach(int64_t id);
json_t *msg_job_request(enum msg_type type, bool has_id, int64_t id,
                        const char *job); /* status / attach / result */
json_t *msg_jobs(bool has_id, int64_t id, const char *state,
                 const char *plugin);
json_t *msg_ping(bool has_id, int64_t id);
json_t *msg_stats(bool has_id, int64_t id);

json_t *msg_result(int64_t id, json_t *steal_output);
json_t *msg_accepted(int64_t id, const char *job);
json_t *msg_progress(int64_t id, double fraction, const char *message);
json_t *msg_pong(bool has_id, int64_t id);
json_t *msg_error(bool has_id, int64_t id, enum jobd_error code,
                  const char *message);

#endif
