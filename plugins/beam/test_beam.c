/* SPDX-License-Identifier: MIT */
/*
 * beam against textbook answers (Roark's Formulas for Stress and Strain,
 * 7th ed., Table 8.1) for a 45 x 195 mm C24 joist: E = 11000 MPa,
 * I = b h^3 / 12; against the strength class tables of EN 338:2016 (Tables
 * 1 and 3) and EN 14080:2013 (Table 4, combined glulam, and Table 5,
 * homogeneous glulam), typed in here from the standards; and against the
 * partial factors of EN 1990 Table A1.2(B) (gamma_G = 1.35) and EN 1995-1-1
 * Table 2.3 (gamma_M = 1.3 solid, 1.25 glulam).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_host.h"

static const double B = 45, H = 195, E = 11000;
#define I_MM4 (B * H * H * H / 12.0)
#define W_MM3 (B * H * H / 6.0)

static struct plugin_host *host;

static void setup(void)
{
	char err[1024] = "";

	host = plugin_host_open(NULL, NULL, err, sizeof(err));
	ck_assert_msg(host != NULL, "open: %s", err);
}

static void teardown(void)
{
	plugin_host_close(host);
}

/* Runs the beam with the given support, span and loads JSON (an array). */
static json_t *run(const char *support, double span_m, const char *loads,
                   const char *extra)
{
	char buf[2048];
	json_t *out = NULL;
	struct plugin_host_job job;

	snprintf(buf, sizeof(buf),
	         "{\"support\":\"%s\",\"span_m\":%.17g,\"loads\":%s,"
	         "\"section\":{\"width_mm\":45,\"depth_mm\":195},"
	         "\"strength_class\":\"C24\"%s}",
	         support, span_m, loads, extra ? extra : "");
	plugin_host_job_init(&job, host);
	ck_assert_int_eq(plugin_host_call(host, buf, &out, &job), JOBD_OK);
	return out;
}

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_number(v), "no number %s", key);
	return json_number_value(v);
}

static void near(double got, double want, double rel, const char *what)
{
	ck_assert_msg(fabs(got - want) <= rel * fabs(want),
	              "%s: got %.9g, want %.9g", what, got, want);
}

START_TEST(test_simply_supported_uniform)
{
	/* w = 2 kN/m = 2 N/mm over L = 4 m: 5 w L^4 / 384 E I at mid-span. */
	double w = 2, L = 4000;
	json_t *out = run("simply_supported", 4,
	                  "[{\"type\":\"uniform\","
	                  "\"load_kn_per_m\":2}]",
	                  NULL);
	double want = 5 * w * pow(L, 4) / (384 * E * I_MM4);

	printf("simply supported, 2 kN/m over 4 m, 45x195 C24: %.4f mm "
	       "(5wL^4/384EI = %.4f mm)\n",
	       num(out, "midspan_deflection_mm"), want);
	near(num(out, "midspan_deflection_mm"), want, 1e-12, "mid-span");
	near(num(out, "max_deflection_mm"), want, 1e-12, "max deflection");
	near(num(out, "max_deflection_at_m"), 2.0, 1e-12, "where");
	near(num(out, "max_moment_knm"), w * L * L / 8 / 1e6, 1e-12, "M");
	near(num(out, "max_moment_at_m"), 2.0, 1e-12, "M where");
	near(num(out, "max_shear_kn"), w * L / 2 / 1e3, 1e-12, "V");
	near(num(out, "bending_stress_mpa"), w * L * L / 8 / W_MM3, 1e-12,
	     "sigma");
	/* Default k_cr 0.67: tau = 1.5 V / (0.67 b h). */
	near(num(out, "shear_stress_mpa"), 1.5 * w * L / 2 / (0.67 * B * H),
	     1e-12, "tau");
	near(num(out, "deflection_limit_mm"), L / 300, 1e-12, "L/300");
	ck_assert_str_eq(json_string_value(json_object_get(out, "method")),
	                 "closed-form Euler-Bernoulli");
	/* 21.8 mm > 13.3 mm: fails on deflection. */
	ck_assert(json_is_false(json_object_get(out, "pass")));
	near(num(json_object_get(out, "utilisation"), "deflection"),
	     want / (L / 300), 1e-12, "deflection utilisation");
	json_decref(out);
}
END_TEST

