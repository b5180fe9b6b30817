/* SPDX-License-Identifier: MIT */
/*
 * Loading a plugin in the worker: dlopen(RTLD_NOW | RTLD_LOCAL), the entry
 * symbol, and the descriptor checks that the daemon's loader makes
 * (src/daemon/plugin.c plugin_open): ABI major, descriptor size, name,
 * process. The same reasons in the same words, so a plugin refused in
 * either isolation mode is refused alike.
 */
#ifndef JOBD_WORKER_PLUGIN_LOAD_H
#define JOBD_WORKER_PLUGIN_LOAD_H

#include <stdbool.h>

#include <jobd/plugin.h>

/* Checks a descriptor. Returns 0, or -EINVAL with a malloc'd reason in
 * *why (caller frees). Pure. */
int plugin_desc_check(const struct jobd_plugin *d, char **why);

/* True if s is a valid plugin name: 1-64 of [a-z0-9_-]. */
bool plugin_name_ok(const char *s);

/*
 * Loads the plugin from descriptor fd (open on the .so; dlopen()ed as
 * /proc/self/fd/N, so the worker runs exactly the file the daemon opened
 * and hashed even if the path was replaced since), or from path when fd is
 * -1. Returns 0 with *dl and *desc, or a negative errno with a malloc'd
 * reason in *why.
 */
int plugin_load(const char *path, int fd, void **dl,
                const struct jobd_plugin **desc, char **why);

#endif
