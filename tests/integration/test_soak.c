/* SPDX-License-Identifier: MIT */
/*
 * A short soak (tests/soak/soak.c): mixed calls from 16 clients for about
 * 10 s, random disconnects, a SIGHUP every 2 s that also replaces the echo
 * plugin under load. Every answer as expected, none lost, jobd's open
 * descriptors back where they started, a clean exit. The long run is
 * build/tests/soak/jobd-soak -t 3600 (docs/hardening.md).
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "soak.h"

START_TEST(short_soak)
{
	struct harness_opts ho = {.yaml = SOAK_YAML};
	bool vg = getenv("JOBD_TEST_VALGRIND") != NULL;
	struct soak_opts o = {.seconds = 10,
	                      .clients = 16,
	                      .reload_ms = 2000,
	                      .seed = 42,
	                      .log = stderr,
	                      .notify_fd = -1};
	struct soak_result r;
	struct jobd_proc p;
	int rc, st;

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(harness_start(&p, &ho), 0);
	o.pid = p.pid;
	o.port = p.port;
	o.config = p.config_path;
	o.notify_fd = p.notify_fd;
	rc = soak_run(&o, &r);
	soak_print(stderr, &r);
	st = harness_stop(&p, 0, vg ? 120000 : 30000);
	ck_assert_msg(rc == 0, "the soak saw something unexpected");
	ck_assert_int_eq(st, 0);
	ck_assert_int_ge(r.reloads, 4);
	ck_assert_uint_gt(r.answered, vg ? 200 : 2000);
	ck_assert_uint_gt(r.failed, 0);
	ck_assert_uint_gt(r.disconnects, 10);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("soak");
	TCase *tc = tcase_create("soak");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, short_soak);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
