/* SPDX-License-Identifier: MIT */
/*
 * NumPy .npy files, read and written by jobctl for binary arrays
 * (docs/protocol.md §12). The format (numpy.lib.format): the magic
 * "\x93NUMPY", a major and minor version byte, the header's length
 * (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0), the header (a
 * Python dict literal: 'descr', 'fortran_order', 'shape'; padded with
 * spaces and a newline so that the data starts on a multiple of 64), then
 * the raw data.
 *
 * Read: versions 1.0, 2.0 and 3.0; dtypes '<f8' '<f4' '<i8' '<i4' '<i2'
 * '|i1' '<u8' '<u4' '<u2' '|u1' (little-endian, or '|' for one byte); C
 * order only. Fortran order, big-endian data and every other dtype are
 * refused with a message that says how to convert the array in NumPy.
 * The file is mapped, not read: the array points into the mapping.
 *
 * Write: version 1.0 (2.0 if the header would not fit), C order; a
 * `bytes` array is written as '|u1'.
 */
#ifndef JOBD_JOBCTL_NPY_H
#define JOBD_JOBCTL_NPY_H

#include <stdbool.h>
#include <stddef.h>

#include <jobd/array.h>

/* A .npy file mapped for reading. array.name is NULL (the caller names
 * it); array.data points into map, valid until npy_close(). */
struct npy_file {
	struct jobd_array array;
	void *map;
	size_t map_len;
};

/*
 * Parses a whole .npy image buf[0..len): fills *out (name NULL, data
 * pointing into buf) and returns 0, or returns -1 with why filled (one
 * line, no file name).
 */
int npy_parse(const void *buf, size_t len, struct jobd_array *out, char *why,
              size_t why_size);

/* Maps and parses path. Returns 0, or -1 with why filled (it names the
 * file). */
int npy_read(const char *path, struct npy_file *f, char *why, size_t why_size);

/* Unmaps. Accepts a zeroed struct. */
void npy_close(struct npy_file *f);

/*
 * Writes the preamble (magic, version, header length, header, padding)
 * for a into out[0..size); returns its length (a multiple of 64), or 0
 * if a's dtype has no .npy form or size is too small (512 bytes always
 * suffice for JOBD_ARRAY_MAX_DIMS dimensions).
 */
size_t npy_preamble(const struct jobd_array *a, char *out, size_t size);

/*
 * Writes a to path as a .npy file. Without force an existing file is
 * left alone and the call fails (EEXIST); the file appears whole or not
 * at all (written beside it, then renamed). Returns 0, or -1 with why
 * filled (it names the file).
 */
int npy_write(const char *path, const struct jobd_array *a, bool force,
              char *why, size_t why_size);

#endif
