/* SPDX-License-Identifier: MIT */
/* echo: answers with its input unchanged. The smallest useful plugin, and
 * the one the benchmarks drive, so it does no work of its own. */
#include <jobd/plugin.h>

static int echo_process(void *state, void *worker_state, struct jobd_job *job,
                        const json_t *input, json_t **output)
{
	/* The input is borrowed and never modified by anyone, so sharing it
	 * with the reply costs one atomic increment instead of a deep copy. */
	*output = json_incref((json_t *)input);
	return JOBD_OK;
}

static const struct jobd_plugin echo_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "echo",
        .version = "1.0.0",
        .description = "returns its input",
        .flags = JOBD_PLUGIN_RETRY_SAFE,
        .process = echo_process,
};

JOBD_PLUGIN_DEFINE(echo_plugin)
