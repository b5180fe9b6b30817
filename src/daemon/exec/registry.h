/* SPDX-License-Identifier: MIT */
/*
 * The plugin registry: which plugins serve calls, by name, and the .so
 * files they came from. One home for finding, adding, scanning the plugin
 * directories, loading and reloading, so that start-up and SIGHUP apply the
 * same rules (one name, one plugin; a failed replacement keeps the running
 * one). Loop thread.
 */
#ifndef JOBD_DAEMON_EXEC_REGISTRY_H
#define JOBD_DAEMON_EXEC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config/config.h"
#include "daemon/exec/plugin.h"
#include "daemon/util/cq.h"

struct registry {
	struct plugin_files files; /* the .so files, shared by instances */
	struct plugin **plugins;   /* loaded and started; one reference each */
	size_t n_plugins;
	struct cq *done; /* where every pool reports; borrowed */
};

/* done is borrowed for the registry's life. */
void registry_init(struct registry *reg, struct cq *done);

/* Drops the registry's reference on every plugin (a plugin unloads when
 * its last job has come back too). */
void registry_fini(struct registry *reg);

/* The plugin serving name, or NULL. */
struct plugin *registry_find(const struct registry *reg, const char *name);

/* "echo, sleep, nbody": for error messages. Caller frees; NULL without
 * memory. */
char *registry_names(const struct registry *reg);

/* Takes over the reference on p. 0, -EEXIST when the name is taken (logged
 * with both paths; p is then the caller's), or -ENOMEM. */
int registry_add(struct registry *reg, struct plugin *p);

/*
 * The trust step, the first step of loading any plugin file, whatever its
 * kind (a .so today, NAME.py later): opens path through trusted_open()
 * (docs/security.md, "Trusted files": the file and every directory above
 * it owned by root or by us, writable by no one else). The loader then
 * reads only *fd (the caller's), so the file checked is the file loaded.
 * A refusal is logged with the file, its owner and mode and the command
 * that fixes it, and returns -EPERM; with cfg->plugin_strict_modes false
 * it is logged as a warning and the file is opened anyway. Other errors
 * (-ENOENT, ...) are logged too.
 */
int registry_open_file(const struct config *cfg, const char *path, int *fd);

/* Appends DIR/NAME.so and DIR/NAME.py (a Python plugin, exec/pyplugin.h)
 * for every plugin file in dir, sorted by name. The directory goes through
 * the trust check first and is listed through the descriptor checked: a
 * refused one (logged) lists nothing and returns -EPERM, unless strict is
 * false (a warning). A missing directory is logged, not an error. */
int registry_scan_dir(const char *dir, bool strict, char ***paths,
                      size_t *n_paths);

/* Opens (through registry_open_file) and starts the plugin at path with
 * its section from cfg. Returns the started plugin (one reference, the
 * caller's) or NULL after logging why. */
struct plugin *registry_load(struct registry *reg, const struct config *cfg,
                             const char *path);

/* jobd --check-config: what a start would check, without loading a
 * plugin: every plugin directory and plugin file of cfg through the
 * trust step, each problem logged as a start would log it. Returns how
 * many were refused (with plugin_strict_modes false, only what is not a
 * regular file or directory at all). */
unsigned registry_check(const struct config *cfg);

/* Start-up: loads every plugin in cfg's plugin_dirs. */
void registry_load_all(struct registry *reg, const struct config *cfg);

/* SIGHUP: rescans with cfg; every file goes through the trust step again.
 * Unchanged plugins keep running with their new section applied; new,
 * changed or re-optioned ones get a fresh instance (the old one finishes
 * its jobs); removed ones, and those whose file is now refused, unload
 * once idle. old is the config in force until now. */
void registry_reload(struct registry *reg, const struct config *old,
                     const struct config *cfg);

/* Jobs queued or running in every pool. */
uint32_t registry_pending(const struct registry *reg);

#endif
