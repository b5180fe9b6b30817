/* SPDX-License-Identifier: MIT */
#include "daemon/util/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* NOTE: process-wide by nature (stderr is one per process); the level is the
 * only mutable part, and it is atomic so a reload can change it while
 * workers log. */
static atomic_int log_level = JOBD_LOG_INFO;
static bool log_journal;

static const char *const level_names[] = {
        [JOBD_LOG_ERROR] = "error",   [JOBD_LOG_WARNING] = "warning",
        [JOBD_LOG_NOTICE] = "notice", [JOBD_LOG_INFO] = "info",
        [JOBD_LOG_DEBUG] = "debug",
};

/* True when stderr is the stream systemd connected to the journal. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_init(int level)
{
	log_journal = stderr_is_journal();
	log_set_level(level);
}

void log_set_level(int level)
{
	if (level < JOBD_LOG_ERROR)
		level = JOBD_LOG_ERROR;
	if (level > JOBD_LOG_DEBUG)
		level = JOBD_LOG_DEBUG;
	atomic_store(&log_level, level);
}

int log_get_level(void)
{
	return atomic_load(&log_level);
}

void log_msgv(int level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int w;

	if (level > atomic_load(&log_level))
		return;
	if (level < JOBD_LOG_ERROR)
		level = JOBD_LOG_ERROR;
	if (log_journal) {
		w = snprintf(line, sizeof(line), "<%d>", level);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
		w = snprintf(line + n, sizeof(line) - n,
		             ".%03ld jobd %s: ", ts.tv_nsec / 1000000L,
		             level_names[level]);
	}
	n += (size_t)(w > 0 ? w : 0);
	w = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (w < 0)
		w = 0;
	n += (size_t)w;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: still end the line */
	line[n++] = '\n';
	/* One write per line keeps lines whole across threads. A failed
	 * write to stderr has nowhere to be reported. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msgv(level, fmt, ap);
	va_end(ap);
}
