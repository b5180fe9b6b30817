/* SPDX-License-Identifier: MIT */
/* Long calls against the real daemon: progress (in order, throttled),
 * cancellation of queued and running calls, disconnects, deadlines, and
 * the provenance record on every result. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "harness.h"

static const char *type_of(const json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "type"));

	return t ? t : "";
}

static int64_t id_of(const json_t *m)
{
	return json_integer_value(json_object_get(m, "id"));
}

static void send_text(int fd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void send_text(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(harness_send_text(fd, buf), 0);
}

/* The next message that is not progress, counting the progress ones. */
static json_t *recv_final(int fd, int timeout_ms, int *n_progress)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	json_t *m;

	for (;;) {
		int64_t left = (int64_t)(end - harness_now_ms());

		m = harness_recv(fd, left > 0 ? (int)left : 0);
		if (!m || strcmp(type_of(m), "progress"))
			return m;
		if (n_progress)
			(*n_progress)++;
		json_decref(m);
	}
}

START_TEST(progress_in_order_then_result)
{
	struct jobd_proc p;
	double last = -1.0;
	int fd, n = 0;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	send_text(fd, "{\"type\":\"call\",\"id\":5,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":800}}");
	for (;;) {
		m = harness_recv(fd, 5000);
		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(id_of(m), 5);
		if (strcmp(type_of(m), "progress"))
			break;
		{
			double f = json_number_value(
			        json_object_get(m, "fraction"));

			ck_assert(f >= last && f >= 0.0 && f <= 1.0);
			last = f;
		}
		n++;
		json_decref(m);
	}
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	/* 800 ms at one note per 100 ms: several, but not hundreds. */
	ck_assert_int_ge(n, 3);
	ck_assert_int_le(n, 12);
	/* Nothing after the final answer. */
	ck_assert_ptr_null(harness_recv(fd, 300));
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(flood_is_throttled)
{
	struct jobd_proc p;
	uint64_t t0, took;
	int fd, n = 0;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	t0 = harness_now_ms();
	send_text(fd, "{\"type\":\"call\",\"id\":1,\"plugin\":\"misbehave\","
	              "\"input\":{\"do\":\"flood\"}}");
	m = recv_final(fd, 20000, &n);
	took = harness_now_ms() - t0;
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "output")),
	                 1000000);
	json_decref(m);
	/* A million reports became at most one per 100 ms. */
	fprintf(stderr, "flood: %d progress messages in %llu ms\n", n,
	        (unsigned long long)took);
	ck_assert_int_le(n, 2 + (int)(took / 100));
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(cancel_queued_and_running)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 1\n",
	};
	struct jobd_proc p;
	uint64_t t0;
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	send_text(fd, "{\"type\":\"call\",\"id\":1,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":10000}}");
	/* Running once it reports progress. */
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(type_of(m), "progress");
	json_decref(m);
	send_text(fd, "{\"type\":\"call\",\"id\":2,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":10000}}");

	/* The queued one leaves the queue and is answered at once. */
	t0 = harness_now_ms();
	send_text(fd, "{\"type\":\"cancel\",\"id\":2}");
	m = recv_final(fd, 5000, NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(id_of(m), 2);
	ck_assert_str_eq(harness_error_code(m), "cancelled");
	json_decref(m);
	ck_assert_uint_lt(harness_now_ms() - t0, 2000);

	/* The running one is answered when the plugin returns. */
	t0 = harness_now_ms();
	send_text(fd, "{\"type\":\"cancel\",\"id\":1}");
	m = recv_final(fd, 5000, NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(id_of(m), 1);
	ck_assert_str_eq(harness_error_code(m), "cancelled");
	json_decref(m);
	ck_assert_uint_lt(harness_now_ms() - t0, 2000);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(disconnect_cancels_waiting_calls)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 1\n",
	};
	struct jobd_proc p;
	uint64_t t0;
	int fd, fd2;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	send_text(fd, "{\"type\":\"call\",\"id\":1,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":20000}}");
	send_text(fd, "{\"type\":\"call\",\"id\":2,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":20000}}");
	m = harness_recv(fd, 5000);
	ck_assert_str_eq(type_of(m), "progress");
	json_decref(m);
	close(fd);
	/* The only worker is free again only if both calls were
	 * cancelled: the running one and the queued one. */
	t0 = harness_now_ms();
	fd2 = harness_connect(&p);
	m = harness_call(fd2, 9, "sleep", "{\"ms\":10}", 5000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	ck_assert_uint_lt(harness_now_ms() - t0, 3000);
	close(fd2);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(deadline_answers_timeout)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    timeout: 700ms\n",
	};
	struct jobd_proc p;
	uint64_t t0, took;
	int fd;
	json_t *m;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);

	/* timeout_ms smaller than the plugin's: it wins. */
	t0 = harness_now_ms();
	send_text(fd, "{\"type\":\"call\",\"id\":1,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":10000},\"timeout_ms\":200}");
	m = recv_final(fd, 5000, NULL);
	took = harness_now_ms() - t0;
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(harness_error_code(m), "timeout");
	json_decref(m);
	fprintf(stderr, "deadline 200 ms answered after %llu ms\n",
	        (unsigned long long)took);
	ck_assert_uint_ge(took, 150);
	ck_assert_uint_lt(took, 2000);

	/* No timeout_ms: the plugin's 700 ms applies. */
	t0 = harness_now_ms();
	send_text(fd, "{\"type\":\"call\",\"id\":2,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":10000}}");
	m = recv_final(fd, 5000, NULL);
	took = harness_now_ms() - t0;
	ck_assert_str_eq(harness_error_code(m), "timeout");
	json_decref(m);
	ck_assert_uint_ge(took, 600);
	ck_assert_uint_lt(took, 3000);

	/* A larger timeout_ms does not extend the plugin's. */
	t0 = harness_now_ms();
	send_text(fd, "{\"type\":\"call\",\"id\":3,\"plugin\":\"sleep\","
	              "\"input\":{\"ms\":10000},\"timeout_ms\":60000}");
	m = recv_final(fd, 5000, NULL);
	ck_assert_str_eq(harness_error_code(m), "timeout");
	json_decref(m);
	ck_assert_uint_lt(harness_now_ms() - t0, 3000);

	/* The stopped job freed its worker: a call still works. */
	m = harness_call(fd, 4, "echo", "7", 5000);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

