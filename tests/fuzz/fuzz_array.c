/* SPDX-License-Identifier: MIT */
/*
 * Array descriptors and array frames (protocol v2) on arbitrary bytes.
 *
 * Input layout: byte 0 picks the mode and the limits, byte 1 the data
 * block's length (mode "list") or the split seed (mode "frames"); the rest
 * is the payload.
 *
 * - list: the payload is JSON text taken as a message's `arrays` member,
 *   parsed against a data block of byte1 % 32 x 64 bytes. An accepted
 *   list obeys every rule (names valid and unique, dtype known, shape
 *   product equal to nbytes, each section inside the block on a 64-byte
 *   line, the sections filling it exactly) and survives the encoder and
 *   the decoder unchanged; a refused one is bad_request with a text that
 *   can be sent.
 * - frames: the payload is a byte stream fed to a decoder that accepts
 *   array frames, in chunks of 0..16 bytes, some of them written straight
 *   into the frame (frame_decoder_direct) instead of fed; a refusal consumes
 * nothing past the prefix and buffers nothing; each whole frame that is a call
 *   has its arrays parsed in place and checked as above, and frame_at
 *   finds the first frame where the decoder did.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "wire/array.h"
#include "wire/frame.h"
#include "wire/message.h"

/* The rules of an accepted list, checked on the result. */
static void check_arrays(const struct jobd_array *a, size_t n,
                         const void *block, uint64_t block_len)
{
	uint64_t off = 0, nb;

	FUZZ_CHECK(n <= JOBD_ARRAYS_MAX);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(array_name_ok(a[i].name, strlen(a[i].name)));
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(a[i].name, a[j].name) != 0);
		FUZZ_CHECK(jobd_dtype_size(a[i].dtype) > 0);
		FUZZ_CHECK(a[i].ndim <= JOBD_ARRAY_MAX_DIMS);
		FUZZ_CHECK(array_shape_bytes(a[i].dtype, a[i].ndim, a[i].shape,
		                             &nb) == 0);
		FUZZ_CHECK(nb == a[i].nbytes);
		if (a[i].nbytes) {
			FUZZ_CHECK((const char *)a[i].data ==
			           (const char *)block + off);
			FUZZ_CHECK(off + a[i].nbytes <= block_len);
		} else {
			FUZZ_CHECK(a[i].data == NULL);
		}
		FUZZ_CHECK(off % ARRAY_ALIGN == 0);
		off += array_align(a[i].nbytes);
	}
	FUZZ_CHECK(off == block_len);
}

static void check_refusal(const struct array_error *e, size_t n)
{
	json_t *m;

	FUZZ_CHECK(e->code == JOBD_E_BAD_REQUEST);
	FUZZ_CHECK(e->text[0] != '\0');
	FUZZ_CHECK(memchr(e->text, '\0', sizeof(e->text)) != NULL);
	FUZZ_CHECK(n == 0);
	m = msg_error(true, 1, e->code, e->text);
	FUZZ_CHECK(m != NULL);
	json_decref(m);
}

/* Encodes the arrays in a call, decodes the frame in place, and
 * compares. */
static void check_roundtrip(const struct jobd_array *a, size_t n)
{
	json_t *msg = json_pack("{ss si ss sn}", "type", "call", "id", 1,
	                        "plugin", "p", "input");
	struct jobd_array back[JOBD_ARRAYS_MAX];
	struct frame_out o;
	struct frame_view v;
	struct msg m;
	struct msg_error e;
	uint8_t *buf, *p;
	size_t nb;

	FUZZ_CHECK(msg != NULL);
	FUZZ_CHECK(frame_encode_arrays(msg, NULL, a, n, &o) == 0);
	buf = aligned_alloc(64, array_align(o.total));
	FUZZ_CHECK(buf != NULL);
	p = buf;
	for (int i = 0; i < o.iovcnt; i++) {
		memcpy(p, o.iov[i].iov_base, o.iov[i].iov_len);
		p += o.iov[i].iov_len;
	}
	FUZZ_CHECK(frame_at(buf, o.total, FRAME_MAX_LIMIT, (uint64_t)1 << 40,
	                    &v) == o.total);
	FUZZ_CHECK(msg_parse(v.json, v.json_len, MSG_FROM_CLIENT, &m, &e) == 0);
	FUZZ_CHECK(msg_arrays(&m, v.data, v.data_len, back, &nb, &e) == 0);
	FUZZ_CHECK(nb == n);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(strcmp(back[i].name, a[i].name) == 0);
		FUZZ_CHECK(back[i].dtype == a[i].dtype);
		FUZZ_CHECK(back[i].ndim == a[i].ndim);
		FUZZ_CHECK(memcmp(back[i].shape, a[i].shape,
		                  a[i].ndim * sizeof(uint64_t)) == 0);
		FUZZ_CHECK(back[i].nbytes == a[i].nbytes);
		FUZZ_CHECK(a[i].nbytes == 0 ||
		           memcmp(back[i].data, a[i].data, a[i].nbytes) == 0);
	}
	msg_fini(&m);
	free(buf);
	frame_out_fini(&o);
	json_decref(msg);
}

