/* SPDX-License-Identifier: MIT */
/* The worker's protocol loop and host services (see worker.h). */
#include "worker/worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ipc/wchan.h"
#include "ipc/wmsg.h"
#include "wire/frame.h"
#include "worker/plugin_load.h"
#include "worker/pyhost.h"

/* As the daemon's thread mode: progress goes out at most this often, so a
 * plugin may report in its inner loop without flooding the socket. */
#define PROGRESS_INTERVAL_NS (100ull * 1000000ull)
/* cancelled() reads the socket at most this often. */
#define CANCEL_POLL_NS (1000000ull)

struct worker;

/* The running job as the plugin sees it: pub first. */
struct wjob {
	struct jobd_job pub;
	struct worker *w;
	int64_t id;
	const char *job_id;   /* borrowed from the job message */
	uint64_t deadline_ns; /* 0: none */
	atomic_int cancelled; /* a cancel or stop arrived, or the daemon left */
	char *fail_msg;
	uint64_t progress_sent_ns;
	uint64_t polled_ns;
};

struct worker {
	struct jobd_host host; /* first: host pointers lead back here */
	struct wchan ch;
	/* ch's two sides, each its own lock (wchan.h): sends come from any
	 * plugin thread (log); reads from the main thread between jobs and
	 * from cancelled() during one. A thread of the plugin that logs while
	 * the worker waits for a job must not wait for that job. */
	pthread_mutex_t send_lock, recv_lock;
	const struct jobd_plugin *desc;
	void *dl;
	void *state, *worker_state;
	int log_level;
	uint64_t fd_threshold;
	char *init_fail;
	int clear_refs_fd;   /* /proc/self/clear_refs, or -1 */
	struct wjob *job;    /* while process() runs */
	bool stop;           /* stop received, or the daemon is gone */
	bool broken;         /* protocol error or a dead socket: exit */
	bool protocol_error; /* broken by what the daemon sent */
	const char *broken_why;
};

/* NOTE: fail(NULL, ...) inside init() has no job to lead to the worker,
 * and the ABI gives fail() no host pointer: init runs once, on this
 * thread, so a static names the worker being initialised. */
static struct worker *initializing;

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sends msg (consumed) under the lock. A socket that fails means the
 * daemon is gone: the job stops and the worker exits after it. */
static void send_locked(struct worker *w, json_t *msg)
{
	int rc;

	if (!msg)
		return; /* out of memory: a log line or progress lost */
	rc = w->broken ? -EPIPE : wchan_send(&w->ch, msg, NULL, 0);
	json_decref(msg);
	if (rc < 0 && !w->broken) {
		w->broken_why = "socket write failed";
		w->broken = true; /* the running job sees it in cancelled() */
	}
}

static void send_msg(struct worker *w, json_t *msg)
{
	pthread_mutex_lock(&w->send_lock);
	send_locked(w, msg);
	pthread_mutex_unlock(&w->send_lock);
}

/* --- host services -------------------------------------------------------- */

