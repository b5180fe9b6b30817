/* SPDX-License-Identifier: MIT */
#include "daemon/exec/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/trusted.h"
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

/* --- the trust step ------------------------------------------------------ */

/* plugin_strict_modes: false: opens path although it failed the check.
 * Owner and mode are let go, not the kind of file (-EPERM): a FIFO named
 * like a plugin must not hang the loop. */
static int open_anyway(const char *path, bool want_dir, int *fd)
{
	struct stat st;
	int rc = 0;

	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	                         (want_dir ? O_DIRECTORY : 0));
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, &st) < 0 || fcntl(*fd, F_SETFL, 0) < 0)
		rc = -errno;
	else if (!want_dir && !S_ISREG(st.st_mode))
		rc = -EPERM;
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/*
 * trusted_open with plugin_strict_modes applied. what prefixes the log
 * lines: "plugin " or "plugin_dirs: " (the trust check's own message starts
 * with the path). A refusal is an error, or with strict false a warning
 * and the file opened as it is.
 */
static int open_checked(const char *path, unsigned flags, bool strict,
                        const char *what, int *fd)
{
	bool want_dir = flags & TRUSTED_DIRECTORY;
	char *error = NULL;
	int rc;

	rc = trusted_open(path, flags, fd, &error);
	if (rc == -EPERM && !strict)
		rc = open_anyway(path, want_dir, fd);
	if (rc == 0 && error)
		log_warning("plugin_strict_modes: false, so used anyway: %s%s",
		            what, error);
	else if (rc == -EPERM)
		log_error("%s%s", what, error ? error : path);
	else if (rc < 0 && want_dir)
		/* A missing directory is not worth more than a warning. */
		log_warning("%s%s: %s", what, path, strerror(-rc));
	else if (rc < 0)
		log_error("%s%s: cannot load: %s", what, path, strerror(-rc));
	free(error);
	return rc;
}

int registry_open_file(const struct config *cfg, const char *path, int *fd)
{
	return open_checked(path, 0, cfg->plugin_strict_modes, "plugin ", fd);
}

