/* Needs a symbol nothing provides: dlopen(RTLD_NOW) must refuse it. */
#include <jobd/plugin.h>

int jobd_test_symbol_that_does_not_exist(void);

static int undef_process(void *s, void *w, struct jobd_job *job,
                         const json_t *input, json_t **output)
{
	*output = json_integer(jobd_test_symbol_that_does_not_exist());
	return JOBD_OK;
}

static const struct jobd_plugin undef = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "undefsym",
        .version = "0",
        .process = undef_process,
};

JOBD_PLUGIN_DEFINE(undef)
