/* SPDX-License-Identifier: MIT */
/*
 * `jobd user ...`: the commands that manage the users file, kept here so
 * that the daemon's main only hands them its argv and the users_file
 * path from its config.
 *
 *   add NAME [--admin] [--plugins a,b*] [--max-running N] [--max-queued N]
 *            [--unix-user U] [--cert-subject S] [--no-token] [--hex]
 *   rotate NAME      a new token for NAME, the old one stops working
 *   revoke NAME
 *   list
 *
 * add and rotate print the new token once, alone on a line of out; it is
 * stored only as its SHA-256. The file is rewritten whole (to a temporary
 * file in its directory, fsync, rename), under an flock on the directory
 * so that two commands at once cannot lose an update; it keeps the old
 * file's mode, owner and group, and a new file is mode 0600. A running
 * jobd picks the change up on SIGHUP (`systemctl reload jobd`).
 */
#ifndef JOBD_AUTH_USERCMD_H
#define JOBD_AUTH_USERCMD_H

#include <stdio.h>

/* Exit codes, as jobd's own. */
enum {
	USERCMD_OK = 0,
	USERCMD_FAILED = 1, /* the file could not be read, checked or written,
	                       or was written where jobd will refuse it (the
	                       message says how to fix that) */
	USERCMD_USAGE = 2,  /* bad arguments, unknown or existing user */
};

/*
 * Runs one command: argv[0] is the subcommand ("add", "rotate", "revoke",
 * "list"), the rest its arguments (argv is not modified; argc >= 0).
 * users_path is the users file. The token goes to out, everything else
 * (what was done, errors) to err. Returns a USERCMD_* exit code.
 */
int usercmd_run(int argc, char **argv, const char *users_path, FILE *out,
                FILE *err);

#endif
