/* SPDX-License-Identifier: MIT */
/*
 * The daemon's side of binary arrays (protocol version 2,
 * docs/protocol.md §12) against the real jobd on loopback, with raw
 * sockets so that every byte on the wire is the test's choice: the hello
 * that agrees on version 2; an array frame cut at every split point; each
 * rule of the arrays list (dtype, shape and length, overflow); a data
 * block over max_array_bytes or max_input_buffer refused from its prefix
 * alone; array frames from a version 1 client; arrays where none may go;
 * and provenance hashing what arrived.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <openssl/sha.h>

#include "harness.h"
#include "wire/array.h"
#include "wire/frame.h"

/* max_array_bytes 1 MiB, max_input_buffer 4 MiB: a test can pass both
 * without sending much. */
static const char *const limits_yaml = "limits:\n"
                                       "  max_array_bytes: 1MiB\n"
                                       "  max_input_buffer: 4MiB\n";

static void start(struct jobd_proc *p)
{
	struct harness_opts o = {.yaml = limits_yaml};

	ck_assert_int_eq(harness_start(p, &o), 0);
}

/* A hello asking for version; the answer. */
static json_t *hello(int fd, int version)
{
	json_t *m = json_pack("{ss si ss}", "type", "hello", "version", version,
	                      "client", "test-arrays");

	ck_assert_int_eq(harness_send(fd, m), 0);
	json_decref(m);
	return harness_recv(fd, 5000);
}

/* Receives one frame of either kind; *data (malloc'd, or NULL) and
 * *data_len its data block. NULL on timeout or EOF. */
static json_t *recv_any(int fd, void **data, uint64_t *data_len, int timeout_ms)
{
	struct frame_decoder d;
	char buf[65536];
	json_t *out = NULL;
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	size_t used, len, off;
	ssize_t n;
	int st;

	*data = NULL;
	*data_len = 0;
	frame_decoder_init(&d, FRAME_MAX_LIMIT);
	frame_decoder_allow_arrays(&d, (uint64_t)1 << 32, NULL);
	while (!out && harness_now_ms() < deadline) {
		struct timeval tv = {0, 200000};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			break;
		if (n < 0)
			continue;
		for (off = 0; off < (size_t)n && !out; off += used) {
			st = frame_decoder_feed(&d, buf + off, (size_t)n - off,
			                        &used);
			if (st == FRAME_READY) {
				char *body = frame_decoder_take_data(
				        &d, &len, data, data_len);

				out = json_loadb(body, len, 0, NULL);
				free(body);
			}
			ck_assert_int_ge(st, 0);
		}
		/* One frame at a time: the tests never pipeline. */
		ck_assert_uint_eq(off, (size_t)n);
	}
	frame_decoder_fini(&d);
	return out;
}

/* The frame of a call of plugin with input (JSON text) and arrays a[n],
 * as bytes: *len of them, malloc'd. */
static char *call_frame(int64_t id, const char *plugin, const char *input,
                        const struct jobd_array *a, size_t n, size_t *len)
{
	json_t *m = json_pack("{ss sI ss so}", "type", "call", "id",
	                      (json_int_t)id, "plugin", plugin, "input",
	                      json_loads(input, 0, NULL));
	struct frame_out o;
	char *buf, *p;
	int i;

	ck_assert_int_eq(frame_encode_arrays(m, NULL, a, n, &o), 0);
	json_decref(m);
	buf = p = malloc(o.total);
	for (i = 0; i < o.iovcnt; i++) {
		memcpy(p, o.iov[i].iov_base, o.iov[i].iov_len);
		p += o.iov[i].iov_len;
	}
	*len = o.total;
	frame_out_fini(&o);
	return buf;
}

/* An array frame built by hand: JSON text and a data block of data_len
 * bytes (zeros). */
static char *raw_frame(const char *json, uint64_t data_len, size_t *len)
{
	size_t j = strlen(json), pad = frame_array_pad((uint32_t)j);
	char *buf;

	*len = FRAME_ARRAY_PREFIX_SIZE + j + pad + data_len;
	buf = calloc(1, *len);
	frame_put_array_prefix((uint8_t *)buf, (uint32_t)j, data_len);
	memcpy(buf + FRAME_ARRAY_PREFIX_SIZE, json, j);
	return buf;
}

