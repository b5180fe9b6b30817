/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for protocol version 2's binary arrays: the array frame
 * (src/wire/frame.c) and the `arrays` descriptors (src/wire/array.c).
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/array.h"
#include "wire/frame.h"
#include "wire/message.h"

/* The frame of docs/protocol.md §12.4, byte for byte. */
static const uint8_t doc_example[] = {
        /* prefix: 0x80000000 | 111, reserved, data length 64 */
        0x80,
        0x00,
        0x00,
        0x6f,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x40,
        /* {"type":"call","id":1,"plugin":"echo","input":{},"arrays":
         *  [{"name":"x","dtype":"f64","shape":[2],"nbytes":16}]}, then
         * 1 zero byte: 16 + 111 + 1 = 128 */
        0x7b,
        0x22,
        0x74,
        0x79,
        0x70,
        0x65,
        0x22,
        0x3a,
        0x22,
        0x63,
        0x61,
        0x6c,
        0x6c,
        0x22,
        0x2c,
        0x22,
        0x69,
        0x64,
        0x22,
        0x3a,
        0x31,
        0x2c,
        0x22,
        0x70,
        0x6c,
        0x75,
        0x67,
        0x69,
        0x6e,
        0x22,
        0x3a,
        0x22,
        0x65,
        0x63,
        0x68,
        0x6f,
        0x22,
        0x2c,
        0x22,
        0x69,
        0x6e,
        0x70,
        0x75,
        0x74,
        0x22,
        0x3a,
        0x7b,
        0x7d,
        0x2c,
        0x22,
        0x61,
        0x72,
        0x72,
        0x61,
        0x79,
        0x73,
        0x22,
        0x3a,
        0x5b,
        0x7b,
        0x22,
        0x6e,
        0x61,
        0x6d,
        0x65,
        0x22,
        0x3a,
        0x22,
        0x78,
        0x22,
        0x2c,
        0x22,
        0x64,
        0x74,
        0x79,
        0x70,
        0x65,
        0x22,
        0x3a,
        0x22,
        0x66,
        0x36,
        0x34,
        0x22,
        0x2c,
        0x22,
        0x73,
        0x68,
        0x61,
        0x70,
        0x65,
        0x22,
        0x3a,
        0x5b,
        0x32,
        0x5d,
        0x2c,
        0x22,
        0x6e,
        0x62,
        0x79,
        0x74,
        0x65,
        0x73,
        0x22,
        0x3a,
        0x31,
        0x36,
        0x7d,
        0x5d,
        0x7d,
        0x00,
        /* 1.0 and 2.0 as little-endian f64, then 48 zero bytes */
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0xf0,
        0x3f,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
};

/* Joins a frame_out's pieces into one malloc'd buffer. */
static uint8_t *flatten(const struct frame_out *o, size_t *len)
{
	uint8_t *buf = malloc(o->total ? o->total : 1);
	size_t off = 0;

	ck_assert_ptr_nonnull(buf);
	for (int i = 0; i < o->iovcnt; i++) {
		memcpy(buf + off, o->iov[i].iov_base, o->iov[i].iov_len);
		off += o->iov[i].iov_len;
	}
	ck_assert_uint_eq(off, o->total);
	*len = off;
	return buf;
}

/* Three arrays of different types and sizes, one of them empty. */
struct sample {
	double f[6];
	int32_t labels[5];
	uint8_t blob[3];
	struct jobd_array a[4];
	size_t n;
};

static void sample_init(struct sample *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 6; i++)
		s->f[i] = i * 1.5;
	for (int i = 0; i < 5; i++)
		s->labels[i] = -i;
	memcpy(s->blob, "\x01\x00\xff", 3);
	s->a[0] = (struct jobd_array){.name = "points",
	                              .dtype = JOBD_DTYPE_F64,
	                              .ndim = 2,
	                              .shape = {3, 2},
	                              .data = s->f,
	                              .nbytes = sizeof(s->f)};
	s->a[1] = (struct jobd_array){.name = "labels",
	                              .dtype = JOBD_DTYPE_I32,
	                              .ndim = 1,
	                              .shape = {5},
	                              .data = s->labels,
	                              .nbytes = sizeof(s->labels)};
	s->a[2] = (struct jobd_array){.name = "none",
	                              .dtype = JOBD_DTYPE_U16,
	                              .ndim = 2,
	                              .shape = {0, 7},
	                              .data = NULL,
	                              .nbytes = 0};
	s->a[3] = (struct jobd_array){.name = "raw",
	                              .dtype = JOBD_DTYPE_BYTES,
	                              .ndim = 1,
	                              .shape = {3},
	                              .data = s->blob,
	                              .nbytes = 3};
	s->n = 4;
}

static uint8_t *sample_frame(struct sample *s, size_t *len)
{
	json_t *msg =
	        json_pack("{ss sI ss s{si}}", "type", "call", "id",
	                  (json_int_t)7, "plugin", "echo", "input", "k", 3);
	struct frame_out o;
	uint8_t *buf;

	sample_init(s);
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, s->a, s->n, &o), 0);
	buf = flatten(&o, len);
	frame_out_fini(&o);
	json_decref(msg);
	return buf;
}