START_TEST(test_cantilever_tip_load)
{
	/* P = 1 kN at the tip of a 1.5 m cantilever: P L^3 / 3 E I. */
	double P = 1000, L = 1500;
	json_t *out = run("cantilever", 1.5,
	                  "[{\"type\":\"point\","
	                  "\"load_kn\":1,\"position_m\":1.5}]",
	                  NULL);
	double want = P * L * L * L / (3 * E * I_MM4);

	printf("cantilever, 1 kN at the tip of 1.5 m: %.4f mm (PL^3/3EI = "
	       "%.4f mm)\n",
	       num(out, "max_deflection_mm"), want);
	near(num(out, "max_deflection_mm"), want, 1e-12, "tip");
	near(num(out, "max_deflection_at_m"), 1.5, 1e-12, "at the tip");
	near(num(out, "max_moment_knm"), P * L / 1e6, 1e-12, "M = PL");
	near(num(out, "max_moment_at_m"), 0.0, 1e-12, "M at the wall");
	near(num(out, "max_shear_kn"), 1.0, 1e-12, "V = P");
	near(num(out, "deflection_limit_mm"), L / 150, 1e-12, "L/150");
	json_decref(out);
}
END_TEST

START_TEST(test_cantilever_uniform)
{
	double w = 1, L = 2000;
	json_t *out = run("cantilever", 2,
	                  "[{\"type\":\"uniform\","
	                  "\"load_kn_per_m\":1}]",
	                  NULL);

	near(num(out, "max_deflection_mm"), w * pow(L, 4) / (8 * E * I_MM4),
	     1e-12, "wL^4/8EI");
	near(num(out, "max_moment_knm"), w * L * L / 2 / 1e6, 1e-12, "wL^2/2");
	json_decref(out);
}
END_TEST

START_TEST(test_simply_supported_point)
{
	double P = 3000, L = 3000;
	json_t *out = run("simply_supported", 3,
	                  "[{\"type\":\"point\",\"load_kn\":3,"
	                  "\"position_m\":1.5}]",
	                  NULL);

	near(num(out, "midspan_deflection_mm"),
	     P * L * L * L / (48 * E * I_MM4), 1e-12, "PL^3/48EI");
	near(num(out, "max_moment_knm"), P * L / 4 / 1e6, 1e-12, "PL/4");
	near(num(out, "max_shear_kn"), P / 2 / 1e3, 1e-12, "P/2");
	json_decref(out);

	/* Off centre, a = 2 m, b = 1 m: the maximum deflection
	 * P b (L^2 - b^2)^1.5 / (9 sqrt(3) L E I) at x = sqrt((L^2-b^2)/3),
	 * which is not a grid point: checks the grid search. */
	out = run("simply_supported", 3,
	          "[{\"type\":\"point\",\"load_kn\":3,\"position_m\":2}]",
	          NULL);
	{
		double b = 1000;
		double ymax = P * b * pow(L * L - b * b, 1.5) /
		              (9 * sqrt(3) * L * E * I_MM4);
		near(num(out, "max_deflection_mm"), ymax, 1e-6,
		     "max off centre");
		near(num(out, "max_deflection_at_m"),
		     sqrt((L * L - b * b) / 3) / 1e3, 1e-3, "where");
		near(num(out, "max_moment_knm"), P * 2000 * b / L / 1e6, 1e-12,
		     "Pab/L");
		near(num(out, "max_shear_kn"), P * 2000 / L / 1e3, 1e-12,
		     "Pa/L");
	}
	json_decref(out);
}
END_TEST

START_TEST(test_fixed_fixed)
{
	double w = 2, P = 3000, L = 4000;
	json_t *out = run("fixed_fixed", 4,
	                  "[{\"type\":\"uniform\","
	                  "\"load_kn_per_m\":2}]",
	                  NULL);

	near(num(out, "midspan_deflection_mm"),
	     w * pow(L, 4) / (384 * E * I_MM4), 1e-12, "wL^4/384EI");
	near(num(out, "max_moment_knm"), w * L * L / 12 / 1e6, 1e-12,
	     "wL^2/12");
	ck_assert(num(out, "max_moment_at_m") == 0.0 ||
	          num(out, "max_moment_at_m") == 4.0);
	json_decref(out);

	out = run("fixed_fixed", 4,
	          "[{\"type\":\"point\",\"load_kn\":3,\"position_m\":2}]",
	          NULL);
	near(num(out, "midspan_deflection_mm"),
	     P * L * L * L / (192 * E * I_MM4), 1e-12, "PL^3/192EI");
	near(num(out, "max_moment_knm"), P * L / 8 / 1e6, 1e-12, "PL/8");
	json_decref(out);
}
END_TEST

