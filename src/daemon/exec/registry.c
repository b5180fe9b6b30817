/* SPDX-License-Identifier: MIT */
#include "daemon/exec/registry.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/exec/pool.h"
#include "daemon/exec/pyplugin.h"
#include "daemon/util/log.h"

void registry_init(struct registry *reg, struct cq *done)
{
	memset(reg, 0, sizeof(*reg));
	reg->done = done;
}

void registry_fini(struct registry *reg)
{
	size_t i;

	for (i = 0; i < reg->n_plugins; i++)
		plugin_unref(reg->plugins[i]);
	free(reg->plugins);
	reg->plugins = NULL;
	reg->n_plugins = 0;
}

static struct plugin *find_in(struct plugin *const *list, size_t n,
                              const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(plugin_name(list[i]), name))
			return list[i];
	return NULL;
}

struct plugin *registry_find(const struct registry *reg, const char *name)
{
	return find_in(reg->plugins, reg->n_plugins, name);
}

char *registry_names(const struct registry *reg)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < reg->n_plugins; i++)
		len += strlen(plugin_name(reg->plugins[i])) + 2;
	s = calloc(1, len);
	for (i = 0; s && i < reg->n_plugins; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, plugin_name(reg->plugins[i]));
	}
	return s;
}

/* The one "name already taken" rule, for start-up and reload alike. */
static bool name_taken(struct plugin *const *list, size_t n,
                       const struct plugin *p)
{
	const struct plugin *other = find_in(list, n, plugin_name(p));

	if (!other)
		return false;
	log_error("plugin %s: name \"%s\" is already taken by %s; skipped",
	          p->path, plugin_name(p), other->path);
	return true;
}

