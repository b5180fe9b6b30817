/* SPDX-License-Identifier: MIT */
/* Detached jobs against the real daemon: submit, disconnect, come back;
 * status, attach, result, jobs, cancel by job id, detach of a running
 * call, deadlines; restarts on the same state_dir (queued jobs run, running
 * ones run again or end interrupted, results survive); a bad state_dir;
 * result_ttl and result_budget. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static void send_text(int fd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void send_text(int fd, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(harness_send_text(fd, buf), 0);
}

/* A detached call; returns the job id (static buffer per call site). */
static void submit(int fd, int64_t id, const char *plugin, const char *input,
                   char job[32])
{
	json_t *m;

	send_text(fd,
	          "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"%s\","
	          "\"input\":%s,\"detach\":true}",
	          (long long)id, plugin, input);
	m = harness_recv_answer(fd, 10000);
	ck_assert_ptr_nonnull(m);
	ck_assert_msg(!strcmp(type_of(m), "accepted"), "got %s %s", type_of(m),
	              str_of(m, "message"));
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), id);
	ck_assert_int_eq(strlen(str_of(m, "job")), 16);
	snprintf(job, 32, "%s", str_of(m, "job"));
	json_decref(m);
}

static json_t *ask(int fd, const char *type, int64_t id, const char *job)
{
	send_text(fd, "{\"type\":\"%s\",\"id\":%lld,\"job\":\"%s\"}", type,
	          (long long)id, job);
	return harness_recv_answer(fd, 10000);
}

/* Attaches and returns the final answer; counts progress messages. */
static json_t *attach_wait(int fd, int64_t id, const char *job, int timeout_ms,
                           int *n_progress)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	json_t *m;

	send_text(fd, "{\"type\":\"attach\",\"id\":%lld,\"job\":\"%s\"}",
	          (long long)id, job);
	for (;;) {
		int64_t left = (int64_t)(end - harness_now_ms());

		m = harness_recv(fd, left > 0 ? (int)left : 0);
		if (!m || strcmp(type_of(m), "progress"))
			return m;
		ck_assert_int_eq(json_integer_value(json_object_get(m, "id")),
		                 id);
		if (n_progress)
			(*n_progress)++;
		json_decref(m);
	}
}

static char *make_state_dir(void)
{
	char tmpl[] = "/tmp/jobd-state-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	return strdup(tmpl);
}

static void remove_state_dir(char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (!getenv("JOBD_TEST_KEEP"))
		ck_assert_int_eq(system(cmd), 0);
	free(dir);
}

START_TEST(submit_disconnect_reconnect)
{
	struct jobd_proc p;
	char job[32];
	int fd, n = 0;
	json_t *m, *out;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	submit(fd, 1, "sleep", "{\"ms\":1200}", job);
	close(fd); /* the laptop goes to sleep */

	fd = harness_connect(&p);
	m = ask(fd, "status", 2, job);
	ck_assert_str_eq(type_of(m), "status");
	ck_assert_str_eq(str_of(m, "job"), job);
	ck_assert_str_eq(str_of(m, "plugin"), "sleep");
	ck_assert(!strcmp(str_of(m, "state"), "queued") ||
	          !strcmp(str_of(m, "state"), "running"));
	ck_assert_int_eq(strlen(str_of(m, "queued_at")), 24);
	json_decref(m);

	/* Not finished: result says how far it is. */
	m = ask(fd, "result", 3, job);
	ck_assert_str_eq(type_of(m), "status");
	json_decref(m);

	m = attach_wait(fd, 4, job, 10000, &n);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_str_eq(str_of(m, "job"), job);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                         json_object_get(m, "output"), "slept_ms")),
	                 1200);
	ck_assert_ptr_nonnull(json_object_get(m, "provenance"));
	ck_assert_int_ge(n, 2);
	json_decref(m);
	close(fd);

	/* From yet another connection: the stored result, and at once for
	 * an attach to a finished job. */
	fd = harness_connect(&p);
	m = ask(fd, "result", 5, job);
	ck_assert_str_eq(type_of(m), "result");
	out = json_object_get(json_object_get(m, "provenance"), "plugin");
	ck_assert_str_eq(json_string_value(out), "sleep");
	json_decref(m);
	m = attach_wait(fd, 6, job, 2000, NULL);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	m = ask(fd, "status", 7, job);
	ck_assert_str_eq(str_of(m, "state"), "done");
	ck_assert_int_eq(strlen(str_of(m, "finished_at")), 24);
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(detach_a_running_call)
{
	struct jobd_proc p;
	char job[32];
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	send_text(fd, "{\"type\":\"call\",\"id\":8,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":1000}}");
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(type_of(m), "progress");
	json_decref(m);
	send_text(fd, "{\"type\":\"detach\",\"id\":8}");
	m = harness_recv_answer(fd, 5000);
	ck_assert_str_eq(type_of(m), "accepted");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 8);
	snprintf(job, sizeof(job), "%s", str_of(m, "job"));
	json_decref(m);
	/* The call's id is free again; nothing else comes for it. */
	ck_assert_ptr_null(harness_recv_answer(fd, 300));
	close(fd); /* does not cancel the detached job */

	fd = harness_connect(&p);
	m = attach_wait(fd, 1, job, 10000, NULL);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	m = ask(fd, "status", 2, job);
	ck_assert_str_eq(str_of(m, "state"), "done");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 1);
	json_decref(m);

	/* detach of an id not in flight */
	send_text(fd, "{\"type\":\"detach\",\"id\":99}");
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(harness_error_code(m), "not_found");
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

