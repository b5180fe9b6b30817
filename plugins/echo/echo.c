/* SPDX-License-Identifier: MIT */
/* echo: answers with its input unchanged, binary arrays included (protocol
 * v2). The smallest useful plugin, and the one the benchmarks drive, so it
 * does no work of its own. */
#include <string.h>

#include <jobd/plugin.h>

/* Each input array back as an output array of the same name. */
static int echo_arrays(struct jobd_job *job)
{
	const struct jobd_host *h = job->host;
	struct jobd_array a;
	size_t i, n;
	void *data;
	int rc;

	if (!JOBD_HOST_HAS(h, input_count) || !JOBD_HOST_HAS(h, input_at) ||
	    !JOBD_HOST_HAS(h, output_array))
		return JOBD_OK; /* an ABI 1.0 daemon sends no arrays */
	n = h->input_count(job);
	for (i = 0; i < n; i++) {
		if (h->input_at(job, i, &a) != JOBD_OK)
			continue;
		rc = h->output_array(job, a.name, a.dtype, a.ndim, a.shape,
		                     &data);
		if (rc != JOBD_OK)
			return rc; /* the reason is set */
		if (a.nbytes)
			memcpy(data, a.data, a.nbytes);
	}
	return JOBD_OK;
}

static int echo_process(void *state, void *worker_state, struct jobd_job *job,
                        const json_t *input, json_t **output)
{
	/* The input is borrowed and never modified by anyone, so sharing it
	 * with the reply costs one atomic increment instead of a deep copy. */
	int rc = echo_arrays(job);

	if (rc != JOBD_OK)
		return rc;
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
        .flags = JOBD_PLUGIN_RETRY_SAFE | JOBD_PLUGIN_ARRAYS,
        .process = echo_process,
};

JOBD_PLUGIN_DEFINE(echo_plugin)
