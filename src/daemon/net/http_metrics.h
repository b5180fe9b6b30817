/* SPDX-License-Identifier: MIT */
/*
 * /metrics: the protocol's `stats` answer and the connection layer's own
 * counters, written in the Prometheus text format (docs/http.md). Pure
 * code: a test or a fuzzer can feed it any stats object.
 */
#ifndef JOBD_DAEMON_NET_HTTP_METRICS_H
#define JOBD_DAEMON_NET_HTTP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* One (route, status) pair of jobd_http_requests_total. */
struct http_count {
	const char *route; /* static: an OpenAPI path or "other" */
	int status;
	uint64_t n;
};

/* What the connection layer knows itself. */
struct http_metrics_in {
	const char *version;
	double start_time_s; /* Unix time */
	bool ready;
	uint64_t tcp_open, tcp_accepted, tcp_refused;
	uint64_t http_open, http_accepted, http_refused;
	const struct http_count *requests;
	size_t n_requests;
};

/* The scrape as a malloc'd text (*len bytes), or NULL (out of memory).
 * stats: a `stats` message (docs/protocol.md §8), borrowed. */
char *http_metrics_render(const json_t *stats, const struct http_metrics_in *in,
                          size_t *len);

#endif
