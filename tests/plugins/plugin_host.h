/* SPDX-License-Identifier: MIT */
/*
 * A small stand-in for the daemon, for plugin tests: loads a plugin .so the
 * way jobd does (dlopen RTLD_NOW | RTLD_LOCAL, jobd_plugin_entry, ABI check),
 * offers a struct jobd_host whose calls are recorded, and drives the
 * lifecycle init -> worker_init -> process... -> worker_fini -> destroy.
 *
 * It also checks the parts of the contract a test would otherwise forget:
 * process() must not modify its input, must set *output on success, and must
 * call host->fail() before any error return. A breach is a bug in the plugin:
 * the host prints it and abort()s, which Check reports as a failed test.
 */
#ifndef JOBD_TESTS_PLUGIN_HOST_H
#define JOBD_TESTS_PLUGIN_HOST_H

#include <stdatomic.h>
#include <stddef.h>

#include <jansson.h>

#include <jobd/plugin.h>

struct plugin_host;

/*
 * One job as the test host sees it. Embed or declare on the stack, call
 * plugin_host_job_init(), set the knobs, pass to plugin_host_process().
 * The plugin sees only `base`.
 */
struct plugin_host_job {
	struct jobd_job base;

	/* Knobs. */
	atomic_int cancel;         /* non-zero: host->cancelled() says yes */
	int cancel_after_progress; /* > 0: set cancel at that progress call */

	/* Records. */
	int progress_calls;
	double first_fraction; /* -1 until the first progress call */
	double last_fraction;
	int progress_backwards;    /* times a fraction went down */
	int progress_out_of_range; /* fractions outside [0, 1] */
	long cancelled_polls;
	int fail_calls;
	char fail_msg[1024]; /* the last host->fail() message */
};

/*
 * Loads the plugin at path (NULL: the JOBD_PLUGIN environment variable) and
 * calls its init with options (JSON text; NULL means "{}"). Returns NULL on
 * failure after writing the reason into err (if errlen > 0): dlopen error,
 * missing symbol, ABI mismatch, or init's fail message.
 */
struct plugin_host *plugin_host_open(const char *path, const char *options,
                                     char *err, size_t errlen);

/* Calls destroy, dlcloses. Accepts NULL. */
void plugin_host_close(struct plugin_host *h);

/* The loaded descriptor (valid until plugin_host_close). */
const struct jobd_plugin *plugin_host_plugin(const struct plugin_host *h);

/* Log lines the plugin wrote through host->log, by level (3..7). */
int plugin_host_log_count(const struct plugin_host *h, int level);

void plugin_host_job_init(struct plugin_host_job *job,
                          const struct plugin_host *h);

/*
 * A worker: worker_init on creation, worker_fini on free. Each belongs to
 * one thread at a time, like the daemon's. Returns NULL if worker_init
 * failed.
 */
struct plugin_host_worker;
struct plugin_host_worker *plugin_host_worker_new(struct plugin_host *h);
void plugin_host_worker_free(struct plugin_host_worker *w);

/*
 * Runs one job on worker w: process(state, worker_state, job, input, out).
 * Returns process()'s result; on JOBD_OK *output is a new reference the
 * caller owns, otherwise *output is NULL and job->fail_msg holds the
 * message. Checks the contract described above.
 */
int plugin_host_process(struct plugin_host_worker *w,
                        struct plugin_host_job *job, const json_t *input,
                        json_t **output);

/*
 * Shorthand: parses input_json (abort()s if it is not JSON), runs it on a
 * fresh worker with a fresh job (or job, if not NULL, already initialised)
 * and returns as plugin_host_process does.
 */
int plugin_host_call(struct plugin_host *h, const char *input_json,
                     json_t **output, struct plugin_host_job *job);

#endif
