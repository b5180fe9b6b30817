/* SPDX-License-Identifier: MIT */
/* The store: section of the config (backend, dsn, host, lease). Private to
 * config/. */
#ifndef JOBD_DAEMON_CONFIG_STORE_SECTION_H
#define JOBD_DAEMON_CONFIG_STORE_SECTION_H

#include <yaml.h>

#include "daemon/config/config.h"
#include "daemon/config/reader.h"

void store_section_defaults(struct config_store *s);
void store_section_fini(struct config_store *s);

/* Reads the mapping that is the current event into s and checks it as a
 * whole (a postgresql backend needs a dsn; sqlite takes none). key_mark:
 * where the store: key is, for those errors. */
int store_section_read(struct reader *r, const yaml_mark_t *key_mark,
                       struct config_store *s);

#endif
