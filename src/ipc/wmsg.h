/* SPDX-License-Identifier: MIT */
/*
 * The worker protocol: the messages between the daemon and a jobd-worker
 * process (docs/isolation.md). Pure code, no I/O: parses and validates a
 * frame body into a typed struct wmsg, and builds every message as a
 * jansson object. Frames are the wire library's (4-byte big-endian length,
 * one JSON object); wchan.h moves them over the socket with their file
 * descriptors.
 *
 * Rules, as in wire/message.h: the body is UTF-8 JSON whose top level is an
 * object with a string `type` known for the direction it travels; required
 * fields must be present with the right JSON type; unknown fields are
 * ignored (so either side may grow). Any message may carry `"fds": N`
 * (0..WMSG_MAX_FDS): the number of descriptors sent with it over
 * SCM_RIGHTS; fields that name a descriptor (plugin_fd, input_fd,
 * output_fd) are indexes below N.
 */
#ifndef JOBD_IPC_WMSG_H
#define JOBD_IPC_WMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/error.h>

/* Descriptors on one message. SCM_RIGHTS allows 253; arrays (issue 17)
 * share a memfd between several of them, so few are needed. */
#define WMSG_MAX_FDS 16
/* Job numbers are the daemon's own; JSON integers every parser keeps. */
#define WMSG_JOB_MAX  ((int64_t)9007199254740991) /* 2^53 - 1 */
#define WMSG_TEXT_MAX 4096 /* log text and messages, in bytes */

enum wmsg_from {
	WMSG_FROM_DAEMON,
	WMSG_FROM_WORKER,
};

enum wmsg_type {
	WMSG_UNKNOWN = 0,
	/* daemon -> worker */
	WMSG_INIT,   /* plugin, [plugin_fd], options, worker, [log_level],
	                [fd_threshold] */
	WMSG_JOB,    /* job, input | input_fd+input_size, [timeout_ms],
	                [job_id] */
	WMSG_CANCEL, /* job */
	WMSG_STOP,   /* (nothing) */
	/* worker -> daemon */
	WMSG_READY,       /* name, version, [description], flags, abi_major,
	                     abi_minor, pid */
	WMSG_PROGRESS,    /* job, fraction, [message] */
	WMSG_LOG,         /* level, text */
	WMSG_RESULT,      /* job, output | output_fd+output_size, usage */
	WMSG_ERROR,       /* job, code, message, [usage] */
	WMSG_INIT_FAILED, /* stage, message */
	WMSG_TYPE_COUNT_
};

/* Resource use of one job, measured in the worker around process(). */
struct wmsg_usage {
	double user_s;   /* user CPU seconds of the job, all its threads
	                    (getrusage(RUSAGE_SELF) after minus before) */
	double system_s; /* system CPU seconds of the job, likewise */
	/* Peak resident set during the job, KiB: VmHWM after the job, the
	 * worker having reset it to the current RSS before the job
	 * (/proc/self/clear_refs). Where that reset is refused (peak_reset
	 * false), the process's peak so far. */
	uint64_t maxrss_kb;
	/* How far the job raised the peak above the RSS it started with. */
	uint64_t maxrss_delta_kb;
	bool peak_reset;
};

/*
 * A parsed message. Pointer fields borrow from root, which the struct owns;
 * fds[] are the descriptors that came with it (wchan_next fills them), owned
 * here until taken (set to -1). wmsg_fini() releases both.
 */
struct wmsg {
	enum wmsg_type type;
	json_t *root;
	size_t size; /* bytes of the frame body */

	unsigned nfds;
	int fds[WMSG_MAX_FDS];

	int64_t job; /* job, cancel, progress, result, error */

	/* init */
	const char *plugin;    /* path of the .so, for messages */
	int plugin_fd;         /* index of an fd open on the .so, or -1 */
	json_t *options;       /* object */
	uint32_t worker;       /* index of this worker in the plugin's pool */
	int log_level;         /* highest level the daemon wants; default 6 */
	uint64_t fd_threshold; /* outputs this large or more go in a memfd;
	                          0: never */

