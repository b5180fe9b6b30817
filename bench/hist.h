/* SPDX-License-Identifier: MIT */
/*
 * A log-linear latency histogram in the manner of HdrHistogram: every
 * sample is counted (no sampling), values below 256 ns land in exact
 * buckets, and above that each power of two is split into 128 linear
 * buckets, so any reported value is within 0.8 % of the true one.
 * Covers 0 ns .. 2^44 ns (about 4.9 hours). Single-threaded; merge
 * per-thread histograms with hist_merge.
 */
#ifndef JOBD_BENCH_HIST_H
#define JOBD_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7u /* 128 linear buckets per power of two */
#define HIST_MAX_BITS 44u
#define HIST_BUCKETS  ((HIST_MAX_BITS - HIST_SUB_BITS + 2u) << HIST_SUB_BITS)

struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t sum;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_reset(struct hist *h);
void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
/* The value at quantile q (0..1], e.g. 0.999: the upper edge of the bucket
 * holding it (clamped to the max seen). 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
uint64_t hist_mean(const struct hist *h);

#endif