START_TEST(test_superposition)
{
	json_t *a = run("simply_supported", 4,
	                "[{\"type\":\"uniform\",\"load_kn_per_m\":1.5}]", NULL);
	json_t *b = run("simply_supported", 4,
	                "[{\"type\":\"point\",\"load_kn\":2,\"position_m\":2}]",
	                NULL);
	json_t *ab = run("simply_supported", 4,
	                 "[{\"type\":\"uniform\",\"load_kn_per_m\":1.5},"
	                 "{\"type\":\"point\",\"load_kn\":2,\"position_m\":2}]",
	                 NULL);

	/* Both peak at mid-span, so the maxima add too. */
	near(num(ab, "midspan_deflection_mm"),
	     num(a, "midspan_deflection_mm") + num(b, "midspan_deflection_mm"),
	     1e-12, "deflection");
	near(num(ab, "max_moment_knm"),
	     num(a, "max_moment_knm") + num(b, "max_moment_knm"), 1e-12, "M");
	json_decref(a);
	json_decref(b);
	json_decref(ab);
}
END_TEST

START_TEST(test_en338_values)
{
	static const struct {
		const char *cls;
		double fm, fv, e;
	} want[] = {
	        {"C16", 16, 3.2, 8000},  {"C24", 24, 4.0, 11000},
	        {"C30", 30, 4.0, 12000}, {"D30", 30, 3.9, 11000},
	        {"D40", 40, 4.2, 13000},
	};
	char buf[512];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		json_t *out = NULL;
		const json_t *m;

		snprintf(buf, sizeof(buf),
		         "{\"support\":\"simply_supported\",\"span_m\":3,"
		         "\"loads\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}"
		         "],"
		         "\"section\":{\"width_mm\":47,\"depth_mm\":200},"
		         "\"strength_class\":\"%s\"}",
		         want[i].cls);
		ck_assert_int_eq(plugin_host_call(host, buf, &out, NULL),
		                 JOBD_OK);
		m = json_object_get(out, "material");
		ck_assert(num(m, "f_m_k_mpa") == want[i].fm);
		ck_assert(num(m, "f_v_k_mpa") == want[i].fv);
		ck_assert(num(m, "e_0_mean_mpa") == want[i].e);
		/* Defaults: k_mod 0.8, gamma_M 1.3. */
		near(num(m, "f_m_d_mpa"), 0.8 * want[i].fm / 1.3, 1e-12,
		     "f_m_d");
		near(num(m, "f_v_d_mpa"), 0.8 * want[i].fv / 1.3, 1e-12,
		     "f_v_d");
		json_decref(out);
	}
}
END_TEST

START_TEST(test_passes)
{
	/* 75 x 225 C24 over 3 m under 1.5 kN/m: comfortably within all
	 * three limits. */
	json_t *out = NULL;
	const json_t *u;

	ck_assert_int_eq(
	        plugin_host_call(
	                host,
	                "{\"support\":\"simply_supported\",\"span_m\":3,"
	                "\"loads\":[{\"type\":\"uniform\","
	                "\"load_kn_per_m\":1.5}],\"section\":{"
	                "\"width_mm\":75,\"depth_mm\":225},"
	                "\"strength_class\":\"C24\",\"k_mod\":0.9,"
	                "\"gamma_m\":1.25,\"k_cr\":1}",
	                &out, NULL),
	        JOBD_OK);
	ck_assert(json_is_true(json_object_get(out, "pass")));
	u = json_object_get(out, "utilisation");
	printf("75x225 C24, 3 m, 1.5 kN/m: utilisation bending %.3f, shear "
	       "%.3f, deflection %.3f\n",
	       num(u, "bending"), num(u, "shear"), num(u, "deflection"));
	ck_assert(num(u, "bending") < 1 && num(u, "shear") < 1 &&
	          num(u, "deflection") < 1);
	near(num(out, "shear_stress_mpa"), 1.5 * 2250 / (75.0 * 225), 1e-12,
	     "1.5 V / A");
	near(num(json_object_get(out, "material"), "f_m_d_mpa"),
	     0.9 * 24 / 1.25, 1e-12, "k_mod f_m_k / gamma_M");
	json_decref(out);
}
END_TEST

/* Runs a full input and returns the output. */
static json_t *call(const char *input)
{
	json_t *out = NULL;
	struct plugin_host_job job;

	plugin_host_job_init(&job, host);
	ck_assert_msg(plugin_host_call(host, input, &out, &job) == JOBD_OK,
	              "%s: %s", input, job.fail_msg);
	return out;
}

