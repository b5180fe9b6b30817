/* SPDX-License-Identifier: MIT */
/*
 * nbody against known answers: a circular two-body orbit (G = 1, total mass
 * 1, separation 1: relative speed 1, period 2*pi) must come back to its
 * start after one period and keep its energy.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_host.h"

static struct plugin_host *open_or_fail(const char *options)
{
	char err[1024] = "";
	struct plugin_host *h =
	        plugin_host_open(NULL, options, err, sizeof(err));

	ck_assert_msg(h != NULL, "open: %s", err);
	return h;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Two equal masses 0.5 on a circle of radius 0.5 about the origin. */
static json_t *circular_input(const char *integrator, int steps, int samples)
{
	double T = 2.0 * M_PI;
	json_t *in;

	in = json_pack("{s:[{s:s,s:f,s:[f,f,f],s:[f,f,f]},"
	               "{s:s,s:f,s:[f,f,f],s:[f,f,f]}],"
	               "s:f,s:f,s:s,s:i}",
	               "bodies", "name", "a", "mass", 0.5, "position", 0.5, 0.0,
	               0.0, "velocity", 0.0, 0.5, 0.0, "name", "b", "mass", 0.5,
	               "position", -0.5, 0.0, 0.0, "velocity", 0.0, -0.5, 0.0,
	               "dt", T / steps, "duration", T, "integrator", integrator,
	               "samples", samples);
	ck_assert_ptr_nonnull(in);
	return in;
}

static int run(struct plugin_host *h, const json_t *in, json_t **out,
               struct plugin_host_job *job)
{
	struct plugin_host_worker *w = plugin_host_worker_new(h);
	int rc;

	ck_assert_ptr_nonnull(w);
	rc = plugin_host_process(w, job, in, out);
	plugin_host_worker_free(w);
	return rc;
}

static double pos(const json_t *out, size_t body, size_t k)
{
	const json_t *b = json_array_get(json_object_get(out, "bodies"), body);
	return json_number_value(
	        json_array_get(json_object_get(b, "position"), k));
}

static double drift(const json_t *out)
{
	return json_number_value(json_object_get(json_object_get(out, "energy"),
	                                         "relative_drift"));
}

static void check_orbit(const char *integrator, int steps, double max_err,
                        double max_drift)
{
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *in = circular_input(integrator, steps, 0);
	json_t *out = NULL;
	double err, t0 = now_s();

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(run(h, in, &out, &job), JOBD_OK);
	err = hypot(hypot(pos(out, 0, 0) - 0.5, pos(out, 0, 1)),
	            pos(out, 0, 2));
	printf("%s, %d steps per orbit: position error %.3e, energy drift "
	       "%.3e, %.1f ms\n",
	       integrator, steps, err, drift(out), (now_s() - t0) * 1e3);
	ck_assert_msg(err < max_err, "position error %g", err);
	ck_assert_msg(fabs(drift(out)) < max_drift, "drift %g", drift(out));
	ck_assert_int_eq(json_integer_value(json_object_get(out, "steps")),
	                 steps);
	ck_assert_str_eq(
	        json_string_value(json_object_get(
	                json_array_get(json_object_get(out, "bodies"), 1),
	                "name")),
	        "b");
	/* Progress: monotone, ~every 1%, ending at 1. */
	ck_assert_int_eq(job.progress_backwards, 0);
	ck_assert_int_eq(job.progress_out_of_range, 0);
	ck_assert(job.last_fraction == 1.0);
	ck_assert_int_ge(job.progress_calls, 100);
	ck_assert_int_le(job.progress_calls, 102);
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}

START_TEST(test_leapfrog_orbit)
{
	check_orbit("leapfrog", 10000, 1e-5, 1e-6);
}
END_TEST

START_TEST(test_leapfrog_coarse)
{
	/* 1000 steps per orbit is still well inside the bounds. */
	check_orbit("leapfrog", 1000, 1e-3, 1e-6);
}
END_TEST

START_TEST(test_rk4_orbit)
{
	check_orbit("rk4", 1000, 1e-6, 1e-6);
}
END_TEST

/*
 * An eccentric orbit (e = 0.6, a = 1, period 2*pi) started at apoapsis is
 * the harder case: the step resolves the fast periapsis passage less well.
 */
