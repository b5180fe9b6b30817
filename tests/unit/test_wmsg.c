/* SPDX-License-Identifier: MIT */
/* Unit tests for the worker protocol codec (src/ipc/wmsg.c). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jobd/plugin.h>

#include "ipc/wmsg.h"
#include "wire/frame.h"

/* Encodes v as it goes on the socket and parses it back. */
static int reparse(json_t *v, enum wmsg_from from, struct wmsg *m,
                   struct wmsg_error *err)
{
	char *text;
	int rc;

	ck_assert_ptr_nonnull(v);
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	ck_assert_ptr_nonnull(text);
	rc = wmsg_parse(text, strlen(text), from, m, err);
	free(text);
	json_decref(v);
	return rc;
}

static void refused(const char *body, enum wmsg_from from, const char *want)
{
	struct wmsg_error err;
	struct wmsg m;

	ck_assert_msg(wmsg_parse(body, strlen(body), from, &m, &err) == -1,
	              "accepted: %s", body);
	ck_assert_ptr_null(m.root);
	ck_assert_msg(strstr(err.text, want), "%s: \"%s\" lacks \"%s\"", body,
	              err.text, want);
}

START_TEST(round_trips_daemon)
{
	struct wmsg_error err;
	struct wmsg m;
	json_t *opts = json_pack("{sf}", "softening", 0.01);
	json_t *in = json_pack("{s[ii]}", "x", 1, 2);

	ck_assert_int_eq(reparse(wmsg_init("/p/echo.so", 0, opts, 3,
	                                   JOBD_LOG_DEBUG, 65536, 1),
	                         WMSG_FROM_DAEMON, &m, &err),
	                 0);
	ck_assert_int_eq(m.type, WMSG_INIT);
	ck_assert_str_eq(m.plugin, "/p/echo.so");
	ck_assert_int_eq(m.plugin_fd, 0);
	ck_assert_uint_eq(m.nfds, 1);
	ck_assert_int_eq(m.fds[0], -1); /* none arrived: parse only */
	ck_assert(json_equal(m.options, opts));
	ck_assert_uint_eq(m.worker, 3);
	ck_assert_int_eq(m.log_level, JOBD_LOG_DEBUG);
	ck_assert_uint_eq(m.fd_threshold, 65536);
	wmsg_fini(&m);

	ck_assert_int_eq(reparse(wmsg_job(42, in, -1, 0, 1500, "j-1", 0),
	                         WMSG_FROM_DAEMON, &m, &err),
	                 0);
	ck_assert_int_eq(m.type, WMSG_JOB);
	ck_assert_int_eq(m.job, 42);
	ck_assert(json_equal(m.input, in));
	ck_assert_int_eq(m.input_fd, -1);
	ck_assert_uint_eq(m.timeout_ms, 1500);
	ck_assert_str_eq(m.job_id, "j-1");
	wmsg_fini(&m);

	ck_assert_int_eq(reparse(wmsg_job(43, NULL, 1, 12345, 0, NULL, 2),
	                         WMSG_FROM_DAEMON, &m, &err),
	                 0);
	ck_assert_ptr_null(m.input);
	ck_assert_int_eq(m.input_fd, 1);
	ck_assert_uint_eq(m.input_size, 12345);
	ck_assert_uint_eq(m.timeout_ms, 0);
	ck_assert_ptr_null(m.job_id);
	wmsg_fini(&m);

	ck_assert_int_eq(reparse(wmsg_cancel(9), WMSG_FROM_DAEMON, &m, &err),
	                 0);
	ck_assert_int_eq(m.type, WMSG_CANCEL);
	ck_assert_int_eq(m.job, 9);
	wmsg_fini(&m);
	ck_assert_int_eq(reparse(wmsg_stop(), WMSG_FROM_DAEMON, &m, &err), 0);
	ck_assert_int_eq(m.type, WMSG_STOP);
	wmsg_fini(&m);
	json_decref(opts);
	json_decref(in);
}
END_TEST