static void sha256_text(const char *text, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned n = 0, i;

	ck_assert(EVP_Digest(text, len, md, &n, EVP_sha256(), NULL));
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void sha256_path(const char *path, char out[65])
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)size + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	sha256_text(buf, (size_t)size, out);
	free(buf);
}

START_TEST(provenance_on_every_result)
{
	struct jobd_proc p;
	char want_in[65], want_so[65], path[512];
	const char *input = "{\"b\": [1, 2.5, \"x\"], \"a\": {\"z\": null}}";
	json_t *m, *pv, *in;
	char *canon;
	int fd;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	m = harness_call(fd, 1, "echo", input, 5000);
	ck_assert_str_eq(type_of(m), "result");
	pv = json_object_get(m, "provenance");
	ck_assert_ptr_nonnull(pv);
	ck_assert_str_eq(json_string_value(json_object_get(pv, "plugin")),
	                 "echo");
	ck_assert_ptr_nonnull(
	        json_string_value(json_object_get(pv, "version")));
	/* The input hash is over the input's text as it arrived, spaces and
	 * key order and all (docs/protocol.md §9.2). */
	in = json_loads(input, 0, NULL);
	canon = strdup(input);
	sha256_text(canon, strlen(canon), want_in);
	ck_assert_str_eq(json_string_value(json_object_get(pv, "input_sha256")),
	                 want_in);
	free(canon);
	json_decref(in);
	snprintf(path, sizeof(path), "%s/echo.so", getenv("JOBD_PLUGIN_DIR"));
	sha256_path(path, want_so);
	ck_assert_str_eq(
	        json_string_value(json_object_get(pv, "plugin_sha256")),
	        want_so);
	ck_assert_int_eq(
	        strlen(json_string_value(json_object_get(pv, "queued_at"))),
	        24); /* 2026-01-02T03:04:05.678Z */
	ck_assert_ptr_nonnull(
	        json_string_value(json_object_get(pv, "started_at")));
	ck_assert_ptr_nonnull(
	        json_string_value(json_object_get(pv, "finished_at")));
	ck_assert(json_is_number(json_object_get(pv, "cpu_seconds")));
	ck_assert_ptr_nonnull(json_string_value(json_object_get(pv, "host")));
	json_decref(m);

	/* A failure that the plugin reported carries it too. */
	m = harness_call(fd, 2, "misbehave", "{\"do\":\"fail\"}", 5000);
	ck_assert_str_eq(harness_error_code(m), "plugin_failed");
	ck_assert_ptr_nonnull(json_object_get(m, "provenance"));
	json_decref(m);

	/* CPU time is the job's own: a busy plugin shows it. */
	m = harness_call(fd, 3, "misbehave", "{\"do\":\"flood\"}", 20000);
	ck_assert_str_eq(type_of(m), "result");
	pv = json_object_get(m, "provenance");
	ck_assert(json_number_value(json_object_get(pv, "cpu_seconds")) > 0.0);
	json_decref(m);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

static Suite *longjobs_suite(void)
{
	Suite *s = suite_create("longjobs");
	TCase *tc = tcase_create("calls");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, progress_in_order_then_result);
	tcase_add_test(tc, flood_is_throttled);
	tcase_add_test(tc, cancel_queued_and_running);
	tcase_add_test(tc, disconnect_cancels_waiting_calls);
	tcase_add_test(tc, deadline_answers_timeout);
	tcase_add_test(tc, provenance_on_every_result);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(longjobs_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
