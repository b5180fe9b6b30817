/* SPDX-License-Identifier: MIT */
#include "daemon/core/signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/core/drain.h"
#include "daemon/core/jobd.h"
#include "daemon/core/reload.h"
#include "daemon/util/log.h"

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
			drain_begin(jd);
			break;
		case SIGHUP:
			if (!jd->draining)
				reload_config(jd);
			break;
		}
	}
}

int signals_start(struct jobd *jd)
{
	sigset_t mask;

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
	return 0;
}

void signals_stop(struct jobd *jd)
{
	if (jd->signal_ev)
		event_free(jd->signal_ev);
	jd->signal_ev = NULL;
	if (jd->signal_fd >= 0)
		close(jd->signal_fd);
	jd->signal_fd = -1;
}
