/* SPDX-License-Identifier: MIT */
/* Any YAML node to JSON (YAML 1.2 core schema), for plugin options.
 * Private to config/. */
#ifndef JOBD_DAEMON_CONFIG_YAML_JSON_H
#define JOBD_DAEMON_CONFIG_YAML_JSON_H

#include <jansson.h>

#include "daemon/config/reader.h"

/* Converts the node at the current event and consumes it. 0, or the
 * reader's error code after reader_fail(). */
int yaml_node_to_json(struct reader *r, json_t **out);

#endif
