/* SPDX-License-Identifier: MIT */
/* Every error code of docs/protocol.md that a client can provoke, each
 * produced on purpose; after each one the connection still works (or, for
 * the framing-level codes, is closed right after the error frame). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct jobd_proc proc;
static int conn = -1;

static void start(const char *yaml)
{
	struct harness_opts o = {.yaml = yaml};

	ck_assert_int_eq(harness_start(&proc, &o), 0);
	conn = harness_connect(&proc);
	ck_assert_int_ge(conn, 0);
}

static void stop(void)
{
	if (conn >= 0)
		close(conn);
	conn = -1;
	harness_stop(&proc, 0, 15000);
}

/* The connection answers a ping: it survived whatever came before. */
static void assert_alive(int fd)
{
	json_t *m;

	ck_assert_int_eq(
	        harness_send_text(fd, "{\"type\":\"ping\",\"id\":999}"), 0);
	m = harness_recv_answer(fd, 5000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")), "pong");
	json_decref(m);
}

/* Sends text as a frame and expects an error with code (and id if >= 0). */
static json_t *expect_error(int fd, const char *text, const char *code,
                            long long id)
{
	json_t *m;

	ck_assert_int_eq(harness_send_text(fd, text), 0);
	m = harness_recv_answer(fd, 10000);
	ck_assert_msg(m != NULL, "no answer to %s", text);
	ck_assert_msg(!strcmp(harness_error_code(m), code),
	              "%s: want %s, got %s", text, code,
	              json_dumps(m, JSON_COMPACT));
	if (id >= 0)
		ck_assert_int_eq(json_integer_value(json_object_get(m, "id")),
		                 id);
	else
		ck_assert_ptr_null(json_object_get(m, "id"));
	ck_assert(json_is_string(json_object_get(m, "message")));
	ck_assert_int_gt(
	        strlen(json_string_value(json_object_get(m, "message"))), 0);
	return m;
}

START_TEST(request_errors_keep_the_connection)
{
	start("plugins:\n  sleep:\n    workers: 1\n    queue_bound: 1\n");
	json_decref(expect_error(conn, "{\"type\":\"call\",", "bad_json", -1));
	assert_alive(conn);
	json_decref(expect_error(conn, "[1,2]", "bad_request", -1));
	json_decref(expect_error(conn,
	                         "{\"type\":\"call\",\"id\":4,\"input\":1}",
	                         "bad_request", 4));
	json_decref(expect_error(
	        conn, "{\"type\":\"call\",\"id\":5,\"plugin\":7,\"input\":1}",
	        "bad_request", 5));
	json_decref(expect_error(conn, "{\"type\":\"frobnicate\",\"id\":6}",
	                         "unknown_type", 6));
	json_decref(expect_error(conn, "{\"type\":\"hello\",\"version\":0}",
	                         "unsupported_version", -1));
	json_decref(expect_error(
	        conn,
	        "{\"type\":\"call\",\"id\":8,\"plugin\":\"nbdy\",\"input\":1}",
	        "unknown_plugin", 8));
	assert_alive(conn);
	stop();
}
END_TEST

START_TEST(duplicate_busy_cancel)
{
	json_t *m;

	start("plugins:\n  sleep:\n    workers: 1\n    queue_bound: 1\n");
	/* One runs, one waits in the queue of 1. */
	ck_assert_int_eq(harness_send_text(conn, "{\"type\":\"call\",\"id\":1,"
	                                         "\"plugin\":\"sleep\","
	                                         "\"input\":{\"ms\":4000}}"),
	                 0);
	usleep(200 * 1000);
	ck_assert_int_eq(harness_send_text(conn, "{\"type\":\"call\",\"id\":2,"
	                                         "\"plugin\":\"sleep\","
	                                         "\"input\":{\"ms\":4000}}"),
	                 0);
	json_decref(
	        expect_error(conn,
	                     "{\"type\":\"call\",\"id\":1,\"plugin\":\"echo\","
	                     "\"input\":1}",
	                     "duplicate_id", 1));
	m = expect_error(conn,
	                 "{\"type\":\"call\",\"id\":3,\"plugin\":\"sleep\","
	                 "\"input\":{\"ms\":1}}",
	                 "busy", 3);
	ck_assert(json_is_integer(json_object_get(m, "retry_after_ms")));
	ck_assert_int_gt(
	        json_integer_value(json_object_get(m, "retry_after_ms")), 0);
	json_decref(m);
	/* Cancel the queued one: answered at once. */
	json_decref(expect_error(conn, "{\"type\":\"cancel\",\"id\":2}",
	                         "cancelled", 2));
	/* Cancel the running one: answered when the plugin stops. */
	json_decref(expect_error(conn, "{\"type\":\"cancel\",\"id\":1}",
	                         "cancelled", 1));
	assert_alive(conn);
	stop();
}
END_TEST

START_TEST(deadline_answers_timeout)
{
	uint64_t t0 = 0, took;

	start("plugins:\n  sleep:\n    workers: 2\n");
	t0 = harness_now_ms();
	json_decref(
	        expect_error(conn,
	                     "{\"type\":\"call\",\"id\":1,\"plugin\":\"sleep\","
	                     "\"input\":{\"ms\":10000},\"timeout_ms\":200}",
	                     "timeout", 1));
	took = harness_now_ms() - t0;
	ck_assert_msg(took >= 190 && took < 3000, "timeout after %llu ms",
	              (unsigned long long)took);
	assert_alive(conn);
	stop();
}
END_TEST

START_TEST(plugin_failures)
{
	json_t *m;

	start(NULL);
	m = expect_error(conn,
	                 "{\"type\":\"call\",\"id\":1,\"plugin\":\"misbehave\","
	                 "\"input\":{\"do\":\"fail\"}}",
	                 "plugin_failed", 1);
	ck_assert_str_eq(json_string_value(json_object_get(m, "message")),
	                 "the model diverged at step 17");
	json_decref(m);
	json_decref(expect_error(conn,
	                         "{\"type\":\"call\",\"id\":2,\"plugin\":"
	                         "\"misbehave\",\"input\":{\"do\":\"null\"}}",
	                         "plugin_failed", 2));
	json_decref(expect_error(conn,
	                         "{\"type\":\"call\",\"id\":3,\"plugin\":"
	                         "\"misbehave\",\"input\":{\"do\":\"silent\"}}",
	                         "plugin_failed", 3));
	json_decref(
	        expect_error(conn,
	                     "{\"type\":\"call\",\"id\":4,\"plugin\":"
	                     "\"misbehave\",\"input\":{\"do\":\"badcode\"}}",
	                     "plugin_failed", 4));
	json_decref(
	        expect_error(conn,
	                     "{\"type\":\"call\",\"id\":5,\"plugin\":\"sleep\","
	                     "\"input\":{\"ms\":\"soon\"}}",
	                     "bad_request", 5));
	assert_alive(conn);
	stop();
}
END_TEST

START_TEST(framing_errors_close)
{
	static const unsigned char zero[4] = {0, 0, 0, 0};
	static const unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
	static const unsigned char over[4] = {0, 0, 0x04, 0x01}; /* 1025 */
	json_t *m;
	int fd;

	start("limits:\n  max_frame_size: 1KiB\n");
	ck_assert_int_eq(harness_send_raw(conn, zero, 4), 0);
	m = harness_recv(conn, 5000);
	ck_assert_str_eq(harness_error_code(m), "bad_frame");
	json_decref(m);
	ck_assert(harness_wait_closed(conn, 5000));

	/* The top bit marks an array frame (protocol §12.1): before a hello
	 * that agreed on version 2 that is a framing error. */
	fd = harness_connect(&proc);
	ck_assert_int_eq(harness_send_raw(fd, huge, 4), 0);
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(harness_error_code(m), "bad_frame");
	json_decref(m);
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);

	fd = harness_connect(&proc);
	ck_assert_int_eq(harness_send_raw(fd, over, 4), 0);
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(harness_error_code(m), "too_large");
	json_decref(m);
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);

	/* Exactly the maximum is fine. */
	fd = harness_connect(&proc);
	{
		char body[1025];

		memset(body, ' ', 1024);
		memcpy(body, "{\"type\":\"ping\",\"id\":1}", 22);
		body[1024] = '\0';
		ck_assert_int_eq(harness_send_text(fd, body), 0);
		m = harness_recv(fd, 5000);
		ck_assert_str_eq(json_string_value(json_object_get(m, "type")),
		                 "pong");
		json_decref(m);
	}
	close(fd);
	stop();
}
END_TEST