int registry_add(struct registry *reg, struct plugin *p)
{
	struct plugin **grown;

	if (name_taken(reg->plugins, reg->n_plugins, p))
		return -EEXIST;
	grown = realloc(reg->plugins, (reg->n_plugins + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	reg->plugins = grown;
	reg->plugins[reg->n_plugins++] = p;
	return 0;
}

/* NAME.so, and NAME.py for the Python host (exec/pyplugin.h). */
static int so_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 3 &&
	       (!strcmp(d->d_name + n - 3, ".so") ||
	        pyplugin_is_python(d->d_name));
}

int registry_scan_dir(const char *dir, char ***paths, size_t *n_paths)
{
	struct dirent **list;
	char **grown;
	int n, i;

	n = scandir(dir, &list, so_filter, alphasort);
	if (n < 0) {
		log_warning("plugin_dirs: %s: %s", dir, strerror(errno));
		return 0; /* a missing directory is not fatal */
	}
	for (i = 0; i < n; i++) {
		grown = realloc(*paths, (*n_paths + 1) * sizeof(*grown));
		if (grown) {
			*paths = grown;
			if (asprintf(&grown[*n_paths], "%s/%s", dir,
			             list[i]->d_name) >= 0)
				(*n_paths)++;
		}
		free(list[i]);
	}
	free(list);
	return 0;
}

/* The section cfg has for name, or the defaults in *defaults. */
static const struct config_plugin *section_for(const struct config *cfg,
                                               const char *name,
                                               struct config_plugin *defaults)
{
	const struct config_plugin *section = config_plugin_find(cfg, name);

	if (section)
		return section;
	config_plugin_defaults(defaults);
	return defaults;
}

/* A NAME.py: served by jobd-worker's Python host, in worker processes
 * only (docs/python-plugins.md). */
static struct plugin *load_python(const struct config *cfg, const char *path)
{
	struct config_plugin defaults;
	char name[65], *why;

	if (pyplugin_name(path, name, sizeof(name)) < 0) {
		log_error("plugin %s: the file name is not a plugin name (want "
		          "1-64 of [a-z0-9_-], then .py); skipped",
		          path);
		return NULL;
	}
	why = pyplugin_refusal(name, section_for(cfg, name, &defaults));
	log_error("plugin %s (%s): %s; skipped", path, name,
	          why ? why : "out of memory");
	free(why);
	return NULL;
}

struct plugin *registry_load(struct registry *reg, const struct config *cfg,
                             const char *path)
{
	struct config_plugin defaults;
	const struct config_plugin *section;
	struct plugin *p = NULL;
	char *why = NULL;

	if (pyplugin_is_python(path))
		return load_python(cfg, path);
	if (plugin_open(&reg->files, path, &p, &why) < 0) {
		log_error("plugin %s: %s; skipped", path, why);
		goto fail;
	}
	section = section_for(cfg, plugin_name(p), &defaults);
	atomic_store(&p->max_frame_size, cfg->limits.max_frame_size);
	if (plugin_start(p, section, 0, reg->done, &why) < 0) {
		log_error("plugin %s (%s): %s; skipped", path, plugin_name(p),
		          why);
		goto fail;
	}
	log_info("plugin %s %s loaded from %s (%u workers)", plugin_name(p),
	         p->desc->version ? p->desc->version : "", path,
	         section->workers);
	free(why);
	return p;
fail:
	free(why);
	plugin_unref(p);
	return NULL;
}

static void scan_all(const struct config *cfg, char ***paths, size_t *n)
{
	size_t i;

	for (i = 0; i < cfg->n_plugin_dirs; i++)
		registry_scan_dir(cfg->plugin_dirs[i], paths, n);
}

void registry_load_all(struct registry *reg, const struct config *cfg)
{
	char **paths = NULL;
	size_t n = 0, i;
	struct plugin *p;

	scan_all(cfg, &paths, &n);
	for (i = 0; i < n; i++) {
		p = registry_load(reg, cfg, paths[i]);
		if (p && registry_add(reg, p) < 0)
			plugin_unref(p);
		free(paths[i]);
	}
	free(paths);
	for (i = 0; i < cfg->n_plugins; i++)
		if (!registry_find(reg, cfg->plugins[i].name))
			log_warning("plugins.%s: configured, but no such "
			            "plugin was loaded",
			            cfg->plugins[i].name);
}

/* --- reload -------------------------------------------------------------- */

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

/* A running plugin stays: apply its new section (pool size, bound,
 * timeout) and the frame limit. */
static void keep_running(struct plugin *p, const struct config *cfg)
{
	struct config_plugin defaults;

	plugin_reconfigure(p, section_for(cfg, plugin_name(p), &defaults));
	atomic_store(&p->max_frame_size, cfg->limits.max_frame_size);
}

static struct plugin *find_path(const struct registry *reg, const char *path)
{
	struct plugin *p = NULL;
	size_t k;

	for (k = 0; k < reg->n_plugins; k++)
		if (reg->plugins[k] && !strcmp(reg->plugins[k]->path, path))
			p = reg->plugins[k];
	return p;
}

void registry_reload(struct registry *reg, const struct config *old,
                     const struct config *cfg)
{
	struct plugin **keep = NULL, *p, *q;
	char **paths = NULL;
	size_t n_paths = 0, n_keep = 0, i, k;

	scan_all(cfg, &paths, &n_paths);
	keep = calloc(n_paths + 1, sizeof(*keep));
	for (i = 0; keep && i < n_paths; i++) {
		p = find_path(reg, paths[i]);
		if (p && !plugin_file_changed(p, paths[i]) &&
		    options_equal(old, cfg, plugin_name(p))) {
			keep_running(p, cfg);
			keep[n_keep++] = plugin_ref(p);
			continue;
		}
		/* New, changed file, or new options: a fresh instance takes
		 * new calls; the old one finishes its jobs, then unloads. */
		q = registry_load(reg, cfg, paths[i]);
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
		if (name_taken(keep, n_keep, q)) {
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
	for (k = 0; k < reg->n_plugins; k++) {
		for (i = 0; i < n_keep; i++)
			if (keep[i] == reg->plugins[k])
				break;
		/* A replaced plugin left the list too; its name did not. */
		if (i == n_keep &&
		    !find_in(keep, n_keep, plugin_name(reg->plugins[k])))
			log_info(
			        "plugin %s: removed; unloads when its jobs end",
			        plugin_name(reg->plugins[k]));
		plugin_unref(reg->plugins[k]); /* jobs keep theirs */
	}
	free(reg->plugins);
	reg->plugins = keep;
	reg->n_plugins = n_keep;
}

uint32_t registry_pending(const struct registry *reg)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < reg->n_plugins; i++)
		n += pool_pending(reg->plugins[i]->pool);
	return n;
}
