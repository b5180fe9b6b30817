/* SPDX-License-Identifier: MIT */
#include "daemon/net/http_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values come from the config (plugin names) and fixed tables, but
 * escape anyway: a backslash, a quote or a newline would break the line. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* A gauge per plugin from a member of its stats. */
static void per_plugin(FILE *f, const json_t *plugins, const char *name,
                       const char *help, const char *member)
{
	const char *pname;
	json_t *p;

	head(f, name, "gauge", help);
	json_object_foreach((json_t *)plugins, pname, p)
	{
		fprintf(f, "%s{plugin=\"", name);
		label(f, pname);
		fprintf(f, "\"} %.17g\n", num(p, member));
	}
}

static void histogram(FILE *f, const json_t *plugins, const json_t *bounds,
                      const char *name, const char *help, const char *member)
{
	const char *pname;
	json_t *p, *h, *le;
	size_t i;

	head(f, name, "histogram", help);
	json_object_foreach((json_t *)plugins, pname, p)
	{
		h = json_object_get(p, member);
		le = json_object_get(h, "le");
		for (i = 0; i < json_array_size(bounds); i++) {
			fprintf(f, "%s_bucket{plugin=\"", name);
			label(f, pname);
			fprintf(f, "\",le=\"%g\"} %.17g\n",
			        json_number_value(json_array_get(bounds, i)),
			        json_number_value(json_array_get(le, i)));
		}
		fprintf(f, "%s_bucket{plugin=\"", name);
		label(f, pname);
		fprintf(f, "\",le=\"+Inf\"} %.17g\n", num(h, "count"));
		fprintf(f, "%s_sum{plugin=\"", name);
		label(f, pname);
		fprintf(f, "\"} %.17g\n", num(h, "sum"));
		fprintf(f, "%s_count{plugin=\"", name);
		label(f, pname);
		fprintf(f, "\"} %.17g\n", num(h, "count"));
	}
}

static void by_kind(FILE *f, const char *name, const char *type,
                    const char *help, uint64_t tcp, uint64_t http)
{
	head(f, name, type, help);
	fprintf(f, "%s{kind=\"tcp\"} %llu\n", name, (unsigned long long)tcp);
	fprintf(f, "%s{kind=\"http\"} %llu\n", name, (unsigned long long)http);
}

char *http_metrics_render(const json_t *stats, const struct http_metrics_in *in,
                          size_t *len)
{
	const json_t *plugins = json_object_get(stats, "plugins");
	const json_t *bounds = json_object_get(stats, "hist_bounds_seconds");
	const json_t *qi = json_object_get(stats, "queued_input");
	const json_t *store = json_object_get(stats, "store");
	const char *pname, *code;
	json_t *p, *n;
	char *text = NULL;
	size_t i;
	FILE *f;

	if (!json_is_object(plugins))
		plugins = NULL;
	f = open_memstream(&text, len);
	if (!f)
		return NULL;
	head(f, "jobd_build_info", "gauge",
	     "Always 1; the version as a label.");
	fputs("jobd_build_info{version=\"", f);
	label(f, in->version);
	fputs("\"} 1\n", f);
	head(f, "jobd_start_time_seconds", "gauge",
	     "Unix time the daemon started.");
	fprintf(f, "jobd_start_time_seconds %.3f\n", in->start_time_s);
	head(f, "jobd_ready", "gauge",
	     "1 when /v1/health/ready would answer 200.");
	fprintf(f, "jobd_ready %d\n", in->ready ? 1 : 0);

	head(f, "jobd_calls_total", "counter",
	     "Calls that ended, by plugin and outcome (ok or the error code).");
	json_object_foreach((json_t *)plugins, pname, p)
	{
		json_object_foreach(json_object_get(p, "outcomes"), code, n)
		{
			fputs("jobd_calls_total{plugin=\"", f);
			label(f, pname);
			fputs("\",outcome=\"", f);
			label(f, code);
			fprintf(f, "\"} %.17g\n", json_number_value(n));
		}
	}
	histogram(f, plugins, bounds, "jobd_call_duration_seconds",
	          "Time from accepted to final answer, queue time included.",
	          "duration_seconds");
	histogram(f, plugins, bounds, "jobd_call_queue_seconds",
	          "Time a call waited in the queue before a worker took it.",
	          "queue_seconds");
	per_plugin(f, plugins, "jobd_queue_depth",
	           "Calls waiting in the plugin's queue.", "queued");
	per_plugin(f, plugins, "jobd_queue_bound", "The queue's bound.",
	           "queue_bound");
	per_plugin(f, plugins, "jobd_workers", "Configured workers.",
	           "workers");
	per_plugin(f, plugins, "jobd_workers_busy", "Workers running a call.",
	           "running");

	by_kind(f, "jobd_connections", "gauge",
	        "Open connections (http: requests being answered).",
	        in->tcp_open, in->http_open);
	by_kind(f, "jobd_connections_accepted_total", "counter",
	        "Connections accepted.", in->tcp_accepted, in->http_accepted);
	by_kind(f, "jobd_connections_refused_total", "counter",
	        "Connections refused at max_connections.", in->tcp_refused,
	        in->http_refused);

	head(f, "jobd_http_requests_total", "counter",
	     "HTTP requests answered, by route and status.");
	for (i = 0; i < in->n_requests; i++)
		fprintf(f,
		        "jobd_http_requests_total{route=\"%s\",status=\"%d\"} "
		        "%llu\n",
		        in->requests[i].route, in->requests[i].status,
		        (unsigned long long)in->requests[i].n);

	head(f, "jobd_queued_input_bytes", "gauge",
	     "Request bytes of calls accepted and not yet answered.");
	fprintf(f, "jobd_queued_input_bytes %.17g\n", num(qi, "bytes"));
	head(f, "jobd_queued_input_limit_bytes", "gauge",
	     "limits.max_queued_input.");
	fprintf(f, "jobd_queued_input_limit_bytes %.17g\n", num(qi, "max"));
	head(f, "jobd_store_bytes", "gauge",
	     "Bytes of the job store's files (database and its log).");
	fprintf(f, "jobd_store_bytes %.17g\n", num(store, "file_bytes"));
	head(f, "jobd_store_budget_bytes", "gauge", "limits.result_budget.");
	fprintf(f, "jobd_store_budget_bytes %.17g\n", num(store, "budget"));
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
