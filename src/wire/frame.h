/* SPDX-License-Identifier: MIT */
/*
 * Framing: a 4-byte big-endian length N (1 <= N <= max), then N bytes of one
 * UTF-8 JSON object. Pure code, no I/O: the caller feeds whatever bytes it
 * has, in any split, and takes whole frames out.
 *
 * Protocol version 2 adds the array frame (docs/protocol.md §12.1): a
 * 16-byte prefix (0x80000000 | J as 4 big-endian bytes, 4 zero bytes, the
 * data block's length D as 8 big-endian bytes), J bytes of JSON, zero
 * padding up to the next multiple of 64 from the frame's start, and D
 * bytes of array data. Only a decoder told so (frame_decoder_allow_arrays)
 * accepts one; otherwise the flag makes the length too large, exactly as
 * in version 1.
 */
#ifndef JOBD_WIRE_FRAME_H
#define JOBD_WIRE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include <jansson.h>

#include <jobd/array.h>

#define FRAME_HEADER_SIZE 4u
/* The largest max_size the 4-byte prefix and our allocator can serve. */
#define FRAME_MAX_LIMIT (1u << 30)

/* Array frames (protocol v2). */
#define FRAME_ARRAY_FLAG        0x80000000u
#define FRAME_ARRAY_PREFIX_SIZE 16u
#define FRAME_ARRAY_ALIGN       64u

enum frame_status {
	FRAME_MORE = 0,  /* all input used, no whole frame yet */
	FRAME_READY = 1, /* a frame is complete: frame_decoder_take() */
	/* An array frame's prefix is read and judged, nothing of it is
	 * allocated yet: the caller may check frame_decoder_reserve()
	 * against its own budget (max_input_buffer) and refuse, or feed on.
	 * Returned once per array frame, never for a version 1 frame. */
	FRAME_SIZED = 2,
	FRAME_EMPTY = -1,     /* length 0: framing broken */
	FRAME_TOO_LARGE = -2, /* length over max_size: refused unbuffered */
	/* Array frame: data block over max_data, refused unbuffered. */
	FRAME_DATA_TOO_LARGE = -3,
	/* Array frame: reserved bytes not zero, or a data length that is not
	 * a multiple of 64: framing broken. */
	FRAME_BAD_PREFIX = -4,
};

/*
 * Where an array frame's data block is put. alloc returns size bytes
 * (size > 0) aligned to FRAME_ARRAY_ALIGN, or NULL; release frees what it
 * returned. The default is aligned_alloc/free; the daemon may put blocks
 * in shared memory (a memfd) so that worker processes map them instead
 * of receiving a copy.
 */
struct frame_data_ops {
	void *(*alloc)(void *ud, uint64_t size);
	void (*release)(void *ud, void *block, uint64_t size);
	void *ud;
};

struct frame_decoder {
	uint32_t max_size;
	uint8_t header[FRAME_ARRAY_PREFIX_SIZE];
	uint8_t header_have;
	uint8_t header_need; /* 4, or 16 once the array flag is seen */
	bool ready;
	bool sized_told; /* FRAME_SIZED returned for the current frame */
	int error; /* sticky: once set, feed() returns it and consumes nothing
	            */
	uint32_t body_size;
	uint32_t body_have;
	char *body; /* malloc'd body_size + 1 (NUL-terminated), owned here */

	/* Array frames: max_data 0 refuses them (protocol v1). */
	uint64_t max_data;
	struct frame_data_ops ops;
	uint32_t pad_size, pad_have; /* zero bytes between JSON and data */
	uint64_t data_size, data_have;
	void *data; /* from ops.alloc, data_size bytes, owned here */
};

void frame_decoder_init(struct frame_decoder *d, uint32_t max_size);
/* Frees a partly received body. Accepts a zeroed decoder. */
void frame_decoder_fini(struct frame_decoder *d);

/*
 * Accepts array frames from now on (after a hello that agreed on version
 * 2), with data blocks of at most max_data bytes (1..2^62; larger is
 * clamped). ops may be NULL for aligned_alloc/free; it is copied. Call
 * between frames.
 */
void frame_decoder_allow_arrays(struct frame_decoder *d, uint64_t max_data,
                                const struct frame_data_ops *ops);

/* Bytes the current frame will hold once buffered (JSON + NUL + data
 * block), known from its prefix alone: what max_input_buffer counts. 0
 * between frames. */
uint64_t frame_decoder_reserve(const struct frame_decoder *d);

/* The data length the last array prefix announced (for error messages). */
uint64_t frame_decoder_announced_data(const struct frame_decoder *d);

/*
 * Consumes bytes from data (len of them may be 0) until one frame is complete
 * or data runs out; *used is how many were consumed. Returns a frame_status.
 * On FRAME_READY the caller must frame_decoder_take() before feeding again.
 * On an error the decoder consumes nothing more (errors are sticky) and no
 * body byte has been buffered: the length was refused from the header alone.
 * Returns -ENOMEM (negative errno) if the body cannot be allocated.
 */
int frame_decoder_feed(struct frame_decoder *d, const void *data, size_t len,
                       size_t *used);

/*
 * Where the next bytes of the current frame may be written directly
 * (received straight into the body or the data block, without feed()'s
 * copy): a pointer and *room > 0 while the decoder is inside a body or a
 * data block it has allocated; NULL otherwise (then feed()). After
 * writing n <= room bytes there, frame_decoder_wrote() accounts for them.
 */
void *frame_decoder_direct(struct frame_decoder *d, size_t *room);

/* Accounts for n bytes written at frame_decoder_direct()'s pointer.
 * Returns a frame_status as feed() does (FRAME_READY when they ended the
 * frame), or -EINVAL if n is more than the room there was. */
