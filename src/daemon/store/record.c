/* SPDX-License-Identifier: MIT */
/* Job records and store requests as values: names of states, ids, and
 * their life. No I/O, no thread. */
#include "daemon/store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char *const state_names[JOB_STATE_COUNT_] = {
        "queued", "running", "done", "failed", "cancelled", "interrupted",
};

const char *job_state_name(enum job_state s)
{
	return (unsigned)s < JOB_STATE_COUNT_ ? state_names[s] : "unknown";
}

int job_state_from_name(const char *name)
{
	int i;

	for (i = 0; name && i < JOB_STATE_COUNT_; i++)
		if (!strcmp(name, state_names[i]))
			return i;
	return -1;
}

void store_new_id(char id[STORE_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[STORE_ID_LEN / 2];
	size_t got = 0;
	ssize_t n;
	int i;

	while (got < sizeof(b)) {
		n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(b)) {
		/* No entropy source at all: still unique (the primary key
		 * refuses a repeat), only less hard to guess. */
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000000ull ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)getpid() << 40);
		memcpy(b, &x, sizeof(b));
	}
	for (i = 0; i < STORE_ID_LEN / 2; i++) {
		id[2 * i] = hex[b[i] >> 4];
		id[2 * i + 1] = hex[b[i] & 15];
	}
	id[STORE_ID_LEN] = '\0';
}

void store_rec_fini(struct store_rec *r)
{
	if (!r)
		return;
	free(r->plugin);
	free(r->owner);
	free(r->code);
	free(r->message);
	json_decref(r->input);
	json_decref(r->output);
	json_decref(r->provenance);
	free(r->host);
	free(r->progress_message);
	memset(r, 0, sizeof(*r));
}

struct store_req *store_req_new(enum store_op op)
{
	struct store_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->item.kind = CQ_STORE;
	r->op = op;
	r->list_state = -1;
	return r;
}

void store_req_free(struct store_req *r)
{
	size_t i;

	if (!r)
		return;
	store_rec_fini(&r->rec);
	for (i = 0; i < r->n_rows; i++)
		store_rec_fini(&r->rows[i]);
	free(r->rows);
	for (i = 0; i < r->n_claim; i++)
		free(r->claim_plugins[i]);
	free(r->claim_plugins);
	free(r->list_plugin);
	free(r);
}