static void host_log(const struct jobd_host *host, int level, const char *fmt,
                     ...)
{
	struct worker *w = (struct worker *)host;
	char line[1024];
	va_list ap;

	if (level > w->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	send_msg(w, wmsg_log(level, line));
}

static void host_progress(struct jobd_job *pub, double fraction,
                          const char *message)
{
	struct wjob *j = (struct wjob *)pub;
	uint64_t now = monotonic_ns();

	if (j->progress_sent_ns &&
	    now - j->progress_sent_ns < PROGRESS_INTERVAL_NS)
		return;
	j->progress_sent_ns = now;
	send_msg(j->w, wmsg_progress(j->id, fraction, message));
}

/* Takes in whatever the daemon sent while a job runs: only cancel and stop
 * may come. Lock held. */
static void poll_daemon(struct worker *w, struct wjob *j)
{
	struct wmsg_error err;
	struct wmsg m;
	ssize_t n;
	int rc;

	if (w->broken)
		return;
	do {
		n = wchan_read(&w->ch, MSG_DONTWAIT);
		while ((rc = wchan_next(&w->ch, WMSG_FROM_DAEMON, &m, &err)) ==
		       1) {
			if (m.type == WMSG_CANCEL && m.job == j->id) {
				atomic_store(&j->cancelled, 1);
			} else if (m.type == WMSG_STOP) {
				w->stop = true;
				atomic_store(&j->cancelled, 1);
			} else if (m.type != WMSG_CANCEL) {
				w->broken = w->protocol_error = true;
				w->broken_why = "a message other than cancel "
				                "or stop during a job";
				atomic_store(&j->cancelled, 1);
			}
			wmsg_fini(&m);
		}
		if (rc < 0) {
			w->broken = w->protocol_error = true;
			w->broken_why = "bad message during a job";
			atomic_store(&j->cancelled, 1);
			return;
		}
	} while (n > 0);
	if (n == 0 || (n < 0 && n != -EAGAIN)) {
		/* The daemon is gone or the stream broke: stop the job. */
		w->stop = true;
		if (n != 0) {
			w->broken = true;
			w->broken_why = "socket read failed";
		}
		atomic_store(&j->cancelled, 1);
	}
}

static int host_cancelled(const struct jobd_job *pub)
{
	struct wjob *j = (struct wjob *)pub;
	struct worker *w = j->w;
	uint64_t now;

	if (atomic_load(&j->cancelled) || w->broken)
		return 1;
	now = monotonic_ns();
	if (j->deadline_ns && now >= j->deadline_ns)
		return 1;
	if (now - j->polled_ns < CANCEL_POLL_NS)
		return 0;
	if (pthread_mutex_trylock(&w->recv_lock) != 0)
		return 0; /* another thread of the plugin is polling */
	j->polled_ns = now;
	poll_daemon(w, j);
	pthread_mutex_unlock(&w->recv_lock);
	return atomic_load(&j->cancelled);
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
		struct wjob *j = (struct wjob *)pub;

		free(j->fail_msg);
		j->fail_msg = msg;
	} else if (initializing) {
		free(initializing->init_fail);
		initializing->init_fail = msg;
	} else {
		free(msg); /* fail(NULL) outside init: nothing to attach to */
	}
}

static const char *host_job_id(const struct jobd_job *pub)
{
	return ((const struct wjob *)pub)->job_id;
}

/* --- start ---------------------------------------------------------------- */

/* Reads one message, blocking. Returns 1, 0 at end of stream, or -1 on a
 * protocol error (logged to stderr, which is the daemon's log). */
static int read_msg(struct worker *w, struct wmsg *m)
{
	struct wmsg_error err;
	ssize_t n;
	int rc;

	for (;;) {
		pthread_mutex_lock(&w->recv_lock);
		rc = wchan_next(&w->ch, WMSG_FROM_DAEMON, m, &err);
		if (rc == 0)
			n = wchan_read(&w->ch, 0);
		pthread_mutex_unlock(&w->recv_lock);
		if (rc == 1)
			return 1;
		if (rc < 0) {
			fprintf(stderr, "jobd-worker: bad message: %s\n",
			        err.text);
			return -1;
		}
		if (n == 0) {
			if (wchan_mid_frame(&w->ch)) {
				fprintf(stderr, "jobd-worker: the daemon "
				                "closed mid-message\n");
				return -1;
			}
			return 0;
		}
		if (n < 0) {
			fprintf(stderr, "jobd-worker: read: %s\n",
			        strerror((int)-n));
			return -1;
		}
	}
}

static int init_failed(struct worker *w, const char *stage, const char *why)
{
	send_msg(w, wmsg_init_failed(stage, why));
	return WORKER_EXIT_INIT_FAILED;
}

/* Loads and starts the plugin the init message names. Returns 0 or a
 * worker_exit status after init_failed went out. */
