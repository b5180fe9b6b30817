/* SPDX-License-Identifier: MIT */
#include "auth/trusted.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "alice" for a known uid, else "uid 1234"; buf is the storage. */
static const char *owner_name(uid_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		snprintf(buf, cap, "%s", res->pw_name);
	else
		snprintf(buf, cap, "uid %u", (unsigned)uid);
	return buf;
}

/*
 * Checks one opened component. what: "directory" or "file". Returns 0 or
 * -EPERM with *error set. shown is the path as given, where is the
 * resolved path of this component.
 */
static int check_one(const struct stat *st, bool is_file, unsigned flags,
                     const char *shown, const char *where, char **error)
{
	char who[128], me[128];
	uid_t euid = geteuid();
	const char *kind = is_file ? "file" : "directory";
	int n = 0;

	if (st->st_uid != 0 && st->st_uid != euid) {
		/* "not by root or jobd"; as root, just "not by root". */
		me[0] = '\0';
		if (euid != 0) {
			memcpy(me, " or ", 5);
			owner_name(euid, me + 4, sizeof(me) - 4);
		}
		n = asprintf(error,
		             "%s: refused: %s %s is owned by %s (mode %04o), "
		             "not by root%s; run: chown root %s",
		             shown, kind, where,
		             owner_name(st->st_uid, who, sizeof(who)),
		             (unsigned)(st->st_mode & 07777), me, where);
	} else if ((st->st_mode & 022) &&
	           !(!is_file && st->st_uid == 0 && (st->st_mode & S_ISVTX))) {
		n = asprintf(error,
		             "%s: refused: %s %s (owner %s, mode %04o) is "
		             "writable by %s; run: chmod go-w %s",
		             shown, kind, where,
		             owner_name(st->st_uid, who, sizeof(who)),
		             (unsigned)(st->st_mode & 07777),
		             (st->st_mode & 002) ? "others" : "its group",
		             where);
	} else if (is_file && (flags & TRUSTED_SECRET) && (st->st_mode & 004)) {
		n = asprintf(
		        error,
		        "%s: refused: %s holds secrets but is readable by "
		        "others (owner %s, mode %04o); run: chmod o-rwx %s",
		        shown, where, owner_name(st->st_uid, who, sizeof(who)),
		        (unsigned)(st->st_mode & 07777), where);
	} else {
		return 0;
	}
	if (n < 0)
		*error = NULL;
	return -EPERM;
}

static int sys_error(char **error, int err, const char *shown, const char *what,
                     const char *where)
{
	if (asprintf(error, "%s: %s %s: %s", shown, what, where,
	             strerror(err)) < 0)
		*error = NULL;
	return -err;
}

int trusted_open(const char *path, unsigned flags, int *fd, char **error)
{
	char *real = NULL, *p, *slash;
	struct stat st;
	int dir = -1, next = -1, rc;
	bool last, want_dir = flags & TRUSTED_DIRECTORY;

	*fd = -1;
	*error = NULL;
	/* Symlinks are resolved once, here; the walk below refuses any that
	 * appear later, so what is checked is what is read. */
	real = realpath(path, NULL);
	if (!real) {
		rc = sys_error(error, errno, path, "cannot open", path);
		goto out;
	}
	if (!real[1] && !want_dir) {
		if (asprintf(error, "%s: refused: / is not a regular file",
		             path) < 0)
			*error = NULL;
		rc = -EPERM;
		goto out;
	}
	dir = open("/", (want_dir && !real[1] ? O_RDONLY : O_PATH) |
	                        O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || fstat(dir, &st) < 0) {
		rc = sys_error(error, errno, path, "cannot open", "/");
		goto out;
	}
	rc = check_one(&st, false, flags, path, "/", error);
	if (rc < 0)
		goto out;
	for (p = real + 1; *p; p = slash + 1) {
		slash = strchr(p, '/');
		last = !slash;
		if (slash)
			*slash = '\0';
		/* With the slash cut, real is the resolved path up to this
		 * component: what the messages name. */
		if (last && want_dir)
			next = openat(dir, p,
			              O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                      O_CLOEXEC);
		else if (last)
			/* O_NONBLOCK: a FIFO put there must not hang us. */
			next = openat(dir, p,
			              O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			                      O_CLOEXEC);
		else
			next = openat(dir, p,
			              O_PATH | O_DIRECTORY | O_NOFOLLOW |
			                      O_CLOEXEC);
		if (next < 0) {
			rc = sys_error(error, errno == ELOOP ? EPERM : errno,
			               path,
			               errno == ELOOP ? "refused: a symlink "
			                                "appeared at"
			                              : "cannot open",
			               real);
			goto out;
		}
		if (fstat(next, &st) < 0) {
			rc = sys_error(error, errno, path, "cannot stat", real);
			goto out;
		}
		if (last && !want_dir && !S_ISREG(st.st_mode)) {
			if (asprintf(error,
			             "%s: refused: %s is not a regular "
			             "file",
			             path, real) < 0)
				*error = NULL;
			rc = -EPERM;
			goto out;
		}
		rc = check_one(&st, last && !want_dir, flags, path, real,
		               error);
		if (rc < 0)
			goto out;
		close(dir);
		dir = next;
		next = -1;
		if (last)
			break;
		*slash = '/';
	}
	if (fcntl(dir, F_SETFL, 0) < 0) {
		rc = sys_error(error, errno, path, "cannot use", real);
		goto out;
	}
	*fd = dir;
	dir = -1;
	rc = 0;
out:
	if (rc == -ENOMEM && !*error)
		*error = strdup("out of memory");
	if (next >= 0)
		close(next);
	if (dir >= 0)
		close(dir);
	free(real);
	return rc;
}

int trusted_read(const char *path, unsigned flags, size_t max, char **text,
                 size_t *len, char **error)
{
	char *buf = NULL;
	struct stat st;
	size_t have = 0, cap;
	ssize_t n;
	int fd, rc;

	*text = NULL;
	*len = 0;
	rc = trusted_open(path, flags, &fd, error);
	if (rc < 0)
		return rc;
	if (fstat(fd, &st) < 0) {
		rc = sys_error(error, errno, path, "cannot stat", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		if (asprintf(error, "%s: larger than %zu bytes", path, max) < 0)
			*error = NULL;
		rc = -EFBIG;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (have + 1 == cap) {
			/* Grew since fstat: read on, up to max. */
			char *nb;

			if (cap - 1 >= max) {
				if (asprintf(error, "%s: larger than %zu bytes",
				             path, max) < 0)
					*error = NULL;
				rc = -EFBIG;
				goto out;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + have, cap - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sys_error(error, errno, path, "cannot read", path);
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	*text = buf;
	*len = have;
	buf = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM && !*error)
		*error = strdup("out of memory");
	free(buf);
	close(fd);
	return rc;
}