START_TEST(test_en14080_values)
{
	/* EN 14080:2013: f_m,g,k, f_t,0,g,k, f_c,0,g,k, f_v,g,k, E_0,g,mean,
	 * E_0,g,05, G_g,mean, rho_g,k, rho_g,mean. Combined glulam (GLc):
	 * Table 4; homogeneous (GLh): Table 5. */
	static const struct {
		const char *cls, *table;
		double v[9];
	} want[] = {
	        {"GL20c",
	         "Table 4",
	         {20, 15, 18.5, 3.5, 10400, 8600, 650, 355, 390}},
	        {"GL22c",
	         "Table 4",
	         {22, 16, 20, 3.5, 10400, 8600, 650, 355, 390}},
	        {"GL24c",
	         "Table 4",
	         {24, 17, 21.5, 3.5, 11000, 9100, 650, 365, 400}},
	        {"GL26c",
	         "Table 4",
	         {26, 19, 23.5, 3.5, 12000, 10000, 650, 385, 420}},
	        {"GL28c",
	         "Table 4",
	         {28, 19.5, 24, 3.5, 12500, 10400, 650, 390, 420}},
	        {"GL30c",
	         "Table 4",
	         {30, 19.5, 24.5, 3.5, 13000, 10800, 650, 390, 430}},
	        {"GL32c",
	         "Table 4",
	         {32, 19.5, 24.5, 3.5, 13500, 11200, 650, 400, 440}},
	        {"GL20h",
	         "Table 5",
	         {20, 16, 20, 3.5, 8400, 7000, 650, 340, 370}},
	        {"GL22h",
	         "Table 5",
	         {22, 17.6, 22, 3.5, 10500, 8800, 650, 370, 410}},
	        {"GL24h",
	         "Table 5",
	         {24, 19.2, 24, 3.5, 11500, 9600, 650, 385, 420}},
	        {"GL26h",
	         "Table 5",
	         {26, 20.8, 26, 3.5, 12100, 10100, 650, 405, 445}},
	        {"GL28h",
	         "Table 5",
	         {28, 22.3, 28, 3.5, 12600, 10500, 650, 425, 460}},
	        {"GL30h",
	         "Table 5",
	         {30, 24, 30, 3.5, 13600, 11300, 650, 430, 480}},
	        {"GL32h",
	         "Table 5",
	         {32, 25.6, 32, 3.5, 14200, 11800, 650, 440, 490}},
	};
	static const char *const keys[9] = {
	        "f_m_k_mpa",  "f_t_0_k_mpa",  "f_c_0_k_mpa",
	        "f_v_k_mpa",  "e_0_mean_mpa", "e_0_05_mpa",
	        "g_mean_mpa", "rho_k_kg_m3",  "rho_mean_kg_m3"};
	char buf[512], std[64];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		json_t *out;
		const json_t *m;

		snprintf(buf, sizeof(buf),
		         "{\"support\":\"simply_supported\",\"span_m\":6,"
		         "\"loads\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}"
		         "],\"section\":{\"width_mm\":140,\"depth_mm\":360},"
		         "\"strength_class\":\"%s\"}",
		         want[i].cls);
		out = call(buf);
		m = json_object_get(out, "material");
		ck_assert_str_eq(
		        json_string_value(json_object_get(m, "strength_class")),
		        want[i].cls);
		snprintf(std, sizeof(std), "EN 14080:2013 %s", want[i].table);
		ck_assert_str_eq(
		        json_string_value(json_object_get(m, "standard")), std);
		ck_assert_str_eq(
		        json_string_value(json_object_get(m, "product")),
		        "glulam");
		for (size_t k = 0; k < 9; k++)
			ck_assert_msg(num(m, keys[k]) == want[i].v[k],
			              "%s %s: %g, the table says %g",
			              want[i].cls, keys[k], num(m, keys[k]),
			              want[i].v[k]);
		/* gamma_M for glulam: 1.25 (EN 1995-1-1 Table 2.3). */
		ck_assert(num(m, "gamma_m") == 1.25);
		near(num(m, "f_m_d_mpa"), 0.8 * want[i].v[0] / 1.25, 1e-12,
		     "f_m_d");
		/* Deflection with E_0,g,mean. */
		near(num(out, "midspan_deflection_mm"),
		     5 * 1.0 * pow(6000, 4) /
		             (384 * want[i].v[4] * 140 * pow(360, 3) / 12),
		     1e-12, "5wL^4/384EI");
		json_decref(out);
	}
}
END_TEST

