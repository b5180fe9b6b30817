/* SPDX-License-Identifier: MIT */
/*
 * Framing (see frame.h). The decoder is a small state machine: collect the
 * 4 header bytes, judge the length from them alone, then allocate the body
 * once and copy into it. Nothing here does I/O.
 */
#include "wire/frame.h"

#include "wire/array.h"

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
	d->header_need = FRAME_HEADER_SIZE;
}

static void *data_alloc_default(void *ud, uint64_t size)
{
	(void)ud;
	if (size > SIZE_MAX)
		return NULL;
	/* Data lengths are multiples of the alignment, as aligned_alloc
	 * wants. */
	return aligned_alloc(FRAME_ARRAY_ALIGN, (size_t)size);
}

static void data_release_default(void *ud, void *block, uint64_t size)
{
	(void)ud;
	(void)size;
	free(block);
}

static void data_release(struct frame_decoder *d)
{
	if (d->data) {
		if (d->ops.release)
			d->ops.release(d->ops.ud, d->data, d->data_size);
		else
			free(d->data);
	}
	d->data = NULL;
}

/* Ready for the next frame's first byte. body_size and data_size are
 * kept for frame_decoder_announced*(). */
static void frame_reset(struct frame_decoder *d)
{
	d->header_have = 0;
	d->header_need = FRAME_HEADER_SIZE;
	d->body_have = 0;
	d->pad_have = 0;
	d->data_have = 0;
	d->sized_told = false;
	d->ready = false;
}

void frame_decoder_fini(struct frame_decoder *d)
{
	free(d->body);
	d->body = NULL;
	data_release(d);
	frame_reset(d);
	d->body_size = 0;
	d->data_size = 0;
}

void frame_decoder_allow_arrays(struct frame_decoder *d, uint64_t max_data,
                                const struct frame_data_ops *ops)
{
	if (max_data == 0 || max_data > ((uint64_t)1 << 62))
		max_data = (uint64_t)1 << 62;
	d->max_data = max_data;
	if (ops && ops->alloc && ops->release) {
		d->ops = *ops;
	} else {
		d->ops.alloc = data_alloc_default;
		d->ops.release = data_release_default;
		d->ops.ud = NULL;
	}
}

uint64_t frame_decoder_reserve(const struct frame_decoder *d)
{
	if (d->error || d->header_have < FRAME_HEADER_SIZE ||
	    d->header_have < d->header_need)
		return 0;
	return (uint64_t)d->body_size + 1 + d->data_size;
}

uint64_t frame_decoder_announced_data(const struct frame_decoder *d)
{
	return d->data_size;
}

static uint32_t get_be32(const uint8_t b[FRAME_HEADER_SIZE])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static uint64_t get_be64(const uint8_t b[8])
{
	return (uint64_t)get_be32(b) << 32 | get_be32(b + 4);
}

/* Judges a whole array prefix: 0 and the lengths, or a frame_status. */
static int prefix_judge(const uint8_t h[FRAME_ARRAY_PREFIX_SIZE],
                        uint32_t max_size, uint64_t max_data,
                        uint32_t *json_len, uint64_t *data_len)
{
	*json_len = get_be32(h) & ~FRAME_ARRAY_FLAG;
	*data_len = get_be64(h + 8);
	if (get_be32(h + 4) != 0)
		return FRAME_BAD_PREFIX;
	if (*json_len == 0)
		return FRAME_EMPTY;
	if (*json_len > max_size)
		return FRAME_TOO_LARGE;
	if (*data_len % FRAME_ARRAY_ALIGN)
		return FRAME_BAD_PREFIX;
	if (*data_len > max_data)
		return FRAME_DATA_TOO_LARGE;
	return 0;
}

