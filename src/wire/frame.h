/* SPDX-License-Identifier: MIT */
/*
 * Framing: a 4-byte big-endian length N (1 <= N <= max), then N bytes of one
 * UTF-8 JSON object. Pure code, no I/O: the caller feeds whatever bytes it
 * has, in any split, and takes whole frames out.
 */
#ifndef JOBD_WIRE_FRAME_H
#define JOBD_WIRE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define FRAME_HEADER_SIZE 4u
/* The largest max_size the 4-byte prefix and our allocator can serve. */
#define FRAME_MAX_LIMIT (1u << 30)

enum frame_status {
	FRAME_MORE = 0,       /* all input used, no whole frame yet */
	FRAME_READY = 1,      /* a frame is complete: frame_decoder_take() */
	FRAME_EMPTY = -1,     /* length 0: framing broken */
	FRAME_TOO_LARGE = -2, /* length over max_size: refused unbuffered */
};

struct frame_decoder {
	uint32_t max_size;
	uint8_t header[FRAME_HEADER_SIZE];
	uint8_t header_have;
	bool ready;
	int error; /* sticky: once set, feed() returns it and consumes nothing
	            */
	uint32_t body_size;
	uint32_t body_have;
	char *body; /* malloc'd body_size + 1 (NUL-terminated), owned here */
};

void frame_decoder_init(struct frame_decoder *d, uint32_t max_size);
/* Frees a partly received body. Accepts a zeroed decoder. */
void frame_decoder_fini(struct frame_decoder *d);

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

/* After FRAME_READY: hands over the body (NUL-terminated, caller frees with
 * free()) and its length, and resets for the next frame. */
char *frame_decoder_take(struct frame_decoder *d, size_t *len);

/*
 * If data begins with a whole frame of a length the decoder accepts
 * (1..max_size), points *body at its body in place and returns how many
 * bytes the frame spans (header and body); else returns 0, and the bytes
 * go to frame_decoder_feed (which also refuses a bad length). Lets a
 * reader whose buffer holds whole frames parse them without a copy.
 */
size_t frame_whole_at(const void *data, size_t len, uint32_t max_size,
                      const char **body, uint32_t *body_len);

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

#endif