START_TEST(test_en338_more_values)
{
	/* EN 338:2016 Table 1 (C) and Table 3 (D): f_t,0,k, f_c,0,k,
	 * E_0,05 (the standard's E_m,0,k), G_mean, rho_k, rho_mean. */
	static const struct {
		const char *cls, *std;
		double v[6];
	} want[] = {
	        {"C14", "EN 338:2016 Table 1", {7.2, 16, 4700, 440, 290, 350}},
	        {"C24", "EN 338:2016 Table 1", {14.5, 21, 7400, 690, 350, 420}},
	        {"C30", "EN 338:2016 Table 1", {19, 24, 8000, 750, 380, 460}},
	        {"C50",
	         "EN 338:2016 Table 1",
	         {33.5, 30, 10700, 1000, 430, 520}},
	        {"D18", "EN 338:2016 Table 3", {11, 18, 8000, 590, 475, 570}},
	        {"D40", "EN 338:2016 Table 3", {24, 27, 10900, 810, 550, 660}},
	        {"D80",
	         "EN 338:2016 Table 3",
	         {48, 38, 20200, 1500, 900, 1080}},
	};
	static const char *const keys[6] = {"f_t_0_k_mpa", "f_c_0_k_mpa",
	                                    "e_0_05_mpa",  "g_mean_mpa",
	                                    "rho_k_kg_m3", "rho_mean_kg_m3"};
	char buf[512];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		json_t *out;
		const json_t *m;

		snprintf(buf, sizeof(buf),
		         "{\"support\":\"simply_supported\",\"span_m\":3,"
		         "\"loads\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}"
		         "],\"section\":{\"width_mm\":47,\"depth_mm\":200},"
		         "\"strength_class\":\"%s\"}",
		         want[i].cls);
		out = call(buf);
		m = json_object_get(out, "material");
		ck_assert_str_eq(
		        json_string_value(json_object_get(m, "standard")),
		        want[i].std);
		for (size_t k = 0; k < 6; k++)
			ck_assert_msg(num(m, keys[k]) == want[i].v[k],
			              "%s %s: %g, the table says %g",
			              want[i].cls, keys[k], num(m, keys[k]),
			              want[i].v[k]);
		ck_assert(num(m, "gamma_m") == 1.3);
		json_decref(out);
	}
}
END_TEST

START_TEST(test_class_case)
{
	/* Class names in any case; the output spells them as the standard. */
	static const char *const in[][2] = {{"c24", "C24"},
	                                    {"d30", "D30"},
	                                    {"gl24H", "GL24h"},
	                                    {"GL30C", "GL30c"},
	                                    {"gl32h", "GL32h"}};
	char buf[512];

	for (size_t i = 0; i < 5; i++) {
		json_t *out;
		snprintf(buf, sizeof(buf),
		         "{\"support\":\"cantilever\",\"span_m\":1,"
		         "\"loads\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}"
		         "],\"section\":{\"width_mm\":47,\"depth_mm\":200},"
		         "\"strength_class\":\"%s\"}",
		         in[i][0]);
		out = call(buf);
		ck_assert_str_eq(json_string_value(json_object_get(
		                         json_object_get(out, "material"),
		                         "strength_class")),
		                 in[i][1]);
		json_decref(out);
	}
}
END_TEST

START_TEST(test_signed_fixed_fixed)
{
	/* Roark Table 8.1 (both ends fixed, uniform load): end
	 * moments -w L^2 / 12 (hogging), mid-span +w L^2 / 24 (sagging). */
	double w = 3, L = 4000;
	json_t *out = run("fixed_fixed", 4,
	                  "[{\"type\":\"uniform\",\"load_kn_per_m\":3}]", NULL);

	near(num(out, "max_hogging_moment_knm"), -w * L * L / 12 / 1e6, 1e-12,
	     "-wL^2/12");
	ck_assert(num(out, "max_hogging_moment_at_m") == 0.0 ||
	          num(out, "max_hogging_moment_at_m") == 4.0);
	near(num(out, "max_sagging_moment_knm"), w * L * L / 24 / 1e6, 1e-12,
	     "wL^2/24");
	near(num(out, "max_sagging_moment_at_m"), 2.0, 1e-12, "at L/2");
	ck_assert_str_eq(
	        json_string_value(json_object_get(out, "max_moment_kind")),
	        "hogging");
	near(num(out, "max_moment_knm"), w * L * L / 12 / 1e6, 1e-12, "|M|");
	/* w L^4 / 384 E I, downward. */
	near(num(out, "max_deflection_signed_mm"),
	     w * pow(L, 4) / (384 * E * I_MM4), 1e-6, "down");
	ck_assert_str_eq(json_string_value(json_object_get(
	                         out, "max_deflection_direction")),
	                 "down");
	json_decref(out);
}
END_TEST