static void check_eccentric(const char *integrator, int steps, int orbits,
                            double max_err, double max_drift)
{
	const double e = 0.6, ra = 1.0 + e;
	double va = sqrt((1.0 - e) / ra); /* vis-viva with G M = a = 1 */
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *in, *out = NULL;
	double err, t0 = now_s();

	in = json_pack("{s:[{s:f,s:[f,f,f],s:[f,f,f]},{s:f,s:[f,f,f],"
	               "s:[f,f,f]}], s:f, s:f, s:s}",
	               "bodies", "mass", 0.5, "position", ra / 2, 0.0, 0.0,
	               "velocity", 0.0, va / 2, 0.0, "mass", 0.5, "position",
	               -ra / 2, 0.0, 0.0, "velocity", 0.0, -va / 2, 0.0, "dt",
	               2 * M_PI / steps, "duration", orbits * 2 * M_PI,
	               "integrator", integrator);
	ck_assert_ptr_nonnull(in);
	plugin_host_job_init(&job, h);
	ck_assert_int_eq(run(h, in, &out, &job), JOBD_OK);
	err = hypot(pos(out, 0, 0) - ra / 2, pos(out, 0, 1));
	printf("%s, e = %.1f, %d steps per orbit, %d orbits: position error "
	       "%.3e, energy drift %.3e, %.1f ms\n",
	       integrator, e, steps, orbits, err, drift(out),
	       (now_s() - t0) * 1e3);
	ck_assert_msg(err < max_err, "position error %g", err);
	ck_assert_msg(fabs(drift(out)) < max_drift, "drift %g", drift(out));
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}

START_TEST(test_eccentric)
{
	check_eccentric("leapfrog", 10000, 1, 1e-3, 1e-6);
	check_eccentric("leapfrog", 10000, 100, 1e-1, 1e-6);
	check_eccentric("rk4", 10000, 1, 1e-6, 1e-8);
	check_eccentric("rk4", 1000, 100, 1e-2, 1e-4);
}
END_TEST

