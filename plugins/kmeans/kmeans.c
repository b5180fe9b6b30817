/* SPDX-License-Identifier: MIT */
/*
 * kmeans: trains a k-means clustering model the way scikit-learn's KMeans
 * (algorithm "lloyd") does: n_init starts, each seeded by greedy k-means++
 * and refined by Lloyd iterations, keeping the start of lowest inertia.
 * Chosen as the training example because it is a real, widely used
 * unsupervised learner whose result is fully determined by its input and
 * seed, so a model can be cached and a test can check it against
 * scikit-learn (plugins/kmeans/test_kmeans_sklearn.py).
 *
 * Inputs and outputs are described field by field in README.md here.
 *
 * Plugin state: a bounded LRU cache of trained models (options.cache_size
 * entries, default 64; options.cache_max_bytes, default 256 MiB), shared by
 * the worker threads. A repeated request is answered from it with
 * "cached": true. The key is a canonical binary form of the input (see
 * parse_input) rather than json_dumps(JSON_SORT_KEYS): it takes 8 bytes per
 * coordinate instead of ~20, and it makes 1 and 1.0 the same input.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobd/plugin.h>

#include "kmeans_cache.h"

#define KMEANS_MAX_POINTS     1000000
#define KMEANS_MAX_DIM        1000
#define KMEANS_MAX_VALUES     10000000 /* n * d */
#define KMEANS_MAX_K          10000
#define KMEANS_MAX_ITERATIONS 100000
#define KMEANS_MAX_N_INIT     1000
/* n * k * d * max_iter * n_init: the worst case, as Lloyd's iterations
 * usually stop long before max_iter. 30 times the old bound on
 * n * k * d * iterations (2e10), as the defaults went from 100 iterations
 * of one start to 300 of ten: every input accepted before still is. */
#define KMEANS_MAX_WORK 6e11
/* scikit-learn's defaults (sklearn.cluster.KMeans): max_iter=300,
 * n_init=10, tol=1e-4. */
#define KMEANS_DEFAULT_ITERATIONS  300
#define KMEANS_DEFAULT_N_INIT      10
#define KMEANS_DEFAULT_TOLERANCE   1e-4
#define KMEANS_DEFAULT_CACHE_SIZE  64
#define KMEANS_DEFAULT_CACHE_BYTES (256u << 20)
/* 2: n_init, greedy seeding and the relative tolerance changed what a
 * given input trains. */
#define KMEANS_KEY_VERSION 2

struct kmeans_state {
	struct kmeans_cache *cache;
};

/* The parameters that determine a model; the head of the cache key. All
 * fields are 8 bytes wide so that the points that follow stay aligned and
 * the struct has no padding (whose bytes would differ between requests). */
struct kmeans_key_head {
	uint64_t version;
	uint64_t n, d, k, iterations, n_init, seed;
	double tolerance;
};

struct kmeans_params {
	size_t n, d, k, iterations, n_init;
	uint64_t seed;
	double tolerance;     /* relative, as given */
	double tolerance_abs; /* tolerance * mean per-feature variance */
	int want_labels;
	size_t run; /* which start is running, for progress */
	/* Points from the binary array "points" (f64 [n, d], protocol v2):
	 * then labels and centroids go back as arrays too. */
	int arrays;
	struct jobd_array points;
};

/* --- the PRNG: splitmix64 (Steele, Lea, Flood 2014) --- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rand_unit(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

/* --- the algorithm --- */

static double dist2(const double *a, const double *b, size_t d)
{
	double s = 0.0;

	for (size_t j = 0; j < d; j++) {
		double t = a[j] - b[j];
		s += t * t;
	}
	return s;
}

/* Nearest centroid to p; its squared distance in *best_d2. */
static size_t nearest(const double *p, const double *cent, size_t k, size_t d,
                      double *best_d2)
{
	size_t best = 0;
	double bd = dist2(p, cent, d);

	for (size_t c = 1; c < k; c++) {
		double t = dist2(p, &cent[c * d], d);
		if (t < bd) {
			bd = t;
			best = c;
		}
	}
	*best_d2 = bd;
	return best;
}

/* The first i with cum[i] >= r, or n - 1 when r is past the end (rounding):
 * numpy.searchsorted(cum, r) clipped to the last index, as scikit-learn's
 * seeding uses it. */