START_TEST(round_trips_worker)
{
	struct wmsg_usage u = {.user_s = 1.5,
	                       .system_s = 0.25,
	                       .maxrss_kb = 1000,
	                       .maxrss_delta_kb = 10,
	                       .peak_reset = true};
	struct wmsg_error err;
	struct wmsg m;

	ck_assert_int_eq(reparse(wmsg_ready("echo", "1.0", NULL,
	                                    JOBD_PLUGIN_RETRY_SAFE, 1, 0, 77),
	                         WMSG_FROM_WORKER, &m, &err),
	                 0);
	ck_assert_int_eq(m.type, WMSG_READY);
	ck_assert_str_eq(m.name, "echo");
	ck_assert_str_eq(m.version, "1.0");
	ck_assert_ptr_null(m.description);
	ck_assert_uint_eq(m.flags, JOBD_PLUGIN_RETRY_SAFE);
	ck_assert_int_eq(m.abi_major, 1);
	ck_assert_int_eq(m.pid, 77);
	wmsg_fini(&m);

	/* Progress is clamped when built, as thread mode clamps it. */
	ck_assert_int_eq(reparse(wmsg_progress(5, NAN, NULL), WMSG_FROM_WORKER,
	                         &m, &err),
	                 0);
	ck_assert(m.fraction == 0.0);
	ck_assert_ptr_null(m.message);
	wmsg_fini(&m);
	ck_assert_int_eq(
	        reparse(wmsg_progress(5, 7.0, "x"), WMSG_FROM_WORKER, &m, &err),
	        0);
	ck_assert(m.fraction == 1.0);
	wmsg_fini(&m);

	ck_assert_int_eq(
	        reparse(wmsg_log(99, "hello"), WMSG_FROM_WORKER, &m, &err), 0);
	ck_assert_int_eq(m.level, JOBD_LOG_DEBUG);
	ck_assert_str_eq(m.text, "hello");
	wmsg_fini(&m);

	ck_assert_int_eq(
	        reparse(wmsg_result(6, json_string("out"), -1, 0, &u, 0),
	                WMSG_FROM_WORKER, &m, &err),
	        0);
	ck_assert_str_eq(json_string_value(m.output), "out");
	ck_assert(m.has_usage);
	ck_assert(m.usage.user_s == 1.5 && m.usage.system_s == 0.25);
	ck_assert_uint_eq(m.usage.maxrss_kb, 1000);
	ck_assert_uint_eq(m.usage.maxrss_delta_kb, 10);
	ck_assert(m.usage.peak_reset);
	wmsg_fini(&m);

	ck_assert_int_eq(reparse(wmsg_result(6, NULL, 0, 99, &u, 1),
	                         WMSG_FROM_WORKER, &m, &err),
	                 0);
	ck_assert_ptr_null(m.output);
	ck_assert_int_eq(m.output_fd, 0);
	ck_assert_uint_eq(m.output_size, 99);
	wmsg_fini(&m);

	ck_assert_int_eq(
	        reparse(wmsg_error(6, JOBD_E_BAD_REQUEST, "bad x", NULL),
	                WMSG_FROM_WORKER, &m, &err),
	        0);
	ck_assert_int_eq(m.code, JOBD_E_BAD_REQUEST);
	ck_assert_str_eq(m.code_name, "bad_request");
	ck_assert_str_eq(m.message, "bad x");
	ck_assert(!m.has_usage);
	wmsg_fini(&m);

	ck_assert_int_eq(reparse(wmsg_init_failed("init", "no model"),
	                         WMSG_FROM_WORKER, &m, &err),
	                 0);
	ck_assert_str_eq(m.stage, "init");
	ck_assert_str_eq(m.message, "no model");
	wmsg_fini(&m);
}
END_TEST

START_TEST(refusals)
{
	const enum wmsg_from D = WMSG_FROM_DAEMON, W = WMSG_FROM_WORKER;

	refused("", D, "not JSON");
	refused("[1]", D, "not a JSON object");
	refused("{}", D, "type: missing");
	refused("{\"type\":\"result\"}", D, "not a message the daemon sends");
	refused("{\"type\":\"job\"}", W, "not a message the worker sends");
	refused("{\"type\":\"nope\"}", W, "not a message");
	refused("{\"type\":\"stop\",\"fds\":17}", D, "fds: 17 is out of range");
	refused("{\"type\":\"job\",\"job\":1}", D, "job: input: missing");
	refused("{\"type\":\"job\",\"job\":-1,\"input\":1}", D,
	        "job: -1 is out of range");
	refused("{\"type\":\"job\",\"job\":9007199254740992,\"input\":1}", D,
	        "out of range");
	refused("{\"type\":\"job\",\"job\":1,\"input_fd\":0,"
	        "\"input_size\":3}",
	        D, "input_fd: 0 names no descriptor (fds is 0)");
	refused("{\"type\":\"job\",\"job\":1,\"fds\":1,\"input_fd\":0,"
	        "\"input_size\":3,\"input\":1}",
	        D, "only one may be given");
	refused("{\"type\":\"job\",\"job\":1,\"fds\":1,\"input_fd\":0}", D,
	        "input_size: missing");
	refused("{\"type\":\"job\",\"job\":1,\"input\":1,\"job_id\":5}", D,
	        "job_id: not a string");
	refused("{\"type\":\"init\",\"plugin\":\"p\",\"worker\":0}", D,
	        "options: missing");
	refused("{\"type\":\"init\",\"plugin\":\"p\",\"worker\":0,"
	        "\"options\":[]}",
	        D, "options: not an object");
	refused("{\"type\":\"init\",\"plugin\":\"p\",\"worker\":0,"
	        "\"options\":{},\"log_level\":9}",
	        D, "log_level: 9 is out of range");
	refused("{\"type\":\"progress\",\"job\":1,\"fraction\":1.5}", W,
	        "fraction: over 1");
	refused("{\"type\":\"progress\",\"job\":1,\"fraction\":-0.5}", W,
	        "fraction: not a finite number >= 0");
	refused("{\"type\":\"log\",\"level\":6,\"text\":\"a\\u0000b\"}", W,
	        "text: contains a NUL byte");
	refused("{\"type\":\"result\",\"job\":1,\"output\":1}", W,
	        "usage: missing");
	refused("{\"type\":\"result\",\"job\":1,\"output\":1,\"usage\":{}}", W,
	        "user_s: missing");
	refused("{\"type\":\"error\",\"job\":1,\"code\":\"bad_frame\","
	        "\"message\":\"m\"}",
	        W, "not a code a plugin may return");
	refused("{\"type\":\"init_failed\",\"stage\":\"x\",\"message\":\"m\"}",
	        W, "stage: \"x\" is not load, init or worker_init");
	refused("{\"type\":\"ready\",\"name\":\"e\",\"flags\":0,"
	        "\"abi_major\":1,\"abi_minor\":0}",
	        W, "pid: missing");
	refused("{\"type\":\"stop\",\"type\":\"stop\"}", D, "not JSON");
}
END_TEST

