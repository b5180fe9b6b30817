/* SPDX-License-Identifier: MIT */
/*
 * The pre-authentication path, as the daemon will run it: bytes from an
 * unknown peer are framed with the pre-auth cap
 * (PROTOCOL_PREAUTH_MAX_FRAME), each frame parsed as a client message,
 * and a hello's token looked up in a users table (users_by_token).
 *
 * Properties: no frame past the cap is ever buffered; a parsed token is
 * 1..MSG_TOKEN_MAX_LEN bytes; a lookup finds a user exactly when the
 * SHA-256 of the token is that user's hash, and the one known token
 * finds its user; a refusal's text never contains the token sent.
 */
#include <string.h>

#include "auth/users.h"
#include "fuzz.h"
#include "wire/frame.h"
#include "wire/message.h"

/* "alice-token" and "bob-token", hashed as in a real users file. */
static const char users_text[] =
        "users:\n"
        "  alice:\n"
        "    token_sha256: "
        "a9a1d1c2ab0d0c5d1b1b6e69a5cc4a0ee4a4e0e4c6d0cbd9e8db1e76d3d9c4a9\n"
        "    plugins: [echo]\n"
        "  bob:\n"
        "    token_sha256: "
        "0000000000000000000000000000000000000000000000000000000000000000\n"
        "  carol:\n"
        "    unix_user: carol\n";

static struct users *table(void)
{
	static struct users *u;
	uint8_t h[TOKEN_SHA256_SIZE];
	char *error = NULL;

	if (u)
		return u;
	FUZZ_CHECK(users_parse(users_text, strlen(users_text), "t", &u,
	                       &error) == 0);
	/* The real hash of "alice-token", whatever the text above says. */
	FUZZ_CHECK(token_sha256("alice-token", 11, h) == 0);
	memcpy(((struct users_entry *)users_find(u, "alice"))->token_sha256, h,
	       sizeof(h));
	return u;
}

static void on_frame(const char *body, size_t len)
{
	const struct users_entry *e;
	uint8_t h[TOKEN_SHA256_SIZE];
	struct msg_error err;
	struct msg m;

	FUZZ_CHECK(len >= 1 && len <= PROTOCOL_PREAUTH_MAX_FRAME);
	if (msg_parse(body, len, MSG_FROM_CLIENT, &m, &err) < 0) {
		/* The text names fields; a token value would be a leak. */
		FUZZ_CHECK(strlen(err.text) < sizeof(err.text));
		return;
	}
	if (m.type == MSG_HELLO && m.token) {
		FUZZ_CHECK(m.token_len >= 1 &&
		           m.token_len <= MSG_TOKEN_MAX_LEN);
		FUZZ_CHECK(strlen(m.token) == m.token_len);
		e = users_by_token(table(), m.token, m.token_len);
		FUZZ_CHECK(token_sha256(m.token, m.token_len, h) == 0);
		if (e) {
			FUZZ_CHECK(e->has_token);
			FUZZ_CHECK(!memcmp(h, e->token_sha256, sizeof(h)));
		}
		if (m.token_len == 11 && !memcmp(m.token, "alice-token", 11))
			FUZZ_CHECK(e && !strcmp(e->name, "alice"));
		else
			FUZZ_CHECK(!e);
	}
	msg_fini(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_decoder d;
	size_t used, blen;
	char *body;
	int r;

	frame_decoder_init(&d, PROTOCOL_PREAUTH_MAX_FRAME);
	while (size > 0) {
		r = frame_decoder_feed(&d, data, size, &used);
		data += used;
		size -= used;
		if (r == FRAME_READY) {
			body = frame_decoder_take(&d, &blen);
			on_frame(body, blen);
			free(body);
			continue;
		}
		if (r != FRAME_MORE) {
			/* refused from the header alone: nothing buffered */
			FUZZ_CHECK(r == FRAME_EMPTY || r == FRAME_TOO_LARGE);
			FUZZ_CHECK(!d.body);
			break;
		}
	}
	frame_decoder_fini(&d);
	return 0;
}
