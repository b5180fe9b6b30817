/* SPDX-License-Identifier: MIT */
#include "daemon/core/status.h"

#include <errno.h>
#include <stdio.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h> /* sd_watchdog_enabled */

#include "daemon/core/jobd.h"
#include "daemon/exec/pool.h"
#include "daemon/util/log.h"
#include "daemon/util/notify.h"

void status_line(struct jobd *jd, char *buf, size_t size)
{
	uint32_t queued = 0, running = 0;
	struct pool_stats s;
	size_t i;

	for (i = 0; i < jd->plugins.n_plugins; i++) {
		pool_get_stats(jd->plugins.plugins[i]->pool, &s);
		queued += s.queued;
		running += s.running;
	}
	snprintf(buf, size,
	         "%s%zu plugins, %u connections, %u running, %u queued",
	         jd->draining ? "draining: " : "", jd->plugins.n_plugins,
	         net_count(&jd->net), running, queued);
}

void status_notify(struct jobd *jd)
{
	char line[256];

	status_line(jd, line, sizeof(line));
	notifier_sendf(jd->notifier, "STATUS=%s", line);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobd *jd = arg;
	char line[256];

	/* Queued from the loop: if the loop is stuck, pings stop and systemd
	 * restarts us, which is the point. The status rides along. */
	status_line(jd, line, sizeof(line));
	notifier_sendf(jd->notifier, "WATCHDOG=1\nSTATUS=%s", line);
}

int status_watchdog_start(struct jobd *jd)
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
