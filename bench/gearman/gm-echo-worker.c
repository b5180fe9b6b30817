/* SPDX-License-Identifier: MIT */
/*
 * gm-echo-worker: the gearmand side of bench/compare.sh. Starts W threads,
 * each a libgearman worker registering "echo", which answers with its
 * workload unchanged (what jobd's echo plugin does).
 * Usage: gm-echo-worker HOST PORT [WORKERS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libgearman/gearman.h>

struct where {
	const char *host;
	in_port_t port;
};

static void *echo_fn(gearman_job_st *job, void *context, size_t *result_size,
                     gearman_return_t *ret_ptr)
{
	size_t n = gearman_job_workload_size(job);
	void *out = malloc(n ? n : 1);

	(void)context;
	if (!out) {
		*ret_ptr = GEARMAN_WORK_FAIL;
		return NULL;
	}
	memcpy(out, gearman_job_workload(job), n);
	*result_size = n;
	*ret_ptr = GEARMAN_SUCCESS;
	return out; /* libgearman frees it */
}

static void *worker_main(void *arg)
{
	const struct where *w = arg;
	gearman_worker_st *wk = gearman_worker_create(NULL);
	gearman_return_t rc;

	if (!wk ||
	    gearman_worker_add_server(wk, w->host, w->port) !=
	            GEARMAN_SUCCESS ||
	    gearman_worker_add_function(wk, "echo", 0, echo_fn, NULL) !=
	            GEARMAN_SUCCESS) {
		fprintf(stderr, "gm-echo-worker: cannot set up a worker\n");
		exit(1);
	}
	for (;;) {
		rc = gearman_worker_work(wk);
		if (rc != GEARMAN_SUCCESS && rc != GEARMAN_IO_WAIT &&
		    rc != GEARMAN_NO_JOBS) {
			fprintf(stderr, "gm-echo-worker: %s\n",
			        gearman_worker_error(wk));
			break;
		}
	}
	gearman_worker_free(wk);
	return NULL;
}

int main(int argc, char **argv)
{
	struct where w;
	pthread_t *t;
	int n, i;

	if (argc < 3) {
		fprintf(stderr, "usage: gm-echo-worker HOST PORT [WORKERS]\n");
		return 2;
	}
	w.host = argv[1];
	w.port = (in_port_t)atoi(argv[2]);
	n = argc > 3 ? atoi(argv[3]) : 4;
	if (n < 1)
		n = 1;
	t = calloc((size_t)n, sizeof(*t));
	if (!t)
		return 1;
	for (i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker_main, &w);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return 1;
}
