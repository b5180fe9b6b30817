/* SPDX-License-Identifier: MIT */
#include "daemon/provenance.h"

#include <errno.h>
#include <fcntl.h>
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

int sha256_hex(const void *buf, size_t len, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n != 32) {
		out[0] = '\0';
		return -EIO;
	}
	to_hex(md, n, out);
	return 0;
}

int sha256_file_hex(const char *path, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
	EVP_MD_CTX *ctx = NULL;
	unsigned n = 0;
	ssize_t got;
	int fd, rc = -EIO;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	for (;;) {
		got = read(fd, buf, sizeof(buf));
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
	}
	if (!EVP_DigestFinal_ex(ctx, md, &n) || n != 32)
		goto out;
	to_hex(md, n, out);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

int sha256_json_hex(const json_t *v, char out[SHA256_HEX_LEN + 1])
{
	char *text =
	        json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (!text) {
		out[0] = '\0';
		return -ENOMEM;
	}
	rc = sha256_hex(text, strlen(text), out);
	free(text);
	return rc;
}

void iso8601_utc_ms(int64_t unix_ms, char *buf, size_t size)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	char day[32];

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", day, (int)(unix_ms % 1000));
}

json_t *iso8601_json(int64_t unix_ms)
{
	char buf[40];

	if (!unix_ms)
		return json_null();
	iso8601_utc_ms(unix_ms, buf, sizeof(buf));
	return json_string(buf);
}

int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *provenance_json(const struct provenance *pv)
{
	char host[256];

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	return json_pack(
	        "{ss ss ss ss so so so sf sI ss ss}", "plugin", pv->plugin,
	        "version", pv->version ? pv->version : "", "plugin_sha256",
	        pv->plugin_sha256 ? pv->plugin_sha256 : "", "input_sha256",
	        pv->input_sha256, "queued_at", iso8601_json(pv->queued_ms),
	        "started_at", iso8601_json(pv->started_ms), "finished_at",
	        iso8601_json(pv->finished_ms), "cpu_seconds", pv->cpu_seconds,
	        "attempt", (json_int_t)(pv->attempt ? pv->attempt : 1), "host",
	        host, "jobd", JOBD_VERSION);
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
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
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

/* "2026-01-02T03:04:05.678Z" in quotes, or null. */
static int put_time(char *buf, size_t size, int64_t unix_ms)
{
	char t[40];

	if (!unix_ms)
		return snprintf(buf, size, "null");
	iso8601_utc_ms(unix_ms, t, sizeof(t));
	return snprintf(buf, size, "\"%s\"", t);
}

int provenance_text(const struct provenance *pv, const char *static_text,
                    char *buf, size_t size)
{
	char queued[48], started[48], finished[48];
	int n;

	put_time(queued, sizeof(queued), pv->queued_ms);
	put_time(started, sizeof(started), pv->started_ms);
	put_time(finished, sizeof(finished), pv->finished_ms);
	n = snprintf(buf, size,
	             "{\"input_sha256\":\"%s\",\"queued_at\":%s,"
	             "\"started_at\":%s,\"finished_at\":%s,"
	             "\"cpu_seconds\":%.9f,\"attempt\":%u,%s}",
	             pv->input_sha256, queued, started, finished,
	             pv->cpu_seconds, pv->attempt ? pv->attempt : 1,
	             static_text);
	return n < 0 || (size_t)n >= size ? -1 : n;
}