uint64_t frame_at(const void *data, size_t len, uint32_t max_size,
                  uint64_t max_data, struct frame_view *v)
{
	const uint8_t *p = data;
	uint32_t j;
	uint64_t dlen, total;

	if (len < FRAME_HEADER_SIZE)
		return 0;
	if (!(get_be32(p) & FRAME_ARRAY_FLAG)) {
		const char *body;
		uint32_t n;
		size_t used = frame_whole_at(data, len, max_size, &body, &n);

		if (used) {
			v->json = body;
			v->json_len = n;
			v->data = NULL;
			v->data_len = 0;
		}
		return used;
	}
	if (!max_data || len < FRAME_ARRAY_PREFIX_SIZE ||
	    prefix_judge(p, max_size, max_data, &j, &dlen) != 0)
		return 0;
	total = (uint64_t)FRAME_ARRAY_PREFIX_SIZE + j + frame_array_pad(j);
	if (len < total || len - total < dlen)
		return 0;
	v->json = (const char *)p + FRAME_ARRAY_PREFIX_SIZE;
	v->json_len = j;
	v->data = dlen ? p + total : NULL;
	v->data_len = dlen;
	return total + dlen;
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

/* The header is whole: judges it. Returns 0 to go on, FRAME_SIZED, or
 * an error (then sticky). */
static int header_done(struct frame_decoder *d)
{
	uint32_t n;
	int rc = 0;

	if (d->header_need == FRAME_ARRAY_PREFIX_SIZE) {
		rc = prefix_judge(d->header, d->max_size, d->max_data,
		                  &d->body_size, &d->data_size);
		d->pad_size = frame_array_pad(d->body_size);
		if (rc == 0) {
			/* Judged, nothing allocated: the caller may weigh
			 * the whole frame against its budget now. */
			d->sized_told = true;
			return FRAME_SIZED;
		}
	} else {
		n = get_be32(d->header);
		d->body_size = n;
		d->data_size = 0;
		d->pad_size = 0;
		if (n == 0)
			rc = FRAME_EMPTY;
		else if (n > d->max_size)
			rc = FRAME_TOO_LARGE;
	}
	d->error = rc;
	return rc;
}

int frame_decoder_feed(struct frame_decoder *d, const void *data, size_t len,
                       size_t *used)
{
	const uint8_t *p = data;
	size_t pos = 0, n;
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
	if (d->header_need < FRAME_HEADER_SIZE)
		d->header_need = FRAME_HEADER_SIZE; /* a zeroed decoder */

	while (d->header_have < d->header_need) {
		if (pos == len)
			goto out;
		d->header[d->header_have++] = p[pos++];
		if (d->header_have < d->header_need)
			continue;
		if (d->header_need == FRAME_HEADER_SIZE && d->max_data &&
		    (get_be32(d->header) & FRAME_ARRAY_FLAG)) {
			d->header_need = FRAME_ARRAY_PREFIX_SIZE;
			continue;
		}
		rc = header_done(d);
		if (rc != 0)
			goto out;
	}

	if (!d->body) {
		/* Not sticky: a later feed() retries the allocation. */
		d->body = malloc((size_t)d->body_size + 1);
		if (!d->body) {
			rc = -ENOMEM;
			goto out;
		}
	}

	n = len - pos < d->body_size - d->body_have
	            ? len - pos
	            : d->body_size - d->body_have;
	if (n) {
		memcpy(d->body + d->body_have, p + pos, n);
		d->body_have += (uint32_t)n;
		pos += n;
	}
	if (d->body_have < d->body_size)
		goto out;

	/* The padding after an array frame's JSON: skipped unread. */
	n = len - pos < d->pad_size - d->pad_have ? len - pos
	                                          : d->pad_size - d->pad_have;
	d->pad_have += (uint32_t)n;
	pos += n;
	if (d->pad_have < d->pad_size)
		goto out;

	if (d->data_size && !d->data) {
		d->data = d->ops.alloc(d->ops.ud, d->data_size);
		if (!d->data) {
			rc = -ENOMEM;
			goto out;
		}
	}
	n = (uint64_t)(len - pos) < d->data_size - d->data_have
	            ? len - pos
	            : (size_t)(d->data_size - d->data_have);
	if (n) {
		memcpy((char *)d->data + d->data_have, p + pos, n);
		d->data_have += n;
		pos += n;
	}
	if (d->data_have == d->data_size) {
		d->body[d->body_size] = '\0';
		d->ready = true;
		rc = FRAME_READY;
	}
out:
	if (used)
		*used = pos;
	return rc;
}

void *frame_decoder_direct(struct frame_decoder *d, size_t *room)
{
	uint64_t left;

	*room = 0;
	if (d->error || d->ready || d->header_have < FRAME_HEADER_SIZE ||
	    d->header_have < d->header_need || !d->body)
		return NULL;
	if (d->body_have < d->body_size) {
		*room = d->body_size - d->body_have;
		return d->body + d->body_have;
	}
	if (d->pad_have < d->pad_size || !d->data ||
	    d->data_have == d->data_size)
		return NULL;
	left = d->data_size - d->data_have;
	*room = left > SIZE_MAX ? SIZE_MAX : (size_t)left;
	return (char *)d->data + d->data_have;
}

int frame_decoder_wrote(struct frame_decoder *d, size_t n)
{
	size_t room;

	if (!frame_decoder_direct(d, &room) || n > room)
		return -EINVAL;
	if (d->body_have < d->body_size)
		d->body_have += (uint32_t)n;
	else
		d->data_have += n;
	/* A frame that ends here is finished by a feed of nothing, which
	 * also steps over padding and allocates a data block. */
	return frame_decoder_feed(d, "", 0, NULL);
}

char *frame_decoder_take_data(struct frame_decoder *d, size_t *len, void **data,
                              uint64_t *data_len)
{
	char *body;

	if (data)
		*data = NULL;
	if (data_len)
		*data_len = 0;
	if (!d->ready) {
		if (len)
			*len = 0;
		return NULL;
	}
	body = d->body;
	if (len)
		*len = d->body_size;
	if (data) {
		*data = d->data;
		d->data = NULL;
		if (data_len)
			*data_len = d->data_size;
	}
	data_release(d);
	d->body = NULL;
	frame_reset(d);
	return body;
}

char *frame_decoder_take(struct frame_decoder *d, size_t *len)
{
	return frame_decoder_take_data(d, len, NULL, NULL);
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
	size_t start; /* prefix bytes before the JSON: 0 means 4 */
	size_t slack; /* bytes allowed past the JSON limit (padding) */
};

static int encode_append(const char *chunk, size_t size, void *arg)
{
	struct encode_buf *b = arg;
	size_t need = b->used + size;

	if (need > (b->start ? b->start : FRAME_HEADER_SIZE) + b->slack +
	                   (size_t)FRAME_MAX_LIMIT) {
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
 * `,"provenance":TEXT` first when provenance is not NULL, then
 * `,"arrays":[...]` when n > 0. */
static int close_object_arrays(struct encode_buf *b, const char *provenance,
                               const struct jobd_array *a, size_t n)
{
	static const char key[] = ",\"provenance\":";
	static const char akey[] = ",\"arrays\":";

	if (provenance &&
	    (encode_append(key, sizeof(key) - 1, b) < 0 ||
	     encode_append(provenance, strlen(provenance), b) < 0))
		return -1;
	if (n && (encode_append(akey, sizeof(akey) - 1, b) < 0 ||
	          array_dump(a, n, encode_append, b) < 0))
		return -1;
	return encode_append("}", 1, b);
}

static int close_object(struct encode_buf *b, const char *provenance)
{
	return close_object_arrays(b, provenance, NULL, 0);
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

void frame_put_array_prefix(uint8_t out[FRAME_ARRAY_PREFIX_SIZE],
                            uint32_t json_len, uint64_t data_len)
{
	frame_put_header(out, FRAME_ARRAY_FLAG | json_len);
	memset(out + 4, 0, 4);
	frame_put_header(out + 8, (uint32_t)(data_len >> 32));
	frame_put_header(out + 12, (uint32_t)data_len);
}

void frame_out_fini(struct frame_out *o)
{
	if (!o)
		return;
	free(o->head);
	free(o->iov);
	memset(o, 0, sizeof(*o));
}

/* Zero bytes that pad array sections, shared by every frame. */
static const char zero_pad[FRAME_ARRAY_ALIGN];

/*
 * Turns the encoded JSON in b into *out: for arrays, the prefix, the
 * padding after the JSON and the pieces of every section; for none, a
 * version 1 frame. Frees b's heap on failure.
 */
static int encode_finish_out(struct encode_buf *b, bool failed,
                             const struct jobd_array *a, size_t n,
                             uint64_t data_len, struct frame_out *out)
{
	uint32_t json_len = 0;
	int rc, k = 1;

	if (!failed && n) {
		json_len = (uint32_t)(b->used - FRAME_ARRAY_PREFIX_SIZE);
		b->slack = FRAME_ARRAY_ALIGN;
		failed = encode_append(zero_pad, frame_array_pad(json_len), b) <
		         0;
	}
	if (!n) {
		rc = encode_finish(b, failed, &out->head, &out->head_len);
		if (rc < 0)
			return rc;
	} else {
		rc = encode_finish(b, failed, &out->head, &out->head_len);
		if (rc < 0)
			return rc;
		/* encode_finish wrote a v1 header over the first 4 bytes;
		 * the array prefix replaces it. */
		frame_put_array_prefix((uint8_t *)out->head, json_len,
		                       data_len);
	}
	out->iov = calloc(1 + 2 * n, sizeof(*out->iov));
	if (!out->iov) {
		frame_out_fini(out);
		return -ENOMEM;
	}
	out->iov[0].iov_base = out->head;
	out->iov[0].iov_len = out->head_len;
	out->total = out->head_len;
	for (size_t i = 0; i < n; i++) {
		size_t pad = (size_t)(array_align(a[i].nbytes) - a[i].nbytes);

		if (a[i].nbytes) {
			out->iov[k].iov_base = (void *)a[i].data;
			out->iov[k++].iov_len = a[i].nbytes;
		}
		if (pad) {
			out->iov[k].iov_base = (void *)zero_pad;
			out->iov[k++].iov_len = pad;
		}
	}
	out->iovcnt = k;
	out->total += data_len;
	return 0;
}

/* Checks the arrays and gives the data block's length. */
static int encode_check(const struct jobd_array *a, size_t n,
                        uint64_t *data_len)
{
	char why[200];

	*data_len = 0;
	if (n && !a)
		return -EINVAL;
	return array_check_list(a, n, data_len, why, sizeof(why)) < 0 ? -EINVAL
	                                                              : 0;
}

int frame_encode_arrays(const json_t *msg, const char *provenance,
                        const struct jobd_array *a, size_t n,
                        struct frame_out *out)
{
	char stack[ENCODE_STACK_SIZE];
	size_t start = n ? FRAME_ARRAY_PREFIX_SIZE : FRAME_HEADER_SIZE;
	struct encode_buf b = {
	        .data = stack,
	        .used = start,
	        .cap = sizeof(stack),
	        .start = start,
	};
	uint64_t data_len;
	bool failed;

	memset(out, 0, sizeof(*out));
	if (!msg || ((provenance || n) && json_object_size(msg) == 0) ||
	    (n && json_object_get(msg, "arrays")) ||
	    encode_check(a, n, &data_len) < 0)
		return -EINVAL;
	failed = json_dump_callback(msg, encode_append, &b, ENCODE_FLAGS) < 0;
	if (!failed && (provenance || n)) {
		b.used--; /* the object's '}' (compact: always the last byte) */
		failed = close_object_arrays(&b, provenance, a, n) < 0;
	}
	return encode_finish_out(&b, failed, a, n, data_len, out);
}

int frame_encode_result_arrays(int64_t id, const json_t *output,
                               const char *provenance,
                               const struct jobd_array *a, size_t n,
                               struct frame_out *out)
{
	char stack[ENCODE_STACK_SIZE], head[64];
	size_t start = n ? FRAME_ARRAY_PREFIX_SIZE : FRAME_HEADER_SIZE;
	struct encode_buf b = {
	        .data = stack,
	        .used = start,
	        .cap = sizeof(stack),
	        .start = start,
	};
	uint64_t data_len;
	bool failed;
	int k;

	memset(out, 0, sizeof(*out));
	if (!output || encode_check(a, n, &data_len) < 0)
		return -EINVAL;
	k = snprintf(
	        head, sizeof(head),
	        "{\"type\":\"result\",\"id\":%lld,\"output\":", (long long)id);
	failed = encode_append(head, (size_t)k, &b) < 0 ||
	         json_dump_callback(output, encode_append, &b,
	                            ENCODE_FLAGS | JSON_ENCODE_ANY) < 0 ||
	         close_object_arrays(&b, provenance, a, n) < 0;
	return encode_finish_out(&b, failed, a, n, data_len, out);
}
