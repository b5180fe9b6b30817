/* SPDX-License-Identifier: MIT */
/* jobctl call PLUGIN [INPUT]: run one job and print its output. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "jobctl/jobctl.h"

#define CALL_BACKOFF_FIRST_MS 100
#define CALL_BACKOFF_MAX_MS   5000

static int64_t call_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void call_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
	                      .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0)
		;
}

/*
 * The wait before the next attempt after `busy`: the server's
 * retry_after_ms, but at least an exponential backoff, plus up to 25 %
 * jitter so that many clients refused together do not return together.
 */
static int64_t call_backoff(int attempt, int64_t retry_after_ms)
{
	int64_t b = CALL_BACKOFF_FIRST_MS;
	int i;

	for (i = 0; i < attempt && b < CALL_BACKOFF_MAX_MS; i++)
		b *= 2;
	if (b > CALL_BACKOFF_MAX_MS)
		b = CALL_BACKOFF_MAX_MS;
	if (retry_after_ms > b)
		b = retry_after_ms;
	return b + rand() % (b / 4 + 1);
}

int cmd_call(struct jobctl *j, int argc, char **argv)
{
	const char *plugin;
	struct jobd_client_answer *ans = NULL;
	json_t *input;
	int64_t deadline = -1, left, wait;
	int r, attempt, timeout;

	if (argc < 2 || argc > 3) {
		jobctl_err("usage: jobctl [OPTIONS] call PLUGIN [INPUT]");
		return JOBCTL_USAGE;
	}
	plugin = argv[1];
	/* Input first: malformed JSON is refused before any connection. */
	input = jobctl_read_input(argc == 3 ? argv[2] : NULL);
	if (!input)
		return JOBCTL_USAGE;
	/* Arrays too are checked before any connection. */
	r = jobctl_arrays_load(j);
	if (r == JOBCTL_OK)
		r = jobctl_client(j);
	if (r != JOBCTL_OK)
		goto out;
	if (j->provenance || isatty(STDERR_FILENO)) {
		/* A person is watching (or wants the whole record): the
		 * progress bar, and Ctrl-C asks before it cancels. */
		r = jobctl_call_live(j, plugin, input, &ans);
		if (r == JOBCTL_OK && ans)
			r = jobctl_print_answer(j, ans);
		goto out;
	}
	if (j->timeout_set)
		deadline = call_now_ms() + j->timeout_ms;
	srand((unsigned)getpid());
	for (attempt = 0;; attempt++) {
		timeout = JOBD_CLIENT_FOREVER;
		if (deadline >= 0) {
			left = deadline - call_now_ms();
			timeout = left < 1 ? 1 : (int)left;
		}
		r = jobd_client_call_arrays(j->client, plugin, input, j->sent,
		                            j->n_arrays, timeout, &ans);
		if (r != JOBD_CLIENT_E_SERVER ||
		    jobd_client_error_code(j->client) != JOBD_E_BUSY ||
		    attempt >= j->retries)
			break;
		wait = call_backoff(attempt,
		                    jobd_client_retry_after_ms(j->client));
		if (deadline >= 0 && call_now_ms() + wait >= deadline) {
			jobctl_err("%s: still busy when the timeout ran out "
			           "(%d attempts)",
			           plugin, attempt + 1);
			r = JOBCTL_TIMEOUT;
			goto out;
		}
		call_sleep_ms(wait);
	}
	if (r != JOBD_CLIENT_OK) {
		r = jobctl_fail(j, r, plugin);
		goto out;
	}
	r = jobctl_print_answer(j, ans);
out:
	jobd_client_answer_free(ans);
	json_decref(input);
	return r;
}