static int start_plugin(struct worker *w, struct wmsg *m)
{
	char *why = NULL;
	char comm[16];
	int fd = wmsg_take_fd(m, m->plugin_fd);
	int rc;

	w->log_level = m->log_level;
	w->fd_threshold = m->fd_threshold;
	/* NAME.py: the Python host serves it through a descriptor of its
	 * own (pyhost.h); everything after the load is the same. */
	if (pyhost_is_python(m->plugin))
		rc = pyhost_load(m->plugin, fd, &w->desc, &why);
	else
		rc = plugin_load(m->plugin, fd, &w->dl, &w->desc, &why);
	if (fd >= 0)
		close(fd); /* the mapping keeps the file */
	if (rc < 0) {
		rc = init_failed(w, "load", why);
		free(why);
		return rc;
	}
	/* "w:NAME" in ps and top: which plugin burns the CPU. */
	snprintf(comm, sizeof(comm), "w:%s", w->desc->name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	if (w->desc->init) {
		initializing = w;
		rc = w->desc->init(&w->host, m->options, &w->state);
		initializing = NULL;
		if (rc != 0) {
			char *text;

			if (asprintf(&text, "init failed (code %d)%s%s", rc,
			             w->init_fail ? ": " : "",
			             w->init_fail ? w->init_fail : "") < 0)
				text = NULL;
			rc = init_failed(w, "init", text);
			free(text);
			w->desc = NULL; /* destroy must not run */
			return rc;
		}
	}
	if (w->desc->worker_init &&
	    (rc = w->desc->worker_init(w->state, &w->worker_state)) != 0) {
		char text[64];

		snprintf(text, sizeof(text), "worker_init failed (code %d)",
		         rc);
		if (w->desc->destroy)
			w->desc->destroy(w->state);
		w->desc = NULL;
		return init_failed(w, "worker_init", text);
	}
	send_msg(w, wmsg_ready(w->desc->name, w->desc->version,
	                       w->desc->description, w->desc->flags,
	                       w->desc->abi_major, w->desc->abi_minor,
	                       (int64_t)getpid()));
	return 0;
}

/* --- jobs ----------------------------------------------------------------- */

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The peak RSS since the last reset, KiB: VmHWM of /proc/self/status.
 * NOTE: not ru_maxrss, which is the peak of the whole life of the process
 * and which nothing resets; clear_refs resets VmHWM (reset_peak). */
static uint64_t peak_rss_kb(void)
{
	char buf[4096];
	uint64_t kb = 0;
	ssize_t n;
	char *p;
	int fd;

	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nVmHWM:");
	if (p)
		kb = strtoull(p + 7, NULL, 10);
	return kb;
}

/* Resets the peak RSS to the current RSS, so VmHWM after the job is the
 * job's own peak. */
static bool reset_peak(struct worker *w)
{
	return w->clear_refs_fd >= 0 &&
	       pwrite(w->clear_refs_fd, "5", 1, 0) == 1;
}

/* The job's input: inline in the message, or in a sealed memfd. */
static json_t *job_input(struct wmsg *m, char *why, size_t size)
{
	json_error_t jerr;
	json_t *input;
	void *p;
	int fd;

	if (m->input_fd < 0)
		return json_incref(m->input);
	fd = wmsg_take_fd(m, m->input_fd);
	p = wchan_map(fd, m->input_size);
	if (!p) {
		snprintf(why, size, "input descriptor unusable: %s",
		         strerror(errno));
		close(fd);
		return NULL;
	}
	input = json_loadb(p, (size_t)m->input_size,
	                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	munmap(p, (size_t)m->input_size);
	close(fd);
	if (!input)
		snprintf(why, size, "input in descriptor is not JSON: %s",
		         jerr.text);
	return input;
}

/* Sends a result: output's text spliced into the frame (encoded once), or
 * put in a memfd when it is fd_threshold bytes or more. */
static void send_result(struct worker *w, int64_t id, json_t *output,
                        const struct wmsg_usage *u)
{
	char head[64], tail[256], *text, *frame = NULL;
	size_t tlen, hlen, taillen, len;
	int memfd = -1;
	json_t *msg = NULL;

	text = json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		goto fail;
	tlen = strlen(text);
	snprintf(tail, sizeof(tail),
	         ",\"usage\":{\"user_s\":%.6f,\"system_s\":%.6f,"
	         "\"maxrss_kb\":%" PRIu64 ",\"maxrss_delta_kb\":%" PRIu64
	         ",\"peak_reset\":%s}}",
	         u->user_s, u->system_s, u->maxrss_kb, u->maxrss_delta_kb,
	         u->peak_reset ? "true" : "false");
	if (w->fd_threshold && tlen >= w->fd_threshold) {
		memfd = wchan_memfd("jobd-output", text, tlen);
		free(text);
		text = NULL;
		if (memfd < 0)
			goto fail;
		msg = wmsg_result(id, NULL, 0, tlen, u, 1);
		pthread_mutex_lock(&w->send_lock);
		if (!msg || w->broken ||
		    wchan_send(&w->ch, msg, &memfd, 1) < 0) {
			w->broken = true;
			w->broken_why = "cannot send a result";
		}
		pthread_mutex_unlock(&w->send_lock);
		json_decref(msg);
		close(memfd);
		return;
	}
	hlen = (size_t)snprintf(
	        head, sizeof(head),
	        "{\"type\":\"result\",\"job\":%" PRId64 ",\"output\":", id);
	taillen = strlen(tail);
	len = hlen + tlen + taillen;
	if (len > FRAME_MAX_LIMIT)
		goto fail;
	frame = malloc(FRAME_HEADER_SIZE + len);
	if (!frame)
		goto fail;
	frame_put_header((uint8_t *)frame, (uint32_t)len);
	memcpy(frame + FRAME_HEADER_SIZE, head, hlen);
	memcpy(frame + FRAME_HEADER_SIZE + hlen, text, tlen);
	memcpy(frame + FRAME_HEADER_SIZE + hlen + tlen, tail, taillen);
	free(text);
	pthread_mutex_lock(&w->send_lock);
	if (w->broken ||
	    wchan_send_frame(&w->ch, frame, FRAME_HEADER_SIZE + len, NULL, 0) <
	            0) {
		w->broken = true;
		w->broken_why = "cannot send a result";
	}
	pthread_mutex_unlock(&w->send_lock);
	return;
fail:
	free(text);
	send_msg(w, wmsg_error(id, JOBD_E_INTERNAL,
	                       "the worker could not encode the output", u));
}

static void run_job(struct worker *w, struct wmsg *m)
{
	struct wjob j = {.pub = {.host = &w->host}, .w = w};
	struct rusage r0, r1;
	struct wmsg_usage u = {0};
	json_t *input, *output = NULL;
	uint64_t rss0;
	char why[256];
	int rc;

	j.id = m->job;
	j.job_id = m->job_id;
	atomic_init(&j.cancelled, 0);
	input = job_input(m, why, sizeof(why));
	if (!input) {
		send_msg(w, wmsg_error(j.id, JOBD_E_INTERNAL, why, NULL));
		return;
	}
	if (m->timeout_ms)
		j.deadline_ns = monotonic_ns() + m->timeout_ms * 1000000ull;
	u.peak_reset = reset_peak(w);
	rss0 = peak_rss_kb();
	getrusage(RUSAGE_SELF, &r0);
	rc = w->desc->process(w->state, w->worker_state, &j.pub, input,
	                      &output);
	getrusage(RUSAGE_SELF, &r1);
	u.maxrss_kb = peak_rss_kb();
	u.maxrss_delta_kb = u.maxrss_kb > rss0 ? u.maxrss_kb - rss0 : 0;
	u.user_s = tv_s(r1.ru_utime) - tv_s(r0.ru_utime);
	u.system_s = tv_s(r1.ru_stime) - tv_s(r0.ru_stime);
	json_decref(input);

	if (rc == JOBD_OK && !output) {
		rc = JOBD_E_PLUGIN_FAILED;
		free(j.fail_msg);
		j.fail_msg = strdup("plugin returned no output");
	}
	if (rc == JOBD_OK) {
		send_result(w, j.id, output, &u);
		json_decref(output);
	} else {
		json_decref(output);
		/* As in thread mode: a plugin that stopped at its deadline
		 * says cancelled; the daemon tells a client the real reason
		 * either way. */
		if (rc == JOBD_E_CANCELLED && j.deadline_ns &&
		    monotonic_ns() >= j.deadline_ns)
			rc = JOBD_E_TIMEOUT;
		if (!wmsg_plugin_code_ok(rc)) {
			char *text;

			if (asprintf(&text,
			             "plugin returned invalid code %d%s%s", rc,
			             j.fail_msg ? ": " : "",
			             j.fail_msg ? j.fail_msg : "") < 0)
				text = NULL;
			free(j.fail_msg);
			j.fail_msg = text;
			rc = JOBD_E_PLUGIN_FAILED;
		}
		send_msg(w, wmsg_error(j.id, rc,
		                       j.fail_msg               ? j.fail_msg
		                       : rc == JOBD_E_CANCELLED ? "cancelled"
		                       : rc == JOBD_E_TIMEOUT
		                               ? "deadline passed"
		                               : "plugin failed without a "
		                                 "message",
		                       &u));
	}
	free(j.fail_msg);
}

/* --- the loop ------------------------------------------------------------- */

int worker_run(int sock)
{
	struct worker w = {0};
	struct wmsg m;
	int rc, status = WORKER_EXIT_OK;

	w.host.size = sizeof(w.host);
	w.host.abi_minor = JOBD_PLUGIN_ABI_MINOR;
	w.host.log = host_log;
	w.host.progress = host_progress;
	w.host.cancelled = host_cancelled;
	w.host.fail = host_fail;
	w.host.job_id = host_job_id;
	w.log_level = JOBD_LOG_INFO;
	pthread_mutex_init(&w.send_lock, NULL);
	pthread_mutex_init(&w.recv_lock, NULL);
	wchan_init(&w.ch, sock, FRAME_MAX_LIMIT);
	w.clear_refs_fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

	rc = read_msg(&w, &m);
	if (rc <= 0) {
		status = rc == 0 ? WORKER_EXIT_OK : WORKER_EXIT_PROTOCOL;
		goto out;
	}
	if (m.type != WMSG_INIT) {
		fprintf(stderr, "jobd-worker: %s before init\n",
		        wmsg_type_name(m.type));
		wmsg_fini(&m);
		status = WORKER_EXIT_PROTOCOL;
		goto out;
	}
	status = start_plugin(&w, &m);
	wmsg_fini(&m);
	if (status)
		goto out;

	while (!w.stop && !w.broken) {
		rc = read_msg(&w, &m);
		if (rc <= 0) {
			if (rc < 0)
				status = WORKER_EXIT_PROTOCOL;
			break;
		}
		switch (m.type) {
		case WMSG_JOB:
			run_job(&w, &m);
			break;
		case WMSG_CANCEL:
			break; /* for a job already answered */
		case WMSG_STOP:
			w.stop = true;
			break;
		default:
			fprintf(stderr, "jobd-worker: unexpected %s\n",
			        wmsg_type_name(m.type));
			w.broken = true;
			status = WORKER_EXIT_PROTOCOL;
			break;
		}
		wmsg_fini(&m);
	}
	if (w.broken && w.broken_why) {
		fprintf(stderr, "jobd-worker: %s\n", w.broken_why);
		if (w.protocol_error)
			status = WORKER_EXIT_PROTOCOL;
	}
	if (w.desc) {
		if (w.desc->worker_fini)
			w.desc->worker_fini(w.state, w.worker_state);
		if (w.desc->destroy)
			w.desc->destroy(w.state);
	}
out:
	/* Not dlclose(): a plugin's threads or atexit handlers may still
	 * point into it, and the process ends now anyway. */
	pthread_mutex_lock(&w.send_lock);
	wchan_flush(&w.ch);
	pthread_mutex_unlock(&w.send_lock);
	wchan_fini(&w.ch);
	free(w.init_fail);
	if (w.clear_refs_fd >= 0)
		close(w.clear_refs_fd);
	return status;
}
