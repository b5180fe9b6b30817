/* SPDX-License-Identifier: MIT */
/*
 * The result cache (plugins.NAME.cache, src/daemon/exec/cache.h) against
 * the real jobd: the same input twice is answered from the cache the
 * second time, marked "cached": true in provenance; another input misses;
 * the least recently used entry goes first when max_bytes is passed; the
 * entries survive a restart; a changed plugin build misses; results with
 * binary arrays are never stored.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "wire/frame.h"

static struct jobd_proc proc;
static int conn = -1;

static void start(const char *yaml, const char *state_dir,
                  const char *plugin_dir)
{
	struct harness_opts o = {.yaml = yaml, .state_dir = state_dir};

	if (plugin_dir)
		o.plugin_dirs[0] = plugin_dir;
	ck_assert_int_eq(harness_start(&proc, &o), 0);
	conn = harness_connect(&proc);
	ck_assert_int_ge(conn, 0);
}

static void stop(void)
{
	close(conn);
	ck_assert_int_eq(harness_stop(&proc, 0, 20000), 0);
}

/* Calls echo with input; true if the answer came from the cache. The
 * output must be the input either way. */
static bool cached_call(const char *input)
{
	json_t *r = harness_call(conn, 1, "echo", input, 10000), *want;
	json_t *c;
	bool hit;

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "type")),
	                 "result");
	want = json_loads(input, 0, NULL);
	ck_assert(json_equal(json_object_get(r, "output"), want));
	json_decref(want);
	c = json_object_get(json_object_get(r, "provenance"), "cached");
	hit = json_is_true(c);
	ck_assert(hit || !c); /* true, or absent */
	json_decref(r);
	return hit;
}

/* One frame of either kind, its JSON parsed; NULL on EOF. */
static json_t *recv_frame(int fd)
{
	struct frame_decoder d;
	char buf[4096], *body;
	json_t *out = NULL;
	size_t used, len, off;
	ssize_t n;

	frame_decoder_init(&d, FRAME_MAX_LIMIT);
	frame_decoder_allow_arrays(&d, 1u << 20, NULL);
	while (!out && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (off = 0; off < (size_t)n && !out; off += used)
			if (frame_decoder_feed(&d, buf + off, (size_t)n - off,
			                       &used) == FRAME_READY) {
				body = frame_decoder_take(&d, &len);
				out = json_loadb(body, len, 0, NULL);
				free(body);
			}
	}
	frame_decoder_fini(&d);
	return out;
}

static void mkdtemp_or_fail(char *tmpl)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(hit_miss_and_eviction)
{
	start("plugins:\n  echo:\n    cache: {max_bytes: 80B}\n", NULL, NULL);
	/* A, A' and B each store 30 bytes: the third passes 80. */
	ck_assert(!cached_call("{\"pad\":\"aaaaaaaaaaaaaaaaaaaa\"}")); /* [A] */
	ck_assert(cached_call("{\"pad\":\"aaaaaaaaaaaaaaaaaaaa\"}"));  /* [A] */
	ck_assert(
	        !cached_call("{\"pad\":\"bbbbbbbbbbbbbbbbbbbb\"}")); /* [B A] */
	/* The same input written differently is another input: the hash is
	 * over the bytes that arrived (docs/protocol.md §9.2). */
	ck_assert(!cached_call(
	        "{ \"pad\":\"aaaaaaaaaaaaaaaaaaaa\"}")); /* [A' B], A evicted */
	ck_assert(
	        cached_call("{\"pad\":\"bbbbbbbbbbbbbbbbbbbb\"}")); /* [B A'] */
	ck_assert(!cached_call(
	        "{\"pad\":\"aaaaaaaaaaaaaaaaaaaa\"}")); /* [A B], A' evicted,
	                                                   not B */
	ck_assert(
	        cached_call("{\"pad\":\"bbbbbbbbbbbbbbbbbbbb\"}")); /* [B A] */
	ck_assert(!cached_call(
	        "{ \"pad\":\"aaaaaaaaaaaaaaaaaaaa\"}")); /* [A' B], A evicted */
	ck_assert(cached_call("{\"pad\":\"bbbbbbbbbbbbbbbbbbbb\"}"));
	stop();
}
END_TEST

/* No cache: section, no cache, for every plugin (the default). */
START_TEST(no_cache_by_default)
{
	start(NULL, NULL, NULL);
	for (int i = 0; i < 3; i++)
		ck_assert(!cached_call("{\"same\":1}"));
	stop();
}
END_TEST

START_TEST(arrays_are_not_stored)
{
	static const double v[2] = {1.0, 2.0};
	struct jobd_array a = {"x", JOBD_DTYPE_F64, 1, {2}, v, 16};
	json_t *m, *r;
	struct frame_out o;

	start("plugins:\n  echo:\n    cache: {max_bytes: 1MiB}\n", NULL, NULL);
	m = json_pack("{ss si ss}", "type", "hello", "version", 2, "client",
	              "t");
	ck_assert_int_eq(harness_send(conn, m), 0);
	json_decref(m);
	json_decref(harness_recv(conn, 5000));
	for (int i = 0; i < 2; i++) {
		m = json_pack("{ss si ss s{}}", "type", "call", "id", 7,
		              "plugin", "echo", "input");
		ck_assert_int_eq(frame_encode_arrays(m, NULL, &a, 1, &o), 0);
		json_decref(m);
		for (int k = 0; k < o.iovcnt; k++)
			ck_assert_int_eq(harness_send_raw(conn,
			                                  o.iov[k].iov_base,
			                                  o.iov[k].iov_len),
			                 0);
		frame_out_fini(&o);
		/* The answer is an array frame: decoded, its provenance
		 * must not say cached. */
		r = recv_frame(conn);
		ck_assert_ptr_nonnull(r);
		ck_assert_ptr_nonnull(json_object_get(r, "arrays"));
		ck_assert_ptr_null(json_object_get(
		        json_object_get(r, "provenance"), "cached"));
		json_decref(r);
	}
	stop();
}
END_TEST

START_TEST(survives_restart_and_misses_a_new_build)
{
	char state[] = "/tmp/jobd-cache-state-XXXXXX";
	char plugins[] = "/tmp/jobd-cache-plugins-XXXXXX";
	char cmd[800];
	const char *yaml = "plugins:\n  echo:\n    cache: {max_bytes: 1MiB}\n";
	const char *in = "{\"model\":[1,2,3]}";

	mkdtemp_or_fail(state);
	mkdtemp_or_fail(plugins);
	snprintf(cmd, sizeof(cmd), "cp '%s/echo.so' '%s/'",
	         getenv("JOBD_PLUGIN_DIR"), plugins);
	ck_assert_int_eq(system(cmd), 0);

	start(yaml, state, plugins);
	ck_assert(!cached_call(in));
	ck_assert(cached_call(in));
	stop();

	start(yaml, state, plugins);
	ck_assert(cached_call(in)); /* from the files under state_dir */
	stop();

	/* Another build of the plugin: one byte more makes another SHA-256,
	 * and the old results are not its results. */
	snprintf(cmd, sizeof(cmd), "printf '\\0' >> '%s/echo.so'", plugins);
	ck_assert_int_eq(system(cmd), 0);
	start(yaml, state, plugins);
	ck_assert(!cached_call(in));
	ck_assert(cached_call(in));
	stop();
	rm_rf(state);
	rm_rf(plugins);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, no_cache_by_default);
	tcase_add_test(tc, hit_miss_and_eviction);
	tcase_add_test(tc, arrays_are_not_stored);
	tcase_add_test(tc, survives_restart_and_misses_a_new_build);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
