/* SPDX-License-Identifier: MIT */
#include "daemon/reload.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/conn.h"
#include "daemon/detached.h"
#include "daemon/jobd.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/plugin.h"
#include "daemon/server.h"

static bool options_equal(const struct config *a, const struct config *b,
                          const char *name)
{
	const struct config_plugin *x = config_plugin_find(a, name);
	const struct config_plugin *y = config_plugin_find(b, name);
	const json_t *ox = x ? x->options : NULL, *oy = y ? y->options : NULL;

	if (!ox || !oy)
		return (!ox || !json_object_size(ox)) &&
		       (!oy || !json_object_size(oy));
	return json_equal(ox, oy);
}

/* Grows the connection table when max_connections rises; a lower limit
 * only stops new accepts, nobody is dropped. */
static int grow_conn_table(struct jobd *jd, uint32_t want)
{
	struct conn_table *t = &jd->conns;
	struct conn **slots;
	uint32_t *gens, *free_list, i;

	if (want <= t->n_slots)
		return 0;
	slots = realloc(t->slots, want * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	gens = realloc(t->gens, want * sizeof(*gens));
	if (!gens)
		return -ENOMEM;
	t->gens = gens;
	free_list = realloc(t->free_list, want * sizeof(*free_list));
	if (!free_list)
		return -ENOMEM;
	t->free_list = free_list;
	for (i = t->n_slots; i < want; i++) {
		t->slots[i] = NULL;
		t->gens[i] = 1;
		t->free_list[t->n_free++] = i;
	}
	t->n_slots = want;
	return 0;
}

/* A running plugin stays: apply its new section (pool size, bound,
 * timeout) and the frame limit. */
static void keep_running(struct plugin *p, const struct config *cfg)
{
	struct config_plugin defaults;
	const struct config_plugin *section;

	section = config_plugin_find(cfg, plugin_name(p));
	if (!section) {
		config_plugin_defaults(&defaults);
		section = &defaults;
	}
	plugin_reconfigure(p, section);
	atomic_store(&p->max_frame_size, cfg->limits.max_frame_size);
}

static bool has_name(struct plugin **list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(plugin_name(list[i]), name))
			return true;
	return false;
}

static void reload_plugins(struct jobd *jd, const struct config *old,
                           const struct config *cfg)
{
	struct plugin **keep = NULL, *p, *q;
	char **paths = NULL;
	size_t n_paths = 0, n_keep = 0, i, k;

	for (i = 0; i < cfg->n_plugin_dirs; i++)
		jobd_scan_plugin_dir(cfg->plugin_dirs[i], &paths, &n_paths);
	keep = calloc(n_paths + 1, sizeof(*keep));
	for (i = 0; keep && i < n_paths; i++) {
		p = NULL;
		for (k = 0; k < jd->n_plugins; k++)
			if (jd->plugins[k] &&
			    !strcmp(jd->plugins[k]->path, paths[i]))
				p = jd->plugins[k];
		if (p && !plugin_file_changed(p, paths[i]) &&
		    options_equal(old, cfg, plugin_name(p))) {
			keep_running(p, cfg);
			keep[n_keep++] = plugin_ref(p);
			continue;
		}
		/* New, changed file, or new options: a fresh instance takes
		 * new calls; the old one finishes its jobs, then unloads. */
		q = jobd_load_plugin(jd, cfg, paths[i]);
		if (!q && p) {
			/* A replacement that fails to load or start (logged)
			 * must not take a working plugin away. */
			log_error("plugin %s: keeping the running instance",
			          plugin_name(p));
			keep_running(p, cfg);
			keep[n_keep++] = plugin_ref(p);
			continue;
		}
		if (!q)
			continue;
		for (k = 0; k < n_keep; k++)
			if (!strcmp(plugin_name(keep[k]), plugin_name(q)))
				break;
		if (k < n_keep) {
			log_error("plugin %s: name \"%s\" is already taken by "
			          "%s; skipped",
			          paths[i], plugin_name(q), keep[k]->path);
			plugin_unref(q);
			continue;
		}
		log_info("plugin %s: %s", plugin_name(q),
		         p ? "replaced" : "added");
		keep[n_keep++] = q;
	}
	for (i = 0; i < n_paths; i++)
		free(paths[i]);
	free(paths);
	if (!keep) {
		log_error("reload: out of memory; plugins unchanged");
		return;
	}
	for (k = 0; k < jd->n_plugins; k++) {
		for (i = 0; i < n_keep; i++)
			if (keep[i] == jd->plugins[k])
				break;
		/* A replaced plugin left the list too; its name did not. */
		if (i == n_keep &&
		    !has_name(keep, n_keep, plugin_name(jd->plugins[k])))
			log_info(
			        "plugin %s: removed; unloads when its jobs end",
			        plugin_name(jd->plugins[k]));
		plugin_unref(jd->plugins[k]); /* jobs keep theirs */
	}
	free(jd->plugins);
	jd->plugins = keep;
	jd->n_plugins = n_keep;
}

int jobd_reload(struct jobd *jd)
{
	struct config *cfg = NULL, *old = jd->cfg;
	struct timespec ts;
	char *error = NULL;
	char status[256];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	notifier_sendf(jd->notifier, "RELOADING=1\nMONOTONIC_USEC=%llu",
	               (unsigned long long)ts.tv_sec * 1000000ull +
	                       (unsigned long long)ts.tv_nsec / 1000ull);
	log_notice("reloading %s", jd->config_path);
	rc = config_load(jd->config_path, &cfg, &error);
	if (rc < 0) {
		log_error("reload: %s; keeping the running config", error);
		free(error);
		notifier_send(jd->notifier, "READY=1");
		return rc;
	}
	if (jd->log_level_override < 0)
		log_set_level(cfg->log_level);
	rc = grow_conn_table(jd, cfg->limits.max_connections);
	if (rc < 0)
		log_error("reload: cannot grow the connection table");
	if (old->state_dir && cfg->state_dir &&
	    strcmp(old->state_dir, cfg->state_dir))
		log_warning("reload: state_dir takes effect at the next "
		            "start; still using %s",
		            old->state_dir);
	jobd_apply_timeouts(jd, cfg);
	detached_apply_config(jd, cfg);
	reload_plugins(jd, old, cfg);
	jd->cfg = cfg;
	if (server_apply(jd, cfg) < 0)
		log_error("reload: some listeners could not be opened");
	config_free(old);
	jobd_status_line(jd, status, sizeof(status));
	log_notice("reloaded: %s", status);
	notifier_sendf(jd->notifier, "READY=1\nSTATUS=%s", status);
	return 0;
}