static size_t pick_weighted(const double *cum, size_t n, double r)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cum[mid] >= r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Scratch for one start; each array has n entries. */
struct kmeans_scratch {
	double *d2, *cum, *cand, *best;
	double *sums; /* k * d */
};

/*
 * Greedy k-means++ seeding, as scikit-learn's kmeans_plusplus does it:
 * the first centroid is a uniformly drawn point; for each next one,
 * 2 + floor(ln k) candidates are drawn with probability proportional to
 * their squared distance to the nearest centroid so far (D^2 sampling,
 * Arthur and Vassilvitskii 2007), and the candidate that lowers the total
 * of those squared distances most is kept. Returns JOBD_E_CANCELLED if
 * asked to stop.
 */
static int seed_plusplus(struct jobd_job *job, const struct kmeans_params *p,
                         const double *pts, double *cent,
                         struct kmeans_scratch *sc, uint64_t *rng)
{
	size_t n = p->n, d = p->d;
	size_t trials = 2 + (size_t)log((double)p->k);
	size_t first = (size_t)(rand_unit(rng) * (double)n);
	double *d2 = sc->d2, *cand = sc->cand, *best = sc->best, *t;
	double pot = 0.0;

	memcpy(cent, &pts[first * d], d * sizeof(double));
	for (size_t i = 0; i < n; i++) {
		d2[i] = dist2(&pts[i * d], cent, d);
		pot += d2[i];
	}
	for (size_t c = 1; c < p->k; c++) {
		double best_pot = INFINITY, acc = 0.0;
		size_t best_id = 0;

		if (jobd_job_cancelled(job))
			return JOBD_E_CANCELLED;
		for (size_t i = 0; i < n; i++) {
			acc += d2[i];
			sc->cum[i] = acc;
		}
		for (size_t tr = 0; tr < trials; tr++) {
			double s = 0.0;
			size_t id;

			/* With every point on a centroid already (fewer
			 * distinct points than k) any point will do. */
			if (pot > 0.0)
				id = pick_weighted(sc->cum, n,
				                   rand_unit(rng) * pot);
			else
				id = (size_t)(rand_unit(rng) * (double)n);
			for (size_t i = 0; i < n; i++) {
				double v = dist2(&pts[i * d], &pts[id * d], d);
				cand[i] = v < d2[i] ? v : d2[i];
				s += cand[i];
			}
			if (s < best_pot) {
				best_pot = s;
				best_id = id;
				t = best, best = cand, cand = t;
			}
		}
		memcpy(&cent[c * d], &pts[best_id * d], d * sizeof(double));
		t = d2, d2 = best, best = t;
		pot = best_pot;
	}
	return JOBD_OK;
}

struct kmeans_result {
	double *cent;   /* k * d */
	size_t *labels; /* n */
	size_t *sizes;  /* k */
	double inertia;
	size_t iterations;
	int converged;
};

/* Lloyd's iterations from the seeded centroids in r->cent. */
static int lloyd(struct jobd_job *job, const struct kmeans_params *p,
                 const double *pts, struct kmeans_result *r,
                 struct kmeans_scratch *sc)
{
	size_t n = p->n, d = p->d, k = p->k;
	double *d2 = sc->d2, *sums = sc->sums;
	double base = (double)p->run / (double)p->n_init;

