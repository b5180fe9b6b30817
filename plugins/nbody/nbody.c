/* SPDX-License-Identifier: MIT */
/*
 * nbody: a planetary model. Integrates Newtonian gravity for a set of point
 * masses by direct summation (O(n^2) per force evaluation).
 *
 * Input:
 *   bodies       [{name?, mass, position: [x,y,z], velocity: [x,y,z]}]
 *   units        "nbody" (default, G = 1) or "si" (G = 6.67430e-11
 *                m^3 kg^-1 s^-2, CODATA 2018; then metres, kilograms, s)
 *   G            optional positive number; if given it wins over units
 *   dt, duration time step and total time (> 0). The run takes
 *                ceil(duration/dt) steps; the last is shortened so that it
 *                ends exactly at duration.
 *   integrator   "leapfrog" (default): kick-drift-kick velocity Verlet,
 *                symplectic and time-reversible, so energy error stays
 *                bounded over long runs; one force evaluation per step.
 *                "rk4": classical Runge-Kutta, 4th order but not
 *                symplectic (energy drifts secularly); four evaluations.
 *   softening    Plummer softening length eps >= 0: forces use
 *                r^2 + eps^2. Default: options.softening, else 0.
 *   samples      N >= 0 trajectory samples (default 0), evenly spaced in
 *                steps, the last at t = duration; the start is not repeated.
 *
 * Output: {bodies: [final state], energy: {initial, final, relative_drift},
 *          steps, t, G, integrator, trajectory?: [{t, positions}]}.
 * relative_drift is (E_final - E_initial) / |E_initial| (signed; null when
 * E_initial is 0). Energy includes the softened potential.
 *
 * Work is bounded: at most NBODY_MAX_BODIES bodies, NBODY_MAX_STEPS steps,
 * and NBODY_MAX_PAIR_EVALS pairwise force evaluations in total.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobd/plugin.h>

#define NBODY_MAX_BODIES        10000
#define NBODY_MAX_STEPS         100000000ull /* 1e8 */
#define NBODY_MAX_PAIR_EVALS    1e11         /* a few minutes of one core */
#define NBODY_MAX_SAMPLES       100000
#define NBODY_MAX_SAMPLE_VALUES 10000000 /* samples x bodies x 3 */
#define NBODY_G_SI              6.67430e-11
/* Between cancellation polls, about this many pair evaluations. */
#define NBODY_POLL_PAIRS 200000

struct nbody_state {
	double default_softening;
};

enum nbody_integrator { NBODY_LEAPFROG, NBODY_RK4 };

/* One run. Arrays are n (m) or 3n (x, v, a: xyz interleaved). */
struct nbody_sim {
	size_t n;
	double G;
	double eps2;
	double *m, *x, *v, *a;
	double *tmp; /* rk4 scratch: 10 * 3n */
};

static void sim_free(struct nbody_sim *s)
{
	free(s->m);
	free(s->x);
	free(s->v);
	free(s->a);
	free(s->tmp);
}

static int sim_alloc(struct nbody_sim *s, size_t n, int rk4)
{
	s->n = n;
	s->m = calloc(n, sizeof(double));
	s->x = calloc(3 * n, sizeof(double));
	s->v = calloc(3 * n, sizeof(double));
	s->a = calloc(3 * n, sizeof(double));
	s->tmp = rk4 ? calloc(30 * n, sizeof(double)) : NULL;
	if (!s->m || !s->x || !s->v || !s->a || (rk4 && !s->tmp))
		return -1;
	return 0;
}

/*
 * Accelerations at positions x into a. Returns 0, or -1 with *ci, *cj set
 * when two bodies coincide with no softening (the force is infinite).
 */
