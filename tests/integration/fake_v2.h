/* SPDX-License-Identifier: MIT */
/*
 * A small protocol version 2 server for tests of the client side of
 * binary arrays (docs/protocol.md §12) in what jobd itself never does: a
 * stored result with arrays (detached jobs carry none yet), broken arrays,
 * a version 1 hello. It decodes with jobd's own wire library, checks each
 * call's arrays, and answers on one connection at a time:
 *
 *   FAKE_V2_ECHO        hello version 2 (max_array_bytes 16 MiB); a call
 *                       is answered with its input and its arrays; a
 *                       `result` or `attach` of any job with the output
 *                       {"job": JOB} and one array "r", i32 [1, 2, 3];
 *                       anything else with pong.
 *   FAKE_V2_BAD_ARRAYS  hello version 2; a call is answered with an
 *                       arrays list that does not match its data.
 *   FAKE_V2_AS_V1       hello version 1, as a jobd older than arrays
 *                       answers; an array frame is refused too_large
 *                       and the connection closed, as such a jobd does.
 */
#ifndef JOBD_TESTS_FAKE_V2_H
#define JOBD_TESTS_FAKE_V2_H

#define FAKE_MAX_ARRAY_BYTES (16u << 20)

enum fake_v2_mode {
	FAKE_V2_ECHO,
	FAKE_V2_BAD_ARRAYS,
	FAKE_V2_AS_V1,
};

/* Serves connections accepted on lfd until accept fails; never returns
 * (exits). */
void fake_v2_serve(int lfd, enum fake_v2_mode mode) __attribute__((noreturn));

#endif
