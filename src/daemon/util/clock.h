/* SPDX-License-Identifier: MIT */
/* The daemon's two clocks, in one place. Any thread. */
#ifndef JOBD_DAEMON_UTIL_CLOCK_H
#define JOBD_DAEMON_UTIL_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds: for durations and deadlines. */
uint64_t monotonic_ns(void);

/* Wall clock, Unix milliseconds: for what people read (provenance, the
 * job store). */
int64_t wall_ms(void);

#endif
