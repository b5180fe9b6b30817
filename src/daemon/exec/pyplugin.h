/* SPDX-License-Identifier: MIT */
/*
 * Plugins written in Python (docs/python-plugins.md): a file NAME.py in a
 * plugin directory is the plugin NAME, run by jobd-worker's Python host in
 * worker processes only. This is what the registry needs to know about
 * them: which paths they are, their names, and whether this jobd can
 * serve one. The daemon never runs Python itself. Pure, no I/O.
 */
#ifndef JOBD_DAEMON_EXEC_PYPLUGIN_H
#define JOBD_DAEMON_EXEC_PYPLUGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/config/config.h"

/* True if path names a Python plugin: it ends in ".py". */
bool pyplugin_is_python(const char *path);

/* The plugin's name from its file name (NAME.py) into name[size]: 0, or
 * -EINVAL when it is not 1-64 of [a-z0-9_-] (or does not fit). */
int pyplugin_name(const char *path, char *name, size_t size);

/*
 * Why the Python plugin name cannot be served with section (its config
 * section or the defaults): a malloc'd reason for the log, or NULL when
 * it can (or when out of memory: the caller says so). A Python plugin
 * runs only in worker processes: `isolation: thread` in its section is a
 * config error; and every Python plugin is refused until the process pool
 * opens a .py (docs/python-plugins.md, "Status").
 */
char *pyplugin_refusal(const char *name, const struct config_plugin *section);

#endif
