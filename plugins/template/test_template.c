/* SPDX-License-Identifier: MIT */
/* Tests for the template plugin, loaded from JOBD_PLUGIN with dlopen. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_host.h"

static struct plugin_host *open_or_fail(const char *options)
{
	char err[1024] = "";
	struct plugin_host *h =
	        plugin_host_open(NULL, options, err, sizeof(err));

	ck_assert_msg(h != NULL, "open: %s", err);
	return h;
}

START_TEST(test_descriptor)
{
	struct plugin_host *h = open_or_fail(NULL);
	const struct jobd_plugin *p = plugin_host_plugin(h);

	ck_assert_str_eq(p->name, "template");
	ck_assert_uint_eq(p->abi_major, JOBD_PLUGIN_ABI_MAJOR);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_greets)
{
	struct plugin_host *h = open_or_fail("{\"greeting\": \"hej\"}");
	struct plugin_host_job job;
	json_t *out = NULL;

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(plugin_host_call(h, "{\"name\":\"Ada\",\"repeat\":3}",
	                                  &out, &job),
	                 JOBD_OK);
	ck_assert_str_eq(json_string_value(json_object_get(out, "message")),
	                 "hej, Ada");
	ck_assert_uint_eq(json_array_size(json_object_get(out, "lines")), 3);
	ck_assert_int_eq(job.progress_calls, 3);
	ck_assert(job.last_fraction == 1.0);
	ck_assert_int_eq(job.progress_backwards, 0);
	json_decref(out);
	plugin_host_close(h);
}
END_TEST

static const struct {
	const char *input;
	const char *field; /* the message must start with this */
} bad_inputs[] = {
        {"[]", "input:"},
        {"{}", "name: missing"},
        {"{\"name\": 3}", "name:"},
        {"{\"name\": \"\"}", "name:"},
        {"{\"name\": \"x\", \"repeat\": 0}", "repeat:"},
        {"{\"name\": \"x\", \"repeat\": 1.5}", "repeat:"},
        {"{\"name\": \"x\", \"repeat\": 100000}", "repeat:"},
};

START_TEST(test_bad_input)
{
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *out = NULL;

	plugin_host_job_init(&job, h);
	ck_assert_int_eq(plugin_host_call(h, bad_inputs[_i].input, &out, &job),
	                 JOBD_E_BAD_REQUEST);
	ck_assert_msg(strncmp(job.fail_msg, bad_inputs[_i].field,
	                      strlen(bad_inputs[_i].field)) == 0,
	              "input %s: message \"%s\" does not start with \"%s\"",
	              bad_inputs[_i].input, job.fail_msg, bad_inputs[_i].field);
	plugin_host_close(h);
}
END_TEST

START_TEST(test_bad_options)
{
	char err[1024] = "";

	ck_assert_ptr_null(plugin_host_open(NULL, "{\"greting\": \"hi\"}", err,
	                                    sizeof(err)));
	ck_assert_str_eq(err, "options.greting: unknown option");
	ck_assert_ptr_null(
	        plugin_host_open(NULL, "{\"greeting\": 7}", err, sizeof(err)));
	ck_assert_msg(strncmp(err, "options.greeting:", 17) == 0, "%s", err);
}
END_TEST

START_TEST(test_cancelled)
{
	struct plugin_host *h = open_or_fail(NULL);
	struct plugin_host_job job;
	json_t *out = NULL;

	plugin_host_job_init(&job, h);
	job.cancel_after_progress = 2;
	ck_assert_int_eq(plugin_host_call(h, "{\"name\":\"x\",\"repeat\":100}",
	                                  &out, &job),
	                 JOBD_E_CANCELLED);
	ck_assert_int_eq(job.progress_calls, 2);
	plugin_host_close(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_descriptor);
	tcase_add_test(tc, test_greets);
	tcase_add_loop_test(tc, test_bad_input, 0,
	                    sizeof(bad_inputs) / sizeof(bad_inputs[0]));
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_cancelled);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
