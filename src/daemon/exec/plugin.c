/* SPDX-License-Identifier: MIT */
#include "daemon/exec/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/exec/job.h"
#include "daemon/util/log.h"
#include "daemon/exec/arrays.h"
#include "daemon/exec/cache.h"
#include "daemon/exec/procpool.h"
#include "daemon/exec/provenance.h"
#include "daemon/store/store.h"
#include "wire/frame.h"
#include "wire/message.h"

/* Progress goes to clients at most this often per job; a plugin may call
 * progress() in its inner loop without flooding anyone. */
#define PROGRESS_INTERVAL_NS (100ull * 1000000ull)

static char *strdup_printf(const char *fmt, ...) JOBD_PRINTF(1, 2);
static char *strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* --- the host table ------------------------------------------------------ */

/* NOTE: fail(NULL, ...) inside init() has no job to name the plugin, and the
 * ABI gives fail() no host pointer; init runs on the main thread one plugin
 * at a time, so a thread-local names the plugin being initialised. */
static _Thread_local struct plugin *plugin_initializing;

static void host_log(const struct jobd_host *host, int level, const char *fmt,
                     ...)
{
	const struct plugin_host *h =
	        container_of(host, const struct plugin_host, pub);
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(level, "plugin %s: %s", plugin_name(h->plugin), line);
}

static void host_progress(struct jobd_job *pub, double fraction,
                          const char *message)
{
	struct job *j = (struct job *)pub;
	struct plugin *p = j->plugin;
	struct progress_note *n;
	uint64_t now = monotonic_ns();

	if (!(fraction >= 0.0)) /* also catches NaN */
		fraction = 0.0;
	if (fraction > 1.0)
		fraction = 1.0;
	if (now - j->progress_sent_ns < PROGRESS_INTERVAL_NS)
		return;
	n = calloc(1, sizeof(*n));
	if (!n)
		return; /* progress is advisory; losing one is harmless */
	j->progress_sent_ns = now;
	n->item.kind = CQ_PROGRESS;
	n->job = j;
	n->fraction = fraction;
	if (message)
		snprintf(n->message, sizeof(n->message), "%s", message);
	cq_push(p->done, &n->item);
}

static int host_cancelled(const struct jobd_job *pub)
{
	const struct job *j = (const struct job *)pub;

	if (atomic_load(&((struct job *)j)->stop_reason))
		return 1;
	return j->deadline_ns && monotonic_ns() >= j->deadline_ns;
}

static void host_fail(struct jobd_job *pub, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (pub) {
		struct job *j = (struct job *)pub;

		free(j->fail_msg);
		j->fail_msg = msg;
	} else if (plugin_initializing) {
		free(plugin_initializing->host.init_fail);
		plugin_initializing->host.init_fail = msg;
	} else {
		free(msg); /* fail(NULL) outside init: nothing to attach to */
	}
}

static const char *host_job_id(const struct jobd_job *pub)
{
	struct job *j = (struct job *)pub;
	const char *id;

	pthread_mutex_lock(&j->lock);
	id = j->has_job_id ? j->job_id : NULL;
	pthread_mutex_unlock(&j->lock);
	return id;
}

/* ABI 1.1: binary arrays. The job's arrays are touched only by the worker
 * running it while process() runs. */
static size_t host_input_count(const struct jobd_job *pub)
{
	const struct job *j = (const struct job *)pub;

	return j->arrays ? j->arrays->n_in : 0;
}

static int host_input_at(const struct jobd_job *pub, size_t i,
                         struct jobd_array *out)
{
	const struct job *j = (const struct job *)pub;

	if (!j->arrays || i >= j->arrays->n_in || !out)
		return JOBD_E_NOT_FOUND;
	*out = j->arrays->in[i];
	return JOBD_OK;
}