static size_t count_jobs(int fd, const char *filter)
{
	json_t *m;
	size_t n;

	send_text(fd, "{\"type\":\"jobs\",\"id\":77%s}", filter);
	m = harness_recv_answer(fd, 10000);
	ck_assert_str_eq(type_of(m), "jobs");
	n = json_array_size(json_object_get(m, "jobs"));
	json_decref(m);
	return n;
}

START_TEST(list_and_filter)
{
	struct jobd_proc p;
	char job[32], slow[32];
	int fd, i;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	for (i = 0; i < 3; i++) {
		submit(fd, 10 + i, "echo", "{\"n\":1}", job);
		m = attach_wait(fd, 20 + i, job, 5000, NULL);
		ck_assert_str_eq(type_of(m), "result");
		json_decref(m);
	}
	submit(fd, 30, "sleep", "{\"ms\":20000}", slow);
	submit(fd, 31, "misbehave", "{\"do\":\"fail\"}", job);
	m = attach_wait(fd, 32, job, 5000, NULL);
	ck_assert_str_eq(harness_error_code(m), "plugin_failed");
	ck_assert_str_eq(str_of(m, "state"), "failed");
	json_decref(m);

	ck_assert_uint_eq(count_jobs(fd, ""), 5);
	ck_assert_uint_eq(count_jobs(fd, ",\"plugin\":\"echo\""), 3);
	ck_assert_uint_eq(count_jobs(fd, ",\"state\":\"done\""), 3);
	ck_assert_uint_eq(count_jobs(fd, ",\"state\":\"failed\""), 1);
	ck_assert_uint_eq(
	        count_jobs(fd, ",\"state\":\"done\",\"plugin\":\"sleep\""), 0);
	ck_assert_uint_eq(count_jobs(fd, ",\"limit\":2"), 2);
	/* The sleeping one is queued or running, never both. */
	ck_assert_uint_eq(count_jobs(fd, ",\"state\":\"running\"") +
	                          count_jobs(fd, ",\"state\":\"queued\""),
	                  1);
	send_text(fd, "{\"type\":\"jobs\",\"id\":1,\"state\":\"sleepy\"}");
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(harness_error_code(m), "bad_request");
	json_decref(m);
	/* A failed job's error is in its entry. */
	send_text(fd, "{\"type\":\"jobs\",\"id\":2,\"state\":\"failed\"}");
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(
	        str_of(json_object_get(
	                       json_array_get(json_object_get(m, "jobs"), 0),
	                       "error"),
	               "code"),
	        "plugin_failed");
	json_decref(m);
	/* Draining waits for running jobs: end the slow one first. */
	send_text(fd, "{\"type\":\"cancel\",\"id\":3,\"job\":\"%s\"}", slow);
	json_decref(harness_recv_answer(fd, 5000));
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(cancel_by_job_id)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 1\n",
	};
	struct jobd_proc p;
	char running[32], queued[32];
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	submit(fd, 1, "sleep", "{\"ms\":20000}", running);
	submit(fd, 2, "sleep", "{\"ms\":20000}", queued);

	/* Queued: it ends at once. */
	send_text(fd, "{\"type\":\"cancel\",\"id\":3,\"job\":\"%s\"}", queued);
	m = harness_recv_answer(fd, 5000);
	ck_assert_str_eq(type_of(m), "status");
	ck_assert_str_eq(str_of(m, "state"), "cancelled");
	json_decref(m);
	m = ask(fd, "status", 4, queued);
	ck_assert_str_eq(str_of(m, "state"), "cancelled");
	json_decref(m);

	/* Running: told to stop, ends when the plugin returns. */
	m = ask(fd, "status", 5, running);
	ck_assert_str_eq(str_of(m, "state"), "running");
	json_decref(m);
	send_text(fd, "{\"type\":\"cancel\",\"job\":\"%s\"}", running);
	m = harness_recv_answer(fd, 5000);
	ck_assert_str_eq(type_of(m), "status");
	ck_assert(json_is_true(json_object_get(m, "cancel_requested")));
	json_decref(m);
	m = attach_wait(fd, 6, running, 5000, NULL);
	ck_assert_str_eq(harness_error_code(m), "cancelled");
	ck_assert_str_eq(str_of(m, "job"), running);
	json_decref(m);

	/* Unknown jobs. */
	send_text(fd, "{\"type\":\"cancel\",\"id\":7,\"job\":"
	              "\"0000000000000000\"}");
	m = harness_recv_answer(fd, 5000);
	ck_assert_str_eq(harness_error_code(m), "not_found");
	json_decref(m);
	m = ask(fd, "result", 8, "nope");
	ck_assert_str_eq(harness_error_code(m), "not_found");
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(detached_deadline)
{
	struct jobd_proc p;
	char job[32];
	uint64_t t0;
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	t0 = harness_now_ms();
	send_text(fd, "{\"type\":\"call\",\"id\":1,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":10000},\"timeout_ms\":300,"
	              "\"detach\":true}");
	m = harness_recv_answer(fd, 5000);
	ck_assert_str_eq(type_of(m), "accepted");
	snprintf(job, sizeof(job), "%s", str_of(m, "job"));
	json_decref(m);
	m = attach_wait(fd, 2, job, 5000, NULL);
	ck_assert_str_eq(harness_error_code(m), "timeout");
	json_decref(m);
	ck_assert_uint_lt(harness_now_ms() - t0, 2000);
	m = ask(fd, "status", 3, job);
	ck_assert_str_eq(str_of(m, "state"), "failed");
	ck_assert_str_eq(str_of(json_object_get(m, "error"), "code"),
	                 "timeout");
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(restart_recovers)
{
	char *dir = make_state_dir();
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 1\n"
	                "  misbehave:\n    workers: 1\n",
	        .state_dir = dir,
	};
	struct jobd_proc p;
	char done[32], again[32], queued[32], lost[32];
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	submit(fd, 1, "echo", "{\"kept\":true}", done);
	m = attach_wait(fd, 2, done, 5000, NULL);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	submit(fd, 3, "sleep", "{\"ms\":3000}", again); /* running */
	submit(fd, 4, "sleep", "{\"ms\":100}", queued); /* queued */
	submit(fd, 5, "misbehave", "{\"do\":\"sleep\",\"ms\":5000}", lost);
	m = ask(fd, "status", 6, again);
	ck_assert_str_eq(str_of(m, "state"), "running");
	json_decref(m);
	/* Until misbehave is recorded as running. */
	for (;;) {
		m = ask(fd, "status", 7, lost);
		if (!strcmp(str_of(m, "state"), "running"))
			break;
		json_decref(m);
		usleep(20000);
	}
	json_decref(m);
	close(fd);
	harness_stop(&p, SIGKILL, 5000);

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	/* The finished result is still there. */
	m = ask(fd, "result", 1, done);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert(json_is_true(
	        json_object_get(json_object_get(m, "output"), "kept")));
	json_decref(m);
	/* The retry-safe running job runs again, the queued one runs. */
	m = attach_wait(fd, 2, again, 10000, NULL);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_int_eq(json_integer_value(json_object_get(
	                         json_object_get(m, "provenance"), "attempt")),
	                 2);
	json_decref(m);
	m = attach_wait(fd, 3, queued, 10000, NULL);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	/* The one that is not retry-safe is interrupted, with a reason. */
	m = ask(fd, "result", 4, lost);
	ck_assert_str_eq(harness_error_code(m), "interrupted");
	ck_assert_str_eq(str_of(m, "state"), "interrupted");
	ck_assert_ptr_nonnull(strstr(str_of(m, "message"), "retry"));
	json_decref(m);
	m = ask(fd, "status", 5, again);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 2);
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);

	/* Once more: nothing runs again, nothing changes. */
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	ck_assert_uint_eq(count_jobs(fd, ",\"state\":\"done\""), 3);
	ck_assert_uint_eq(count_jobs(fd, ",\"state\":\"interrupted\""), 1);
	ck_assert_uint_eq(count_jobs(fd, ""), 4);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	remove_state_dir(dir);
}
END_TEST

