/* SPDX-License-Identifier: MIT */
/*
 * Logging by level to stderr. Thread-safe: each line is formatted into one
 * buffer and written with a single write(2), so lines from workers never
 * interleave. Under systemd (JOURNAL_STREAM names our stderr) each line
 * starts with the "<N>" priority prefix journald reads; on a terminal or a
 * pipe it gets a timestamp and the level name instead.
 */
#ifndef JOBD_DAEMON_LOG_H
#define JOBD_DAEMON_LOG_H

#include <stdarg.h>

#include <jobd/plugin.h> /* JOBD_LOG_* levels, JOBD_PRINTF */

/* Decides the line format from the environment and sets the level. */
void log_init(int level);
void log_set_level(int level);
int log_get_level(void);

void log_msg(int level, const char *fmt, ...) JOBD_PRINTF(2, 3);
void log_msgv(int level, const char *fmt, va_list ap) JOBD_PRINTF(2, 0);

#define log_error(...)   log_msg(JOBD_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(JOBD_LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(JOBD_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(JOBD_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(JOBD_LOG_DEBUG, __VA_ARGS__)

#endif
