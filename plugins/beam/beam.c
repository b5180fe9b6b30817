/* SPDX-License-Identifier: MIT */
/*
 * beam: checks a timber member of rectangular section, solid (EN 338) or
 * glued laminated (EN 14080), in bending, shear and deflection, in the
 * manner of EN 1995-1-1 (Eurocode 5).
 *
 * Method: closed-form Euler-Bernoulli solutions. For each support type the
 * shear force, bending moment and deflection of a uniform load and of a
 * point load at any position are textbook formulas (Roark's, table 8.1);
 * loads are superposed (the beam is linear elastic). The extremes are found
 * by evaluating those formulas at 2001 points along the span and just
 * either side of every point load, which is where a shear or moment extreme
 * of these load cases can lie (the deflection is smooth, and the grid puts
 * its error below 1e-6 relative).
 *
 * Signs: loads downward positive; moments sagging positive (tension at the
 * bottom), hogging negative; deflections downward positive. Strength checks
 * use the ultimate (ULS) load set, deflection the serviceability (SLS) one;
 * a single "loads" set serves both, as before the two existed.
 *
 * Inputs and outputs are described field by field in README.md here.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobd/plugin.h>

#include "beam_timber.h"

#define BEAM_MAX_SPAN_M     50.0
#define BEAM_MAX_LOADS      100
#define BEAM_MAX_SECTION_MM 3000.0
#define BEAM_GRID           2000    /* intervals along the span */
#define BEAM_G              9.80665 /* standard gravity, m/s^2 (CGPM 1901) */

enum beam_support { BEAM_SIMPLE, BEAM_CANTILEVER, BEAM_FIXED };

static const char *const support_names[] = {"simply_supported", "cantilever",
                                            "fixed_fixed"};

/* Internally N and mm: kN/m = N/mm, kN = 1000 N, MPa = N/mm^2. */
struct beam_load {
	int point; /* 0: uniform over the span; 1: point */
	double w;  /* N/mm, uniform */
	double p;  /* N, point */
	double a;  /* mm from x = 0, point */
};

/* One load set; the extra slot is for the self-weight. */
struct beam_loadset {
	struct beam_load loads[BEAM_MAX_LOADS + 1];
	size_t n_loads;
};

struct beam {
	enum beam_support support;
	double span; /* mm */
	struct beam_loadset uls, sls;
	int separate;    /* loads_uls and loads_sls were given */
	int self_weight; /* add the member's own weight */
	double g_k;      /* that weight, N/mm (kN/m) */
	double gamma_g;  /* partial factor on it at ULS */
	double b, h;     /* mm */
	const struct timber_class *tc;
	double k_mod, gamma_m, k_cr, limit;
};

/* Effects at x of one load: shear V (N), moment M (N mm, sagging
 * positive), deflection times EI (N mm^3, downward positive). side < 0
 * takes the limit from the left of a point load at x, side > 0 from the
 * right. */
static void load_effects(enum beam_support s, double L,
                         const struct beam_load *ld, double x, int side,
                         double *V, double *M, double *yEI)
{
	*V = *M = *yEI = 0.0; /* every case below sets all three */
	if (!ld->point) {
		double w = ld->w;
		switch (s) {
		case BEAM_SIMPLE:
			*V = w * (L / 2 - x);
			*M = w * x * (L - x) / 2;
			*yEI = w * x * (L * L * L - 2 * L * x * x + x * x * x) /
			       24;
			return;
		case BEAM_CANTILEVER:
			*V = w * (L - x);
			*M = -w * (L - x) * (L - x) / 2;
			*yEI = w * x * x * (6 * L * L - 4 * L * x + x * x) / 24;
			return;
		case BEAM_FIXED:
			*V = w * (L / 2 - x);
			*M = w * (6 * L * x - 6 * x * x - L * L) / 12;
			*yEI = w * x * x * (L - x) * (L - x) / 24;
			return;
		}
	} else {
		double P = ld->p, a = ld->a, b = L - a, u = L - x;
		int left = x < a || (x == a && side < 0);
		switch (s) {
		case BEAM_SIMPLE:
			if (left) {
				*V = P * b / L;
				*M = P * b * x / L;
				*yEI = P * b * x * (L * L - b * b - x * x) /
				       (6 * L);
			} else {
				*V = -P * a / L;
				*M = P * a * u / L;
				*yEI = P * a * u * (L * L - a * a - u * u) /
				       (6 * L);
			}
			return;
		case BEAM_CANTILEVER:
			if (left) {
				*V = P;
				*M = -P * (a - x);
				*yEI = P * x * x * (3 * a - x) / 6;
			} else {
				*V = 0;
				*M = 0;
				*yEI = P * a * a * (3 * x - a) / 6;
			}
			return;
		case BEAM_FIXED: {
			double L3 = L * L * L;
			double ra = P * b * b * (3 * a + b) / L3;
			double ma = -P * a * b * b / (L * L);
			if (left) {
				*V = ra;
				*M = ma + ra * x;
				*yEI = P * b * b * x * x *
				       (3 * a * L - 3 * a * x - b * x) /
				       (6 * L3);
			} else {
				*V = ra - P;
				*M = ma + ra * x - P * (x - a);
				*yEI = P * a * a * u * u *
				       (3 * b * L - 3 * b * u - a * u) /
				       (6 * L3);
			}
			return;
		}
		}
	}
}

