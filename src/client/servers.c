/* SPDX-License-Identifier: MIT */
#include "client/servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void servers_fini(struct server_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].host);
		free(l->v[i].port);
		free(l->v[i].display);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int valid_port(const char *s, size_t len)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* One entry s[0..len), already trimmed. */
static int parse_one(const char *s, size_t len, struct server *out, char *err,
                     size_t err_size)
{
	const char *host, *port = NULL, *colon;
	size_t host_len, port_len = 0;
	struct in_addr a4;
	int v6 = 0;

	if (len >= 6 && !strncmp(s, "tls://", 6)) {
		out->tls = true;
		s += 6;
		len -= 6;
	} else if (len >= 6 && !strncmp(s, "tcp://", 6)) {
		s += 6;
		len -= 6;
	} else if (memmem(s, len, "://", 3)) {
		snprintf(err, err_size,
		         "\"%.*s\": unknown scheme (use tls:// or none)",
		         (int)len, s);
		return -EINVAL;
	}
	if (len == 0) {
		snprintf(err, err_size, "empty entry in server list");
		return -EINVAL;
	}
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close) {
			snprintf(err, err_size, "\"%.*s\": missing ']'",
			         (int)len, s);
			return -EINVAL;
		}
		host = s + 1;
		host_len = (size_t)(close - host);
		v6 = 1;
		if (close + 1 < s + len) {
			if (close[1] != ':') {
				snprintf(err, err_size,
				         "\"%.*s\": expected ':' after ']'",
				         (int)len, s);
				return -EINVAL;
			}
			port = close + 2;
			port_len = (size_t)(s + len - port);
		}
	} else {
		colon = memchr(s, ':', len);
		host = s;
		host_len = colon ? (size_t)(colon - s) : len;
		if (colon) {
			port = colon + 1;
			port_len = (size_t)(s + len - port);
			if (memchr(port, ':', port_len)) {
				snprintf(err, err_size,
				         "\"%.*s\": write an IPv6 address in "
				         "brackets, e.g. [::1]:7878",
				         (int)len, s);
				return -EINVAL;
			}
		}
	}
	if (host_len == 0) {
		snprintf(err, err_size, "\"%.*s\": empty host", (int)len, s);
		return -EINVAL;
	}
	if (port && !valid_port(port, port_len)) {
		snprintf(err, err_size,
		         "\"%.*s\": port must be a number from 1 to 65535",
		         (int)len, s);
		return -EINVAL;
	}
	out->host = strndup(host, host_len);
	out->port = port ? strndup(port, port_len)
	                 : strdup(out->tls ? SERVERS_DEFAULT_TLS_PORT
	                                   : SERVERS_DEFAULT_PORT);
	if (!out->host || !out->port)
		return -ENOMEM;
	out->numeric = v6 || inet_pton(AF_INET, out->host, &a4) == 1;
	if (asprintf(&out->display, v6 ? "%s[%s]:%s" : "%s%s:%s",
	             out->tls ? "tls://" : "", out->host, out->port) < 0) {
		out->display = NULL;
		return -ENOMEM;
	}
	return 0;
}

int servers_parse(const char *text, struct server_list *out, char *err,
                  size_t err_size)
{
	const char *p = text, *end, *a, *b;
	size_t cap = 0;
	int r;

	out->v = NULL;
	out->n = 0;
	for (;;) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		for (a = p; a < end && (*a == ' ' || *a == '\t'); a++)
			;
		for (b = end; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
			;
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct server *nv = realloc(out->v, ncap * sizeof(*nv));

			if (!nv) {
				r = -ENOMEM;
				goto fail;
			}
			out->v = nv;
			cap = ncap;
		}
		memset(&out->v[out->n], 0, sizeof(out->v[0]));
		out->n++;
		r = parse_one(a, (size_t)(b - a), &out->v[out->n - 1], err,
		              err_size);
		if (r < 0)
			goto fail;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(err, err_size, "out of memory");
	servers_fini(out);
	return r;
}
