/* SPDX-License-Identifier: MIT */
/*
 * gm-load: a closed-loop load generator for gearmand on libgearman, the
 * same shape as jobd-bench: N connections (one libgearman client and one
 * thread each, since the client API blocks), D requests in flight each,
 * a payload of S bytes to the "echo" function. D > 1 is run as batches of
 * D tasks (gearman_client_run_tasks returns when the whole batch is done),
 * which is the closest libgearman's blocking client comes to a pipeline.
 * Prints the same "RESULT key=value" line as jobd-bench.
 * Usage: gm-load -H HOST -p PORT [-c N] [-d D] [-s BYTES] [-t SEC] [-w SEC]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libgearman/gearman.h>

#include "hist.h"

struct shared {
	const char *host;
	in_port_t port;
	unsigned depth;
	size_t size;
	uint64_t t_measure, t_end;
	atomic_bool go;
};

struct thr {
	struct shared *s;
	pthread_t t;
	struct hist h;
	uint64_t done, errors;
	uint64_t batch_start;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record(struct thr *t, bool ok)
{
	uint64_t now = now_ns();

	if (t->batch_start < t->s->t_measure || now > t->s->t_end)
		return;
	hist_add(&t->h, now - t->batch_start);
	if (ok)
		t->done++;
	else
		t->errors++;
}

static gearman_return_t on_complete(gearman_task_st *task)
{
	record(gearman_task_context(task), true);
	return GEARMAN_SUCCESS;
}

static gearman_return_t on_fail(gearman_task_st *task)
{
	record(gearman_task_context(task), false);
	return GEARMAN_SUCCESS;
}

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	struct shared *s = t->s;
	gearman_client_st *cl = gearman_client_create(NULL);
	char *payload = malloc(s->size + 1);
	gearman_return_t rc;
	unsigned i;

	if (!cl || !payload ||
	    gearman_client_add_server(cl, s->host, s->port) !=
	            GEARMAN_SUCCESS) {
		fprintf(stderr, "gm-load: cannot set up a client\n");
		exit(2);
	}
	memset(payload, 'x', s->size);
	gearman_client_add_options(cl, GEARMAN_CLIENT_FREE_TASKS);
	gearman_client_set_complete_fn(cl, on_complete);
	gearman_client_set_fail_fn(cl, on_fail);
	while (!atomic_load(&s->go))
		usleep(1000);
	while (now_ns() < s->t_end) {
		t->batch_start = now_ns();
		for (i = 0; i < s->depth; i++)
			if (!gearman_client_add_task(cl, NULL, t, "echo", NULL,
			                             payload, s->size, &rc)) {
				fprintf(stderr, "gm-load: add_task: %s\n",
				        gearman_client_error(cl));
				exit(2);
			}
		rc = gearman_client_run_tasks(cl);
		if (rc != GEARMAN_SUCCESS) {
			fprintf(stderr, "gm-load: run_tasks: %s\n",
			        gearman_client_error(cl));
			t->errors++;
		}
	}
	gearman_client_free(cl);
	free(payload);
	return NULL;
}

int main(int argc, char **argv)
{
	struct shared s = {
	        .host = "127.0.0.1", .port = 4730, .depth = 1, .size = 64};
	double duration = 5, warmup = 1, secs;
	unsigned conns = 50, i;
	struct thr *t;
	struct hist *h;
	uint64_t done = 0, errors = 0;
	int ch;

	while ((ch = getopt(argc, argv, "H:p:c:d:s:t:w:")) != -1) {
		switch (ch) {
		case 'H':
			s.host = optarg;
			break;
		case 'p':
			s.port = (in_port_t)atoi(optarg);
			break;
		case 'c':
			conns = (unsigned)atoi(optarg);
			break;
		case 'd':
			s.depth = (unsigned)atoi(optarg);
			break;
		case 's':
			s.size = (size_t)atol(optarg);
			break;
		case 't':
			duration = atof(optarg);
			break;
		case 'w':
			warmup = atof(optarg);
			break;
		default:
			fprintf(stderr,
			        "usage: gm-load -H HOST -p PORT [-c N] "
			        "[-d D] [-s BYTES] [-t SEC] [-w SEC]\n");
			return 2;
		}
	}
	if (!conns || !s.depth)
		return 2;
	t = calloc(conns, sizeof(*t));
	h = calloc(1, sizeof(*h));
	if (!t || !h)
		return 2;
	s.t_measure = now_ns() + 100000000ull + (uint64_t)(warmup * 1e9);
	s.t_end = s.t_measure + (uint64_t)(duration * 1e9);
	for (i = 0; i < conns; i++) {
		t[i].s = &s;
		pthread_create(&t[i].t, NULL, thr_main, &t[i]);
	}
	atomic_store(&s.go, true);
	for (i = 0; i < conns; i++) {
		pthread_join(t[i].t, NULL);
		hist_merge(h, &t[i].h);
		done += t[i].done;
		errors += t[i].errors;
	}
	secs = duration;
#define US(ns) ((double)(ns) / 1000.0)
	printf("gearman %s:%u  conns=%u  depth=%u  payload=%zu\n", s.host,
	       (unsigned)s.port, conns, s.depth, s.size);
	printf("  throughput  %.0f req/s\n", (double)done / secs);
	printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max "
	       "%.1f\n",
	       US(hist_quantile(h, 0.5)), US(hist_quantile(h, 0.9)),
	       US(hist_quantile(h, 0.99)), US(hist_quantile(h, 0.999)),
	       US(h->max));
	printf("  errors      %" PRIu64 "\n", errors);
	printf("RESULT proto=gearman conns=%u depth=%u rate=0 requests=%" PRIu64
	       " secs=%.3f rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
	       "p999_us=%.1f max_us=%.1f errors=%" PRIu64 "\n",
	       conns, s.depth, done, secs, (double)done / secs,
	       US(hist_quantile(h, 0.5)), US(hist_quantile(h, 0.9)),
	       US(hist_quantile(h, 0.99)), US(hist_quantile(h, 0.999)),
	       US(h->max), errors);
	return errors ? 1 : 0;
}