int frame_decoder_wrote(struct frame_decoder *d, size_t n);

/* After FRAME_READY: hands over the body (NUL-terminated, caller frees with
 * free()) and its length, and resets for the next frame. An array frame's
 * data block is released (use frame_decoder_take_data to keep it). */
char *frame_decoder_take(struct frame_decoder *d, size_t *len);

/*
 * After FRAME_READY: like frame_decoder_take, and also hands over the data
 * block: *data (NULL for a version 1 frame or an empty block; free it with
 * the decoder's ops.release, by default free()) and *data_len.
 */
char *frame_decoder_take_data(struct frame_decoder *d, size_t *len, void **data,
                              uint64_t *data_len);

/*
 * If data begins with a whole frame of a length the decoder accepts
 * (1..max_size), points *body at its body in place and returns how many
 * bytes the frame spans (header and body); else returns 0, and the bytes
 * go to frame_decoder_feed (which also refuses a bad length). Lets a
 * reader whose buffer holds whole frames parse them without a copy.
 */
size_t frame_whole_at(const void *data, size_t len, uint32_t max_size,
                      const char **body, uint32_t *body_len);

/* A frame seen in place by frame_at(). */
struct frame_view {
	const char *json; /* not NUL-terminated */
	uint32_t json_len;
	const void *data; /* array frames: the data block; else NULL */
	uint64_t data_len;
};

/*
 * frame_whole_at for both kinds of frame: if data begins with a whole,
 * acceptable frame (an array frame only when max_data > 0), fills *v with
 * pointers into data and returns the frame's total length; else 0. The
 * data block is 64-byte aligned only if data is.
 */
uint64_t frame_at(const void *data, size_t len, uint32_t max_size,
                  uint64_t max_data, struct frame_view *v);

/* True once at least one byte of a frame has arrived and the frame is not
 * complete: the frame deadline is running. */
bool frame_decoder_mid_frame(const struct frame_decoder *d);

/* The length the last header announced (for error messages). */
uint32_t frame_decoder_announced(const struct frame_decoder *d);

/* Writes the 4-byte big-endian prefix for a body of len bytes. */
void frame_put_header(uint8_t out[FRAME_HEADER_SIZE], uint32_t len);

/*
 * Encodes msg compactly as one frame: *out is a malloc'd buffer holding the
 * header and the body, *out_len its size; the caller frees it. Returns 0 or
 * -ENOMEM, or -EMSGSIZE if the body would exceed FRAME_MAX_LIMIT.
 */
int frame_encode(const json_t *msg, char **out, size_t *out_len);

/* frame_encode with `,"provenance":TEXT` added to msg, which must then be
 * a non-empty object (-EINVAL otherwise); provenance is JSON text, or NULL
 * for none. */
int frame_encode_prov(const json_t *msg, const char *provenance, char **out,
                      size_t *out_len);

/*
 * Encodes a result message, {"type":"result","id":id,"output":output},
 * straight into a frame, with `,"provenance":TEXT` before the closing
 * brace when provenance (JSON text) is not NULL: the answer to every
 * successful call, without building a message object around the output.
 * Same ownership and errors as frame_encode.
 */
int frame_encode_result(int64_t id, const json_t *output,
                        const char *provenance, char **out, size_t *out_len);

/* The 16-byte prefix of an array frame with json_len bytes of JSON and
 * data_len bytes of data block. */
void frame_put_array_prefix(uint8_t out[FRAME_ARRAY_PREFIX_SIZE],
                            uint32_t json_len, uint64_t data_len);

/* Zero bytes after an array frame's JSON of json_len bytes. */
static inline uint32_t frame_array_pad(uint32_t json_len)
{
	return (uint32_t)((FRAME_ARRAY_ALIGN -
	                   (FRAME_ARRAY_PREFIX_SIZE + json_len) %
	                           FRAME_ARRAY_ALIGN) %
	                  FRAME_ARRAY_ALIGN);
}

/*
 * An encoded frame as pieces for writev()/sendmsg() or
 * evbuffer_add_reference(): iov[0] is head (prefix, JSON, padding; owned,
 * malloc'd); then, per array, its bytes (borrowed from the caller's
 * struct jobd_array: they must stay unchanged until the frame is
 * written) and its zero padding (static). The array bytes are never
 * copied. A message without arrays is one piece, byte for byte what
 * frame_encode writes.
 */
struct frame_out {
	char *head;
	size_t head_len;
	struct iovec *iov; /* malloc'd, iovcnt entries */
	int iovcnt;
	uint64_t total; /* bytes in all pieces */
};

/* Frees head and iov (not the borrowed bytes). Accepts a zeroed one. */
void frame_out_fini(struct frame_out *o);

/*
 * frame_encode_prov with arrays: msg (a non-empty object without an
 * "arrays" member) gets `,"arrays":[...]` describing a[0..n) after the
 * provenance, and the frame is an array frame carrying their bytes; with
 * n == 0 it is a version 1 frame. Returns 0, -ENOMEM, -EMSGSIZE (JSON
 * over FRAME_MAX_LIMIT), or -EINVAL (bad msg, or arrays that break a rule
 * of array_check_list).
 */
int frame_encode_arrays(const json_t *msg, const char *provenance,
                        const struct jobd_array *a, size_t n,
                        struct frame_out *out);

/* frame_encode_result with arrays (see frame_encode_arrays). */
int frame_encode_result_arrays(int64_t id, const json_t *output,
                               const char *provenance,
                               const struct jobd_array *a, size_t n,
                               struct frame_out *out);

#endif