static void beam_effects(const struct beam *bm, const struct beam_loadset *set,
                         double x, int side, double *V, double *M, double *yEI)
{
	*V = *M = *yEI = 0.0;
	for (size_t i = 0; i < set->n_loads; i++) {
		double v, m, y;
		load_effects(bm->support, bm->span, &set->loads[i], x, side, &v,
		             &m, &y);
		*V += v;
		*M += m;
		*yEI += y;
	}
}

/* Extremes of one load set along the span; positions in mm. */
struct beam_extremes {
	double m, m_at;         /* moment of largest magnitude, signed */
	double m_pos, m_pos_at; /* largest sagging moment (>= 0) */
	double m_neg, m_neg_at; /* largest hogging moment (<= 0) */
	double v, v_at;         /* shear of largest magnitude, signed */
	double y, y_at;         /* deflection x EI of largest magnitude */
	double y_pos, y_pos_at; /* largest downward (>= 0) */
	double y_neg, y_neg_at; /* largest upward (<= 0) */
};

static void consider(const struct beam *bm, const struct beam_loadset *set,
                     double x, int side, struct beam_extremes *e)
{
	double V, M, yEI;

	beam_effects(bm, set, x, side, &V, &M, &yEI);
	if (fabs(M) > fabs(e->m)) {
		e->m = M;
		e->m_at = x;
	}
	if (M > e->m_pos) {
		e->m_pos = M;
		e->m_pos_at = x;
	}
	if (M < e->m_neg) {
		e->m_neg = M;
		e->m_neg_at = x;
	}
	if (fabs(V) > fabs(e->v)) {
		e->v = V;
		e->v_at = x;
	}
	if (fabs(yEI) > fabs(e->y)) {
		e->y = yEI;
		e->y_at = x;
	}
	if (yEI > e->y_pos) {
		e->y_pos = yEI;
		e->y_pos_at = x;
	}
	if (yEI < e->y_neg) {
		e->y_neg = yEI;
		e->y_neg_at = x;
	}
}

static void beam_extremes(const struct beam *bm, const struct beam_loadset *set,
                          struct beam_extremes *e)
{
	memset(e, 0, sizeof(*e));
	for (int i = 0; i <= BEAM_GRID; i++) {
		/* At each end only the side inside the beam exists. */
		double x = bm->span * i / BEAM_GRID;
		if (i > 0)
			consider(bm, set, x, -1, e);
		if (i < BEAM_GRID)
			consider(bm, set, x, +1, e);
	}
	for (size_t i = 0; i < set->n_loads; i++) {
		const struct beam_load *ld = &set->loads[i];
		if (!ld->point)
			continue;
		if (ld->a > 0)
			consider(bm, set, ld->a, -1, e);
		if (ld->a < bm->span)
			consider(bm, set, ld->a, +1, e);
	}
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

/* A number in [lo, hi] (lo excluded when lo_open), or def when absent and
 * has_def. */
static int want_number(struct jobd_job *job, const json_t *obj, const char *key,
                       const char *path, double lo, int lo_open, double hi,
                       int has_def, double def, double *out)
{
	const json_t *v = json_object_get(obj, key);
	double d;

	if (!v) {
		if (!has_def)
			return fail_bad(job, "%s: missing", path);
		*out = def;
		return JOBD_OK;
	}
	d = json_number_value(v);
	if (!json_is_number(v) || !isfinite(d))
		return fail_bad(job, "%s: must be a number", path);
	if (d < lo || (lo_open && d == lo) || d > hi)
		return fail_bad(job, "%s: must be %s %g and at most %g", path,
		                lo_open ? "more than" : "at least", lo, hi);
	*out = d;
	return JOBD_OK;
}

static int want_known_keys(struct jobd_job *job, const json_t *obj,
                           const char *prefix, const char *const *known)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value)
	{
		size_t i;
		for (i = 0; known[i] && strcmp(key, known[i]) != 0; i++)
			;
		if (!known[i])
			return fail_bad(job, "%s%s: unknown field", prefix,
			                key);
	}
	return JOBD_OK;
}

