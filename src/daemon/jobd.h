/* SPDX-License-Identifier: MIT */
/*
 * The daemon's one context: everything the event loop owns. Passed down to
 * every module; there is no other global state.
 */
#ifndef JOBD_DAEMON_JOBD_H
#define JOBD_DAEMON_JOBD_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/cq.h"
#include "daemon/plugin.h"

struct event_base;
struct event;
struct plugin;
struct conn;
struct listener;
struct detached;

struct conn_table {
	struct conn **slots;
	uint32_t *gens; /* bumped when a slot is freed: stale refs miss */
	uint32_t n_slots;
	uint32_t *free_list; /* stack of free slot numbers */
	uint32_t n_free;
	uint32_t count; /* live connections */
};

struct jobd {
	struct config *cfg;
	const char *config_path;
	int log_level_override; /* from --log-level, or -1 */

	struct event_base *base;
	struct cq done;
	struct event *done_ev;
	struct event *signal_ev;
	int signal_fd;
	struct event *watchdog_ev;
	struct event *drain_ev;
	struct notifier *notifier; /* sd_notify, off the loop (notify.h) */

	struct detached *detached; /* detached jobs and the job store */

	struct plugin_files plugin_files; /* the .so files they came from */
	struct plugin **plugins;          /* registry: loaded and started */
	size_t n_plugins;

	struct listener *listeners; /* list */
	bool accept_paused;         /* out of fds or at max_connections */
	struct event *accept_retry_ev;
	int reserve_fd; /* kept open so EMFILE can still refuse cleanly */

	struct conn_table conns;
	const struct timeval *idle_tv; /* libevent common timeouts */
	const struct timeval *frame_tv;

	uint64_t started_ns;
	uint64_t input_reserved; /* frame bodies held, all connections */
	uint64_t input_queued;   /* request bytes of accepted calls */
	uint64_t conns_total;
	uint64_t conns_refused;

	bool draining;
	int exit_code;
};

/* Sets up everything from a loaded config (takes ownership of cfg): plugins,
 * pools, listeners (own or from sd_listen_fds), signals. Returns 0 or a
 * negative errno after logging why. */
int jobd_init(struct jobd *jd, struct config *cfg, const char *config_path,
              int log_level_override);

/* Runs the loop until shutdown completes. Returns the exit code. */
int jobd_run(struct jobd *jd);

void jobd_fini(struct jobd *jd);

/* Registry lookup by plugin name; NULL if none. */
struct plugin *jobd_find_plugin(struct jobd *jd, const char *name);

/* "echo, sleep, nbody": for error messages. Caller frees. */
char *jobd_plugin_names(struct jobd *jd);

/* Called by conn when a connection closes, so accepting can resume. */
void jobd_conn_closed(struct jobd *jd);

/* Registry helpers, shared with reload.c. */
int jobd_add_plugin(struct jobd *jd, struct plugin *p);
/* Appends DIR/NAME.so for every plugin file in dir, sorted by name. */
int jobd_scan_plugin_dir(const char *dir, char ***paths, size_t *n_paths);
/* Opens and starts the plugin at path with its section from cfg; NULL after
 * logging why. */
struct plugin *jobd_load_plugin(struct jobd *jd, const struct config *cfg,
                                const char *path);
/* Sets the libevent common timeouts from cfg's limits. */
void jobd_apply_timeouts(struct jobd *jd, const struct config *cfg);

/* While draining: exits the loop once no job is queued or running. */
void jobd_drain_check(struct jobd *jd);

/* One-line summary for STATUS= and logs. */
void jobd_status_line(struct jobd *jd, char *buf, size_t size);

#endif
