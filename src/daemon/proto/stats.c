/* SPDX-License-Identifier: MIT */
#include "daemon/proto/stats.h"

#include "daemon/config/config.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/proto.h"
#include "daemon/util/clock.h"

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
	return o;
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
	if (msg && has_id)
		json_object_set_new(msg, "id", json_integer(id));
	return msg;
}
