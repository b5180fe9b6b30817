/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/daemon/exec/pyplugin.c and the registry's scan: a
 * NAME.py in a plugin directory is found, named after its file, and
 * refused with its reason while the daemon has no process pool.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/exec/pyplugin.h"
#include "daemon/exec/registry.h"

START_TEST(test_is_python)
{
	ck_assert(pyplugin_is_python("/x/iris_forest.py"));
	ck_assert(pyplugin_is_python("a.py"));
	ck_assert(!pyplugin_is_python(".py"));
	ck_assert(!pyplugin_is_python("/x/echo.so"));
	ck_assert(!pyplugin_is_python("/x/a.pyc"));
	ck_assert(!pyplugin_is_python(NULL));
}
END_TEST

START_TEST(test_name)
{
	char name[65], small[4];

	ck_assert_int_eq(pyplugin_name("/d/iris_forest.py", name, sizeof(name)),
	                 0);
	ck_assert_str_eq(name, "iris_forest");
	ck_assert_int_eq(pyplugin_name("a-1.py", name, sizeof(name)), 0);
	ck_assert_str_eq(name, "a-1");
	ck_assert_int_eq(pyplugin_name("/d/Iris.py", name, sizeof(name)),
	                 -EINVAL);
	ck_assert_int_eq(pyplugin_name("/d/a.b.py", name, sizeof(name)),
	                 -EINVAL);
	ck_assert_int_eq(pyplugin_name("/d/abcd.py", small, sizeof(small)),
	                 -EINVAL);
	ck_assert_int_eq(
	        pyplugin_name(
	                "/d/"
	                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                "aaaaaaaaaaaaa.py",
	                name, sizeof(name)),
	        -EINVAL); /* 65 characters */
}
END_TEST

START_TEST(test_refusal)
{
	struct config_plugin defaults;
	char *why;

	config_plugin_defaults(&defaults);
	why = pyplugin_refusal("iris_forest", &defaults);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, "a Python plugin runs only in worker processes, "
	                      "and the process pool cannot open a .py yet; "
	                      "plugins.iris_forest is not served");
	free(why);
	defaults.isolation = CONFIG_ISOLATION_THREAD;
	why = pyplugin_refusal("iris_forest", &defaults);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, "plugins.iris_forest.isolation: thread: a Python "
	                      "plugin runs only in worker processes "
	                      "(isolation: process)");
	free(why);
}
END_TEST

static void touch(const char *dir, const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

START_TEST(test_scan_finds_python)
{
	char dir[] = "/tmp/jobd-pyplugin-XXXXXX", path[512];
	const char *names[] = {"b.py", "a.so", "c.txt", ".hidden.py", "d.pyc"};
	char **paths = NULL;
	size_t n = 0, i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		touch(dir, names[i]);
	/* Not strict: the trust check is tests/integration/test_trust.c's
	 * concern, not the file names. */
	ck_assert_int_eq(registry_scan_dir(dir, false, &paths, &n), 0);
	ck_assert_uint_eq(n, 2);
	snprintf(path, sizeof(path), "%s/a.so", dir);
	ck_assert_str_eq(paths[0], path);
	snprintf(path, sizeof(path), "%s/b.py", dir);
	ck_assert_str_eq(paths[1], path);
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pyplugin");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_is_python);
	tcase_add_test(tc, test_name);
	tcase_add_test(tc, test_refusal);
	tcase_add_test(tc, test_scan_finds_python);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
