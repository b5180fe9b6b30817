/* SPDX-License-Identifier: MIT */
/* jobctl ping, plugins, stats: questions about the server itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobctl/jobctl.h"

static int server_no_args(int argc, char **argv)
{
	if (argc != 1) {
		jobctl_err("%s takes no arguments", argv[0]);
		return JOBCTL_USAGE;
	}
	return JOBCTL_OK;
}

static double server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int cmd_ping(struct jobctl *j, int argc, char **argv)
{
	const char *name;
	double t0, t1;
	int r;

	r = server_no_args(argc, argv);
	if (r == JOBCTL_OK)
		r = jobctl_client(j);
	if (r != JOBCTL_OK)
		return r;
	/* Connect first, so the time printed is one round trip. */
	r = jobd_client_connect(j->client, jobctl_query_timeout(j));
	if (r != JOBD_CLIENT_OK)
		return jobctl_fail(j, r, NULL);
	t0 = server_now_ms();
	r = jobd_client_ping(j->client, jobctl_query_timeout(j));
	t1 = server_now_ms();
	if (r != JOBD_CLIENT_OK)
		return jobctl_fail(j, r, NULL);
	name = jobd_client_server_name(j->client);
	printf("pong from %s%s%s%s: %.3f ms\n", jobd_client_server(j->client),
	       name ? " (" : "", name ? name : "", name ? ")" : "", t1 - t0);
	return JOBCTL_OK;
}

/* The stats message, or NULL after reporting why (*code: exit code). */
static json_t *server_stats(struct jobctl *j, int argc, char **argv, int *code)
{
	json_t *stats = NULL;
	int r;

	*code = server_no_args(argc, argv);
	if (*code == JOBCTL_OK)
		*code = jobctl_client(j);
	if (*code != JOBCTL_OK)
		return NULL;
	r = jobd_client_stats(j->client, jobctl_query_timeout(j), &stats);
	if (r != JOBD_CLIENT_OK) {
		*code = jobctl_fail(j, r, NULL);
		return NULL;
	}
	return stats;
}

int cmd_stats(struct jobctl *j, int argc, char **argv)
{
	json_t *stats = server_stats(j, argc, argv, &argc);
	int r;

	if (!stats)
		return argc;
	/* type and id are the envelope, not the stats. */
	json_object_del(stats, "type");
	json_object_del(stats, "id");
	r = jobctl_print_json(j, stats);
	json_decref(stats);
	return r;
}

static int server_cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A cell of the table: integers as they are, anything else as JSON. */
static void server_cell(const json_t *v, char *buf, size_t size)
{
	char *text;

	if (json_is_string(v)) {
		snprintf(buf, size, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	} else if (!v) {
		snprintf(buf, size, "-");
	} else {
		text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		snprintf(buf, size, "%s", text ? text : "?");
		free(text);
	}
}

enum { SERVER_COLS = 10, SERVER_CELL = 64 };

int cmd_plugins(struct jobctl *j, int argc, char **argv)
{
	static const char *const heads[SERVER_COLS] = {
	        "NAME", "VERSION", "WORKERS",   "QUEUED",   "RUNNING",
	        "DONE", "FAILED",  "ISOLATION", "RESTARTS", "QUARANTINED_MS"};
	/* The last three from worker processes (docs/isolation.md); "-"
	 * where a plugin runs in threads. */
	static const char *const keys[SERVER_COLS] = {
	        NULL,   "version", "workers",   "queued",   "running",
	        "done", "failed",  "isolation", "restarts", "quarantined_ms"};
	json_t *stats = server_stats(j, argc, argv, &argc), *plugins, *p;
	const char *name, **names = NULL;
	char(*cells)[SERVER_COLS][SERVER_CELL] = NULL;
	size_t n = 0, i, w[SERVER_COLS];
	int c, r = JOBCTL_OK;

	if (!stats)
		return argc;
	plugins = json_object_get(stats, "plugins");
	if (!json_is_object(plugins)) {
		jobctl_err("the server's stats have no \"plugins\" object");
		r = JOBCTL_UNREACHABLE;
		goto out;
	}
	names = calloc(json_object_size(plugins) + 1, sizeof(*names));
	cells = calloc(json_object_size(plugins) + 1, sizeof(*cells));
	if (!names || !cells) {
		jobctl_err("out of memory");
		r = JOBCTL_JOB_FAILED;
		goto out;
	}
	json_object_foreach(plugins, name, p) names[n++] = name;
	qsort(names, n, sizeof(*names), server_cmp_names);
	for (c = 0; c < SERVER_COLS; c++)
		w[c] = strlen(heads[c]);
	for (i = 0; i < n; i++) {
		p = json_object_get(plugins, names[i]);
		for (c = 0; c < SERVER_COLS; c++) {
			if (c == 0)
				snprintf(cells[i][c], SERVER_CELL, "%s",
				         names[i]);
			else
				server_cell(json_object_get(p, keys[c]),
				            cells[i][c], SERVER_CELL);
			if (strlen(cells[i][c]) > w[c])
				w[c] = strlen(cells[i][c]);
		}
	}
	/* Names and versions left-aligned, counts right-aligned. */
	for (c = 0; c < SERVER_COLS; c++)
		printf(c < 2 ? "%-*s%s" : "%*s%s", (int)w[c], heads[c],
		       c == SERVER_COLS - 1 ? "\n" : "  ");
	for (i = 0; i < n; i++)
		for (c = 0; c < SERVER_COLS; c++)
			printf(c < 2 ? "%-*s%s" : "%*s%s", (int)w[c],
			       cells[i][c], c == SERVER_COLS - 1 ? "\n" : "  ");
	if (fflush(stdout) != 0) {
		jobctl_err("cannot write the output");
		r = JOBCTL_JOB_FAILED;
	}
out:
	free(names);
	free(cells);
	json_decref(stats);
	return r;
}
