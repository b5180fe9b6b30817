/* SPDX-License-Identifier: MIT */
/* Numbers with units (16MiB, 30s) for the config: pure, no I/O. Private to
 * config/; config.h has the public parsers. */
#ifndef JOBD_DAEMON_CONFIG_UNITS_H
#define JOBD_DAEMON_CONFIG_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)

#define SEC_MS  1000ull
#define MIN_MS  (60ull * SEC_MS)
#define HOUR_MS (60ull * MIN_MS)
#define DAY_MS  (24ull * HOUR_MS)

/* Longest duration anyone can mean; keeps now + timeout far from overflow. */
#define DURATION_MAX_MS (3650ull * DAY_MS)

struct unit {
	const char *name;
	uint64_t factor;
};

/* The known units, each list ending with a NULL name. */
extern const struct unit units_duration[]; /* in ms */
extern const struct unit units_size[];     /* in bytes */

void units_format(char *buf, size_t cap, uint64_t n, const struct unit *units,
                  const char *zero);
int units_parse(const char *s, const struct unit *units, uint64_t bare,
                uint64_t *out);
int units_parse_digits(const char *s, uint64_t *v, const char **end);

#endif
