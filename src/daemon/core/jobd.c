/* SPDX-License-Identifier: MIT */
#include "daemon/core/jobd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/core/accounts.h"
#include "daemon/core/drain.h"
#include "daemon/core/signals.h"
#include "daemon/core/status.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/procpool.h"
#include "daemon/net/http.h"
#include "daemon/net/listener.h"
#include "daemon/proto/detached.h"
#include "daemon/proto/dispatch.h"
#include "daemon/util/log.h"
#include "daemon/util/notify.h"
#include "jobd-build.h"

/* At exit, how long stopped jobs may take to return before we leave their
 * plugin loaded rather than hang joining its workers. */
#define STOP_GRACE_MS 2000
/* How long the last notifications (STOPPING=1) may take at exit. */
#define NOTIFY_STOP_MS 1000

/* --- the wiring: where lower layers call up ------------------------------ */

static void on_session_opened(void *arg, struct session *s)
{
	struct jobd *jd = arg;

	proto_session_opened(&jd->proto, s);
}

static void on_message(void *arg, struct session *s, struct msg *m)
{
	struct jobd *jd = arg;

	dispatch_message(&jd->proto, s, m);
}

static void on_session_gone(void *arg, struct session *s)
{
	struct jobd *jd = arg;

	dispatch_session_gone(&jd->proto, s);
}

static void on_session_freed(void *arg)
{
	drain_session_freed(arg);
}

static const struct net_ops net_ops = {
        .opened = on_session_opened,
        .message = on_message,
        .gone = on_session_gone,
        .slot_freed = on_session_freed,
};

static void on_job_finished(void *arg)
{
	drain_check(arg);
}

static const struct proto_hooks proto_hooks = {
        .job_finished = on_job_finished,
};

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;

	cq_run(&jd->done);
}

/* --- life ---------------------------------------------------------------- */

int jobd_init(struct jobd *jd, struct config *cfg, const char *config_path,
              int log_level_override)
{
	struct event_config *ec;
	char addrs[512];
	int rc;

	memset(jd, 0, sizeof(*jd));
	jd->cfg = cfg;
	jd->config_path = config_path;
	jd->log_level_override = log_level_override;
	jd->signal_fd = -1;
	jd->net.reserve_fd = -1;
	jd->done.efd = -1;

	/* Only the loop thread touches libevent: no locking needed. */
	ec = event_config_new();
	if (!ec)
		return -ENOMEM;
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	jd->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!jd->base)
		return -ENOMEM;
	rc = net_init(&jd->net, jd->base, cfg);
	if (rc < 0)
		return rc;
	net_set_ops(&jd->net, &net_ops, jd);
	rc = notifier_start(&jd->notifier);
	if (rc < 0)
		return rc;

	rc = cq_init(&jd->done);
	if (rc < 0)
		return rc;
	jd->done_ev = event_new(jd->base, jd->done.efd, EV_READ | EV_PERSIST,
	                        done_cb, jd);
	if (!jd->done_ev || event_add(jd->done_ev, NULL) < 0)
		return -ENOMEM;
	registry_init(&jd->plugins, &jd->done);
	proto_init(&jd->proto, jd->base, &jd->net, &jd->plugins, &jd->done, cfg,
	           &proto_hooks, jd);

	rc = accounts_load(cfg, &jd->proto);
	if (rc < 0)
		return rc;
	rc = signals_start(jd);
	if (rc < 0)
		return rc;

	/* Worker processes join this loop; spawned from this thread, which
	 * lives as long as the daemon (their PDEATHSIG follows it). */
	procpool_setup(jd->base, cfg->state_dir);
	registry_load_all(&jd->plugins, cfg);
	/* The store before the listeners: a bad state_dir stops us here,
	 * and recovered jobs are queued before any new call. */
	rc = detached_init(&jd->proto);
	if (rc < 0)
		return rc;
	rc = listeners_open(&jd->net, cfg, config_path);
	if (rc < 0)
		return rc;
	rc = http_open(&jd->net, cfg);
	if (rc < 0)
		return rc;
	rc = status_watchdog_start(jd);
	if (rc < 0)
		return rc;
	listeners_describe(&jd->net, addrs, sizeof(addrs));
	log_notice("jobd %s ready on %s%s%s with %zu plugin(s)", JOBD_VERSION,
	           addrs, *http_describe(&jd->net) ? "," : "",
	           http_describe(&jd->net), jd->plugins.n_plugins);
	/* Only now: the listeners are bound and the plugins loaded. */
	notifier_send(jd->notifier, "READY=1");
	status_notify(jd);
	return 0;
}

int jobd_run(struct jobd *jd)
{
	event_base_dispatch(jd->base);
	return jd->exit_code;
}

/* Jobs told to stop (shutdown_timeout) usually return within a few
 * milliseconds; give them a moment before calling a plugin stuck. True if
 * some plugin still has jobs running. */
static bool wait_for_pools(struct jobd *jd)
{
	struct registry *reg = &jd->plugins;
	unsigned waited;
	bool stuck = false;
	size_t i;

	for (waited = 0; waited < STOP_GRACE_MS; waited += 10) {
		if (!registry_pending(reg))
			break;
		usleep(10 * 1000);
	}
	for (i = 0; i < reg->n_plugins; i++) {
		if (pool_pending(reg->plugins[i]->pool)) {
			log_warning("plugin %s still has jobs running; exiting "
			            "without unloading it",
			            plugin_name(reg->plugins[i]));
			stuck = true;
		}
	}
	return stuck;
}

void jobd_fini(struct jobd *jd)
{
	size_t i;

	/* STOPPING=1 went out when the drain began; give the manager a
	 * moment to take it, but never hang on a socket nobody reads. */
	notifier_stop(jd->notifier, NOTIFY_STOP_MS);
	jd->notifier = NULL;
	listeners_close(&jd->net);
	proto_abandon_sessions(&jd->proto);
	http_free(&jd->net); /* its requests tell proto they are gone */
	if (wait_for_pools(jd)) {
		detached_flush(&jd->proto); /* commit what the store holds */
		return; /* joining would hang: the process ends anyway */
	}
	for (i = 0; i < jd->plugins.n_plugins; i++)
		pool_stop(jd->plugins.plugins[i]->pool);
	/* Completions that came back after the loop stopped. */
	cq_run(&jd->done);
	detached_fini(&jd->proto);
	proto_fini(&jd->proto);
	registry_fini(&jd->plugins);
	net_fini(&jd->net);
	if (jd->watchdog_ev)
		event_free(jd->watchdog_ev);
	if (jd->drain_ev)
		event_free(jd->drain_ev);
	signals_stop(jd);
	if (jd->done_ev)
		event_free(jd->done_ev);
	if (jd->done.efd >= 0)
		cq_fini(&jd->done);
	if (jd->base)
		event_base_free(jd->base);
	config_free(jd->cfg);
}
