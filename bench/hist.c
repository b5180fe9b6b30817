/* SPDX-License-Identifier: MIT */
#include "hist.h"

#include <string.h>

#define HIST_HALF (1u << HIST_SUB_BITS)

static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < 2 * HIST_HALF)
		return (unsigned)v;
	if (v >> HIST_MAX_BITS)
		v = (1ull << HIST_MAX_BITS) - 1;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	/* v >> shift is in [HALF, 2*HALF): the linear step inside the
	 * power of two; buckets below 2*HALF are the exact ones. */
	return (shift + 1) * HIST_HALF + (unsigned)((v >> shift) - HIST_HALF);
}

/* The largest value that falls into bucket i. */
static uint64_t hist_upper(unsigned i)
{
	unsigned shift;
	uint64_t sub;

	if (i < 2 * HIST_HALF)
		return i;
	shift = i / HIST_HALF - 1;
	sub = i % HIST_HALF + HIST_HALF;
	return ((sub + 1) << shift) - 1;
}

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_add(struct hist *h, uint64_t ns)
{
	h->buckets[hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	unsigned i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0, v;
	unsigned i;

	if (!h->count)
		return 0;
	want = (uint64_t)(q * (double)h->count + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->count)
		want = h->count;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= want) {
			v = hist_upper(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

uint64_t hist_mean(const struct hist *h)
{
	return h->count ? h->sum / h->count : 0;
}