/* Parses a decoded frame and checks it against the sample. */
static void check_sample(const char *json, size_t json_len, const void *data,
                         uint64_t data_len)
{
	struct sample s;
	struct msg m;
	struct msg_error e;
	struct jobd_array got[JOBD_ARRAYS_MAX];
	size_t n;

	sample_init(&s);
	ck_assert_int_eq(msg_parse(json, json_len, MSG_FROM_CLIENT, &m, &e), 0);
	ck_assert_int_eq(m.type, MSG_CALL);
	ck_assert_int_eq(msg_arrays(&m, data, data_len, got, &n, &e), 0);
	ck_assert_uint_eq(n, s.n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(got[i].name, s.a[i].name);
		ck_assert_uint_eq(got[i].dtype, s.a[i].dtype);
		ck_assert_uint_eq(got[i].ndim, s.a[i].ndim);
		ck_assert_mem_eq(got[i].shape, s.a[i].shape,
		                 sizeof(uint64_t) * got[i].ndim);
		ck_assert_uint_eq(got[i].nbytes, s.a[i].nbytes);
		if (got[i].nbytes) {
			ck_assert_mem_eq(got[i].data, s.a[i].data,
			                 got[i].nbytes);
			/* In place, inside the block, on a 64-byte line. */
			ck_assert((const char *)got[i].data >=
			                  (const char *)data &&
			          (const char *)got[i].data + got[i].nbytes <=
			                  (const char *)data + data_len);
			ck_assert_uint_eq(
			        ((uintptr_t)got[i].data - (uintptr_t)data) %
			                ARRAY_ALIGN,
			        0);
		} else {
			ck_assert_ptr_null(got[i].data);
		}
	}
	msg_fini(&m);
}

/* Feeds buf[0..len) in pieces that end at the given cut points. Returns
 * the number of frames taken (each checked against the sample). */
static int feed_pieces(const uint8_t *buf, size_t len, const size_t *cuts,
                       size_t ncuts, bool *sized)
{
	struct frame_decoder d;
	size_t pos = 0, end, used;
	int frames = 0, st;

	frame_decoder_init(&d, 1u << 20);
	frame_decoder_allow_arrays(&d, 1u << 20, NULL);
	*sized = false;
	for (size_t c = 0; c <= ncuts; c++) {
		end = c < ncuts ? cuts[c] : len;
		while (pos < end || (pos == end && d.ready)) {
			st = frame_decoder_feed(&d, buf + pos, end - pos,
			                        &used);
			ck_assert_uint_le(used, end - pos);
			pos += used;
			if (st == FRAME_SIZED) {
				ck_assert(!*sized);
				*sized = true;
				/* Known before anything is buffered. */
				ck_assert_ptr_null(d.body);
				ck_assert_ptr_null(d.data);
				ck_assert_uint_eq(frame_decoder_reserve(&d),
				                  d.body_size + 1 +
				                          d.data_size);
				continue;
			}
			if (st == FRAME_READY) {
				void *data;
				uint64_t dlen;
				size_t jlen;
				char *json = frame_decoder_take_data(
				        &d, &jlen, &data, &dlen);

				ck_assert_ptr_nonnull(json);
				ck_assert_uint_eq(((uintptr_t)data) % 64, 0);
				check_sample(json, jlen, data, dlen);
				free(json);
				free(data);
				frames++;
				continue;
			}
			ck_assert_int_eq(st, FRAME_MORE);
			ck_assert_uint_eq(pos, end);
			break;
		}
	}
	ck_assert(!frame_decoder_mid_frame(&d));
	frame_decoder_fini(&d);
	return frames;
}

START_TEST(test_every_split_point)
{
	struct sample s;
	size_t len;
	uint8_t *buf = sample_frame(&s, &len);
	bool sized;

	/* Every two-way split, including the ones inside the prefix, the
	 * padding and each section. */
	for (size_t cut = 0; cut <= len; cut++) {
		ck_assert_int_eq(feed_pieces(buf, len, &cut, 1, &sized), 1);
		ck_assert(sized);
	}
	free(buf);
}
END_TEST

START_TEST(test_one_byte_at_a_time)
{
	struct sample s;
	size_t len;
	uint8_t *buf = sample_frame(&s, &len);
	size_t *cuts = malloc(len * sizeof(*cuts));
	bool sized;

	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	ck_assert_int_eq(feed_pieces(buf, len, cuts, len, &sized), 1);
	free(cuts);
	free(buf);
}
END_TEST

/* Two array frames and a version 1 frame in one stream, split at every
 * point, then all three in one feed. */
