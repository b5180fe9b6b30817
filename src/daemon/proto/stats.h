/* SPDX-License-Identifier: MIT */
/* The `stats` reply: connections and, per plugin, its pool's counters. */
#ifndef JOBD_DAEMON_STATS_H
#define JOBD_DAEMON_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct proto;

/* A new `stats` message (docs/protocol.md), or NULL without memory. */
json_t *stats_build(struct proto *pr, bool has_id, int64_t id);

#endif