START_TEST(test_signed_cantilever)
{
	/* Roark Table 8.1 (cantilever, end load): a tip load P on a cantilever
	 * hogs, M = -P L at the wall, and nowhere sags; the tip goes down by P
	 * L^3 / 3 E I. */
	double P = 1000, L = 1500;
	json_t *out = run("cantilever", 1.5,
	                  "[{\"type\":\"point\","
	                  "\"load_kn\":1,\"position_m\":1.5}]",
	                  NULL);

	near(num(out, "max_hogging_moment_knm"), -P * L / 1e6, 1e-12, "-PL");
	ck_assert(num(out, "max_hogging_moment_at_m") == 0.0);
	ck_assert(num(out, "max_sagging_moment_knm") == 0.0);
	ck_assert(
	        json_is_null(json_object_get(out, "max_sagging_moment_at_m")));
	ck_assert_str_eq(
	        json_string_value(json_object_get(out, "max_moment_kind")),
	        "hogging");
	near(num(out, "max_downward_deflection_mm"),
	     P * L * L * L / (3 * E * I_MM4), 1e-12, "PL^3/3EI");
	ck_assert(num(out, "max_upward_deflection_mm") == 0.0);
	ck_assert(json_is_null(
	        json_object_get(out, "max_upward_deflection_at_m")));
	json_decref(out);
}
END_TEST

START_TEST(test_signed_uplift)
{
	/* Wind suction: 1 kN/m upward on a simply supported span. Roark Table
	 * 8.1 (simply supported, uniform load) with w < 0: M = w L^2 / 8
	 * hogging, deflection 5 |w| L^4 / 384 E I upward. */
	double w = 1, L = 3000;
	json_t *out =
	        run("simply_supported", 3,
	            "[{\"type\":\"uniform\",\"load_kn_per_m\":-1}]", NULL);
	double y = 5 * w * pow(L, 4) / (384 * E * I_MM4);

	near(num(out, "max_hogging_moment_knm"), -w * L * L / 8 / 1e6, 1e-12,
	     "-wL^2/8");
	ck_assert(num(out, "max_sagging_moment_knm") == 0.0);
	ck_assert_str_eq(json_string_value(json_object_get(
	                         out, "max_deflection_direction")),
	                 "up");
	near(num(out, "max_upward_deflection_mm"), y, 1e-12, "up");
	near(num(out, "max_deflection_signed_mm"), -y, 1e-12, "signed");
	near(num(out, "midspan_deflection_mm"), -y, 1e-12, "mid-span");
	near(num(out, "max_deflection_mm"), y, 1e-12, "|y|");
	json_decref(out);
}
END_TEST

START_TEST(test_self_weight)
{
	/* A GL24h 140 x 600 beam over 8 m carrying only itself. Its weight is
	 * rho_g,mean g b h = 420 kg/m^3 (EN 14080 Table 5) x 9.80665 m/s^2
	 * x 0.14 m x 0.6 m = 0.3460 kN/m. Strength: gamma_G = 1.35 (EN 1990
	 * Table A1.2(B)) on it, M = 1.35 g L^2 / 8; deflection with the
	 * characteristic weight, 5 g L^4 / 384 E I with E_0,g,mean = 11500. */
	double g = 420 * 9.80665 * 0.14 * 0.6 * 1e-3, L = 8000;
	double Ig = 140 * pow(600, 3) / 12;
	json_t *out = call("{\"support\":\"simply_supported\",\"span_m\":8,"
	                   "\"loads\":[],\"self_weight\":true,"
	                   "\"section\":{\"width_mm\":140,\"depth_mm\":600},"
	                   "\"strength_class\":\"GL24h\"}");
	const json_t *a = json_object_get(out, "actions");

	near(num(a, "self_weight_kn_per_m"), g, 1e-12, "g_k");
	ck_assert(num(a, "self_weight_density_kg_m3") == 420);
	ck_assert(num(a, "gamma_g") == 1.35);
	near(num(out, "max_moment_knm"), 1.35 * g * L * L / 8 / 1e6, 1e-12,
	     "1.35 g L^2 / 8");
	near(num(out, "midspan_deflection_mm"),
	     5 * g * pow(L, 4) / (384 * 11500 * Ig), 1e-12, "5gL^4/384EI");
	json_decref(out);

	/* On top of a load, and with another gamma_G. */
	out = call("{\"support\":\"simply_supported\",\"span_m\":8,"
	           "\"loads\":[{\"type\":\"uniform\",\"load_kn_per_m\":2}],"
	           "\"self_weight\":true,\"gamma_g\":1.2,"
	           "\"section\":{\"width_mm\":140,\"depth_mm\":600},"
	           "\"strength_class\":\"gl24h\"}");
	near(num(out, "max_moment_knm"), (2 + 1.2 * g) * L * L / 8 / 1e6, 1e-12,
	     "(q + 1.2 g) L^2 / 8");
	near(num(out, "midspan_deflection_mm"),
	     5 * (2 + g) * pow(L, 4) / (384 * 11500 * Ig), 1e-12, "SLS");
	json_decref(out);
}
END_TEST

