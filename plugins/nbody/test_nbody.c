/* SPDX-License-Identifier: MIT */
/*
 * nbody against published answers:
 *  - Kepler's two-body problem (any mechanics text, e.g. Goldstein, Classical
 *    Mechanics, 3rd ed., section 3.7): a circular orbit with G = 1, total
 *    mass 1 and separation 1 has relative speed 1 and period 2 pi; an
 *    eccentric one (vis-viva) returns to apoapsis after its period;
 *  - the figure-eight three-body choreography (Chenciner and Montgomery,
 *    Annals of Mathematics 152 (2000) 881-901), with the initial conditions
 *    and period T = 6.32591398 of Simo's computation as published there;
 *  - Gauss's constant k = 0.01720209895 (Theoria Motus, 1809, art. 1):
 *    defined from the sidereal year of 365.2563835 days and an Earth of
 *    1/354710 solar masses, so that Sun and Earth on a circle of 1 au close
 *    the orbit in exactly that time in au / solar mass / day units.
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
	struct plugin_host_job local;
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

static double vec_at(const json_t *sample, const char *what, size_t body,
                     size_t k)
{
	return json_number_value(json_array_get(
	        json_array_get(json_object_get(sample, what), body), k));
}

START_TEST(test_trajectory)
{
	/* samples: 4 is five samples evenly spaced in time, t = 0 included,
	 * each with positions and velocities. Body a goes round a circle of
	 * radius 0.5 at speed 0.5: at t it is 0.5 (cos t, sin t) moving at
	 * 0.5 (-sin t, cos t). */
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *in = circular_input("leapfrog", 4000, 4), *out = NULL;
	const json_t *traj, *q;

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(run(h, in, &out, &job), JOBD_OK);
	traj = json_object_get(out, "trajectory");
	ck_assert_uint_eq(json_array_size(traj), 5);
	for (size_t i = 0; i < 5; i++) {
		double t = M_PI / 2 * (double)i;
		q = json_array_get(traj, i);
		ck_assert(fabs(json_number_value(json_object_get(q, "t")) - t) <
		          1e-9);
		ck_assert(fabs(vec_at(q, "positions", 0, 0) - 0.5 * cos(t)) <
		          1e-4);
		ck_assert(fabs(vec_at(q, "positions", 0, 1) - 0.5 * sin(t)) <
		          1e-4);
		ck_assert(fabs(vec_at(q, "velocities", 0, 0) + 0.5 * sin(t)) <
		          1e-4);
		ck_assert(fabs(vec_at(q, "velocities", 0, 1) - 0.5 * cos(t)) <
		          1e-4);
	}
	/* The first sample is the input itself. */
	q = json_array_get(traj, 0);
	ck_assert(vec_at(q, "positions", 1, 0) == -0.5);
	ck_assert(vec_at(q, "velocities", 1, 1) == -0.5);
	ck_assert(json_number_value(json_object_get(json_array_get(traj, 4),
	                                            "t")) == 2 * M_PI);
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_sample_times)
{
	/* Times off the step grid (dt = 2 pi / 1000): the step is split, so
	 * the sample is the state at exactly that time. */
	static const double times[] = {0.0, 0.001, 1.0, 2.5, 6.0};
	struct plugin_host *h = open_or_fail(NULL);
	json_t *in = circular_input("rk4", 1000, 0), *out = NULL, *ts;
	const json_t *traj;

	json_object_del(in, "samples");
	ts = json_array();
	for (size_t i = 0; i < 5; i++)
		json_array_append_new(ts, json_real(times[i]));
	json_object_set_new(in, "sample_times", ts);
	ck_assert_int_eq(run(h, in, &out, NULL), JOBD_OK);
	traj = json_object_get(out, "trajectory");
	ck_assert_uint_eq(json_array_size(traj), 5);
	for (size_t i = 0; i < 5; i++) {
		const json_t *q = json_array_get(traj, i);
		double t = times[i];
		ck_assert(json_number_value(json_object_get(q, "t")) == t);
		ck_assert_msg(fabs(vec_at(q, "positions", 0, 0) -
		                   0.5 * cos(t)) < 1e-9,
		              "t = %g: x %.12f", t,
		              vec_at(q, "positions", 0, 0));
		ck_assert(fabs(vec_at(q, "positions", 0, 1) - 0.5 * sin(t)) <
		          1e-9);
		ck_assert(fabs(vec_at(q, "velocities", 0, 0) + 0.5 * sin(t)) <
		          1e-9);
	}
	/* The split steps land on the same end state, near enough. */
	ck_assert(fabs(pos(out, 0, 0) - 0.5) < 1e-9);
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

/* Total energy from a sample's positions and velocities, computed here. */
static double sample_energy(const json_t *q, const double *m, size_t n,
                            double G)
{
	double e = 0.0;

	for (size_t i = 0; i < n; i++) {
		double v2 = 0.0;
		for (size_t k = 0; k < 3; k++)
			v2 += pow(vec_at(q, "velocities", i, k), 2);
		e += 0.5 * m[i] * v2;
		for (size_t j = i + 1; j < n; j++) {
			double r2 = 0.0;
			for (size_t k = 0; k < 3; k++)
				r2 += pow(vec_at(q, "positions", i, k) -
				                  vec_at(q, "positions", j, k),
				          2);
			e -= G * m[i] * m[j] / sqrt(r2);
		}
	}
	return e;
}

START_TEST(test_max_drift)
{
	/* Leapfrog on the e = 0.6 orbit started at apoapsis: its energy error
	 * peaks at periapsis (t = T/2) and nearly vanishes again after a
	 * whole period, so the final drift alone flatters it. The maximum is
	 * over every step, so it is at least the drift at every sample
	 * (recomputed here from the sampled state) and at the end. */
	const double e = 0.6, ra = 1.0 + e, T = 2 * M_PI;
	const double m[2] = {0.5, 0.5};
	double va = sqrt((1.0 - e) / ra), e0, maxd, fin;
	struct plugin_host *h = open_or_fail(NULL);
	json_t *in, *out = NULL;
	const json_t *traj, *en;

	in = json_pack("{s:[{s:f,s:[f,f,f],s:[f,f,f]},{s:f,s:[f,f,f],"
	               "s:[f,f,f]}], s:f, s:f, s:i}",
	               "bodies", "mass", 0.5, "position", ra / 2, 0.0, 0.0,
	               "velocity", 0.0, va / 2, 0.0, "mass", 0.5, "position",
	               -ra / 2, 0.0, 0.0, "velocity", 0.0, -va / 2, 0.0, "dt",
	               T / 1000, "duration", T, "samples", 100);
	ck_assert_int_eq(run(h, in, &out, NULL), JOBD_OK);
	en = json_object_get(out, "energy");
	e0 = json_number_value(json_object_get(en, "initial"));
	maxd = json_number_value(json_object_get(en, "max_relative_drift"));
	fin = fabs(json_number_value(json_object_get(en, "relative_drift")));
	/* E = -G m1 m2 / (2 a) = -1/8 for a = 1 (vis-viva). */
	ck_assert(fabs(e0 + 0.125) < 1e-12);
	printf("leapfrog e = 0.6: final drift %.3e, max %.3e at t = %.4f\n",
	       fin, maxd,
	       json_number_value(json_object_get(en, "max_drift_t")));
	ck_assert(maxd >= fin);
	ck_assert(maxd > 100 * fin);
	ck_assert(fabs(json_number_value(json_object_get(en, "max_drift_t")) -
	               T / 2) < 0.05 * T);
	traj = json_object_get(out, "trajectory");
	ck_assert_uint_eq(json_array_size(traj), 101);
	for (size_t i = 0; i < json_array_size(traj); i++) {
		double ei = sample_energy(json_array_get(traj, i), m, 2, 1.0);
		ck_assert_msg(fabs(ei - e0) / fabs(e0) <= maxd * (1 + 1e-9),
		              "sample %zu drift %.3e above the max %.3e", i,
		              fabs(ei - e0) / fabs(e0), maxd);
	}
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_figure_eight)
{
	/* Chenciner and Montgomery (2000): three equal masses (G = m = 1)
	 * chase each other round one figure-eight curve, a third of the
	 * period apart. So at T/3 and 2T/3 the bodies sit where other bodies
	 * started, with their velocities, and at T everything is back. */
	const double x1 = 0.97000436, y1 = -0.24308753;
	const double vx3 = -0.93240737, vy3 = -0.86473146, T = 6.32591398;
	double start[3][4] = {{x1, y1, -vx3 / 2, -vy3 / 2},
	                      {-x1, -y1, -vx3 / 2, -vy3 / 2},
	                      {0, 0, vx3, vy3}};
	struct plugin_host *h = open_or_fail(NULL);
	json_t *in, *out = NULL;
	const json_t *traj;

	in = json_pack("{s:[{s:f,s:[f,f,f],s:[f,f,f]},{s:f,s:[f,f,f],"
	               "s:[f,f,f]},{s:f,s:[f,f,f],s:[f,f,f]}], s:f, s:f, s:s,"
	               " s:[f,f,f,f]}",
	               "bodies", "mass", 1.0, "position", x1, y1, 0.0,
	               "velocity", -vx3 / 2, -vy3 / 2, 0.0, "mass", 1.0,
	               "position", -x1, -y1, 0.0, "velocity", -vx3 / 2,
	               -vy3 / 2, 0.0, "mass", 1.0, "position", 0.0, 0.0, 0.0,
	               "velocity", vx3, vy3, 0.0, "dt", T / 20000, "duration",
	               T, "integrator", "rk4", "sample_times", 0.0, T / 3,
	               2 * T / 3, T);
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(run(h, in, &out, NULL), JOBD_OK);
	traj = json_object_get(out, "trajectory");
	ck_assert_uint_eq(json_array_size(traj), 4);
	for (size_t s = 1; s < 4; s++) {
		const json_t *q = json_array_get(traj, s);
		/* Each body is on some body's starting state. */
		for (size_t i = 0; i < 3; i++) {
			double best = INFINITY;
			for (size_t j = 0; j < 3; j++) {
				double d = hypot(
				        hypot(vec_at(q, "positions", i, 0) -
				                      start[j][0],
				              vec_at(q, "positions", i, 1) -
				                      start[j][1]),
				        hypot(vec_at(q, "velocities", i, 0) -
				                      start[j][2],
				              vec_at(q, "velocities", i, 1) -
				                      start[j][3]));
				if (d < best)
					best = d;
			}
			printf("figure eight, t = %d T/3, body %zu: %.2e from "
			       "a starting state\n",
			       (int)s, i, best);
			ck_assert_msg(best < 1e-6, "t = %zu T/3 body %zu: %g",
			              s, i, best);
		}
	}
	/* At T, each body is back on its own start. */
	for (size_t i = 0; i < 3; i++)
		ck_assert(hypot(pos(out, i, 0) - start[i][0],
		                pos(out, i, 1) - start[i][1]) < 1e-6);
	ck_assert(fabs(json_number_value(
	                  json_object_get(json_object_get(out, "energy"),
	                                  "max_relative_drift"))) < 1e-9);
	json_decref(in);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_au_msun_day)
{
	/* Gauss: k = 2 pi / (365.2563835 sqrt(1 + 1/354710)). Sun (1) and
	 * Earth (1/354710) on a circle of 1 au: relative speed
	 * k sqrt(1 + m) au/day, and the orbit closes after 365.2563835 days.
	 * Barycentric start: the Earth at 1/(1+m) au, the Sun at -m/(1+m). */
	const double k = 0.01720209895, m = 1.0 / 354710.0, T = 365.2563835;
	double vrel = k * sqrt(1.0 + m), xe = 1.0 / (1.0 + m);
	struct plugin_host *h = open_or_fail(NULL);
	json_t *in, *out = NULL;
	const json_t *q;
	double err;

	in = json_pack("{s:s, s:[{s:s,s:f,s:[f,f,f],s:[f,f,f]},"
	               "{s:s,s:f,s:[f,f,f],s:[f,f,f]}], s:f, s:f, s:s,"
	               " s:[f,f]}",
	               "units", "au_msun_day", "bodies", "name", "sun", "mass",
	               1.0, "position", xe - 1.0, 0.0, 0.0, "velocity", 0.0,
	               -m / (1.0 + m) * vrel, 0.0, "name", "earth", "mass", m,
	               "position", xe, 0.0, 0.0, "velocity", 0.0,
	               vrel / (1.0 + m), 0.0, "dt", 0.25, "duration", T,
	               "integrator", "rk4", "sample_times", 0.0, T / 4);
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(run(h, in, &out, NULL), JOBD_OK);
	ck_assert(json_real_value(json_object_get(out, "G")) == k * k);
	ck_assert_str_eq(json_string_value(json_object_get(out, "units")),
	                 "au_msun_day");
	err = hypot(pos(out, 1, 0) - pos(out, 0, 0) - 1.0,
	            pos(out, 1, 1) - pos(out, 0, 1));
	printf("au/msun/day: Sun-Earth after 365.2563835 days: %.3e au from "
	       "the start\n",
	       err);
	ck_assert_msg(err < 1e-8, "relative position off by %g au", err);
	/* A quarter year on: the Earth is at 90 degrees, moving in -x at
	 * k sqrt(1 + m) / (1 + m) au/day (0.0172 au/day, 29.8 km/s). */
	q = json_array_get(json_object_get(out, "trajectory"), 1);
	ck_assert(fabs(vec_at(q, "positions", 1, 1) - xe) < 1e-8);
	ck_assert(fabs(vec_at(q, "velocities", 1, 0) + vrel / (1.0 + m)) <
	          1e-10);
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
	/* The softening the run used, and where it came from, are in the
	 * output: an admin's default changes results visibly. */
	ck_assert(json_real_value(json_object_get(out, "softening")) == 0.1);
	ck_assert_str_eq(
	        json_string_value(json_object_get(out, "softening_from")),
	        "options");
	json_decref(out);
	ck_assert_int_eq(plugin_host_call(h,
	                                  "{\"bodies\":[{\"mass\":1,"
	                                  "\"position\":[0,0,0],\"velocity\":"
	                                  "[0,0,0]}],\"dt\":0.1,\"duration\":1,"
	                                  "\"softening\":0.25}",
	                                  &out, NULL),
	                 JOBD_OK);
	ck_assert(json_real_value(json_object_get(out, "softening")) == 0.25);
	ck_assert_str_eq(
	        json_string_value(json_object_get(out, "softening_from")),
	        "input");
	json_decref(out);
	plugin_host_close(h);

	h = open_or_fail(NULL);
	ck_assert_int_eq(
	        plugin_host_call(h,
	                         "{\"bodies\":[{\"mass\":1,"
	                         "\"position\":[0,0,0],\"velocity\":"
	                         "[0,0,0]}],\"dt\":0.1,\"duration\":1}",
	                         &out, NULL),
	        JOBD_OK);
	ck_assert(json_real_value(json_object_get(out, "softening")) == 0.0);
	ck_assert_str_eq(
	        json_string_value(json_object_get(out, "softening_from")),
	        "default");
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
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":1,\"samples\":2,"
         "\"sample_times\":[0]}",
         "sample_times: give samples or sample_times, not both"},
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":1,"
         "\"sample_times\":[]}",
         "sample_times: must be an array"},
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":1,"
         "\"sample_times\":[0.5,0.5]}",
         "sample_times[1]: must be later than sample_times[0]"},
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":1,"
         "\"sample_times\":[0,1.5]}",
         "sample_times[1]: must be a number from 0 to duration"},
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":1,"
         "\"sample_times\":[-1]}",
         "sample_times[0]:"},
        {"{\"bodies\":[" B1 "],\"dt\":0.1,\"duration\":1,"
         "\"sample_times\":[\"0\"]}",
         "sample_times[0]:"},
        {"{\"bodies\":[" B1 "],\"units\":\"AU\",\"dt\":0.1,"
         "\"duration\":1}",
         "units: must be \"nbody\" (G = 1), \"si\""},
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
	tcase_add_test(tc, test_sample_times);
	tcase_add_test(tc, test_max_drift);
	tcase_add_test(tc, test_figure_eight);
	tcase_add_test(tc, test_au_msun_day);
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
