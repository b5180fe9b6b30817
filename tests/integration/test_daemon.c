/* SPDX-License-Identifier: MIT */
/* The daemon serves jobs: calls, pipelining, isolation between plugins and
 * between requests, plugin loading. Real jobd, real plugins, real TCP. */
#include <check.h>
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

START_TEST(call_and_answer)
{
	struct jobd_proc p;
	json_t *m;
	int fd;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);

	ck_assert_int_eq(harness_send_text(fd,
	                                   "{\"type\":\"hello\",\"version\":1,"
	                                   "\"client\":\"test\"}"),
	                 0);
	m = harness_recv(fd, 5000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(type_of(m), "hello");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "version")), 1);
	json_decref(m);

	m = harness_call(fd, 7, "echo", "{\"x\":[1,2,{\"y\":null}]}", 5000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 7);
	{
		json_t *want =
		        json_loads("{\"x\":[1,2,{\"y\":null}]}", 0, NULL);

		ck_assert(json_equal(json_object_get(m, "output"), want));
		json_decref(want);
	}
	json_decref(m);

	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"ping\",\"id\":3}"),
	                 0);
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(type_of(m), "pong");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 3);
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* 1,000 calls pipelined on one connection to `sleep` with random
 * durations: each id answered exactly once, and not in send order. */
START_TEST(pipelined_any_order)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 8\n    queue_bound: "
	                "2000\n",
	};
	enum { N = 1000 };
	static unsigned char seen[N];
	struct jobd_proc p;
	int fd, i, in_order = 1, last = -1, answered = 0;
	char text[160];
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);
	srand(42);
	for (i = 0; i < N; i++) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%d,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":%d}}",
		         i, rand() % 20);
		ck_assert_int_eq(harness_send_text(fd, text), 0);
	}
	memset(seen, 0, sizeof(seen));
	while (answered < N) {
		json_int_t id;

		m = harness_recv_answer(fd, 30000);
		ck_assert_msg(m != NULL, "only %d of %d answered", answered, N);
		ck_assert_str_eq(type_of(m), "result");
		id = json_integer_value(json_object_get(m, "id"));
		ck_assert(id >= 0 && id < N);
		ck_assert_msg(!seen[id], "id %lld answered twice",
		              (long long)id);
		seen[id] = 1;
		if (id < last)
			in_order = 0;
		last = (int)id;
		answered++;
		json_decref(m);
	}
	ck_assert_msg(!in_order, "answers came in send order");
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 20000), 0);
}
END_TEST

/* With every sleep worker busy and its queue holding more, echo still
 * answers at once: pools are separate. */
START_TEST(slow_plugin_does_not_delay_another)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 2\n",
	};
	struct jobd_proc p;
	uint64_t t0, took;
	int fd, fd2, i;
	char text[128];
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	for (i = 0; i < 6; i++) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%d,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":3000}}",
		         i);
		ck_assert_int_eq(harness_send_text(fd, text), 0);
	}
	usleep(200 * 1000); /* let the sleeps start */
	/* Same connection: a slow request never delays the next one. */
	t0 = harness_now_ms();
	m = harness_call(fd, 100, "echo", "\"quick\"", 10000);
	took = harness_now_ms() - t0;
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 100);
	ck_assert_msg(took < 1500, "echo took %llu ms behind sleep",
	              (unsigned long long)took);
	json_decref(m);
	/* Another connection too. */
	fd2 = harness_connect(&p);
	t0 = harness_now_ms();
	m = harness_call(fd2, 1, "echo", "1", 10000);
	took = harness_now_ms() - t0;
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_msg(took < 1500, "echo took %llu ms",
	              (unsigned long long)took);
	json_decref(m);
	close(fd2);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 20000), 0);
}
END_TEST

/* A plugin directory with a broken .so, a wrong-ABI one, one with a missing
 * symbol, one failing init, a duplicate name, junk: the good ones serve. */
START_TEST(broken_plugins_are_skipped)
{
	const char *bad = getenv("JOBD_BAD_PLUGIN_DIR");
	struct harness_opts o = {0};
	struct jobd_proc p;
	char junkdir[] = "/tmp/jobd-junk-XXXXXX", path[512];
	FILE *f;
	char *log;
	json_t *m;
	int fd;

	ck_assert_ptr_nonnull(bad);
	ck_assert_ptr_nonnull(mkdtemp(junkdir));
	snprintf(path, sizeof(path), "%s/garbage.so", junkdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an ELF file\n", f);
	fclose(f);
	o.plugin_dirs[0] = getenv("JOBD_PLUGIN_DIR");
	o.plugin_dirs[1] = bad;
	o.plugin_dirs[2] = junkdir;
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	m = harness_call(fd, 1, "echo", "\"still here\"", 5000);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_str_eq(json_string_value(json_object_get(m, "output")),
	                 "still here"); /* the bundled echo, not the impostor */
	json_decref(m);
	m = harness_call(fd, 2, "wrongabi", "1", 5000);
	ck_assert_str_eq(harness_error_code(m), "unknown_plugin");
	json_decref(m);
	m = harness_call(fd, 3, "initfail", "1", 5000);
	ck_assert_str_eq(harness_error_code(m), "unknown_plugin");
	json_decref(m);
	log = harness_log(&p);
	ck_assert_msg(strstr(log, "noentry.so: no jobd_plugin_entry symbol"),
	              "log: %s", log);
	ck_assert_msg(strstr(log, "wrongabi.so: ABI 99.0"), "log: %s", log);
	ck_assert_msg(strstr(log, "undefsym.so: cannot load"), "log: %s", log);
	ck_assert_msg(strstr(log, "option \"model\" is required"), "log: %s",
	              log);
	ck_assert_msg(strstr(log, "dupecho.so: name \"echo\" is already taken"),
	              "log: %s", log);
	ck_assert_msg(strstr(log, "garbage.so: cannot load"), "log: %s", log);
	free(log);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	unlink(path);
	rmdir(junkdir);
}
END_TEST

/* stats counts connections and, per plugin, its pool's work. */
START_TEST(stats_reports_pools)
{
	struct jobd_proc p;
	json_t *m, *echo;
	int fd;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	json_decref(harness_call(fd, 1, "echo", "1", 5000));
	json_decref(
	        harness_call(fd, 2, "misbehave", "{\"do\":\"fail\"}", 5000));
	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"stats\",\"id\":9}"),
	                 0);
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(type_of(m), "stats");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 9);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                         json_object_get(m, "connections"), "current")),
	                 1);
	echo = json_object_get(json_object_get(m, "plugins"), "echo");
	ck_assert_ptr_nonnull(echo);
	ck_assert_int_eq(json_integer_value(json_object_get(echo, "done")), 1);
	ck_assert_int_ge(json_integer_value(json_object_get(echo, "workers")),
	                 1);
	ck_assert(json_is_number(json_object_get(echo, "mean_service_ms")));
	json_decref(m);
	close(fd);
	harness_stop(&p, 0, 10000);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("serve");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, call_and_answer);
	tcase_add_test(tc, pipelined_any_order);
	tcase_add_test(tc, slow_plugin_does_not_delay_another);
	tcase_add_test(tc, broken_plugins_are_skipped);
	tcase_add_test(tc, stats_reports_pools);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(daemon_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
