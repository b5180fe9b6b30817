/* SPDX-License-Identifier: MIT */
/*
 * The REST routes (src/daemon/net/http_route.c): three lines of input are
 * a method, a path and a query (a fourth, if any, a JSON body).
 *
 * Properties: a request either has a route or a refusal whose status is
 * 400, 404 or 405 with a message and, for 405, the methods allowed; a
 * refusal's code has that status (but 405); a route's plugin name and job
 * id have the documented forms; and every route that reaches dispatch
 * becomes a message that the protocol's own validator accepts, as if a
 * binary client had sent it.
 */
#include <string.h>

#include "daemon/net/http_route.h"
#include "fuzz.h"
#include "wire/message.h"

static const char *next_line(const char **p, const char *end, char *buf,
                             size_t cap)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t len = (size_t)((nl ? nl : end) - *p);

	if (len >= cap)
		len = cap - 1;
	memcpy(buf, *p, len);
	buf[len] = '\0';
	*p = nl ? nl + 1 : end;
	return buf;
}

static void check_message(const struct http_route *r, int step, json_t *body)
{
	struct msg m;
	struct msg_error err;
	json_t *msg = http_route_message(r, step, 1, body);

	if (r->kind <= HTTP_R_OPENAPI) {
		FUZZ_CHECK(msg == NULL);
		return;
	}
	FUZZ_CHECK(msg != NULL);
	FUZZ_CHECK(msg_validate(msg, MSG_FROM_CLIENT, &m, &err) == 0);
	msg_fini(&m);
	json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char method[32], path[2048], query[2048];
	struct http_route r;
	struct http_fail f;
	json_t *body = NULL;
	int c;

	next_line(&p, end, method, sizeof(method));
	next_line(&p, end, path, sizeof(path));
	next_line(&p, end, query, sizeof(query));
	if (p < end)
		body = json_loadb(p, (size_t)(end - p),
		                  JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	for (c = 0; c < JOBD_E_COUNT_ + 2; c++) {
		int st = http_status_of((enum jobd_error)c);

		FUZZ_CHECK(st >= 200 && st <= 599);
		FUZZ_CHECK(http_reason(st)[0] != '\0');
	}
	if (http_route_parse(method, path, query[0] ? query : NULL, &r, &f)) {
		FUZZ_CHECK(f.status == 400 || f.status == 404 ||
		           f.status == 405);
		FUZZ_CHECK(f.text[0] != '\0');
		FUZZ_CHECK(memchr(f.text, '\0', sizeof(f.text)) != NULL);
		FUZZ_CHECK((f.status == 405) == (f.allow != NULL));
		if (f.status != 405)
			FUZZ_CHECK(http_status_of(f.code) == f.status);
		FUZZ_CHECK(r.pattern != NULL);
		json_decref(body);
		return 0;
	}
	FUZZ_CHECK(r.pattern != NULL && r.pattern[0] == '/');
	if (r.kind == HTTP_R_CALL || r.kind == HTTP_R_SUBMIT) {
		size_t n = strlen(r.name);

		FUZZ_CHECK(n >= 1 && n <= MSG_NAME_MAX_LEN);
		FUZZ_CHECK(strspn(r.name, "abcdefghijklmnopqrstuvwxyz"
		                          "0123456789_-") == n);
	}
	if (r.kind >= HTTP_R_JOB && r.kind <= HTTP_R_EVENTS)
		FUZZ_CHECK(strlen(r.job) == 16 &&
		           strspn(r.job, "0123456789abcdef") == 16);
	if (r.kind == HTTP_R_STATIC)
		FUZZ_CHECK(r.file && !strchr(r.file, '/'));
	check_message(&r, 0, body);
	if (r.kind == HTTP_R_EVENTS)
		check_message(&r, 1, NULL);
	return 0;
}
