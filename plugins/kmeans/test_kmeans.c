/* SPDX-License-Identifier: MIT */
/*
 * kmeans against a known answer: three well-separated Gaussian blobs
 * (sigma 1, centres 14 apart), generated deterministically, must come back
 * as three clusters whose centroids sit on the blob centres and whose
 * labels split the points exactly by blob. Then the model cache.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_host.h"

#define PER_BLOB 100
static const double centres[3][2] = {{0, 0}, {10, 10}, {-10, 10}};

static struct plugin_host *open_or_fail(const char *options)
{
	char err[1024] = "";
	struct plugin_host *h =
	        plugin_host_open(NULL, options, err, sizeof(err));

	ck_assert_msg(h != NULL, "open: %s", err);
	return h;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return ((double)(splitmix64(s) >> 11) + 0.5) * 0x1.0p-53;
}

/* Blob b's points are points[b*PER_BLOB ..]; Box-Muller normals. */
static json_t *blobs_input(int k, int seed, int labels)
{
	json_t *pts = json_array();
	uint64_t s = 42;

	for (int b = 0; b < 3; b++) {
		for (int i = 0; i < PER_BLOB; i++) {
			double r = sqrt(-2.0 * log(unit(&s)));
			double th = 2.0 * M_PI * unit(&s);
			json_array_append_new(
			        pts,
			        json_pack("[f,f]", centres[b][0] + r * cos(th),
			                  centres[b][1] + r * sin(th)));
		}
	}
	return json_pack("{s:o, s:i, s:i, s:i, s:b}", "points", pts, "k", k,
	                 "seed", seed, "iterations", 50, "labels", labels);
}

static int run(struct plugin_host *h, const json_t *in, json_t **out,
               struct plugin_host_job *job)
{
	struct plugin_host_job local;
	struct plugin_host_worker *w = plugin_host_worker_new(h);
	int rc;

	if (!job) {
		plugin_host_job_init(&local, h);
		job = &local;
	}
	ck_assert_ptr_nonnull(w);
	rc = plugin_host_process(w, job, in, out);
	plugin_host_worker_free(w);
	return rc;
}

static int is_cached(const json_t *out)
{
	return json_is_true(json_object_get(out, "cached"));
}

