/* A plugin whose init refuses its options. */
#include <jobd/plugin.h>

static int initfail_init(const struct jobd_host *host, const json_t *options,
                         void **state)
{
	host->fail(NULL, "option \"model\" is required");
	return JOBD_E_BAD_REQUEST;
}

static int initfail_process(void *s, void *w, struct jobd_job *job,
                            const json_t *input, json_t **output)
{
	*output = json_null();
	return JOBD_OK;
}

static const struct jobd_plugin initfail = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "initfail",
        .version = "0",
        .init = initfail_init,
        .process = initfail_process,
};

JOBD_PLUGIN_DEFINE(initfail)