	/* job */
	json_t *input;       /* inline input, or NULL when input_fd >= 0 */
	int input_fd;        /* index of a memfd holding the input's JSON
	                        text, or -1 */
	uint64_t input_size; /* bytes of that text */
	uint64_t timeout_ms; /* time left until the deadline; 0: none */
	const char *job_id;  /* a detached job's id, or NULL */

	/* ready */
	const char *name, *version, *description;
	uint32_t flags;
	uint16_t abi_major, abi_minor;
	int64_t pid;

	/* progress, log, error, init_failed */
	double fraction;
	const char *message; /* progress (may be NULL), error, init_failed */
	int level;           /* log: 3..7 (enum jobd_log_level) */
	const char *text;    /* log */

	/* result, error */
	json_t *output; /* inline output, or NULL when output_fd >= 0 */
	int output_fd;
	uint64_t output_size;
	bool has_usage;
	struct wmsg_usage usage;
	enum jobd_error code;  /* error: a code a plugin may return
	                          (wmsg_plugin_code_ok), or internal */
	const char *code_name; /* as sent */

	/* init_failed: "load", "init" or "worker_init" */
	const char *stage;
};

/* Why a body was refused. The worker protocol has no error answers: a
 * refused message means the peer is broken, and the text goes to the log. */
struct wmsg_error {
	char text[200];
};

/* Parses body[0..len) sent by `from`. Returns 0 and fills *out (wmsg_fini()
 * it; fds[] are all -1, nfds is the count announced), or -1 and fills *err
 * with *out empty. */
int wmsg_parse(const char *body, size_t len, enum wmsg_from from,
               struct wmsg *out, struct wmsg_error *err);

/* Closes the descriptors not taken and releases root. Accepts a zeroed
 * struct. */
void wmsg_fini(struct wmsg *m);

/* Takes descriptor i (an index the message named) out of m: the caller owns
 * it. -1 if there is none. */
int wmsg_take_fd(struct wmsg *m, int i);

/* The wire name of a type ("init", "result", ...), NULL for WMSG_UNKNOWN. */
const char *wmsg_type_name(enum wmsg_type t);

/* The codes a plugin may return from process(), and so the only ones an
 * error message may carry; anything else becomes plugin_failed. */
bool wmsg_plugin_code_ok(int code);

/*
 * Builders. Each returns a new object, NULL only when out of memory.
 * `steal_*` arguments are references taken over even on failure; strings
 * are copied. nfds is the count of descriptors the caller will send with
 * the message (0 leaves the field out).
 */
json_t *wmsg_init(const char *plugin, int plugin_fd, const json_t *options,
                  uint32_t worker, int log_level, uint64_t fd_threshold,
                  unsigned nfds);
/* input inline (input_fd -1) or in descriptor input_fd of input_size
 * bytes (input NULL). */
json_t *wmsg_job(int64_t job, const json_t *input, int input_fd,
                 uint64_t input_size, uint64_t timeout_ms, const char *job_id,
                 unsigned nfds);
json_t *wmsg_cancel(int64_t job);
json_t *wmsg_stop(void);
json_t *wmsg_ready(const char *name, const char *version,
                   const char *description, uint32_t flags, uint16_t abi_major,
                   uint16_t abi_minor, int64_t pid);
json_t *wmsg_progress(int64_t job, double fraction, const char *message);
json_t *wmsg_log(int level, const char *text);
/* output inline (output_fd -1) or in descriptor output_fd. */
json_t *wmsg_result(int64_t job, json_t *steal_output, int output_fd,
                    uint64_t output_size, const struct wmsg_usage *usage,
                    unsigned nfds);
json_t *wmsg_error(int64_t job, enum jobd_error code, const char *message,
                   const struct wmsg_usage *usage);
json_t *wmsg_init_failed(const char *stage, const char *message);

#endif
