/* SPDX-License-Identifier: MIT */
/*
 * jobd plugin ABI: the one header a processor plugin includes.
 *
 * A plugin is a shared object that exports one function,
 * jobd_plugin_entry(), returning a pointer to a static descriptor
 * (struct jobd_plugin). The daemon loads it with dlopen(RTLD_NOW |
 * RTLD_LOCAL), checks abi_major, and then calls the descriptor's functions:
 *
 *   init         once, on the daemon's main thread, with the plugin's
 *                `options:` from the YAML config as JSON;
 *   worker_init  once on each worker thread of the plugin's pool;
 *   process      for each job, on a worker thread;
 *   worker_fini  once on each worker thread as the pool stops;
 *   destroy      once, on the main thread, after every worker has stopped.
 *
 * The plugin never links against daemon symbols. Everything the daemon
 * offers comes through the struct jobd_host function table passed to init
 * and reachable from every job (job->host), in the style of Redis modules.
 *
 * JSON values are jansson's json_t; a plugin links jansson itself
 * (`pkg-config --libs jansson`, which `pkg-config --libs jobd` includes).
 * A value may be handed from one thread to another through something that
 * synchronizes (a locked queue, as the daemon does with inputs and
 * outputs). It must not be mutated while another thread reads it, and two
 * threads must not change one value's reference count at the same time:
 * json_decref() checks the count with a plain read and decrements with
 * release order only, which ThreadSanitizer reports as a race. Share data
 * between workers as C data, or deep-copy it under a lock.
 *
 * Compatibility: abi_major must equal the daemon's; abi_minor may grow. New
 * fields are only appended to struct jobd_plugin and struct jobd_host, and
 * each struct records its own size so that either side can tell which
 * fields the other knows. ABI 1.1 appended the array services to struct
 * jobd_host (test them with JOBD_HOST_HAS) and the JOBD_PLUGIN_ARRAYS flag;
 * a plugin built for 1.0 loads and runs unchanged.
 */
#ifndef JOBD_PLUGIN_H
#define JOBD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/array.h>
#include <jobd/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JOBD_PLUGIN_ABI_MAJOR 1
#define JOBD_PLUGIN_ABI_MINOR 1

/* The name of the one symbol a plugin exports. */
#define JOBD_PLUGIN_ENTRY_SYMBOL "jobd_plugin_entry"

#if defined(__GNUC__)
#define JOBD_EXPORT            __attribute__((visibility("default")))
#define JOBD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define JOBD_EXPORT
#define JOBD_PRINTF(fmt, args)
#endif

/* Log levels: syslog's numbers, so the daemon forwards them unchanged. */
enum jobd_log_level {
	JOBD_LOG_ERROR = 3,
	JOBD_LOG_WARNING = 4,
	JOBD_LOG_NOTICE = 5,
	JOBD_LOG_INFO = 6,
	JOBD_LOG_DEBUG = 7
};

/* Descriptor flags. */
enum jobd_plugin_flags {
	/* Running a job twice gives the same result and has no outside effect,
	 * so after a crash a job that was running may be run again. */
	JOBD_PLUGIN_RETRY_SAFE = 1u << 0,
	/* ABI 1.1: the plugin reads input arrays (host->input_array). A call
	 * that carries arrays to a plugin without this flag is refused with
	 * bad_request before it is queued, so that no array is silently
	 * ignored. Output arrays need no flag. */
	JOBD_PLUGIN_ARRAYS = 1u << 1
};

struct jobd_job;

/*
 * Services the daemon offers to a plugin. The daemon owns the table; it
 * stays valid from init until destroy returns. All functions are safe to call
 * from any thread of the plugin unless noted.
 */
struct jobd_host {
	/* sizeof(struct jobd_host) as the daemon was built; a plugin that
	 * uses a field appended in a later minor checks size first. */
	uint32_t size;
	uint32_t abi_minor;

	/* Logs one line, prefixed with the plugin's name. fmt is copied; no
	 * pointer is kept. */
	void (*log)(const struct jobd_host *host, int level, const char *fmt,
	            ...) JOBD_PRINTF(3, 4);

	/* Reports progress of a running job: fraction in [0, 1] (clamped),
	 * message a short text (may be NULL; copied). Only from inside
	 * process(), on its worker thread. Cheap to call often: the daemon
	 * rate-limits what it sends to clients. */
	void (*progress)(struct jobd_job *job, double fraction,
	                 const char *message);

