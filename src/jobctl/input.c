/* SPDX-License-Identifier: MIT */
/* The INPUT of `jobctl call`: text, @file or standard input, parsed and
 * checked before anything is sent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobctl/jobctl.h"

/* Reads all of f into a malloc'd, NUL-terminated buffer. Returns NULL
 * with errno set. */
static char *input_slurp(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap), *nb;

	if (!buf)
		return NULL;
	for (;;) {
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap) {
			if (ferror(f)) {
				free(buf);
				errno = EIO;
				return NULL;
			}
			break;
		}
		nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			errno = ENOMEM;
			return NULL;
		}
		buf = nb;
		cap *= 2;
	}
	buf[n] = '\0'; /* n < cap here: room for the terminator */
	*len = n;
	return buf;
}

json_t *jobctl_read_input(const char *arg)
{
	const char *source;
	char *buf = NULL;
	size_t len = 0;
	json_error_t err;
	json_t *v = NULL;
	FILE *f;

	if (!arg || !strcmp(arg, "-")) {
		if (!arg && isatty(STDIN_FILENO)) {
			jobctl_err("call: no INPUT given (JSON text, @file, "
			           "or - for standard input)");
			return NULL;
		}
		source = "<stdin>";
		buf = input_slurp(stdin, &len);
		if (!buf) {
			jobctl_err("cannot read standard input: %s",
			           strerror(errno));
			return NULL;
		}
	} else if (arg[0] == '@') {
		source = arg + 1;
		f = fopen(source, "rb");
		if (!f) {
			jobctl_err("cannot open %s: %s", source,
			           strerror(errno));
			return NULL;
		}
		buf = input_slurp(f, &len);
		fclose(f);
		if (!buf) {
			jobctl_err("cannot read %s: %s", source,
			           strerror(errno));
			return NULL;
		}
	} else {
		source = "INPUT";
		len = strlen(arg);
	}
	if (strspn(buf ? buf : arg, " \t\r\n") == len) {
		jobctl_err("%s: empty input, expected JSON", source);
		free(buf);
		return NULL;
	}
	/* The same rules as the server: any JSON value, \u0000 allowed in
	 * strings. A bad input never reaches the network. */
	v = json_loadb(buf ? buf : arg, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	               &err);
	if (!v)
		jobctl_err("%s:%d:%d: invalid JSON: %s", source, err.line,
		           err.column, err.text);
	free(buf);
	return v;
}
