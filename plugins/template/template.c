/* SPDX-License-Identifier: MIT */
/*
 * template: the smallest complete jobd plugin. Copy this file to start your
 * own; docs/plugin-guide.md walks through building, installing and calling
 * it. Build it alone with:
 *
 *   cc -shared -fPIC -fvisibility=hidden -o template.so template.c \
 *      $(pkg-config --cflags --libs jobd)
 *
 * What it does: greets someone, `repeat` times.
 *
 *   options (YAML, plugins: template: options:)   {"greeting": "hello"}
 *   input                                         {"name": "Ada", "repeat": 2}
 *   output          {"message": "hello, Ada", "lines": ["hello, Ada", ...]}
 *
 * It shows each thing a real plugin does: read options once in init(),
 * keep per-plugin state, validate input field by field and answer
 * bad_request with a message naming the field, report progress, stop when
 * cancelled, and hand back a new JSON object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobd/plugin.h>

/* Limits on the input, so one request cannot take the server down. */
#define TEMPLATE_MAX_NAME   256
#define TEMPLATE_MAX_REPEAT 1000

/*
 * Per-plugin state: made by init(), freed by destroy(), shared by every
 * worker thread. Workers only read it, so it needs no lock. (If your
 * workers must write shared state, guard it with a mutex: see
 * plugins/kmeans/kmeans_cache.c.)
 */
struct template_state {
	const struct jobd_host *host; /* valid until destroy() returns */
	char *greeting;               /* owned */
};

/*
 * init: once, on the daemon's main thread, before any job. options is the
 * plugin's `options:` section as JSON (an empty object when absent),
 * borrowed for this call only: copy what you keep. On a bad option, say
 * which through host->fail(NULL, ...) and return an error; the daemon then
 * logs the message and does not load the plugin.
 */
static int template_init(const struct jobd_host *host, const json_t *options,
                         void **state)
{
	struct template_state *st;
	const char *key;
	json_t *value;
	const char *greeting = "hello";

	if (!json_is_object(options)) {
		host->fail(NULL, "options: must be a mapping");
		return JOBD_E_BAD_REQUEST;
	}
	/* Refuse unknown options: a typo in the YAML should not pass
	 * silently. (json_object_foreach does not modify the object; the cast
	 * drops the const that its macro cannot take.) */
	json_object_foreach((json_t *)options, key, value)
	{
		if (strcmp(key, "greeting") == 0) {
			if (!json_is_string(value) ||
			    json_string_length(value) == 0 ||
			    json_string_length(value) > 64) {
				host->fail(NULL, "options.greeting: must be a "
				                 "string of 1 to 64 bytes");
				return JOBD_E_BAD_REQUEST;
			}
			greeting = json_string_value(value);
		} else {
			host->fail(NULL, "options.%s: unknown option", key);
			return JOBD_E_BAD_REQUEST;
		}
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		goto nomem;
	st->host = host;
	st->greeting = strdup(greeting);
	if (!st->greeting)
		goto nomem;
	*state = st;
	host->log(host, JOBD_LOG_DEBUG, "greeting is \"%s\"", st->greeting);
	return JOBD_OK;

nomem:
	free(st);
	host->fail(NULL, "out of memory");
	return JOBD_E_INTERNAL;
}

/* destroy: once, on the main thread, after every worker has stopped. */
static void template_destroy(void *state)
{
	struct template_state *st = state;

	if (!st)
		return;
	free(st->greeting);
	free(st);
}

/*
 * process: once per job, on one of the plugin's worker threads; several
 * run at the same time. input is borrowed and must not be modified. On
 * success, set *output to a new JSON object (the daemon takes the
 * reference) and return JOBD_OK. On failure, call host->fail(job, ...)
 * first and return the error code; leave *output alone.
 */
static int template_process(void *state, void *worker_state,
                            struct jobd_job *job, const json_t *input,
                            json_t **output)
{
	const struct template_state *st = state;
	const struct jobd_host *host = job->host;
	const json_t *name, *repeat;
	json_t *out = NULL, *lines = NULL;
	json_int_t n = 1;
	char line[TEMPLATE_MAX_NAME + 80];

	(void)worker_state; /* this plugin keeps no per-thread state */

	/* 1. Validate. Every problem names its field. */
	if (!json_is_object(input)) {
		host->fail(job, "input: must be an object");
		return JOBD_E_BAD_REQUEST;
	}
	name = json_object_get(input, "name");
	if (!name) {
		host->fail(job, "name: missing");
		return JOBD_E_BAD_REQUEST;
	}
	if (!json_is_string(name) || json_string_length(name) == 0 ||
	    json_string_length(name) > TEMPLATE_MAX_NAME) {
		host->fail(job, "name: must be a string of 1 to %d bytes",
		           TEMPLATE_MAX_NAME);
		return JOBD_E_BAD_REQUEST;
	}
	repeat = json_object_get(input, "repeat");
	if (repeat) {
		if (!json_is_integer(repeat) ||
		    json_integer_value(repeat) < 1 ||
		    json_integer_value(repeat) > TEMPLATE_MAX_REPEAT) {
			host->fail(job,
			           "repeat: must be an integer from 1 to %d",
			           TEMPLATE_MAX_REPEAT);
			return JOBD_E_BAD_REQUEST;
		}
		n = json_integer_value(repeat);
	}

	/* 2. Work, reporting progress and stopping when asked. */
	snprintf(line, sizeof(line), "%s, %s", st->greeting,
	         json_string_value(name));
	lines = json_array();
	if (!lines)
		goto nomem;
	for (json_int_t i = 0; i < n; i++) {
		if (jobd_job_cancelled(job)) {
			host->fail(job, "cancelled after %lld of %lld lines",
			           (long long)i, (long long)n);
			json_decref(lines);
			return JOBD_E_CANCELLED;
		}
		if (json_array_append_new(lines, json_string(line)) != 0)
			goto nomem;
		jobd_job_progress(job, (double)(i + 1) / (double)n, NULL);
	}

	/* 3. Answer. json_pack's "o" steals the reference to lines. */
	out = json_pack("{s:s, s:o}", "message", line, "lines", lines);
	lines = NULL;
	if (!out)
		goto nomem;
	*output = out;
	return JOBD_OK;

nomem:
	json_decref(lines);
	host->fail(job, "out of memory");
	return JOBD_E_PLUGIN_FAILED;
}

/*
 * The descriptor: static and constant; the daemon only reads it. Fields
 * you leave out (worker_init, worker_fini here) are NULL, which means
 * "nothing to do".
 */
static const struct jobd_plugin template_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "template", /* what clients call: jobctl call template '{..}' */
        .version = "1.0.0",
        .description = "greets someone; the plugin to copy when starting",
        .flags = JOBD_PLUGIN_RETRY_SAFE, /* no outside effects */
        .init = template_init,
        .destroy = template_destroy,
        .process = template_process,
};

/* Exports jobd_plugin_entry(), the one visible symbol. */
JOBD_PLUGIN_DEFINE(template_plugin)
