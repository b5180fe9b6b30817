/* SPDX-License-Identifier: MIT */
/*
 * A job: one call on its way from a connection, through a plugin's pool,
 * and back. Ownership moves with it, never shared: the loop creates it, the
 * pool's queue holds it, one worker runs it, the completion queue carries it
 * back, and the loop frees it. The connection is named by slot and
 * generation, never by pointer, since the connection may be gone by then.
 * The kind of connection is not known here: a session names it.
 */
#ifndef JOBD_DAEMON_JOB_H
#define JOBD_DAEMON_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/plugin.h>

#include "daemon/util/clock.h"
#include "daemon/util/cq.h"
#include "daemon/store/store.h"

struct job_arrays;
struct plugin;
struct session;
struct job_user;
struct fairq_lane;
struct event;

struct job {
	struct jobd_job pub; /* first: all a plugin sees */
	struct cq_item done; /* CQ_JOB_DONE when it comes back */

	/* Set by the loop before submit; read-only afterwards. */
	struct plugin *plugin; /* a reference, dropped by job_free */
	uint32_t conn_slot;
	uint32_t conn_gen; /* 0: nobody waits on a connection */
	int64_t req_id;
	json_t *input; /* a reference */
	/* Request bytes counted in *input_account (the caller's total for
	 * limits.max_queued_input) while the job lives; job_free gives them
	 * back. Loop only. */
	uint64_t input_bytes;
	uint64_t *input_account;
	uint64_t t_queued_ns;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
	/* The protocol version of the caller: a result with arrays needs 2. */
	int version;
	/* SHA-256 (hex) of the input's JSON text as it arrived, or "" to
	 * hash the parsed input instead (a job read back from the store). */
	char input_sha256[65];
	/* Binary arrays in and out (arrays.h), NULL for a call without
	 * any; owned by the job until the loop hands it to the session that
	 * sends the answer. */
	struct job_arrays *arrays;
	/* The call brought arrays (set before submit, read-only after: the
	 * loop must not read arrays, which a worker may create). */
	bool input_arrays;
	/* Worker: the input arrays' hashes for provenance (arrays.h text,
	 * malloc'd, NULL for none), and whether the result came from the
	 * plugin's result cache. */
	char *arrays_sha256;
	bool cached;

	/* Why the job should stop (a jobd_error), 0 while it should go on.
	 * Written by the loop, read by the worker through host->cancelled. */
	atomic_int stop_reason;

	/* Pool queue links, under the pool's lock. */
	struct job *q_prev, *q_next;
	bool queued;
	/* Fair share (fairq.h): whose job it is (NULL on a server without
	 * users; set by the loop before submit), its lane while it waits,
	 * and whether it counts in user->running. */
	struct job_user *user;
	struct fairq_lane *lane;
	bool counted_running;

	/* Written by the worker, read by the loop after CQ_JOB_DONE. */
	int status;     /* JOBD_OK or a jobd_error */
	char *fail_msg; /* malloc'd, for a failed status */
	char *frame;    /* the encoded answer frame, malloc'd */
	size_t frame_len;
	uint64_t t_started_ns, t_finished_ns;

	/* Progress, rate-limited on the worker (see pool.c). */
	uint64_t progress_sent_ns;

	/* Provenance, filled by the worker: wall-clock times (Unix ms), the
	 * thread CPU time of process(), and the output and provenance
	 * objects (references, also inside the encoded frame) so that a
	 * detached job can store them. queued_wall_ms is set by the loop. */
	int64_t queued_wall_ms, started_wall_ms, finished_wall_ms;
	double cpu_seconds;
	/* User/system CPU of the job and, in process mode, the worker's
	 * peak RSS during it (docs/isolation.md). */
	double cpu_user_s, cpu_system_s;
	uint64_t peak_rss_kb;
	bool has_peak_rss;
	json_t *output;
	json_t *provenance;

	/* Detached jobs. The loop sets job_id and store (under lock) when
	 * the job becomes detached; the worker sets started (under lock)
	 * before it runs the job and, if it sees a job id, records the start
	 * in the store and waits for the commit before process() runs. The
	 * lock makes the two orders exclusive (detached.c). */
	pthread_mutex_t lock;
	bool started;
	/* The store says running: the worker's start committed, or the
	 * detach inserted the job as running. What `status` shows. */
	bool start_recorded;
	bool has_job_id;
	/* The worker finished a plain call and kept only the encoded
	 * answer (output and provenance freed on the worker): too late to
	 * detach it. Under lock. */
	bool answer_only;
	char job_id[STORE_ID_LEN + 1];
	struct store *store;
	unsigned prior_attempts; /* runs before this one (recovered jobs) */
	bool detached; /* loop-only: a detached.c registry entry names it */

	/* Loop-only: the context of whoever submitted it, for its timer
	 * callbacks (the protocol layer's; opaque here). */
	void *loop_ctx;

	/* Loop-only: the session waiting on it (valid while tracked: a
	 * closing session untracks its jobs first), links in its in-flight
	 * list, and whether an answer already went out early (deadline) so
	 * the late one is dropped. The session type belongs to a layer above
	 * this one and is only named here. */
	struct session *owner;
	uint64_t timeout_ms;
	struct job *c_prev, *c_next;
	bool tracked; /* in its connection's in-flight list */
	bool answered;
	struct event *deadline_ev;
};

/* A progress report on its way to the loop. The job pointer stays valid
 * until the loop reads the note: notes are pushed by the worker running the
 * job, before that worker pushes the job's own CQ_JOB_DONE, and the queue
 * keeps push order; the loop frees a job only on CQ_JOB_DONE. */
struct progress_note {
	struct cq_item item; /* CQ_PROGRESS */
	struct job *job;
	double fraction;
	char message[128];
};

/* Loop thread. input is a new reference the job takes. */
struct job *job_new(struct plugin *plugin, json_t *input);
/* Loop thread. Accepts NULL. */
void job_free(struct job *j);

#endif
