/*
 * The real jobd-worker with real plugins (bundled ones, tests/plugins/bad/
 * and tests/plugins/crash/crashy.so), spawned through the spawn library and
 * driven over the worker protocol as the daemon's exec layer will: results,
 * crash statuses, memory limits, cancel, deadlines, killing a hung worker's
 * process group, descriptors and privileges.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jobd/plugin.h>

#include "spawn/memlimit.h"
#include "wk.h"
#include "worker/worker.h"

#define MiB (1024ull * 1024ull)

static const char *crashy(void)
{
	return wk_plugin("JOBD_CRASH_PLUGIN_DIR", "crashy");
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs one job that kills the worker and returns the description. */
static void crash_with(const char *input, const char *want)
{
	char text[128];
	struct wmsg m;
	struct wk w;

	wk_start(&w, crashy(), NULL, 0);
	wk_job(&w, 1, input, 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 0); /* no answer */
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	spawn_describe(&w.exit, text, sizeof(text));
	ck_assert_msg(!strncmp(text, want, strlen(want)), "%s: got \"%s\"",
	              input, text);
	wk_free(&w);
}

/* ---- results ---- */

START_TEST(echo_result)
{
	struct wmsg m;
	struct wk w;
	json_t *in, *out;

	wk_spawn(&w, 0);
	wk_init(&w, wk_plugin("JOBD_PLUGIN_DIR", "echo"), NULL, false, 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_READY);
	ck_assert_str_eq(m.name, "echo");
	ck_assert_int_eq(m.abi_major, JOBD_PLUGIN_ABI_MAJOR);
	ck_assert_int_eq(m.pid, w.child.pid);
	wmsg_fini(&m);

	wk_job(&w, 7, "{\"a\": [1, 2.5, \"\\u00e9\\u0000\"], \"b\": null}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	ck_assert_int_eq(m.job, 7);
	ck_assert(m.has_usage);
	in = json_loads("{\"a\": [1, 2.5, \"\\u00e9\\u0000\"], \"b\": null}",
	                JSON_ALLOW_NUL, NULL);
	out = wk_output(&m);
	ck_assert(json_equal(in, out));
	ck_assert_uint_gt(m.usage.maxrss_kb, 0);
	json_decref(in);
	json_decref(out);
	wmsg_fini(&m);

	/* A second job on the same worker, then a clean stop. */
	wk_job(&w, 8, "[true]", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.job, 8);
	wmsg_fini(&m);
	wk_send(&w, wmsg_stop());
	ck_assert_int_eq(wk_recv(&w, &m, 10000), 0);
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	ck_assert(w.exit.exited);
	ck_assert_int_eq(w.exit.code, WORKER_EXIT_OK);
	wk_free(&w);
}
END_TEST

/* Every bundled plugin answers through a worker as it does in-process. */
START_TEST(bundled_plugins)
{
	static const char *const cases[][2] = {
	        {"echo", "{\"x\": 1}"},
	        {"sleep", "{\"ms\": 5}"},
	        {"template", "{\"name\": \"Ada\", \"repeat\": 2}"},
	};
	struct wmsg m;
	struct wk w;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wk_start(&w, wk_plugin("JOBD_PLUGIN_DIR", cases[i][0]), NULL,
		         0);
		wk_job(&w, 1, cases[i][1], 0);
		ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
		ck_assert_msg(m.type == WMSG_RESULT, "%s: %s: %s", cases[i][0],
		              wmsg_type_name(m.type),
		              m.message ? m.message : "");
		wmsg_fini(&m);
		wk_free(&w);
	}
}
END_TEST

/* The .so passed as a descriptor: the worker loads exactly that file. */
START_TEST(plugin_by_fd)
{
	struct wmsg m;
	struct wk w;

	wk_spawn(&w, 0);
	wk_init(&w, crashy(), NULL, true, 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_READY);
	ck_assert_str_eq(m.name, "crashy");
	ck_assert_str_eq(m.description, "crashes, hangs and leaks on request");
	wmsg_fini(&m);
	wk_free(&w);
}
END_TEST

