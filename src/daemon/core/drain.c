/* SPDX-License-Identifier: MIT */
#include "daemon/core/drain.h"

#include <event2/event.h>

#include "daemon/core/jobd.h"
#include "daemon/core/status.h"
#include "daemon/net/listener.h"
#include "daemon/util/log.h"
#include "daemon/util/notify.h"

/* A finished drain waits this long for answers to reach slow readers. */
#define FLUSH_GRACE_SEC 2

static void close_gracefully(struct session *s, void *arg)
{
	session_close(s, JOBD_OK, NULL);
}

static void flush_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(((struct jobd *)arg)->base, NULL);
}

/* Every job is done: let the answers reach the clients, then stop. */
static void drain_finish(struct jobd *jd)
{
	struct timeval grace = {FLUSH_GRACE_SEC, 0};

	if (jd->drain_ev)
		event_free(jd->drain_ev);
	jd->drain_ev = evtimer_new(jd->base, flush_timeout_cb, jd);
	session_foreach(&jd->net.sessions, close_gracefully, NULL);
	if (!net_count(&jd->net))
		event_base_loopexit(jd->base, NULL);
	else if (jd->drain_ev)
		evtimer_add(jd->drain_ev, &grace);
}

void drain_check(struct jobd *jd)
{
	if (registry_pending(&jd->plugins))
		return;
	log_info("all jobs finished");
	drain_finish(jd);
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;

	log_warning("shutdown_timeout passed: failing what is left");
	proto_fail_queued(&jd->proto);
	proto_fail_running(&jd->proto);
	drain_finish(jd);
}

void drain_begin(struct jobd *jd)
{
	struct timeval tv;
	uint64_t ms = jd->cfg->limits.shutdown_timeout_ms;

	jd->draining = true;
	jd->net.refusing = true;
	proto_begin_drain(&jd->proto);
	notifier_send(jd->notifier, "STOPPING=1");
	log_notice("shutting down: no new calls; waiting up to %llu ms for "
	           "running jobs",
	           (unsigned long long)ms);
	listeners_close(&jd->net);
	status_notify(jd);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	jd->drain_ev = evtimer_new(jd->base, drain_timeout_cb, jd);
	if (jd->drain_ev)
		evtimer_add(jd->drain_ev, &tv);
	drain_check(jd);
}

void drain_session_freed(struct jobd *jd)
{
	if (jd->draining && !net_count(&jd->net) && jd->drain_ev &&
	    event_get_callback(jd->drain_ev) == flush_timeout_cb)
		event_base_loopexit(jd->base, NULL);
	else
		listeners_resume(&jd->net);
}
