/* SPDX-License-Identifier: MIT */
#include "plugin_host.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plugin_host {
	struct jobd_host host; /* first: the plugin's host pointer is ours */
	void *dl;
	const struct jobd_plugin *plugin;
	void *state;
	char init_fail[1024]; /* host->fail(NULL, ...) during init */
	int in_init;
	pthread_mutex_t lock; /* guards log_counts: workers log concurrently */
	int log_counts[8];
};

/* The host whose init() is running on this thread (see host_fail). */
static _Thread_local struct plugin_host *initing;

struct plugin_host_worker {
	struct plugin_host *h;
	void *worker_state;
};

static struct plugin_host *host_of(const struct jobd_host *host)
{
	return (struct plugin_host *)host;
}

static struct plugin_host_job *job_of(const struct jobd_job *job)
{
	return (struct plugin_host_job *)job;
}

static void JOBD_PRINTF(2, 3)
        contract_broken(const struct plugin_host *h, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "plugin_host: plugin %s broke the contract: ",
	        h && h->plugin ? h->plugin->name : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void JOBD_PRINTF(3, 4)
        host_log(const struct jobd_host *host, int level, const char *fmt, ...)
{
	struct plugin_host *h = host_of(host);
	va_list ap;

	if (level < JOBD_LOG_ERROR || level > JOBD_LOG_DEBUG)
		contract_broken(h, "log level %d out of range", level);
	pthread_mutex_lock(&h->lock);
	h->log_counts[level]++;
	pthread_mutex_unlock(&h->lock);
	fprintf(stderr, "<%d>%s: ", level, h->plugin ? h->plugin->name : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void host_progress(struct jobd_job *job, double fraction,
                          const char *message)
{
	struct plugin_host_job *j = job_of(job);

	(void)message;
	if (!(fraction >= 0.0 && fraction <= 1.0))
		j->progress_out_of_range++;
	if (j->progress_calls > 0 && fraction < j->last_fraction)
		j->progress_backwards++;
	if (j->progress_calls == 0)
		j->first_fraction = fraction;
	j->last_fraction = fraction;
	j->progress_calls++;
	if (j->cancel_after_progress > 0 &&
	    j->progress_calls >= j->cancel_after_progress)
		atomic_store(&j->cancel, 1);
}

static int host_cancelled(const struct jobd_job *job)
{
	struct plugin_host_job *j = job_of(job);

	j->cancelled_polls++;
	return atomic_load(&j->cancel);
}

static void JOBD_PRINTF(2, 3)
        host_fail(struct jobd_job *job, const char *fmt, ...)
{
	va_list ap;
	char *dst;
	size_t len;

	if (job) {
		struct plugin_host_job *j = job_of(job);
		dst = j->fail_msg;
		len = sizeof(j->fail_msg);
		j->fail_calls++;
	} else {
		/* Only legal inside init(). With no job, nothing in the call
		 * says which host it is for; init runs on one thread, so a
		 * thread-local pointer to the host being initialised says. */
		struct plugin_host *h = initing;
		if (!h || !h->in_init)
			contract_broken(h, "fail(NULL, ...) outside init()");
		dst = h->init_fail;
		len = sizeof(h->init_fail);
	}
	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

static const char *host_job_id(const struct jobd_job *job)
{
	(void)job;
	return NULL;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
        JOBD_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct plugin_host *plugin_host_open(const char *path, const char *options,
                                     char *err, size_t errlen)
{
	struct plugin_host *h;
	jobd_plugin_entry_fn entry;
	json_t *opts = NULL;
	json_error_t jerr;
	int rc;

	if (!path)
		path = getenv("JOBD_PLUGIN");
	if (!path) {
		set_err(err, errlen, "no plugin path and JOBD_PLUGIN unset");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->host.size = sizeof(h->host);
	h->host.abi_minor = JOBD_PLUGIN_ABI_MINOR;
	h->host.log = host_log;
	h->host.progress = host_progress;
	h->host.cancelled = host_cancelled;
	h->host.fail = host_fail;
	h->host.job_id = host_job_id;

	h->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h->dl) {
		set_err(err, errlen, "%s", dlerror());
		goto fail;
	}
	/* POSIX blesses this cast from void * to a function pointer. */
	*(void **)&entry = dlsym(h->dl, JOBD_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		set_err(err, errlen, "%s: no symbol %s", path,
		        JOBD_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	h->plugin = entry();
	if (!h->plugin) {
		set_err(err, errlen, "%s: entry returned NULL", path);
		goto fail;
	}
	if (h->plugin->abi_major != JOBD_PLUGIN_ABI_MAJOR ||
	    h->plugin->size < sizeof(struct jobd_plugin) || !h->plugin->name ||
	    !h->plugin->process) {
		set_err(err, errlen,
		        "%s: bad descriptor (abi %u.%u, size %u, name %s)",
		        path, h->plugin->abi_major, h->plugin->abi_minor,
		        h->plugin->size,
		        h->plugin->name ? h->plugin->name : "(null)");
		h->plugin = NULL;
		goto fail;
	}

	opts = json_loads(options ? options : "{}", JSON_DECODE_ANY, &jerr);
	if (!opts) {
		set_err(err, errlen, "options: %s", jerr.text);
		goto fail;
	}
	if (h->plugin->init) {
		h->in_init = 1;
		initing = h;
		rc = h->plugin->init(&h->host, opts, &h->state);
		initing = NULL;
		h->in_init = 0;
		if (rc != JOBD_OK) {
			if (!h->init_fail[0])
				contract_broken(h,
				                "init returned %d without "
				                "fail(NULL, ...)",
				                rc);
			set_err(err, errlen, "%s", h->init_fail);
			h->plugin = NULL; /* no destroy after a failed init */
			goto fail;
		}
	}
	json_decref(opts);
	return h;

fail:
	json_decref(opts);
	if (h->dl)
		dlclose(h->dl);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return NULL;
}

void plugin_host_close(struct plugin_host *h)
{
	if (!h)
		return;
	if (h->plugin && h->plugin->destroy)
		h->plugin->destroy(h->state);
	dlclose(h->dl);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

const struct jobd_plugin *plugin_host_plugin(const struct plugin_host *h)
{
	return h->plugin;
}

int plugin_host_log_count(const struct plugin_host *h, int level)
{
	int n;

	if (level < 0 || level > 7)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	n = h->log_counts[level];
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
	return n;
}

void plugin_host_job_init(struct plugin_host_job *job,
                          const struct plugin_host *h)
{
	memset(job, 0, sizeof(*job));
	job->base.host = &h->host;
	atomic_init(&job->cancel, 0);
	job->first_fraction = -1.0;
	job->last_fraction = -1.0;
}

struct plugin_host_worker *plugin_host_worker_new(struct plugin_host *h)
{
	struct plugin_host_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->h = h;
	if (h->plugin->worker_init &&
	    h->plugin->worker_init(h->state, &w->worker_state) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void plugin_host_worker_free(struct plugin_host_worker *w)
{
	if (!w)
		return;
	if (w->h->plugin->worker_fini)
		w->h->plugin->worker_fini(w->h->state, w->worker_state);
	free(w);
}

int plugin_host_process(struct plugin_host_worker *w,
                        struct plugin_host_job *job, const json_t *input,
                        json_t **output)
{
	struct plugin_host *h = w->h;
	json_t *before = json_deep_copy(input);
	json_t *out = NULL;
	int rc;

	if (!before)
		contract_broken(h, "(host) out of memory copying input");
	rc = h->plugin->process(h->state, w->worker_state, &job->base, input,
	                        &out);
	if (!json_equal(before, input))
		contract_broken(h, "process() modified its input");
	json_decref(before);
	if (rc == JOBD_OK) {
		if (!out)
			contract_broken(h, "JOBD_OK without *output");
		*output = out;
	} else {
		if (rc < 0 || rc >= JOBD_E_COUNT_)
			contract_broken(h, "process() returned %d", rc);
		if (job->fail_calls == 0 || !job->fail_msg[0])
			contract_broken(h, "error %d without host->fail()", rc);
		/* The daemon ignores *output on error; so do we, but a set
		 * output would leak in the daemon, so count it as a breach. */
		if (out)
			contract_broken(h, "error %d with *output set", rc);
		*output = NULL;
	}
	return rc;
}

int plugin_host_call(struct plugin_host *h, const char *input_json,
                     json_t **output, struct plugin_host_job *job)
{
	struct plugin_host_job local;
	struct plugin_host_worker *w;
	json_error_t jerr;
	json_t *input;
	int rc;

	input = json_loads(input_json, JSON_DECODE_ANY, &jerr);
	if (!input) {
		fprintf(stderr,
		        "plugin_host_call: test input is not JSON: %s\n",
		        jerr.text);
		abort();
	}
	if (!job) {
		plugin_host_job_init(&local, h);
		job = &local;
	}
	w = plugin_host_worker_new(h);
	if (!w) {
		fprintf(stderr, "plugin_host_call: worker_init failed\n");
		abort();
	}
	rc = plugin_host_process(w, job, input, output);
	plugin_host_worker_free(w);
	json_decref(input);
	return rc;
}