static int sim_accel(const struct nbody_sim *s, const double *x, double *a,
                     size_t *ci, size_t *cj)
{
	size_t n = s->n;

	memset(a, 0, 3 * n * sizeof(double));
	for (size_t i = 0; i < n; i++) {
		const double *xi = &x[3 * i];
		for (size_t j = i + 1; j < n; j++) {
			const double *xj = &x[3 * j];
			double dx = xj[0] - xi[0];
			double dy = xj[1] - xi[1];
			double dz = xj[2] - xi[2];
			double r2 = dx * dx + dy * dy + dz * dz + s->eps2;
			double inv3;

			if (r2 == 0.0) {
				*ci = i;
				*cj = j;
				return -1;
			}
			inv3 = s->G / (r2 * sqrt(r2));
			a[3 * i + 0] += s->m[j] * dx * inv3;
			a[3 * i + 1] += s->m[j] * dy * inv3;
			a[3 * i + 2] += s->m[j] * dz * inv3;
			a[3 * j + 0] -= s->m[i] * dx * inv3;
			a[3 * j + 1] -= s->m[i] * dy * inv3;
			a[3 * j + 2] -= s->m[i] * dz * inv3;
		}
	}
	return 0;
}

static double sim_energy(const struct nbody_sim *s)
{
	double ke = 0.0, pe = 0.0;

	for (size_t i = 0; i < s->n; i++) {
		const double *v = &s->v[3 * i];
		ke += 0.5 * s->m[i] * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
		for (size_t j = i + 1; j < s->n; j++) {
			double dx = s->x[3 * j + 0] - s->x[3 * i + 0];
			double dy = s->x[3 * j + 1] - s->x[3 * i + 1];
			double dz = s->x[3 * j + 2] - s->x[3 * i + 2];
			double r = sqrt(dx * dx + dy * dy + dz * dz + s->eps2);
			pe -= s->G * s->m[i] * s->m[j] / r;
		}
	}
	return ke + pe;
}

/* One kick-drift-kick step of length h; s->a holds a(x) on entry and exit. */
static int step_leapfrog(struct nbody_sim *s, double h, size_t *ci, size_t *cj)
{
	size_t n3 = 3 * s->n;

	for (size_t k = 0; k < n3; k++) {
		s->v[k] += 0.5 * h * s->a[k];
		s->x[k] += h * s->v[k];
	}
	if (sim_accel(s, s->x, s->a, ci, cj) != 0)
		return -1;
	for (size_t k = 0; k < n3; k++)
		s->v[k] += 0.5 * h * s->a[k];
	return 0;
}

/* One classical RK4 step of length h on y = (x, v), y' = (v, a(x)). */
static int step_rk4(struct nbody_sim *s, double h, size_t *ci, size_t *cj)
{
	size_t n3 = 3 * s->n;
	double *kx[4], *kv[4], *xt = s->tmp + 8 * n3, *vt = s->tmp + 9 * n3;
	static const double c[4] = {0.0, 0.5, 0.5, 1.0};

	for (int q = 0; q < 4; q++) {
		kx[q] = s->tmp + (size_t)(2 * q) * n3;
		kv[q] = s->tmp + (size_t)(2 * q + 1) * n3;
	}
	for (int q = 0; q < 4; q++) {
		if (q == 0) {
			memcpy(xt, s->x, n3 * sizeof(double));
			memcpy(vt, s->v, n3 * sizeof(double));
		} else {
			for (size_t k = 0; k < n3; k++) {
				xt[k] = s->x[k] + c[q] * h * kx[q - 1][k];
				vt[k] = s->v[k] + c[q] * h * kv[q - 1][k];
			}
		}
		memcpy(kx[q], vt, n3 * sizeof(double));
		if (sim_accel(s, xt, kv[q], ci, cj) != 0)
			return -1;
	}
	for (size_t k = 0; k < n3; k++) {
		s->x[k] +=
		        h / 6.0 *
		        (kx[0][k] + 2.0 * kx[1][k] + 2.0 * kx[2][k] + kx[3][k]);
		s->v[k] +=
		        h / 6.0 *
		        (kv[0][k] + 2.0 * kv[1][k] + 2.0 * kv[2][k] + kv[3][k]);
	}
	return 0;
}

/* --- input validation; every failure names its field --- */

