/* SPDX-License-Identifier: MIT */
/*
 * The one entry point every harness defines. libFuzzer (clang,
 * tests/fuzz/run.sh) calls it with generated inputs; replay.c (any
 * compiler, the normal test suite) calls it with the committed corpus and
 * regression files. A broken property aborts, so both report it as a crash.
 */
#ifndef JOBD_TESTS_FUZZ_H
#define JOBD_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Like assert(), but never compiled out and says which property broke. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n",        \
			        __FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