START_TEST(test_si_earth_sun)
{
	/* The Sun and the Earth on a circular orbit of 1 au, in SI units. */
	const double G = 6.67430e-11, M = 1.98847e30, m = 5.9722e24,
	             r = 1.495978707e11;
	double vrel = sqrt(G * (M + m) / r);
	double T = 2.0 * M_PI * sqrt(r * r * r / (G * (M + m)));
	double xe = M / (M + m) * r, xs = -m / (M + m) * r;
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *in, *out = NULL;
	double err;

	in = json_pack("{s:s, s:[{s:s,s:f,s:[f,f,f],s:[f,f,f]},"
	               "{s:s,s:f,s:[f,f,f],s:[f,f,f]}], s:f, s:f}",
	               "units", "si", "bodies", "name", "sun", "mass", M,
	               "position", xs, 0.0, 0.0, "velocity", 0.0,
	               -m / (M + m) * vrel, 0.0, "name", "earth", "mass", m,
	               "position", xe, 0.0, 0.0, "velocity", 0.0,
	               M / (M + m) * vrel, 0.0, "dt", T / 2000, "duration", T);
	ck_assert_ptr_nonnull(in);
	plugin_host_job_init(&job, h);
	ck_assert_int_eq(run(h, in, &out, &job), JOBD_OK);
	ck_assert(json_real_value(json_object_get(out, "G")) == G);
	err = hypot(pos(out, 1, 0) - xe, pos(out, 1, 1)) / r;
	printf("SI Earth-Sun year (%.2f days): relative position error %.3e, "
	       "drift %.3e\n",
	       T / 86400, err, drift(out));
	ck_assert_msg(err < 1e-4, "relative position error %g", err);
	ck_assert_msg(fabs(drift(out)) < 1e-6, "drift %g", drift(out));
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_trajectory)
{
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *in = circular_input("leapfrog", 4000, 4), *out = NULL;
	const json_t *traj, *q;

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(run(h, in, &out, &job), JOBD_OK);
	traj = json_object_get(out, "trajectory");
	ck_assert_uint_eq(json_array_size(traj), 4);
	/* Quarter orbit: body a has gone from (0.5, 0) to (0, 0.5). */
	q = json_array_get(traj, 0);
	ck_assert(fabs(json_number_value(json_object_get(q, "t")) - M_PI / 2) <
	          1e-9);
	q = json_array_get(json_object_get(q, "positions"), 0);
	ck_assert(fabs(json_number_value(json_array_get(q, 0))) < 1e-4);
	ck_assert(fabs(json_number_value(json_array_get(q, 1)) - 0.5) < 1e-4);
	q = json_array_get(traj, 3);
	ck_assert(json_number_value(json_object_get(q, "t")) == 2 * M_PI);
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_cancel)
{
	/* 1e8 steps would take seconds; cancellation at the 3rd progress
	 * report (~2%) must stop it well before. */
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *out = NULL;
	double t0 = now_s();
	const char *in =
	        "{\"bodies\":[{\"mass\":0.5,\"position\":[0.5,0,0],"
	        "\"velocity\":[0,0.5,0]},{\"mass\":0.5,\"position\":[-0.5,0,0],"
	        "\"velocity\":[0,-0.5,0]}],\"dt\":0.001,\"duration\":100000}";

	plugin_host_job_init(&job, h);
	job.cancel_after_progress = 3;
	ck_assert_int_eq(plugin_host_call(h, in, &out, &job), JOBD_E_CANCELLED);
	printf("cancel: stopped at fraction %.4f after %.1f ms (%ld polls)\n",
	       job.last_fraction, (now_s() - t0) * 1e3, job.cancelled_polls);
	ck_assert_int_eq(job.progress_calls, 3);
	ck_assert(job.last_fraction < 0.03);
	ck_assert_ptr_nonnull(strstr(job.fail_msg, "cancelled"));

	/* Cancelled before it starts: stops at the first poll. */
	plugin_host_job_init(&job, h);
	atomic_store(&job.cancel, 1);
	ck_assert_int_eq(plugin_host_call(h, in, &out, &job), JOBD_E_CANCELLED);
	ck_assert_int_le(job.progress_calls, 1);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_softening_option)
{
	/* Two bodies at one point: infinite force unless softened. */
	const char *in = "{\"bodies\":[{\"mass\":1,\"position\":[0,0,0],"
	                 "\"velocity\":[0,0,0]},{\"mass\":1,\"position\":"
	                 "[0,0,0],\"velocity\":[0,0,0]}],\"dt\":0.1,"
	                 "\"duration\":1}";
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *out = NULL;

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(plugin_host_call(h, in, &out, &job),
	                 JOBD_E_BAD_REQUEST);
	ck_assert_str_eq(job.fail_msg,
	                 "bodies[0] and bodies[1] coincide at t = 0, where the "
	                 "force is infinite; give a softening > 0");
	plugin_host_close(h);

	h = open_or_fail("{\"softening\": 0.1}");
	ck_assert_int_eq(plugin_host_call(h, in, &out, NULL), JOBD_OK);
	ck_assert(pos(out, 0, 0) == 0.0);
	json_decref(out);
	plugin_host_close(h);

	ck_assert_ptr_null(
	        plugin_host_open(NULL, "{\"softening\": -1}", NULL, 0));
	ck_assert_ptr_null(plugin_host_open(NULL, "{\"soft\": 1}", NULL, 0));
}
END_TEST

#define B1      "{\"mass\":1,\"position\":[0,0,0],\"velocity\":[0,0,0]}"
#define OK_REST ",\"dt\":0.01,\"duration\":1}"