static void fuzz_list(uint8_t blocks, const uint8_t *data, size_t size)
{
	struct jobd_array out[JOBD_ARRAYS_MAX];
	struct array_error e;
	uint64_t block_len = (uint64_t)(blocks % 32) * ARRAY_ALIGN;
	uint8_t *block = NULL;
	json_t *list;
	size_t n = 99;

	list = json_loadb((const char *)data, size,
	                  JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!list)
		return;
	if (block_len) {
		block = aligned_alloc(64, block_len);
		FUZZ_CHECK(block != NULL);
		for (uint64_t i = 0; i < block_len; i++)
			block[i] = (uint8_t)(i * 7 + blocks);
	}
	if (array_parse(list, block, block_len, out, &n, &e) == 0) {
		check_arrays(out, n, block, block_len);
		check_roundtrip(out, n);
	} else {
		check_refusal(&e, n);
	}
	free(block);
	json_decref(list);
}

static void check_frame(const char *json, size_t len, const void *block,
                        uint64_t block_len)
{
	struct jobd_array out[JOBD_ARRAYS_MAX];
	struct msg m;
	struct msg_error e;
	size_t n = 99;

	FUZZ_CHECK(block_len % ARRAY_ALIGN == 0);
	FUZZ_CHECK(block_len == 0 || ((uintptr_t)block % 64) == 0);
	if (msg_parse(json, len, MSG_FROM_CLIENT, &m, &e) < 0)
		return;
	if (msg_arrays(&m, block, block_len, out, &n, &e) == 0) {
		check_arrays(out, n, block, block_len);
	} else {
		FUZZ_CHECK(e.code == JOBD_E_BAD_REQUEST && n == 0);
		FUZZ_CHECK(e.has_id == m.has_id);
	}
	msg_fini(&m);
}

static void fuzz_frames(uint8_t sel, uint8_t seed8, const uint8_t *data,
                        size_t size)
{
	static const uint32_t max_sizes[] = {64, 200, 4096, 1u << 20};
	static const uint64_t max_datas[] = {64, 1024, 1u << 16, 1u << 20};
	uint32_t max = max_sizes[(sel >> 1) & 3];
	uint64_t max_data = max_datas[(sel >> 3) & 3];
	uint32_t seed = (uint32_t)seed8 + 1;
	struct frame_decoder d;
	struct frame_view v;
	size_t pos = 0, chunk, used, room;
	void *direct;
	uint64_t first_at = frame_at(data, size, max, max_data, &v);
	bool first = true;
	int st = FRAME_MORE;

	frame_decoder_init(&d, max);
	frame_decoder_allow_arrays(&d, max_data, NULL);
	while (pos < size) {
		seed = seed * 1103515245u + 12345u;
		chunk = (seed >> 16) % 17;
		if (chunk > size - pos)
			chunk = size - pos;
		direct = frame_decoder_direct(&d, &room);
		if (direct && chunk && (seed >> 20) & 1) {
			/* As a reader that receives into the frame. */
			used = chunk < room ? chunk : room;
			memcpy(direct, data + pos, used);
			st = frame_decoder_wrote(&d, used);
			chunk = used;
		} else {
			st = frame_decoder_feed(&d, data + pos, chunk, &used);
		}
		FUZZ_CHECK(used <= chunk);
		pos += used;
		if (st == FRAME_SIZED) {
			FUZZ_CHECK(d.body == NULL && d.data == NULL);
			FUZZ_CHECK(frame_decoder_reserve(&d) ==
			           (uint64_t)d.body_size + 1 + d.data_size);
			FUZZ_CHECK(d.body_size <= max &&
			           d.data_size <= max_data);
			continue;
		}
		if (st == FRAME_READY) {
			void *block;
			uint64_t block_len;
			size_t len;
			char *json = frame_decoder_take_data(&d, &len, &block,
			                                     &block_len);

			FUZZ_CHECK(json != NULL && json[len] == '\0');
			if (first && first_at) {
				/* frame_at saw the same first frame in place.
				 */
				FUZZ_CHECK(v.json_len == len &&
				           memcmp(v.json, json, len) == 0);
				FUZZ_CHECK(v.data_len == block_len);
				FUZZ_CHECK(block_len == 0 ||
				           memcmp(v.data, block, block_len) ==
				                   0);
				FUZZ_CHECK(first_at == pos);
			}
			first = false;
			check_frame(json, len, block, block_len);
			free(json);
			free(block);
			continue;
		}
		if (st < 0) {
			if (st != -ENOMEM) {
				/* Refused from the prefix: nothing buffered,
				 * nothing more consumed. */
				FUZZ_CHECK(d.body == NULL && d.data == NULL);
				FUZZ_CHECK(frame_decoder_reserve(&d) == 0);
				FUZZ_CHECK(frame_decoder_feed(&d, data, size,
				                              &used) == st &&
				           used == 0);
			}
			break;
		}
		FUZZ_CHECK(st == FRAME_MORE && used == chunk);
	}
	if (first && first_at)
		FUZZ_CHECK(0 &&
		           "frame_at saw a whole frame the decoder missed");
	frame_decoder_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (data[0] & 1)
		fuzz_frames(data[0], data[1], data + 2, size - 2);
	else
		fuzz_list(data[1], data + 2, size - 2);
	return 0;
}
