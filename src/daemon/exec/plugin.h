/* SPDX-License-Identifier: MIT */
/*
 * A loaded plugin: the shared object, its descriptor, its state, the host
 * table handed to it, and its worker pool. Reference-counted: the registry
 * holds one reference and every job one more, so a plugin removed by a
 * reload is unloaded only after its last job has come back.
 */
#ifndef JOBD_DAEMON_PLUGIN_H
#define JOBD_DAEMON_PLUGIN_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include <jobd/plugin.h>

#include "daemon/config/config.h"
#include "daemon/util/cq.h"
#include "daemon/exec/pool.h"

struct plugin;
struct plugin_files;

/* The table a plugin sees, followed by what the daemon needs to find the
 * plugin again from a host pointer. */
struct plugin_host {
	struct jobd_host pub;
	struct plugin *plugin;
	char *init_fail; /* message set by fail(NULL, ...) during init */
};

struct plugin {
	atomic_int refs;
	char *path;
	void *dl;
	const struct jobd_plugin *desc;
	void *state;
	struct plugin_host host;
	struct pool *pool;
	struct cq *done; /* where the pool and progress notes report */
	bool started;    /* init succeeded: destroy must run */
	bool process;    /* isolation: process (pool is a process pool) */

	/* From the plugin's config section (or defaults). */
	uint64_t timeout_ms;
	/* limits.max_frame_size: an answer larger than a client may accept
	 * is refused on the worker. Set by the loop, read by workers. */
	atomic_uint max_frame_size;
	/* limits.max_array_bytes: bounds a result's output arrays. Set by
	 * the loop, read by workers. */
	atomic_uint_fast64_t max_array_bytes;
	unsigned max_attempts;

	/* The file as loaded, to see whether a reload must replace it. */
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	char sha256[65];   /* hex digest of the .so, for provenance */
	char *prov_static; /* provenance members common to all its jobs */
	/* The options init() was given (a reference; an empty object when
	 * the config has none): recorded in provenance. */
	json_t *options;
	char options_sha256[65]; /* of their canonical text */
	/* The result cache (cache.h), NULL for none. Set once before the
	 * first job; its own lock serves the workers. */
	struct result_cache *cache;

	/* The loaded object, shared with other instances of the same file. */
	struct plugin_file *file;
};

/*
 * A .so as loaded: one per file, shared by every plugin instance made from
 * it (a reload that changes only a plugin's options starts a second
 * instance of the same file while the first finishes its jobs). It is
 * dlopen()ed as /proc/self/fd/<fd> of a descriptor held here: see
 * plugin_open. Loop thread only.
 */
struct plugin_file {
	struct plugin_file *next;
	struct plugin_files *owner;
	unsigned refs;
	int fd;
	char dl_name[32];
	void *dl;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	char sha256[65];
};

/* The loaded files, kept in the daemon's context. */
struct plugin_files {
	struct plugin_file *head;
};

/*
 * Loads the .so open on fd (read-only; plugin_open takes it over, whatever
 * happens), the file the registry's trust check opened from path: it is
 * dlopen()ed with RTLD_NOW | RTLD_LOCAL as /proc/self/fd/N, never by
 * path. Finds the entry symbol and checks the descriptor (ABI major,
 * size, name, process). Does not call init. path is for messages and
 * reloads. Returns 0 and a plugin with one reference, or a negative errno
 * with a malloc'd reason in *why (caller frees; may be NULL after
 * -ENOMEM).
 */
int plugin_open(struct plugin_files *files, const char *path, int fd,
                struct plugin **out, char **why);

/* Calls init with the section's options and starts the pool, whose
 * completions go to done. On failure *why says why (caller frees). */
/*
 * Gives a started plugin its result cache in dir (plugins.NAME.cache,
 * cache.h). Only a retry-safe plugin may have one: for another the cache
 * is refused with a warning. Returns 0 or a negative errno with *why.
 */
int plugin_set_cache(struct plugin *p, const char *dir, uint64_t max_bytes,
                     char **why);

int plugin_start(struct plugin *p, const struct config_plugin *section,
                 uint64_t target_delay_ms, struct cq *done, char **why);

/* Applies a changed section to a running plugin (workers, bound, timeout);
 * options need a restart of the plugin and are not applied here. */
int plugin_reconfigure(struct plugin *p, const struct config_plugin *section);

/* The parts of a run around process(), shared by the thread pool and the
 * process pool (exec/procpool.c). begin: JOBD_OK when the job may run (a
 * detached job's start is recorded in the store first), else the code it
 * ends with. end: fills j->status and encodes the answer frame from rc and
 * output (taken); ran says process() ran (provenance), daemon_code that rc
 * is the daemon's verdict (plugin_crashed, out_of_memory, ...), not a code
 * the plugin returned. */
int plugin_job_begin(struct plugin *p, struct job *j);
void plugin_job_end(struct plugin *p, struct job *j, int rc, json_t *output,
                    bool ran, bool daemon_code);

struct plugin *plugin_ref(struct plugin *p);

/* Loop thread. Dropping the last reference stops the pool (its workers
 * finish, worker_fini runs), calls destroy, and dlclose()s. NULL is ok. */
void plugin_unref(struct plugin *p);

const char *plugin_name(const struct plugin *p);

/* True if the file open on fd (borrowed) is not the one p was loaded
 * from. */
bool plugin_file_changed(const struct plugin *p, int fd);

#endif
