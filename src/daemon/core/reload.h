/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP: re-read the config and the plugin directories and apply them
 * without dropping a connection or failing a call. An invalid config is
 * logged and the old one kept.
 */
#ifndef JOBD_DAEMON_CORE_RELOAD_H
#define JOBD_DAEMON_CORE_RELOAD_H

struct jobd;

/* Loop thread. Returns 0 if the new config was applied, else a negative
 * errno (the old config stays in force). */
int reload_config(struct jobd *jd);

#endif
