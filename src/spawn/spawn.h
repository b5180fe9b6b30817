/* SPDX-License-Identifier: MIT */
/*
 * Starting, reaping and killing jobd-worker processes (docs/isolation.md).
 *
 * A worker is started with posix_spawn, never fork(): the daemon is
 * threaded, and glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK), so
 * nothing of the parent's locks or threads is copied. The child gets:
 *   fd 0, 1  /dev/null
 *   fd 2     the caller's stderr_fd (the daemon's log stream, so a plugin's
 *            stray fprintf(stderr) and glibc's abort messages reach the
 *            journal), or /dev/null
 *   fd 3     its end of a SOCK_STREAM socketpair (JOBD_WORKER_FD)
 * and no other descriptor (closed by the spawn itself, and again by the
 * worker); an empty signal mask and every signal at its default action;
 * a process group of its own (so that a plugin's own children die with
 * it: spawn_kill_group). The daemon's end of the socket is close-on-exec
 * and blocking; the caller sets O_NONBLOCK for its event loop.
 *
 * Threads: PR_SET_PDEATHSIG fires when the *thread* that spawned the
 * worker exits, so spawn from a thread that lives as long as the daemon
 * (the event loop's).
 */
#ifndef JOBD_SPAWN_SPAWN_H
#define JOBD_SPAWN_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The worker's socket, documented for the worker (src/worker/main.c). */
#define JOBD_WORKER_FD 3

/* The worker executable: $JOBD_WORKER_PATH if set (tests run the one in the
 * build tree), else the installed one (jobd-build.h JOBD_WORKER_PATH). */
const char *spawn_worker_path(void);

struct spawn_opts {
	const char *worker_path; /* the jobd-worker executable */
	/* RLIMIT_DATA the worker applies to itself before loading any
	 * plugin; 0: none (e.g. when a cgroup limits it instead). */
	uint64_t rlimit_bytes;
	int stderr_fd;     /* becomes the worker's fd 2; -1: /dev/null */
	const char *argv0; /* shown by ps, e.g. "jobd-worker echo/0"; NULL:
	                      worker_path */
};

struct spawn_child {
	pid_t pid; /* also its process group id */
	int sock;  /* the daemon's end; owned by the caller */
};

/*
 * Creates the socketpair and spawns the worker. Returns 0 and fills *out,
 * or a negative errno (the spawn's own error: -ENOENT for a missing
 * executable, -EACCES, ...), with nothing left open.
 */
int spawn_worker(const struct spawn_opts *opts, struct spawn_child *out);

/* How a reaped worker ended. */
struct spawn_exit {
	pid_t pid;
	int status;  /* as from wait4 */
	bool exited; /* exited: code is set */
	int code;
	bool signaled; /* killed by signal: sig is set */
	int sig;
	bool core; /* dumped core */
	uint64_t
	        maxrss_kb; /* the worker's peak RSS over its life (ru_maxrss) */
	double user_s, system_s; /* its CPU over its life */
};

/*
 * wait4(pid, options): options 0 to wait, WNOHANG to poll. Returns 1 and
 * fills *ex when pid has ended and is reaped, 0 when WNOHANG found it still
 * running, or a negative errno (-ECHILD: not our child, or reaped already).
 */
int spawn_reap(pid_t pid, int options, struct spawn_exit *ex);

/* Waits at most timeout_ms for pid to end (polling wait4 with WNOHANG,
 * for tests and shutdown; the daemon reaps from its signalfd on SIGCHLD
 * instead). Returns 1 and fills *ex, 0 on timeout, or a negative errno. */
int spawn_reap_timeout(pid_t pid, unsigned timeout_ms, struct spawn_exit *ex);

/*
 * Describes how a worker ended, for a job's error message and the log:
 * "exited with status 3", "killed by signal 11 (SIGSEGV)", "killed by
 * signal 6 (SIGABRT), core dumped", "exited normally". Returns buf.
 */
const char *spawn_describe(const struct spawn_exit *ex, char *buf, size_t size);

/* A signal's abbreviation without "SIG" ("SEGV"), or NULL if unknown. */
const char *spawn_signal_abbrev(int sig);

/* Sends sig to the worker's whole process group (its pid). Returns 0 or a
 * negative errno; -ESRCH (the group is gone) is 0. Kill before reaping the
 * worker: its zombie keeps the group id from being reused. */
int spawn_kill_group(pid_t pgid, int sig);

#endif
