/* SPDX-License-Identifier: MIT */
#ifndef JOBD_DAEMON_CORE_ACCOUNTS_H
#define JOBD_DAEMON_CORE_ACCOUNTS_H

#include "daemon/config/config.h"
#include "daemon/proto/proto.h"

/* Reads cfg's users file (if any) through the trusted-file check and puts
 * it in force in pr (none: no auth). On failure returns a negative errno
 * after logging why, and what was in force stays. */
int accounts_load(const struct config *cfg, struct proto *pr);

#endif