/* NAME.so, and NAME.py for the Python host (exec/pyplugin.h). */
static bool is_plugin_file(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 3 &&
	       (!strcmp(name + n - 3, ".so") || pyplugin_is_python(name));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int registry_scan_dir(const char *dir, bool strict, char ***paths,
                      size_t *n_paths)
{
	size_t first = *n_paths;
	struct dirent *e;
	char **grown;
	DIR *d;
	int fd, rc;

	/* The listing comes from the directory that was checked. */
	rc = open_checked(dir, TRUSTED_DIRECTORY, strict, "plugin_dirs: ", &fd);
	if (rc < 0)
		return rc == -EPERM ? rc : 0; /* a missing one is not fatal */
	d = fdopendir(fd);
	if (!d) {
		log_warning("plugin_dirs: %s: %s", dir, strerror(errno));
		close(fd);
		return 0;
	}
	while ((e = readdir(d))) {
		if (!is_plugin_file(e->d_name))
			continue;
		grown = realloc(*paths, (*n_paths + 1) * sizeof(*grown));
		if (!grown)
			break;
		*paths = grown;
		if (asprintf(&grown[*n_paths], "%s/%s", dir, e->d_name) >= 0)
			(*n_paths)++;
	}
	closedir(d);
	if (*n_paths > first)
		qsort(*paths + first, *n_paths - first, sizeof(**paths),
		      cmp_str);
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

/* Loads and starts the plugin file open on fd (taken over), which the
 * trust step opened from path. */
static struct plugin *load_fd(struct registry *reg, const struct config *cfg,
                              const char *path, int fd)
{
	struct config_plugin defaults;
	const struct config_plugin *section;
	struct config_plugin eff;
	struct plugin *p = NULL;
	char *why = NULL;

	if (plugin_open(&reg->files, path, fd, &p, &why) < 0) {
		log_error("plugin %s: %s; skipped", path,
		          why ? why : "out of memory");
		goto fail;
	}
	section = section_for(cfg, plugin_name(p), &defaults);
	atomic_store(&p->max_frame_size, cfg->limits.max_frame_size);
	atomic_store(&p->max_array_bytes, cfg->limits.max_array_bytes);
	/* A section that does not say takes the top-level isolation. */
	eff = *section;
	if (eff.isolation == CONFIG_ISOLATION_UNSET)
		eff.isolation = cfg->isolation;
	if (plugin_start(p, &eff, 0, reg->done, &why) < 0) {
		log_error("plugin %s (%s): %s; skipped", path, plugin_name(p),
		          why);
		goto fail;
	}
	if (section->cache_max_bytes) {
		char dir[4096];

		snprintf(dir, sizeof(dir), "%s/cache/%s", cfg->state_dir,
		         plugin_name(p));
		if (plugin_set_cache(p, dir, section->cache_max_bytes, &why) <
		    0) {
			/* Running uncached is safe; only slower. */
			log_warning("plugin %s: %s; running without a cache",
			            plugin_name(p), why);
			free(why);
			why = NULL;
		}
	}
	log_info("plugin %s %s loaded from %s (%u %s)", plugin_name(p),
	         p->desc->version ? p->desc->version : "", path,
	         section->workers,
	         p->process ? "worker processes" : "worker threads");
	free(why);
	return p;
fail:
	free(why);
	plugin_unref(p);
	return NULL;
}

/* A NAME.py, open on fd (taken over) after the same trust step as a .so:
 * served by jobd-worker's Python host, in worker processes only
 * (docs/python-plugins.md). */
static struct plugin *load_python(const struct config *cfg, const char *path,
                                  int fd)
{
	struct config_plugin defaults;
	char name[65], *why;

	close(fd); /* the process pool is to pass it on as plugin_fd */
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
	int fd;

	if (registry_open_file(cfg, path, &fd) < 0)
		return NULL;
	if (pyplugin_is_python(path))
		return load_python(cfg, path, fd);
	return load_fd(reg, cfg, path, fd);
}

/* Every plugin file in cfg's plugin_dirs. Returns how many directories
 * were refused. */
static unsigned scan_all(const struct config *cfg, char ***paths, size_t *n)
{
	unsigned refused = 0;
	size_t i;

	for (i = 0; i < cfg->n_plugin_dirs; i++)
		if (registry_scan_dir(cfg->plugin_dirs[i],
		                      cfg->plugin_strict_modes, paths,
		                      n) == -EPERM)
			refused++;
	return refused;
}

unsigned registry_check(const struct config *cfg)
{
	char **paths = NULL;
	size_t n = 0, i;
	unsigned refused;
	int fd = -1;

	refused = scan_all(cfg, &paths, &n);
	for (i = 0; i < n; i++) {
		if (registry_open_file(cfg, paths[i], &fd) == -EPERM)
			refused++;
		else if (fd >= 0)
			close(fd);
		free(paths[i]);
	}
	free(paths);
	return refused;
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

static enum config_isolation isolation_of(const struct config *c,
                                          const struct config_plugin *s)
{
	return s && s->isolation != CONFIG_ISOLATION_UNSET ? s->isolation
	                                                   : c->isolation;
}

/* Whether the plugin can keep its running instance: the same options,
 * isolation and memory_limit (each needs a fresh start). */
static bool options_equal(const struct config *a, const struct config *b,
                          const char *name)
{
	const struct config_plugin *x = config_plugin_find(a, name);
	const struct config_plugin *y = config_plugin_find(b, name);
	const json_t *ox = x ? x->options : NULL, *oy = y ? y->options : NULL;

	if (isolation_of(a, x) != isolation_of(b, y) ||
	    (x ? x->memory_limit : 0) != (y ? y->memory_limit : 0))
		return false;
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
	atomic_store(&p->max_array_bytes, cfg->limits.max_array_bytes);
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
	int fd, rc;

	scan_all(cfg, &paths, &n_paths);
	keep = calloc(n_paths + 1, sizeof(*keep));
	for (i = 0; keep && i < n_paths; i++) {
		p = find_path(reg, paths[i]);
		/* The trust check holds at every reload as at start, for an
		 * unchanged file too: a file now writable by others may have
		 * changed the very pages its instance runs. A refused file
		 * (logged) takes its running instance away with it. */
		rc = registry_open_file(cfg, paths[i], &fd);
		if (rc == -EPERM)
			continue;
		if (rc == 0 && p && !plugin_file_changed(p, fd) &&
		    options_equal(old, cfg, plugin_name(p))) {
			close(fd);
			keep_running(p, cfg);
			keep[n_keep++] = plugin_ref(p);
			continue;
		}
		/* New, changed file, or new options: a fresh instance takes
		 * new calls; the old one finishes its jobs, then unloads. */
		q = rc == 0 ? load_fd(reg, cfg, paths[i], fd) : NULL;
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
