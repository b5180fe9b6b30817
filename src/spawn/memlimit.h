/* SPDX-License-Identifier: MIT */
/*
 * How a worker's memory is limited (docs/isolation.md): a cgroup v2 per
 * worker with memory.max, when jobd runs in a delegated cgroup v2 subtree
 * (Delegate=yes in its unit); else RLIMIT_DATA, which the worker applies to
 * itself (spawn_opts.rlimit_bytes). memlimit_detect decides once at start
 * and says why, for the log line.
 *
 * Why RLIMIT_DATA and not RLIMIT_AS: DATA counts the private writable
 * memory a plugin allocates (heap, anonymous mmap, thread stacks) but not
 * the shared libraries it maps, nor does it refuse large reservations of
 * address space that are never touched (GPU runtimes reserve tens of GiB),
 * so the same number means about the same thing as memory.max.
 *
 * The cgroup v2 sequence, for a daemon in cgroup B (from /proc/self/cgroup)
 * with Delegate=yes:
 *   memlimit_cgroup_prepare   once: moves the daemon into B/daemon (a
 *                             cgroup with processes may not enable
 *                             controllers for its children) and writes
 *                             "+memory" to B/cgroup.subtree_control;
 *   memlimit_cgroup_create    per worker, before spawning: B/NAME with
 *                             memory.max and memory.swap.max = 0;
 *   spawn_worker, then memlimit_cgroup_attach (the pid into
 *                             B/NAME/cgroup.procs) BEFORE sending init,
 *                             so that no plugin code runs outside it
 *                             (posix_spawn cannot start a child in a
 *                             cgroup as clone3(CLONE_INTO_CGROUP) can);
 *   memlimit_cgroup_oom_kills after the worker died: memory.events oom_kill
 *                             says whether the kernel killed it for memory;
 *   memlimit_cgroup_remove    after reaping.
 */
#ifndef JOBD_SPAWN_MEMLIMIT_H
#define JOBD_SPAWN_MEMLIMIT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum memlimit_kind {
	MEMLIMIT_RLIMIT = 0,
	MEMLIMIT_CGROUP = 1,
};

struct memlimit {
	enum memlimit_kind kind;
	char base[PATH_MAX]; /* cgroup: the daemon's delegated cgroup dir */
	char why[256];       /* one line for the log: why this kind */
};

/*
 * Decides between cgroup v2 and rlimits. root is the cgroup2 mount
 * ("/sys/fs/cgroup"), proc_cgroup the file naming our cgroup
 * ("/proc/self/cgroup"); tests pass others. Never fails: whatever goes
 * wrong means rlimits, and m->why says what.
 */
void memlimit_detect(struct memlimit *m, const char *root,
                     const char *proc_cgroup);

/* "cgroup v2" or "RLIMIT_DATA". */
const char *memlimit_kind_name(enum memlimit_kind kind);

/* Pure: the cgroup v2 path ("0::PATH" line) from the text of
 * /proc/self/cgroup into out. Returns 0, or -ENOENT when there is none
 * (cgroup v1 only), -ENAMETOOLONG. */
int memlimit_parse_proc_cgroup(const char *text, char *out, size_t size);

/* Cgroup mode only, once at start (see above). On failure the caller
 * falls back to rlimits: m->kind becomes MEMLIMIT_RLIMIT and m->why says
 * why. Returns 0 or a negative errno. */
int memlimit_cgroup_prepare(struct memlimit *m);

/* Creates m->base/name with memory.max = bytes (0: "max") and no swap;
 * its path goes to path. An existing cgroup of that name (left by a crash)
 * is reused. Returns 0 or a negative errno. */
int memlimit_cgroup_create(const struct memlimit *m, const char *name,
                           uint64_t bytes, char *path, size_t size);

/* Moves pid into the cgroup at path. */
int memlimit_cgroup_attach(const char *path, pid_t pid);

/* The oom_kill count of the cgroup at path (memory.events). */
int memlimit_cgroup_oom_kills(const char *path, uint64_t *count);

/* Removes the cgroup at path (empty once its worker is reaped). */
int memlimit_cgroup_remove(const char *path);

/*
 * Rlimit mode: whether a worker that died abnormally ran out of memory.
 * Under RLIMIT_DATA, malloc returns NULL and a plugin usually dies of it
 * (abort() or SIGSEGV), so the signal alone does not say; a peak RSS
 * (spawn_exit.maxrss_kb) within 1/8 of the limit does. Pure.
 */
bool memlimit_rlimit_exhausted(uint64_t maxrss_kb, uint64_t limit_bytes);

#endif
