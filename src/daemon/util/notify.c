/* SPDX-License-Identifier: MIT */
#include "daemon/util/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "daemon/util/log.h"

struct note {
	struct note *next;
	char text[];
};

struct notifier {
	pthread_mutex_t lock;
	pthread_cond_t more; /* queued, or stopping */
	pthread_cond_t idle; /* the queue emptied and nothing is in flight */
	pthread_t thread;
	struct note *head, *tail;
	unsigned queued;
	bool sending, stopping;
	bool warned; /* about dropping, once */
};

static void *notifier_main(void *arg)
{
	struct notifier *n = arg;
	struct note *m;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!n->head && !n->stopping)
			pthread_cond_wait(&n->more, &n->lock);
		m = n->head;
		if (!m)
			break;
		n->head = m->next;
		if (!n->head)
			n->tail = NULL;
		n->queued--;
		n->sending = true;
		pthread_mutex_unlock(&n->lock);
		if (sd_notify(0, m->text) < 0)
			log_debug("sd_notify failed: %s", m->text);
		free(m);
		pthread_mutex_lock(&n->lock);
		n->sending = false;
		if (!n->head)
			pthread_cond_broadcast(&n->idle);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int notifier_start(struct notifier **out)
{
	struct notifier *n;
	int rc;

	*out = NULL;
	if (!getenv("NOTIFY_SOCKET"))
		return 0; /* not under a service manager: sends do nothing */
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->more, NULL);
	pthread_cond_init(&n->idle, NULL);
	rc = pthread_create(&n->thread, NULL, notifier_main, n);
	if (rc) {
		pthread_cond_destroy(&n->idle);
		pthread_cond_destroy(&n->more);
		pthread_mutex_destroy(&n->lock);
		free(n);
		return -rc;
	}
	*out = n;
	return 0;
}

/* True if every line of text is WATCHDOG=1 or STATUS=...: a message the
 * next one makes stale. */
static bool droppable(const char *text)
{
	const char *line = text;

	while (*line) {
		if (strncmp(line, "WATCHDOG=1", 10) != 0 &&
		    strncmp(line, "STATUS=", 7) != 0)
			return false;
		line = strchr(line, '\n');
		if (!line)
			break;
		line++;
	}
	return true;
}

void notifier_send(struct notifier *n, const char *text)
{
	size_t len = strlen(text);
	struct note *m;

	if (!n)
		return;
	m = malloc(sizeof(*m) + len + 1);
	if (!m)
		return;
	m->next = NULL;
	memcpy(m->text, text, len + 1);
	pthread_mutex_lock(&n->lock);
	if (n->queued >= NOTIFY_QUEUE_MAX && droppable(text)) {
		if (!n->warned)
			log_warning("the service manager is not reading "
			            "NOTIFY_SOCKET; dropping watchdog and "
			            "status notifications");
		n->warned = true;
		pthread_mutex_unlock(&n->lock);
		free(m);
		return;
	}
	if (n->tail)
		n->tail->next = m;
	else
		n->head = m;
	n->tail = m;
	n->queued++;
	pthread_mutex_unlock(&n->lock);
	pthread_cond_signal(&n->more);
}

void notifier_sendf(struct notifier *n, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (!n)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	notifier_send(n, text);
}

void notifier_stop(struct notifier *n, int timeout_ms)
{
	struct timespec until;
	bool drained;
	int rc = 0;

	if (!n)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_signal(&n->more);
	while ((n->head || n->sending) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&n->idle, &n->lock, &until);
	drained = !n->head && !n->sending;
	pthread_mutex_unlock(&n->lock);
	if (!drained) {
		/* Blocked in sd_notify for good: leave it (and n, which it
		 * uses) to exit(). */
		log_warning("could not deliver the last notifications to the "
		            "service manager within %d ms",
		            timeout_ms);
		pthread_detach(n->thread);
		return;
	}
	pthread_join(n->thread, NULL);
	pthread_cond_destroy(&n->idle);
	pthread_cond_destroy(&n->more);
	pthread_mutex_destroy(&n->lock);
	free(n);
}
