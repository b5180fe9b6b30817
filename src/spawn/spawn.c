/* SPDX-License-Identifier: MIT */
/* Starting, reaping and killing worker processes (see spawn.h). */
#include "spawn/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobd-build.h"

extern char **environ;

const char *spawn_worker_path(void)
{
	const char *env = getenv("JOBD_WORKER_PATH");

	return env && *env ? env : JOBD_WORKER_PATH;
}

/* Keeps a descriptor clear of 0..3, the numbers the child's file actions
 * write: dup2(fd, 3) with fd already 3 would leave its close-on-exec flag
 * set on glibcs that do not clear it for an identity dup2. */
static int clear_of_low(int fd)
{
	int moved;

	if (fd > JOBD_WORKER_FD)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, JOBD_WORKER_FD + 1);
	close(fd);
	return moved < 0 ? -errno : moved;
}

int spawn_worker(const struct spawn_opts *opts, struct spawn_child *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char parent[24], limit[24];
	char *argv[8];
	int argc = 0;
	int sv[2] = {-1, -1};
	int errfd = -1;
	sigset_t none, all;
	pid_t pid;
	int rc;

	out->pid = -1;
	out->sock = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	sv[1] = clear_of_low(sv[1]);
	if (sv[1] < 0) {
		rc = sv[1];
		goto fail_sock;
	}
	if (opts->stderr_fd >= 0) {
		errfd = fcntl(opts->stderr_fd, F_DUPFD_CLOEXEC,
		              JOBD_WORKER_FD + 1);
		if (errfd < 0) {
			rc = -errno;
			goto fail_sock;
		}
	}

	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	argv[argc++] = (char *)(opts->argv0 ? opts->argv0 : opts->worker_path);
	argv[argc++] = "--parent";
	argv[argc++] = parent;
	if (opts->rlimit_bytes) {
		snprintf(limit, sizeof(limit), "%" PRIu64, opts->rlimit_bytes);
		argv[argc++] = "--memory-limit";
		argv[argc++] = limit;
	}
	argv[argc] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	                                             POSIX_SPAWN_SETSIGDEF |
	                                             POSIX_SPAWN_SETPGROUP);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&attr, &all);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&attr, 0); /* its own group */
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		                                      O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
		                                      O_WRONLY, 0);
	if (!rc)
		rc = errfd >= 0
		             ? posix_spawn_file_actions_adddup2(&fa, errfd, 2)
		             : posix_spawn_file_actions_addopen(
		                       &fa, 2, "/dev/null", O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, sv[1],
		                                      JOBD_WORKER_FD);
	/* Whatever the daemon holds without close-on-exec (a plugin in
	 * thread mode may open files carelessly) stays out of the worker. */
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(
		        &fa, JOBD_WORKER_FD + 1);
	if (!rc)
		rc = posix_spawn(&pid, opts->worker_path, &fa, &attr, argv,
		                 environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (errfd >= 0)
		close(errfd);
	if (rc) {
		rc = -rc;
		goto fail_sock;
	}
	close(sv[1]);
	out->pid = pid;
	out->sock = sv[0];
	return 0;
fail_sock:
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}

int spawn_reap(pid_t pid, int options, struct spawn_exit *ex)
{
	struct rusage ru;
	int status;
	pid_t r;

	do
		r = wait4(pid, &status, options, &ru);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	memset(ex, 0, sizeof(*ex));
	ex->pid = r;
	ex->status = status;
	if (WIFEXITED(status)) {
		ex->exited = true;
		ex->code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		ex->signaled = true;
		ex->sig = WTERMSIG(status);
		ex->core = WCOREDUMP(status);
	}
	ex->maxrss_kb = (uint64_t)ru.ru_maxrss;
	ex->user_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	ex->system_s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return 1;
}

int spawn_reap_timeout(pid_t pid, unsigned timeout_ms, struct spawn_exit *ex)
{
	const struct timespec tick = {0, 2 * 1000000L};
	unsigned waited = 0;
	int rc;

	for (;;) {
		rc = spawn_reap(pid, WNOHANG, ex);
		if (rc != 0 || waited >= timeout_ms)
			return rc;
		nanosleep(&tick, NULL);
		waited += 2;
	}
}

const char *spawn_signal_abbrev(int sig)
{
	return sigabbrev_np(sig);
}

const char *spawn_describe(const struct spawn_exit *ex, char *buf, size_t size)
{
	if (ex->exited && ex->code == 0) {
		snprintf(buf, size, "exited normally");
	} else if (ex->exited) {
		snprintf(buf, size, "exited with status %d", ex->code);
	} else if (ex->signaled) {
		const char *abbrev = sigabbrev_np(ex->sig);

		snprintf(buf, size, "killed by signal %d%s%s%s%s", ex->sig,
		         abbrev ? " (SIG" : "", abbrev ? abbrev : "",
		         abbrev ? ")" : "", ex->core ? ", core dumped" : "");
	} else {
		snprintf(buf, size, "ended with wait status %#x", ex->status);
	}
	return buf;
}

int spawn_kill_group(pid_t pgid, int sig)
{
	if (pgid <= 1)
		return -EINVAL; /* never init, nor every process (-1) */
	if (kill(-pgid, sig) < 0)
		return errno == ESRCH ? 0 : -errno;
	return 0;
}