START_TEST(test_recovers_blobs)
{
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *in = blobs_input(3, 7, 1), *out = NULL;
	const json_t *cent, *labels;
	int matched[3] = {0, 0, 0};

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(run(h, in, &out, &job), JOBD_OK);
	ck_assert(json_is_true(json_object_get(out, "converged")));
	ck_assert(!is_cached(out));
	ck_assert_int_eq(job.progress_backwards, 0);
	ck_assert(job.last_fraction == 1.0);
	cent = json_object_get(out, "centroids");
	labels = json_object_get(out, "labels");
	ck_assert_uint_eq(json_array_size(cent), 3);
	ck_assert_uint_eq(json_array_size(labels), 3 * PER_BLOB);

	for (int b = 0; b < 3; b++) {
		/* Every point of blob b carries the same label... */
		json_int_t l = json_integer_value(
		        json_array_get(labels, (size_t)b * PER_BLOB));
		const json_t *c = json_array_get(cent, (size_t)l);
		double dx, dy;

		for (int i = 0; i < PER_BLOB; i++)
			ck_assert_int_eq(
			        json_integer_value(json_array_get(
			                labels, (size_t)(b * PER_BLOB + i))),
			        l);
		/* ...whose centroid is within 0.5 of the blob's centre (the
		 * sample mean of 100 points is off by ~0.14 on average). */
		dx = json_number_value(json_array_get(c, 0)) - centres[b][0];
		dy = json_number_value(json_array_get(c, 1)) - centres[b][1];
		printf("blob %d -> cluster %lld, centroid off by %.3f\n", b,
		       (long long)l, hypot(dx, dy));
		ck_assert(hypot(dx, dy) < 0.5);
		ck_assert_int_eq(matched[l]++, 0);
		ck_assert_int_eq(
		        json_integer_value(json_array_get(
		                json_object_get(out, "sizes"), (size_t)l)),
		        PER_BLOB);
	}
	/* Inertia ~ 2 sigma^2 per point = 600. */
	printf("inertia %.1f in %lld iterations\n",
	       json_number_value(json_object_get(out, "inertia")),
	       (long long)json_integer_value(
	               json_object_get(out, "iterations")));
	ck_assert(json_number_value(json_object_get(out, "inertia")) > 400);
	ck_assert(json_number_value(json_object_get(out, "inertia")) < 800);
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_deterministic_over_seeds)
{
	/* Every seed finds the same three clusters here. */
	struct plugin_host *h = open_or_fail("{\"cache_size\": 0}");
	json_t *first = NULL;

	for (int seed = 0; seed < 10; seed++) {
		json_t *in = blobs_input(3, seed, 0), *out = NULL;
		ck_assert_int_eq(run(h, in, &out, NULL), JOBD_OK);
		ck_assert(!is_cached(out));
		if (!first) {
			first = out;
		} else {
			ck_assert(fabs(json_number_value(json_object_get(
			                       out, "inertia")) -
			               json_number_value(json_object_get(
			                       first, "inertia"))) < 1e-6);
			json_decref(out);
		}
		json_decref(in);
	}
	json_decref(first);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_cache_hit)
{
	struct plugin_host *h = open_or_fail(NULL);
	json_t *in = blobs_input(3, 1, 0), *out1 = NULL, *out2 = NULL;
	json_t *in_labels = blobs_input(3, 1, 1), *other = blobs_input(3, 2, 0);
	struct plugin_host_job job;

	ck_assert_int_eq(run(h, in, &out1, NULL), JOBD_OK);
	ck_assert(!is_cached(out1));
	ck_assert_ptr_null(json_object_get(out1, "labels"));

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(run(h, in, &out2, &job), JOBD_OK);
	ck_assert(is_cached(out2));
	ck_assert(job.last_fraction == 1.0);
	json_object_del(out2, "cached");
	json_object_del(out1, "cached");
	ck_assert(json_equal(out1, out2));
	json_decref(out2);

	/* Asking for labels does not change the model: still a hit. */
	ck_assert_int_eq(run(h, in_labels, &out2, NULL), JOBD_OK);
	ck_assert(is_cached(out2));
	ck_assert_uint_eq(json_array_size(json_object_get(out2, "labels")),
	                  3 * PER_BLOB);
	json_decref(out2);

	/* Another seed is another model. */
	ck_assert_int_eq(run(h, other, &out2, NULL), JOBD_OK);
	ck_assert(!is_cached(out2));
	json_decref(out2);

	json_decref(in);
	json_decref(in_labels);
	json_decref(other);
	json_decref(out1);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_cache_canonical)
{
	/* Key order, 1 vs 1.0 and the defaults spelt out (max_iter under its
	 * older name iterations) are the same request. */
	struct plugin_host *h = open_or_fail(NULL);
	json_t *out = NULL;

	ck_assert_int_eq(plugin_host_call(h,
	                                  "{\"k\":2,\"points\":[[1,2],[3,4],"
	                                  "[10,10]]}",
	                                  &out, NULL),
	                 JOBD_OK);
	ck_assert(!is_cached(out));
	json_decref(out);
	ck_assert_int_eq(plugin_host_call(h,
	                                  "{\"points\":[[1.0,2.0],[3,4.0],"
	                                  "[10,10]],\"iterations\":300,"
	                                  "\"seed\":0,\"k\":2,\"n_init\":10,"
	                                  "\"tolerance\":1e-4,\"labels\":true}",
	                                  &out, NULL),
	                 JOBD_OK);
	ck_assert(is_cached(out));
	json_decref(out);
	ck_assert_int_eq(plugin_host_call(h,
	                                  "{\"k\":2,\"points\":[[1,2],[3,4],"
	                                  "[10,10.5]]}",
	                                  &out, NULL),
	                 JOBD_OK);
	ck_assert(!is_cached(out));
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_cache_lru_bound)
{
	/* Two entries: a, b, a (hit, a most recent), c evicts b. */
	struct plugin_host *h = open_or_fail("{\"cache_size\": 2}");
	const char *in[3] = {
	        "{\"k\":1,\"points\":[[1]]}",
	        "{\"k\":1,\"points\":[[2]]}",
	        "{\"k\":1,\"points\":[[3]]}",
	};
	static const struct {
		int which, cached;
	} seq[] = {{0, 0}, {1, 0}, {0, 1}, {2, 0}, {0, 1}, {1, 0}, {2, 0}};
	json_t *out;

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		out = NULL;
		ck_assert_int_eq(
		        plugin_host_call(h, in[seq[i].which], &out, NULL),
		        JOBD_OK);
		ck_assert_msg(is_cached(out) == seq[i].cached, "step %zu", i);
		json_decref(out);
	}
	plugin_host_close(h);
}
END_TEST

struct thread_arg {
	struct plugin_host *h;
	json_t *in;
	double inertia;
	int ok;
};

static void *worker_thread(void *p)
{
	struct thread_arg *a = p;
	struct plugin_host_worker *w = plugin_host_worker_new(a->h);
	struct plugin_host_job job;

	a->ok = 1;
	for (int i = 0; i < 20; i++) {
		json_t *out = NULL;
		plugin_host_job_init(&job, a->h);
		if (plugin_host_process(w, &job, a->in, &out) != JOBD_OK) {
			a->ok = 0;
			break;
		}
		a->inertia = json_number_value(json_object_get(out, "inertia"));
		json_decref(out);
	}
	plugin_host_worker_free(w);
	return NULL;
}

