/* SPDX-License-Identifier: MIT */
/*
 * worker-rtt: what a job costs through a jobd-worker process compared with
 * calling the plugin in-process (docs/isolation.md, docs/benchmarks.md).
 *
 *   JOBD_WORKER_PATH=build/src/worker/jobd-worker \
 *       build/bench/worker-rtt [-n SCALE] build/plugins/echo.so
 *
 * For each input size, one after another on one thread:
 *   direct  process() on this thread, then json_dumps() of the output (the
 *           encoding thread mode does for the answer anyway);
 *   worker  the job message encoded and written to the worker's socket, the
 *           worker parses it, calls process(), encodes the result, and this
 *           side reads and parses it (wmsg), the daemon's exec layer's
 *           share of a call;
 *   memfd   the same with outputs of 64 KiB or more passed back in a sealed
 *           memfd (fd_threshold) and mapped here.
 * Prints mean, p50 and p99 per call. No pass/fail: figures for the docs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jobd/plugin.h>

#include "hist.h"
#include "ipc/wchan.h"
#include "ipc/wmsg.h"
#include "spawn/spawn.h"
#include "worker/plugin_load.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "worker-rtt: %s: %s\n", what, strerror(err));
	exit(1);
}

/* A host table for the direct calls: nothing to report to. */
static void h_log(const struct jobd_host *h, int level, const char *fmt, ...)
{
}
static void h_progress(struct jobd_job *j, double f, const char *m)
{
}
static int h_cancelled(const struct jobd_job *j)
{
	return 0;
}
static void h_fail(struct jobd_job *j, const char *fmt, ...)
{
}
static const char *h_job_id(const struct jobd_job *j)
{
	return NULL;
}
static const struct jobd_host host = {
        .size = sizeof(struct jobd_host),
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .log = h_log,
        .progress = h_progress,
        .cancelled = h_cancelled,
        .fail = h_fail,
        .job_id = h_job_id,
};

/* An input of about size bytes of JSON text. */
static json_t *input_of(size_t size)
{
	char *text;
	json_t *v;

	if (size <= 16)
		return json_pack("{si}", "x", 1);
	text = malloc(size + 1);
	memset(text, 'a', size);
	text[size] = '\0';
	v = json_pack("{ss}", "x", text);
	free(text);
	return v;
}

static void report(const char *how, size_t size, const struct hist *h)
{
	printf("%-7s %9zu %10.2f %10.2f %10.2f\n", how, size,
	       hist_mean(h) / 1e3, hist_quantile(h, 0.5) / 1e3,
	       hist_quantile(h, 0.99) / 1e3);
}

static void direct(const struct jobd_plugin *d, void *state, json_t *in, int n,
                   struct hist *h)
{
	struct jobd_job job = {.host = &host};

	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		json_t *out = NULL;
		char *text;

		if (d->process(state, NULL, &job, in, &out) != JOBD_OK)
			die("process", EIO);
		text = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
		free(text);
		json_decref(out);
		hist_add(h, now_ns() - t0);
	}
}

struct worker {
	struct spawn_child child;
	struct wchan ch;
};

static void next(struct worker *w, struct wmsg *m)
{
	struct wmsg_error err;
	int rc;

	while ((rc = wchan_next(&w->ch, WMSG_FROM_WORKER, m, &err)) == 0)
		if (wchan_read(&w->ch, 0) <= 0)
			die("worker closed", EPIPE);
	if (rc < 0) {
		fprintf(stderr, "worker-rtt: %s\n", err.text);
		exit(1);
	}
}

static void worker_start(struct worker *w, const char *plugin,
                         uint64_t fd_threshold)
{
	struct spawn_opts o = {.worker_path = spawn_worker_path(),
	                       .stderr_fd = 2};
	json_t *msg;
	struct wmsg m;
	int rc;

	rc = spawn_worker(&o, &w->child);
	if (rc < 0)
		die(o.worker_path, -rc);
	wchan_init(&w->ch, w->child.sock, 0);
	msg = wmsg_init(plugin, -1, NULL, 0, JOBD_LOG_INFO, fd_threshold, 0);
	if (wchan_send(&w->ch, msg, NULL, 0) < 0)
		die("send init", EPIPE);
	json_decref(msg);
	next(w, &m);
	if (m.type != WMSG_READY)
		die("worker not ready", EINVAL);
	wmsg_fini(&m);
}

static void worker_stop(struct worker *w)
{
	struct spawn_exit ex;

	close(w->child.sock);
	spawn_reap(w->child.pid, 0, &ex);
	wchan_fini(&w->ch);
}

static void via_worker(struct worker *w, json_t *in, int n, struct hist *h)
{
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		json_t *msg = wmsg_job(i, in, -1, 0, 0, NULL, 0);
		struct wmsg m;

		if (wchan_send(&w->ch, msg, NULL, 0) < 0)
			die("send job", EPIPE);
		json_decref(msg);
		next(w, &m);
		if (m.type != WMSG_RESULT)
			die("no result", EINVAL);
		if (m.output_fd >= 0) {
			/* The daemon maps the output to build the answer. */
			void *p = wchan_map(m.fds[m.output_fd], m.output_size);

			if (!p)
				die("map", errno);
			munmap(p, m.output_size);
		}
		wmsg_fini(&m);
		hist_add(h, now_ns() - t0);
	}
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {16, 1024, 65536, 1048576};
	static struct hist h;
	const struct jobd_plugin *d;
	struct worker w, wm;
	int scale = 1, argi = 1;
	void *dl, *state = NULL;
	char *why;

	if (argc > 2 && !strcmp(argv[1], "-n")) {
		scale = atoi(argv[2]);
		argi = 3;
	}
	if (argi >= argc || scale < 1) {
		fprintf(stderr, "usage: worker-rtt [-n SCALE] PLUGIN.so\n");
		return 2;
	}
	if (plugin_load(argv[argi], -1, &dl, &d, &why) < 0) {
		fprintf(stderr, "worker-rtt: %s\n", why);
		return 1;
	}
	if (d->init) {
		json_t *opts = json_object();

		if (d->init(&host, opts, &state) != 0)
			die("init", EINVAL);
		json_decref(opts);
	}
	worker_start(&w, argv[argi], 0);
	worker_start(&wm, argv[argi], 65536);
	printf("%-7s %9s %10s %10s %10s   (microseconds per call)\n", "how",
	       "bytes", "mean", "p50", "p99");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		json_t *in = input_of(sizes[i]);
		int n = scale * (int)(sizes[i] <= 1024    ? 20000
		                      : sizes[i] <= 65536 ? 2000
		                                          : 200);

		/* Warm up each path, then measure. */
		hist_reset(&h);
		direct(d, state, in, n / 10, &h);
		hist_reset(&h);
		direct(d, state, in, n, &h);
		report("direct", sizes[i], &h);
		hist_reset(&h);
		via_worker(&w, in, n / 10, &h);
		hist_reset(&h);
		via_worker(&w, in, n, &h);
		report("worker", sizes[i], &h);
		if (sizes[i] >= 65536) {
			hist_reset(&h);
			via_worker(&wm, in, n / 10, &h);
			hist_reset(&h);
			via_worker(&wm, in, n, &h);
			report("memfd", sizes[i], &h);
		}
		json_decref(in);
	}
	worker_stop(&w);
	worker_stop(&wm);
	return 0;
}
