/* SPDX-License-Identifier: MIT */
/*
 * Soak: many clients doing mixed work against one running jobd for a given
 * time, going away at random moments, while the daemon is reloaded every
 * few seconds (with a plugin's options changed, so that plugin instances
 * are replaced under load). Every answer is checked against what its
 * request should get; anything else is counted as unexpected.
 *
 * Used by tests/integration/test_soak.c (a short run in the test suite)
 * and by jobd-soak (the long run, docs/hardening.md).
 */
#ifndef JOBD_TESTS_SOAK_H
#define JOBD_TESTS_SOAK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The config the soak expects (appended to the harness's): the sleep queue
 * never fills, and echo has an option the soak changes before each reload
 * (keep its fixed width: the file is rewritten in place). */
#define SOAK_GENERATION_KEY "soak_generation: g"
#define SOAK_YAML                                                              \
	"limits:\n  idle_timeout: 20s\n"                                       \
	"plugins:\n"                                                           \
	"  sleep:\n    workers: 4\n    queue_bound: 1000\n"                    \
	"  misbehave:\n    workers: 2\n"                                       \
	"  echo:\n    workers: 2\n    options: {" SOAK_GENERATION_KEY          \
	"00000000}\n"

struct soak_opts {
	pid_t pid;          /* jobd, for /proc and SIGHUP */
	uint16_t port;      /* 127.0.0.1:port */
	const char *config; /* rewritten before each reload; NULL: none */
	unsigned seconds;   /* how long to send */
	unsigned clients;   /* concurrent connections (default 16) */
	unsigned reload_ms; /* SIGHUP interval; 0: never */
	unsigned seed;      /* for rand_r: runs are repeatable */
	FILE *log;          /* progress lines; NULL: quiet */
	/* The NOTIFY_SOCKET jobd writes to, read and discarded here (-1:
	 * none). Each reload sends datagrams; unread, they fill the queue
	 * (net.unix.max_dgram_qlen, 10) and jobd's next sd_notify blocks
	 * its loop. */
	int notify_fd;
};

struct soak_result {
	uint64_t sent;       /* requests written */
	uint64_t answered;   /* answers as expected (results and errors) */
	uint64_t failed;     /* expected errors among them (plugin_failed,
	                        timeout, cancelled, bad_json, ...) */
	uint64_t unexpected; /* wrong type, code, id or content */
	uint64_t lost;       /* no answer on a connection we kept */
	uint64_t abandoned;  /* in flight when we dropped the connection */
	uint64_t connections;
	uint64_t disconnects; /* abrupt ones: mid-frame, reset, in flight */
	uint64_t reloads;
	long rss_start_kb, rss_end_kb;
	int fds_start, fds_end;
	int so_fds_start, so_fds_end; /* of them, plugin .so files */
	bool daemon_died;
};

/* Runs the soak; fills *r. Returns 0 if nothing unexpected happened (no
 * unexpected or lost answer, jobd alive, descriptors back to the start),
 * -1 otherwise. */
int soak_run(const struct soak_opts *o, struct soak_result *r);

void soak_print(FILE *f, const struct soak_result *r);

/* /proc readers, shared with the tests. */
long soak_rss_kb(pid_t pid);
int soak_fd_count(pid_t pid);
/* Also counts, in *so, those open on a .so file (plugins). */
int soak_fd_count_so(pid_t pid, int *so);

#endif
