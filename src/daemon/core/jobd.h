/* SPDX-License-Identifier: MIT */
/*
 * The daemon's one context: the layers, each embedded, and the wiring
 * between them. Core is the top layer: it starts the others in order,
 * registers itself where they call up (the connection layer's ops, the
 * protocol's hooks), and owns signals, the watchdog, reload and shutdown.
 * There is no other global state.
 */
#ifndef JOBD_DAEMON_CORE_JOBD_H
#define JOBD_DAEMON_CORE_JOBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config/config.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/proto.h"
#include "daemon/util/cq.h"

struct event_base;
struct event;
struct notifier;

struct jobd {
	struct config *cfg;
	const char *config_path;
	int log_level_override; /* from --log-level, or -1 */

	struct event_base *base;
	struct cq done; /* completions from pools and the store */
	struct event *done_ev;
	struct event *signal_ev;
	int signal_fd;
	struct event *watchdog_ev;
	struct event *drain_ev;
	struct notifier *notifier; /* sd_notify, off the loop (notify.h) */

	struct registry plugins; /* exec: the plugins serving calls */
	struct net net;          /* net: connections and listeners */
	struct proto proto;      /* proto: what messages mean */

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

#endif
