/* SPDX-License-Identifier: MIT */
/*
 * npy-copy IN OUT [force]: reads IN with jobctl's .npy reader, prints what
 * it found as one line of JSON ({"dtype","shape","nbytes"}), and writes
 * it to OUT with jobctl's writer (without "force", an existing OUT is an
 * error). On a refusal prints the reader's or writer's message on stderr
 * and exits 1. Driven by test_npy.py, which makes IN with NumPy and
 * checks OUT with numpy.load.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jobctl/npy.h"

int main(int argc, char **argv)
{
	struct npy_file f;
	char why[512];
	int rc = 1;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: npy-copy IN OUT [force]\n");
		return 2;
	}
	if (npy_read(argv[1], &f, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s\n", why);
		return 1;
	}
	printf("{\"dtype\":\"%s\",\"shape\":[", jobd_dtype_name(f.array.dtype));
	for (uint32_t i = 0; i < f.array.ndim; i++)
		printf("%s%" PRIu64, i ? "," : "", f.array.shape[i]);
	printf("],\"nbytes\":%zu}\n", f.array.nbytes);
	f.array.name = "x";
	if (npy_write(argv[2], &f.array, argc == 4 && !strcmp(argv[3], "force"),
	              why, sizeof(why)) < 0)
		fprintf(stderr, "%s\n", why);
	else
		rc = 0;
	npy_close(&f);
	return rc;
}