	for (size_t i = 0; i < n; i++)
		r->labels[i] = SIZE_MAX; /* so the first pass counts changes */
	r->converged = 0;
	r->iterations = 0;
	for (size_t it = 1; it <= p->iterations; it++) {
		size_t changed = 0;
		double shift_tot = 0.0;

		/* Assignment step. */
		for (size_t i = 0; i < n; i++) {
			size_t c = nearest(&pts[i * d], r->cent, k, d, &d2[i]);
			if (c != r->labels[i]) {
				r->labels[i] = c;
				changed++;
			}
		}
		r->iterations = it;
		if (changed == 0) {
			/* The centroids are already the means of these
			 * clusters: a fixed point. */
			r->converged = 1;
			break;
		}

		/* Update step: each centroid to the mean of its points. */
		memset(sums, 0, k * d * sizeof(double));
		memset(r->sizes, 0, k * sizeof(size_t));
		for (size_t i = 0; i < n; i++) {
			size_t c = r->labels[i];
			r->sizes[c]++;
			for (size_t j = 0; j < d; j++)
				sums[c * d + j] += pts[i * d + j];
		}
		for (size_t c = 0; c < k; c++) {
			double *cc = &r->cent[c * d];
			double moved;

			if (r->sizes[c] == 0) {
				/* An empty cluster takes the point worst served
				 * by its own centroid, which then counts as
				 * served (d2 = 0) so no other takes it. */
				size_t far = 0;
				for (size_t i = 1; i < n; i++)
					if (d2[i] > d2[far])
						far = i;
				d2[far] = 0.0;
				moved = dist2(cc, &pts[far * d], d);
				memcpy(cc, &pts[far * d], d * sizeof(double));
			} else {
				double inv = 1.0 / (double)r->sizes[c];
				for (size_t j = 0; j < d; j++)
					sums[c * d + j] *= inv;
				moved = dist2(cc, &sums[c * d], d);
				memcpy(cc, &sums[c * d], d * sizeof(double));
			}
			shift_tot += moved;
		}

		jobd_job_progress(job,
		                  base + (double)it / (double)p->iterations /
		                                  (double)p->n_init,
		                  NULL);
		if (jobd_job_cancelled(job))
			return JOBD_E_CANCELLED;
		/* scikit-learn's test: the sum over centroids of their
		 * squared moves against tol times the data's mean variance. */
		if (shift_tot <= p->tolerance_abs) {
			r->converged = 1;
			break;
		}
	}

	/* Final assignment against the final centroids: labels, sizes and
	 * inertia then describe the model that is returned. */
	r->inertia = 0.0;
	memset(r->sizes, 0, k * sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		double t;
		r->labels[i] = nearest(&pts[i * d], r->cent, k, d, &t);
		r->sizes[r->labels[i]]++;
		r->inertia += t;
	}
	return JOBD_OK;
}

/* --- input --- */

static int fail_bad(struct jobd_job *job, const char *fmt, ...)
        JOBD_PRINTF(2, 3);

static int fail_bad(struct jobd_job *job, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	job->host->fail(job, "%s", msg);
	return JOBD_E_BAD_REQUEST;
}