START_TEST(too_many_connections)
{
	json_t *m;
	int a, b, c;

	start("limits:\n  max_connections: 2\n");
	a = harness_connect(&proc);
	assert_alive(conn);
	assert_alive(a);
	b = harness_connect(&proc);
	m = harness_recv(b, 5000);
	ck_assert_str_eq(harness_error_code(m), "too_many_connections");
	json_decref(m);
	ck_assert(harness_wait_closed(b, 5000));
	close(b);
	/* Room frees: accepting resumes. */
	close(a);
	usleep(300 * 1000);
	c = harness_connect(&proc);
	assert_alive(c);
	close(c);
	stop();
}
END_TEST

START_TEST(idle_and_frame_timeouts)
{
	json_t *m;
	int fd;

	start("limits:\n  idle_timeout: 500ms\n  frame_timeout: 700ms\n");
	m = harness_recv(conn, 5000);
	ck_assert_str_eq(harness_error_code(m), "idle_timeout");
	json_decref(m);
	ck_assert(harness_wait_closed(conn, 5000));
	/* Half a frame, then nothing more: the frame deadline closes it. */
	fd = harness_connect(&proc);
	ck_assert_int_eq(harness_send_raw(fd, "\0\0\0\x20{\"ty", 8), 0);
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(harness_error_code(m), "idle_timeout");
	json_decref(m);
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);
	stop();
}
END_TEST

