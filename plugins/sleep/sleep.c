/* SPDX-License-Identifier: MIT */
/*
 * sleep: waits the given number of milliseconds, then answers
 * {"slept_ms": N}. For tests and demos of concurrency, deadlines and
 * cancellation. Input: {"ms": N} or a bare number N (0 <= N <= 86400000).
 * It waits in short slices so that cancellation is seen within 10 ms.
 */
#include <time.h>

#include <jobd/plugin.h>

#define SLEEP_MAX_MS   86400000
#define SLEEP_SLICE_MS 10

static int sleep_ms_of(const json_t *input, json_int_t *ms)
{
	const json_t *v =
	        json_is_object(input) ? json_object_get(input, "ms") : input;

	if (!json_is_integer(v))
		return -1;
	*ms = json_integer_value(v);
	return *ms < 0 || *ms > SLEEP_MAX_MS ? -1 : 0;
}

static int sleep_process(void *state, void *worker_state, struct jobd_job *job,
                         const json_t *input, json_t **output)
{
	json_int_t ms, left;
	struct timespec slice;

	if (sleep_ms_of(input, &ms) < 0) {
		job->host->fail(job, "ms: must be an integer from 0 to %d",
		                SLEEP_MAX_MS);
		return JOBD_E_BAD_REQUEST;
	}
	for (left = ms; left > 0; left -= SLEEP_SLICE_MS) {
		if (jobd_job_cancelled(job)) {
			job->host->fail(job, "stopped after %lld of %lld ms",
			                (long long)(ms - left), (long long)ms);
			return JOBD_E_CANCELLED;
		}
		slice.tv_sec = 0;
		slice.tv_nsec =
		        (left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS) *
		        1000000L;
		nanosleep(&slice, NULL);
		jobd_job_progress(job, (double)(ms - left) / (double)ms, NULL);
	}
	*output = json_pack("{sI}", "slept_ms", (json_int_t)ms);
	return JOBD_OK;
}

static const struct jobd_plugin sleep_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "sleep",
        .version = "1.0.0",
        .description = "waits the given milliseconds",
        .flags = JOBD_PLUGIN_RETRY_SAFE,
        .process = sleep_process,
};

JOBD_PLUGIN_DEFINE(sleep_plugin)
