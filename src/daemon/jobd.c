/* SPDX-License-Identifier: MIT */
#include "daemon/jobd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h> /* sd_watchdog_enabled */

#include "daemon/conn.h"
#include "daemon/detached.h"
#include "daemon/dispatch.h"
#include "daemon/job.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/plugin.h"
#include "daemon/pool.h"
#include "daemon/reload.h"
#include "daemon/server.h"
#include "jobd-build.h"

/* A finished drain waits this long for answers to reach slow readers. */
#define FLUSH_GRACE_SEC 2
/* At exit, how long stopped jobs may take to return before we leave their
 * plugin loaded rather than hang joining its workers. */
#define STOP_GRACE_MS 2000
/* How long the last notifications (STOPPING=1) may take at exit. */
#define NOTIFY_STOP_MS 1000

/* --- plugins ------------------------------------------------------------- */

struct plugin *jobd_find_plugin(struct jobd *jd, const char *name)
{
	size_t i;

	for (i = 0; i < jd->n_plugins; i++)
		if (!strcmp(plugin_name(jd->plugins[i]), name))
			return jd->plugins[i];
	return NULL;
}

char *jobd_plugin_names(struct jobd *jd)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < jd->n_plugins; i++)
		len += strlen(plugin_name(jd->plugins[i])) + 2;
	s = calloc(1, len);
	for (i = 0; s && i < jd->n_plugins; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, plugin_name(jd->plugins[i]));
	}
	return s;
}

