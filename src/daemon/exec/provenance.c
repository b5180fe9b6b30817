/* SPDX-License-Identifier: MIT */
#include "daemon/exec/provenance.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jobd-build.h"

static void to_hex(const unsigned char *md, unsigned n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The SHA-256 implementation, fetched from OpenSSL's provider once.
 * EVP_sha256() makes every EVP_DigestInit fetch it again (a lookup under a
 * lock): that was half the hash's cost for the input of an echo call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md ? sha256_md : EVP_sha256();
}

int sha256_hex(const void *buf, size_t len, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!EVP_Digest(buf, len, md, &n, sha256(), NULL) || n != 32) {
		out[0] = '\0';
		return -EIO;
	}
	to_hex(md, n, out);
	return 0;
}

int sha256_fd_hex(int fd, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
	EVP_MD_CTX *ctx = NULL;
	unsigned n = 0;
	off_t at = 0;
	ssize_t got;
	int rc = -EIO;

	out[0] = '\0';
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, sha256(), NULL))
		goto out;
	for (;;) {
		got = pread(fd, buf, sizeof(buf), at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			goto out;
		}
		if (got == 0)
			break;
		if (!EVP_DigestUpdate(ctx, buf, (size_t)got))
			goto out;
		at += got;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &n) || n != 32)
		goto out;
	to_hex(md, n, out);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int sha256_json_hex(const json_t *v, char out[SHA256_HEX_LEN + 1])
{
	const size_t flags = JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY;
	char stack[4096], *text = stack;
	size_t len;
	int rc;

	/* Most inputs fit the stack; a larger one is dumped again. */
	len = json_dumpb(v, stack, sizeof(stack), flags);
	if (len > sizeof(stack)) {
		text = json_dumps(v, flags);
		len = text ? strlen(text) : 0;
	}
	if (!len || !text) {
		out[0] = '\0';
		return -ENOMEM;
	}
	rc = sha256_hex(text, len, out);
	if (text != stack)
		free(text);
	return rc;
}

