/* SPDX-License-Identifier: MIT */
/*
 * Frame decoder fed arbitrary bytes in arbitrary splits.
 *
 * Input layout: byte 0 picks max_size, byte 1 seeds the split sizes, the
 * rest is the byte stream. The stream is decoded twice, once in a single
 * feed and once in chunks of 0..16 bytes (0-length feeds included); both
 * must produce the same frames and end in the same state. Along the way:
 * `used` never exceeds what was given, an error consumes no body byte and
 * leaves no body buffered, a taken body has the announced length and a NUL
 * after it, and a body that is JSON survives frame_encode and a decode.
 * A third pass reads as the daemon does (src/daemon/net/conn.c): whole frames
 * in the buffered bytes through frame_whole_at, the rest through the
 * decoder; it must see the same frames and end the same way.
 */
#include <string.h>

#include "fuzz.h"
#include "wire/frame.h"

#define MAX_FRAMES 64

struct outcome {
	size_t n_frames;
	uint32_t len[MAX_FRAMES];
	uint64_t hash[MAX_FRAMES];
	int final; /* FRAME_MORE, or the sticky error */
	bool mid_frame;
};

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--) {
		h ^= (uint8_t)*p++;
		h *= 1099511628211ull;
	}
	return h;
}

static uint32_t pick_max(uint8_t b)
{
	static const uint32_t big[] = {1u << 10, 1u << 12, 1u << 16, 1u << 20};

	if (b < 0xf0)
		return (uint32_t)b + 1; /* 1..240: limits hit often */
	return big[b & 3];
}

/* A decoded body that is JSON must survive the encoder and the decoder. */
static void check_roundtrip(const char *body, size_t len)
{
	struct frame_decoder d;
	json_t *v, *w;
	char *out, *back;
	size_t out_len, used, back_len;

	v = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!v)
		return;
	if (frame_encode(v, &out, &out_len) == 0) {
		FUZZ_CHECK(out_len > FRAME_HEADER_SIZE);
		frame_decoder_init(&d, 0);
		FUZZ_CHECK(frame_decoder_feed(&d, out, out_len, &used) ==
		           FRAME_READY);
		FUZZ_CHECK(used == out_len);
		back = frame_decoder_take(&d, &back_len);
		FUZZ_CHECK(back && back_len == out_len - FRAME_HEADER_SIZE);
		w = json_loadb(back, back_len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
		               NULL);
		FUZZ_CHECK(w && json_equal(v, w));
		json_decref(w);
		free(back);
		frame_decoder_fini(&d);
		free(out);
	}
	json_decref(v);
}

static void record(struct outcome *o, const char *body, size_t len)
{
	if (o->n_frames < MAX_FRAMES) {
		o->len[o->n_frames] = (uint32_t)len;
		o->hash[o->n_frames] = fnv1a(body, len);
	}
	o->n_frames++;
}

static void take_frame(struct frame_decoder *d, struct outcome *o,
                       bool roundtrip)
{
	uint32_t announced = frame_decoder_announced(d);
	size_t len;
	char *body = frame_decoder_take(d, &len);

	FUZZ_CHECK(body != NULL);
	FUZZ_CHECK(len == announced && len >= 1 && len <= d->max_size);
	FUZZ_CHECK(body[len] == '\0');
	FUZZ_CHECK(!frame_decoder_mid_frame(d));
	record(o, body, len);
	if (roundtrip)
		check_roundtrip(body, len);
	free(body);
	/* Taken: nothing is pending, a new feed starts a new frame. */
	FUZZ_CHECK(frame_decoder_take(d, &len) == NULL && len == 0);
}

/* Feeds data[0..n) in chunks from the split generator (state 0: one feed). */
static void decode(uint32_t max, const uint8_t *data, size_t n, uint32_t seed,
                   struct outcome *o)
{
	struct frame_decoder d;
	size_t pos = 0, chunk, used;
	int st = FRAME_MORE;

