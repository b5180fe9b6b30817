/* SPDX-License-Identifier: MIT */
/*
 * A job's binary arrays (protocol v2): the input arrays as they arrived
 * (one shared-memory data block, util/shm.h, and the table that points
 * into it), the output arrays a plugin creates (each its own shared-memory
 * block), and, once the worker has encoded the answer, the frame's pieces
 * that point at them. Everything lives in memfds whose fds stay reachable
 * (arrays_in_fd, arrays_out_fd), so a worker process can be handed them
 * and map the same pages.
 *
 * Ownership: made by the loop with the job; the worker that runs the job
 * fills the outputs and the answer; the loop then either hands the whole
 * object to the session that sends the answer (it frees it when the last
 * piece is written) or frees it with the job.
 */
#ifndef JOBD_DAEMON_EXEC_ARRAYS_H
#define JOBD_DAEMON_EXEC_ARRAYS_H

#include <stddef.h>
#include <stdint.h>

#include <jobd/array.h>

#include "wire/frame.h"

struct job_arrays {
	/* Inputs: names copied here, data into block. */
	void *in_block; /* shm block, owned; NULL for none */
	uint64_t in_block_len;
	struct jobd_array in[JOBD_ARRAYS_MAX];
	char in_names[JOBD_ARRAYS_MAX][JOBD_ARRAY_NAME_MAX + 1];
	size_t n_in;

	/* Outputs, created by the plugin through the host table. */
	struct jobd_array out[JOBD_ARRAYS_MAX];
	char out_names[JOBD_ARRAYS_MAX][JOBD_ARRAY_NAME_MAX + 1];
	void *out_blocks[JOBD_ARRAYS_MAX]; /* shm blocks, owned */
	size_t n_out;
	uint64_t out_total; /* sum of out[].nbytes */

	/* The answer frame that carries the outputs (its array pieces
	 * point into out_blocks). */
	struct frame_out answer;
};

/* A new, empty set. NULL without memory. */
struct job_arrays *arrays_new(void);

/* Frees the set, its blocks and its answer pieces. Accepts NULL. The
 * void * form is what a session's done callback takes. */
void arrays_free(struct job_arrays *a);
void arrays_free_cb(void *a);

/* Takes over block (shm, len bytes) and the table in[0..n) that points
 * into it (names copied). Returns 0 (the block is owned then), -EINVAL
 * if inputs were set already. */
int arrays_set_input(struct job_arrays *a, void *block, uint64_t len,
                     const struct jobd_array *in, size_t n);

/* The input array named name, or NULL. */
const struct jobd_array *arrays_find_input(const struct job_arrays *a,
                                           const char *name);

/*
 * A new output array: name copied, its bytes a fresh shm block of the
 * shape's size (zero-filled), *data pointing at them. max_total bounds
 * the sum of the outputs' bytes. Returns 0, -EINVAL (bad or repeated
 * name, dtype, ndim, more than JOBD_ARRAYS_MAX, overflow; why says which),
 * -EFBIG (over max_total) or -ENOMEM.
 */
int arrays_add_output(struct job_arrays *a, const char *name, uint32_t dtype,
                      uint32_t ndim, const uint64_t *shape, uint64_t max_total,
                      void **data, char *why, size_t why_size);

/* The memfd of an input block / output i (-1 for none), owned by the set:
 * dup() it to hand it on. */
int arrays_in_fd(const struct job_arrays *a);
int arrays_out_fd(const struct job_arrays *a, size_t i);

/*
 * The input arrays' SHA-256 as JSON object text {"name":"hex",...} into a
 * malloc'd string (*text; NULL when there are no inputs). Returns 0 or
 * -ENOMEM/-EIO.
 */
int arrays_input_hashes(const struct job_arrays *a, char **text);

#endif