START_TEST(test_uls_sls)
{
	/* Design loads for strength, characteristic ones for deflection: a
	 * 45 x 195 C24 joist over 4 m, 3 kN/m at ULS and 2 kN/m at SLS. */
	double L = 4000;
	json_t *out = call(
	        "{\"support\":\"simply_supported\",\"span_m\":4,"
	        "\"loads_uls\":[{\"type\":\"uniform\",\"load_kn_per_m\":3}],"
	        "\"loads_sls\":[{\"type\":\"uniform\",\"load_kn_per_m\":2}],"
	        "\"section\":{\"width_mm\":45,\"depth_mm\":195},"
	        "\"strength_class\":\"C24\"}");
	const json_t *a = json_object_get(out, "actions");

	near(num(out, "max_moment_knm"), 3 * L * L / 8 / 1e6, 1e-12,
	     "ULS wL^2/8");
	near(num(out, "max_shear_kn"), 3 * L / 2 / 1e3, 1e-12, "ULS wL/2");
	near(num(out, "midspan_deflection_mm"),
	     5 * 2 * pow(L, 4) / (384 * E * I_MM4), 1e-12, "SLS 5wL^4/384EI");
	ck_assert_str_eq(
	        json_string_value(json_object_get(a, "strength_loads")),
	        "loads_uls");
	ck_assert_str_eq(
	        json_string_value(json_object_get(a, "deflection_loads")),
	        "loads_sls");
	ck_assert(json_is_false(json_object_get(a, "self_weight")));
	json_decref(out);
}
END_TEST

#define OKSEC  ",\"section\":{\"width_mm\":45,\"depth_mm\":195}"
#define OKCLS  ",\"strength_class\":\"C24\""
#define OKLOAD ",\"loads\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}]"
#define HEAD   "{\"support\":\"simply_supported\",\"span_m\":3"