static int host_input_array(const struct jobd_job *pub, const char *name,
                            struct jobd_array *out)
{
	const struct job *j = (const struct job *)pub;
	const struct jobd_array *a = arrays_find_input(j->arrays, name);

	if (!a || !out)
		return JOBD_E_NOT_FOUND;
	*out = *a;
	return JOBD_OK;
}

static int host_output_array(struct jobd_job *pub, const char *name,
                             uint32_t dtype, uint32_t ndim,
                             const uint64_t *shape, void **data)
{
	struct job *j = (struct job *)pub;
	char why[200];
	void *dummy;
	int rc;

	if (!data)
		data = &dummy;
	*data = NULL;
	if (!j->arrays && !(j->arrays = arrays_new())) {
		rc = -ENOMEM;
		snprintf(why, sizeof(why), "out of memory");
	} else {
		rc = arrays_add_output(j->arrays, name, dtype, ndim, shape,
		                       atomic_load(&j->plugin->max_array_bytes),
		                       data, why, sizeof(why));
	}
	if (rc == 0)
		return JOBD_OK;
	free(j->fail_msg);
	j->fail_msg = strdup(why);
	return rc == -EINVAL  ? JOBD_E_BAD_REQUEST
	       : rc == -EFBIG ? JOBD_E_TOO_LARGE
	                      : JOBD_E_INTERNAL;
}

/* --- loading ------------------------------------------------------------- */

static bool name_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return n >= 1 && n <= 64;
}

/* Finds the loaded file with this identity. */
static struct plugin_file *file_find(struct plugin_files *files,
                                     const struct stat *st)
{
	struct plugin_file *f;

	for (f = files->head; f; f = f->next)
		if (f->dev == st->st_dev && f->ino == st->st_ino &&
		    f->size == st->st_size &&
		    f->mtime.tv_sec == st->st_mtim.tv_sec &&
		    f->mtime.tv_nsec == st->st_mtim.tv_nsec)
			return f;
	return NULL;
}