static int parse_loads(struct jobd_job *job, const json_t *loads,
                       const char *name, int may_be_empty,
                       struct beam_loadset *set, double span_m)
{
	static const char *const known_u[] = {"type", "load_kn_per_m", NULL};
	static const char *const known_p[] = {"type", "load_kn", "position_m",
	                                      NULL};
	char prefix[48], path[80];
	int rc;

	if (!json_is_array(loads) ||
	    (json_array_size(loads) == 0 && !may_be_empty))
		return fail_bad(job,
		                "%s: must be a non-empty array (it may be "
		                "empty with \"self_weight\": true)",
		                name);
	if (json_array_size(loads) > BEAM_MAX_LOADS)
		return fail_bad(job, "%s: more than %d loads", name,
		                BEAM_MAX_LOADS);
	set->n_loads = json_array_size(loads);
	for (size_t i = 0; i < set->n_loads; i++) {
		const json_t *l = json_array_get(loads, i);
		struct beam_load *ld = &set->loads[i];
		const char *type;
		double val;

		snprintf(prefix, sizeof(prefix), "%s[%zu].", name, i);
		if (!json_is_object(l))
			return fail_bad(job, "%s[%zu]: must be an object", name,
			                i);
		type = json_string_value(json_object_get(l, "type"));
		if (!type)
			return fail_bad(job,
			                "%s[%zu].type: must be "
			                "\"uniform\" or \"point\"",
			                name, i);
		if (strcmp(type, "uniform") == 0) {
			if ((rc = want_known_keys(job, l, prefix, known_u)))
				return rc;
			snprintf(path, sizeof(path), "%sload_kn_per_m", prefix);
			if ((rc = want_number(job, l, "load_kn_per_m", path,
			                      -1e4, 0, 1e4, 0, 0, &val)))
				return rc;
			ld->point = 0;
			ld->w = val; /* kN/m = N/mm */
		} else if (strcmp(type, "point") == 0) {
			if ((rc = want_known_keys(job, l, prefix, known_p)))
				return rc;
			snprintf(path, sizeof(path), "%sload_kn", prefix);
			if ((rc = want_number(job, l, "load_kn", path, -1e5, 0,
			                      1e5, 0, 0, &val)))
				return rc;
			ld->point = 1;
			ld->p = val * 1e3;
			snprintf(path, sizeof(path), "%sposition_m", prefix);
			if ((rc = want_number(job, l, "position_m", path, 0, 0,
			                      span_m, 0, 0, &val)))
				return rc;
			ld->a = val * 1e3;
		} else {
			return fail_bad(job,
			                "%s[%zu].type: must be "
			                "\"uniform\" or \"point\"",
			                name, i);
		}
	}
	return JOBD_OK;
}

/*
 * The load sets: "loads" alone serves both checks (the original input);
 * "loads_uls" and "loads_sls" together give each check its own. Then the
 * self-weight switch and its ULS factor; the weight itself is added once
 * the section and class are known.
 */
static int parse_actions(struct jobd_job *job, const json_t *in,
                         struct beam *bm, double span_m)
{
	const json_t *loads = json_object_get(in, "loads");
	const json_t *uls = json_object_get(in, "loads_uls");
	const json_t *sls = json_object_get(in, "loads_sls");
	const json_t *v = json_object_get(in, "self_weight");
	int rc;

	if (v && !json_is_boolean(v))
		return fail_bad(job, "self_weight: must be true or false");
	bm->self_weight = json_is_true(v);
	/* EN 1990 Table A1.2(B): gamma_G 1.35 for unfavourable permanent
	 * actions. */
	if ((rc = want_number(job, in, "gamma_g", "gamma_g", 1.0, 0, 2.0, 1,
	                      1.35, &bm->gamma_g)))
		return rc;