/* An integer field in [lo, hi], or def when absent. */
static int want_int(struct jobd_job *job, const json_t *in, const char *key,
                    json_int_t lo, json_int_t hi, json_int_t def,
                    json_int_t *out)
{
	const json_t *v = json_object_get(in, key);

	if (!v) {
		if (def < lo)
			return fail_bad(job, "%s: missing", key);
		*out = def;
		return JOBD_OK;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return fail_bad(job, "%s: must be an integer from %lld to %lld",
		                key, (long long)lo, (long long)hi);
	*out = json_integer_value(v);
	return JOBD_OK;
}

/* The mean over the d features of their variance (population, ddof 0):
 * numpy.mean(numpy.var(X, axis=0)), which scikit-learn scales tol by.
 * Two passes, mean then squared deviations, for accuracy. */
static double mean_variance(const double *x, size_t n, size_t d)
{
	double total = 0.0;

	for (size_t j = 0; j < d; j++) {
		double mean = 0.0, ss = 0.0;
		for (size_t i = 0; i < n; i++)
			mean += x[i * d + j];
		mean /= (double)n;
		for (size_t i = 0; i < n; i++) {
			double t = x[i * d + j] - mean;
			ss += t * t;
		}
		total += ss / (double)n;
	}
	return total / (double)d;
}

/*
 * Validates input into p and builds the cache key: a kmeans_key_head
 * followed by the n * d coordinates. The points inside the key are the
 * ones the algorithm reads. Returns JOBD_OK with *key (malloc'd, *key_len
 * bytes), or an error after host->fail.
 */
static int parse_input(struct jobd_job *job, const json_t *in,
                       struct kmeans_params *p, unsigned char **key,
                       size_t *key_len)
{
	static const char *const known[] = {"points",     "k",      "max_iter",
	                                    "iterations", "n_init", "seed",
	                                    "tolerance",  "labels", NULL};
	const json_t *points, *v;
	const char *name;
	json_t *value;
	json_int_t ival;
	struct kmeans_key_head head;
	double *x;
	int rc;

	if (!json_is_object(in))
		return fail_bad(job, "input: must be an object");
	json_object_foreach((json_t *)in, name, value)
	{
		size_t i;
		for (i = 0; known[i] && strcmp(name, known[i]) != 0; i++)
			;
		if (!known[i])
			return fail_bad(job, "%s: unknown field", name);
	}

	points = json_object_get(in, "points");
	if (JOBD_HOST_HAS(job->host, input_array) &&
	    job->host->input_array(job, "points", &p->points) == JOBD_OK) {
		if (points)
			return fail_bad(job, "points: given both as JSON and "
			                     "as an array; give one");
		if (p->points.dtype != JOBD_DTYPE_F64 || p->points.ndim != 2 ||
		    p->points.shape[0] == 0 || p->points.shape[1] == 0)
			return fail_bad(job, "points: the array must be f64 of "
			                     "shape [n, d] with n, d >= 1");
		if (p->points.shape[0] > KMEANS_MAX_POINTS ||
		    p->points.shape[1] > KMEANS_MAX_DIM)
			return fail_bad(job,
			                "points: [%" PRIu64 ", %" PRIu64
			                "] is over the limits of %d points "
			                "and %d dimensions",
			                p->points.shape[0], p->points.shape[1],
			                KMEANS_MAX_POINTS, KMEANS_MAX_DIM);
		p->arrays = 1;
		p->n = (size_t)p->points.shape[0];
		p->d = (size_t)p->points.shape[1];
	} else {
		if (!points)
			return fail_bad(job, "points: missing");
		if (!json_is_array(points) || json_array_size(points) == 0)
			return fail_bad(job,
			                "points: must be a non-empty array of "
			                "arrays of numbers");
		p->n = json_array_size(points);
		if (p->n > KMEANS_MAX_POINTS)
			return fail_bad(job,
			                "points: %zu points, more than the "
			                "limit %d",
			                p->n, KMEANS_MAX_POINTS);
		v = json_array_get(points, 0);
		if (!json_is_array(v) || json_array_size(v) == 0)
			return fail_bad(job,
			                "points[0]: must be a non-empty array "
			                "of numbers");
		p->d = json_array_size(v);
	}
	if (p->d > KMEANS_MAX_DIM)
		return fail_bad(job,
		                "points[0]: %zu dimensions, more than the "
		                "limit %d",
		                p->d, KMEANS_MAX_DIM);
	if ((double)p->n * (double)p->d > KMEANS_MAX_VALUES)
		return fail_bad(job,
		                "points: %zu x %zu numbers, more than the "
		                "limit %d",
		                p->n, p->d, KMEANS_MAX_VALUES);

	if ((rc = want_int(job, in, "k", 1,
	                   (json_int_t)p->n < KMEANS_MAX_K ? (json_int_t)p->n
	                                                   : KMEANS_MAX_K,
	                   0, &ival)))
		return rc;
	p->k = (size_t)ival;
	/* max_iter is scikit-learn's name; iterations the older one. */
	if (json_object_get(in, "max_iter") &&
	    json_object_get(in, "iterations"))
		return fail_bad(job, "max_iter: give max_iter or its older "
		                     "name iterations, not both");
	if ((rc = want_int(job, in,
	                   json_object_get(in, "iterations") ? "iterations"
	                                                     : "max_iter",
	                   1, KMEANS_MAX_ITERATIONS, KMEANS_DEFAULT_ITERATIONS,
	                   &ival)))
		return rc;
	p->iterations = (size_t)ival;
	if ((rc = want_int(job, in, "n_init", 1, KMEANS_MAX_N_INIT,
	                   KMEANS_DEFAULT_N_INIT, &ival)))
		return rc;
	p->n_init = (size_t)ival;
	if ((rc = want_int(job, in, "seed", 0, INT64_MAX, 0, &ival)))
		return rc;
	p->seed = (uint64_t)ival;
	p->tolerance = KMEANS_DEFAULT_TOLERANCE;
	v = json_object_get(in, "tolerance");
	if (v) {
		p->tolerance = json_number_value(v);
		if (!json_is_number(v) || !isfinite(p->tolerance) ||
		    p->tolerance < 0.0)
			return fail_bad(job,
			                "tolerance: must be a non-negative "
			                "number");
	}
	p->want_labels = 1;
	v = json_object_get(in, "labels");
	if (v) {
		if (!json_is_boolean(v))
			return fail_bad(job, "labels: must be true or false");
		p->want_labels = json_is_true(v);
	}
	if ((double)p->n * (double)p->k * (double)p->d * (double)p->iterations *
	            (double)p->n_init >
	    KMEANS_MAX_WORK)
		return fail_bad(job,
		                "max_iter: %zu points x k %zu x %zu "
		                "dimensions x %zu iterations x %zu starts is "
		                "more work than the limit %.0e; lower max_iter "
		                "or n_init",
		                p->n, p->k, p->d, p->iterations, p->n_init,
		                KMEANS_MAX_WORK);

	memset(&head, 0, sizeof(head));
	head.version = KMEANS_KEY_VERSION;
	head.n = p->n;
	head.d = p->d;
	head.k = p->k;
	head.iterations = p->iterations;
	head.n_init = p->n_init;
	head.seed = p->seed;
	head.tolerance = p->tolerance;
	*key_len = sizeof(head) + p->n * p->d * sizeof(double);
	*key = malloc(*key_len);
	if (!*key) {
		job->host->fail(job, "out of memory for %zu points", p->n);
		return JOBD_E_PLUGIN_FAILED;
	}
	memcpy(*key, &head, sizeof(head));
	x = (double *)(*key + sizeof(head));
	for (size_t i = 0; p->arrays && i < p->n * p->d; i++) {
		/* Read in place, no copy of the array before this one. */
		double t = ((const double *)p->points.data)[i];

		if (!isfinite(t)) {
			rc = fail_bad(
			        job,
			        "points[%zu][%zu]: must be a finite number",
			        i / p->d, i % p->d);
			goto fail;
		}
		x[i] = t + 0.0;
	}
	for (size_t i = 0; !p->arrays && i < p->n; i++) {
		const json_t *pt = json_array_get(points, i);
		if (!json_is_array(pt) || json_array_size(pt) != p->d) {
			rc = fail_bad(job,
			              "points[%zu]: must be an array of %zu "
			              "numbers, like points[0]",
			              i, p->d);
			goto fail;
		}
		for (size_t j = 0; j < p->d; j++) {
			const json_t *e = json_array_get(pt, j);
			double t = json_number_value(e);
			if (!json_is_number(e) || !isfinite(t)) {
				rc = fail_bad(job,
				              "points[%zu][%zu]: must be a "
				              "finite number",
				              i, j);
				goto fail;
			}
			/* + 0.0 turns -0.0 into 0.0: one key per value. */
			x[i * p->d + j] = t + 0.0;
		}
	}
	p->tolerance_abs = p->tolerance * mean_variance(x, p->n, p->d);
	return JOBD_OK;

fail:
	free(*key);
	*key = NULL;
	return rc;
}

/* --- output --- */

static json_t *result_json(const struct kmeans_params *p,
                           const struct kmeans_result *r)
{
	json_t *cent = json_array(), *sizes = json_array(),
	       *labels = json_array();
	json_t *out = NULL;

	if (!cent || !sizes || !labels)
		goto fail;
	for (size_t c = 0; c < p->k; c++) {
		json_t *row = json_array();
		for (size_t j = 0; row && j < p->d; j++)
			if (json_array_append_new(
			            row, json_real(r->cent[c * p->d + j])))
				json_decref(row), row = NULL;
		if (json_array_append_new(cent, row) ||
		    json_array_append_new(
		            sizes, json_integer((json_int_t)r->sizes[c])))
			goto fail;
	}
	for (size_t i = 0; i < p->n; i++)
		if (json_array_append_new(
		            labels, json_integer((json_int_t)r->labels[i])))
			goto fail;
	out = json_pack("{s:o, s:o, s:o, s:f, s:I, s:b, s:I, s:I, s:f, s:f}",
	                "centroids", cent, "sizes", sizes, "labels", labels,
	                "inertia", r->inertia, "iterations",
	                (json_int_t)r->iterations, "converged", r->converged,
	                "n_init", (json_int_t)p->n_init, "max_iter",
	                (json_int_t)p->iterations, "tolerance", p->tolerance,
	                "tolerance_abs", p->tolerance_abs);
	return out;

fail:
	json_decref(cent);
	json_decref(sizes);
	json_decref(labels);
	return NULL;
}

/* With points given as an array: centroids (f64 [k, d]) and labels (i32
 * [n]) go back as arrays and leave the JSON (the cache keeps JSON). */
static int result_arrays(struct jobd_job *job, const struct kmeans_params *p,
                         json_t *out)
{
	const struct jobd_host *h = job->host;
	const json_t *cent = json_object_get(out, "centroids");
	const json_t *labels = json_object_get(out, "labels");
	uint64_t shape[2] = {p->k, p->d};
	void *data;
	int rc;

	if (!JOBD_HOST_HAS(h, output_array))
		return JOBD_OK;
	rc = h->output_array(job, "centroids", JOBD_DTYPE_F64, 2, shape, &data);
	if (rc != JOBD_OK)
		return rc;
	for (size_t c = 0; c < p->k; c++)
		for (size_t j = 0; j < p->d; j++)
			((double *)data)[c * p->d + j] = json_number_value(
			        json_array_get(json_array_get(cent, c), j));
	json_object_del(out, "centroids");
	if (!p->want_labels || !labels)
		return JOBD_OK;
	shape[0] = p->n;
	rc = h->output_array(job, "labels", JOBD_DTYPE_I32, 1, shape, &data);
	if (rc != JOBD_OK)
		return rc;
	for (size_t i = 0; i < p->n; i++)
		((int32_t *)data)[i] =
		        (int32_t)json_integer_value(json_array_get(labels, i));
	json_object_del(out, "labels");
	return JOBD_OK;
}

/* --- plugin entry points --- */

static int kmeans_init(const struct jobd_host *host, const json_t *options,
                       void **state)
{
	struct kmeans_state *st;
	json_int_t size = KMEANS_DEFAULT_CACHE_SIZE;
	json_int_t bytes = KMEANS_DEFAULT_CACHE_BYTES;
	const char *key;
	json_t *v;

	if (!json_is_object(options)) {
		host->fail(NULL, "options: must be a mapping");
		return JOBD_E_BAD_REQUEST;
	}
	json_object_foreach((json_t *)options, key, v)
	{
		if (strcmp(key, "cache_size") == 0) {
			size = json_integer_value(v);
			if (!json_is_integer(v) || size < 0 || size > 100000) {
				host->fail(NULL, "options.cache_size: must be "
				                 "an integer from 0 to 100000");
				return JOBD_E_BAD_REQUEST;
			}
		} else if (strcmp(key, "cache_max_bytes") == 0) {
			bytes = json_integer_value(v);
			if (!json_is_integer(v) || bytes < 0) {
				host->fail(NULL,
				           "options.cache_max_bytes: must "
				           "be a non-negative integer");
				return JOBD_E_BAD_REQUEST;
			}
		} else {
			host->fail(NULL, "options.%s: unknown option", key);
			return JOBD_E_BAD_REQUEST;
		}
	}
	st = calloc(1, sizeof(*st));
	if (st)
		st->cache = kmeans_cache_new((size_t)size, (size_t)bytes);
	if (!st || !st->cache) {
		free(st);
		host->fail(NULL, "out of memory");
		return JOBD_E_INTERNAL;
	}
	*state = st;
	return JOBD_OK;
}

static void kmeans_destroy(void *state)
{
	struct kmeans_state *st = state;

	if (!st)
		return;
	kmeans_cache_free(st->cache);
	free(st);
}

static void result_free(struct kmeans_result *r)
{
	free(r->cent);
	free(r->labels);
	free(r->sizes);
}

static int result_alloc(struct kmeans_result *r, const struct kmeans_params *p)
{
	r->cent = malloc(p->k * p->d * sizeof(double));
	r->labels = malloc(p->n * sizeof(size_t));
	r->sizes = malloc(p->k * sizeof(size_t));
	return r->cent && r->labels && r->sizes ? 0 : -1;
}

/*
 * n_init starts from one random stream, each seeded and refined; the one
 * of lowest inertia is kept in *best (the first of equals, so the result
 * does not depend on rounding order between starts).
 */
static int train(struct jobd_job *job, struct kmeans_params *p,
                 const double *pts, struct kmeans_result *best)
{
	struct kmeans_result cur = {0}, t;
	struct kmeans_scratch sc = {0};
	uint64_t rng = p->seed;
	int rc = JOBD_E_PLUGIN_FAILED;

	sc.d2 = malloc(p->n * sizeof(double));
	sc.cum = malloc(p->n * sizeof(double));
	sc.cand = malloc(p->n * sizeof(double));
	sc.best = malloc(p->n * sizeof(double));
	sc.sums = malloc(p->k * p->d * sizeof(double));
	if (!sc.d2 || !sc.cum || !sc.cand || !sc.best || !sc.sums ||
	    result_alloc(&cur, p) != 0 || result_alloc(best, p) != 0) {
		job->host->fail(job, "out of memory");
		goto out;
	}
	best->inertia = INFINITY;
	for (p->run = 0; p->run < p->n_init; p->run++) {
		rc = seed_plusplus(job, p, pts, cur.cent, &sc, &rng);
		if (rc == JOBD_OK)
			rc = lloyd(job, p, pts, &cur, &sc);
		if (rc == JOBD_E_CANCELLED) {
			job->host->fail(job,
			                "cancelled in start %zu of %zu, after "
			                "%zu of at most %zu iterations",
			                p->run + 1, p->n_init, cur.iterations,
			                p->iterations);
			goto out;
		}
		if (cur.inertia < best->inertia)
			t = *best, *best = cur, cur = t;
	}
	jobd_job_progress(job, 1.0, best->converged ? "converged" : NULL);
	rc = JOBD_OK;
out:
	result_free(&cur);
	free(sc.d2);
	free(sc.cum);
	free(sc.cand);
	free(sc.best);
	free(sc.sums);
	return rc;
}

static int kmeans_process(void *state, void *worker_state, struct jobd_job *job,
                          const json_t *input, json_t **output)
{
	struct kmeans_state *st = state;
	struct kmeans_params p = {0};
	struct kmeans_result r = {0};
	unsigned char *key = NULL;
	size_t key_len = 0;
	const double *pts;
	json_t *out = NULL;
	int cached = 0, rc;

	(void)worker_state;
	rc = parse_input(job, input, &p, &key, &key_len);
	if (rc)
		return rc;
	pts = (const double *)(key + sizeof(struct kmeans_key_head));

	out = kmeans_cache_get(st->cache, key, key_len);
	if (out) {
		cached = 1;
		jobd_job_progress(job, 1.0, "from cache");
	} else {
		rc = train(job, &p, pts, &r);
		if (rc != JOBD_OK)
			goto out;
		out = result_json(&p, &r);
		if (!out)
			goto nomem;
		/* Value estimate: ~24 bytes per JSON number, plus overhead. */
		if (kmeans_cache_put(st->cache, key, key_len, out,
		                     24 * (p.n + p.k * (p.d + 1)) + 256) != 0)
			job->host->log(job->host, JOBD_LOG_WARNING,
			               "no memory to cache a model");
	}
	if (!p.want_labels)
		json_object_del(out, "labels");
	if (p.arrays) {
		rc = result_arrays(job, &p, out);
		if (rc != JOBD_OK)
			goto out;
	}
	if (json_object_set_new(out, "cached", json_boolean(cached)) != 0)
		goto nomem;
	*output = out;
	out = NULL;
	rc = JOBD_OK;
	goto out;

nomem:
	job->host->fail(job, "out of memory");
	rc = JOBD_E_PLUGIN_FAILED;
out:
	json_decref(out);
	free(key);
	result_free(&r);
	return rc;
}

static const struct jobd_plugin kmeans_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "kmeans",
        .version = "2.0.0",
        .description = "k-means clustering (n_init starts of greedy "
                       "k-means++ and Lloyd) with a model cache",
        .flags = JOBD_PLUGIN_RETRY_SAFE | JOBD_PLUGIN_ARRAYS,
        .init = kmeans_init,
        .destroy = kmeans_destroy,
        .process = kmeans_process,
};

JOBD_PLUGIN_DEFINE(kmeans_plugin)