/* A finite number > 0 (or >= 0 when allow_zero). */
static int want_number(struct jobd_job *job, const json_t *v, const char *path,
                       int allow_zero, double *out)
{
	double d;

	if (!v) {
		job->host->fail(job, "%s: missing", path);
		return JOBD_E_BAD_REQUEST;
	}
	if (!json_is_number(v)) {
		job->host->fail(job, "%s: must be a number", path);
		return JOBD_E_BAD_REQUEST;
	}
	d = json_number_value(v);
	if (!isfinite(d) || d < 0.0 || (!allow_zero && d == 0.0)) {
		job->host->fail(job, "%s: must be a %s number", path,
		                allow_zero ? "non-negative" : "positive");
		return JOBD_E_BAD_REQUEST;
	}
	*out = d;
	return JOBD_OK;
}

static int want_vec3(struct jobd_job *job, const json_t *v, const char *path,
                     double out[3])
{
	if (!v) {
		job->host->fail(job, "%s: missing", path);
		return JOBD_E_BAD_REQUEST;
	}
	if (!json_is_array(v) || json_array_size(v) != 3) {
		job->host->fail(job,
		                "%s: must be an array of 3 numbers [x, y, z]",
		                path);
		return JOBD_E_BAD_REQUEST;
	}
	for (size_t k = 0; k < 3; k++) {
		const json_t *e = json_array_get(v, k);
		if (!json_is_number(e) || !isfinite(json_number_value(e))) {
			job->host->fail(job, "%s[%zu]: must be a finite number",
			                path, k);
			return JOBD_E_BAD_REQUEST;
		}
		out[k] = json_number_value(e);
	}
	return JOBD_OK;
}

/* Refuses keys we do not know, so a typo ("softning") is not ignored. */
static int want_known_keys(struct jobd_job *job, const json_t *obj,
                           const char *prefix, const char *const *known)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value)
	{
		size_t i;
		for (i = 0; known[i]; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (!known[i]) {
			job->host->fail(job, "%s%s: unknown field", prefix,
			                key);
			return JOBD_E_BAD_REQUEST;
		}
	}
	return JOBD_OK;
}

struct nbody_params {
	double dt, duration, softening;
	enum nbody_integrator integrator;
	uint64_t steps;
	size_t samples;
};

static int parse_bodies(struct jobd_job *job, const json_t *bodies,
                        struct nbody_sim *s, int rk4)
{
	static const char *const known[] = {"name", "mass", "position",
	                                    "velocity", NULL};
	size_t n;
	char path[64];
	int rc;

	if (!bodies) {
		job->host->fail(job, "bodies: missing");
		return JOBD_E_BAD_REQUEST;
	}
	if (!json_is_array(bodies) || json_array_size(bodies) == 0) {
		job->host->fail(job, "bodies: must be a non-empty array");
		return JOBD_E_BAD_REQUEST;
	}
	n = json_array_size(bodies);
	if (n > NBODY_MAX_BODIES) {
		job->host->fail(job,
		                "bodies: %zu bodies, more than the limit %d", n,
		                NBODY_MAX_BODIES);
		return JOBD_E_BAD_REQUEST;
	}
	if (sim_alloc(s, n, rk4) != 0) {
		job->host->fail(job, "out of memory for %zu bodies", n);
		return JOBD_E_PLUGIN_FAILED;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *b = json_array_get(bodies, i);
		const json_t *name;

		if (!json_is_object(b)) {
			job->host->fail(job, "bodies[%zu]: must be an object",
			                i);
			return JOBD_E_BAD_REQUEST;
		}
		snprintf(path, sizeof(path), "bodies[%zu].", i);
		rc = want_known_keys(job, b, path, known);
		if (rc)
			return rc;
		name = json_object_get(b, "name");
		if (name && !json_is_string(name)) {
			job->host->fail(
			        job, "bodies[%zu].name: must be a string", i);
			return JOBD_E_BAD_REQUEST;
		}
		snprintf(path, sizeof(path), "bodies[%zu].mass", i);
		rc = want_number(job, json_object_get(b, "mass"), path, 0,
		                 &s->m[i]);
		if (rc)
			return rc;
		snprintf(path, sizeof(path), "bodies[%zu].position", i);
		rc = want_vec3(job, json_object_get(b, "position"), path,
		               &s->x[3 * i]);
		if (rc)
			return rc;
		snprintf(path, sizeof(path), "bodies[%zu].velocity", i);
		rc = want_vec3(job, json_object_get(b, "velocity"), path,
		               &s->v[3 * i]);
		if (rc)
			return rc;
	}
	return JOBD_OK;
}