static void sha256_text(const void *d, size_t n, char out[65])
{
	unsigned char md[32];

	SHA256(d, n, md);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static double vals[5] = {1.5, -2.0, 3.25, 1e300, -0.0};
static int32_t ints[6] = {1, -2, 3, -4, 5, 2147483647};

static void sample(struct jobd_array a[2])
{
	a[0] = (struct jobd_array){"v", JOBD_DTYPE_F64, 1, {5}, vals, 40};
	a[1] = (struct jobd_array){"m", JOBD_DTYPE_I32, 2, {2, 3}, ints, 24};
}

/* The echo answer carries both arrays back, intact. */
static void check_echo(json_t *r, const void *data, uint64_t data_len,
                       int64_t id)
{
	struct jobd_array got[JOBD_ARRAYS_MAX];
	size_t n = 0;
	struct array_error e;

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "type")),
	                 "result");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id);
	ck_assert_int_eq(array_parse(json_object_get(r, "arrays"), data,
	                             data_len, got, &n, &e),
	                 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(got[0].name, "v");
	ck_assert_uint_eq(got[0].dtype, JOBD_DTYPE_F64);
	ck_assert_mem_eq(got[0].data, vals, sizeof(vals));
	ck_assert_str_eq(got[1].name, "m");
	ck_assert_uint_eq(got[1].ndim, 2);
	ck_assert_uint_eq(got[1].shape[1], 3);
	ck_assert_mem_eq(got[1].data, ints, sizeof(ints));
}

START_TEST(hello_agrees_on_version_2)
{
	struct jobd_proc p;
	int fd;
	json_t *r;

	start(&p);
	fd = harness_connect(&p);
	r = hello(fd, 2);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "version")), 2);
	ck_assert_int_eq(
	        json_integer_value(json_object_get(r, "max_array_bytes")),
	        1 << 20);
	json_decref(r);
	close(fd);
	/* A newer client gets 2; an older one 1 and no max_array_bytes. */
	fd = harness_connect(&p);
	r = hello(fd, 7);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "version")), 2);
	json_decref(r);
	close(fd);
	fd = harness_connect(&p);
	r = hello(fd, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "version")), 1);
	ck_assert_ptr_null(json_object_get(r, "max_array_bytes"));
	json_decref(r);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* Every split point: the frame's first k bytes, a pause long enough for
 * jobd to read them alone, then the rest. */
