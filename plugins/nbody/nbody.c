/* SPDX-License-Identifier: MIT */
/*
 * nbody: a planetary model. Integrates Newtonian gravity for a set of point
 * masses by direct summation (O(n^2) per force evaluation), with a
 * kick-drift-kick leapfrog (default) or classical RK4.
 *
 * Inputs and outputs are described field by field in README.md here. In
 * short: bodies, units ("nbody" G = 1, "si", or "au_msun_day" with the
 * Gaussian gravitational constant), dt, duration, integrator, softening,
 * samples / sample_times. The output carries the final state, the energy
 * at the start and end and the largest relative drift at any step, the
 * softening and G the run used, and the trajectory samples (t, positions,
 * velocities) at the requested times.
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

#define NBODY_MAX_BODIES     10000
#define NBODY_MAX_STEPS      100000000ull /* 1e8 */
#define NBODY_MAX_PAIR_EVALS 1e11         /* a few minutes of one core */
#define NBODY_MAX_SAMPLES    100000
/* Sampled body states (samples x bodies), 6 numbers each. Before samples
 * carried velocities and t = 0 the bound was 1e7 positions' numbers
 * (3.33e6 states); this keeps every such request within it. */
#define NBODY_MAX_SAMPLE_STATES 3400000
#define NBODY_G_SI              6.67430e-11
/* The Gaussian gravitational constant k (IAU 1938, kept as a defining
 * constant by IAU 1976 and 2012 Resolution B2): G = k^2 in au^3 /
 * (solar mass day^2). */
#define NBODY_GAUSS_K 0.01720209895
/* Between cancellation polls, about this many pair evaluations. */
#define NBODY_POLL_PAIRS 200000

struct nbody_state {
	double default_softening;
	int softening_set; /* options.softening was given */
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
 * Accelerations at positions x into a, and the (softened) potential energy
 * there into *pe: it falls out of the same pair loop, since G m_i m_j / r
 * is m_i m_j (G / r^3) r^2. Returns 0, or -1 with *ci, *cj set when two
 * bodies coincide with no softening (the force is infinite).
 */
static int sim_accel(const struct nbody_sim *s, const double *x, double *a,
                     double *pe, size_t *ci, size_t *cj)
{
	size_t n = s->n;
	double u = 0.0;

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
			u -= s->m[i] * s->m[j] * inv3 * r2;
			a[3 * i + 0] += s->m[j] * dx * inv3;
			a[3 * i + 1] += s->m[j] * dy * inv3;
			a[3 * i + 2] += s->m[j] * dz * inv3;
			a[3 * j + 0] -= s->m[i] * dx * inv3;
			a[3 * j + 1] -= s->m[i] * dy * inv3;
			a[3 * j + 2] -= s->m[i] * dz * inv3;
		}
	}
	*pe = u;
	return 0;
}

