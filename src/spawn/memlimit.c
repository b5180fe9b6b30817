/* SPDX-License-Identifier: MIT */
/* Choosing and applying a worker's memory limit (see memlimit.h). */
#include "spawn/memlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

const char *memlimit_kind_name(enum memlimit_kind kind)
{
	return kind == MEMLIMIT_CGROUP ? "cgroup v2" : "RLIMIT_DATA";
}

int memlimit_parse_proc_cgroup(const char *text, char *out, size_t size)
{
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len >= 3 && !strncmp(line, "0::", 3)) {
			if (len - 3 >= size)
				return -ENAMETOOLONG;
			memcpy(out, line + 3, len - 3);
			out[len - 3] = '\0';
			return out[0] == '/' ? 0 : -ENOENT;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

/* Reads a small file into buf (NUL-terminated). */
static int read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int write_small(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

/* True if the space-separated list holds word. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

static void fallback(struct memlimit *m, const char *why)
{
	m->kind = MEMLIMIT_RLIMIT;
	snprintf(m->why, sizeof(m->why), "%s", why);
}

void memlimit_detect(struct memlimit *m, const char *root,
                     const char *proc_cgroup)
{
	char self[PATH_MAX], text[4096], path[PATH_MAX + 64];
	struct statfs sf;
	int rc;

	memset(m, 0, sizeof(*m));
	if (statfs(root, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		fallback(m, "no cgroup v2 hierarchy (cgroup v1 or none)");
		return;
	}
	if (read_small(proc_cgroup, text, sizeof(text)) < 0 ||
	    memlimit_parse_proc_cgroup(text, self, sizeof(self)) < 0) {
		fallback(m, "own cgroup v2 path unknown");
		return;
	}
	rc = snprintf(m->base, sizeof(m->base), "%s%s", root,
	              strcmp(self, "/") ? self : "");
	if (rc < 0 || (size_t)rc >= sizeof(m->base)) {
		fallback(m, "cgroup path too long");
		return;
	}
	snprintf(path, sizeof(path), "%s/cgroup.controllers", m->base);
	if (read_small(path, text, sizeof(text)) < 0 ||
	    !has_word(text, "memory")) {
		fallback(m, "memory controller not available to our cgroup");
		return;
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", m->base);
	if (access(path, W_OK) < 0 || access(m->base, W_OK) < 0) {
		fallback(m, "cgroup not delegated to us (Delegate=yes)");
		return;
	}
	m->kind = MEMLIMIT_CGROUP;
	snprintf(m->why, sizeof(m->why), "delegated cgroup %.200s", self);
}

int memlimit_cgroup_prepare(struct memlimit *m)
{
	char path[PATH_MAX + 64], pid[24];
	int rc;

	if (m->kind != MEMLIMIT_CGROUP)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/daemon", m->base);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/daemon/cgroup.procs", m->base);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	rc = write_small(path, pid);
	if (rc < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", m->base);
	rc = write_small(path, "+memory");
	if (rc < 0)
		goto fail;
	return 0;
fail:
	m->kind = MEMLIMIT_RLIMIT;
	snprintf(m->why, sizeof(m->why),
	         "cannot set up the delegated cgroup %.200s: %s", m->base,
	         strerror(-rc));
	return rc;
}

int memlimit_cgroup_create(const struct memlimit *m, const char *name,
                           uint64_t bytes, char *path, size_t size)
{
	char file[PATH_MAX + 64], value[24];
	int rc;

	if (m->kind != MEMLIMIT_CGROUP || strchr(name, '/') || !*name ||
	    name[0] == '.')
		return -EINVAL;
	rc = snprintf(path, size, "%s/%s", m->base, name);
	if (rc < 0 || (size_t)rc >= size)
		return -ENAMETOOLONG;
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (bytes)
		snprintf(value, sizeof(value), "%" PRIu64, bytes);
	else
		snprintf(value, sizeof(value), "max");
	snprintf(file, sizeof(file), "%s/memory.max", path);
	rc = write_small(file, value);
	if (rc < 0)
		return rc;
	/* Without this the limit is only on RAM, and a leaking worker
	 * pushes everyone else into swap first. Absent without swap
	 * accounting: not an error. */
	snprintf(file, sizeof(file), "%s/memory.swap.max", path);
	rc = write_small(file, "0");
	return rc == -ENOENT ? 0 : rc;
}

int memlimit_cgroup_attach(const char *path, pid_t pid)
{
	char file[PATH_MAX + 64], value[24];

	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	snprintf(value, sizeof(value), "%ld", (long)pid);
	return write_small(file, value);
}

int memlimit_cgroup_oom_kills(const char *path, uint64_t *count)
{
	char file[PATH_MAX + 64], text[1024];
	const char *p;
	int rc;

	snprintf(file, sizeof(file), "%s/memory.events", path);
	rc = read_small(file, text, sizeof(text));
	if (rc < 0)
		return rc;
	for (p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, "oom_kill ", 9)) {
			*count = strtoull(p + 9, NULL, 10);
			return 0;
		}
	return -ENOENT;
}

int memlimit_cgroup_remove(const char *path)
{
	return rmdir(path) < 0 ? -errno : 0;
}

bool memlimit_rlimit_exhausted(uint64_t maxrss_kb, uint64_t limit_bytes)
{
	if (!limit_bytes)
		return false;
	return maxrss_kb * 1024 >= limit_bytes - limit_bytes / 8;
}