START_TEST(every_split_point)
{
	struct jobd_proc p;
	struct jobd_array a[2];
	size_t len, k;
	char *f;
	void *data;
	uint64_t data_len;
	int fd;
	json_t *r;

	start(&p);
	fd = harness_connect(&p);
	json_decref(hello(fd, 2));
	sample(a);
	f = call_frame(1, "echo", "{\"k\":[1,2]}", a, 2, &len);
	for (k = 1; k < len; k++) {
		/* The id stays 1: each answer comes before the next call. */
		ck_assert_int_eq(harness_send_raw(fd, f, k), 0);
		usleep(2000);
		ck_assert_int_eq(harness_send_raw(fd, f + k, len - k), 0);
		r = recv_any(fd, &data, &data_len, 10000);
		check_echo(r, data, data_len, 1);
		json_decref(r);
		free(data);
	}
	free(f);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* A bad arrays list is bad_request with the call's id; the connection
 * goes on. */
static void expect_bad_request(int fd, const char *json, uint64_t data_len,
                               const char *needle)
{
	size_t len;
	char *f = raw_frame(json, data_len, &len);
	json_t *r;

	ck_assert_int_eq(harness_send_raw(fd, f, len), 0);
	free(f);
	r = harness_recv(fd, 5000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(harness_error_code(r), "bad_request");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 9);
	if (!strstr(json_string_value(json_object_get(r, "message")), needle))
		ck_abort_msg("\"%s\" does not say \"%s\"",
		             json_string_value(json_object_get(r, "message")),
		             needle);
	json_decref(r);
}

#define CALL_HEAD                                                              \
	"{\"type\":\"call\",\"id\":9,\"plugin\":\"echo\",\"input\":{},"

START_TEST(bad_arrays_are_bad_requests)
{
	static const char *const dtypes[] = {"f16", "F64", "float64",
	                                     "c64", "",    "i128"};
	struct jobd_proc p;
	char json[400];
	int fd;
	json_t *r;

	start(&p);
	fd = harness_connect(&p);
	json_decref(hello(fd, 2));
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++) {
		snprintf(json, sizeof(json),
		         CALL_HEAD
		         "\"arrays\":[{\"name\":\"x\",\"dtype\":\"%s\","
		         "\"shape\":[2],\"nbytes\":16}]}",
		         dtypes[i]);
		expect_bad_request(fd, json, 64, "dtype");
	}
	expect_bad_request(fd, CALL_HEAD "\"arrays\":7}", 64, "arrays");
	/* Shape and length disagree. */
	expect_bad_request(fd,
	                   CALL_HEAD "\"arrays\":[{\"name\":\"x\",\"dtype\":"
	                             "\"f64\",\"shape\":[3],\"nbytes\":16}]}",
	                   64, "nbytes");
	/* Sections that do not fill the data block. */
	expect_bad_request(fd,
	                   CALL_HEAD "\"arrays\":[{\"name\":\"x\",\"dtype\":"
	                             "\"f64\",\"shape\":[2],\"nbytes\":16}]}",
	                   128, "frame carries");
	/* A shape whose product overflows 63 bits. */
	expect_bad_request(fd,
	                   CALL_HEAD "\"arrays\":[{\"name\":\"x\",\"dtype\":"
	                             "\"f64\",\"shape\":[4294967296,"
	                             "4294967296],\"nbytes\":0}]}",
	                   64, "x");
	/* Bad and repeated names. */
	expect_bad_request(fd,
	                   CALL_HEAD "\"arrays\":[{\"name\":\"../x\",\"dtype\":"
	                             "\"u8\",\"shape\":[1],\"nbytes\":1}]}",
	                   64, "name");
	/* Detached jobs cannot carry arrays yet: refused, never stored
	 * without them. */
	expect_bad_request(fd,
	                   CALL_HEAD "\"detach\":true,\"arrays\":[{\"name\":"
	                             "\"x\",\"dtype\":\"u8\",\"shape\":[1],"
	                             "\"nbytes\":1}]}",
	                   64, "detached jobs cannot carry binary arrays");
	/* Arrays for a plugin that takes none; arrays on a ping. */
	expect_bad_request(
	        fd,
	        "{\"type\":\"call\",\"id\":9,\"plugin\":\"sleep\",\"input\":{},"
	        "\"arrays\":[{\"name\":\"x\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":1}]}",
	        64, "takes no binary arrays");
	expect_bad_request(fd,
	                   "{\"type\":\"ping\",\"id\":9,\"arrays\":[{\"name\":"
	                   "\"x\",\"dtype\":\"u8\",\"shape\":[1],\"nbytes\":"
	                   "1}]}",
	                   64, "only a call carries arrays");
	/* Still serving. */
	r = harness_call(fd, 10, "echo", "{\"ok\":true}", 5000);
	ck_assert_str_eq(json_string_value(json_object_get(r, "type")),
	                 "result");
	json_decref(r);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* Over max_array_bytes: refused from the 16-byte prefix, before one byte
 * of the block is sent (the test sends none). */
