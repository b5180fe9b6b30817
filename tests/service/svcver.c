/* SPDX-License-Identifier: MIT */
/*
 * svcver: one plugin name, two builds (SVCVER_BUILD 1 and 2), for the
 * reload tests that replace a plugin's .so and must see new calls reach the
 * new build while a running job finishes on the old one.
 * Input {"ms": N}: waits N ms (stopping when cancelled), then answers
 * {"build": SVCVER_BUILD}.
 */
#include <time.h>

#include <jobd/plugin.h>

#ifndef SVCVER_BUILD
#error "build with -DSVCVER_BUILD=N"
#endif
#define STR_(x) #x
#define STR(x)  STR_(x)

static int svcver_process(void *state, void *worker_state, struct jobd_job *job,
                          const json_t *input, json_t **output)
{
	json_int_t ms = json_integer_value(json_object_get(input, "ms"));
	struct timespec slice = {0, 10 * 1000000L};

	for (; ms > 0; ms -= 10) {
		if (jobd_job_cancelled(job)) {
			job->host->fail(job, "stopped");
			return JOBD_E_CANCELLED;
		}
		nanosleep(&slice, NULL);
	}
	*output = json_pack("{si}", "build", SVCVER_BUILD);
	return JOBD_OK;
}

static const struct jobd_plugin svcver_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "svcver",
        .version = STR(SVCVER_BUILD) ".0.0",
        .description = "reload test: which build answered",
        .process = svcver_process,
};

JOBD_PLUGIN_DEFINE(svcver_plugin)
