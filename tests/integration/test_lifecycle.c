/* SPDX-License-Identifier: MIT */
/* Starting and stopping: command line, config errors, READY only once
 * listening, SIGTERM drains running jobs and exits 0 with STOPPING=1. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Runs jobd with args, returns its exit status; output in out. */
static int run_jobd(const char *args, char *out, size_t size)
{
	char cmd[1024];
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", getenv("JOBD_BIN"), args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(command_line)
{
	char out[4096], path[] = "/tmp/jobd-cfg-XXXXXX";
	int fd;

	ck_assert_int_eq(run_jobd("--version", out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "jobd "));
	ck_assert_int_eq(run_jobd("--help", out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "--check-config"));
	ck_assert_int_eq(run_jobd("--bogus", out, sizeof(out)), 2);
	ck_assert_int_eq(
	        run_jobd("--log-level loud --version", out, sizeof(out)), 2);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_gt(write(fd,
	                       "listen: [\"127.0.0.1:1\"]\nlimits:\n  "
	                       "idle_timout: 5s\n",
	                       50),
	                 0);
	close(fd);
	{
		char args[300];

		snprintf(args, sizeof(args), "--check-config --config %s",
		         path);
		ck_assert_int_eq(run_jobd(args, out, sizeof(out)), 1);
		/* file:line:column: key: what is wrong */
		ck_assert_msg(
		        strstr(out, ":3:3: limits.idle_timout: unknown key"),
		        "got: %s", out);
	}
	unlink(path);
	ck_assert_int_eq(
	        run_jobd("--config /nonexistent/jobd.yaml", out, sizeof(out)),
	        1);
	ck_assert_ptr_nonnull(strstr(out, "/nonexistent/jobd.yaml"));
}
END_TEST

START_TEST(listens_from_config)
{
	struct harness_opts o = {.bind_from_config = true};
	struct jobd_proc p;
	json_t *m;
	int fd;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);
	m = harness_call(fd, 1, "echo", "[true]", 5000);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")),
	                 "result");
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* What `./dev.sh run` starts: the development config and every bundled
 * plugin. */
START_TEST(development_config_serves_bundled_plugins)
{
	struct harness_opts o = {.config_file = getenv("JOBD_DEV_CONFIG")};
	static const char *const calls[][2] = {
	        {"echo", "{\"hello\":\"lab\"}"},
	        {"sleep", "{\"ms\":10}"},
	        {"nbody", "{\"bodies\":[{\"mass\":1,\"position\":[0,0,0],"
	                  "\"velocity\":[0,0,0]},{\"mass\":0.001,\"position\":"
	                  "[1,0,0],\"velocity\":[0,1,0]}],\"dt\":0.01,"
	                  "\"duration\":1}"},
	        {"kmeans", "{\"points\":[[0,0],[0,1],[10,10],[10,11]],\"k\":2,"
	                   "\"iterations\":10,\"seed\":1}"},
	        {"beam", NULL},
	        {"template", "{\"name\":\"Ada\"}"},
	};
	struct jobd_proc p;
	json_t *m;
	size_t i;
	int fd;

	ck_assert_ptr_nonnull(o.config_file);
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		m = harness_call(fd, (int64_t)i, calls[i][0],
		                 calls[i][1] ? calls[i][1] : "{}", 20000);
		ck_assert_ptr_nonnull(m);
		if (calls[i][1])
			ck_assert_msg(!strcmp(json_string_value(json_object_get(
			                              m, "type")),
			                      "result"),
			              "%s: %s", calls[i][0],
			              json_dumps(m, JSON_COMPACT));
		else /* loaded: it judges the input, not unknown_plugin */
			ck_assert_str_eq(harness_error_code(m), "bad_request");
		json_decref(m);
	}
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* SIGTERM with jobs running: they finish and are answered, then jobd exits
 * 0; the notify socket saw READY=1, STATUS= and then STOPPING=1. */
START_TEST(sigterm_drains)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 2\n",
	};
	struct jobd_proc p;
	char buf[512];
	json_t *m;
	int fd, i, status;

	/* harness_start consumed READY=1 already; STATUS follows it. */
	ck_assert_int_eq(harness_start(&p, &o), 0);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "STATUS=", 5000, buf, sizeof(buf)), 0);
	fd = harness_connect(&p);
	for (i = 1; i <= 3; i++) {
		char text[128];

		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%d,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":800}}",
		         i);
		ck_assert_int_eq(harness_send_text(fd, text), 0);
	}
	usleep(200 * 1000);
	kill(p.pid, SIGTERM);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "STOPPING=1", 5000, buf, sizeof(buf)),
	        0);
	/* All three, including the queued third, finish and are answered. */
	for (i = 0; i < 3; i++) {
		m = harness_recv_answer(fd, 10000);
		ck_assert_ptr_nonnull(m);
		ck_assert_str_eq(json_string_value(json_object_get(m, "type")),
		                 "result");
		json_decref(m);
	}
	ck_assert(harness_wait_closed(fd, 10000));
	close(fd);
	status = harness_stop(&p, 0, 10000);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* Past shutdown_timeout, what is left is failed with shutting_down. */
START_TEST(shutdown_timeout_fails_the_rest)
{
	struct harness_opts o = {
	        .yaml = "limits:\n  shutdown_timeout: 500ms\n"
	                "plugins:\n  sleep:\n    workers: 1\n",
	};
	struct jobd_proc p;
	json_t *m;
	int fd, status, i, failed = 0;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"call\",\"id\":1,"
	                                       "\"plugin\":\"sleep\","
	                                       "\"input\":{\"ms\":60000}}"),
	                 0);
	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"call\",\"id\":2,"
	                                       "\"plugin\":\"sleep\","
	                                       "\"input\":{\"ms\":60000}}"),
	                 0);
	usleep(200 * 1000);
	kill(p.pid, SIGTERM);
	for (i = 0; i < 2; i++) {
		m = harness_recv_answer(fd, 10000);
		ck_assert_ptr_nonnull(m);
		if (!strcmp(harness_error_code(m), "shutting_down"))
			failed++;
		json_decref(m);
	}
	ck_assert_int_eq(failed, 2);
	close(fd);
	status = harness_stop(&p, 0, 10000);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* A second SIGTERM exits at once, even with a job that would run long. */
START_TEST(second_sigterm_exits_at_once)
{
	struct jobd_proc p;
	uint64_t t0;
	int fd, status;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"call\",\"id\":1,"
	                                       "\"plugin\":\"sleep\","
	                                       "\"input\":{\"ms\":60000}}"),
	                 0);
	usleep(200 * 1000);
	kill(p.pid, SIGTERM);
	ck_assert_int_eq(harness_wait_notify(&p, "STOPPING=1", 5000, NULL, 0),
	                 0);
	t0 = harness_now_ms();
	status = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(status));
	ck_assert_int_lt(harness_now_ms() - t0, 5000);
	close(fd);
}
END_TEST

static Suite *lifecycle_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("life");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, command_line);
	tcase_add_test(tc, listens_from_config);
	tcase_add_test(tc, development_config_serves_bundled_plugins);
	tcase_add_test(tc, sigterm_drains);
	tcase_add_test(tc, shutdown_timeout_fails_the_rest);
	tcase_add_test(tc, second_sigterm_exits_at_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lifecycle_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
