/* SPDX-License-Identifier: MIT */
/*
 * A session: whatever a call's answer goes back to. The protocol layer
 * answers through it and never learns what carries it: a TCP connection
 * today; a TLS or Unix-socket connection or an HTTP request later (as h2o's
 * handlers answer through an h2o_ostream_t the protocol installed). A
 * transport embeds struct session in its own object and sets ops.
 *
 * Across asynchronous completions a session is named by (slot, gen) in the
 * session table, never by pointer: session_lookup answers "is it still
 * there?". Loop thread only.
 */
#ifndef JOBD_DAEMON_NET_SESSION_H
#define JOBD_DAEMON_NET_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <jansson.h>

#include <jobd/error.h>
#include <jobd/plugin.h>

struct job;
struct session;
struct session_user;

/* What a transport provides. Loop thread; s is valid for the call. */
struct session_ops {
	/* Queues one encoded frame; ownership of frame (malloc'd) passes. */
	void (*send_frame)(struct session *s, char *frame, size_t len);
	/* Sends an error frame without id when code is not JOBD_OK, stops
	 * reading, and ends the session once the frame is out. Never frees
	 * s at once: callers up the stack still hold it. */
	void (*close)(struct session *s, enum jobd_error code,
	              const char *message);
	/* n_inflight or n_waiting changed: the transport may pause or
	 * resume reading and re-arm its idle timer. */
	void (*load_changed)(struct session *s);
	/* Frames longer than max are refused from their length prefix
	 * (too_large, closes); 0 restores limits.max_frame_size. The
	 * protocol caps an unauthenticated session this way. May be NULL
	 * for a transport that bounds its requests otherwise. */
	void (*set_frame_cap)(struct session *s, uint32_t max);
	/* Frees at once, unsent output and all (daemon exit). */
	void (*destroy)(struct session *s);
	/* Queues one frame given as pieces (an array frame: its head, then
	 * each array's bytes and padding), by reference: the bytes must
	 * stay unchanged until done(arg) runs, once, when the last piece
	 * has been written or dropped. Optional: a transport that leaves it
	 * NULL must not let a hello agree on version 2 (see
	 * session.arrays_ok). */
	void (*send_pieces)(struct session *s, const struct iovec *iov, int n,
	                    void (*done)(void *arg), void *arg);
};

struct session {
	const struct session_ops *ops;
	uint32_t slot, gen; /* its name in the session table */
	int version;        /* negotiated protocol version */
	/* Version 2: the largest data block a message may carry, in and
	 * out; set with the version by the hello's handler, read by the
	 * transport before the next frame. */
	uint64_t max_array_bytes;
	/* The transport carries array frames (it set ops->send_pieces and
	 * reads array frames): only then may hello agree on version 2. */
	bool arrays_ok;
	/* While the message of an array frame is being handled: its data
	 * block (util/shm.h, in_data_len bytes), owned by the transport. A
	 * handler that keeps it sets in_data to NULL and frees it later
	 * with shm_free; otherwise it is freed once the handler returns. */
	void *in_data;
	uint64_t in_data_len;
	bool closing; /* no further requests will be read */
	/* Who is calling: set and read by the protocol layer only (the
	 * type is its own); NULL until known, and always NULL on a server
	 * without users. The transport never looks inside. */
	struct session_user *user;
	/* What the transport knows of the peer, for the protocol to map to
	 * a user: the Unix user name of a Unix-socket peer (SO_PEERCRED),
	 * the RFC 2253 subject of a verified client certificate. NULL if
	 * none; owned by the transport, valid for the session's life. */
	char *peer_unix_user;
	char *peer_cert_subject;
	/* Wrong tokens so far: the protocol layer's count. */
	unsigned auth_failures;
	char peer[64]; /* "host:port" or similar, for logs */

	/* Calls in flight (list through job->c_prev/c_next) and requests
	 * waiting for a later answer (attach). Kept by session.c. */
	struct job *inflight;
	uint32_t n_inflight;
	uint32_t n_waiting;
};

/* Every live session by slot; a slot's generation is bumped when it is
 * freed, so a stale (slot, gen) misses. */
struct session_table {
	struct session **slots;
	uint32_t *gens;
	uint32_t n_slots;
	uint32_t *free_list; /* stack of free slot numbers */
	uint32_t n_free;
	uint32_t count; /* live sessions */
};

int session_table_init(struct session_table *t, uint32_t n_slots);
void session_table_fini(struct session_table *t);
/* Grows to want slots (a lower number changes nothing: nobody is
 * dropped). 0 or -ENOMEM. */
int session_table_grow(struct session_table *t, uint32_t want);

/* Gives s a slot and generation. -ENOSPC when the table is full. */
int session_table_add(struct session_table *t, struct session *s);
/* Frees s's slot; its (slot, gen) never matches again. */
void session_table_remove(struct session_table *t, struct session *s);

/* The live session in slot with generation gen, or NULL. */
struct session *session_lookup(const struct session_table *t, uint32_t slot,
                               uint32_t gen);

/* Every live session. fn may close a session but not free it. */
void session_foreach(const struct session_table *t,
                     void (*fn)(struct session *, void *), void *arg);

/* Sending. Ownership of frame (malloc'd) and of msg's reference passes. */
static inline void session_send_frame(struct session *s, char *frame,
                                      size_t len)
{
	s->ops->send_frame(s, frame, len);
}
/* A transport without send_pieces (one that cannot carry array frames)
 * never agrees on version 2, so this is not reached for it; if it were,
 * the pieces are released and nothing is sent. */
static inline void session_send_pieces(struct session *s,
                                       const struct iovec *iov, int n,
                                       void (*done)(void *arg), void *arg)
{
	if (s->ops->send_pieces)
		s->ops->send_pieces(s, iov, n, done, arg);
	else
		done(arg);
}
void session_send_msg(struct session *s, json_t *msg);
void session_send_error(struct session *s, bool has_id, int64_t id,
                        enum jobd_error code, const char *fmt, ...)
        JOBD_PRINTF(5, 6);
/* A transport without frames of its own (an HTTP request) leaves
 * set_frame_cap NULL. */
static inline void session_set_frame_cap(struct session *s, uint32_t max)
{
	if (s->ops->set_frame_cap)
		s->ops->set_frame_cap(s, max);
}
static inline void session_close(struct session *s, enum jobd_error code,
                                 const char *message)
{
	s->ops->close(s, code, message);
}

/* In-flight bookkeeping: j names s by slot and generation while tracked. */
void session_track_job(struct session *s, struct job *j);
void session_untrack_job(struct session *s, struct job *j);
struct job *session_find_job(const struct session *s, int64_t id);

/* A request that waits for a later answer without being a call in flight
 * (attach): while any waits, the session is not idle. Pairs. */
void session_wait_begin(struct session *s);
void session_wait_end(struct session *s);

#endif