START_TEST(test_concurrent_workers)
{
	/* Four workers share the cache, each with a different input among
	 * two, so hits, misses and replacements race. Run under ASan/TSan
	 * this is what checks the mutex. */
	struct plugin_host *h = open_or_fail("{\"cache_size\": 1}");
	json_t *ins[2] = {blobs_input(3, 1, 0), blobs_input(3, 2, 0)};
	struct thread_arg args[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){.h = h, .in = ins[i % 2]};
		ck_assert_int_eq(
		        pthread_create(&t[i], NULL, worker_thread, &args[i]),
		        0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert(args[i].ok);
	}
	ck_assert(args[0].inertia == args[2].inertia);
	ck_assert(args[1].inertia == args[3].inertia);
	json_decref(ins[0]);
	json_decref(ins[1]);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_cancel)
{
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *in = blobs_input(3, 1, 0), *out = NULL;

	plugin_host_job_init(&job, h);
	atomic_store(&job.cancel, 1);
	ck_assert_int_eq(run(h, in, &out, &job), JOBD_E_CANCELLED);
	ck_assert_ptr_nonnull(strstr(job.fail_msg, "cancelled"));
	/* A cancelled run is not cached. */
	ck_assert_int_eq(run(h, in, &out, NULL), JOBD_OK);
	ck_assert(!is_cached(out));
	json_decref(out);
	json_decref(in);
	plugin_host_close(h);
}
END_TEST

static const struct {
	const char *input;
	const char *prefix;
} bad_inputs[] = {
        {"[1]", "input:"},
        {"{\"k\":1}", "points: missing"},
        {"{\"points\":[],\"k\":1}", "points:"},
        {"{\"points\":[[]],\"k\":1}", "points[0]:"},
        {"{\"points\":[[1,2],[3]],\"k\":1}",
         "points[1]: must be an array of 2"},
        {"{\"points\":[[1,2],[3,\"x\"]],\"k\":1}",
         "points[1][1]: must be a finite number"},
        {"{\"points\":[[1,2],5],\"k\":1}", "points[1]:"},
        {"{\"points\":[[1,2],[3,4]]}", "k: missing"},
        {"{\"points\":[[1,2],[3,4]],\"k\":3}",
         "k: must be an integer from 1 to 2"},
        {"{\"points\":[[1,2],[3,4]],\"k\":0}", "k:"},
        {"{\"points\":[[1,2],[3,4]],\"k\":1.5}", "k:"},
        {"{\"points\":[[1,2],[3,4]],\"k\":1,\"iterations\":0}", "iterations:"},
        {"{\"points\":[[1,2],[3,4]],\"k\":1,\"seed\":-1}", "seed:"},
        {"{\"points\":[[1,2],[3,4]],\"k\":1,\"tolerance\":-1}", "tolerance:"},
        {"{\"points\":[[1,2],[3,4]],\"k\":1,\"labels\":1}", "labels:"},
        {"{\"points\":[[1,2],[3,4]],\"k\":1,\"K\":1}", "K: unknown field"},
};

START_TEST(test_bad_input)
{
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *out = NULL;

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(plugin_host_call(h, bad_inputs[_i].input, &out, &job),
	                 JOBD_E_BAD_REQUEST);
	ck_assert_msg(strncmp(job.fail_msg, bad_inputs[_i].prefix,
	                      strlen(bad_inputs[_i].prefix)) == 0,
	              "input %s: message \"%s\" does not start with \"%s\"",
	              bad_inputs[_i].input, job.fail_msg,
	              bad_inputs[_i].prefix);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_bad_options)
{
	char err[256];

	ck_assert_ptr_null(plugin_host_open(NULL, "{\"cache_size\": -1}", err,
	                                    sizeof(err)));
	ck_assert_msg(strncmp(err, "options.cache_size:", 19) == 0, "%s", err);
	ck_assert_ptr_null(
	        plugin_host_open(NULL, "{\"cache\": 1}", err, sizeof(err)));
	ck_assert_str_eq(err, "options.cache: unknown option");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kmeans");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_recovers_blobs);
	tcase_add_test(tc, test_deterministic_over_seeds);
	tcase_add_test(tc, test_cache_hit);
	tcase_add_test(tc, test_cache_canonical);
	tcase_add_test(tc, test_cache_lru_bound);
	tcase_add_test(tc, test_concurrent_workers);
	tcase_add_test(tc, test_cancel);
	tcase_add_loop_test(tc, test_bad_input, 0,
	                    sizeof(bad_inputs) / sizeof(bad_inputs[0]));
	tcase_add_test(tc, test_bad_options);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