	if (loads && (uls || sls))
		return fail_bad(job, "loads: give loads (for every check) or "
		                     "loads_uls and loads_sls, not both");
	if (!loads && !uls && !sls)
		return fail_bad(job, "loads: missing (or give loads_uls and "
		                     "loads_sls)");
	if (loads) {
		if ((rc = parse_loads(job, loads, "loads", bm->self_weight,
		                      &bm->uls, span_m)))
			return rc;
		bm->sls = bm->uls;
		return JOBD_OK;
	}
	if (!uls || !sls)
		return fail_bad(job,
		                "%s: missing; loads_uls and loads_sls go "
		                "together",
		                uls ? "loads_sls" : "loads_uls");
	bm->separate = 1;
	if ((rc = parse_loads(job, uls, "loads_uls", bm->self_weight, &bm->uls,
	                      span_m)))
		return rc;
	return parse_loads(job, sls, "loads_sls", bm->self_weight, &bm->sls,
	                   span_m);
}

static int parse_input(struct jobd_job *job, const json_t *in, struct beam *bm)
{
	static const char *const known[] = {
	        "support",          "span_m",      "loads",   "loads_uls",
	        "loads_sls",        "self_weight", "gamma_g", "section",
	        "strength_class",   "k_mod",       "gamma_m", "k_cr",
	        "deflection_limit", NULL};
	static const char *const known_section[] = {"width_mm", "depth_mm",
	                                            NULL};
	const json_t *v, *section;
	const char *s;
	double span_m;
	size_t i;
	int rc;

	if (!json_is_object(in))
		return fail_bad(job, "input: must be an object");
	if ((rc = want_known_keys(job, in, "", known)))
		return rc;

	v = json_object_get(in, "support");
	if (!v)
		return fail_bad(job, "support: missing");
	s = json_string_value(v);
	for (i = 0; s && i < 3 && strcmp(s, support_names[i]) != 0; i++)
		;
	if (!s || i == 3)
		return fail_bad(job, "support: must be \"simply_supported\", "
		                     "\"cantilever\" or \"fixed_fixed\"");
	bm->support = (enum beam_support)i;

	if ((rc = want_number(job, in, "span_m", "span_m", 0, 1,
	                      BEAM_MAX_SPAN_M, 0, 0, &span_m)))
		return rc;
	bm->span = span_m * 1e3;
	if ((rc = parse_actions(job, in, bm, span_m)))
		return rc;

	section = json_object_get(in, "section");
	if (!section)
		return fail_bad(job, "section: missing");
	if (!json_is_object(section))
		return fail_bad(job, "section: must be an object "
		                     "{\"width_mm\": b, \"depth_mm\": h}");
	if ((rc = want_known_keys(job, section, "section.", known_section)))
		return rc;
	if ((rc = want_number(job, section, "width_mm", "section.width_mm", 0,
	                      1, BEAM_MAX_SECTION_MM, 0, 0, &bm->b)))
		return rc;
	if ((rc = want_number(job, section, "depth_mm", "section.depth_mm", 0,
	                      1, BEAM_MAX_SECTION_MM, 0, 0, &bm->h)))
		return rc;

	v = json_object_get(in, "strength_class");
	if (!v)
		return fail_bad(job, "strength_class: missing");
	s = json_string_value(v);
	bm->tc = s ? timber_class_find(s) : NULL;
	if (!bm->tc)
		return fail_bad(job,
		                "strength_class: must be an EN 338 class, "
		                "C14 to C50 or D18 to D80 (C14, C16, C18, "
		                "C20, C22, C24, C27, C30, C35, C40, C45, "
		                "C50, D18, D24, D27, D30, D35, D40, D45, "
		                "D50, D55, D60, D65, D70, D75, D80), or an "
		                "EN 14080 glulam class, GL20c to GL32c or "
		                "GL20h to GL32h (GL20, 22, 24, 26, 28, 30, "
		                "32 with c or h); any case");

	if ((rc = want_number(job, in, "k_mod", "k_mod", 0, 1, 1.1, 1, 0.8,
	                      &bm->k_mod)))
		return rc;
	/* EN 1995-1-1 Table 2.3: gamma_M 1.3 for solid timber, 1.25 for
	 * glued laminated timber. */
	if ((rc = want_number(job, in, "gamma_m", "gamma_m", 1.0, 0, 2.0, 1,
	                      bm->tc->product == TIMBER_GLULAM ? 1.25 : 1.3,
	                      &bm->gamma_m)))
		return rc;
	if ((rc = want_number(job, in, "k_cr", "k_cr", 0, 1, 1.0, 1, 0.67,
	                      &bm->k_cr)))
		return rc;
	if ((rc = want_number(job, in, "deflection_limit", "deflection_limit",
	                      1, 0, 10000, 1,
	                      bm->support == BEAM_CANTILEVER ? 150 : 300,
	                      &bm->limit)))
		return rc;

	if (bm->self_weight) {
		/* rho_mean (kg/m^3) g b h: N/m, which is N/mm / 1000. EN
		 * 1991-1-1 takes self-weight from mean densities. */
		bm->g_k = bm->tc->rho_mean * BEAM_G * (bm->b * 1e-3) *
		          (bm->h * 1e-3) * 1e-3;
		bm->uls.loads[bm->uls.n_loads++] =
		        (struct beam_load){.w = bm->gamma_g * bm->g_k};
		bm->sls.loads[bm->sls.n_loads++] =
		        (struct beam_load){.w = bm->g_k};
	}
	return JOBD_OK;
}

