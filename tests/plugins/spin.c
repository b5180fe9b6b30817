/* SPDX-License-Identifier: MIT */
/*
 * spin: burns the given milliseconds of CPU time on its worker thread, then
 * answers {"cpu_ms": N}. Used by bench/compare.sh to measure the daemon's
 * overhead around a CPU-bound job, and by the backpressure tests as a plugin
 * whose service time is known. Input {"ms": N} or a bare N (0..60000);
 * {"ms": N, "pad": B} adds a string of B bytes (up to 16 MiB) to the answer
 * under "pad", for tests of output caps. Checks for cancellation about
 * every millisecond.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jobd/plugin.h>

#define SPIN_MAX_MS  60000
#define SPIN_MAX_PAD (16 << 20)

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int spin_process(void *state, void *worker_state, struct jobd_job *job,
                        const json_t *input, json_t **output)
{
	const json_t *v =
	        json_is_object(input) ? json_object_get(input, "ms") : input;
	int64_t ms, start, end, next_check;
	volatile uint64_t sink = 0;

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > SPIN_MAX_MS) {
		job->host->fail(job, "ms: must be an integer from 0 to %d",
		                SPIN_MAX_MS);
		return JOBD_E_BAD_REQUEST;
	}
	ms = json_integer_value(v);
	start = thread_cpu_ns();
	end = start + ms * 1000000;
	next_check = start + 1000000;
	for (;;) {
		int64_t now;
		int i;

		for (i = 0; i < 1000; i++)
			sink += (uint64_t)i * 2654435761u;
		now = thread_cpu_ns();
		if (now >= end)
			break;
		if (now >= next_check) {
			if (jobd_job_cancelled(job))
				return JOBD_E_CANCELLED;
			next_check = now + 1000000;
		}
	}
	*output = json_pack("{sI}", "cpu_ms", (json_int_t)ms);
	v = json_is_object(input) ? json_object_get(input, "pad") : NULL;
	if (*output && json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= SPIN_MAX_PAD) {
		size_t n = (size_t)json_integer_value(v);
		char *pad = malloc(n);

		if (pad) {
			memset(pad, 'p', n);
			json_object_set_new(*output, "pad",
			                    json_stringn_nocheck(pad, n));
			free(pad);
		}
	}
	return JOBD_OK;
}

static const struct jobd_plugin spin_plugin = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "spin",
        .version = "1.0.0",
        .description = "burns the given milliseconds of CPU",
        .process = spin_process,
};

JOBD_PLUGIN_DEFINE(spin_plugin)