START_TEST(max_attempts_then_interrupted)
{
	char *dir = make_state_dir();
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    max_attempts: 1\n",
	        .state_dir = dir,
	};
	struct jobd_proc p;
	char job[32];
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	submit(fd, 1, "sleep", "{\"ms\":5000}", job);
	for (;;) {
		m = ask(fd, "status", 2, job);
		if (!strcmp(str_of(m, "state"), "running"))
			break;
		json_decref(m);
		usleep(20000);
	}
	json_decref(m);
	close(fd);
	harness_stop(&p, SIGKILL, 5000);
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	m = ask(fd, "result", 3, job);
	ck_assert_str_eq(harness_error_code(m), "interrupted");
	ck_assert_ptr_nonnull(strstr(str_of(m, "message"), "max_attempts"));
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	remove_state_dir(dir);
}
END_TEST

/* Starts jobd on a bad state_dir: it must exit non-zero, and its log must
 * name the path and the problem. */
static void expect_refused(const char *state_dir, const char *problem)
{
	struct harness_opts o = {.state_dir = state_dir, .no_wait_ready = true};
	struct jobd_proc p;
	char *log;
	int status = -1, i;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	for (i = 0; i < 500; i++) {
		if (waitpid(p.pid, &status, WNOHANG) == p.pid)
			break;
		usleep(10000);
	}
	ck_assert_msg(i < 500, "jobd did not stop on a bad state_dir");
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	p.pid = 0;
	log = harness_log(&p);
	ck_assert_msg(strstr(log, state_dir) && strstr(log, problem),
	              "log does not name %s and \"%s\":\n%s", state_dir,
	              problem, log);
	free(log);
	harness_stop(&p, 0, 1000);
}