START_TEST(test_mixed_stream)
{
	struct sample s;
	size_t len, total;
	uint8_t *one = sample_frame(&s, &len), *buf;
	char *v1 = NULL;
	size_t v1_len;
	json_t *ping = json_pack("{ss si}", "type", "ping", "id", 9);

	ck_assert_int_eq(frame_encode(ping, &v1, &v1_len), 0);
	total = 2 * len + v1_len;
	buf = malloc(total);
	memcpy(buf, one, len);
	memcpy(buf + len, v1, v1_len);
	memcpy(buf + len + v1_len, one, len);
	for (size_t cut = 0; cut <= total; cut += 7) {
		struct frame_decoder d;
		size_t pos = 0, used, end = cut, jl;
		int arrays = 0, plain = 0, st;

		frame_decoder_init(&d, 4096);
		frame_decoder_allow_arrays(&d, 4096, NULL);
		for (int piece = 0; piece < 2; piece++, end = total) {
			for (;;) {
				st = frame_decoder_feed(&d, buf + pos,
				                        end - pos, &used);
				pos += used;
				if (st == FRAME_READY) {
					void *data;
					uint64_t dl;
					char *j = frame_decoder_take_data(
					        &d, &jl, &data, &dl);
					if (data) {
						check_sample(j, jl, data, dl);
						arrays++;
					} else {
						ck_assert_uint_eq(jl,
						                  v1_len - 4);
						ck_assert_mem_eq(j, v1 + 4, jl);
						plain++;
					}
					free(j);
					free(data);
					continue;
				}
				if (st == FRAME_SIZED)
					continue;
				ck_assert_int_eq(st, FRAME_MORE);
				break;
			}
		}
		ck_assert_int_eq(arrays, 2);
		ck_assert_int_eq(plain, 1);
		frame_decoder_fini(&d);
	}
	free(v1);
	free(buf);
	free(one);
	json_decref(ping);
}
END_TEST

/* Bytes received straight into the body and the data block, as a reader
 * that recv()s into frame_decoder_direct() does, mixed with feeds. */
START_TEST(test_direct_writes)
{
	struct sample s;
	size_t len;
	uint8_t *buf = sample_frame(&s, &len);

	for (unsigned seed = 1; seed <= 200; seed++) {
		struct frame_decoder d;
		size_t pos = 0, used, room, chunk;
		unsigned st = seed;
		int frames = 0, rc;
		void *p;

		frame_decoder_init(&d, 4096);
		frame_decoder_allow_arrays(&d, 4096, NULL);
		ck_assert_ptr_null(frame_decoder_direct(&d, &room));
		ck_assert_uint_eq(room, 0);
		while (pos < len || d.ready) {
			st = st * 1103515245u + 12345u;
			chunk = 1 + (st >> 16) % 40;
			if (chunk > len - pos)
				chunk = len - pos;
			p = frame_decoder_direct(&d, &room);
			if (p && chunk) {
				if (chunk > room)
					chunk = room;
				memcpy(p, buf + pos, chunk);
				pos += chunk;
				rc = frame_decoder_wrote(&d, chunk);
			} else {
				rc = frame_decoder_feed(&d, buf + pos, chunk,
				                        &used);
				pos += used;
			}
			if (rc == FRAME_READY) {
				void *data;
				uint64_t dl;
				size_t jl;
				char *j = frame_decoder_take_data(&d, &jl,
				                                  &data, &dl);

				check_sample(j, jl, data, dl);
				free(j);
				free(data);
				frames++;
				continue;
			}
			ck_assert(rc == FRAME_MORE || rc == FRAME_SIZED);
		}
		ck_assert_int_eq(frames, 1);
		/* More than the room is refused. */
		ck_assert_int_eq(frame_decoder_feed(&d, buf, 20, &used),
		                 FRAME_SIZED);
		ck_assert_int_eq(
		        frame_decoder_feed(&d, buf + used, 20 - used, &used),
		        FRAME_MORE);
		ck_assert_ptr_nonnull(frame_decoder_direct(&d, &room));
		ck_assert_int_eq(frame_decoder_wrote(&d, room + 1), -EINVAL);
		frame_decoder_fini(&d);
	}
	free(buf);
}
END_TEST

/* frame_at finds whole frames of both kinds in place. */
START_TEST(test_frame_at)
{
	struct sample s;
	size_t len;
	uint8_t *one = sample_frame(&s, &len);
	uint8_t *buf = aligned_alloc(64, 1024);
	struct frame_view v;

	ck_assert_uint_lt(len, 1024);
	memcpy(buf, one, len);
	ck_assert_uint_eq(frame_at(buf, len, 4096, 4096, &v), len);
	ck_assert_uint_eq(((uintptr_t)v.data) % 64, 0);
	check_sample(v.json, v.json_len, v.data, v.data_len);
	for (size_t l = 0; l < len; l++)
		ck_assert_uint_eq(frame_at(buf, l, 4096, 4096, &v), 0);
	/* Arrays not allowed, data over the limit, JSON over the limit:
	 * not in place, the decoder refuses them. */
	ck_assert_uint_eq(frame_at(buf, len, 4096, 0, &v), 0);
	ck_assert_uint_eq(frame_at(buf, len, 4096, 64, &v), 0);
	ck_assert_uint_eq(frame_at(buf, len, 10, 4096, &v), 0);
	free(buf);
	free(one);
}
END_TEST

