/* SPDX-License-Identifier: MIT */
/*
 * Opening a file only the administrator can change (docs/security.md,
 * "Trusted files"). The file and every directory above it must be owned
 * by root or by the process's effective user and writable by nobody else
 * (a root-owned directory with the sticky bit, such as /tmp, counts as
 * safe, as it does for sshd and sudo). A secret (the users file, a TLS
 * private key) must not be readable by others either.
 *
 * The check is made on what is opened: the path is resolved once, then
 * walked from "/" with openat(O_NOFOLLOW) one component at a time, each
 * descriptor checked with fstat, and the file read through the last one.
 * A swap of any component between the check and the read cannot slip
 * through: the bytes come from the very inode that was checked.
 */
#ifndef JOBD_AUTH_TRUSTED_H
#define JOBD_AUTH_TRUSTED_H

#include <stddef.h>

enum {
	/* Refuse a file readable by others (o+r). Group read is allowed,
	 * so that root:jobd 0640 works. */
	TRUSTED_SECRET = 1u << 0,
	/* path is a directory (a plugin directory about to be listed): the
	 * same checks on it and every directory above it; *fd is opened
	 * O_RDONLY | O_DIRECTORY, ready for fdopendir(). */
	TRUSTED_DIRECTORY = 1u << 1,
};

/*
 * Opens path for reading after the checks above (a regular file, or with
 * TRUSTED_DIRECTORY a directory). Returns 0 and a new
 * descriptor in *fd (O_RDONLY | O_CLOEXEC, the caller closes it), or a
 * negative errno with a malloc'd one-line message in *error (caller
 * frees) that names the file, the owner and mode found, and the command
 * that fixes it. -EPERM: the file is not trusted; other errors: it could
 * not be opened (-ENOENT, ...).
 */
int trusted_open(const char *path, unsigned flags, int *fd, char **error);

/*
 * trusted_open(), then reads the whole file (at most max bytes, else
 * -EFBIG) into a malloc'd NUL-terminated buffer *text of *len bytes.
 */
int trusted_read(const char *path, unsigned flags, size_t max, char **text,
                 size_t *len, char **error);

#endif
