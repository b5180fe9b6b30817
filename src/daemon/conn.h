/* SPDX-License-Identifier: MIT */
/*
 * A client connection: a bufferevent, a frame decoder, the calls in flight,
 * and the timers and caps that keep one client from hurting the others.
 * Loop thread only. Other threads name a connection by (slot, generation)
 * through the connection table, never by pointer.
 */
#ifndef JOBD_DAEMON_CONN_H
#define JOBD_DAEMON_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include <jobd/error.h>
#include <jobd/plugin.h>

#include "wire/frame.h"

struct jobd;
struct job;

struct conn {
	struct jobd *jd;
	struct bufferevent *bev;
	uint32_t slot, gen;
	struct frame_decoder dec;
	uint64_t input_reserved; /* its share of jd->input_reserved */
	struct job *inflight;    /* list through job->c_prev/c_next */
	uint32_t n_inflight;
	uint32_t n_waiting; /* attached to detached jobs (detached.c) */
	struct event *idle_ev;
	struct event *frame_ev;
	struct event *flush_ev; /* writes queued answers once per loop turn */
	bool flush_pending;     /* flush_ev is active */
	bool paused_inflight;   /* at max_inflight_per_connection */
	bool paused_output;     /* unsent output over max_output_buffer */
	bool closing;           /* flushing a last error frame */
	bool in_read;           /* inside the read callback: free later */
	bool dead;              /* closed while in_read */
	int version;            /* negotiated protocol version */
	char peer[64];
};

int conn_table_init(struct jobd *jd, uint32_t n_slots);
void conn_table_fini(struct jobd *jd);

/* Takes over fd (accepted, any family). Returns 0 or a negative errno; on
 * failure fd is closed. */
int conn_accept(struct jobd *jd, int fd, const struct sockaddr *sa, int salen);

/* The live connection in slot with generation gen, or NULL. */
struct conn *conn_lookup(struct jobd *jd, uint32_t slot, uint32_t gen);

/* Queues one encoded frame (malloc'd; ownership passes here). */
void conn_send_frame(struct conn *c, char *frame, size_t len);
/* Encodes and queues msg; steals the reference. */
void conn_send_msg(struct conn *c, json_t *msg);
void conn_send_error(struct conn *c, bool has_id, int64_t id,
                     enum jobd_error code, const char *fmt, ...)
        JOBD_PRINTF(5, 6);

/* Sends an error frame without id (when code is not JOBD_OK), stops
 * reading, and closes once it is written (or after a short grace). */
void conn_close(struct conn *c, enum jobd_error code, const char *message);

/* Frees at once, unsent output and all (daemon exit). */
void conn_destroy(struct conn *c);

/* In-flight bookkeeping; pauses and resumes reading at the cap. */
void conn_track_job(struct conn *c, struct job *j);
void conn_untrack_job(struct conn *c, struct job *j);
struct job *conn_find_job(struct conn *c, int64_t id);

/* A request that waits for a later answer without being a call in flight
 * (attach): while any waits, the connection is not idle. Pairs. */
void conn_wait_begin(struct conn *c);
void conn_wait_end(struct conn *c);

/* For shutdown: every live connection. */
void conn_foreach(struct jobd *jd, void (*fn)(struct conn *, void *),
                  void *arg);

#endif
