/* SPDX-License-Identifier: MIT */
/* Unit tests for the worker's plugin descriptor check
 * (src/worker/plugin_load.c): the refusals the daemon's loader makes, in
 * its words. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/plugin_load.h"

static int process(void *s, void *w, struct jobd_job *job, const json_t *in,
                   json_t **out)
{
	return JOBD_OK;
}

static const struct jobd_plugin good = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "good_1-x",
        .process = process,
};

static void refused(const struct jobd_plugin *d, const char *want)
{
	char *why = NULL;

	ck_assert_int_lt(plugin_desc_check(d, &why), 0);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(!strcmp(why, want), "\"%s\", not \"%s\"", why, want);
	free(why);
}

START_TEST(checks)
{
	struct jobd_plugin d = good;
	char *why = NULL;
	char name[70];

	ck_assert_int_eq(plugin_desc_check(&good, &why), 0);
	ck_assert_ptr_null(why);
	/* A later minor with fields appended is fine. */
	d.abi_minor = JOBD_PLUGIN_ABI_MINOR + 3;
	d.size = sizeof(d) + 64;
	ck_assert_int_eq(plugin_desc_check(&d, &why), 0);

	refused(NULL, "jobd_plugin_entry returned NULL");
	d = good;
	d.abi_major = 2;
	d.abi_minor = 0;
	snprintf(name, sizeof(name), "ABI 2.0, but this jobd speaks %u.%u",
	         JOBD_PLUGIN_ABI_MAJOR, JOBD_PLUGIN_ABI_MINOR);
	refused(&d, name);
	d = good;
	d.size = offsetof(struct jobd_plugin, process);
	snprintf(name, sizeof(name), "descriptor of %u bytes is too small",
	         d.size);
	refused(&d, name);
	d = good;
	d.name = "Echo";
	refused(&d, "invalid name (want 1-64 of [a-z0-9_-])");
	d.name = "";
	refused(&d, "invalid name (want 1-64 of [a-z0-9_-])");
	d.name = NULL;
	refused(&d, "invalid name (want 1-64 of [a-z0-9_-])");
	memset(name, 'a', 65);
	name[65] = '\0';
	d.name = name;
	refused(&d, "invalid name (want 1-64 of [a-z0-9_-])");
	name[64] = '\0'; /* 64 is the most */
	ck_assert_int_eq(plugin_desc_check(&d, &why), 0);
	d.process = NULL;
	snprintf(name, sizeof(name), "%s", good.name);
	d.name = name;
	refused(&d, "good_1-x has no process function");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("plugin_desc");
	TCase *t = tcase_create("check");
	SRunner *r;
	int failed;

	tcase_add_test(t, checks);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
