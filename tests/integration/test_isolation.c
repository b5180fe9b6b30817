/* SPDX-License-Identifier: MIT */
/*
 * Plugins in worker processes (docs/isolation.md), against the real daemon
 * with the real jobd-worker and the crashy test plugin: a crash, a hang or
 * a runaway allocation costs one call, never the daemon or another call;
 * repeated crashes quarantine the plugin until its window ends; a crashed
 * detached job runs again only if its plugin is retry-safe.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *type_of(const json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "type"));

	return t ? t : "";
}

static const char *str_of(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));

	return s ? s : "";
}

/* Plugin dirs: the bundled plugins (echo) and the crash plugins. */
static void crash_opts(struct harness_opts *o, const char *yaml)
{
	memset(o, 0, sizeof(*o));
	o->yaml = yaml;
	o->plugin_dirs[0] = getenv("JOBD_PLUGIN_DIR");
	o->plugin_dirs[1] = getenv("JOBD_CRASH_PLUGIN_DIR");
}

static long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

struct echo_loop {
	const struct jobd_proc *p;
	atomic_bool stop;
	int ok, bad;
};

static void *echo_main(void *arg)
{
	struct echo_loop *e = arg;
	int fd = harness_connect(e->p);
	int64_t id = 1;

	while (!atomic_load(&e->stop)) {
		json_t *m = harness_call(fd, id++, "echo", "{\"n\":1}", 10000);

		if (m && !strcmp(type_of(m), "result"))
			e->ok++;
		else
			e->bad++;
		json_decref(m);
	}
	close(fd);
	return NULL;
}