START_TEST(shutting_down_refuses_new_calls)
{
	json_t *m;
	int other;

	start("plugins:\n  sleep:\n    workers: 1\n");
	other = harness_connect(&proc);
	assert_alive(other);
	ck_assert_int_eq(harness_send_text(conn, "{\"type\":\"call\",\"id\":1,"
	                                         "\"plugin\":\"sleep\","
	                                         "\"input\":{\"ms\":1500}}"),
	                 0);
	usleep(200 * 1000);
	kill(proc.pid, SIGTERM);
	ck_assert_int_eq(
	        harness_wait_notify(&proc, "STOPPING=1", 5000, NULL, 0), 0);
	json_decref(
	        expect_error(other,
	                     "{\"type\":\"call\",\"id\":2,\"plugin\":\"echo\","
	                     "\"input\":1}",
	                     "shutting_down", 2));
	/* The running job still finishes and is answered. */
	m = harness_recv_answer(conn, 10000);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")),
	                 "result");
	json_decref(m);
	close(other);
	stop();
}
END_TEST

/* Partly received frames across all connections are bounded: past
 * max_input_buffer the connection starting another frame is closed, the
 * others go on. */
START_TEST(input_budget_across_connections)
{
	char head[4], body[3000];
	json_t *m;
	int a, b, c;

	start("limits:\n  max_frame_size: 4KiB\n  max_input_buffer: 4KiB\n");
	memset(body, ' ', sizeof(body));
	memcpy(body, "{\"type\":\"ping\",\"id\":1}", 22);
	head[0] = head[1] = 0;
	head[2] = (char)(sizeof(body) >> 8);
	head[3] = (char)(sizeof(body) & 0xff);
	a = harness_connect(&proc);
	ck_assert_int_eq(harness_send_raw(a, head, 4), 0);
	ck_assert_int_eq(harness_send_raw(a, body, 100), 0); /* holds 3000 */
	usleep(200 * 1000);
	b = harness_connect(&proc);
	ck_assert_int_eq(harness_send_raw(b, head, 4), 0); /* 6000 > 4 KiB */
	m = harness_recv(b, 5000);
	ck_assert_str_eq(harness_error_code(m), "too_large");
	json_decref(m);
	ck_assert(harness_wait_closed(b, 5000));
	close(b);
	/* The first finishes its frame and is answered; then room is back. */
	ck_assert_int_eq(harness_send_raw(a, body + 100, sizeof(body) - 100),
	                 0);
	m = harness_recv(a, 5000);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")), "pong");
	json_decref(m);
	c = harness_connect(&proc);
	ck_assert_int_eq(harness_send_raw(c, head, 4), 0);
	ck_assert_int_eq(harness_send_raw(c, body, sizeof(body)), 0);
	m = harness_recv(c, 5000);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")), "pong");
	json_decref(m);
	close(a);
	close(c);
	stop();
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("codes");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, request_errors_keep_the_connection);
	tcase_add_test(tc, duplicate_busy_cancel);
	tcase_add_test(tc, deadline_answers_timeout);
	tcase_add_test(tc, plugin_failures);
	tcase_add_test(tc, framing_errors_close);
	tcase_add_test(tc, too_many_connections);
	tcase_add_test(tc, input_budget_across_connections);
	tcase_add_test(tc, idle_and_frame_timeouts);
	tcase_add_test(tc, shutting_down_refuses_new_calls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(errors_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