static const struct {
	const char *input;
	const char *prefix;
} bad_inputs[] = {
        {"7", "input:"},
        {"{\"span_m\":3" OKLOAD OKSEC OKCLS "}", "support: missing"},
        {"{\"support\":\"pinned\",\"span_m\":3" OKLOAD OKSEC OKCLS "}",
         "support: must be"},
        {"{\"support\":\"cantilever\"" OKLOAD OKSEC OKCLS "}",
         "span_m: missing"},
        {"{\"support\":\"cantilever\",\"span_m\":0" OKLOAD OKSEC OKCLS "}",
         "span_m: must be more than 0"},
        {"{\"support\":\"cantilever\",\"span_m\":\"3\"" OKLOAD OKSEC OKCLS "}",
         "span_m: must be a number"},
        {"{\"support\":\"cantilever\",\"span_m\":500" OKLOAD OKSEC OKCLS "}",
         "span_m:"},
        {HEAD OKSEC OKCLS "}", "loads: missing"},
        {HEAD ",\"loads\":[]" OKSEC OKCLS "}", "loads:"},
        {HEAD ",\"loads\":[{\"type\":\"snow\"}]" OKSEC OKCLS "}",
         "loads[0].type:"},
        {HEAD ",\"loads\":[{\"load_kn\":1}]" OKSEC OKCLS "}", "loads[0].type:"},
        {HEAD ",\"loads\":[{\"type\":\"uniform\"}]" OKSEC OKCLS "}",
         "loads[0].load_kn_per_m: missing"},
        {HEAD ",\"loads\":[{\"type\":\"uniform\",\"load_kn_per_m\":1},"
              "{\"type\":\"point\",\"load_kn\":1,\"position_m\":4}]" OKSEC OKCLS
              "}",
         "loads[1].position_m: must be at least 0 and at most 3"},
        {HEAD ",\"loads\":[{\"type\":\"point\",\"load_kn\":1}]" OKSEC OKCLS "}",
         "loads[0].position_m: missing"},
        {HEAD ",\"loads\":[{\"type\":\"point\",\"load_kn\":1,\"position_m\":1,"
              "\"load_kn_per_m\":2}]" OKSEC OKCLS "}",
         "loads[0].load_kn_per_m: unknown field"},
        {HEAD OKLOAD OKCLS "}", "section: missing"},
        {HEAD OKLOAD ",\"section\":{\"width_mm\":45}" OKCLS "}",
         "section.depth_mm: missing"},
        {HEAD OKLOAD ",\"section\":{\"width_mm\":-45,\"depth_mm\":195}" OKCLS
                     "}",
         "section.width_mm:"},
        {HEAD OKLOAD ",\"section\":{\"b\":45,\"depth_mm\":195}" OKCLS "}",
         "section.b: unknown field"},
        {HEAD OKLOAD OKSEC "}", "strength_class: missing"},
        {HEAD OKLOAD OKSEC ",\"strength_class\":\"C25\"}",
         "strength_class: must be an EN 338 class"},
        {HEAD OKLOAD OKSEC OKCLS ",\"k_mod\":0}", "k_mod:"},
        {HEAD OKLOAD OKSEC OKCLS ",\"gamma_m\":0.5}", "gamma_m:"},
        {HEAD OKLOAD OKSEC OKCLS ",\"k_cr\":2}", "k_cr:"},
        {HEAD OKLOAD OKSEC OKCLS ",\"deflection_limit\":0}",
         "deflection_limit:"},
        {HEAD OKLOAD OKSEC OKCLS ",\"span\":3}", "span: unknown field"},
        {HEAD OKLOAD ",\"loads_uls\":[]" OKSEC OKCLS "}",
         "loads: give loads (for every check) or loads_uls and loads_sls"},
        {HEAD
         ",\"loads_uls\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}]" OKSEC
                 OKCLS "}",
         "loads_sls: missing; loads_uls and loads_sls go together"},
        {HEAD
         ",\"loads_sls\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}]" OKSEC
                 OKCLS "}",
         "loads_uls: missing"},
        {HEAD ",\"loads_uls\":[{\"type\":\"uniform\",\"load_kn_per_m\":1}],"
              "\"loads_sls\":[{\"type\":\"snow\"}]" OKSEC OKCLS "}",
         "loads_sls[0].type: must be"},
        {HEAD ",\"loads_uls\":[],\"loads_sls\":[]" OKSEC OKCLS "}",
         "loads_uls: must be a non-empty array"},
        {HEAD OKLOAD OKSEC OKCLS ",\"self_weight\":1}",
         "self_weight: must be true or false"},
        {HEAD OKLOAD OKSEC OKCLS ",\"gamma_g\":0.5}", "gamma_g:"},
        {HEAD OKLOAD OKSEC ",\"strength_class\":\"GL36h\"}",
         "strength_class: must be an EN 338 class"},
};

START_TEST(test_bad_input)
{
	struct plugin_host_job job;
	json_t *out = NULL;

	plugin_host_job_init(&job, host);
	ck_assert_int_eq(
	        plugin_host_call(host, bad_inputs[_i].input, &out, &job),
	        JOBD_E_BAD_REQUEST);
	ck_assert_msg(strncmp(job.fail_msg, bad_inputs[_i].prefix,
	                      strlen(bad_inputs[_i].prefix)) == 0,
	              "input %s: message \"%s\" does not start with \"%s\"",
	              bad_inputs[_i].input, job.fail_msg,
	              bad_inputs[_i].prefix);
}
END_TEST

START_TEST(test_bad_options)
{
	char err[256];

	ck_assert_ptr_null(
	        plugin_host_open(NULL, "{\"x\":1}", err, sizeof(err)));
	ck_assert_str_eq(err, "options: beam takes no options");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("beam");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_simply_supported_uniform);
	tcase_add_test(tc, test_cantilever_tip_load);
	tcase_add_test(tc, test_cantilever_uniform);
	tcase_add_test(tc, test_simply_supported_point);
	tcase_add_test(tc, test_fixed_fixed);
	tcase_add_test(tc, test_superposition);
	tcase_add_test(tc, test_en338_values);
	tcase_add_test(tc, test_passes);
	tcase_add_test(tc, test_en14080_values);
	tcase_add_test(tc, test_en338_more_values);
	tcase_add_test(tc, test_class_case);
	tcase_add_test(tc, test_signed_fixed_fixed);
	tcase_add_test(tc, test_signed_cantilever);
	tcase_add_test(tc, test_signed_uplift);
	tcase_add_test(tc, test_self_weight);
	tcase_add_test(tc, test_uls_sls);
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