/* A message without arrays is exactly the version 1 frame. */
START_TEST(test_v1_identical)
{
	json_t *msg = json_pack("{ss sI s[iii]}", "type", "result", "id",
	                        (json_int_t)3, "output", 1, 2, 3);
	json_t *out = json_pack("[iii]", 1, 2, 3);
	struct frame_out o;
	char *v1;
	size_t v1_len;

	ck_assert_int_eq(frame_encode(msg, &v1, &v1_len), 0);
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, NULL, 0, &o), 0);
	ck_assert_int_eq(o.iovcnt, 1);
	ck_assert_uint_eq(o.total, v1_len);
	ck_assert_mem_eq(o.head, v1, v1_len);
	frame_out_fini(&o);
	free(v1);

	ck_assert_int_eq(frame_encode_result(3, out, "{\"p\":1}", &v1, &v1_len),
	                 0);
	ck_assert_int_eq(
	        frame_encode_result_arrays(3, out, "{\"p\":1}", NULL, 0, &o),
	        0);
	ck_assert_uint_eq(o.total, v1_len);
	ck_assert_mem_eq(o.head, v1, v1_len);
	frame_out_fini(&o);
	free(v1);
	json_decref(msg);
	json_decref(out);
}
END_TEST

/* The hex example of docs/protocol.md. */
START_TEST(test_doc_example)
{
	double x[2] = {1.0, 2.0};
	struct jobd_array a = {.name = "x",
	                       .dtype = JOBD_DTYPE_F64,
	                       .ndim = 1,
	                       .shape = {2},
	                       .data = x,
	                       .nbytes = 16};
	json_t *msg = json_pack("{ss si ss s{}}", "type", "call", "id", 1,
	                        "plugin", "echo", "input");
	struct frame_out o;
	struct frame_view v;
	struct msg m;
	struct msg_error e;
	struct jobd_array got[JOBD_ARRAYS_MAX];
	size_t len, n;
	uint8_t *buf;

	ck_assert_int_eq(frame_encode_arrays(msg, NULL, &a, 1, &o), 0);
	buf = flatten(&o, &len);
	ck_assert_uint_eq(len, sizeof(doc_example));
	ck_assert_mem_eq(buf, doc_example, len);
	ck_assert_uint_eq(
	        frame_at(doc_example, sizeof(doc_example), 1024, 1024, &v),
	        sizeof(doc_example));
	ck_assert_int_eq(msg_parse(v.json, v.json_len, MSG_FROM_CLIENT, &m, &e),
	                 0);
	ck_assert_int_eq(msg_arrays(&m, v.data, v.data_len, got, &n, &e), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(got[0].data, x, 16);
	msg_fini(&m);
	free(buf);
	frame_out_fini(&o);
	json_decref(msg);
}
END_TEST

/* The array bytes are referenced, not copied, by the encoder. */
START_TEST(test_encode_no_copy)
{
	struct sample s;
	json_t *out = json_object();
	struct frame_out o;
	bool seen[4] = {false};

	sample_init(&s);
	ck_assert_int_eq(frame_encode_result_arrays(5, out, NULL, s.a, s.n, &o),
	                 0);
	for (int i = 0; i < o.iovcnt; i++)
		for (size_t k = 0; k < s.n; k++)
			if (s.a[k].nbytes && o.iov[i].iov_base == s.a[k].data)
				seen[k] = true;
	ck_assert(seen[0] && seen[1] && !seen[2] && seen[3]);
	ck_assert_uint_eq(o.total % 64, 0);
	frame_out_fini(&o);
	json_decref(out);
}
END_TEST

START_TEST(test_encode_refuses)
{
	struct sample s;
	json_t *msg = json_pack("{ss}", "type", "call");
	json_t *has = json_pack("{ss s[]}", "type", "call", "arrays");
	struct frame_out o;

	sample_init(&s);
	ck_assert_int_eq(frame_encode_arrays(has, NULL, s.a, s.n, &o), -EINVAL);
	ck_assert_ptr_null(o.head);
	s.a[0].nbytes = 40; /* not 3 x 2 x 8 */
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, s.a, s.n, &o), -EINVAL);
	sample_init(&s);
	s.a[1].data = NULL;
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, s.a, s.n, &o), -EINVAL);
	sample_init(&s);
	s.a[1].name = "points"; /* twice */
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, s.a, s.n, &o), -EINVAL);
	sample_init(&s);
	s.a[2].name = "a/b";
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, s.a, s.n, &o), -EINVAL);
	sample_init(&s);
	s.a[0].dtype = 99;
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, s.a, s.n, &o), -EINVAL);
	ck_assert_int_eq(frame_encode_arrays(msg, NULL, NULL, 1, &o), -EINVAL);
	json_decref(msg);
	json_decref(has);
}
END_TEST

