/* SPDX-License-Identifier: MIT */
/*
 * plugin-run: runs one job through the test plugin host (a real dlopen of
 * the built plugin, as the daemon loads it) and prints the output JSON on
 * stdout. It lets a test in another language (test_kmeans_sklearn.py has
 * scikit-learn but no C) drive a plugin without a daemon, and it printed
 * the example outputs in the plugins' READMEs.
 *
 *   JOBD_PLUGIN=build/plugins/kmeans.so plugin-run '{"cache_size":0}' < in.json
 *
 * The argument is the plugin's options as JSON (default {}). Exit status:
 * 0 with the output printed; 1 with the plugin's error message (or the
 * reason it could not run) on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "plugin_host.h"

int main(int argc, char **argv)
{
	char err[1024] = "";
	struct plugin_host *h;
	struct plugin_host_worker *w;
	struct plugin_host_job job;
	json_error_t jerr;
	json_t *in, *out = NULL;
	int rc;

	in = json_loadf(stdin, JSON_DECODE_ANY, &jerr);
	if (!in) {
		fprintf(stderr, "plugin-run: input: %s (line %d)\n", jerr.text,
		        jerr.line);
		return 1;
	}
	h = plugin_host_open(NULL, argc > 1 ? argv[1] : NULL, err, sizeof(err));
	if (!h) {
		fprintf(stderr, "plugin-run: %s\n", err);
		json_decref(in);
		return 1;
	}
	w = plugin_host_worker_new(h);
	if (!w) {
		fprintf(stderr, "plugin-run: worker_init failed\n");
		plugin_host_close(h);
		json_decref(in);
		return 1;
	}
	plugin_host_job_init(&job, h);
	rc = plugin_host_process(w, &job, in, &out);
	if (rc == JOBD_OK) {
		json_dumpf(out, stdout,
		           getenv("PLUGIN_RUN_INDENT")
		                   ? JSON_INDENT(2) | JSON_REAL_PRECISION(10)
		                   : JSON_COMPACT | JSON_REAL_PRECISION(17));
		putchar('\n');
	} else {
		fprintf(stderr, "plugin-run: %s\n", job.fail_msg);
	}
	json_decref(out);
	json_decref(in);
	plugin_host_worker_free(w);
	plugin_host_close(h);
	return rc == JOBD_OK ? 0 : 1;
}
