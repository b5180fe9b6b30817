/*
 * misbehave: a plugin that does what plugins should not, on request, so the
 * tests can check that the daemon answers plugin_failed and goes on.
 * Input {"do": WHAT}: "null" (success without output), "fail" (error with a
 * message), "silent" (error without a message), "badcode" (a code outside
 * the list), "flood" (a million progress reports, then a result), "ok",
 * "sleep" (waits "ms" milliseconds, stopping when cancelled, then answers
 * its job id: a long job of a plugin that is NOT retry-safe).
 */
#include <string.h>
#include <time.h>

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
	if (!strcmp(what, "sleep")) {
		json_int_t ms =
		        json_integer_value(json_object_get(input, "ms"));
		struct timespec slice = {0, 10 * 1000000L};
		const char *id = job->host->job_id(job);

		for (; ms > 0; ms -= 10) {
			if (jobd_job_cancelled(job)) {
				job->host->fail(job, "stopped");
				return JOBD_E_CANCELLED;
			}
			nanosleep(&slice, NULL);
		}
		*output = json_pack("{ss?}", "job", id);
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
