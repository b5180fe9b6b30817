/* SPDX-License-Identifier: MIT */
#include "daemon/proto/stats.h"

#include <stdio.h>
#include <sys/stat.h>

#include "daemon/config/config.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/proto.h"
#include "daemon/util/clock.h"
#include "wire/message.h"

static json_t *stats_hist(const struct pool_hist *h)
{
	json_t *le = json_array();
	unsigned i;

	for (i = 0; le && i < POOL_HIST_BUCKETS; i++)
		json_array_append_new(le, json_integer((json_int_t)h->le[i]));
	return json_pack("{so sI sf}", "le", le, "count", (json_int_t)h->count,
	                 "sum", h->sum_s);
}

/* The codes a call can end with (docs/http.md, jobd_calls_total). */
static const enum jobd_error call_outcomes[] = {
        JOBD_OK,
        JOBD_E_BUSY,
        JOBD_E_TIMEOUT,
        JOBD_E_CANCELLED,
        JOBD_E_PLUGIN_FAILED,
        JOBD_E_SHUTTING_DOWN,
        JOBD_E_INTERRUPTED,
        JOBD_E_BAD_REQUEST,
        JOBD_E_FORBIDDEN,
        JOBD_E_TOO_LARGE,
        JOBD_E_INTERNAL,
};

/* How calls ended (every code, zeros too, so that a rate is defined from
 * the first look) and how long they took: what /metrics shows. */
static void stats_metrics(struct plugin *p, json_t *o)
{
	struct pool_metrics m;
	json_t *out;
	size_t i;
	int c;

	if (!o)
		return;
	pool_get_metrics(p->pool, &m);
	out = json_object();
	for (i = 0; out && i < sizeof(call_outcomes) / sizeof(*call_outcomes);
	     i++) {
		c = call_outcomes[i];
		json_object_set_new(out, c ? msg_error_name(c) : "ok",
		                    json_integer((json_int_t)m.outcome[c]));
	}
	json_object_set_new(o, "outcomes", out);
	json_object_set_new(o, "duration_seconds", stats_hist(&m.duration));
	json_object_set_new(o, "queue_seconds", stats_hist(&m.queue));
}

static json_t *stats_plugin(struct plugin *p)
{
	struct pool_stats s;
	json_t *o;

	pool_get_stats(p->pool, &s);
	o = json_pack("{ss sI sI sb sI sI sI sI sI sf ss*}", "version",
	              p->desc->version ? p->desc->version : "", "workers",
	              (json_int_t)s.workers, "queue_bound",
	              (json_int_t)s.queue_bound, "queue_bound_auto",
	              s.auto_bound, "queued", (json_int_t)s.queued, "running",
	              (json_int_t)s.running, "done", (json_int_t)s.done,
	              "failed", (json_int_t)s.failed, "busy",
	              (json_int_t)s.busy, "mean_service_ms", s.mean_service_ms,
	              "description", p->desc->description);
	/* Worker processes (docs/isolation.md): restarts and quarantine. */
	if (o)
		json_object_set_new(
		        o, "isolation",
		        json_string(s.process ? "process" : "thread"));
	if (o && s.process) {
		json_object_set_new(o, "restarts",
		                    json_integer((json_int_t)s.restarts));
		json_object_set_new(o, "crashes",
		                    json_integer((json_int_t)s.crashes));
		json_object_set_new(o, "quarantined_ms",
		                    json_integer((json_int_t)s.quarantined_ms));
	}
	stats_metrics(p, o);
	return o;
}

/* The job store's files on disk (the database and its write-ahead log):
 * what the disk holds, against result_budget. */
static json_t *stats_store(struct proto *pr)
{
	static const char *const files[] = {"jobs.db", "jobs.db-wal"};
	uint64_t bytes = 0;
	char path[4096];
	struct stat st;
	size_t i;

	for (i = 0; pr->cfg->state_dir && i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", pr->cfg->state_dir,
		         files[i]);
		if (stat(path, &st) == 0)
			bytes += (uint64_t)st.st_size;
	}
	return json_pack("{sI sI}", "file_bytes", (json_int_t)bytes, "budget",
	                 (json_int_t)pr->cfg->limits.result_budget);
}

static json_t *stats_bounds(void)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; a && i < POOL_HIST_BUCKETS; i++)
		json_array_append_new(a, json_real(pool_hist_bounds_s[i]));
	return a;
}

json_t *stats_build(struct proto *pr, bool has_id, int64_t id)
{
	json_t *msg, *plugins;
	size_t i;

	plugins = json_object();
	for (i = 0; plugins && i < pr->plugins->n_plugins; i++)
		json_object_set_new(plugins,
		                    plugin_name(pr->plugins->plugins[i]),
		                    stats_plugin(pr->plugins->plugins[i]));
	msg = json_pack(
	        "{ss sI s{sI sI sI sI} s{sI sI} so}", "type", "stats",
	        "uptime_ms",
	        (json_int_t)((monotonic_ns() - pr->started_ns) / 1000000ull),
	        "connections", "current", (json_int_t)net_count(pr->net),
	        "total", (json_int_t)pr->net->conns_total, "refused",
	        (json_int_t)pr->net->conns_refused, "max",
	        (json_int_t)pr->cfg->limits.max_connections, "queued_input",
	        "bytes", (json_int_t)pr->input_queued, "max",
	        (json_int_t)pr->cfg->limits.max_queued_input, "plugins",
	        plugins);
	if (msg) {
		json_object_set_new(msg, "draining",
		                    json_boolean(pr->draining));
		json_object_set_new(msg, "store", stats_store(pr));
		json_object_set_new(msg, "hist_bounds_seconds", stats_bounds());
	}
	if (msg && has_id)
		json_object_set_new(msg, "id", json_integer(id));
	return msg;
}