	memset(o, 0, sizeof(*o));
	frame_decoder_init(&d, max);
	FUZZ_CHECK(d.max_size == max);
	while (pos <= n) {
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			chunk = (seed >> 16) % 17;
		} else {
			chunk = n - pos;
		}
		if (chunk > n - pos)
			chunk = n - pos;
		st = frame_decoder_feed(&d, data + pos, chunk, &used);
		FUZZ_CHECK(used <= chunk);
		if (st == FRAME_READY) {
			take_frame(&d, o, seed == 0);
		} else if (st == FRAME_EMPTY || st == FRAME_TOO_LARGE) {
			/* Refused from the header alone: nothing buffered,
			 * and nothing more is ever consumed. */
			FUZZ_CHECK(d.body == NULL);
			FUZZ_CHECK(!frame_decoder_mid_frame(&d));
			FUZZ_CHECK(frame_decoder_feed(&d, data, n, &used) ==
			                   st &&
			           used == 0);
			pos += used;
			break;
		} else {
			FUZZ_CHECK(st == FRAME_MORE);
			FUZZ_CHECK(used == chunk);
		}
		pos += used;
		if (pos == n && st == FRAME_MORE)
			break;
	}
	o->final = st == FRAME_READY ? FRAME_MORE : st;
	o->mid_frame = frame_decoder_mid_frame(&d);
	if (st == FRAME_TOO_LARGE)
		FUZZ_CHECK(frame_decoder_announced(&d) > max);
	frame_decoder_fini(&d);
	frame_decoder_fini(&d); /* idempotent */
}

/* As conn_process_input reads: bytes arrive in chunks and stay buffered
 * until used; a whole frame at the front of the buffer is taken in place
 * (frame_whole_at) while the decoder is between frames, anything else is
 * fed to the decoder. */
static void decode_in_place(uint32_t max, const uint8_t *data, size_t n,
                            uint32_t seed, struct outcome *o)
{
	struct frame_decoder d;
	size_t pos = 0, end = 0, used;
	const char *body;
	uint32_t blen;
	int st = FRAME_MORE;

	memset(o, 0, sizeof(*o));
	frame_decoder_init(&d, max);
	while (end < n || pos < end) {
		seed = seed * 1103515245u + 12345u;
		end += (seed >> 16) % 17;
		if (end > n)
			end = n;
		while (pos < end) {
			if (!frame_decoder_mid_frame(&d) &&
			    (used = frame_whole_at(data + pos, end - pos, max,
			                           &body, &blen))) {
				FUZZ_CHECK(used == FRAME_HEADER_SIZE + blen &&
				           used <= end - pos && blen >= 1 &&
				           blen <= max);
				FUZZ_CHECK(body == (const char *)data + pos +
				                           FRAME_HEADER_SIZE);
				record(o, body, blen);
				pos += used;
				continue;
			}
			st = frame_decoder_feed(&d, data + pos, end - pos,
			                        &used);
			pos += used;
			if (st == FRAME_READY) {
				take_frame(&d, o, false);
				st = FRAME_MORE;
			} else if (st != FRAME_MORE) {
				goto out; /* refused: the connection closes */
			}
		}
	}
out:
	o->final = st;
	o->mid_frame = frame_decoder_mid_frame(&d);
	frame_decoder_fini(&d);
}

/* Two readings of one stream saw the same frames and ended alike. */
static void same_outcome(const struct outcome *a, const struct outcome *b)
{
	size_t i;

	FUZZ_CHECK(a->n_frames == b->n_frames);
	for (i = 0; i < a->n_frames && i < MAX_FRAMES; i++)
		FUZZ_CHECK(a->len[i] == b->len[i] && a->hash[i] == b->hash[i]);
	FUZZ_CHECK(a->final == b->final);
	FUZZ_CHECK(a->mid_frame == b->mid_frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, split, in_place;
	struct frame_decoder z;
	uint32_t max;

	if (size < 2)
		return 0;
	max = pick_max(data[0]);
	decode(max, data + 2, size - 2, 0, &whole);
	decode(max, data + 2, size - 2, (uint32_t)data[1] + 1, &split);
	same_outcome(&whole, &split);
	decode_in_place(max, data + 2, size - 2, (uint32_t)data[1] + 7,
	                &in_place);
	same_outcome(&whole, &in_place);

	/* 0 and anything past the limit mean the limit. */
	frame_decoder_init(&z, 0);
	FUZZ_CHECK(z.max_size == FRAME_MAX_LIMIT);
	frame_decoder_init(&z, FRAME_MAX_LIMIT + 1u + data[0]);
	FUZZ_CHECK(z.max_size == FRAME_MAX_LIMIT);
	frame_decoder_fini(&z);
	return 0;
}
