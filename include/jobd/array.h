/* SPDX-License-Identifier: MIT */
/*
 * jobd binary arrays (protocol version 2, docs/protocol.md §12): a named,
 * typed, shaped block of raw little-endian bytes that travels beside a
 * message's JSON. The same description serves the wire codec, the plugin
 * ABI (include/jobd/plugin.h) and the client library
 * (include/jobd/client.h).
 *
 * The numbers of enum jobd_dtype are part of the ABI: new types are only
 * ever appended.
 */
#ifndef JOBD_ARRAY_H
#define JOBD_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many dimensions (NumPy allows 64; scientific data rarely
 * needs more than 4). 0 dimensions is a scalar of one element. */
#define JOBD_ARRAY_MAX_DIMS 8
/* Names are 1 to this many bytes of [A-Za-z0-9_-]: safe as file names. */
#define JOBD_ARRAY_NAME_MAX 64
/* At most this many arrays in one message. */
#define JOBD_ARRAYS_MAX 64

/* Element types; all little-endian. BYTES is opaque data, one dimension. */
enum jobd_dtype {
	JOBD_DTYPE_INVALID = 0,
	JOBD_DTYPE_U8 = 1,
	JOBD_DTYPE_I8 = 2,
	JOBD_DTYPE_U16 = 3,
	JOBD_DTYPE_I16 = 4,
	JOBD_DTYPE_U32 = 5,
	JOBD_DTYPE_I32 = 6,
	JOBD_DTYPE_U64 = 7,
	JOBD_DTYPE_I64 = 8,
	JOBD_DTYPE_F32 = 9,
	JOBD_DTYPE_F64 = 10,
	JOBD_DTYPE_BYTES = 11,
	JOBD_DTYPE_COUNT_
};

/*
 * One array. Who owns name and data is said wherever a struct jobd_array
 * is handed over; the struct itself is plain data the receiver may copy.
 * nbytes is always the product of shape times the element size.
 */
struct jobd_array {
	const char *name; /* NUL-terminated, 1..JOBD_ARRAY_NAME_MAX bytes */
	uint32_t dtype;   /* enum jobd_dtype */
	uint32_t ndim;    /* 0..JOBD_ARRAY_MAX_DIMS */
	uint64_t shape[JOBD_ARRAY_MAX_DIMS]; /* first ndim used, C order */
	const void *data; /* nbytes bytes; may be NULL when nbytes is 0 */
	size_t nbytes;
};

/* Bytes per element of a dtype, 0 for an unknown one. */
static inline size_t jobd_dtype_size(uint32_t dtype)
{
	switch (dtype) {
	case JOBD_DTYPE_U8:
	case JOBD_DTYPE_I8:
	case JOBD_DTYPE_BYTES:
		return 1;
	case JOBD_DTYPE_U16:
	case JOBD_DTYPE_I16:
		return 2;
	case JOBD_DTYPE_U32:
	case JOBD_DTYPE_I32:
	case JOBD_DTYPE_F32:
		return 4;
	case JOBD_DTYPE_U64:
	case JOBD_DTYPE_I64:
	case JOBD_DTYPE_F64:
		return 8;
	default:
		return 0;
	}
}

/* The wire name of a dtype ("f64"), NULL for an unknown one. */
static inline const char *jobd_dtype_name(uint32_t dtype)
{
	static const char *const names[JOBD_DTYPE_COUNT_] = {
	        NULL,  "u8",  "i8",  "u16", "i16", "u32",
	        "i32", "u64", "i64", "f32", "f64", "bytes"};

	return dtype < JOBD_DTYPE_COUNT_ ? names[dtype] : NULL;
}

#ifdef __cplusplus
}
#endif

#endif
