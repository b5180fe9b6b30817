/* SPDX-License-Identifier: MIT */
/* Unit tests for the frame decoder and encoder (src/wire/frame.c). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/frame.h"

/* A byte stream of several frames, and the bodies it should decode to. */
struct stream {
	uint8_t *data;
	size_t len;
	size_t nframes;
	char *body[16];
	size_t body_len[16];
	size_t end[16]; /* offset just past each frame */
};

static void stream_add(struct stream *s, const char *body, size_t len)
{
	ck_assert_uint_lt(s->nframes, 16);
	s->data = realloc(s->data, s->len + FRAME_HEADER_SIZE + len);
	ck_assert_ptr_nonnull(s->data);
	frame_put_header(s->data + s->len, (uint32_t)len);
	memcpy(s->data + s->len + FRAME_HEADER_SIZE, body, len);
	s->len += FRAME_HEADER_SIZE + len;
	s->body[s->nframes] = malloc(len + 1);
	memcpy(s->body[s->nframes], body, len);
	s->body[s->nframes][len] = '\0';
	s->body_len[s->nframes] = len;
	s->end[s->nframes] = s->len;
	s->nframes++;
}

static void stream_fini(struct stream *s)
{
	free(s->data);
	for (size_t i = 0; i < s->nframes; i++)
		free(s->body[i]);
	memset(s, 0, sizeof(*s));
}

static void stream_sample(struct stream *s)
{
	static const char big[] =
	        "{\"type\":\"call\",\"id\":42,\"plugin\":\"echo\",\"input\":"
	        "[1,2,3,\"four\",{\"five\":5.5}]}";

	memset(s, 0, sizeof(*s));
	stream_add(s, "{}", 2);
	stream_add(s, "x", 1); /* one-byte body: framing does not judge it */
	stream_add(s, big, sizeof(big) - 1);
	stream_add(s, "{\"a\":\"\\u0000\"}", 14);
	stream_add(s, "\0\0\0\0\0", 5); /* body bytes may be anything */
}

/* What a sequence of feeds produced. */
struct got {
	size_t n;
	char *body[16];
	size_t len[16];
};

static void got_fini(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->body[i]);
	memset(g, 0, sizeof(*g));
}

/* Feeds one chunk completely, taking every frame. Returns the last status. */
static int feed_chunk(struct frame_decoder *d, const uint8_t *p, size_t len,
                      struct got *g)
{
	int rc = FRAME_MORE;

	for (;;) {
		size_t used = 99999;
		rc = frame_decoder_feed(d, p, len, &used);
		ck_assert_uint_le(used, len);
		p += used;
		len -= used;
		if (rc != FRAME_READY)
			break;
		ck_assert_uint_lt(g->n, 16);
		g->body[g->n] = frame_decoder_take(d, &g->len[g->n]);
		ck_assert_ptr_nonnull(g->body[g->n]);
		/* NUL-terminated, even where the body holds NULs itself. */
		ck_assert_int_eq(g->body[g->n][g->len[g->n]], '\0');
		g->n++;
		if (len == 0)
			break;
	}
	if (rc == FRAME_MORE)
		ck_assert_uint_eq(len, 0);
	return rc;
}

static void assert_got_stream(const struct got *g, const struct stream *s)
{
	ck_assert_uint_eq(g->n, s->nframes);
	for (size_t i = 0; i < s->nframes; i++) {
		ck_assert_uint_eq(g->len[i], s->body_len[i]);
		ck_assert_mem_eq(g->body[i], s->body[i], s->body_len[i]);
	}
}