START_TEST(crash_storm_costs_only_the_crashing_calls)
{
	static const char *const modes[] = {"segv", "abort", "exit3", "stack"};
	struct jobd_proc p;
	struct harness_opts o;
	struct echo_loop e = {0};
	pthread_t th;
	long rss0, rss1;
	int fd, fd0, fd1, i, crashed = 0;
	char input[64];

	crash_opts(&o, "isolation: process\n"
	               "plugins:\n"
	               "  crashy: {isolation: process, workers: 2, "
	               "max_crashes: 100000}\n"
	               "  echo: {workers: 2}\n");
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	/* Warm up, so that allocations made once do not count as growth. */
	for (i = 0; i < 8; i++) {
		snprintf(input, sizeof(input), "{\"do\":\"%s\"}", modes[i % 4]);
		json_decref(harness_call(fd, 1000 + i, "crashy", input, 20000));
	}
	rss0 = proc_rss_kb(p.pid);
	fd0 = proc_fds(p.pid);
	e.p = &p;
	ck_assert_int_eq(pthread_create(&th, NULL, echo_main, &e), 0);
	for (i = 0; i < 100; i++) {
		json_t *m;

		snprintf(input, sizeof(input), "{\"do\":\"%s\"}", modes[i % 4]);
		m = harness_call(fd, i + 1, "crashy", input, 20000);
		ck_assert_ptr_nonnull(m);
		ck_assert_msg(!strcmp(harness_error_code(m), "plugin_crashed"),
		              "call %d (%s): %s %s", i, input,
		              harness_error_code(m), str_of(m, "message"));
		crashed++;
		json_decref(m);
	}
	atomic_store(&e.stop, true);
	pthread_join(th, NULL);
	ck_assert_int_eq(crashed, 100);
	ck_assert_int_eq(e.bad, 0);
	ck_assert_int_gt(e.ok, 0);
	rss1 = proc_rss_kb(p.pid);
	fd1 = proc_fds(p.pid);
	fprintf(stderr,
	        "crash storm: %d echo calls meanwhile; RSS %ld -> %ld "
	        "KiB, fds %d -> %d\n",
	        e.ok, rss0, rss1, fd0, fd1);
	ck_assert_int_le(fd1, fd0 + 2);
	/* Under AddressSanitizer freed memory sits in its quarantine, so RSS
	 * is not a measure of leaks there (LeakSanitizer is). */
	if (!getenv("JOBD_TEST_SANITIZED"))
		ck_assert_int_lt(rss1 - rss0, 4096);
	/* The message names the signal. */
	{
		json_t *m = harness_call(fd, 500, "crashy", "{\"do\":\"segv\"}",
		                         20000);

		ck_assert_ptr_nonnull(strstr(str_of(m, "message"), "SIGSEGV"));
		json_decref(m);
	}
	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(crash_in_init_refuses_the_plugin_only)
{
	struct jobd_proc p;
	struct harness_opts o;
	json_t *m;
	char *log;
	int fd;

	crash_opts(&o, "plugins:\n"
	               "  crashy: {isolation: process, workers: 1, "
	               "options: {init: segv}}\n");
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	m = harness_call(fd, 1, "crashy", "{}", 5000);
	ck_assert_str_eq(harness_error_code(m), "unknown_plugin");
	json_decref(m);
	m = harness_call(fd, 2, "echo", "7", 5000);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	log = harness_log(&p);
	ck_assert_ptr_nonnull(strstr(log, "SIGSEGV"));
	free(log);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(hung_worker_is_killed_and_replaced)
{
	struct jobd_proc p;
	struct harness_opts o;
	uint64_t t0;
	json_t *m;
	int fd, id = 2;
	bool served = false;

	crash_opts(&o, "plugins:\n"
	               "  crashy: {isolation: process, workers: 1, "
	               "timeout: 1s, kill_grace: 2s}\n");
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	m = harness_call(fd, 1, "crashy", "{\"do\":\"hang\"}", 10000);
	ck_assert_str_eq(harness_error_code(m), "timeout");
	json_decref(m);
	/* A call queued behind the hung worker may reach its own 1 s
	 * deadline; the worker must be back within kill_grace + 2 s. */
	t0 = harness_now_ms();
	while (!served && harness_now_ms() - t0 < 4000) {
		m = harness_call(fd, id++, "crashy", "{\"do\":\"echo\"}", 5000);
		served = m && !strcmp(type_of(m), "result");
		if (!served)
			ck_assert_str_eq(harness_error_code(m), "timeout");
		json_decref(m);
	}
	ck_assert_msg(served, "not served within kill_grace + 2 s");
	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(memory_limit_ends_the_call_out_of_memory)
{
	struct jobd_proc p;
	struct harness_opts o;
	json_t *m;
	long rss0;
	int fd;

	if (getenv("JOBD_TEST_SANITIZED")) {
		/* A sanitizer's shadow memory does not fit in 64 MiB. */
		fprintf(stderr, "memory_limit: skipped in a sanitizer build\n");
		return;
	}
	crash_opts(&o, "plugins:\n"
	               "  crashy: {isolation: process, workers: 1, "
	               "memory_limit: 64MiB}\n");
	ck_assert_int_eq(harness_start(&p, &o), 0);
	rss0 = proc_rss_kb(p.pid);
	fd = harness_connect(&p);
	m = harness_call(fd, 1, "crashy", "{\"do\":\"alloc\"}", 30000);
	ck_assert_msg(!strcmp(harness_error_code(m), "out_of_memory"), "%s %s",
	              harness_error_code(m), str_of(m, "message"));
	json_decref(m);
	/* The daemon did not grow, and the plugin serves again. */
	ck_assert_int_lt(proc_rss_kb(p.pid) - rss0, 8192);
	m = harness_call(fd, 2, "crashy", "{\"do\":\"echo\"}", 10000);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(quarantine_and_its_end)
{
	struct jobd_proc p;
	struct harness_opts o;
	json_t *m, *s;
	int64_t retry;
	int fd, i;

	crash_opts(&o, "plugins:\n"
	               "  crashy: {isolation: process, workers: 1, "
	               "max_crashes: 3, crash_window: 2s}\n");
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	for (i = 0; i < 3; i++) {
		m = harness_call(fd, i + 1, "crashy", "{\"do\":\"segv\"}",
		                 10000);
		ck_assert_str_eq(harness_error_code(m), "plugin_crashed");
		json_decref(m);
	}
	m = harness_call(fd, 10, "crashy", "{\"do\":\"echo\"}", 10000);
	ck_assert_str_eq(harness_error_code(m), "unavailable");
	retry = json_integer_value(json_object_get(m, "retry_after_ms"));
	ck_assert_int_gt(retry, 0);
	ck_assert_int_le(retry, 2000);
	json_decref(m);
	/* stats shows it */
	ck_assert_int_eq(
	        harness_send_text(fd, "{\"type\":\"stats\",\"id\":11}"), 0);
	s = harness_recv_answer(fd, 5000);
	m = json_object_get(json_object_get(s, "plugins"), "crashy");
	ck_assert_str_eq(str_of(m, "isolation"), "process");
	ck_assert_int_gt(
	        json_integer_value(json_object_get(m, "quarantined_ms")), 0);
	ck_assert_int_ge(json_integer_value(json_object_get(m, "restarts")), 3);
	json_decref(s);
	/* The other plugins are not touched. */
	m = harness_call(fd, 12, "echo", "1", 5000);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	usleep((useconds_t)(retry + 500) * 1000);
	m = harness_call(fd, 13, "crashy", "{\"do\":\"echo\"}", 10000);
	ck_assert_msg(!strcmp(type_of(m), "result"), "%s %s",
	              harness_error_code(m), str_of(m, "message"));
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

/* A detached segv_once job; returns its final answer. */
static json_t *detached_crash(bool retry_safe, const char *flag_path)
{
	struct jobd_proc p;
	struct harness_opts o;
	char text[512], job[32];
	json_t *m;
	int fd, i;

	crash_opts(&o, "plugins:\n"
	               "  crashy: {isolation: process, workers: 1, "
	               "max_attempts: 3}\n");
	if (retry_safe)
		o.env[0] = "CRASHY_RETRY_SAFE=1";
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	snprintf(text, sizeof(text),
	         "{\"type\":\"call\",\"id\":1,\"plugin\":\"crashy\","
	         "\"input\":{\"do\":\"segv_once\",\"path\":\"%s\"},"
	         "\"detach\":true}",
	         flag_path);
	ck_assert_int_eq(harness_send_text(fd, text), 0);
	m = harness_recv_answer(fd, 10000);
	ck_assert_str_eq(type_of(m), "accepted");
	snprintf(job, sizeof(job), "%s", str_of(m, "job"));
	json_decref(m);
	for (i = 0; i < 100; i++) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"result\",\"id\":%d,\"job\":\"%s\"}",
		         i + 2, job);
		ck_assert_int_eq(harness_send_text(fd, text), 0);
		m = harness_recv_answer(fd, 10000);
		if (strcmp(harness_error_code(m), "not_found") &&
		    (strcmp(type_of(m), "status") != 0))
			break;
		json_decref(m);
		m = NULL;
		usleep(100 * 1000);
	}
	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 10000), 0);
	return m;
}

START_TEST(crashed_detached_job_reruns_only_when_retry_safe)
{
	char path[] = "/tmp/jobd-isolation-XXXXXX";
	char flag[300];
	json_t *m;

	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(flag, sizeof(flag), "%s/ran", path);
	m = detached_crash(false, flag);
	ck_assert_ptr_nonnull(m);
	ck_assert_msg(!strcmp(harness_error_code(m), "plugin_crashed"), "%s",
	              json_dumps(m, 0));
	json_decref(m);
	unlink(flag);
	m = detached_crash(true, flag);
	ck_assert_ptr_nonnull(m);
	ck_assert_msg(!strcmp(type_of(m), "result"), "%s", json_dumps(m, 0));
	ck_assert_int_eq(json_integer_value(json_object_get(
	                         json_object_get(m, "provenance"), "attempt")),
	                 2);
	json_decref(m);
	unlink(flag);
	rmdir(path);
}
END_TEST

START_TEST(provenance_has_cpu_and_peak_rss)
{
	struct jobd_proc p;
	struct harness_opts o;
	json_t *m, *pv;
	int fd;

	crash_opts(&o, "plugins:\n"
	               "  crashy: {isolation: process, workers: 1}\n");
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	m = harness_call(fd, 1, "crashy", "{\"do\":\"grow\",\"mb\":32}", 10000);
	ck_assert_str_eq(type_of(m), "result");
	pv = json_object_get(m, "provenance");
	ck_assert_ptr_nonnull(json_object_get(pv, "cpu_user_s"));
	ck_assert_ptr_nonnull(json_object_get(pv, "cpu_system_s"));
	ck_assert_int_ge(json_integer_value(json_object_get(pv, "peak_rss_kb")),
	                 32 * 1024);
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("isolation");
	TCase *tc = tcase_create("isolation");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, crash_storm_costs_only_the_crashing_calls);
	tcase_add_test(tc, crash_in_init_refuses_the_plugin_only);
	tcase_add_test(tc, hung_worker_is_killed_and_replaced);
	tcase_add_test(tc, memory_limit_ends_the_call_out_of_memory);
	tcase_add_test(tc, quarantine_and_its_end);
	tcase_add_test(tc, crashed_detached_job_reruns_only_when_retry_safe);
	tcase_add_test(tc, provenance_has_cpu_and_peak_rss);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