/* ---- the prefix: refused from its 16 bytes, nothing buffered ---- */

static int feed_prefix(uint32_t word0, uint32_t reserved, uint64_t dlen,
                       uint32_t max_size, uint64_t max_data, size_t *used)
{
	struct frame_decoder d;
	uint8_t p[24];
	int st;

	frame_put_header(p, word0);
	frame_put_header(p + 4, reserved);
	frame_put_header(p + 8, (uint32_t)(dlen >> 32));
	frame_put_header(p + 12, (uint32_t)dlen);
	memset(p + 16, '{', 8);
	frame_decoder_init(&d, max_size);
	if (max_data)
		frame_decoder_allow_arrays(&d, max_data, NULL);
	st = frame_decoder_feed(&d, p, sizeof(p), used);
	if (st < 0) {
		ck_assert_ptr_null(d.body);
		ck_assert_ptr_null(d.data);
		ck_assert_uint_eq(frame_decoder_reserve(&d), 0);
		/* Sticky. */
		size_t again;
		ck_assert_int_eq(frame_decoder_feed(&d, p, sizeof(p), &again),
		                 st);
		ck_assert_uint_eq(again, 0);
	}
	frame_decoder_fini(&d);
	return st;
}

START_TEST(test_prefix_refusals)
{
	size_t used;
	const uint32_t F = FRAME_ARRAY_FLAG;

	/* Over max_array_bytes: refused from the prefix alone. */
	ck_assert_int_eq(feed_prefix(F | 10, 0, 128, 100, 64, &used),
	                 FRAME_DATA_TOO_LARGE);
	ck_assert_uint_eq(used, 16);
	ck_assert_int_eq(feed_prefix(F | 10, 0, UINT64_MAX - 63, 100,
	                             (uint64_t)1 << 30, &used),
	                 FRAME_DATA_TOO_LARGE);
	/* The largest allowed is fine. */
	ck_assert_int_eq(feed_prefix(F | 10, 0, 128, 100, 128, &used),
	                 FRAME_SIZED);
	ck_assert_uint_eq(used, 16);
	/* JSON over max_frame_size, or empty. */
	ck_assert_int_eq(feed_prefix(F | 101, 0, 64, 100, 1024, &used),
	                 FRAME_TOO_LARGE);
	ck_assert_int_eq(feed_prefix(F | 0x7fffffff, 0, 64, 100, 1024, &used),
	                 FRAME_TOO_LARGE);
	ck_assert_int_eq(feed_prefix(F | 0, 0, 64, 100, 1024, &used),
	                 FRAME_EMPTY);
	/* Reserved bytes, or a data length off the 64-byte grid. */
	ck_assert_int_eq(feed_prefix(F | 10, 1, 64, 100, 1024, &used),
	                 FRAME_BAD_PREFIX);
	ck_assert_int_eq(feed_prefix(F | 10, 0, 65, 100, 1024, &used),
	                 FRAME_BAD_PREFIX);
	ck_assert_int_eq(feed_prefix(F | 10, 0, 1, 100, 1024, &used),
	                 FRAME_BAD_PREFIX);
	/* An empty data block is allowed (arrays of zero elements). */
	ck_assert_int_eq(feed_prefix(F | 10, 0, 0, 100, 1024, &used),
	                 FRAME_SIZED);
	/* Arrays not negotiated: the flag makes the length too large, as in
	 * version 1, after 4 bytes. */
	ck_assert_int_eq(feed_prefix(F | 10, 0, 64, 100, 0, &used),
	                 FRAME_TOO_LARGE);
	ck_assert_uint_eq(used, 4);
}
END_TEST

/* Every split of the prefix reaches the same verdict. */
START_TEST(test_prefix_split_refusal)
{
	uint8_t p[16];

	frame_put_array_prefix(p, 10, 4096);
	for (size_t cut = 0; cut <= 16; cut++) {
		struct frame_decoder d;
		size_t u1 = 0, u2 = 0;
		int st;

		frame_decoder_init(&d, 100);
		frame_decoder_allow_arrays(&d, 1024, NULL);
		st = frame_decoder_feed(&d, p, cut, &u1);
		if (cut < 16) {
			ck_assert_int_eq(st, FRAME_MORE);
			ck_assert(cut == 0 || frame_decoder_mid_frame(&d));
			st = frame_decoder_feed(&d, p + cut, 16 - cut, &u2);
		}
		ck_assert_int_eq(st, FRAME_DATA_TOO_LARGE);
		ck_assert_uint_eq(u1 + u2, 16);
		ck_assert_uint_eq(frame_decoder_announced_data(&d), 4096);
		frame_decoder_fini(&d);
	}
}
END_TEST

/* A custom allocator gets the data block, and gets it back. */
static int ops_allocs, ops_releases;
static void *ops_alloc(void *ud, uint64_t size)
{
	ck_assert_ptr_eq(ud, &ops_allocs);
	ops_allocs++;
	return aligned_alloc(64, size);
}
static void ops_release(void *ud, void *block, uint64_t size)
{
	ops_releases++;
	free(block);
}