/* Deterministic PRNG (xorshift64*) so failures reproduce. */
static uint64_t rng_next(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*st = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* frame_whole_at finds a whole frame in place, and leaves everything else
 * (partial, empty, too large) to the decoder. */
START_TEST(test_whole_at)
{
	uint8_t buf[64];
	const char *body = NULL;
	uint32_t n = 0;

	frame_put_header(buf, 5);
	memcpy(buf + 4, "hello", 5);
	frame_put_header(buf + 9, 2);
	memcpy(buf + 13, "{}", 2);
	ck_assert_uint_eq(frame_whole_at(buf, 15, 100, &body, &n), 9);
	ck_assert_uint_eq(n, 5);
	ck_assert(body == (const char *)buf + 4);
	ck_assert_uint_eq(frame_whole_at(buf + 9, 6, 100, &body, &n), 6);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(body, "{}", 2);
	/* not yet whole: every shorter prefix */
	for (size_t len = 0; len < 9; len++)
		ck_assert_uint_eq(frame_whole_at(buf, len, 100, &body, &n), 0);
	/* over max_size, or empty: the decoder's to refuse */
	ck_assert_uint_eq(frame_whole_at(buf, 15, 4, &body, &n), 0);
	frame_put_header(buf, 0);
	ck_assert_uint_eq(frame_whole_at(buf, 15, 100, &body, &n), 0);
	/* a length near 2^32 does not wrap the bounds check */
	frame_put_header(buf, 0xffffffffu);
	ck_assert_uint_eq(frame_whole_at(buf, 15, 0xffffffffu, &body, &n), 0);
}
END_TEST

/* frame_encode_result says what msg_result + frame_encode say, with the
 * provenance text spliced in as a member. */
START_TEST(test_encode_result)
{
	const char *outputs[] = {"{\"b\":[1,2.5,null],\"a\":\"\\u0000x\"}",
	                         "\"just a string\"", "42", "[]", "null"};
	size_t i;

	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		json_t *out = json_loads(
		        outputs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		json_t *want = json_pack("{ss sI sO}", "type", "result", "id",
		                         (json_int_t)-7, "output", out);
		json_t *got, *prov;
		char *frame;
		size_t len;

		ck_assert_ptr_nonnull(out);
		ck_assert_int_eq(
		        frame_encode_result(-7, out, NULL, &frame, &len), 0);
		ck_assert_uint_eq(len, 4 + ((size_t)(uint8_t)frame[2] << 8 |
		                            (uint8_t)frame[3]));
		got = json_loadb(frame + 4, len - 4, JSON_ALLOW_NUL, NULL);
		ck_assert_msg(json_equal(got, want), "%.*s", (int)len - 4,
		              frame + 4);
		json_decref(got);
		free(frame);

		ck_assert_int_eq(frame_encode_result(-7, out,
		                                     "{\"host\":\"h\"}", &frame,
		                                     &len),
		                 0);
		got = json_loadb(frame + 4, len - 4, JSON_ALLOW_NUL, NULL);
		ck_assert_ptr_nonnull(got);
		prov = json_object_get(got, "provenance");
		ck_assert_str_eq(
		        json_string_value(json_object_get(prov, "host")), "h");
		json_object_del(got, "provenance");
		ck_assert(json_equal(got, want));
		json_decref(got);
		free(frame);
		json_decref(want);
		json_decref(out);
	}
	ck_assert_int_eq(frame_encode_result(1, NULL, NULL, &(char *){NULL},
	                                     &(size_t){0}),
	                 -EINVAL);
}
END_TEST

/* frame_encode_prov adds the provenance member to a message object and
 * refuses what it cannot add it to. */
START_TEST(test_encode_prov)
{
	json_t *msg =
	        json_pack("{ss sI ss ss}", "type", "error", "id", (json_int_t)3,
	                  "code", "plugin_failed", "message", "no");
	json_t *empty = json_object(), *got;
	char *frame, *plain;
	size_t len, plain_len;

	ck_assert_int_eq(
	        frame_encode_prov(msg, "{\"attempt\":2}", &frame, &len), 0);
	got = json_loadb(frame + 4, len - 4, 0, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(
	        json_integer_value(json_object_get(
	                json_object_get(got, "provenance"), "attempt")),
	        2);
	json_object_del(got, "provenance");
	ck_assert(json_equal(got, msg));
	json_decref(got);
	free(frame);

	/* without provenance it is frame_encode, byte for byte */
	ck_assert_int_eq(frame_encode_prov(msg, NULL, &frame, &len), 0);
	ck_assert_int_eq(frame_encode(msg, &plain, &plain_len), 0);
	ck_assert_uint_eq(len, plain_len);
	ck_assert_mem_eq(frame, plain, len);
	free(frame);
	free(plain);

	ck_assert_int_eq(frame_encode_prov(empty, "{}", &frame, &len), -EINVAL);
	ck_assert_ptr_null(frame);
	ck_assert_int_eq(frame_encode_prov(NULL, "{}", &frame, &len), -EINVAL);
	json_decref(empty);
	json_decref(msg);
}
END_TEST

START_TEST(test_single_frame)
{
	struct stream s;
	struct frame_decoder d;
	struct got g = {0};

	memset(&s, 0, sizeof(s));
	stream_add(&s, "{\"type\":\"ping\"}", 15);
	frame_decoder_init(&d, 1024);
	ck_assert(!frame_decoder_mid_frame(&d));
	ck_assert_int_eq(feed_chunk(&d, s.data, s.len, &g), FRAME_READY);
	assert_got_stream(&g, &s);
	ck_assert_uint_eq(frame_decoder_announced(&d), 15);
	ck_assert(!frame_decoder_mid_frame(&d));
	frame_decoder_fini(&d);
	got_fini(&g);
	stream_fini(&s);
}
END_TEST

START_TEST(test_empty_input)
{
	struct frame_decoder d;
	size_t used = 7;

	frame_decoder_init(&d, 1024);
	ck_assert_int_eq(frame_decoder_feed(&d, "", 0, &used), FRAME_MORE);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(frame_decoder_feed(&d, NULL, 0, &used), FRAME_MORE);
	ck_assert(!frame_decoder_mid_frame(&d));
	ck_assert_ptr_null(frame_decoder_take(&d, &used));
	ck_assert_uint_eq(used, 0);
	frame_decoder_fini(&d);
}
END_TEST

START_TEST(test_all_two_way_splits)
{
	struct stream s;

	stream_sample(&s);
	for (size_t cut = 0; cut <= s.len; cut++) {
		struct frame_decoder d;
		struct got g = {0};

		frame_decoder_init(&d, 1024);
		feed_chunk(&d, s.data, cut, &g);
		feed_chunk(&d, s.data + cut, s.len - cut, &g);
		assert_got_stream(&g, &s);
		ck_assert(!frame_decoder_mid_frame(&d));
		frame_decoder_fini(&d);
		got_fini(&g);
	}
	stream_fini(&s);
}
END_TEST

START_TEST(test_random_multi_way_splits)
{
	struct stream s;
	uint64_t st = 0x9E3779B97F4A7C15ULL;

	stream_sample(&s);
	for (int iter = 0; iter < 2000; iter++) {
		struct frame_decoder d;
		struct got g = {0};
		size_t pos = 0;

		frame_decoder_init(&d, 1024);
		while (pos < s.len) {
			/* Mostly small pieces, sometimes empty, sometimes
			 * long enough to span frames. */
			size_t n = rng_next(&st) % 24;
			if (n > s.len - pos)
				n = s.len - pos;
			feed_chunk(&d, s.data + pos, n, &g);
			pos += n;
		}
		assert_got_stream(&g, &s);
		ck_assert(!frame_decoder_mid_frame(&d));
		frame_decoder_fini(&d);
		got_fini(&g);
	}
	stream_fini(&s);
}
END_TEST

START_TEST(test_one_byte_at_a_time)
{
	struct stream s;
	struct frame_decoder d;
	struct got g = {0};
	size_t next = 0;

	stream_sample(&s);
	frame_decoder_init(&d, 1024);
	for (size_t i = 0; i < s.len; i++) {
		int rc = feed_chunk(&d, s.data + i, 1, &g);
		if (i + 1 == s.end[next]) {
			ck_assert_int_eq(rc, FRAME_READY);
			ck_assert_uint_eq(g.n, next + 1);
			ck_assert(!frame_decoder_mid_frame(&d));
			next++;
		} else {
			ck_assert_int_eq(rc, FRAME_MORE);
			ck_assert_uint_eq(g.n, next);
			ck_assert(frame_decoder_mid_frame(&d));
		}
	}
	assert_got_stream(&g, &s);
	frame_decoder_fini(&d);
	got_fini(&g);
	stream_fini(&s);
}
END_TEST

START_TEST(test_many_frames_one_chunk)
{
	enum { N = 10000 };
	struct frame_decoder d;
	uint8_t *buf = malloc(N * (FRAME_HEADER_SIZE + 16));
	size_t len = 0, pos = 0, count = 0;

	for (int i = 0; i < N; i++) {
		char body[16];
		int n = snprintf(body, sizeof(body), "{\"i\":%d}", i);
		frame_put_header(buf + len, (uint32_t)n);
		memcpy(buf + len + FRAME_HEADER_SIZE, body, (size_t)n);
		len += FRAME_HEADER_SIZE + (size_t)n;
	}
	frame_decoder_init(&d, 64);
	while (pos < len) {
		size_t used, blen;
		char want[16];
		int rc = frame_decoder_feed(&d, buf + pos, len - pos, &used);
		ck_assert_int_eq(rc, FRAME_READY);
		pos += used;
		char *body = frame_decoder_take(&d, &blen);
		snprintf(want, sizeof(want), "{\"i\":%zu}", count);
		ck_assert_str_eq(body, want);
		ck_assert_uint_eq(blen, strlen(want));
		free(body);
		count++;
	}
	ck_assert_uint_eq(count, N);
	frame_decoder_fini(&d);
	free(buf);
}
END_TEST

START_TEST(test_ready_needs_take)
{
	struct stream s;
	struct frame_decoder d;
	size_t used;

	stream_sample(&s);
	frame_decoder_init(&d, 1024);
	ck_assert_int_eq(frame_decoder_feed(&d, s.data, s.len, &used),
	                 FRAME_READY);
	ck_assert_uint_eq(used, s.end[0]);
	/* Not taken: the next feed consumes nothing and says READY again. */
	ck_assert_int_eq(
	        frame_decoder_feed(&d, s.data + used, s.len - used, &used),
	        FRAME_READY);
	ck_assert_uint_eq(used, 0);
	frame_decoder_fini(&d); /* frees the untaken body */
	stream_fini(&s);
}
END_TEST

static void check_refused(uint32_t max, uint32_t announced, int want)
{
	struct frame_decoder d;
	uint8_t buf[64];
	size_t used = 0;

	frame_decoder_init(&d, max);
	frame_put_header(buf, announced);
	memset(buf + 4, '{', sizeof(buf) - 4);
	ck_assert_int_eq(frame_decoder_feed(&d, buf, sizeof(buf), &used), want);
	/* Decided from the header alone: nothing of the body consumed or
	 * buffered. */
	ck_assert_uint_eq(used, FRAME_HEADER_SIZE);
	ck_assert_ptr_null(d.body);
	ck_assert_uint_eq(frame_decoder_announced(&d), announced);
	ck_assert(!frame_decoder_mid_frame(&d));
	/* Sticky. */
	for (int i = 0; i < 3; i++) {
		used = 5;
		ck_assert_int_eq(frame_decoder_feed(&d, buf + 4, 10, &used),
		                 want);
		ck_assert_uint_eq(used, 0);
	}
	ck_assert_ptr_null(frame_decoder_take(&d, NULL));
	frame_decoder_fini(&d);
}

START_TEST(test_zero_length)
{
	check_refused(1024, 0, FRAME_EMPTY);
}
END_TEST

START_TEST(test_max_plus_one)
{
	check_refused(100, 101, FRAME_TOO_LARGE);
	check_refused(1, 2, FRAME_TOO_LARGE);
}
END_TEST

START_TEST(test_length_all_ones)
{
	check_refused(FRAME_MAX_LIMIT, 0xFFFFFFFFu, FRAME_TOO_LARGE);
	check_refused(FRAME_MAX_LIMIT, FRAME_MAX_LIMIT + 1, FRAME_TOO_LARGE);
	/* An absurd configured maximum is clamped to FRAME_MAX_LIMIT. */
	check_refused(0xFFFFFFFFu, 0xFFFFFFFFu, FRAME_TOO_LARGE);
	check_refused(0, 0x80000000u, FRAME_TOO_LARGE);
}
END_TEST

START_TEST(test_max_exactly)
{
	enum { MAX = 100000 };
	struct frame_decoder d;
	uint8_t *buf = malloc(FRAME_HEADER_SIZE + MAX);
	size_t used, len;
	char *body;

	frame_put_header(buf, MAX);
	memset(buf + FRAME_HEADER_SIZE, 'a', MAX);
	frame_decoder_init(&d, MAX);
	ck_assert_int_eq(
	        frame_decoder_feed(&d, buf, FRAME_HEADER_SIZE + MAX, &used),
	        FRAME_READY);
	ck_assert_uint_eq(used, FRAME_HEADER_SIZE + MAX);
	body = frame_decoder_take(&d, &len);
	ck_assert_uint_eq(len, MAX);
	ck_assert_int_eq(body[MAX], '\0');
	ck_assert_int_eq(body[MAX - 1], 'a');
	free(body);
	frame_decoder_fini(&d);
	free(buf);
}
END_TEST

START_TEST(test_refused_header_split)
{
	struct frame_decoder d;
	uint8_t h[4];
	size_t used;

	frame_put_header(h, 5000);
	frame_decoder_init(&d, 4096);
	ck_assert_int_eq(frame_decoder_feed(&d, h, 3, &used), FRAME_MORE);
	ck_assert_uint_eq(used, 3);
	ck_assert(frame_decoder_mid_frame(&d));
	ck_assert_int_eq(frame_decoder_feed(&d, h + 3, 1, &used),
	                 FRAME_TOO_LARGE);
	ck_assert_uint_eq(used, 1);
	ck_assert_uint_eq(frame_decoder_announced(&d), 5000);
	frame_decoder_fini(&d);
}
END_TEST

START_TEST(test_error_after_good_frames)
{
	/* Good frames, then a zero length, then more good frames: the good
	 * ones before arrive, nothing after the error does. */
	struct stream s;
	struct frame_decoder d;
	struct got g = {0};
	uint8_t zero[4] = {0};
	size_t good_len;

	memset(&s, 0, sizeof(s));
	stream_add(&s, "{}", 2);
	stream_add(&s, "{\"a\":1}", 7);
	good_len = s.len;
	s.data = realloc(s.data, s.len + 4);
	memcpy(s.data + s.len, zero, 4);
	s.len += 4;
	stream_add(&s, "{}", 2);

	frame_decoder_init(&d, 1024);
	ck_assert_int_eq(feed_chunk(&d, s.data, s.len, &g), FRAME_EMPTY);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_str_eq(g.body[1], "{\"a\":1}");
	(void)good_len;
	frame_decoder_fini(&d);
	got_fini(&g);
	stream_fini(&s);
}
END_TEST

START_TEST(test_truncated_streams)
{
	struct stream s;

	stream_sample(&s);
	for (size_t cut = 1; cut < s.len; cut++) {
		struct frame_decoder d;
		struct got g = {0};
		size_t complete = 0;
		bool at_boundary = false;

		for (size_t i = 0; i < s.nframes; i++) {
			if (s.end[i] <= cut)
				complete = i + 1;
			if (s.end[i] == cut)
				at_boundary = true;
		}
		frame_decoder_init(&d, 1024);
		int rc = feed_chunk(&d, s.data, cut, &g);
		ck_assert_uint_eq(g.n, complete);
		if (at_boundary) {
			ck_assert_int_eq(rc, FRAME_READY);
			ck_assert(!frame_decoder_mid_frame(&d));
		} else {
			ck_assert_int_eq(rc, FRAME_MORE);
			ck_assert(frame_decoder_mid_frame(&d));
			/* Feeding nothing more changes nothing. */
			size_t used = 1;
			ck_assert_int_eq(frame_decoder_feed(&d, "", 0, &used),
			                 FRAME_MORE);
			ck_assert_uint_eq(used, 0);
			ck_assert(frame_decoder_mid_frame(&d));
		}
		frame_decoder_fini(&d); /* frees the partial body */
		got_fini(&g);
	}
	stream_fini(&s);
}
END_TEST

START_TEST(test_fini_zeroed)
{
	struct frame_decoder d;

	memset(&d, 0, sizeof(d));
	frame_decoder_fini(&d);
	frame_decoder_fini(&d);
}
END_TEST

START_TEST(test_put_header)
{
	uint8_t h[4];

	frame_put_header(h, 0x01020304u);
	ck_assert_uint_eq(h[0], 1);
	ck_assert_uint_eq(h[1], 2);
	ck_assert_uint_eq(h[2], 3);
	ck_assert_uint_eq(h[3], 4);
	frame_put_header(h, 0xFFFFFFFFu);
	ck_assert_uint_eq(h[0] & h[1] & h[2] & h[3], 0xFF);
}
END_TEST

/* Encodes msg, decodes the frame, and checks it parses back equal. */
static void round_trip(json_t *msg)
{
	struct frame_decoder d;
	char *out, *body;
	size_t out_len, used, blen;
	json_t *back;

	ck_assert_int_eq(frame_encode(msg, &out, &out_len), 0);
	ck_assert_uint_gt(out_len, FRAME_HEADER_SIZE);
	frame_decoder_init(&d, FRAME_MAX_LIMIT);
	ck_assert_int_eq(frame_decoder_feed(&d, out, out_len, &used),
	                 FRAME_READY);
	ck_assert_uint_eq(used, out_len);
	body = frame_decoder_take(&d, &blen);
	ck_assert_uint_eq(blen, out_len - FRAME_HEADER_SIZE);
	/* Compact: no whitespace between tokens. */
	ck_assert_ptr_null(strstr(body, ": "));
	ck_assert_ptr_null(strstr(body, ", "));
	back = json_loadb(body, blen, JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(back, msg));
	json_decref(back);
	free(body);
	free(out);
	frame_decoder_fini(&d);
}

START_TEST(test_encode_round_trip)
{
	json_t *small = json_pack("{s:s, s:I, s:[i, f, n, b], s:s%}", "type",
	                          "call", "id", (json_int_t)9007199254740991LL,
	                          "input", 1, 2.5, 1, "nul", "a\0b", (size_t)3);
	ck_assert_ptr_nonnull(small);
	round_trip(small);
	json_decref(small);

	/* Around and far past the encoder's stack buffer (second pass). */
	size_t sizes[] = {4000, 4090, 4096, 4097, 4200, 100000, 3000000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *s = malloc(sizes[i] + 1);
		memset(s, 'z', sizes[i]);
		s[sizes[i]] = '\0';
		json_t *o = json_pack("{s:s}", "k", s);
		round_trip(o);
		/* The body length is exact: {"k":"zzz..."} */
		char *out;
		size_t out_len;
		ck_assert_int_eq(frame_encode(o, &out, &out_len), 0);
		ck_assert_uint_eq(out_len, FRAME_HEADER_SIZE + sizes[i] + 8);
		free(out);
		json_decref(o);
		free(s);
	}
}
END_TEST

START_TEST(test_encode_refuses)
{
	char *out = (char *)1;
	size_t len = 1;
	json_t *num = json_integer(1);

	ck_assert_int_eq(frame_encode(NULL, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(len, 0);
	/* A frame holds an object (or array): a scalar is refused. */
	ck_assert_int_eq(frame_encode(num, &out, &len), -EINVAL);
	json_decref(num);

	/* A string jansson was told not to check: refused, nothing leaked,
	 * both before and after the encoder has moved to the heap. */
	json_t *o = json_object();
	json_object_set_new(o, "a", json_stringn_nocheck("\xff", 1));
	ck_assert_int_eq(frame_encode(o, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);
	char *big = malloc(200000);
	memset(big, 'q', 199999);
	big[199999] = '\0';
	json_object_set_new(o, "0", json_string(big));
	free(big);
	ck_assert_int_eq(frame_encode(o, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);
	json_decref(o);
}
END_TEST

START_TEST(test_encode_header)
{
	json_t *o = json_pack("{s:s}", "type", "ping");
	char *out;
	size_t len;

	ck_assert_int_eq(frame_encode(o, &out, &len), 0);
	ck_assert_uint_eq(len, 4 + 15);
	ck_assert_mem_eq(out, "\0\0\0\x0f{\"type\":\"ping\"}", len);
	free(out);
	json_decref(o);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("decoder");

	tcase_add_test(tc, test_single_frame);
	tcase_add_test(tc, test_whole_at);
	tcase_add_test(tc, test_encode_result);
	tcase_add_test(tc, test_encode_prov);
	tcase_add_test(tc, test_empty_input);
	tcase_add_test(tc, test_all_two_way_splits);
	tcase_add_test(tc, test_random_multi_way_splits);
	tcase_add_test(tc, test_one_byte_at_a_time);
	tcase_add_test(tc, test_many_frames_one_chunk);
	tcase_add_test(tc, test_ready_needs_take);
	tcase_add_test(tc, test_zero_length);
	tcase_add_test(tc, test_max_plus_one);
	tcase_add_test(tc, test_length_all_ones);
	tcase_add_test(tc, test_max_exactly);
	tcase_add_test(tc, test_refused_header_split);
	tcase_add_test(tc, test_error_after_good_frames);
	tcase_add_test(tc, test_truncated_streams);
	tcase_add_test(tc, test_fini_zeroed);
	tcase_add_test(tc, test_put_header);
	suite_add_tcase(s, tc);

	tc = tcase_create("encoder");
	tcase_add_test(tc, test_encode_round_trip);
	tcase_add_test(tc, test_encode_refuses);
	tcase_add_test(tc, test_encode_header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
