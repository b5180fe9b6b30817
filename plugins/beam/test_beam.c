/* SPDX-License-Identifier: MIT */
/*
 * beam against textbook answers (Roark's formulas) for a 45 x 195 mm C24
 * joist: E = 11000 MPa, I = b h^3 / 12.
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