int jobd_add_plugin(struct jobd *jd, struct plugin *p)
{
	struct plugin **grown;

	grown = realloc(jd->plugins, (jd->n_plugins + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	jd->plugins = grown;
	jd->plugins[jd->n_plugins++] = p;
	return 0;
}

static int so_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 3 &&
	       !strcmp(d->d_name + n - 3, ".so");
}

int jobd_scan_plugin_dir(const char *dir, char ***paths, size_t *n_paths)
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

/* Opens and starts the plugin at path with its section from cfg. Returns the
 * started plugin or NULL after logging why. */
struct plugin *jobd_load_plugin(struct jobd *jd, const struct config *cfg,
                                const char *path)
{
	struct config_plugin defaults;
	const struct config_plugin *section;
	struct plugin *p = NULL;
	char *why = NULL;

	if (plugin_open(&jd->plugin_files, path, &p, &why) < 0) {
		log_error("plugin %s: %s; skipped", path, why);
		goto fail;
	}
	section = config_plugin_find(cfg, plugin_name(p));
	if (!section) {
		config_plugin_defaults(&defaults);
		section = &defaults;
	}
	atomic_store(&p->max_frame_size, cfg->limits.max_frame_size);
	if (plugin_start(p, section, 0, &jd->done, &why) < 0) {
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

static void jobd_load_plugins(struct jobd *jd)
{
	char **paths = NULL;
	size_t n = 0, i;
	struct plugin *p;

	for (i = 0; i < jd->cfg->n_plugin_dirs; i++)
		jobd_scan_plugin_dir(jd->cfg->plugin_dirs[i], &paths, &n);
	for (i = 0; i < n; i++) {
		p = jobd_load_plugin(jd, jd->cfg, paths[i]);
		if (p && jobd_find_plugin(jd, plugin_name(p))) {
			log_error("plugin %s: name \"%s\" is already taken by "
			          "%s; skipped",
			          paths[i], plugin_name(p),
			          jobd_find_plugin(jd, plugin_name(p))->path);
			plugin_unref(p);
		} else if (p && jobd_add_plugin(jd, p) < 0) {
			plugin_unref(p);
		}
		free(paths[i]);
	}
	free(paths);
	for (i = 0; i < jd->cfg->n_plugins; i++)
		if (!jobd_find_plugin(jd, jd->cfg->plugins[i].name))
			log_warning("plugins.%s: configured, but no such "
			            "plugin was loaded",
			            jd->cfg->plugins[i].name);
}

/* --- status and systemd -------------------------------------------------- */

void jobd_status_line(struct jobd *jd, char *buf, size_t size)
{
	uint32_t queued = 0, running = 0;
	struct pool_stats s;
	size_t i;

	for (i = 0; i < jd->n_plugins; i++) {
		pool_get_stats(jd->plugins[i]->pool, &s);
		queued += s.queued;
		running += s.running;
	}
	snprintf(buf, size,
	         "%s%zu plugins, %u connections, %u running, %u queued",
	         jd->draining ? "draining: " : "", jd->n_plugins,
	         jd->conns.count, running, queued);
}

static void jobd_notify_status(struct jobd *jd)
{
	char line[256];

	jobd_status_line(jd, line, sizeof(line));
	notifier_sendf(jd->notifier, "STATUS=%s", line);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;
	char line[256];

	/* Queued from the loop: if the loop is stuck, pings stop and systemd
	 * restarts us, which is the point. The status rides along. */
	jobd_status_line(jd, line, sizeof(line));
	notifier_sendf(jd->notifier, "WATCHDOG=1\nSTATUS=%s", line);
}

static int jobd_watchdog_start(struct jobd *jd)
{
	uint64_t usec = 0;
	struct timeval tv;

	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return 0;
	usec /= 2; /* ping at half the interval, as sd_watchdog_enabled(3) asks
	            */
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	jd->watchdog_ev = event_new(jd->base, -1, EV_PERSIST, watchdog_cb, jd);
	if (!jd->watchdog_ev)
		return -ENOMEM;
	log_info("watchdog: pinging every %llu ms",
	         (unsigned long long)(usec / 1000));
	return event_add(jd->watchdog_ev, &tv);
}

/* --- shutdown ------------------------------------------------------------ */

static void fail_running(struct conn *c, void *arg)
{
	struct job *j, *next;

	for (j = c->inflight; j; j = next) {
		next = j->c_next;
		atomic_store(&j->stop_reason, JOBD_E_SHUTTING_DOWN);
		conn_send_error(c, true, j->req_id, JOBD_E_SHUTTING_DOWN,
		                "jobd stopped before the job finished");
		j->answered = true;
		conn_untrack_job(c, j);
	}
}

static void close_gracefully(struct conn *c, void *arg)
{
	conn_close(c, JOBD_OK, NULL);
}

static void flush_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(((struct jobd *)arg)->base, NULL);
}

/* Every job is done: let the answers reach the clients, then stop. */
static void jobd_finish(struct jobd *jd)
{
	struct timeval grace = {FLUSH_GRACE_SEC, 0};

	if (jd->drain_ev)
		event_free(jd->drain_ev);
	jd->drain_ev = evtimer_new(jd->base, flush_timeout_cb, jd);
	conn_foreach(jd, close_gracefully, NULL);
	if (!jd->conns.count)
		event_base_loopexit(jd->base, NULL);
	else if (jd->drain_ev)
		evtimer_add(jd->drain_ev, &grace);
}

void jobd_drain_check(struct jobd *jd)
{
	size_t i;

	for (i = 0; i < jd->n_plugins; i++)
		if (pool_pending(jd->plugins[i]->pool))
			return;
	log_info("all jobs finished");
	jobd_finish(jd);
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;
	size_t i;

	log_warning("shutdown_timeout passed: failing what is left");
	detached_stop_running(jd); /* they stay `running` in the store */
	for (i = 0; i < jd->n_plugins; i++)
		pool_drain_queue(jd->plugins[i]->pool, dispatch_fail_queued,
		                 jd);
	conn_foreach(jd, fail_running, NULL);
	jobd_finish(jd);
}

static void jobd_begin_drain(struct jobd *jd)
{
	struct timeval tv;
	uint64_t ms = jd->cfg->limits.shutdown_timeout_ms;

	jd->draining = true;
	/* Queued detached jobs wait in the store for the next start. */
	detached_drain(jd);
	notifier_send(jd->notifier, "STOPPING=1");
	log_notice("shutting down: no new calls; waiting up to %llu ms for "
	           "running jobs",
	           (unsigned long long)ms);
	server_close(jd);
	jobd_notify_status(jd);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	jd->drain_ev = evtimer_new(jd->base, drain_timeout_cb, jd);
	if (jd->drain_ev)
		evtimer_add(jd->drain_ev, &tv);
	jobd_drain_check(jd);
}

void jobd_conn_closed(struct jobd *jd)
{
	if (jd->draining && !jd->conns.count && jd->drain_ev &&
	    event_get_callback(jd->drain_ev) == flush_timeout_cb)
		event_base_loopexit(jd->base, NULL);
	else
		server_resume(jd);
}

static void signal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (jd->draining) {
				log_notice("second %s: exiting at once",
				           strsignal((int)si.ssi_signo));
				_exit(0);
			}
			jobd_begin_drain(jd);
			break;
		case SIGHUP:
			if (!jd->draining)
				jobd_reload(jd);
			break;
		}
	}
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;
	struct cq_item *item, *next;

	for (item = cq_take_all(&jd->done); item; item = next) {
		next = item->next;
		dispatch_completion(jd, item);
	}
}

/* --- life ---------------------------------------------------------------- */

static const struct timeval *common_timeout(struct jobd *jd, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
	                     (suseconds_t)(ms % 1000) * 1000};

	/* Thousands of connections share one duration: libevent then keeps
	 * them in a queue instead of its heap, O(1) per re-arm. */
	return ms ? event_base_init_common_timeout(jd->base, &tv) : NULL;
}

void jobd_apply_timeouts(struct jobd *jd, const struct config *cfg)
{
	jd->idle_tv = common_timeout(jd, cfg->limits.idle_timeout_ms);
	jd->frame_tv = common_timeout(jd, cfg->limits.frame_timeout_ms);
}