/* --- the check --- */

/* A position in m, or null where the extreme does not exist (value 0). */
static json_t *at_m(double value, double at_mm)
{
	return value != 0.0 ? json_real(at_mm / 1e3) : json_null();
}

static json_t *material_json(const struct beam *bm, double f_m_d, double f_v_d)
{
	const struct timber_class *tc = bm->tc;

	return json_pack(
	        "{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f,"
	        " s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
	        "strength_class", tc->name, "standard", tc->source, "product",
	        tc->product == TIMBER_GLULAM ? "glulam" : "solid", "f_m_k_mpa",
	        tc->f_m_k, "f_t_0_k_mpa", tc->f_t_0_k, "f_c_0_k_mpa",
	        tc->f_c_0_k, "f_v_k_mpa", tc->f_v_k, "e_0_mean_mpa",
	        tc->e_0_mean, "e_0_05_mpa", tc->e_0_05, "g_mean_mpa",
	        tc->g_mean, "rho_k_kg_m3", tc->rho_k, "rho_mean_kg_m3",
	        tc->rho_mean, "k_mod", bm->k_mod, "gamma_m", bm->gamma_m,
	        "k_cr", bm->k_cr, "f_m_d_mpa", f_m_d, "f_v_d_mpa", f_v_d);
}

static json_t *beam_check(const struct beam *bm)
{
	const struct timber_class *tc = bm->tc;
	struct beam_extremes eu, es;
	double area = bm->b * bm->h;
	double I = bm->b * bm->h * bm->h * bm->h / 12.0;
	double W = bm->b * bm->h * bm->h / 6.0;
	double EI = tc->e_0_mean * I;
	double V, M, y_mid;
	double sigma, tau, f_m_d, f_v_d, y_max, y_lim;
	double u_m, u_v, u_y;
	json_t *out;

	beam_extremes(bm, &bm->uls, &eu);
	beam_extremes(bm, &bm->sls, &es);
	beam_effects(bm, &bm->sls, bm->span / 2, -1, &V, &M, &y_mid);
	y_mid /= EI;
	y_max = fabs(es.y) / EI;
	y_lim = bm->span / bm->limit;

	sigma = fabs(eu.m) / W;
	tau = 1.5 * fabs(eu.v) / (bm->k_cr * area);
	f_m_d = bm->k_mod * tc->f_m_k / bm->gamma_m;
	f_v_d = bm->k_mod * tc->f_v_k / bm->gamma_m;
	u_m = sigma / f_m_d;
	u_v = tau / f_v_d;
	u_y = y_max / y_lim;

	out = json_pack(
	        "{s:s, s:s, s:f,"
	        " s:{s:f, s:f, s:f, s:f, s:f},"
	        " s:o,"
	        " s:{s:s, s:s, s:b, s:f, s:f, s:f},"
	        " s:f, s:f, s:s,"
	        " s:f, s:o, s:f, s:o,"
	        " s:f, s:f, s:f, s:f,"
	        " s:f, s:f, s:f, s:f, s:s,"
	        " s:f, s:o, s:f, s:o,"
	        " s:f, s:{s:f, s:f, s:f}, s:b}",
	        "method", "closed-form Euler-Bernoulli", "support",
	        support_names[bm->support], "span_m", bm->span / 1e3, "section",
	        "width_mm", bm->b, "depth_mm", bm->h, "area_mm2", area,
	        "second_moment_mm4", I, "section_modulus_mm3", W, "material",
	        material_json(bm, f_m_d, f_v_d), "actions", "strength_loads",
	        bm->separate ? "loads_uls" : "loads", "deflection_loads",
	        bm->separate ? "loads_sls" : "loads", "self_weight",
	        bm->self_weight, "self_weight_kn_per_m", bm->g_k,
	        "self_weight_density_kg_m3",
	        bm->self_weight ? tc->rho_mean : 0.0, "gamma_g", bm->gamma_g,
	        /* Strength (ULS loads). */
	        "max_moment_knm", fabs(eu.m) / 1e6, "max_moment_at_m",
	        eu.m_at / 1e3, "max_moment_kind",
	        eu.m < 0 ? "hogging" : "sagging", "max_sagging_moment_knm",
	        eu.m_pos / 1e6, "max_sagging_moment_at_m",
	        at_m(eu.m_pos, eu.m_pos_at), "max_hogging_moment_knm",
	        eu.m_neg / 1e6, "max_hogging_moment_at_m",
	        at_m(eu.m_neg, eu.m_neg_at), "max_shear_kn", fabs(eu.v) / 1e3,
	        "max_shear_at_m", eu.v_at / 1e3, "bending_stress_mpa", sigma,
	        "shear_stress_mpa", tau,
	        /* Deflection (SLS loads), downward positive. */
	        "midspan_deflection_mm", y_mid, "max_deflection_mm", y_max,
	        "max_deflection_at_m", es.y_at / 1e3,
	        "max_deflection_signed_mm", es.y / EI,
	        "max_deflection_direction",
	        es.y > 0   ? "down"
	        : es.y < 0 ? "up"
	                   : "none",
	        "max_downward_deflection_mm", es.y_pos / EI,
	        "max_downward_deflection_at_m", at_m(es.y_pos, es.y_pos_at),
	        "max_upward_deflection_mm", es.y_neg < 0 ? -es.y_neg / EI : 0.0,
	        "max_upward_deflection_at_m", at_m(es.y_neg, es.y_neg_at),
	        "deflection_limit_mm", y_lim, "utilisation", "bending", u_m,
	        "shear", u_v, "deflection", u_y, "pass",
	        u_m <= 1.0 && u_v <= 1.0 && u_y <= 1.0);
	if (out &&
	    json_object_set_new(
	            out, "assumptions",
	            json_pack("[s,s,s,s]",
	                      bm->separate
	                              ? "loads_uls for the strength checks, "
	                                "loads_sls for deflection"
	                              : "loads are used as given for strength "
	                                "and deflection checks",
	                      "instantaneous deflection with E_0,mean: no "
	                      "creep (k_def), no shear deformation",
	                      "no lateral torsional buckling check (k_crit = "
	                      "1)",
	                      "no depth factor k_h, no bearing check")) != 0) {
		json_decref(out);
		out = NULL;
	}
	return out;
}