static const struct {
	const char *input;
	const char *prefix; /* the message starts with this */
} bad_inputs[] = {
        {"[]", "input:"},
        {"{\"dt\":0.1,\"duration\":1}", "bodies: missing"},
        {"{\"bodies\":[]" OK_REST, "bodies:"},
        {"{\"bodies\":{}" OK_REST, "bodies:"},
        {"{\"bodies\":[" B1 ",3]" OK_REST, "bodies[1]:"},
        {"{\"bodies\":[" B1
         ",{\"position\":[1,0,0],\"velocity\":[0,0,0]}]" OK_REST,
         "bodies[1].mass: missing"},
        {"{\"bodies\":[" B1 ",{\"mass\":-2,\"position\":[1,0,0],"
         "\"velocity\":[0,0,0]}]" OK_REST,
         "bodies[1].mass: must be a positive number"},
        {"{\"bodies\":[" B1 ",{\"mass\":\"1\",\"position\":[1,0,0],"
         "\"velocity\":[0,0,0]}]" OK_REST,
         "bodies[1].mass: must be a number"},
        {"{\"bodies\":[{\"mass\":1,\"position\":[0,0],\"velocity\":[0,0,0]}"
         "]" OK_REST,
         "bodies[0].position:"},
        {"{\"bodies\":[{\"mass\":1,\"position\":[0,0,0],\"velocity\":[0,null,0]"
         "}]" OK_REST,
         "bodies[0].velocity[1]:"},
        {"{\"bodies\":[{\"mass\":1,\"name\":5,\"position\":[0,0,0],"
         "\"velocity\":[0,0,0]}]" OK_REST,
         "bodies[0].name:"},
        {"{\"bodies\":[{\"mass\":1,\"colour\":5,\"position\":[0,0,0],"
         "\"velocity\":[0,0,0]}]" OK_REST,
         "bodies[0].colour: unknown field"},
        {"{\"bodies\":[" B1 "],\"duration\":1}", "dt: missing"},
        {"{\"bodies\":[" B1 "],\"dt\":0,\"duration\":1}", "dt:"},
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":-1}", "duration:"},
        {"{\"bodies\":[" B1 "],\"dt\":1e-9,\"duration\":1}", "dt: duration/dt"},
        {"{\"bodies\":[" B1 "],\"units\":\"cgs\",\"dt\":0.1,\"duration\":1}",
         "units:"},
        {"{\"bodies\":[" B1 "],\"G\":0,\"dt\":0.1,\"duration\":1}", "G:"},
        {"{\"bodies\":[" B1 "],\"integrator\":\"euler\",\"dt\":0.1,"
         "\"duration\":1}",
         "integrator:"},
        {"{\"bodies\":[" B1 "],\"softening\":-0.1,\"dt\":0.1,\"duration\":1}",
         "softening:"},
        {"{\"bodies\":[" B1 "],\"samples\":11,\"dt\":0.1,\"duration\":1}",
         "samples:"},
        {"{\"bodies\":[" B1 "],\"samples\":1.5,\"dt\":0.1,\"duration\":1}",
         "samples:"},
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":1,\"step\":1}",
         "step: unknown field"},
};

START_TEST(test_bad_input)
{
	struct plugin_host *h;
	struct plugin_host_job job;
	json_t *out = NULL;

	h = open_or_fail(NULL);
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

START_TEST(test_work_bounds)
{
	/* 10001 bodies, and 2000 bodies x 1e5 steps (2e11 pair evaluations):
	 * both refused before any work. */
	struct plugin_host *h = open_or_fail(NULL);
	json_t *bodies = json_array(), *in;
	struct plugin_host_job job;
	json_t *out = NULL;
	struct plugin_host_worker *w;

	for (int i = 0; i < 10001; i++)
		json_array_append_new(
		        bodies, json_pack("{s:f,s:[f,f,f],s:[f,f,f]}", "mass",
		                          1.0, "position", (double)i, 0.0, 0.0,
		                          "velocity", 0.0, 0.0, 0.0));
	in = json_pack("{s:O,s:f,s:f}", "bodies", bodies, "dt", 1.0, "duration",
	               1.0);
	w = plugin_host_worker_new(h);
	plugin_host_job_init(&job, h);
	ck_assert_int_eq(plugin_host_process(w, &job, in, &out),
	                 JOBD_E_BAD_REQUEST);
	ck_assert_msg(strncmp(job.fail_msg, "bodies: 10001 bodies", 20) == 0,
	              "%s", job.fail_msg);
	json_decref(in);

	json_array_remove(bodies, 0);
	while (json_array_size(bodies) > 2000)
		json_array_remove(bodies, json_array_size(bodies) - 1);
	in = json_pack("{s:O,s:f,s:f}", "bodies", bodies, "dt", 1.0, "duration",
	               1e5);
	plugin_host_job_init(&job, h);
	ck_assert_int_eq(plugin_host_process(w, &job, in, &out),
	                 JOBD_E_BAD_REQUEST);
	ck_assert_msg(strstr(job.fail_msg, "pair evaluations") != NULL, "%s",
	              job.fail_msg);
	json_decref(in);
	json_decref(bodies);
	plugin_host_worker_free(w);
	plugin_host_close(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nbody");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_leapfrog_orbit);
	tcase_add_test(tc, test_leapfrog_coarse);
	tcase_add_test(tc, test_rk4_orbit);
	tcase_add_test(tc, test_eccentric);
	tcase_add_test(tc, test_si_earth_sun);
	tcase_add_test(tc, test_trajectory);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_softening_option);
	tcase_add_loop_test(tc, test_bad_input, 0,
	                    sizeof(bad_inputs) / sizeof(bad_inputs[0]));
	tcase_add_test(tc, test_work_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