	/* Non-zero once the job should stop: cancelled by a client, past its
	 * deadline, or the daemon is shutting down. A long process() polls it
	 * and returns JOBD_E_CANCELLED soon after. Only from inside process().
	 */
	int (*cancelled)(const struct jobd_job *job);

	/* Sets the message that goes with a non-zero return from process(),
	 * or, with job NULL and only inside init(), from init(). fmt is
	 * formatted and copied. Later calls replace it. */
	void (*fail)(struct jobd_job *job, const char *fmt, ...)
	        JOBD_PRINTF(2, 3);

	/* The job's id as the client sees it for a detached job, else NULL.
	 * The string lives as long as the job. */
	const char *(*job_id)(const struct jobd_job *job);

	/* ---- ABI 1.1: binary arrays (docs/protocol.md §12) ----------------
	 *
	 * Test each with JOBD_HOST_HAS(host, field) before the first use: a
	 * daemon of ABI 1.0 has a shorter table, and any of these may be
	 * NULL where a daemon does not offer it. All of them only from
	 * inside process(), on its worker thread.
	 *
	 * Where the bytes live is the daemon's business: in a worker
	 * process (isolation: process) they are shared memory mapped into
	 * that process, not the frame they arrived in. A plugin only relies
	 * on what is said here: the pointers are valid until process()
	 * returns, and the data is 64-byte aligned.
	 */

	/* Number of input arrays of the job (0 for a call without any). */
	size_t (*input_count)(const struct jobd_job *job);

	/* Input array i (0 <= i < input_count) into *out. out->name and
	 * out->data are borrowed from the daemon until process() returns;
	 * the data is read-only (it may be mapped so) and 64-byte aligned.
	 * Returns JOBD_OK, or JOBD_E_NOT_FOUND for an i out of range. */
	int (*input_at)(const struct jobd_job *job, size_t i,
	                struct jobd_array *out);

	/* Input array by name, as input_at. Returns JOBD_OK, or
	 * JOBD_E_NOT_FOUND when the call has no array of that name (*out is
	 * then untouched). */
	int (*input_array)(const struct jobd_job *job, const char *name,
	                   struct jobd_array *out);

	/*
	 * Creates output array `name` (copied) of dtype and shape[0..ndim)
	 * and sets *data to its bytes, to fill in place: nbytes (shape
	 * product times the element size) bytes, 64-byte aligned, owned by
	 * the daemon and writable until process() returns. Their contents
	 * are unspecified until written: fill every byte. The arrays go to
	 * the client with the result, in the order created, if process()
	 * returns JOBD_OK; they are dropped otherwise. Returns JOBD_OK, or
	 * (with *data NULL and the reason set as by fail(), so process()
	 * can return the code at once) JOBD_E_BAD_REQUEST for a bad or
	 * repeated name, an unknown dtype, more than JOBD_ARRAY_MAX_DIMS
	 * dimensions, more than JOBD_ARRAYS_MAX arrays or a shape whose
	 * product overflows, JOBD_E_TOO_LARGE when the result's arrays
	 * would pass the server's max_array_bytes, or JOBD_E_INTERNAL when
	 * memory runs out.
	 */
	int (*output_array)(struct jobd_job *job, const char *name,
	                    uint32_t dtype, uint32_t ndim,
	                    const uint64_t *shape, void **data);

	/* Like progress(), with arrays (a preview: the current centroids,
	 * a partial image). Names and bytes are copied before it returns.
	 * The daemon may drop or merge progress reports, arrays included,
	 * so a plugin never relies on one arriving. */
	void (*progress_arrays)(struct jobd_job *job, double fraction,
	                        const char *message,
	                        const struct jobd_array *arrays, size_t n);
};

/* Whether the host table offers `field` (a member of struct jobd_host
 * appended after ABI 1.0): the daemon's table is long enough and the
 * function is there. */
#define JOBD_HOST_HAS(host, field)                                             \
	((host)->size >=                                                       \
	         offsetof(struct jobd_host, field) + sizeof((host)->field) &&  \
	 (host)->field != NULL)