static int parse_params(struct jobd_job *job, const struct nbody_state *st,
                        const json_t *in, struct nbody_params *p, double *G)
{
	static const char *const known[] = {
	        "bodies",     "units",     "G",       "dt", "duration",
	        "integrator", "softening", "samples", NULL};
	const json_t *v;
	double q;
	int rc;

	rc = want_known_keys(job, in, "", known);
	if (rc)
		return rc;

	*G = 1.0;
	v = json_object_get(in, "units");
	if (v) {
		const char *u = json_string_value(v);
		if (u && strcmp(u, "si") == 0) {
			*G = NBODY_G_SI;
		} else if (!u || strcmp(u, "nbody") != 0) {
			job->host->fail(
			        job,
			        "units: must be \"nbody\" (G = 1) or \"si\"");
			return JOBD_E_BAD_REQUEST;
		}
	}
	v = json_object_get(in, "G");
	if (v && (rc = want_number(job, v, "G", 0, G)))
		return rc;

	if ((rc = want_number(job, json_object_get(in, "dt"), "dt", 0, &p->dt)))
		return rc;
	if ((rc = want_number(job, json_object_get(in, "duration"), "duration",
	                      0, &p->duration)))
		return rc;
	q = p->duration / p->dt;
	if (!(q <= (double)NBODY_MAX_STEPS)) {
		job->host->fail(job,
		                "dt: duration/dt is %.3g steps, more than the "
		                "limit %.0e",
		                q, (double)NBODY_MAX_STEPS);
		return JOBD_E_BAD_REQUEST;
	}
	/* A duration that is a whole number of steps up to rounding (2*pi
	 * over 2*pi/1000) should not get a sliver of an extra step. */
	if (fabs(q - round(q)) <= 1e-9 * q && round(q) >= 1.0)
		p->steps = (uint64_t)round(q);
	else
		p->steps = (uint64_t)ceil(q);

	p->integrator = NBODY_LEAPFROG;
	v = json_object_get(in, "integrator");
	if (v) {
		const char *s = json_string_value(v);
		if (s && strcmp(s, "rk4") == 0) {
			p->integrator = NBODY_RK4;
		} else if (!s || strcmp(s, "leapfrog") != 0) {
			job->host->fail(job, "integrator: must be \"leapfrog\" "
			                     "or \"rk4\"");
			return JOBD_E_BAD_REQUEST;
		}
	}

	p->softening = st->default_softening;
	v = json_object_get(in, "softening");
	if (v && (rc = want_number(job, v, "softening", 1, &p->softening)))
		return rc;

	p->samples = 0;
	v = json_object_get(in, "samples");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > NBODY_MAX_SAMPLES) {
			job->host->fail(
			        job, "samples: must be an integer from 0 to %d",
			        NBODY_MAX_SAMPLES);
			return JOBD_E_BAD_REQUEST;
		}
		p->samples = (size_t)json_integer_value(v);
		if (p->samples > p->steps) {
			job->host->fail(
			        job, "samples: %zu is more than the %llu steps",
			        p->samples, (unsigned long long)p->steps);
			return JOBD_E_BAD_REQUEST;
		}
	}
	return JOBD_OK;
}

/* --- output --- */

static json_t *vec3_json(const double *x)
{
	return json_pack("[f,f,f]", x[0], x[1], x[2]);
}

