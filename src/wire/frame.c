/* SPDX-License-Identifier: MIT */
/*
 * Framing (see frame.h). The decoder is a small state machine: collect the
 * 4 header bytes, judge the length from them alone, then allocate the body
 * once and copy into it. Nothing here does I/O.
 */
#include "wire/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void frame_decoder_init(struct frame_decoder *d, uint32_t max_size)
{
	memset(d, 0, sizeof(*d));
	/* 0 or anything beyond what the allocator path serves means "the
	 * largest we support", so a config typo cannot make every frame
	 * too large or let a length near 4 GiB through. */
	if (max_size == 0 || max_size > FRAME_MAX_LIMIT)
		max_size = FRAME_MAX_LIMIT;
	d->max_size = max_size;
}

void frame_decoder_fini(struct frame_decoder *d)
{
	free(d->body);
	d->body = NULL;
	d->header_have = 0;
	d->body_size = 0;
	d->body_have = 0;
	d->ready = false;
}

static uint32_t get_be32(const uint8_t b[FRAME_HEADER_SIZE])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

int frame_decoder_feed(struct frame_decoder *d, const void *data, size_t len,
                       size_t *used)
{
	const uint8_t *p = data;
	size_t pos = 0;
	int rc = FRAME_MORE;

	if (d->error) {
		rc = d->error;
		goto out;
	}
	if (d->ready) {
		/* The caller has not taken the last frame: consume nothing. */
		rc = FRAME_READY;
		goto out;
	}

	while (d->header_have < FRAME_HEADER_SIZE) {
		if (pos == len)
			goto out;
		d->header[d->header_have++] = p[pos++];
		if (d->header_have < FRAME_HEADER_SIZE)
			continue;
		d->body_size = get_be32(d->header);
		if (d->body_size == 0)
			d->error = FRAME_EMPTY;
		else if (d->body_size > d->max_size)
			d->error = FRAME_TOO_LARGE;
		if (d->error) {
			rc = d->error;
			goto out;
		}
	}

	if (!d->body) {
		/* Not sticky: a later feed() retries the allocation. */
		d->body = malloc((size_t)d->body_size + 1);
		if (!d->body) {
			rc = -ENOMEM;
			goto out;
		}
	}

	size_t want = d->body_size - d->body_have;
	size_t n = len - pos < want ? len - pos : want;
	if (n) {
		memcpy(d->body + d->body_have, p + pos, n);
		d->body_have += (uint32_t)n;
		pos += n;
	}
	if (d->body_have == d->body_size) {
		d->body[d->body_size] = '\0';
		d->ready = true;
		rc = FRAME_READY;
	}
out:
	if (used)
		*used = pos;
	return rc;
}

char *frame_decoder_take(struct frame_decoder *d, size_t *len)
{
	char *body;

	if (!d->ready) {
		if (len)
			*len = 0;
		return NULL;
	}
	body = d->body;
	if (len)
		*len = d->body_size;
	d->body = NULL;
	d->ready = false;
	d->header_have = 0;
	d->body_have = 0;
	/* body_size is kept for frame_decoder_announced(). */
	return body;
}

bool frame_decoder_mid_frame(const struct frame_decoder *d)
{
	return d->error == 0 && !d->ready && d->header_have > 0;
}

uint32_t frame_decoder_announced(const struct frame_decoder *d)
{
	return d->body_size;
}

void frame_put_header(uint8_t out[FRAME_HEADER_SIZE], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

/*
 * Most messages are small: serialize into a stack buffer and copy into one
 * exact allocation. A larger body is measured by that same pass (json_dumpb
 * reports the full size even when the buffer is short), so a second pass
 * writes it straight into one exact allocation. One malloc either way, no
 * realloc growth; the price is a second serialization for bodies over
 * ENCODE_STACK_SIZE, which are rare and dominated by the plugin's work.
 */
#define ENCODE_STACK_SIZE 4096
#define ENCODE_FLAGS      (JSON_COMPACT)

int frame_encode(const json_t *msg, char **out, size_t *out_len)
{
	char stack[ENCODE_STACK_SIZE];
	char *buf = NULL;
	size_t n, n2;

	*out = NULL;
	*out_len = 0;
	if (!msg)
		return -EINVAL;

	n = json_dumpb(msg, stack, sizeof(stack), ENCODE_FLAGS);
	if (n == 0)
		return -EINVAL; /* not an object/array, or invalid content */
	if (n > FRAME_MAX_LIMIT)
		return -EMSGSIZE;

	buf = malloc(FRAME_HEADER_SIZE + n);
	if (!buf)
		return -ENOMEM;
	if (n <= sizeof(stack)) {
		memcpy(buf + FRAME_HEADER_SIZE, stack, n);
	} else {
		n2 = json_dumpb(msg, buf + FRAME_HEADER_SIZE, n, ENCODE_FLAGS);
		if (n2 != n) {
			/* msg changed under us: a caller bug, refuse it. */
			free(buf);
			return -EINVAL;
		}
	}
	frame_put_header((uint8_t *)buf, (uint32_t)n);
	*out = buf;
	*out_len = FRAME_HEADER_SIZE + n;
	return 0;
}