static void file_unref(struct plugin_file *f)
{
	struct plugin_file **pp;
	void *still;

	if (!f || --f->refs)
		return;
	for (pp = &f->owner->head; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->dl) {
		dlclose(f->dl);
		/* A library marked NODELETE stays loaded under our name:
		 * keep the descriptor so the name never means another file. */
		still = dlopen(f->dl_name,
		               RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
		if (still) {
			dlclose(still);
			f->fd = -1;
		}
	}
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/*
 * Takes fd, the plugin file as the registry opened and checked it, or
 * shares the loaded file if it is the same one.
 * NOTE: dlopen(path) returns the object already loaded under that path
 * string even when path now names another file (a .so replaced by rename
 * for a reload), so new calls would run the old code. Through
 * /proc/self/fd/N of a descriptor we hold, every load has a name of its
 * own: the same file is shared here, a new file is loaded afresh. The
 * descriptor stays open while the object is loaded, so no later load can
 * reuse the name. And what is loaded (and hashed for provenance) is the
 * very file the registry's trust check looked at: whatever path names by
 * now does not matter.
 */
static int file_open(struct plugin_files *files, int fd,
                     struct plugin_file **out, char **why)
{
	struct plugin_file *f;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int err = errno;

		*why = strdup_printf("cannot load: %s", strerror(err));
		close(fd);
		return -err;
	}
	f = file_find(files, &st);
	if (f) {
		close(fd);
		f->refs++;
		*out = f;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		*why = strdup("out of memory");
		return -ENOMEM;
	}
	f->owner = files;
	f->refs = 1;
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->mtime = st.st_mtim;
	f->size = st.st_size;
	snprintf(f->dl_name, sizeof(f->dl_name), "/proc/self/fd/%d", fd);
	/* For provenance: the exact build that makes every result. */
	if (sha256_fd_hex(fd, f->sha256) < 0)
		f->sha256[0] = '\0';
	f->next = files->head;
	files->head = f;
	f->dl = dlopen(f->dl_name, RTLD_NOW | RTLD_LOCAL);
	if (!f->dl) {
		*why = strdup_printf("cannot load: %s", dlerror());
		file_unref(f);
		return -EINVAL;
	}
	*out = f;
	return 0;
}

int plugin_open(struct plugin_files *files, const char *path, int fd,
                struct plugin **out, char **why)
{
	struct plugin *p;
	jobd_plugin_entry_fn entry;
	const struct jobd_plugin *d;
	int rc = -EINVAL;

	*why = NULL;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->path = strdup(path))) {
		free(p);
		close(fd);
		return -ENOMEM;
	}
	atomic_init(&p->refs, 1);
	atomic_init(&p->max_frame_size, FRAME_MAX_LIMIT);
	atomic_init(&p->max_array_bytes, (uint64_t)1 << 30);
	rc = file_open(files, fd, &p->file, why);
	if (rc < 0)
		goto fail;
	rc = -EINVAL;
	p->dl = p->file->dl;
	p->dev = p->file->dev;
	p->ino = p->file->ino;
	p->mtime = p->file->mtime;
	p->size = p->file->size;
	memcpy(p->sha256, p->file->sha256, sizeof(p->sha256));
	*(void **)&entry = dlsym(p->dl, JOBD_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		*why = strdup_printf("no %s symbol: not a jobd plugin",
		                     JOBD_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	d = entry();
	if (!d) {
		*why = strdup_printf("%s returned NULL",
		                     JOBD_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	if (d->abi_major != JOBD_PLUGIN_ABI_MAJOR) {
		*why = strdup_printf("ABI %u.%u, but this jobd speaks %u.%u",
		                     d->abi_major, d->abi_minor,
		                     JOBD_PLUGIN_ABI_MAJOR,
		                     JOBD_PLUGIN_ABI_MINOR);
		goto fail;
	}
	/* Every field of ABI 1.0 must be there; later minors only append. */
	if (d->size <
	    offsetof(struct jobd_plugin, process) + sizeof(d->process)) {
		*why = strdup_printf("descriptor of %u bytes is too small",
		                     d->size);
		goto fail;
	}
	if (!name_ok(d->name)) {
		*why = strdup_printf("invalid name (want 1-64 of [a-z0-9_-])");
		goto fail;
	}
	if (!d->process) {
		*why = strdup_printf("%s has no process function", d->name);
		goto fail;
	}
	p->desc = d;
	{
		struct provenance pv = {.plugin = d->name,
		                        .version = d->version,
		                        .plugin_sha256 = p->sha256};

		p->prov_static = provenance_static_text(&pv);
	}
	p->host.pub.size = sizeof(p->host.pub);
	p->host.pub.abi_minor = JOBD_PLUGIN_ABI_MINOR;
	p->host.pub.log = host_log;
	p->host.pub.progress = host_progress;
	p->host.pub.cancelled = host_cancelled;
	p->host.pub.fail = host_fail;
	p->host.pub.job_id = host_job_id;
	p->host.pub.input_count = host_input_count;
	p->host.pub.input_at = host_input_at;
	p->host.pub.input_array = host_input_array;
	p->host.pub.output_array = host_output_array;
	/* progress_arrays stays NULL: progress carries no arrays yet, which
	 * the ABI allows (JOBD_HOST_HAS says so to the plugin). */
	p->host.plugin = p;
	*out = p;
	return 0;
fail:
	if (!*why)
		*why = strdup("out of memory");
	plugin_unref(p);
	return rc;
}

/* --- running jobs -------------------------------------------------------- */

static int plugin_worker_init(void *ctx, void **worker_state)
{
	struct plugin *p = ctx;

	*worker_state = NULL;
	return p->desc->worker_init
	               ? p->desc->worker_init(p->state, worker_state)
	               : 0;
}

static void plugin_worker_fini(void *ctx, void *worker_state)
{
	struct plugin *p = ctx;

	if (p->desc->worker_fini)
		p->desc->worker_fini(p->state, worker_state);
}

/* A code a plugin may return; anything else is reported as plugin_failed
 * so that a plugin cannot make the daemon send a framing error. */
static bool plugin_code_ok(int code)
{
	return code == JOBD_E_BAD_REQUEST || code == JOBD_E_CANCELLED ||
	       code == JOBD_E_TIMEOUT || code == JOBD_E_PLUGIN_FAILED ||
	       code == JOBD_E_BUSY;
}

/* A result with output arrays: the frame as pieces in j->arrays->answer
 * (its arrays sent from their shared memory, uncopied). Returns 0, or -1
 * with j->status and *text saying why the client gets an error instead.
 * output is consumed on success only. */
static int plugin_encode_arrays(struct plugin *p, struct job *j, json_t *output,
                                const char *prov, char **text)
{
	uint32_t max = atomic_load(&p->max_frame_size);
	struct job_arrays *a = j->arrays;
	size_t json_len;
	bool detached;
	int rc;

	if (j->version < PROTOCOL_VERSION_ARRAYS) {
		j->status = JOBD_E_BAD_REQUEST;
		*text = strdup("the result carries binary arrays, which need "
		               "protocol version 2 (say so in hello)");
		return -1;
	}
	pthread_mutex_lock(&j->lock);
	detached = j->has_job_id;
	pthread_mutex_unlock(&j->lock);
	if (detached) {
		/* The store keeps JSON results only, for now. */
		j->status = JOBD_E_PLUGIN_FAILED;
		*text = strdup("a detached job's result cannot carry arrays "
		               "yet; call it without detaching");
		return -1;
	}
	rc = frame_encode_result_arrays(j->req_id, output, prov, a->out,
	                                a->n_out, &a->answer);
	if (rc < 0) {
		j->status = JOBD_E_PLUGIN_FAILED;
		return -1;
	}
	/* head = prefix, JSON, padding: the JSON is what max_frame_size
	 * bounds. */
	json_len = a->answer.head_len - FRAME_ARRAY_PREFIX_SIZE;
	while (json_len &&
	       a->answer.head[FRAME_ARRAY_PREFIX_SIZE + json_len - 1] == '\0')
		json_len--;
	if (json_len > max) {
		frame_out_fini(&a->answer);
		memset(&a->answer, 0, sizeof(a->answer));
		j->status = JOBD_E_PLUGIN_FAILED;
		*text = strdup_printf("output of %zu bytes is over "
		                      "max_frame_size %u",
		                      json_len, max);
		return -1;
	}
	json_decref(output);
	return 0;
}

/* Encodes the answer into j->frame on the worker, so the loop only writes
 * bytes: a result of output, or else the error msg (each consumed). An
 * answer that cannot be encoded, or that is larger than a client may
 * accept, becomes a plugin_failed error instead. */
static void plugin_encode_answer(struct plugin *p, struct job *j,
                                 json_t *output, json_t *msg, const char *prov)
{
	uint32_t max = atomic_load(&p->max_frame_size);
	struct job_arrays *a = j->arrays;
	char *text = NULL;
	int rc;

	if (output && a && a->n_out) {
		rc = plugin_encode_arrays(p, j, output, prov, &text);
		if (rc == 0) {
			json_decref(msg);
			return;
		}
		json_decref(output);
		goto fail;
	}
	/* A result goes straight to a frame (the common case, no message
	 * object around it); an error through the message codec. */
	if (output)
		rc = frame_encode_result(j->req_id, output, prov, &j->frame,
		                         &j->frame_len);
	else
		rc = frame_encode_prov(msg, prov, &j->frame, &j->frame_len);
	json_decref(output);
	if (rc == 0) {
		if (j->frame_len - FRAME_HEADER_SIZE <= max)
			goto done;
		text = strdup_printf("output of %zu bytes is over "
		                     "max_frame_size %u",
		                     j->frame_len - FRAME_HEADER_SIZE, max);
	}
fail:
	free(j->frame);
	j->frame = NULL;
	j->frame_len = 0;
	if (j->status == JOBD_OK)
		j->status = JOBD_E_PLUGIN_FAILED;
	json_decref(msg);
	msg = msg_error(true, j->req_id, j->status,
	                text ? text : "output could not be encoded");
	if (!msg || frame_encode(msg, &j->frame, &j->frame_len) < 0)
		j->frame = NULL; /* out of memory: the client gets nothing */
done:
	free(text);
	json_decref(msg);
}

/* Marks the job started. For a detached job, records the start in the
 * store and waits for the commit, so that after a crash the store knows
 * the job may have run (docs/jobs.md); only then may process() run. */
static int plugin_record_start(struct job *j)
{
	struct store_req *r;
	struct store *store;
	bool detached;
	int rc;

	pthread_mutex_lock(&j->lock);
	j->started = true;
	j->started_wall_ms = wall_ms();
	detached = j->has_job_id;
	store = j->store;
	pthread_mutex_unlock(&j->lock);
	if (!detached || !store)
		return JOBD_OK;
	r = store_req_new(STORE_START);
	if (!r)
		return JOBD_E_INTERNAL;
	memcpy(r->rec.id, j->job_id, STORE_ID_LEN);
	r->rec.started_ms = j->started_wall_ms;
	rc = store_call(store, r);
	store_req_free(r);
	if (rc == 0) {
		pthread_mutex_lock(&j->lock);
		j->start_recorded = true; /* status may say running now */
		pthread_mutex_unlock(&j->lock);
		return JOBD_OK;
	}
	free(j->fail_msg);
	j->fail_msg = strdup(rc == JOBD_E_NOT_FOUND
	                             ? "the job ended before it could start"
	                             : "the job store could not record the "
	                               "start; not run");
	return rc == JOBD_E_NOT_FOUND ? JOBD_E_CANCELLED : JOBD_E_INTERNAL;
}

/* The provenance of the run that just ended, as a struct and as the
 * JSON text that goes into the answer (malloc'd, or NULL). */
static char *plugin_provenance(struct plugin *p, struct job *j,
                               struct provenance *pv)
{
	size_t size;
	char *text;

	*pv = (struct provenance){
	        .plugin = p->desc->name,
	        .version = p->desc->version,
	        .plugin_sha256 = p->sha256,
	        .queued_ms = j->queued_wall_ms,
	        .started_ms = j->started_wall_ms,
	        .finished_ms = j->finished_wall_ms,
	        .cpu_seconds = j->cpu_seconds,
	        .attempt = j->prior_attempts + 1,
	        .options = p->options,
	        .arrays_sha256 = j->arrays_sha256,
	        .cached = j->cached,
	        .cpu_user_s = j->cpu_user_s,
	        .cpu_system_s = j->cpu_system_s,
	        .peak_rss_kb = j->peak_rss_kb,
	        .has_peak_rss = j->has_peak_rss,
	};
	/* The bytes that arrived, hashed on the loop as they lay in the
	 * frame; a job read back from the store has only its parsed input. */
	if (j->input_sha256[0])
		memcpy(pv->input_sha256, j->input_sha256,
		       sizeof(pv->input_sha256));
	else
		sha256_json_hex(j->input, pv->input_sha256);
	if (!p->prov_static)
		return NULL;
	size = strlen(p->prov_static) + 512 +
	       (j->arrays_sha256 ? strlen(j->arrays_sha256) + 32 : 0);
	text = malloc(size);
	if (text && provenance_text(pv, p->prov_static, text, size) < 0) {
		free(text);
		text = NULL;
	}
	return text;
}

int plugin_job_begin(struct plugin *p, struct job *j)
{
	int stop = atomic_load(&j->stop_reason);

	(void)p;
	if (stop)
		return stop; /* cancelled or timed out while queued */
	if (j->deadline_ns && monotonic_ns() >= j->deadline_ns)
		return JOBD_E_TIMEOUT;
	return plugin_record_start(j);
}

void plugin_job_end(struct plugin *p, struct job *j, int rc, json_t *output,
                    bool ran, bool daemon_code)
{
	json_t *msg;
	struct provenance pv;
	char *prov = NULL;
	int stop;

	if (ran) {
		prov = plugin_provenance(p, j, &pv);
		if (rc == JOBD_OK && !output) {
			rc = JOBD_E_PLUGIN_FAILED;
			free(j->fail_msg);
			j->fail_msg = strdup("plugin returned no output");
		}
		if (rc != JOBD_OK && !daemon_code) {
			json_decref(output);
			output = NULL;
			/* A plugin that stopped because of our stop signal
			 * says cancelled; tell the client the real reason. */
			stop = atomic_load(&j->stop_reason);
			if (rc == JOBD_E_CANCELLED && stop)
				rc = stop;
			else if (rc == JOBD_E_CANCELLED && j->deadline_ns &&
			         monotonic_ns() >= j->deadline_ns)
				rc = JOBD_E_TIMEOUT;
			if (!plugin_code_ok(rc)) {
				char *m = strdup_printf(
				        "plugin returned invalid code %d%s%s",
				        rc, j->fail_msg ? ": " : "",
				        j->fail_msg ? j->fail_msg : "");
				free(j->fail_msg);
				j->fail_msg = m;
				rc = JOBD_E_PLUGIN_FAILED;
			}
		}
	}
	if (rc != JOBD_OK) {
		json_decref(output);
		output = NULL;
	}
	j->status = rc;
	msg = NULL;
	if (rc == JOBD_OK) {
		j->output = json_incref(output);
	} else {
		const char *text = j->fail_msg;

		if (!text)
			text = rc == JOBD_E_TIMEOUT     ? "deadline passed"
			       : rc == JOBD_E_CANCELLED ? "cancelled"
			       : rc == JOBD_E_SHUTTING_DOWN
			               ? "jobd is shutting down"
			               : "plugin failed without a message";
		msg = msg_error(true, j->req_id, rc, text);
	}
	plugin_encode_answer(p, j, output, msg, prov);
	free(prov);
	/* A plain call needs nothing more than its encoded answer: free the
	 * rest here, on the thread that allocated it. Freeing it on the loop
	 * instead costs a cross-arena free per object in glibc's malloc,
	 * which measured as the largest single cost per call. A detached
	 * job keeps its output and provenance for the store. */
	pthread_mutex_lock(&j->lock);
	if (!j->has_job_id) {
		j->answer_only = true;
		json_decref(j->output);
		j->output = NULL;
	} else if (ran) {
		j->provenance = provenance_json(&pv);
	}
	pthread_mutex_unlock(&j->lock);
	if (j->status != rc) {
		/* The answer could not be sent as it was: a stored result
		 * must say the same as the client was told. */
		json_decref(j->output);
		j->output = NULL;
		free(j->fail_msg);
		j->fail_msg = strdup("output could not be encoded or is over "
		                     "max_frame_size");
	}
}

static double tv_seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* The result cache's key for j (cache.h) into key[65], or "" for none. */
static void plugin_cache_key(struct plugin *p, struct job *j, char key[65])
{
	key[0] = '\0';
	if (!p->cache)
		return;
	if (!j->input_sha256[0])
		sha256_json_hex(j->input, j->input_sha256);
	if (cache_key(p->sha256, p->options_sha256, j->input_sha256,
	              j->arrays_sha256, key) < 0)
		key[0] = '\0';
}

static void plugin_run(void *ctx, void *worker_state, struct job *j)
{
	struct plugin *p = ctx;
	json_t *output = NULL;
	bool ran = false;
	char key[65];
	int rc = plugin_job_begin(p, j);

	if (rc == JOBD_OK) {
		/* Hashed here, on the worker, from the bytes as received:
		 * the plugin only ever gets them read-only. */
		arrays_input_hashes(j->arrays, &j->arrays_sha256);
		plugin_cache_key(p, j, key);
	}
	if (rc == JOBD_OK && key[0] &&
	    result_cache_get(p->cache, key, &output) == 0) {
		/* The same build, options and input ran before. */
		j->cached = true;
		j->finished_wall_ms = wall_ms();
		ran = true;
	} else if (rc == JOBD_OK) {
		/* One getrusage on each side gives user and system time and
		 * their sum (cpu_seconds): as many syscalls as the thread CPU
		 * clock took alone (docs/benchmarks.md counts them). */
		struct rusage r0, r1;
		bool ru = getrusage(RUSAGE_THREAD, &r0) == 0;

		rc = p->desc->process(p->state, worker_state, &j->pub, j->input,
		                      &output);
		j->finished_wall_ms = wall_ms();
		if (ru && getrusage(RUSAGE_THREAD, &r1) == 0) {
			j->cpu_user_s = tv_seconds(&r1.ru_utime) -
			                tv_seconds(&r0.ru_utime);
			j->cpu_system_s = tv_seconds(&r1.ru_stime) -
			                  tv_seconds(&r0.ru_stime);
			j->cpu_seconds = j->cpu_user_s + j->cpu_system_s;
		}
		ran = true;
		/* Results with arrays are not cached (cache.h). */
		if (rc == JOBD_OK && output && key[0] &&
		    !(j->arrays && j->arrays->n_out))
			result_cache_put(p->cache, key, output);
	}
	plugin_job_end(p, j, rc, output, ran, false);
}

static const struct pool_ops plugin_pool_ops = {
        .worker_init = plugin_worker_init,
        .worker_fini = plugin_worker_fini,
        .run = plugin_run,
};

static int proc_begin(void *ctx, struct job *j)
{
	return plugin_job_begin(ctx, j);
}

static void proc_end(void *ctx, struct job *j, int rc, json_t *output, bool ran,
                     bool daemon_code)
{
	plugin_job_end(ctx, j, rc, output, ran, daemon_code);
}

static const struct procpool_ops plugin_procpool_ops = {
        .begin = proc_begin,
        .end = proc_end,
};

/* Process mode: init runs in each worker, never here, so a plugin that
 * crashes in init costs a worker, not the daemon. */
static int plugin_start_process(struct plugin *p,
                                const struct config_plugin *section,
                                struct cq *done, char **why)
{
	struct procpool_conf pc = {
	        .name = p->desc->name,
	        .path = p->path,
	        .plugin_fd = p->file->fd,
	        .options = section->options,
	        .flags = p->desc->flags,
	        .workers = section->workers,
	        .bound = section->queue_bound,
	        .queue_delay_ms = section->queue_delay_ms,
	        .memory_limit = section->memory_limit,
	        .kill_grace_ms = section->kill_grace_ms,
	        .max_crashes = section->max_crashes,
	        .crash_window_ms = section->crash_window_ms,
	        .max_attempts = section->max_attempts,
	        .max_frame = atomic_load(&p->max_frame_size),
	};
	struct procpool *pp;
	int rc;

	rc = procpool_new(&pc, &plugin_procpool_ops, p, done, &pp, why);
	if (rc < 0) {
		if (!*why)
			*why = strdup("cannot start its worker processes");
		return rc;
	}
	rc = pool_new_process(pp, &p->pool);
	if (rc < 0) {
		procpool_free(pp);
		*why = strdup("out of memory");
		return rc;
	}
	p->process = true;
	return 0;
}

int plugin_start(struct plugin *p, const struct config_plugin *section,
                 uint64_t target_delay_ms, struct cq *done, char **why)
{
	json_t *empty = NULL;
	const json_t *options = section->options;
	int rc;

	*why = NULL;
	p->done = done;
	p->timeout_ms = section->timeout_ms;
	p->max_attempts = section->max_attempts;
	if (section->isolation == CONFIG_ISOLATION_PROCESS)
		return plugin_start_process(p, section, done, why);
	if (!options)
		options = empty = json_object();
	if (p->desc->init) {
		plugin_initializing = p;
		rc = p->desc->init(&p->host.pub, options, &p->state);
		plugin_initializing = NULL;
		if (rc != 0) {
			*why = strdup_printf(
			        "init failed (code %d)%s%s", rc,
			        p->host.init_fail ? ": " : "",
			        p->host.init_fail ? p->host.init_fail : "");
			json_decref(empty);
			return -EINVAL;
		}
	}
	/* Provenance names the options every result is made with. */
	p->options = json_incref((json_t *)options);
	sha256_json_hex(options, p->options_sha256);
	{
		struct provenance pv = {.plugin = p->desc->name,
		                        .version = p->desc->version,
		                        .plugin_sha256 = p->sha256,
		                        .options = options};
		char *text = provenance_static_text(&pv);

		if (text) {
			free(p->prov_static);
			p->prov_static = text;
		}
	}
	json_decref(empty);
	p->started = true;
	/* The plugin's own queue_delay wins over the caller's default. */
	if (section->queue_delay_ms)
		target_delay_ms = section->queue_delay_ms;
	rc = pool_new(p->desc->name, section->workers, section->queue_bound,
	              target_delay_ms, &plugin_pool_ops, p, done, &p->pool);
	if (rc < 0) {
		*why = strdup_printf("cannot start its pool: %s",
		                     strerror(-rc));
		return rc;
	}
	return 0;
}

int plugin_set_cache(struct plugin *p, const char *dir, uint64_t max_bytes,
                     char **why)
{
	*why = NULL;
	if (p->process) {
		*why = strdup("cache: not yet for plugins in worker processes "
		              "(isolation: process); set isolation: thread to "
		              "cache it");
		return -ENOTSUP;
	}
	if (!(p->desc->flags & JOBD_PLUGIN_RETRY_SAFE)) {
		*why = strdup_printf("cache: only a retry-safe plugin (one "
		                     "whose result depends on its input alone) "
		                     "may be cached; %s is not",
		                     p->desc->name);
		return -EINVAL;
	}
	p->cache = result_cache_open(dir, max_bytes, why);
	return p->cache ? 0 : -EIO;
}

int plugin_reconfigure(struct plugin *p, const struct config_plugin *section)
{
	p->timeout_ms = section->timeout_ms;
	p->max_attempts = section->max_attempts;
	pool_set_target_delay(p->pool, section->queue_delay_ms);

	return pool_resize(p->pool, section->workers, section->queue_bound);
}

struct plugin *plugin_ref(struct plugin *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

void plugin_unref(struct plugin *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	pool_free(p->pool); /* joins workers: worker_fini has run */
	if (p->started && p->desc->destroy)
		p->desc->destroy(p->state);
	file_unref(p->file); /* dlclose()s when no instance is left */
	free(p->host.init_fail);
	free(p->prov_static);
	json_decref(p->options);
	result_cache_free(p->cache);
	free(p->path);
	free(p);
}

const char *plugin_name(const struct plugin *p)
{
	return p->desc ? p->desc->name : p->path;
}

bool plugin_file_changed(const struct plugin *p, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return true;
	return st.st_dev != p->dev || st.st_ino != p->ino ||
	       st.st_size != p->size || st.st_mtim.tv_sec != p->mtime.tv_sec ||
	       st.st_mtim.tv_nsec != p->mtime.tv_nsec;
}
