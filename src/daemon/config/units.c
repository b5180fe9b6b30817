/* SPDX-License-Identifier: MIT */
#include "daemon/config/units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include <jansson.h>

#include "daemon/config/config.h"

/* ---- numbers, sizes, durations ----------------------------------------- */

/* Leading decimal digits of s into *v; *end past them. -EINVAL if none. */
int units_parse_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*v = n;
	*end = p;
	return 0;
}

const struct unit units_duration[] = {
        {"ms", 1},      {"s", SEC_MS}, {"m", MIN_MS},
        {"h", HOUR_MS}, {"d", DAY_MS}, {NULL, 0},
};

const struct unit units_size[] = {
        {"B", 1},
        {"kB", 1000ull},
        {"MB", 1000000ull},
        {"GB", 1000000000ull},
        {"TB", 1000000000000ull},
        {"KiB", KIB},
        {"MiB", MIB},
        {"GiB", GIB},
        {"TiB", TIB},
        {NULL, 0},
};

/* 0, -EINVAL (not a number), -ERANGE (overflow) or -ENOENT (bad unit). */
int units_parse(const char *s, const struct unit *units, uint64_t bare,
                uint64_t *out)
{
	const char *end;
	uint64_t v;
	size_t i;
	int rc;

	rc = units_parse_digits(s, &v, &end);
	if (rc < 0)
		return rc;
	while (*end == ' ')
		end++;
	if (*end == '\0') {
		if (v > UINT64_MAX / bare)
			return -ERANGE;
		*out = v * bare;
		return 0;
	}
	for (i = 0; units[i].name; i++) {
		if (strcmp(end, units[i].name) == 0) {
			if (v > UINT64_MAX / units[i].factor)
				return -ERANGE;
			*out = v * units[i].factor;
			return 0;
		}
	}
	return -ENOENT;
}

int config_parse_duration(const char *s, uint64_t *ms)
{
	int rc = units_parse(s, units_duration, SEC_MS, ms);

	return rc == -ENOENT ? -EINVAL : rc;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
	int rc = units_parse(s, units_size, 1, bytes);

	return rc == -ENOENT ? -EINVAL : rc;
}

/* Renders n with the largest unit that divides it, for range messages. */
void units_format(char *buf, size_t cap, uint64_t n, const struct unit *units,
                  const char *zero)
{
	const struct unit *best = &units[0];
	size_t i;

	if (n == 0) {
		snprintf(buf, cap, "%s", zero);
		return;
	}
	for (i = 0; units[i].name; i++) {
		/* Only binary size units: a decimal one would read oddly here.
		 */
		if (units == units_size && units[i].factor % 1024 &&
		    units[i].factor != 1)
			continue;
		if (n % units[i].factor == 0 && units[i].factor >= best->factor)
			best = &units[i];
	}
	snprintf(buf, cap, "%llu%s", (unsigned long long)(n / best->factor),
	         best->name);
}
