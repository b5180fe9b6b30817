/* SPDX-License-Identifier: MIT */
/*
 * Array descriptors of protocol version 2 (docs/protocol.md §12): the
 * `arrays` member of a message lists each array's name, dtype, shape and
 * byte length; the raw bytes follow the JSON in the frame's data block,
 * each section starting on a 64-byte boundary. This module parses and
 * validates that list and points each array at its section in place (no
 * copy), and writes the list for the encoder. Pure code, no I/O; framing
 * itself (the prefix, the data block) is frame.h's.
 */
#ifndef JOBD_WIRE_ARRAY_H
#define JOBD_WIRE_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/array.h>
#include <jobd/error.h>

/* Sections (and the data block) start on multiples of this many bytes
 * from the start of the data block, which itself starts on a multiple of
 * it from the start of the frame: a receiver that holds the block at a
 * 64-byte aligned address reads every element in place. */
#define ARRAY_ALIGN 64u

/* n rounded up to a multiple of ARRAY_ALIGN (n < 2^63). */
static inline uint64_t array_align(uint64_t n)
{
	return (n + (ARRAY_ALIGN - 1)) & ~(uint64_t)(ARRAY_ALIGN - 1);
}

/* Why a descriptor list was refused: the protocol code (BAD_REQUEST for
 * every descriptor error) and a text that names the array and field. */
struct array_error {
	enum jobd_error code;
	char text[200];
};

/* The dtype for a wire name ("f64"), JOBD_DTYPE_INVALID if unknown. len is
 * the name's length (a name with a NUL inside is unknown). */
uint32_t array_dtype_from_name(const char *name, size_t len);

/* Whether s[0..len) is a valid array name: 1..64 of [A-Za-z0-9_-]. */
bool array_name_ok(const char *s, size_t len);

/*
 * Product of shape[0..ndim) times the element size of dtype into *nbytes.
 * Returns 0, or -EOVERFLOW if it does not fit in 63 bits (the largest
 * length JSON integers carry exactly here), or -EINVAL for a bad dtype or
 * ndim.
 */
int array_shape_bytes(uint32_t dtype, uint32_t ndim, const uint64_t *shape,
                      uint64_t *nbytes);

/*
 * Parses a message's `arrays` member (list; NULL when the member is
 * absent) against the frame's data block data[0..data_len) and fills
 * out[0..*n) (out has room for JOBD_ARRAYS_MAX). Every rule of §12.2 is
 * checked: list shape, names (valid, unique), dtype, shape (0..8
 * non-negative integers, product without overflow), nbytes equal to the
 * product, and the sections exactly filling the data block. Names borrow
 * from list (valid while the message's JSON lives), data from the data
 * block. Returns 0, or -1 with *err filled; *n is then 0.
 */
int array_parse(const json_t *list, const void *data, uint64_t data_len,
                struct jobd_array *out, size_t *n, struct array_error *err);

/*
 * Checks arrays a sender is about to put into a frame (the same rules
 * as array_parse, and data non-NULL when nbytes > 0) and sums their
 * data block: *data_len = sum of array_align(nbytes). Returns 0, or -1
 * with why filled.
 */
int array_check_list(const struct jobd_array *a, size_t n, uint64_t *data_len,
                     char *why, size_t why_size);

/* Receives successive pieces of encoded text; returns < 0 to stop. */
typedef int (*array_sink_fn)(const char *chunk, size_t size, void *arg);

/*
 * Writes the `arrays` list for a[0..n) as compact JSON text
 * ([{"name":..,"dtype":..,"shape":[..],"nbytes":..},...]) to sink. The
 * arrays must have passed array_check_list. Returns 0 or the sink's
 * negative return.
 */
int array_dump(const struct jobd_array *a, size_t n, array_sink_fn sink,
               void *arg);

#endif
