/* SPDX-License-Identifier: MIT */
/*
 * Python plugins and the real jobd: a NAME.py in a plugin directory is
 * found and named after its file; isolation: thread in its section is a
 * config error. Until the process pool opens a .py (docs/python-plugins.md,
 * "Status") it is logged as not served, with the reason, and every other
 * plugin is served as before. The Python host itself is tested through
 * jobd-worker (tests/worker/python/).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

START_TEST(test_python_file_found_and_refused_with_reason)
{
	char dir[] = "/tmp/jobd-pyplugins-XXXXXX", want[600];
	struct harness_opts o = {0};
	struct jobd_proc p;
	json_t *m;
	char *log;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_file(dir, "double.py",
	           "def process(input, job):\n    return 2 * input\n");
	write_file(dir, "Not-A-Name.py",
	           "def process(input, job):\n    return input\n");
	o.plugin_dirs[0] = getenv("JOBD_PLUGIN_DIR");
	o.plugin_dirs[1] = dir;
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);

	m = harness_call(fd, 1, "echo", "\"still served\"", 10000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(json_string_value(json_object_get(m, "output")),
	                 "still served");
	json_decref(m);
	m = harness_call(fd, 2, "double", "21", 10000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(harness_error_code(m), "unknown_plugin");
	json_decref(m);

	log = harness_log(&p);
	ck_assert_ptr_nonnull(log);
	snprintf(want, sizeof(want),
	         "plugin %s/double.py (double): a Python plugin runs only in "
	         "worker processes, and the process pool cannot open a .py "
	         "yet; plugins.double is not served; skipped",
	         dir);
	ck_assert_msg(strstr(log, want), "no line \"%s\" in:\n%s", want, log);
	snprintf(want, sizeof(want),
	         "plugin %s/Not-A-Name.py: the file name is not a plugin name "
	         "(want 1-64 of [a-z0-9_-], then .py); skipped",
	         dir);
	ck_assert_msg(strstr(log, want), "no line \"%s\" in:\n%s", want, log);
	free(log);

	close(fd);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 20000), 0);
	remove_file(dir, "double.py");
	remove_file(dir, "Not-A-Name.py");
	rmdir(dir);
}
END_TEST

START_TEST(test_python_with_isolation_thread_is_a_config_error)
{
	char dir[] = "/tmp/jobd-pyplugins-XXXXXX", want[600];
	struct harness_opts o = {0};
	struct jobd_proc p;
	char *log;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_file(dir, "double.py",
	           "def process(input, job):\n    return 2 * input\n");
	o.plugin_dirs[0] = getenv("JOBD_PLUGIN_DIR");
	o.plugin_dirs[1] = dir;
	o.yaml = "plugins:\n  double:\n    isolation: thread\n";
	ck_assert_int_eq(harness_start(&p, &o), 0);
	log = harness_log(&p);
	ck_assert_ptr_nonnull(log);
	snprintf(want, sizeof(want),
	         "plugin %s/double.py (double): plugins.double.isolation: "
	         "thread: a Python plugin runs only in worker processes "
	         "(isolation: process); skipped",
	         dir);
	ck_assert_msg(strstr(log, want), "no line \"%s\" in:\n%s", want, log);
	free(log);
	ck_assert_int_eq(harness_stop(&p, SIGTERM, 20000), 0);
	remove_file(dir, "double.py");
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pyplugins");
	TCase *tc = tcase_create("registry");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_python_file_found_and_refused_with_reason);
	tcase_add_test(tc, test_python_with_isolation_thread_is_a_config_error);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
