/*
 * misbehave: a plugin that does what plugins should not, on request, so the
 * tests can check that the daemon answers plugin_failed and goes on.
 * Input {"do": WHAT}: "null" (success without output), "fail" (error with a
 * message), "silent" (error without a message), "badcode" (a code outside
 * the list), "flood" (a million progress reports, then a result), "ok".
 */
#include <string.h>

#include <jobd/plugin.h>

static int misbehave_process(void *s, void *w, struct jobd_job *job,
                             const json_t *input, json_t **output)
{
	const char *what = json_string_value(json_object_get(input, "do"));
	int i;

	if (!what)
		what = "ok";
	if (!strcmp(what, "null")) {
		*output = NULL;
		return JOBD_OK;
	}
	if (!strcmp(what, "fail")) {
		job->host->fail(job, "the model diverged at step %d", 17);
		return JOBD_E_PLUGIN_FAILED;
	}
	if (!strcmp(what, "silent"))
		return JOBD_E_PLUGIN_FAILED;
	if (!strcmp(what, "badcode")) {
		job->host->fail(job, "strange");
		return 999;
	}
	if (!strcmp(what, "flood")) {
		for (i = 0; i < 1000000; i++)
			jobd_job_progress(job, i / 1e6, "flooding");
		*output = json_integer(i);
		return JOBD_OK;
	}
	*output = json_string("ok");
	return JOBD_OK;
}

static const struct jobd_plugin misbehave = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "misbehave",
        .version = "0",
        .process = misbehave_process,
};

JOBD_PLUGIN_DEFINE(misbehave)