static json_t *sample_json(const struct nbody_sim *s, double t)
{
	json_t *pos = json_array();

	for (size_t i = 0; pos && i < s->n; i++) {
		if (json_array_append_new(pos, vec3_json(&s->x[3 * i])) != 0) {
			json_decref(pos);
			return NULL;
		}
	}
	return pos ? json_pack("{s:f, s:o}", "t", t, "positions", pos) : NULL;
}

static json_t *bodies_json(const struct nbody_sim *s, const json_t *in_bodies)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < s->n; i++) {
		const json_t *name =
		        json_object_get(json_array_get(in_bodies, i), "name");
		json_t *b = json_pack("{s:f, s:o, s:o}", "mass", s->m[i],
		                      "position", vec3_json(&s->x[3 * i]),
		                      "velocity", vec3_json(&s->v[3 * i]));
		/* Copy the name: the input is only borrowed. */
		if (b && name &&
		    json_object_set_new(b, "name",
		                        json_string(json_string_value(name))))
			json_decref(b), b = NULL;
		if (json_array_append_new(arr, b) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* --- plugin entry points --- */

static int nbody_init(const struct jobd_host *host, const json_t *options,
                      void **state)
{
	struct nbody_state *st;
	const char *key;
	json_t *value;
	double soft = 0.0;

	if (!json_is_object(options)) {
		host->fail(NULL, "options: must be a mapping");
		return JOBD_E_BAD_REQUEST;
	}
	json_object_foreach((json_t *)options, key, value)
	{
		if (strcmp(key, "softening") == 0) {
			soft = json_number_value(value);
			if (!json_is_number(value) || !isfinite(soft) ||
			    soft < 0.0) {
				host->fail(NULL, "options.softening: must be a "
				                 "non-negative number");
				return JOBD_E_BAD_REQUEST;
			}
		} else {
			host->fail(NULL, "options.%s: unknown option", key);
			return JOBD_E_BAD_REQUEST;
		}
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		host->fail(NULL, "out of memory");
		return JOBD_E_INTERNAL;
	}
	st->default_softening = soft;
	*state = st;
	return JOBD_OK;
}

static void nbody_destroy(void *state)
{
	free(state);
}

static int nbody_process(void *state, void *worker_state, struct jobd_job *job,
                         const json_t *input, json_t **output)
{
	const struct jobd_host *host = job->host;
	struct nbody_sim s = {0};
	struct nbody_params p = {0};
	json_t *traj = NULL, *out = NULL, *bodies;
	double e0, e1, pairs, evals, t = 0.0;
	uint64_t poll_stride, next_sample = 0, step;
	size_t sample_k = 1, ci = 0, cj = 0;
	int last_pct = -1, rc;

	(void)worker_state;
	if (!json_is_object(input)) {
		host->fail(job, "input: must be an object");
		return JOBD_E_BAD_REQUEST;
	}
	rc = parse_params(job, state, input, &p, &s.G);
	if (rc)
		goto out;
	bodies = json_object_get(input, "bodies");
	rc = parse_bodies(job, bodies, &s, p.integrator == NBODY_RK4);
	if (rc)
		goto out;
	s.eps2 = p.softening * p.softening;

	pairs = (double)s.n * (double)(s.n - 1) / 2.0;
	evals = pairs * (double)p.steps * (p.integrator == NBODY_RK4 ? 4 : 1);
	if (evals > NBODY_MAX_PAIR_EVALS) {
		host->fail(job,
		           "bodies: %zu bodies over %llu steps is %.3g pair "
		           "evaluations, more than the limit %.0e; use fewer "
		           "bodies or a larger dt",
		           s.n, (unsigned long long)p.steps, evals,
		           NBODY_MAX_PAIR_EVALS);
		rc = JOBD_E_BAD_REQUEST;
		goto out;
	}
	if ((double)p.samples * (double)s.n * 3.0 > NBODY_MAX_SAMPLE_VALUES) {
		host->fail(job,
		           "samples: %zu samples of %zu bodies is too much "
		           "output (limit %d numbers)",
		           p.samples, s.n, NBODY_MAX_SAMPLE_VALUES);
		rc = JOBD_E_BAD_REQUEST;
		goto out;
	}
	if (p.samples) {
		traj = json_array();
		if (!traj)
			goto nomem;
		next_sample = (p.steps + p.samples - 1) / p.samples;
	}
	poll_stride = pairs >= NBODY_POLL_PAIRS
	                      ? 1
	                      : (uint64_t)(NBODY_POLL_PAIRS / (pairs + 1.0));

	e0 = sim_energy(&s);
	if (sim_accel(&s, s.x, s.a, &ci, &cj) != 0)
		goto collided;

	for (step = 1; step <= p.steps; step++) {
		double h = step < p.steps
		                   ? p.dt
		                   : p.duration - (double)(p.steps - 1) * p.dt;
		int pct;

		rc = p.integrator == NBODY_RK4 ? step_rk4(&s, h, &ci, &cj)
		                               : step_leapfrog(&s, h, &ci, &cj);
		if (rc != 0) {
			t = (double)(step - 1) * p.dt;
			goto collided;
		}
		t = step < p.steps ? (double)step * p.dt : p.duration;

		if (traj && step == next_sample) {
			if (json_array_append_new(traj, sample_json(&s, t)) !=
			    0)
				goto nomem;
			sample_k++;
			/* Sample k lands on step ceil(k * steps / samples). */
			next_sample =
			        (uint64_t)(((__uint128_t)sample_k * p.steps +
			                    p.samples - 1) /
			                   p.samples);
		}
		pct = (int)((double)step * 100.0 / (double)p.steps);
		if (pct != last_pct) {
			last_pct = pct;
			jobd_job_progress(job, t / p.duration, NULL);
		}
		if (step % poll_stride == 0 && jobd_job_cancelled(job)) {
			host->fail(job,
			           "cancelled at t = %g after %llu of %llu "
			           "steps",
			           t, (unsigned long long)step,
			           (unsigned long long)p.steps);
			rc = JOBD_E_CANCELLED;
			goto out;
		}
	}

	for (size_t k = 0; k < 3 * s.n; k++) {
		if (!isfinite(s.x[k]) || !isfinite(s.v[k])) {
			host->fail(job, "dt: the state overflowed to infinity; "
			                "use a smaller dt or a softening");
			rc = JOBD_E_BAD_REQUEST;
			goto out;
		}
	}
	e1 = sim_energy(&s);
	out = json_pack(
	        "{s:o, s:{s:f, s:f, s:o}, s:I, s:f, s:f, s:s}", "bodies",
	        bodies_json(&s, bodies), "energy", "initial", e0, "final", e1,
	        "relative_drift",
	        e0 != 0.0 ? json_real((e1 - e0) / fabs(e0)) : json_null(),
	        "steps", (json_int_t)p.steps, "t", t, "G", s.G, "integrator",
	        p.integrator == NBODY_RK4 ? "rk4" : "leapfrog");
	if (!out)
		goto nomem;
	if (traj) {
		if (json_object_set_new(out, "trajectory", traj) != 0) {
			traj = NULL;
			goto nomem;
		}
		traj = NULL;
	}
	*output = out;
	out = NULL;
	rc = JOBD_OK;
	goto out;

collided:
	host->fail(job,
	           "bodies[%zu] and bodies[%zu] coincide at t = %g, where the "
	           "force is infinite; give a softening > 0",
	           ci, cj, t);
	rc = JOBD_E_BAD_REQUEST;
	goto out;
nomem:
	host->fail(job, "out of memory");
	rc = JOBD_E_PLUGIN_FAILED;
out:
	json_decref(out);
	json_decref(traj);
	sim_free(&s);
	return rc;
}

static const struct jobd_plugin nbody_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "nbody",
        .version = "1.0.0",
        .description = "gravitational n-body integration (leapfrog or RK4)",
        .flags = JOBD_PLUGIN_RETRY_SAFE,
        .init = nbody_init,
        .destroy = nbody_destroy,
        .process = nbody_process,
};

JOBD_PLUGIN_DEFINE(nbody_plugin)
