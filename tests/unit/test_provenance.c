/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/daemon/exec/provenance.c: the provenance text that goes
 * into every answer is written digit by digit (the hot path); it must say
 * exactly what the jansson-built object says.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/exec/provenance.h"

static struct provenance sample(int64_t queued, int64_t started,
                                int64_t finished, double cpu, unsigned n)
{
	struct provenance pv = {
	        .plugin = "echo",
	        .version = "1.2.3",
	        .plugin_sha256 = "ab\"cd", /* must come out escaped */
	        .queued_ms = queued,
	        .started_ms = started,
	        .finished_ms = finished,
	        .cpu_seconds = cpu,
	        .attempt = n,
	};

	sha256_hex("x", 1, pv.input_sha256);
	return pv;
}

/* provenance_text, parsed, equals provenance_json member by member. */
static void same_as_json(const struct provenance *pv)
{
	char *stat = provenance_static_text(pv);
	char buf[2048];
	json_t *fast, *slow;
	json_error_t err;
	int n;

	ck_assert_ptr_nonnull(stat);
	n = provenance_text(pv, stat, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(strlen(buf), (size_t)n);
	fast = json_loads(buf, 0, &err);
	ck_assert_msg(fast, "not JSON (%s): %s", err.text, buf);
	slow = provenance_json(pv);
	ck_assert_ptr_nonnull(slow);
	/* cpu_seconds: printed with nine decimals, a real in the object */
	ck_assert_double_eq_tol(
	        json_real_value(json_object_get(fast, "cpu_seconds")),
	        json_real_value(json_object_get(slow, "cpu_seconds")), 1e-9);
	json_object_del(fast, "cpu_seconds");
	json_object_del(slow, "cpu_seconds");
	ck_assert_msg(json_equal(fast, slow), "differs: %s", buf);
	json_decref(fast);
	json_decref(slow);
	free(stat);
}

START_TEST(test_text_matches_object)
{
	struct provenance pv;

	pv = sample(1767225599999, 1767225600000, 1767225600001, 0.000002,
	            1); /* across a new year */
	same_as_json(&pv);
	pv = sample(0, 1700000000005, 1700000000050, 12.5, 3); /* null */
	same_as_json(&pv);
	pv = sample(1, 2, 3, 0, 0); /* 1970, attempt 0 means 1 */
	same_as_json(&pv);
	pv = sample(4102444800000, 4102444800999, 4102444801000, 1e9, 7);
	same_as_json(&pv);
}
END_TEST

START_TEST(test_time_digits)
{
	char buf[40];

	iso8601_utc_ms(1767225599999, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2025-12-31T23:59:59.999Z");
	iso8601_utc_ms(1767225600007, buf, sizeof(buf)); /* next second */
	ck_assert_str_eq(buf, "2026-01-01T00:00:00.007Z");
	iso8601_utc_ms(1767225600070, buf, sizeof(buf)); /* same second */
	ck_assert_str_eq(buf, "2026-01-01T00:00:00.070Z");
	iso8601_utc_ms(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	iso8601_utc_ms(-1, buf, sizeof(buf)); /* floor, not truncation */
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	iso8601_utc_ms(1767225600070, buf, 11); /* truncated, terminated */
	ck_assert_str_eq(buf, "2026-01-01");
}
END_TEST

START_TEST(test_text_too_small)
{
	struct provenance pv = sample(1, 2, 3, 0.5, 1);
	char *stat = provenance_static_text(&pv);
	char buf[2048];
	int n, i;

	n = provenance_text(&pv, stat, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	/* every size short of n + 1 is refused, never overrun */
	for (i = 0; i <= n; i++)
		ck_assert_int_eq(provenance_text(&pv, stat, buf, (size_t)i),
		                 -1);
	ck_assert_int_eq(provenance_text(&pv, stat, buf, (size_t)n + 1), n);
	free(stat);
}
END_TEST

/* The input's hash is over its canonical text, whether that fits the
 * stack buffer or not, and key order does not change it. */
START_TEST(test_input_hash)
{
	char want[SHA256_HEX_LEN + 1], got[SHA256_HEX_LEN + 1];
	size_t sizes[] = {0, 10, 4080, 4096, 4097, 100000};
	json_t *a, *b;
	char *big, *text;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		big = malloc(sizes[i] + 1);
		ck_assert_ptr_nonnull(big);
		memset(big, 'x', sizes[i]);
		big[sizes[i]] = '\0';
		a = json_pack("{ss si}", "z", big, "a", 1);
		text = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT |
		                             JSON_ENCODE_ANY);
		ck_assert_int_eq(sha256_hex(text, strlen(text), want), 0);
		ck_assert_int_eq(sha256_json_hex(a, got), 0);
		ck_assert_str_eq(got, want);
		b = json_pack("{si ss}", "a", 1, "z", big);
		ck_assert_int_eq(sha256_json_hex(b, got), 0);
		ck_assert_str_eq(got, want);
		json_decref(a);
		json_decref(b);
		free(text);
		free(big);
	}
	/* the SHA-256 of "abc" (FIPS 180-2) */
	ck_assert_int_eq(sha256_hex("abc", 3, got), 0);
	ck_assert_str_eq(got, "ba7816bf8f01cfea414140de5dae2223"
	                      "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

static Suite *provenance_suite(void)
{
	Suite *s = suite_create("provenance");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_text_matches_object);
	tcase_add_test(tc, test_time_digits);
	tcase_add_test(tc, test_text_too_small);
	tcase_add_test(tc, test_input_hash);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(provenance_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