START_TEST(bad_state_dir_stops_start)
{
	char *dir = make_state_dir();
	char path[300];
	FILE *f;

	/* A file where the directory should be. */
	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	fputs("x", f);
	fclose(f);
	expect_refused(path, "not a directory");
	/* The rest is SQLite's own file; PostgreSQL (tests/pg) has none. */
	if (getenv("JOBD_TEST_PGHOST")) {
		remove_state_dir(dir);
		return;
	}

	/* A database that is not one. */
	snprintf(path, sizeof(path), "%s/db", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/db/jobs.db", dir);
	f = fopen(path, "w");
	fputs("this is not an SQLite database, it is a grocery list: eggs, "
	      "flour, milk, and a great deal of padding to fill a page ....",
	      f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/db", dir);
	expect_refused(path, "jobs.db");
	remove_state_dir(dir);
}
END_TEST

START_TEST(results_expire)
{
	struct harness_opts o = {
	        .yaml = "limits:\n  result_ttl: 1s\n",
	};
	struct jobd_proc p;
	char job[32];
	uint64_t t0;
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	submit(fd, 1, "echo", "1", job);
	m = attach_wait(fd, 2, job, 5000, NULL);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	t0 = harness_now_ms();
	for (;;) {
		m = ask(fd, "result", 3, job);
		if (!strcmp(harness_error_code(m), "not_found"))
			break;
		ck_assert_str_eq(type_of(m), "result");
		json_decref(m);
		ck_assert_uint_lt(harness_now_ms() - t0, 10000);
		usleep(100000);
	}
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(results_within_budget)
{
	struct harness_opts o = {
	        .yaml = "limits:\n  result_budget: 2000\n",
	};
	struct jobd_proc p;
	char job[8][32], input[600];
	uint64_t t0;
	int fd, i;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	memset(input, 'x', sizeof(input));
	input[0] = '"';
	input[400] = '"';
	input[401] = '\0';
	for (i = 0; i < 8; i++) {
		submit(fd, 1, "echo", input, job[i]);
		m = attach_wait(fd, 2, job[i], 5000, NULL);
		ck_assert_str_eq(type_of(m), "result");
		json_decref(m);
		usleep(5000); /* distinct finish times */
	}
	/* Each holds ~800 bytes plus provenance: the oldest go, the newest
	 * stays. */
	t0 = harness_now_ms();
	for (;;) {
		m = ask(fd, "result", 3, job[0]);
		if (!strcmp(harness_error_code(m), "not_found"))
			break;
		json_decref(m);
		ck_assert_uint_lt(harness_now_ms() - t0, 10000);
		usleep(100000);
	}
	json_decref(m);
	m = ask(fd, "result", 4, job[7]);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

static Suite *detached_suite(void)
{
	Suite *s = suite_create("detached");
	TCase *tc = tcase_create("jobs");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, submit_disconnect_reconnect);
	tcase_add_test(tc, detach_a_running_call);
	tcase_add_test(tc, list_and_filter);
	tcase_add_test(tc, cancel_by_job_id);
	tcase_add_test(tc, detached_deadline);
	tcase_add_test(tc, restart_recovers);
	tcase_add_test(tc, max_attempts_then_interrupted);
	tcase_add_test(tc, bad_state_dir_stops_start);
	tcase_add_test(tc, results_expire);
	tcase_add_test(tc, results_within_budget);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(detached_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