static double sim_kinetic(const struct nbody_sim *s)
{
	double ke = 0.0;

	for (size_t i = 0; i < s->n; i++) {
		const double *v = &s->v[3 * i];
		ke += 0.5 * s->m[i] * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
	}
	return ke;
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

/* One kick-drift-kick step of length h; s->a holds a(x) on entry and exit.
 * *energy: the total energy at the end of the step. */
static int step_leapfrog(struct nbody_sim *s, double h, double *energy,
                         size_t *ci, size_t *cj)
{
	size_t n3 = 3 * s->n;
	double pe;

	for (size_t k = 0; k < n3; k++) {
		s->v[k] += 0.5 * h * s->a[k];
		s->x[k] += h * s->v[k];
	}
	if (sim_accel(s, s->x, s->a, &pe, ci, cj) != 0)
		return -1;
	for (size_t k = 0; k < n3; k++)
		s->v[k] += 0.5 * h * s->a[k];
	*energy = sim_kinetic(s) + pe;
	return 0;
}

/* One classical RK4 step of length h on y = (x, v), y' = (v, a(x)).
 * *energy: the total energy at the START of the step (its first stage
 * evaluates the forces there anyway). */
static int step_rk4(struct nbody_sim *s, double h, double *energy, size_t *ci,
                    size_t *cj)
{
	size_t n3 = 3 * s->n;
	double *kx[4], *kv[4], *xt = s->tmp + 8 * n3, *vt = s->tmp + 9 * n3;
	double pe;
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
		if (sim_accel(s, xt, kv[q], &pe, ci, cj) != 0)
			return -1;
		if (q == 0)
			*energy = sim_kinetic(s) + pe;
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
	const char *softening_from; /* "input", "options" or "default" */
	const char *units;
	enum nbody_integrator integrator;
	uint64_t steps;
	double *times;  /* sample times, ascending, in [0, duration] */
	size_t n_times; /* how many */
	size_t splits;  /* steps sample_times may add (for the work bound) */
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

/* One of the input arrays of bodies: f64 of shape [n] (cols 0) or [n, 3];
 * n 0 takes the first array's n. */
static int want_body_array(struct jobd_job *job, const char *name,
                           unsigned cols, size_t *n, struct jobd_array *a)
{
	if (job->host->input_array(job, name, a) != JOBD_OK) {
		job->host->fail(job,
		                "%s: missing (masses, positions and velocities "
		                "come as arrays together)",
		                name);
		return JOBD_E_BAD_REQUEST;
	}
	if (a->dtype != JOBD_DTYPE_F64 || a->ndim != (cols ? 2u : 1u) ||
	    (cols && a->shape[1] != cols) || a->shape[0] == 0 ||
	    (*n && a->shape[0] != *n)) {
		job->host->fail(
		        job,
		        "%s: must be f64 of shape [n%s], n >= 1 and the "
		        "same n for masses, positions and velocities",
		        name, cols ? ", 3" : "");
		return JOBD_E_BAD_REQUEST;
	}
	*n = (size_t)a->shape[0];
	return JOBD_OK;
}

/* Bodies from binary arrays (protocol v2): masses f64 [n], positions and
 * velocities f64 [n, 3], read in place and checked as the JSON path
 * checks its numbers. */
static int parse_body_arrays(struct jobd_job *job, struct nbody_sim *s, int rk4)
{
	struct jobd_array m, x, v;
	size_t n = 0;
	int rc;

	if ((rc = want_body_array(job, "masses", 0, &n, &m)) ||
	    (rc = want_body_array(job, "positions", 3, &n, &x)) ||
	    (rc = want_body_array(job, "velocities", 3, &n, &v)))
		return rc;
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
	memcpy(s->m, m.data, n * sizeof(double));
	memcpy(s->x, x.data, 3 * n * sizeof(double));
	memcpy(s->v, v.data, 3 * n * sizeof(double));
	for (size_t i = 0; i < n; i++) {
		int ok = isfinite(s->m[i]) && s->m[i] > 0;

		for (int j = 0; j < 3; j++)
			ok = ok && isfinite(s->x[3 * i + j]) &&
			     isfinite(s->v[3 * i + j]);
		if (!ok) {
			job->host->fail(
			        job,
			        "body %zu: mass must be a finite number "
			        "> 0, position and velocity finite",
			        i);
			return JOBD_E_BAD_REQUEST;
		}
	}
	return JOBD_OK;
}

/*
 * samples: N gives N + 1 samples evenly spaced in time, t = 0, duration/N,
 * ..., duration; sample_times gives them one by one. Either fills p->times.
 */
static int parse_samples(struct jobd_job *job, const json_t *in,
                         struct nbody_params *p)
{
	const json_t *v = json_object_get(in, "samples");
	const json_t *times = json_object_get(in, "sample_times");
	size_t n;

	p->times = NULL;
	p->n_times = 0;
	if (v && times) {
		job->host->fail(job, "sample_times: give samples or "
		                     "sample_times, not both");
		return JOBD_E_BAD_REQUEST;
	}
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > NBODY_MAX_SAMPLES) {
			job->host->fail(
			        job, "samples: must be an integer from 0 to %d",
			        NBODY_MAX_SAMPLES);
			return JOBD_E_BAD_REQUEST;
		}
		n = (size_t)json_integer_value(v);
		if (n > p->steps) {
			job->host->fail(
			        job, "samples: %zu is more than the %llu steps",
			        n, (unsigned long long)p->steps);
			return JOBD_E_BAD_REQUEST;
		}
		if (n == 0)
			return JOBD_OK;
		p->times = malloc((n + 1) * sizeof(double));
		if (!p->times)
			goto nomem;
		for (size_t k = 0; k <= n; k++)
			p->times[k] =
			        k == n ? p->duration
			               : p->duration * (double)k / (double)n;
		p->n_times = n + 1;
		return JOBD_OK;
	}
	if (!times)
		return JOBD_OK;
	if (!json_is_array(times) || json_array_size(times) == 0 ||
	    json_array_size(times) > NBODY_MAX_SAMPLES) {
		job->host->fail(job,
		                "sample_times: must be an array of 1 to %d "
		                "times",
		                NBODY_MAX_SAMPLES);
		return JOBD_E_BAD_REQUEST;
	}
	n = json_array_size(times);
	p->times = malloc(n * sizeof(double));
	if (!p->times)
		goto nomem;
	for (size_t k = 0; k < n; k++) {
		const json_t *e = json_array_get(times, k);
		double t = json_number_value(e);
		if (!json_is_number(e) || !isfinite(t) || t < 0.0 ||
		    t > p->duration) {
			job->host->fail(job,
			                "sample_times[%zu]: must be a number "
			                "from 0 to duration (%g)",
			                k, p->duration);
			return JOBD_E_BAD_REQUEST;
		}
		if (k > 0 && t <= p->times[k - 1]) {
			job->host->fail(job,
			                "sample_times[%zu]: must be later than "
			                "sample_times[%zu]",
			                k, k - 1);
			return JOBD_E_BAD_REQUEST;
		}
		p->times[k] = t;
	}
	p->n_times = n;
	p->splits = n;
	return JOBD_OK;

nomem:
	job->host->fail(job, "out of memory");
	return JOBD_E_PLUGIN_FAILED;
}

