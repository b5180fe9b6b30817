/* SPDX-License-Identifier: MIT */
/* What the daemon tells systemd: the STATUS= line and watchdog pings. */
#ifndef JOBD_DAEMON_CORE_STATUS_H
#define JOBD_DAEMON_CORE_STATUS_H

#include <stddef.h>

struct jobd;

/* One-line summary for STATUS= and logs. */
void status_line(struct jobd *jd, char *buf, size_t size);

/* Sends STATUS= with status_line. */
void status_notify(struct jobd *jd);

/* Pings WATCHDOG=1 at half the interval when the unit asks for it. 0 or a
 * negative errno. */
int status_watchdog_start(struct jobd *jd);

#endif