/*
 * A job, as a plugin sees it: only the host table is public; the daemon's
 * own fields follow in memory. Valid only for the duration of process().
 */
struct jobd_job {
	const struct jobd_host *host;
};

/*
 * The descriptor. A plugin returns a pointer to a static, constant instance;
 * the daemon reads it and never writes or frees it.
 */
struct jobd_plugin {
	uint16_t abi_major; /* JOBD_PLUGIN_ABI_MAJOR */
	uint16_t abi_minor; /* JOBD_PLUGIN_ABI_MINOR */
	uint32_t size;      /* sizeof(struct jobd_plugin) */

	const char *name;        /* [a-z0-9_-]{1,64}; the name clients call */
	const char *version;     /* free text, e.g. "1.2.0" */
	const char *description; /* one line, may be NULL */
	uint32_t flags;          /* enum jobd_plugin_flags */

	/* Optional. Main thread, once. options is the plugin's `options:`
	 * section as JSON (an empty object when absent), borrowed for the call.
	 * Stores whatever the plugin keeps in *state (owned by the plugin until
	 * destroy). The host pointer stays valid until destroy returns. Returns
	 * 0, or a jobd_error after host->fail(NULL, ...) says why; then the
	 * plugin is not loaded and the daemon logs the message. */
	int (*init)(const struct jobd_host *host, const json_t *options,
	            void **state);

	/* Optional. Main thread, once, after all workers have stopped. Frees
	 * what init made. */
	void (*destroy)(void *state);

	/* Optional. On each worker thread before its first job; *worker_state
	 * is the plugin's, per thread (for models that are not thread-safe).
	 * A non-zero return stops that worker; jobs go to the others. */
	int (*worker_init)(void *state, void **worker_state);

	/* Optional. On each worker thread after its last job. */
	void (*worker_fini)(void *state, void *worker_state);

	/* Required. Worker thread. input is borrowed for the call and must not
	 * be modified. On success returns JOBD_OK and sets *output to a new
	 * reference that the daemon takes over. On failure returns a jobd_error
	 * (JOBD_E_BAD_REQUEST for bad input, JOBD_E_CANCELLED when it stopped
	 * because host->cancelled(), JOBD_E_PLUGIN_FAILED otherwise) after
	 * host->fail(job, ...) names the problem; *output is ignored. */
	int (*process)(void *state, void *worker_state, struct jobd_job *job,
	               const json_t *input, json_t **output);
};

typedef const struct jobd_plugin *(*jobd_plugin_entry_fn)(void);

/* Defines the exported entry point returning descriptor `desc`. */
#ifdef __cplusplus
#define JOBD_EXTERN_C extern "C"
#else
#define JOBD_EXTERN_C
#endif
#define JOBD_PLUGIN_DEFINE(desc)                                               \
	JOBD_EXTERN_C JOBD_EXPORT const struct jobd_plugin *jobd_plugin_entry( \
	        void);                                                         \
	JOBD_EXTERN_C const struct jobd_plugin *jobd_plugin_entry(void)        \
	{                                                                      \
		return &(desc);                                                \
	}

/* Convenience wrappers through the job's host table. */
static inline void jobd_job_progress(struct jobd_job *job, double fraction,
                                     const char *message)
{
	job->host->progress(job, fraction, message);
}

static inline int jobd_job_cancelled(const struct jobd_job *job)
{
	return job->host->cancelled(job);
}

/* Input array `name` into *out, or JOBD_E_NOT_FOUND (also when the host
 * has no array services). */
static inline int jobd_job_input_array(const struct jobd_job *job,
                                       const char *name, struct jobd_array *out)
{
	if (!JOBD_HOST_HAS(job->host, input_array))
		return JOBD_E_NOT_FOUND;
	return job->host->input_array(job, name, out);
}

/* A new output array to fill in place (see host->output_array); returns
 * JOBD_E_INTERNAL when the host has no array services. */
static inline int jobd_job_output_array(struct jobd_job *job, const char *name,
                                        uint32_t dtype, uint32_t ndim,
                                        const uint64_t *shape, void **data)
{
	*data = NULL;
	if (!JOBD_HOST_HAS(job->host, output_array))
		return JOBD_E_INTERNAL;
	return job->host->output_array(job, name, dtype, ndim, shape, data);
}

#ifdef __cplusplus
}
#endif

#endif
