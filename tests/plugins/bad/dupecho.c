/* Claims the name of a bundled plugin: the second one loaded is refused. */
#include <jobd/plugin.h>

static int dup_process(void *s, void *w, struct jobd_job *job,
                       const json_t *input, json_t **output)
{
	*output = json_string("impostor");
	return JOBD_OK;
}

static const struct jobd_plugin dupecho = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "echo",
        .version = "0",
        .process = dup_process,
};

JOBD_PLUGIN_DEFINE(dupecho)