static int parse_params(struct jobd_job *job, const struct nbody_state *st,
                        const json_t *in, struct nbody_params *p, double *G)
{
	static const char *const known[] = {
	        "bodies",       "units",      "G",         "dt",
	        "duration",     "integrator", "softening", "samples",
	        "sample_times", NULL};
	const json_t *v;
	double q;
	int rc;

	rc = want_known_keys(job, in, "", known);
	if (rc)
		return rc;

	*G = 1.0;
	p->units = "nbody";
	v = json_object_get(in, "units");
	if (v) {
		const char *u = json_string_value(v);
		if (u && strcmp(u, "si") == 0) {
			*G = NBODY_G_SI;
			p->units = "si";
		} else if (u && strcmp(u, "au_msun_day") == 0) {
			*G = NBODY_GAUSS_K * NBODY_GAUSS_K;
			p->units = "au_msun_day";
		} else if (!u || strcmp(u, "nbody") != 0) {
			job->host->fail(
			        job, "units: must be \"nbody\" (G = 1), \"si\" "
			             "(m, kg, s) or \"au_msun_day\" (au, solar "
			             "masses, days)");
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
	p->softening_from = st->softening_set ? "options" : "default";
	v = json_object_get(in, "softening");
	if (v) {
		if ((rc = want_number(job, v, "softening", 1, &p->softening)))
			return rc;
		p->softening_from = "input";
	}
	return parse_samples(job, in, p);
}

/* --- output --- */

static json_t *vec3_json(const double *x)
{
	return json_pack("[f,f,f]", x[0], x[1], x[2]);
}

static json_t *vec3s_json(const double *x, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		if (json_array_append_new(arr, vec3_json(&x[3 * i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *sample_json(const struct nbody_sim *s, double t)
{
	return json_pack("{s:f, s:o, s:o}", "t", t, "positions",
	                 vec3s_json(s->x, s->n), "velocities",
	                 vec3s_json(s->v, s->n));
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
	st->softening_set = json_object_get(options, "softening") != NULL;
	*state = st;
	return JOBD_OK;
}

static void nbody_destroy(void *state)
{
	free(state);
}

/* One run's moving parts: the state, where it is in time, its energy
 * record and the samples still to take. */
struct nbody_run {
	struct nbody_sim s;
	struct nbody_params p;
	double t;
	double e0, max_drift, max_drift_t;
	size_t next_time; /* index into p.times */
	json_t *traj;
	size_t ci, cj; /* the colliding pair, on failure */
};

static void note_energy(struct nbody_run *r, double e, double t)
{
	double d;

	if (r->e0 == 0.0)
		return; /* no relative drift to speak of; reported as null */
	d = fabs(e - r->e0) / fabs(r->e0);
	if (d > r->max_drift) {
		r->max_drift = d;
		r->max_drift_t = t;
	}
}

/* Advances by h from r->t; t_new is the time it ends at (given rather than
 * summed, so a run of whole steps keeps exact step times). */
static int advance(struct nbody_run *r, double h, double t_new)
{
	double e;
	int rc;

	if (r->p.integrator == NBODY_RK4)
		rc = step_rk4(&r->s, h, &e, &r->ci, &r->cj);
	else
		rc = step_leapfrog(&r->s, h, &e, &r->ci, &r->cj);
	if (rc != 0)
		return -1;
	/* Leapfrog reports the energy at the step's end, RK4 at its start;
	 * with the final state's energy added later, every step boundary of
	 * the run is checked either way. */
	note_energy(r, e, r->p.integrator == NBODY_RK4 ? r->t : t_new);
	r->t = t_new;
	return 0;
}

/* Takes every sample due at r->t (within a rounding of the step). */
static int take_samples(struct nbody_run *r)
{
	double slack = 1e-9 * r->p.dt;

	while (r->next_time < r->p.n_times &&
	       r->p.times[r->next_time] <= r->t + slack) {
		if (json_array_append_new(r->traj, sample_json(&r->s, r->t)) !=
		    0)
			return -1;
		r->next_time++;
	}
	return 0;
}

/*
 * Steps 1..steps of length dt, the last one shortened to end at duration.
 * A step that a sample time falls inside is split there, so the sample is
 * the integrated state at that time, not an interpolation; a run with no
 * such times takes exactly the steps it took before samples existed.
 */
static int integrate(struct jobd_job *job, struct nbody_run *r)
{
	const struct jobd_host *host = job->host;
	struct nbody_params *p = &r->p;
	double pairs = (double)r->s.n * (double)(r->s.n - 1) / 2.0;
	double slack = 1e-9 * p->dt, pe;
	uint64_t poll_stride =
	        pairs >= NBODY_POLL_PAIRS
	                ? 1
	                : (uint64_t)(NBODY_POLL_PAIRS / (pairs + 1.0));
	int last_pct = -1;

	r->t = 0.0;
	r->e0 = sim_energy(&r->s);
	if (sim_accel(&r->s, r->s.x, r->s.a, &pe, &r->ci, &r->cj) != 0)
		goto collided;
	if (r->traj && take_samples(r) != 0)
		goto nomem;
	for (uint64_t step = 1; step <= p->steps; step++) {
		double t_end =
		        step < p->steps ? (double)step * p->dt : p->duration;
		double h =
		        step < p->steps
		                ? p->dt
		                : p->duration - (double)(p->steps - 1) * p->dt;
		int split = 0, pct;

		while (r->next_time < p->n_times &&
		       p->times[r->next_time] < t_end - slack) {
			double ts = p->times[r->next_time];
			if (ts > r->t + slack && advance(r, ts - r->t, ts) != 0)
				goto collided;
			split = 1;
			if (take_samples(r) != 0)
				goto nomem;
		}
		if (advance(r, split ? t_end - r->t : h, t_end) != 0)
			goto collided;
		if (r->traj && take_samples(r) != 0)
			goto nomem;

		pct = (int)((double)step * 100.0 / (double)p->steps);
		if (pct != last_pct) {
			last_pct = pct;
			jobd_job_progress(job, r->t / p->duration, NULL);
		}
		if (step % poll_stride == 0 && jobd_job_cancelled(job)) {
			host->fail(job,
			           "cancelled at t = %g after %llu of %llu "
			           "steps",
			           r->t, (unsigned long long)step,
			           (unsigned long long)p->steps);
			return JOBD_E_CANCELLED;
		}
	}
	return JOBD_OK;

collided:
	host->fail(job,
	           "bodies[%zu] and bodies[%zu] coincide at t = %g, where the "
	           "force is infinite; give a softening > 0",
	           r->ci, r->cj, r->t);
	return JOBD_E_BAD_REQUEST;
nomem:
	host->fail(job, "out of memory");
	return JOBD_E_PLUGIN_FAILED;
}

static int nbody_process(void *state, void *worker_state, struct jobd_job *job,
                         const json_t *input, json_t **output)
{
	const struct jobd_host *host = job->host;
	struct nbody_run r = {0};
	struct nbody_sim *s = &r.s;
	struct nbody_params *p = &r.p;
	json_t *out = NULL, *bodies;
	double e1, pairs, evals;
	int rc;

	(void)worker_state;
	if (!json_is_object(input)) {
		host->fail(job, "input: must be an object");
		return JOBD_E_BAD_REQUEST;
	}
	rc = parse_params(job, state, input, p, &s->G);
	if (rc)
		goto out;
	bodies = json_object_get(input, "bodies");
	if (JOBD_HOST_HAS(host, input_count) && host->input_count(job) &&
	    JOBD_HOST_HAS(host, input_array)) {
		if (bodies) {
			host->fail(job, "bodies: given both as JSON and as "
			                "arrays; give one");
			rc = JOBD_E_BAD_REQUEST;
			goto out;
		}
		rc = parse_body_arrays(job, s, p->integrator == NBODY_RK4);
	} else {
		rc = parse_bodies(job, bodies, s, p->integrator == NBODY_RK4);
	}
	if (rc)
		goto out;
	s->eps2 = p->softening * p->softening;

	pairs = (double)s->n * (double)(s->n - 1) / 2.0;
	evals = pairs * (double)(p->steps + p->splits) *
	        (p->integrator == NBODY_RK4 ? 4 : 1);
	if (evals > NBODY_MAX_PAIR_EVALS) {
		host->fail(job,
		           "bodies: %zu bodies over %llu steps is %.3g pair "
		           "evaluations, more than the limit %.0e; use fewer "
		           "bodies or a larger dt",
		           s->n, (unsigned long long)p->steps, evals,
		           NBODY_MAX_PAIR_EVALS);
		rc = JOBD_E_BAD_REQUEST;
		goto out;
	}
	if ((double)p->n_times * (double)s->n > NBODY_MAX_SAMPLE_STATES) {
		host->fail(job,
		           "samples: %zu samples of %zu bodies is too much "
		           "output (limit %d body states)",
		           p->n_times, s->n, NBODY_MAX_SAMPLE_STATES);
		rc = JOBD_E_BAD_REQUEST;
		goto out;
	}
	if (p->n_times) {
		r.traj = json_array();
		if (!r.traj)
			goto nomem;
	}

	rc = integrate(job, &r);
	if (rc)
		goto out;
	for (size_t k = 0; k < 3 * s->n; k++) {
		if (!isfinite(s->x[k]) || !isfinite(s->v[k])) {
			host->fail(job, "dt: the state overflowed to infinity; "
			                "use a smaller dt or a softening");
			rc = JOBD_E_BAD_REQUEST;
			goto out;
		}
	}
	e1 = sim_energy(s);
	note_energy(&r, e1, r.t);
	out = json_pack(
	        "{s:o, s:{s:f, s:f, s:o, s:o, s:o}, s:I, s:f, s:f, s:s, s:s,"
	        " s:f, s:s}",
	        "bodies", bodies_json(s, bodies), "energy", "initial", r.e0,
	        "final", e1, "relative_drift",
	        r.e0 != 0.0 ? json_real((e1 - r.e0) / fabs(r.e0)) : json_null(),
	        "max_relative_drift",
	        r.e0 != 0.0 ? json_real(r.max_drift) : json_null(),
	        "max_drift_t",
	        r.e0 != 0.0 ? json_real(r.max_drift_t) : json_null(), "steps",
	        (json_int_t)p->steps, "t", r.t, "G", s->G, "units", p->units,
	        "integrator", p->integrator == NBODY_RK4 ? "rk4" : "leapfrog",
	        "softening", p->softening, "softening_from", p->softening_from);
	if (!out)
		goto nomem;
	if (r.traj) {
		if (json_object_set_new(out, "trajectory", r.traj) != 0) {
			r.traj = NULL;
			goto nomem;
		}
		r.traj = NULL;
	}
	*output = out;
	out = NULL;
	rc = JOBD_OK;
	goto out;

nomem:
	host->fail(job, "out of memory");
	rc = JOBD_E_PLUGIN_FAILED;
out:
	json_decref(out);
	json_decref(r.traj);
	free(p->times);
	sim_free(s);
	return rc;
}

static const struct jobd_plugin nbody_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "nbody",
        .version = "1.1.0",
        .description = "gravitational n-body integration (leapfrog or RK4)",
        .flags = JOBD_PLUGIN_RETRY_SAFE | JOBD_PLUGIN_ARRAYS,
        .init = nbody_init,
        .destroy = nbody_destroy,
        .process = nbody_process,
};

JOBD_PLUGIN_DEFINE(nbody_plugin)