START_TEST(plugin_errors)
{
	struct wmsg m;
	struct wk w;

	wk_start(&w, wk_plugin("JOBD_TEST_PLUGIN_DIR", "misbehave"), NULL, 0);
	wk_job(&w, 1, "{\"do\": \"fail\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_ERROR);
	ck_assert_int_eq(m.code, JOBD_E_PLUGIN_FAILED);
	ck_assert_str_eq(m.message, "the model diverged at step 17");
	ck_assert(m.has_usage);
	wmsg_fini(&m);

	wk_job(&w, 2, "{\"do\": \"badcode\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.code, JOBD_E_PLUGIN_FAILED);
	ck_assert_str_eq(m.message,
	                 "plugin returned invalid code 999: strange");
	wmsg_fini(&m);

	wk_job(&w, 3, "{\"do\": \"null\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.code, JOBD_E_PLUGIN_FAILED);
	ck_assert_str_eq(m.message, "plugin returned no output");
	wmsg_fini(&m);

	/* A million progress reports leave as a handful of messages. */
	wk_job(&w, 4, "{\"do\": \"flood\"}", 0);
	for (int n = 0;; n++) {
		ck_assert_int_eq(wk_recv(&w, &m, 10000), 1);
		if (m.type == WMSG_RESULT) {
			ck_assert_int_lt(n, 1000);
			wmsg_fini(&m);
			break;
		}
		ck_assert_int_eq(m.type, WMSG_PROGRESS);
		wmsg_fini(&m);
	}
	wk_free(&w);
}
END_TEST

START_TEST(log_progress_job_id)
{
	struct wmsg m;
	struct wk w;
	json_t *in = json_pack("{ss}", "do", "talk");
	bool logged = false, progressed = false;

	wk_start(&w, crashy(), NULL, 0);
	wk_send(&w, wmsg_job(5, in, -1, 0, 0, "j-0123", 0));
	json_decref(in);
	for (;;) {
		ck_assert_int_eq(wk_recv(&w, &m, 10000), 1);
		if (m.type == WMSG_LOG) {
			ck_assert_int_eq(m.level, JOBD_LOG_NOTICE);
			ck_assert_str_eq(m.text, "talking 42");
			logged = true;
		} else if (m.type == WMSG_PROGRESS) {
			ck_assert_int_eq(m.job, 5);
			ck_assert(m.fraction == 0.5);
			ck_assert_str_eq(m.message, "half");
			progressed = true;
		} else {
			ck_assert_int_eq(m.type, WMSG_RESULT);
			ck_assert_str_eq(json_string_value(json_object_get(
			                         m.output, "job")),
			                 "j-0123");
			wmsg_fini(&m);
			break;
		}
		wmsg_fini(&m);
	}
	ck_assert(logged && progressed);
	wk_free(&w);
}
END_TEST

/* A thread of the plugin logs while the worker waits for a job: its lines
 * go out at once, not when the next job comes. */
START_TEST(log_from_plugin_thread)
{
	struct wmsg m;
	struct wk w;
	int ticks = 0;

	wk_start(&w, crashy(), "{\"ticker\": true}", 0);
	while (ticks < 3) {
		ck_assert_int_eq(wk_recv(&w, &m, 5000), 1);
		ck_assert_int_eq(m.type, WMSG_LOG);
		ck_assert(!strncmp(m.text, "tick ", 5));
		ticks++;
		wmsg_fini(&m);
	}
	wk_job(&w, 1, "{\"do\": \"echo\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 5000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	wmsg_fini(&m);
	wk_free(&w);
}
END_TEST

/* Large inputs and outputs cross as sealed memfds. */
START_TEST(memfd_payloads)
{
	struct wmsg m;
	struct wk w;
	json_t *out, *in;
	char *text;
	int fd;

	wk_spawn(&w, 0);
	wk_init(&w, crashy(), NULL, false, 4096);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	wmsg_fini(&m);

	wk_job(&w, 1, "{\"do\": \"big\", \"n\": 100000}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	ck_assert_int_eq(m.output_fd, 0);
	ck_assert_uint_eq(m.output_size, 100002);
	out = wk_output(&m);
	ck_assert_uint_eq(json_string_length(out), 100000);
	json_decref(out);
	wmsg_fini(&m);

	/* Small outputs stay inline. */
	wk_job(&w, 2, "{\"do\": \"big\", \"n\": 10}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.output_fd, -1);
	wmsg_fini(&m);

	/* An input in a memfd. */
	in = json_pack("{ss,s[iii]}", "do", "echo", "v", 1, 2, 3);
	text = json_dumps(in, JSON_COMPACT);
	fd = wchan_memfd("input", text, strlen(text));
	ck_assert_int_ge(fd, 0);
	{
		json_t *msg = wmsg_job(3, NULL, 0, strlen(text), 0, NULL, 1);

		ck_assert_int_eq(wchan_send(&w.ch, msg, &fd, 1), 0);
		json_decref(msg);
	}
	close(fd);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	ck_assert(json_equal(m.output, in));
	wmsg_fini(&m);

	/* An unsealed descriptor is refused, and the worker goes on. */
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	{
		json_t *msg = wmsg_job(4, NULL, 0, strlen(text), 0, NULL, 1);

		ck_assert_int_eq(wchan_send(&w.ch, msg, &fd, 1), 0);
		json_decref(msg);
	}
	close(fd);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_ERROR);
	ck_assert_int_eq(m.code, JOBD_E_INTERNAL);
	wmsg_fini(&m);
	free(text);
	json_decref(in);
	wk_free(&w);
}
END_TEST

/* ---- crashes ---- */

START_TEST(crash_segv)
{
	crash_with("{\"do\": \"segv\"}", "killed by signal 11 (SIGSEGV)");
}
END_TEST

START_TEST(crash_abort)
{
	crash_with("{\"do\": \"abort\"}", "killed by signal 6 (SIGABRT)");
}
END_TEST

START_TEST(crash_exit3)
{
	crash_with("{\"do\": \"exit3\"}", "exited with status 3");
}
END_TEST

START_TEST(crash_stack)
{
	crash_with("{\"do\": \"stack\"}", "killed by signal 11 (SIGSEGV)");
}
END_TEST

START_TEST(crash_in_init)
{
	char text[128];
	struct wmsg m;
	struct wk w;

	wk_spawn(&w, 0);
	wk_init(&w, crashy(), "{\"init\": \"segv\"}", false, 0);
	ck_assert_int_eq(wk_recv(&w, &m, 10000), 0);
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	ck_assert_str_eq(spawn_describe(&w.exit, text, sizeof(text)),
	                 "killed by signal 11 (SIGSEGV)");
	wk_free(&w);
}
END_TEST

/* ---- refusals at start ---- */

static void start_refused(const char *plugin, const char *options,
                          const char *stage, const char *reason)
{
	struct wmsg m;
	struct wk w;

	wk_spawn(&w, 0);
	wk_init(&w, plugin, options, false, 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_INIT_FAILED);
	ck_assert_str_eq(m.stage, stage);
	ck_assert_msg(strstr(m.message, reason), "%s: \"%s\" lacks \"%s\"",
	              plugin, m.message, reason);
	wmsg_fini(&m);
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	ck_assert(w.exit.exited);
	ck_assert_int_eq(w.exit.code, WORKER_EXIT_INIT_FAILED);
	wk_free(&w);
}

START_TEST(refusals)
{
	char abi[64];

	/* The worker speaks the ABI of the header it was built with. */
	snprintf(abi, sizeof(abi), "ABI 99.0, but this jobd speaks %d.%d",
	         JOBD_PLUGIN_ABI_MAJOR, JOBD_PLUGIN_ABI_MINOR);
	start_refused(wk_plugin("JOBD_BAD_PLUGIN_DIR", "wrongabi"), NULL,
	              "load", abi);
	start_refused(wk_plugin("JOBD_BAD_PLUGIN_DIR", "noentry"), NULL, "load",
	              "no jobd_plugin_entry symbol");
	start_refused(wk_plugin("JOBD_BAD_PLUGIN_DIR", "undefsym"), NULL,
	              "load", "cannot load");
	start_refused("/nonexistent/x.so", NULL, "load", "cannot load");
	start_refused(wk_plugin("JOBD_BAD_PLUGIN_DIR", "initfail"), NULL,
	              "init", "init failed");
	start_refused(crashy(), "{\"init\": \"fail\"}", "init",
	              "init failed (code 12): no model file at /nonexistent");
	start_refused(crashy(), "{\"worker_init\": \"fail\"}", "worker_init",
	              "worker_init failed (code 12)");
}
END_TEST

/* ---- memory ---- */

/* An unbounded allocation under a 64 MiB limit kills the worker, and its
 * peak RSS says why. */
START_TEST(memory_limit_death)
{
	char text[128];
	struct wmsg m;
	struct wk w;

	if (getenv("JOBD_TEST_SANITIZED")) {
		/* A sanitizer's shadow memory does not fit in 64 MiB. */
		fprintf(stderr, "memory_limit_death: skipped in a sanitizer "
		                "build\n");
		return;
	}
	wk_start(&w, crashy(), NULL, 64 * MiB);
	wk_job(&w, 1, "{\"do\": \"alloc\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 30000), 0);
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	spawn_describe(&w.exit, text, sizeof(text));
	ck_assert_str_eq(text, "killed by signal 6 (SIGABRT)");
	ck_assert_msg(memlimit_rlimit_exhausted(w.exit.maxrss_kb, 64 * MiB),
	              "peak %lu KiB", (unsigned long)w.exit.maxrss_kb);
	ck_assert_uint_le(w.exit.maxrss_kb, 64 * 1024 + 8 * 1024);
	wk_free(&w);

	/* A plugin that checks malloc fails its job and lives on. */
	wk_start(&w, crashy(), NULL, 64 * MiB);
	wk_job(&w, 1, "{\"do\": \"alloc_check\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 30000), 1);
	ck_assert_int_eq(m.type, WMSG_ERROR);
	ck_assert_msg(strstr(m.message, "out of memory after"), "%s",
	              m.message);
	ck_assert_uint_ge(m.usage.maxrss_kb, 40 * 1024);
	wmsg_fini(&m);
	wk_job(&w, 2, "{\"do\": \"echo\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	wmsg_fini(&m);
	wk_free(&w);

	/* A crash far below the limit is not taken for one. */
	ck_assert(!memlimit_rlimit_exhausted(4096, 64 * MiB));
	ck_assert(!memlimit_rlimit_exhausted(4096, 0));
}
END_TEST

/* Each job's usage is its own: peak RSS and CPU of that job only. */
START_TEST(usage_per_job)
{
	struct wmsg m;
	struct wk w;

	wk_start(&w, crashy(), NULL, 0);
	wk_job(&w, 1, "{\"do\": \"grow\", \"mb\": 48}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	ck_assert(m.usage.peak_reset);
	ck_assert_uint_ge(m.usage.maxrss_delta_kb, 40 * 1024);
	ck_assert_uint_ge(m.usage.maxrss_kb, 48 * 1024);
	wmsg_fini(&m);

	/* The next job's peak is not the last job's. */
	wk_job(&w, 2, "{\"do\": \"burn\", \"ms\": 200}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	ck_assert_uint_lt(m.usage.maxrss_delta_kb, 4 * 1024);
	/* (A sanitizer keeps freed memory resident in its quarantine.) */
	if (!getenv("JOBD_TEST_SANITIZED"))
		ck_assert_uint_lt(m.usage.maxrss_kb, 40 * 1024);
	ck_assert_msg(m.usage.user_s + m.usage.system_s >= 0.195 &&
	                      m.usage.user_s + m.usage.system_s < 1.0,
	              "cpu %f + %f", m.usage.user_s, m.usage.system_s);
	wmsg_fini(&m);
	wk_free(&w);
}
END_TEST

/* ---- cancel, deadline, hang ---- */

START_TEST(cancel_running)
{
	struct wmsg m;
	struct wk w;
	double t0;

	wk_start(&w, crashy(), NULL, 0);
	/* A cancel for no running job is ignored. */
	wk_send(&w, wmsg_cancel(99));
	wk_job(&w, 1, "{\"do\": \"sleep\", \"ms\": 20000}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 100), -1); /* running */
	t0 = now_ms();
	wk_send(&w, wmsg_cancel(1));
	ck_assert_int_eq(wk_recv_answer(&w, &m, 5000), 1);
	ck_assert_int_eq(m.type, WMSG_ERROR);
	ck_assert_int_eq(m.code, JOBD_E_CANCELLED);
	ck_assert_str_eq(m.message, "stopped");
	ck_assert_double_lt(now_ms() - t0, 1000);
	wmsg_fini(&m);

	/* The worker serves the next job. */
	wk_job(&w, 2, "{\"do\": \"echo\"}", 0);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_RESULT);
	wmsg_fini(&m);

	/* stop during a job ends the job, then the worker. */
	wk_job(&w, 3, "{\"do\": \"sleep\", \"ms\": 20000}", 0);
	wk_send(&w, wmsg_stop());
	ck_assert_int_eq(wk_recv_answer(&w, &m, 5000), 1);
	ck_assert_int_eq(m.code, JOBD_E_CANCELLED);
	wmsg_fini(&m);
	ck_assert_int_eq(wk_wait(&w, 5000), 1);
	ck_assert_int_eq(w.exit.code, WORKER_EXIT_OK);
	wk_free(&w);
}
END_TEST

START_TEST(deadline)
{
	struct wmsg m;
	struct wk w;
	double t0 = now_ms();

	wk_start(&w, crashy(), NULL, 0);
	wk_job(&w, 1, "{\"do\": \"sleep\", \"ms\": 20000}", 150);
	ck_assert_int_eq(wk_recv_answer(&w, &m, 5000), 1);
	ck_assert_int_eq(m.type, WMSG_ERROR);
	ck_assert_int_eq(m.code, JOBD_E_TIMEOUT);
	ck_assert_double_lt(now_ms() - t0, 3000);
	wmsg_fini(&m);
	wk_free(&w);
}
END_TEST

/* A plugin that ignores cancel: no answer within the grace period, then
 * SIGKILL to its process group takes it and its own child. */
START_TEST(hang_killed)
{
	char text[128];
	struct wmsg m;
	struct wk w;
	long child = 0;

	wk_start(&w, crashy(), NULL, 0);
	wk_job(&w, 1, "{\"do\": \"hang_child\"}", 0);
	ck_assert_int_eq(wk_recv(&w, &m, 10000), 1);
	ck_assert_int_eq(m.type, WMSG_LOG);
	ck_assert_int_eq(sscanf(m.text, "child %ld", &child), 1);
	ck_assert_int_gt(child, 1);
	wmsg_fini(&m);
	wk_send(&w, wmsg_cancel(1));
	ck_assert_int_eq(wk_recv_answer(&w, &m, 300), -1); /* kill_grace */
	ck_assert_int_eq(spawn_kill_group(w.child.pid, SIGKILL), 0);
	ck_assert_int_eq(wk_wait(&w, 5000), 1);
	ck_assert_str_eq(spawn_describe(&w.exit, text, sizeof(text)),
	                 "killed by signal 9 (SIGKILL)");
	/* The grandchild went with the group (init reaps it). */
	for (int i = 0; i < 500 && kill((pid_t)child, 0) == 0; i++) {
		char path[64], state = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%ld/stat", child);
		f = fopen(path, "r");
		if (f && fscanf(f, "%*d %*s %c", &state) == 1 && state == 'Z') {
			fclose(f);
			break;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	{
		char path[64], state = 'Z';
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%ld/stat", child);
		f = fopen(path, "r");
		if (f) {
			ck_assert_int_eq(fscanf(f, "%*d %*s %c", &state), 1);
			fclose(f);
		}
		ck_assert_msg(state == 'Z', "child %ld still running", child);
	}
	wk_free(&w);
}
END_TEST

/* ---- the process itself ---- */

START_TEST(confinement)
{
	char path[64], line[256], link[256];
	struct dirent *e;
	struct wk w;
	int leak, others = 0;
	bool nnp = false;
	DIR *d;
	FILE *f;

	/* A descriptor the daemon forgot to mark close-on-exec. */
	leak = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(leak, 0);
	wk_start(&w, crashy(), NULL, 0);
	close(leak);

	snprintf(path, sizeof(path), "/proc/%d/fd", w.child.pid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char fdpath[512];
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd <= 3)
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, e->d_name);
		n = readlink(fdpath, link, sizeof(link) - 1);
		ck_assert_int_gt(n, 0);
		link[n] = '\0';
		/* Only the worker's own peak-RSS reset file. */
		ck_assert_msg(strstr(link, "clear_refs"), "fd %d: %s", fd,
		              link);
		others++;
	}
	closedir(d);
	ck_assert_int_le(others, 1);

	snprintf(path, sizeof(path), "/proc/%d/status", w.child.pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, "NoNewPrivs:\t1\n"))
			nnp = true;
	fclose(f);
	ck_assert(nnp);
	ck_assert_int_eq(getpgid(w.child.pid), w.child.pid);
	wk_free(&w);
}
END_TEST

/* The worker dies with its parent, even one that just exits. */
START_TEST(dies_with_parent)
{
	int pfd[2];
	pid_t mid, worker = 0;
	int status;

	ck_assert_int_eq(pipe(pfd), 0);
	mid = fork();
	ck_assert_int_ge(mid, 0);
	if (mid == 0) {
		struct wk w;

		wk_start(&w, crashy(), NULL, 0);
		if (write(pfd[1], &w.child.pid, sizeof(pid_t)) < 0)
			_exit(1);
		_exit(0); /* without reaping or killing anything */
	}
	close(pfd[1]); /* so that a failed child means end of file here */
	ck_assert_int_eq(read(pfd[0], &worker, sizeof(worker)),
	                 (ssize_t)sizeof(worker));
	ck_assert_int_eq(waitpid(mid, &status, 0), mid);
	for (int i = 0; i < 500; i++) {
		char path[64], state = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", worker);
		f = fopen(path, "r");
		if (!f)
			break;
		if (fscanf(f, "%*d %*s %c", &state) != 1)
			state = 0;
		fclose(f);
		if (state == 'Z')
			break;
		usleep(10000);
		ck_assert_msg(i < 499, "worker %d outlived its parent", worker);
	}
	close(pfd[0]);
}
END_TEST

START_TEST(protocol_errors)
{
	struct wmsg m;
	struct wk w;
	static const char junk[] = "\0\0\0\x05hello";

	/* A job before init. */
	wk_spawn(&w, 0);
	wk_job(&w, 1, "{}", 0);
	ck_assert_int_eq(wk_recv(&w, &m, 10000), 0);
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	ck_assert_int_eq(w.exit.code, WORKER_EXIT_PROTOCOL);
	wk_free(&w);

	/* Not JSON. */
	wk_start(&w, crashy(), NULL, 0);
	ck_assert_int_eq(write(w.child.sock, junk, sizeof(junk) - 1),
	                 (ssize_t)sizeof(junk) - 1);
	ck_assert_int_eq(wk_recv(&w, &m, 10000), 0);
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	ck_assert_int_eq(w.exit.code, WORKER_EXIT_PROTOCOL);
	wk_free(&w);

	/* The daemon closes its end: the worker exits cleanly. */
	wk_start(&w, crashy(), NULL, 0);
	close(w.child.sock);
	w.child.sock = -1;
	ck_assert_int_eq(wk_wait(&w, 10000), 1);
	ck_assert_int_eq(w.exit.code, WORKER_EXIT_OK);
	wk_free(&w);
}
END_TEST

START_TEST(spawn_failures)
{
	struct spawn_opts o = {.worker_path = "/nonexistent/jobd-worker",
	                       .stderr_fd = -1};
	struct spawn_child c;
	struct spawn_exit ex = {.signaled = true, .sig = 9};
	char text[64];
	int before, after;

	before = open("/dev/null", O_RDONLY);
	close(before);
	ck_assert_int_eq(spawn_worker(&o, &c), -ENOENT);
	after = open("/dev/null", O_RDONLY);
	close(after);
	ck_assert_int_eq(before, after); /* nothing left open */
	ck_assert_int_eq(c.pid, -1);
	ck_assert_int_eq(spawn_reap(getpid(), WNOHANG, &ex), -ECHILD);
	ck_assert_int_eq(spawn_kill_group(1, SIGKILL), -EINVAL);
	ex = (struct spawn_exit){.exited = true, .code = 0};
	ck_assert_str_eq(spawn_describe(&ex, text, sizeof(text)),
	                 "exited normally");
	ex = (struct spawn_exit){.signaled = true, .sig = 6, .core = true};
	ck_assert_str_eq(spawn_describe(&ex, text, sizeof(text)),
	                 "killed by signal 6 (SIGABRT), core dumped");
}
END_TEST

/* ---- the memory-limit choice ---- */

START_TEST(memlimit_choice)
{
	struct memlimit ml;
	char path[256];

	ck_assert_int_eq(memlimit_parse_proc_cgroup("0::/system.slice/jobd."
	                                            "service\n",
	                                            path, sizeof(path)),
	                 0);
	ck_assert_str_eq(path, "/system.slice/jobd.service");
	ck_assert_int_eq(memlimit_parse_proc_cgroup("4:memory:/x\n1:cpu:/\n0::/"
	                                            "a\n",
	                                            path, sizeof(path)),
	                 0);
	ck_assert_str_eq(path, "/a");
	ck_assert_int_eq(
	        memlimit_parse_proc_cgroup("4:memory:/x\n", path, sizeof(path)),
	        -ENOENT);
	ck_assert_int_eq(memlimit_parse_proc_cgroup("0::/abc", path, 3),
	                 -ENAMETOOLONG);

	/* Not a cgroup2 mount: rlimits, and the reason says so. */
	memlimit_detect(&ml, "/tmp", "/proc/self/cgroup");
	ck_assert_int_eq(ml.kind, MEMLIMIT_RLIMIT);
	ck_assert_str_eq(ml.why, "no cgroup v2 hierarchy (cgroup v1 or none)");
	ck_assert_str_eq(memlimit_kind_name(ml.kind), "RLIMIT_DATA");
	ck_assert_int_eq(memlimit_cgroup_prepare(&ml), -EINVAL);
	ck_assert_int_eq(
	        memlimit_cgroup_create(&ml, "w", 1, path, sizeof(path)),
	        -EINVAL);
	/* This machine's own answer, whatever it is, has a reason. */
	memlimit_detect(&ml, "/sys/fs/cgroup", "/proc/self/cgroup");
	ck_assert(ml.why[0] != '\0');
}
END_TEST

static Suite *worker_suite(void)
{
	Suite *s = suite_create("worker");
	TCase *t = tcase_create("worker");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, echo_result);
	tcase_add_test(t, bundled_plugins);
	tcase_add_test(t, plugin_by_fd);
	tcase_add_test(t, plugin_errors);
	tcase_add_test(t, log_progress_job_id);
	tcase_add_test(t, log_from_plugin_thread);
	tcase_add_test(t, memfd_payloads);
	tcase_add_test(t, crash_segv);
	tcase_add_test(t, crash_abort);
	tcase_add_test(t, crash_exit3);
	tcase_add_test(t, crash_stack);
	tcase_add_test(t, crash_in_init);
	tcase_add_test(t, refusals);
	tcase_add_test(t, memory_limit_death);
	tcase_add_test(t, usage_per_job);
	tcase_add_test(t, cancel_running);
	tcase_add_test(t, deadline);
	tcase_add_test(t, hang_killed);
	tcase_add_test(t, confinement);
	tcase_add_test(t, dies_with_parent);
	tcase_add_test(t, protocol_errors);
	tcase_add_test(t, spawn_failures);
	tcase_add_test(t, memlimit_choice);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(worker_suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