START_TEST(test_data_ops)
{
	struct frame_data_ops ops = {ops_alloc, ops_release, &ops_allocs};
	struct frame_decoder d;
	struct sample s;
	size_t len, used;
	uint8_t *buf = sample_frame(&s, &len);
	char *j;

	ops_allocs = ops_releases = 0;
	frame_decoder_init(&d, 4096);
	frame_decoder_allow_arrays(&d, 4096, &ops);
	ck_assert_int_eq(frame_decoder_feed(&d, buf, len, &used), FRAME_SIZED);
	ck_assert_int_eq(frame_decoder_feed(&d, buf + used, len - used, &used),
	                 FRAME_READY);
	ck_assert_int_eq(ops_allocs, 1);
	/* take without data: the block goes back to the allocator. */
	j = frame_decoder_take(&d, NULL);
	free(j);
	ck_assert_int_eq(ops_releases, 1);
	/* A partial frame's block is released by fini. */
	ck_assert_int_eq(frame_decoder_feed(&d, buf, len - 1, &used),
	                 FRAME_SIZED);
	ck_assert_int_eq(frame_decoder_feed(&d, buf + 16, len - 17, &used),
	                 FRAME_MORE);
	frame_decoder_fini(&d);
	ck_assert_int_eq(ops_allocs, 2);
	ck_assert_int_eq(ops_releases, 2);
	free(buf);
}
END_TEST

/* ---- descriptors ---- */

/* Parses `arrays` (JSON text) against a zeroed data block of dlen bytes;
 * returns 0 or -1 with the error text in why. */
static int parse_desc(const char *text, uint64_t dlen, char *why,
                      size_t why_size, size_t *n)
{
	json_error_t je;
	json_t *list = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	struct jobd_array out[JOBD_ARRAYS_MAX];
	struct array_error e;
	void *data = dlen ? calloc(1, dlen) : NULL;
	int rc;

	ck_assert_msg(list != NULL, "bad test JSON %s: %s", text, je.text);
	rc = array_parse(list, data, dlen, out, n, &e);
	if (rc < 0) {
		ck_assert_int_eq(e.code, JOBD_E_BAD_REQUEST);
		ck_assert_uint_eq(*n, 0);
		snprintf(why, why_size, "%s", e.text);
	}
	json_decref(list);
	free(data);
	return rc;
}

#define REFUSED(text, dlen, needle)                                            \
	do {                                                                   \
		char why_[256];                                                \
		size_t n_;                                                     \
		ck_assert_int_eq(                                              \
		        parse_desc(text, dlen, why_, sizeof(why_), &n_), -1);  \
		ck_assert_msg(strstr(why_, needle) != NULL,                    \
		              "%s: got \"%s\", want \"%s\"", text, why_,       \
		              needle);                                         \
	} while (0)

START_TEST(test_each_dtype)
{
	static const char *const good[] = {"u8",  "i8",  "u16",  "i16",
	                                   "u32", "i32", "u64",  "i64",
	                                   "f32", "f64", "bytes"};
	static const size_t size[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 1};
	char text[200], why[256];
	size_t n;

	for (size_t i = 0; i < 11; i++) {
		snprintf(text, sizeof(text),
		         "[{\"name\":\"a\",\"dtype\":\"%s\",\"shape\":[3],"
		         "\"nbytes\":%zu}]",
		         good[i], 3 * size[i]);
		ck_assert_msg(parse_desc(text, 64, why, sizeof(why), &n) == 0,
		              "%s: %s", good[i], why);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(
		        array_dtype_from_name(good[i], strlen(good[i])), i + 1);
		ck_assert_str_eq(jobd_dtype_name((uint32_t)(i + 1)), good[i]);
		ck_assert_uint_eq(jobd_dtype_size((uint32_t)(i + 1)), size[i]);
	}
}
END_TEST

START_TEST(test_wrong_dtypes)
{
	static const char *const bad[] = {
	        "\"f16\"",  "\"F64\"",        "\"float64\"", "\"<f8\"",
	        "\"u128\"", "\"\"",           "\"bool\"",    "\"f64 \"",
	        "\"c128\"", "\"f64\\u0000\"", "\"i\"",       "\"u6\"",
	        "\"byte\"", "\"str\""};
	static const char *const not_string[] = {"10", "null", "[\"f64\"]",
	                                         "{}", "true"};
	char text[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		         "[{\"name\":\"a\",\"dtype\":%s,\"shape\":[1],"
		         "\"nbytes\":8}]",
		         bad[i]);
		REFUSED(text, 64, "is not one of u8 i8");
	}
	for (size_t i = 0; i < sizeof(not_string) / sizeof(not_string[0]);
	     i++) {
		snprintf(text, sizeof(text),
		         "[{\"name\":\"a\",\"dtype\":%s,\"shape\":[1],"
		         "\"nbytes\":8}]",
		         not_string[i]);
		REFUSED(text, 64, "\"dtype\" must be a string");
	}
	REFUSED("[{\"name\":\"a\",\"shape\":[1],\"nbytes\":8}]", 64,
	        "\"dtype\" must be a string");
}
END_TEST

