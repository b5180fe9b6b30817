/* SPDX-License-Identifier: MIT */
/*
 * Notifications to the service manager (sd_notify), sent from a thread of
 * their own. libsystemd's sd_notify writes to a blocking datagram socket:
 * when the manager does not read it (a full queue, a hung or misconfigured
 * NOTIFY_SOCKET), the send blocks, and on the event loop it would stall
 * every connection. The loop only queues the text here and goes on.
 *
 * Order is kept. A message that only carries WATCHDOG=1 and/or STATUS= is
 * dropped when NOTIFY_QUEUE_MAX are already waiting (the next one says the
 * same, and a manager that reads nothing misses nothing); READY, STOPPING
 * and RELOADING are always queued.
 */
#ifndef JOBD_DAEMON_NOTIFY_H
#define JOBD_DAEMON_NOTIFY_H

#include <jobd/plugin.h> /* JOBD_PRINTF */

#define NOTIFY_QUEUE_MAX 64

struct notifier;

/* Starts the sender thread when NOTIFY_SOCKET is set; without it, returns
 * a notifier whose sends do nothing. 0 or a negative errno. */
int notifier_start(struct notifier **out);

/* Queues one notification (the sd_notify(3) text: NAME=value lines).
 * Never blocks on the socket. NULL n: nothing. */
void notifier_send(struct notifier *n, const char *text);
void notifier_sendf(struct notifier *n, const char *fmt, ...) JOBD_PRINTF(2, 3);

/* Waits up to timeout_ms for what is queued to be sent, then stops the
 * thread and frees n. A thread still blocked in the send is left to the
 * process's exit. */
void notifier_stop(struct notifier *n, int timeout_ms);

#endif