/* Unknown fields are ignored, so either side may grow. */
START_TEST(unknown_fields)
{
	static const char body[] =
	        "{\"type\":\"job\",\"job\":1,\"input\":{},\"arrays\":[1],"
	        "\"future\":true}";
	struct wmsg_error err;
	struct wmsg m;

	ck_assert_int_eq(
	        wmsg_parse(body, strlen(body), WMSG_FROM_DAEMON, &m, &err), 0);
	ck_assert_int_eq(m.type, WMSG_JOB);
	wmsg_fini(&m);
}
END_TEST

/* Text from a plugin is made sendable: cut, and invalid UTF-8 replaced. */
START_TEST(plugin_text)
{
	struct wmsg_error err;
	struct wmsg m;
	char *big = malloc(WMSG_TEXT_MAX * 2);

	ck_assert_int_eq(reparse(wmsg_log(6, "caf\xc3\xa9 \xff\xfe ok"),
	                         WMSG_FROM_WORKER, &m, &err),
	                 0);
	ck_assert_str_eq(m.text, "caf?? ?? ok");
	wmsg_fini(&m);

	/* A cut inside a two-byte character backs off to its start. */
	memset(big, 'a', WMSG_TEXT_MAX * 2);
	big[WMSG_TEXT_MAX - 1] = '\xc3';
	big[WMSG_TEXT_MAX] = '\xa9';
	big[WMSG_TEXT_MAX * 2 - 1] = '\0';
	ck_assert_int_eq(reparse(wmsg_error(1, JOBD_E_PLUGIN_FAILED, big, NULL),
	                         WMSG_FROM_WORKER, &m, &err),
	                 0);
	ck_assert_uint_eq(strlen(m.message), WMSG_TEXT_MAX - 1);
	wmsg_fini(&m);
	free(big);

	/* An invalid code from a plugin never reaches the wire as such. */
	ck_assert(!wmsg_plugin_code_ok(999));
	ck_assert(!wmsg_plugin_code_ok(JOBD_E_BAD_FRAME));
	ck_assert(wmsg_plugin_code_ok(JOBD_E_CANCELLED));
	ck_assert_str_eq(wmsg_type_name(WMSG_INIT_FAILED), "init_failed");
	ck_assert_ptr_null(wmsg_type_name(WMSG_UNKNOWN));
	ck_assert_ptr_null(wmsg_type_name(WMSG_TYPE_COUNT_));
}
END_TEST

START_TEST(take_fd)
{
	struct wmsg m = {0};

	wmsg_fini(&m); /* a zeroed struct is fine */
	ck_assert_int_eq(wmsg_take_fd(&m, 0), -1);
	ck_assert_int_eq(wmsg_take_fd(&m, -1), -1);
	ck_assert_int_eq(wmsg_take_fd(&m, WMSG_MAX_FDS), -1);
}
END_TEST

static Suite *wmsg_suite(void)
{
	Suite *s = suite_create("wmsg");
	TCase *t = tcase_create("codec");

	tcase_add_test(t, round_trips_daemon);
	tcase_add_test(t, round_trips_worker);
	tcase_add_test(t, refusals);
	tcase_add_test(t, unknown_fields);
	tcase_add_test(t, plugin_text);
	tcase_add_test(t, take_fd);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(wmsg_suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