START_TEST(test_mismatch)
{
	/* nbytes against the shape. */
	REFUSED("[{\"name\":\"a\",\"dtype\":\"f64\",\"shape\":[3,2],"
	        "\"nbytes\":47}]",
	        64, "nbytes is 47 but shape [3,2] of f64 is 48 bytes");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[],"
	        "\"nbytes\":0}]",
	        64, "nbytes is 0 but shape [] of u8 is 1 bytes");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[0],"
	        "\"nbytes\":1}]",
	        64, "nbytes is 1 but");
	/* The sections against the data block. */
	REFUSED("[{\"name\":\"a\",\"dtype\":\"f64\",\"shape\":[9],"
	        "\"nbytes\":72}]",
	        64, "run past the frame's 64 bytes");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"f64\",\"shape\":[8],"
	        "\"nbytes\":64}]",
	        128,
	        "account for 64 bytes of array data but the frame "
	        "carries 128");
	REFUSED("[]", 64, "account for 0 bytes");
	/* Data without a list, a list without data. */
	{
		struct jobd_array out[JOBD_ARRAYS_MAX];
		struct array_error e;
		char block[64];
		size_t n;

		ck_assert_int_eq(array_parse(NULL, block, 64, out, &n, &e), -1);
		ck_assert(strstr(e.text, "lists no \"arrays\""));
		ck_assert_int_eq(array_parse(NULL, NULL, 0, out, &n, &e), 0);
		ck_assert_uint_eq(n, 0);
	}
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":1}]",
	        0, "run past the frame's 0 bytes");
	/* Sums of several. */
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1],\"nbytes\":1},"
	        "{\"name\":\"b\",\"dtype\":\"u8\",\"shape\":[64],"
	        "\"nbytes\":64}]",
	        64, "arrays[1] \"b\": its 64 bytes run past");
	/* nbytes missing or ill-typed. */
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1]}]", 64,
	        "\"nbytes\" must be an integer >= 0");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":-1}]",
	        64, "\"nbytes\" must be an integer >= 0");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":1.0}]",
	        64, "\"nbytes\" must be an integer >= 0");
}
END_TEST

START_TEST(test_overflow)
{
	char why[256];
	size_t n;
	uint64_t nb, big[3] = {(uint64_t)1 << 31, (uint64_t)1 << 31, 2};

	/* 2^62 elements of 8 bytes; 2^31 x 2^31 x 2 x 8; INT64_MAX u16. */
	REFUSED("[{\"name\":\"a\",\"dtype\":\"f64\","
	        "\"shape\":[4611686018427387904],\"nbytes\":0}]",
	        64, "overflows");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"f64\","
	        "\"shape\":[2147483648,2147483648,2],\"nbytes\":0}]",
	        64, "shape [2147483648,2147483648,2] of f64 overflows");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u16\","
	        "\"shape\":[9223372036854775807],\"nbytes\":0}]",
	        64, "overflows");
	/* Wrapping to a small number is caught too: 2^61 x 2^3 x 8 = 2^67
	 * which is 0 modulo 2^64. */
	REFUSED("[{\"name\":\"a\",\"dtype\":\"f64\","
	        "\"shape\":[2305843009213693952,8],\"nbytes\":0}]",
	        64, "overflows");
	/* A zero dimension makes any product 0, but each dimension must
	 * still be a valid length on its own. */
	ck_assert_int_eq(
	        parse_desc("[{\"name\":\"a\",\"dtype\":\"f64\","
	                   "\"shape\":[0,4611686018427387904],\"nbytes\":0}]",
	                   0, why, sizeof(why), &n),
	        0);
	ck_assert_int_eq(array_shape_bytes(JOBD_DTYPE_F64, 3, big, &nb),
	                 -EOVERFLOW);
	big[2] = 1;
	ck_assert_int_eq(array_shape_bytes(JOBD_DTYPE_U8, 3, big, &nb), 0);
	ck_assert_uint_eq(nb, (uint64_t)1 << 62);
	/* 2^62 x 2 bytes = 2^63: one past the largest length. */
	ck_assert_int_eq(array_shape_bytes(JOBD_DTYPE_U16, 3, big, &nb),
	                 -EOVERFLOW);
	ck_assert_int_eq(array_shape_bytes(0, 0, big, &nb), -EINVAL);
	ck_assert_int_eq(array_shape_bytes(JOBD_DTYPE_U8, 9, big, &nb),
	                 -EINVAL);
}
END_TEST