/* Writes v as exactly width decimal digits, zero-padded. */
static char *put_fixed(char *p, uint64_t v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* Writes v in decimal, as many digits as it takes. */
static char *put_uint(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Formats into out[ISO8601_LEN + 1]. Every answer carries three of these;
 * gmtime and strftime run once per second per thread, the rest is digits
 * (snprintf and strftime were a fifth of a worker's CPU per echo call). */
static void iso8601_format(int64_t unix_ms, char out[ISO8601_LEN + 1])
{
	static _Thread_local int64_t cached_sec = INT64_MIN;
	static _Thread_local char cached[ISO8601_LEN + 1];
	int64_t sec = unix_ms / 1000, ms = unix_ms % 1000;
	char *p;

	if (ms < 0) { /* floor division, for clocks before 1970 */
		ms += 1000;
		sec--;
	}
	if (sec != cached_sec) {
		time_t t = (time_t)sec;
		struct tm tm;

		if (!gmtime_r(&t, &tm) ||
		    strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S",
		             &tm) != ISO8601_LEN - 5) {
			snprintf(out, ISO8601_LEN + 1, "%s",
			         "0000-00-00T00:00:00.000Z");
			return;
		}
		cached_sec = sec;
	}
	memcpy(out, cached, ISO8601_LEN - 5);
	p = out + ISO8601_LEN - 5;
	*p++ = '.';
	p = put_fixed(p, (uint64_t)ms, 3);
	*p++ = 'Z';
	*p = '\0';
}

void iso8601_utc_ms(int64_t unix_ms, char *buf, size_t size)
{
	char t[ISO8601_LEN + 1];

	iso8601_format(unix_ms, t);
	snprintf(buf, size, "%s", t);
}

json_t *iso8601_json(int64_t unix_ms)
{
	char buf[40];

	if (!unix_ms)
		return json_null();
	iso8601_utc_ms(unix_ms, buf, sizeof(buf));
	return json_string(buf);
}

/* Adds options_sha256 and, when small, options to o (the members both
 * forms of provenance carry). */
static void provenance_add_options(json_t *o, const json_t *options)
{
	const size_t flags = JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY;
	char hex[SHA256_HEX_LEN + 1];
	char *text;

	if (!o || !options)
		return;
	text = json_dumps(options, flags);
	if (!text)
		return;
	if (sha256_hex(text, strlen(text), hex) == 0)
		json_object_set_new(o, "options_sha256", json_string(hex));
	if (strlen(text) <= PROVENANCE_OPTIONS_MAX)
		json_object_set_new(o, "options",
		                    json_deep_copy((json_t *)options));
	free(text);
}

json_t *provenance_json(const struct provenance *pv)
{
	char host[256];
	json_t *o;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	o = json_pack(
	        "{ss ss ss ss so so so sf sI ss ss sf sf}", "plugin",
	        pv->plugin, "version", pv->version ? pv->version : "",
	        "plugin_sha256", pv->plugin_sha256 ? pv->plugin_sha256 : "",
	        "input_sha256", pv->input_sha256, "queued_at",
	        iso8601_json(pv->queued_ms), "started_at",
	        iso8601_json(pv->started_ms), "finished_at",
	        iso8601_json(pv->finished_ms), "cpu_seconds", pv->cpu_seconds,
	        "attempt", (json_int_t)(pv->attempt ? pv->attempt : 1), "host",
	        host, "jobd", JOBD_VERSION, "cpu_user_s", pv->cpu_user_s,
	        "cpu_system_s", pv->cpu_system_s);

	if (o && pv->has_peak_rss)
		json_object_set_new(o, "peak_rss_kb",
		                    json_integer((json_int_t)pv->peak_rss_kb));
	provenance_add_options(o, pv->options);
	if (o && pv->arrays_sha256)
		json_object_set_new(o, "arrays_sha256",
		                    json_loads(pv->arrays_sha256, 0, NULL));
	if (o && pv->cached)
		json_object_set_new(o, "cached", json_true());
	return o;
}

char *provenance_static_text(const struct provenance *pv)
{
	char host[256];
	json_t *o;
	char *text, *inner = NULL;
	size_t len;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	o = json_pack("{ss ss ss ss ss}", "plugin", pv->plugin, "version",
	              pv->version ? pv->version : "", "plugin_sha256",
	              pv->plugin_sha256 ? pv->plugin_sha256 : "", "host", host,
	              "jobd", JOBD_VERSION);
	provenance_add_options(o, pv->options);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text)
		return NULL;
	len = strlen(text);
	if (len >= 2 && text[0] == '{' && text[len - 1] == '}') {
		inner = strndup(text + 1, len - 2); /* jansson escaped it */
	}
	free(text);
	return inner;
}

/* Appends src[0..n) if it fits before end; NULL once anything did not. */
static char *put_mem(char *p, const char *end, const void *src, size_t n)
{
	if (!p || (size_t)(end - p) < n)
		return NULL;
	memcpy(p, src, n);
	return p + n;
}

#define PUT_LIT(p, end, lit) put_mem(p, end, lit, sizeof(lit) - 1)

/* "2026-01-02T03:04:05.678Z" in quotes, or null. */
static char *put_time(char *p, const char *end, int64_t unix_ms)
{
	char t[ISO8601_LEN + 3];

	if (!unix_ms)
		return PUT_LIT(p, end, "null");
	t[0] = '"';
	iso8601_format(unix_ms, t + 1);
	t[ISO8601_LEN + 1] = '"';
	return put_mem(p, end, t, ISO8601_LEN + 2);
}

/* Seconds with nine decimals, as "%.9f" writes them (clamped to what a
 * CPU time can be). */
static char *put_seconds(char *p, const char *end, double v)
{
	char t[32], *q;
	uint64_t ns;

	if (!(v >= 0))
		v = 0;
	if (v > 1e10)
		v = 1e10;
	ns = (uint64_t)llround(v * 1e9);
	q = put_uint(t, ns / 1000000000u);
	*q++ = '.';
	q = put_fixed(q, ns % 1000000000u, 9);
	return put_mem(p, end, t, (size_t)(q - t));
}

int provenance_text(const struct provenance *pv, const char *static_text,
                    char *buf, size_t size)
{
	const char *end = buf + size;
	char num[20], *p = buf;

	p = PUT_LIT(p, end, "{\"input_sha256\":\"");
	p = put_mem(p, end, pv->input_sha256, strlen(pv->input_sha256));
	p = PUT_LIT(p, end, "\",\"queued_at\":");
	p = put_time(p, end, pv->queued_ms);
	p = PUT_LIT(p, end, ",\"started_at\":");
	p = put_time(p, end, pv->started_ms);
	p = PUT_LIT(p, end, ",\"finished_at\":");
	p = put_time(p, end, pv->finished_ms);
	p = PUT_LIT(p, end, ",\"cpu_seconds\":");
	p = put_seconds(p, end, pv->cpu_seconds);
	p = PUT_LIT(p, end, ",\"cpu_user_s\":");
	p = put_seconds(p, end, pv->cpu_user_s);
	p = PUT_LIT(p, end, ",\"cpu_system_s\":");
	p = put_seconds(p, end, pv->cpu_system_s);
	if (pv->has_peak_rss) {
		p = PUT_LIT(p, end, ",\"peak_rss_kb\":");
		p = put_mem(p, end, num,
		            (size_t)(put_uint(num, pv->peak_rss_kb) - num));
	}
	p = PUT_LIT(p, end, ",\"attempt\":");
	p = put_mem(
	        p, end, num,
	        (size_t)(put_uint(num, pv->attempt ? pv->attempt : 1) - num));
	p = PUT_LIT(p, end, ",");
	if (pv->cached)
		p = PUT_LIT(p, end, "\"cached\":true,");
	if (pv->arrays_sha256) {
		p = PUT_LIT(p, end, "\"arrays_sha256\":");
		p = put_mem(p, end, pv->arrays_sha256,
		            strlen(pv->arrays_sha256));
		p = PUT_LIT(p, end, ",");
	}
	p = put_mem(p, end, static_text, strlen(static_text));
	p = put_mem(p, end, "}", 2); /* with the terminating NUL */
	return p ? (int)(p - buf - 1) : -1;
}