/* --- plugin entry points --- */

static int beam_init(const struct jobd_host *host, const json_t *options,
                     void **state)
{
	(void)state;
	if (!json_is_object(options) || json_object_size(options) != 0) {
		host->fail(NULL, "options: beam takes no options");
		return JOBD_E_BAD_REQUEST;
	}
	return JOBD_OK;
}

static int beam_process(void *state, void *worker_state, struct jobd_job *job,
                        const json_t *input, json_t **output)
{
	struct beam *bm;
	json_t *out;
	int rc;

	(void)state;
	(void)worker_state;
	/* ~3 kB with its load table: on the heap, not a worker's stack. */
	bm = calloc(1, sizeof(*bm));
	if (!bm) {
		job->host->fail(job, "out of memory");
		return JOBD_E_PLUGIN_FAILED;
	}
	rc = parse_input(job, input, bm);
	if (rc == JOBD_OK) {
		out = beam_check(bm);
		if (out) {
			jobd_job_progress(job, 1.0, NULL);
			*output = out;
		} else {
			job->host->fail(job, "out of memory");
			rc = JOBD_E_PLUGIN_FAILED;
		}
	}
	free(bm);
	return rc;
}

static const struct jobd_plugin beam_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "beam",
        .version = "1.1.0",
        .description = "timber beam check (EN 338 and EN 14080 classes, "
                       "closed-form Euler-Bernoulli)",
        .flags = JOBD_PLUGIN_RETRY_SAFE,
        .init = beam_init,
        .process = beam_process,
};

JOBD_PLUGIN_DEFINE(beam_plugin)
