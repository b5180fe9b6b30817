/* SPDX-License-Identifier: MIT */
/*
 * jobd-worker: runs one plugin in a process of its own for the daemon
 * (docs/isolation.md). Not for people to start: the daemon spawns it.
 *
 *   jobd-worker --parent PID [--memory-limit BYTES]
 *
 * fd 3 is its end of the socket to the daemon (JOBD_WORKER_FD); 0 and 1
 * are /dev/null and 2 the daemon's log stream. Before it reads anything
 * from the daemon it makes itself safe to run a plugin in:
 *   - PR_SET_PDEATHSIG(SIGKILL), then checks that its parent is still PID,
 *     so that it never outlives the daemon (even if the daemon died before
 *     the prctl);
 *   - PR_SET_NO_NEW_PRIVS: no plugin can gain privileges through exec;
 *   - closes every descriptor above 3 (close_range), and marks fd 3
 *     close-on-exec, so that a plugin's own child processes get nothing;
 *   - a process group of its own (the spawn made one; setpgid again in
 *     case it was started otherwise), so the daemon kills a plugin's
 *     children with it;
 *   - RLIMIT_DATA to --memory-limit when given (the rlimit way; under
 *     cgroup v2 the daemon puts it in a cgroup instead), and RLIMIT_CORE
 *     0: a crashing plugin costs no disk, and the daemon keeps the input
 *     that crashed it instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "spawn/spawn.h"
#include "worker/worker.h"

static int usage(const char *why)
{
	fprintf(stderr,
	        "jobd-worker: %s\n"
	        "usage: jobd-worker --parent PID [--memory-limit BYTES]\n"
	        "(started by jobd with its socket on fd %d; not for use by "
	        "hand)\n",
	        why, JOBD_WORKER_FD);
	return WORKER_EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int set_limit(int resource, uint64_t bytes)
{
	struct rlimit rl = {.rlim_cur = bytes, .rlim_max = bytes};

	return setrlimit(resource, &rl);
}

int main(int argc, char **argv)
{
	uint64_t parent = 0, limit = 0;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--parent") && i + 1 < argc) {
			if (parse_u64(argv[++i], &parent) < 0 || parent < 1)
				return usage("--parent: not a pid");
		} else if (!strcmp(argv[i], "--memory-limit") && i + 1 < argc) {
			if (parse_u64(argv[++i], &limit) < 0)
				return usage("--memory-limit: not a number");
		} else {
			return usage("unknown argument");
		}
	}
	if (!parent)
		return usage("--parent is required");

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return usage("PR_SET_PDEATHSIG failed");
	/* The daemon may have died before the prctl: then nobody would. */
	if ((uint64_t)getppid() != parent)
		return WORKER_EXIT_ORPHAN;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return usage("PR_SET_NO_NEW_PRIVS failed");
	if (fcntl(JOBD_WORKER_FD, F_SETFD, FD_CLOEXEC) < 0)
		return usage("no socket on fd 3");
	if (close_range(JOBD_WORKER_FD + 1, ~0u, 0) < 0)
		return usage("close_range failed");
	if (getpgrp() != getpid() && setpgid(0, 0) < 0)
		return usage("setpgid failed");
	if (set_limit(RLIMIT_CORE, 0) < 0)
		return usage("RLIMIT_CORE failed");
	if (limit && set_limit(RLIMIT_DATA, limit) < 0)
		return usage("RLIMIT_DATA failed");
	return worker_run(JOBD_WORKER_FD);
}
