/* SPDX-License-Identifier: MIT */
/*
 * Provenance: the record of how a result was made (plugin, its build, the
 * input, times, CPU, host), so that a scientist can reproduce and cite a
 * run. Built on the worker that ran the job; stored with detached results.
 * SHA-256 comes from OpenSSL's libcrypto (EVP): the well-kept
 * implementation present on every Debian machine.
 */
#ifndef JOBD_DAEMON_PROVENANCE_H
#define JOBD_DAEMON_PROVENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/util/clock.h" /* wall_ms, for callers */

#define SHA256_HEX_LEN 64
/* strlen("2026-01-02T03:04:05.678Z") */
#define ISO8601_LEN 24

struct provenance {
	const char *plugin;        /* borrowed */
	const char *version;       /* borrowed, may be NULL */
	const char *plugin_sha256; /* hex of the .so as loaded, may be "" */
	char input_sha256[SHA256_HEX_LEN + 1];
	int64_t queued_ms, started_ms, finished_ms; /* Unix ms, UTC */
	double cpu_seconds; /* thread CPU time of process() */
	unsigned attempt;   /* 1 for a first run; more after restarts */
	/* The plugin's effective options (its config's `options:`, an
	 * empty object when none), borrowed; NULL leaves them out. Their
	 * canonical JSON's SHA-256 is always recorded; the options
	 * themselves when that text is at most PROVENANCE_OPTIONS_MAX. */
	const json_t *options;
	/* {"name":"hex",...}: SHA-256 of each input array's bytes as
	 * received (JSON object text, borrowed), or NULL for none. */
	const char *arrays_sha256;
	/* Answered from the result cache (cache.h): process() did not run. */
	bool cached;
	/* User and system CPU seconds of the job (process mode: the worker's
	 * getrusage around process(); thread mode: RUSAGE_THREAD), and the
	 * worker's peak RSS during the job in KiB (process mode only: a
	 * thread has no RSS of its own; has_peak_rss false leaves it out). */
	double cpu_user_s, cpu_system_s;
	uint64_t peak_rss_kb;
	bool has_peak_rss;
};

/* Options whose canonical text is longer appear in provenance only as
 * their hash (options_sha256). */
#define PROVENANCE_OPTIONS_MAX 1024

/* Hex SHA-256 of buf[0..len) into out[65]. Returns 0 or -EIO. */
int sha256_hex(const void *buf, size_t len, char out[SHA256_HEX_LEN + 1]);

/* Hex SHA-256 of the whole file open on fd (borrowed; read with pread
 * from offset 0, so its offset is left alone): the plugin file exactly as
 * the trust check opened it. Returns 0 or a negative errno. */
int sha256_fd_hex(int fd, char out[SHA256_HEX_LEN + 1]);

/* Hex SHA-256 of v's canonical text: json_dumps with JSON_SORT_KEYS |
 * JSON_COMPACT | JSON_ENCODE_ANY, so equal JSON hashes equal. */
int sha256_json_hex(const json_t *v, char out[SHA256_HEX_LEN + 1]);

/* "2026-01-02T03:04:05.678Z" into buf (at least 32 bytes). */
void iso8601_utc_ms(int64_t unix_ms, char *buf, size_t size);

/* A new JSON string holding iso8601_utc_ms(), or JSON null for 0. */
json_t *iso8601_json(int64_t unix_ms);

/* The provenance object as it goes on the wire (new reference). Adds the
 * host name and the jobd version. */
json_t *provenance_json(const struct provenance *pv);

/* The members that are the same for every job of a plugin (plugin,
 * version, plugin_sha256, options_sha256 and options, host, jobd), as
 * JSON text without the braces,
 * for provenance_text. malloc'd; NULL without memory. */
char *provenance_static_text(const struct provenance *pv);

/*
 * The same object as provenance_json, written straight as compact JSON
 * text: the per-job members (all plain ASCII) digit by digit, then
 * static_text. On the hot path of every call this saves building and
 * dumping a jansson object. Returns the length, or -1 if size is too small.
 */
int provenance_text(const struct provenance *pv, const char *static_text,
                    char *buf, size_t size);

#endif