int jobd_init(struct jobd *jd, struct config *cfg, const char *config_path,
              int log_level_override)
{
	struct event_config *ec;
	sigset_t mask;
	char addrs[512];
	int rc;

	memset(jd, 0, sizeof(*jd));
	jd->cfg = cfg;
	jd->config_path = config_path;
	jd->log_level_override = log_level_override;
	jd->signal_fd = -1;
	jd->reserve_fd = -1;
	jd->done.efd = -1;
	jd->started_ns = monotonic_ns();

	/* Only the loop thread touches libevent: no locking needed. */
	ec = event_config_new();
	if (!ec)
		return -ENOMEM;
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	jd->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!jd->base)
		return -ENOMEM;
	jobd_apply_timeouts(jd, cfg);
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

	/* The signals were blocked in main() before any thread started. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	jd->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (jd->signal_fd < 0)
		return -errno;
	jd->signal_ev = event_new(jd->base, jd->signal_fd, EV_READ | EV_PERSIST,
	                          signal_cb, jd);
	if (!jd->signal_ev || event_add(jd->signal_ev, NULL) < 0)
		return -ENOMEM;

	rc = conn_table_init(jd, cfg->limits.max_connections);
	if (rc < 0)
		return rc;
	jobd_load_plugins(jd);
	/* The store before the listeners: a bad state_dir stops us here,
	 * and recovered jobs are queued before any new call. */
	rc = detached_init(jd);
	if (rc < 0)
		return rc;
	jd->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	rc = server_listen(jd);
	if (rc < 0)
		return rc;
	rc = jobd_watchdog_start(jd);
	if (rc < 0)
		return rc;
	server_describe(jd, addrs, sizeof(addrs));
	log_notice("jobd %s ready on %s with %zu plugin(s)", JOBD_VERSION,
	           addrs, jd->n_plugins);
	/* Only now: the listeners are bound and the plugins loaded. */
	notifier_send(jd->notifier, "READY=1");
	jobd_notify_status(jd);
	return 0;
}

int jobd_run(struct jobd *jd)
{
	event_base_dispatch(jd->base);
	return jd->exit_code;
}

static void abort_conn(struct conn *c, void *arg)
{
	dispatch_conn_gone(c);
}

static void destroy_conn(struct conn *c, void *arg)
{
	conn_destroy(c);
}

void jobd_fini(struct jobd *jd)
{
	struct cq_item *item, *next;
	size_t i;
	unsigned waited;
	bool stuck = false;

	/* STOPPING=1 went out when the drain began; give the manager a
	 * moment to take it, but never hang on a socket nobody reads. */
	notifier_stop(jd->notifier, NOTIFY_STOP_MS);
	jd->notifier = NULL;
	server_close(jd);
	if (jd->base)
		conn_foreach(jd, abort_conn, NULL);
	detached_drain(jd);
	/* Jobs told to stop (shutdown_timeout) usually return within a few
	 * milliseconds; give them a moment before calling a plugin stuck. */
	for (waited = 0; waited < STOP_GRACE_MS; waited += 10) {
		for (i = 0; i < jd->n_plugins; i++)
			if (pool_pending(jd->plugins[i]->pool))
				break;
		if (i == jd->n_plugins)
			break;
		usleep(10 * 1000);
	}
	for (i = 0; i < jd->n_plugins; i++) {
		if (pool_pending(jd->plugins[i]->pool)) {
			log_warning("plugin %s still has jobs running; exiting "
			            "without unloading it",
			            plugin_name(jd->plugins[i]));
			stuck = true;
		}
	}
	if (stuck) {
		detached_flush(jd); /* commit what the store holds */
		return; /* joining would hang: the process ends anyway */
	}
	for (i = 0; i < jd->n_plugins; i++)
		pool_stop(jd->plugins[i]->pool);
	/* Completions that came back after the loop stopped. */
	if (jd->done.efd >= 0)
		for (item = cq_take_all(&jd->done); item; item = next) {
			next = item->next;
			dispatch_completion(jd, item);
		}
	detached_fini(jd);
	for (i = 0; i < jd->n_plugins; i++)
		plugin_unref(jd->plugins[i]);
	free(jd->plugins);
	jd->plugins = NULL;
	jd->n_plugins = 0;
	if (jd->conns.slots)
		conn_foreach(jd, destroy_conn, NULL);
	conn_table_fini(jd);
	if (jd->watchdog_ev)
		event_free(jd->watchdog_ev);
	if (jd->drain_ev)
		event_free(jd->drain_ev);
	if (jd->signal_ev)
		event_free(jd->signal_ev);
	if (jd->signal_fd >= 0)
		close(jd->signal_fd);
	if (jd->done_ev)
		event_free(jd->done_ev);
	if (jd->done.efd >= 0)
		cq_fini(&jd->done);
	if (jd->reserve_fd >= 0)
		close(jd->reserve_fd);
	if (jd->base)
		event_base_free(jd->base);
	config_free(jd->cfg);
}
