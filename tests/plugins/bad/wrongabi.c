/* A plugin built for an ABI major this jobd does not speak. */
#include <jobd/plugin.h>

static int wrongabi_process(void *s, void *w, struct jobd_job *job,
                            const json_t *input, json_t **output)
{
	*output = json_null();
	return JOBD_OK;
}

static const struct jobd_plugin wrongabi = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR + 98,
        .abi_minor = 0,
        .size = sizeof(struct jobd_plugin),
        .name = "wrongabi",
        .version = "0",
        .process = wrongabi_process,
};

JOBD_PLUGIN_DEFINE(wrongabi)
