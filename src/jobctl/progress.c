/* SPDX-License-Identifier: MIT */
/* The live progress bar: one line on stderr, redrawn in place, only when
 * stderr is a terminal. */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "jobctl/jobctl.h"

#define BAR_WIDTH 24
/* Elapsed time is redrawn at least this often while waiting. */
#define BAR_TICK_MS 1000

static int64_t bar_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bar_columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

void jobctl_bar_init(struct jobctl_bar *b)
{
	memset(b, 0, sizeof(*b));
	b->on = isatty(STDERR_FILENO);
	b->t0 = bar_now_ms();
}

static void bar_draw(struct jobctl_bar *b)
{
	char line[512], bar[BAR_WIDTH + 1];
	int64_t s = (bar_now_ms() - b->t0) / 1000;
	int filled, n, cols = bar_columns();

	filled = b->has_fraction ? (int)(b->fraction * BAR_WIDTH + 0.5) : 0;
	memset(bar, '#', (size_t)filled);
	memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
	bar[BAR_WIDTH] = '\0';
	if (b->has_fraction)
		n = snprintf(line, sizeof(line),
		             "[%s] %3d%% %02lld:%02lld:%02lld", bar,
		             (int)(b->fraction * 100.0 + 0.5),
		             (long long)(s / 3600), (long long)(s / 60 % 60),
		             (long long)(s % 60));
	else
		n = snprintf(line, sizeof(line),
		             "[%s]  ... %02lld:%02lld:%02lld", bar,
		             (long long)(s / 3600), (long long)(s / 60 % 60),
		             (long long)(s % 60));
	if (b->message[0] && n > 0 && n < (int)sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, "  %s",
		         b->message);
	/* One line, never wrapping: a wrapped line cannot be redrawn. */
	if ((int)strlen(line) > cols - 1)
		line[cols - 1] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	b->drawn = true;
	b->last_draw = bar_now_ms();
}

void jobctl_bar_update(struct jobctl_bar *b, double fraction,
                       const char *message)
{
	if (!b->on)
		return;
	b->has_fraction = fraction >= 0.0;
	b->fraction = fraction > 1.0 ? 1.0 : fraction;
	snprintf(b->message, sizeof(b->message), "%s", message ? message : "");
	bar_draw(b);
}

void jobctl_bar_tick(struct jobctl_bar *b)
{
	if (b->on && bar_now_ms() - b->last_draw >= BAR_TICK_MS)
		bar_draw(b);
}

void jobctl_bar_clear(struct jobctl_bar *b)
{
	if (b->on && b->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	b->drawn = false;
}

void jobctl_bar_progress_fn(void *userdata, uint64_t id, double fraction,
                            const char *message)
{
	jobctl_bar_update(userdata, fraction, message);
}
