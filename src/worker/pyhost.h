/* SPDX-License-Identifier: MIT */
/*
 * The Python host of jobd-worker: a plugin written in Python (a file
 * NAME.py, docs/python-plugins.md) served through the same descriptor as a
 * C plugin. pyhost_load() starts the worker's one interpreter, runs the
 * file, and returns a struct jobd_plugin whose init, process and destroy
 * call the module's init(options) and process(input, job[, state]); the
 * rest of the worker (protocol, host services, usage) does not know the
 * difference. One interpreter per worker process, so the GIL never
 * serialises two workers.
 *
 * Built only when Debian's python3-embed is found (meson prints which);
 * without it pyhost_load() refuses every .py plugin with that reason.
 */
#ifndef JOBD_WORKER_PYHOST_H
#define JOBD_WORKER_PYHOST_H

#include <stdbool.h>

#include <jobd/plugin.h>

/* True if path names a Python plugin (ends in ".py"). */
bool pyhost_is_python(const char *path);

/*
 * Loads the Python plugin at path, reading its source from descriptor fd
 * (the file the daemon opened) or from path when fd is -1. A syntax or
 * import error, a missing process() or a file name that is not a plugin
 * name refuses it: returns a negative errno with a malloc'd reason in
 * *why that names the file and line. Returns 0 with *desc (static, for the
 * life of the process). Once per process.
 */
int pyhost_load(const char *path, int fd, const struct jobd_plugin **desc,
                char **why);

#endif
