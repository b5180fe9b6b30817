/* SPDX-License-Identifier: MIT */
/*
 * Signals through signalfd in the loop (they were blocked in main() before
 * any thread started): SIGTERM/SIGINT drain, a second one exits at once;
 * SIGHUP reloads.
 */
#ifndef JOBD_DAEMON_CORE_SIGNALS_H
#define JOBD_DAEMON_CORE_SIGNALS_H

struct jobd;

/* 0 or a negative errno. */
int signals_start(struct jobd *jd);

/* Closes the signalfd. */
void signals_stop(struct jobd *jd);

#endif