START_TEST(test_bad_descriptors)
{
	char text[6000];
	size_t used;

	REFUSED("{}", 0, "\"arrays\" must be an array");
	REFUSED("\"x\"", 0, "\"arrays\" must be an array");
	REFUSED("[1]", 0, "arrays[0]: must be an object");
	REFUSED("[{\"dtype\":\"u8\",\"shape\":[1],\"nbytes\":1}]", 64,
	        "\"name\" must be 1 to 64 characters");
	REFUSED("[{\"name\":\"\",\"dtype\":\"u8\",\"shape\":[1],\"nbytes\":1}]",
	        64, "\"name\" must be");
	REFUSED("[{\"name\":\"../x\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":1}]",
	        64, "\"name\" must be");
	REFUSED("[{\"name\":\"a\\u0000\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":1}]",
	        64, "\"name\" must be");
	REFUSED("[{\"name\":\"a234567890123456789012345678901234567890123456789"
	        "0123456789012345\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":1}]",
	        64, "\"name\" must be");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1],\"nbytes\":1},"
	        "{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1],"
	        "\"nbytes\":1}]",
	        128, "name \"a\" is used twice");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":3,\"nbytes\":3}]",
	        64, "\"shape\" must be an array of at most 8 integers >= 0");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[-1],"
	        "\"nbytes\":0}]",
	        64, "\"shape\" must be");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[1.5],"
	        "\"nbytes\":1}]",
	        64, "\"shape\" must be");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"u8\","
	        "\"shape\":[1,1,1,1,1,1,1,1,1],\"nbytes\":1}]",
	        64, "\"shape\" must be");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"bytes\",\"shape\":[2,2],"
	        "\"nbytes\":4}]",
	        64, "dtype bytes takes a shape of one dimension");
	REFUSED("[{\"name\":\"a\",\"dtype\":\"bytes\",\"shape\":[],"
	        "\"nbytes\":1}]",
	        64, "dtype bytes takes");
	/* 65 arrays. */
	used = (size_t)snprintf(text, sizeof(text), "[");
	for (int i = 0; i < 65; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
		                         "%s{\"name\":\"a%d\",\"dtype\":\"u8\","
		                         "\"shape\":[0],\"nbytes\":0}",
		                         i ? "," : "", i);
	snprintf(text + used, sizeof(text) - used, "]");
	REFUSED(text, 0, "lists 65 arrays; at most 64");
}
END_TEST

/* msg_arrays carries the message's id in its error. */
START_TEST(test_msg_arrays_error)
{
	static const char body[] =
	        "{\"type\":\"call\",\"id\":42,\"plugin\":\"echo\",\"input\":1,"
	        "\"arrays\":[{\"name\":\"a\",\"dtype\":\"f16\",\"shape\":[1],"
	        "\"nbytes\":2}]}";
	struct jobd_array out[JOBD_ARRAYS_MAX];
	struct msg m;
	struct msg_error e;
	char block[64] = {0};
	size_t n;

	ck_assert_int_eq(
	        msg_parse(body, sizeof(body) - 1, MSG_FROM_CLIENT, &m, &e), 0);
	ck_assert_int_eq(msg_arrays(&m, block, 64, out, &n, &e), -1);
	ck_assert_int_eq(e.code, JOBD_E_BAD_REQUEST);
	ck_assert(e.has_id);
	ck_assert_int_eq(e.id, 42);
	ck_assert_str_eq(e.text, "call: arrays[0] \"a\": dtype \"f16\" is not "
	                         "one of u8 i8 u16 i16 u32 i32 u64 i64 f32 "
	                         "f64 bytes");
	msg_fini(&m);
}
END_TEST

START_TEST(test_hello_version)
{
	json_t *h = msg_hello_version("x", PROTOCOL_VERSION_ARRAYS);
	struct frame_out o;

	ck_assert_int_eq(json_integer_value(json_object_get(h, "version")), 2);
	ck_assert_int_eq(frame_encode_arrays(h, NULL, NULL, 0, &o), 0);
	ck_assert_mem_eq(o.head + 4,
	                 "{\"type\":\"hello\",\"version\":2,\"client\":\"x\"}",
	                 o.head_len - 4);
	frame_out_fini(&o);
	json_decref(h);
}
END_TEST

static Suite *array_suite(void)
{
	Suite *s = suite_create("array");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_every_split_point);
	tcase_add_test(tc, test_one_byte_at_a_time);
	tcase_add_test(tc, test_mixed_stream);
	tcase_add_test(tc, test_frame_at);
	tcase_add_test(tc, test_direct_writes);
	tcase_add_test(tc, test_v1_identical);
	tcase_add_test(tc, test_doc_example);
	tcase_add_test(tc, test_encode_no_copy);
	tcase_add_test(tc, test_encode_refuses);
	tcase_add_test(tc, test_prefix_refusals);
	tcase_add_test(tc, test_prefix_split_refusal);
	tcase_add_test(tc, test_data_ops);
	tcase_add_test(tc, test_each_dtype);
	tcase_add_test(tc, test_wrong_dtypes);
	tcase_add_test(tc, test_mismatch);
	tcase_add_test(tc, test_overflow);
	tcase_add_test(tc, test_bad_descriptors);
	tcase_add_test(tc, test_msg_arrays_error);
	tcase_add_test(tc, test_hello_version);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(array_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