START_TEST(over_the_limit_from_the_prefix)
{
	struct jobd_proc p;
	uint8_t prefix[FRAME_ARRAY_PREFIX_SIZE];
	int fd;
	json_t *r;

	start(&p);
	fd = harness_connect(&p);
	json_decref(hello(fd, 2));
	frame_put_array_prefix(prefix, 100, (1u << 20) + 64);
	ck_assert_int_eq(harness_send_raw(fd, prefix, sizeof(prefix)), 0);
	r = harness_recv(fd, 5000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(harness_error_code(r), "too_large");
	ck_assert_ptr_nonnull(
	        strstr(json_string_value(json_object_get(r, "message")),
	               "max_array_bytes"));
	json_decref(r);
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);

	/* Within max_array_bytes but past max_input_buffer together with
	 * another connection's partial frame: refused from the prefix too. */
	{
		int fd2 = harness_connect(&p);
		size_t len;
		char *f = raw_frame("{\"type\":\"ping\"}", (1u << 20) - 64 * 4,
		                    &len);

		fd = harness_connect(&p);
		json_decref(hello(fd, 2));
		json_decref(hello(fd2, 2));
		/* Three quarters of a 1 MiB block, held open, x 4 conns
		 * would pass 4 MiB; here one big JSON frame of 3.5 MiB
		 * (max_frame_size 16 MiB) plus this block does. */
		uint8_t h[4];

		frame_put_header(h, 3500u << 10);
		ck_assert_int_eq(harness_send_raw(fd2, h, 4), 0);
		ck_assert_int_eq(harness_send_raw(fd2, "{", 1), 0);
		usleep(100000);
		ck_assert_int_eq(
		        harness_send_raw(fd, f, FRAME_ARRAY_PREFIX_SIZE), 0);
		r = harness_recv(fd, 5000);
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(harness_error_code(r), "too_large");
		ck_assert_ptr_nonnull(
		        strstr(json_string_value(json_object_get(r, "message")),
		               "max_input_buffer"));
		json_decref(r);
		free(f);
		close(fd2);
		close(fd);
	}
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* A version 1 client sees no change; an array frame from it is
 * bad_frame. */
START_TEST(version_1_client)
{
	struct jobd_proc p;
	struct jobd_array a[2];
	size_t len;
	char *f;
	int fd;
	json_t *r;

	start(&p);
	sample(a);
	f = call_frame(1, "echo", "{}", a, 2, &len);
	for (int v = 0; v <= 1; v++) {
		fd = harness_connect(&p);
		if (v)
			json_decref(hello(fd, 1));
		r = harness_call(fd, 3, "echo", "{\"a\":[1,2,3]}", 5000);
		ck_assert_str_eq(json_string_value(json_object_get(r, "type")),
		                 "result");
		ck_assert_ptr_null(json_object_get(r, "arrays"));
		ck_assert_ptr_null(json_object_get(
		        json_object_get(r, "provenance"), "arrays_sha256"));
		json_decref(r);
		ck_assert_int_eq(harness_send_raw(fd, f, len), 0);
		r = harness_recv(fd, 5000);
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(harness_error_code(r), "bad_frame");
		json_decref(r);
		ck_assert(harness_wait_closed(fd, 5000));
		close(fd);
	}
	free(f);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* Provenance: each array's SHA-256 and the input's JSON text exactly as
 * sent (spaces and all), the plugin's options and their hash. */
START_TEST(provenance_hashes_what_arrived)
{
	static const char input[] = "{ \"b\" : [1, 2.50],\n\"a\":\"z\" }";
	struct jobd_proc p;
	struct jobd_array a[2];
	struct harness_opts o = {
	        .yaml = "plugins:\n"
	                "  echo:\n"
	                "    options: {b: 2, a: [1, \"x\"]}\n"};
	char want[65], *f, body[300];
	size_t len;
	void *data;
	uint64_t data_len;
	json_t *r, *pv;
	int fd, n;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	json_decref(hello(fd, 2));
	sample(a);
	f = call_frame(4, "echo", "{}", a, 2, &len);
	ck_assert_int_eq(harness_send_raw(fd, f, len), 0);
	free(f);
	r = recv_any(fd, &data, &data_len, 10000);
	check_echo(r, data, data_len, 4);
	pv = json_object_get(r, "provenance");
	sha256_text(vals, sizeof(vals), want);
	ck_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(pv, "arrays_sha256"), "v")),
	                 want);
	sha256_text(ints, sizeof(ints), want);
	ck_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(pv, "arrays_sha256"), "m")),
	                 want);
	/* The options, and the hash of their canonical text. */
	ck_assert_int_eq(json_integer_value(json_object_get(
	                         json_object_get(pv, "options"), "b")),
	                 2);
	sha256_text("{\"a\":[1,\"x\"],\"b\":2}", 19, want);
	ck_assert_str_eq(
	        json_string_value(json_object_get(pv, "options_sha256")), want);
	json_decref(r);
	free(data);

	/* The input's own bytes, as written. */
	n = snprintf(body, sizeof(body),
	             "{\"type\":\"call\",\"id\":5,\"input\":%s,\"plugin\":"
	             "\"echo\"}",
	             input);
	ck_assert_int_eq(harness_send_text(fd, body), 0);
	(void)n;
	r = harness_recv(fd, 5000);
	sha256_text(input, strlen(input), want);
	ck_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(r, "provenance"), "input_sha256")),
	        want);
	json_decref(r);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

static Suite *arrays_suite(void)
{
	Suite *s = suite_create("arrays");
	TCase *tc = tcase_create("arrays");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hello_agrees_on_version_2);
	tcase_add_test(tc, every_split_point);
	tcase_add_test(tc, bad_arrays_are_bad_requests);
	tcase_add_test(tc, over_the_limit_from_the_prefix);
	tcase_add_test(tc, version_1_client);
	tcase_add_test(tc, provenance_hashes_what_arrived);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(arrays_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
