/* SPDX-License-Identifier: MIT */
/*
 * Framing (see frame.h). The decoder is a small state machine: collect the
 * 4 header bytes, judge the length from them alone, then allocate the body
 * once and copy into it. Nothing here does I/O.
 */
#include "wire/frame.h"

#include <errno.h>
#include <stdio.h>
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

size_t frame_whole_at(const void *data, size_t len, uint32_t max_size,
                      const char **body, uint32_t *body_len)
{
	const uint8_t *p = data;
	uint32_t n;

	if (len < FRAME_HEADER_SIZE)
		return 0;
	n = get_be32(p);
	if (n == 0 || n > max_size || len - FRAME_HEADER_SIZE < n)
		return 0;
	*body = (const char *)p + FRAME_HEADER_SIZE;
	*body_len = n;
	return FRAME_HEADER_SIZE + (size_t)n;
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
 * Most messages are small: they are serialized into a stack buffer and then
 * copied into one exact allocation, so the common case costs one malloc.
 * A body that outgrows the stack moves to the heap, which then grows by 4x
 * (a 16 MiB body takes 5 reallocs; glibc serves those sizes with mremap, so
 * growing does not copy). A single serialization pass either way: measuring
 * first with json_dumpb and writing in a second pass cost 1.8x the time for
 * a 17 MB result of reals, far more than the reallocs.
 */
#define ENCODE_STACK_SIZE 4096
#define ENCODE_HEAP_START (64 * 1024)
#define ENCODE_FLAGS      (JSON_COMPACT)

struct encode_buf {
	char *data; /* stack or heap; the header's 4 bytes come first */
	size_t used;
	size_t cap;
	bool on_heap;
	int err;
};

static int encode_append(const char *chunk, size_t size, void *arg)
{
	struct encode_buf *b = arg;
	size_t need = b->used + size;

	if (need > FRAME_HEADER_SIZE + (size_t)FRAME_MAX_LIMIT) {
		b->err = -EMSGSIZE;
		return -1;
	}
	if (need > b->cap) {
		size_t cap = b->on_heap ? b->cap : ENCODE_HEAP_START;
		char *p;

		while (cap < need)
			cap *= 4;
		if (b->on_heap) {
			p = realloc(b->data, cap);
		} else {
			p = malloc(cap);
			if (p)
				memcpy(p, b->data, b->used);
		}
		if (!p) {
			b->err = -ENOMEM;
			return -1;
		}
		b->data = p;
		b->cap = cap;
		b->on_heap = true;
	}
	memcpy(b->data + b->used, chunk, size);
	b->used = need;
	return 0;
}

/* Hands the encoded body over as a frame (header filled in), or frees it
 * when failed (the dump or an append returned < 0). */
static int encode_finish(struct encode_buf *b, bool failed, char **out,
                         size_t *out_len)
{
	if (failed) {
		if (b->on_heap)
			free(b->data);
		/* No error from the callback: not an object/array, or a
		 * string that is not UTF-8. */
		return b->err ? b->err : -EINVAL;
	}
	if (!b->on_heap) {
		char *p = malloc(b->used);
		if (!p)
			return -ENOMEM;
		memcpy(p, b->data, b->used);
		b->data = p;
	}
	frame_put_header((uint8_t *)b->data,
	                 (uint32_t)(b->used - FRAME_HEADER_SIZE));
	*out = b->data;
	*out_len = b->used;
	return 0;
}

/* Ends an object whose text so far lacks its closing brace, with
 * `,"provenance":TEXT` first when provenance is not NULL. */
static int close_object(struct encode_buf *b, const char *provenance)
{
	static const char key[] = ",\"provenance\":";

	if (provenance &&
	    (encode_append(key, sizeof(key) - 1, b) < 0 ||
	     encode_append(provenance, strlen(provenance), b) < 0))
		return -1;
	return encode_append("}", 1, b);
}

int frame_encode_prov(const json_t *msg, const char *provenance, char **out,
                      size_t *out_len)
{
	char stack[ENCODE_STACK_SIZE];
	struct encode_buf b = {
	        .data = stack,
	        .used = FRAME_HEADER_SIZE,
	        .cap = sizeof(stack),
	};
	bool failed;

	*out = NULL;
	*out_len = 0;
	if (!msg || (provenance && json_object_size(msg) == 0))
		return -EINVAL; /* provenance goes into a non-empty object */
	failed = json_dump_callback(msg, encode_append, &b, ENCODE_FLAGS) < 0;
	if (!failed && provenance) {
		b.used--; /* the object's '}' (compact: always the last byte) */
		failed = close_object(&b, provenance) < 0;
	}
	return encode_finish(&b, failed, out, out_len);
}

int frame_encode(const json_t *msg, char **out, size_t *out_len)
{
	return frame_encode_prov(msg, NULL, out, out_len);
}

int frame_encode_result(int64_t id, const json_t *output,
                        const char *provenance, char **out, size_t *out_len)
{
	char stack[ENCODE_STACK_SIZE], head[64];
	struct encode_buf b = {
	        .data = stack,
	        .used = FRAME_HEADER_SIZE,
	        .cap = sizeof(stack),
	};
	bool failed;
	int n;

	*out = NULL;
	*out_len = 0;
	if (!output)
		return -EINVAL;
	n = snprintf(
	        head, sizeof(head),
	        "{\"type\":\"result\",\"id\":%lld,\"output\":", (long long)id);
	failed = encode_append(head, (size_t)n, &b) < 0 ||
	         json_dump_callback(output, encode_append, &b,
	                            ENCODE_FLAGS | JSON_ENCODE_ANY) < 0 ||
	         close_object(&b, provenance) < 0;
	return encode_finish(&b, failed, out, out_len);
}
