/* SPDX-License-Identifier: MIT */
/*
 * Access tokens: random 256-bit secrets shown to their owner once, and
 * kept by the server only as their SHA-256 (docs/security.md). The hash
 * is taken over the token string exactly as presented, so a hex token
 * and a base64url token are both just strings to the server.
 */
#ifndef JOBD_AUTH_TOKEN_H
#define JOBD_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_BYTES       32 /* 256 random bits */
#define TOKEN_SHA256_SIZE 32
/* Longest token string accepted anywhere (hello, token files). */
#define TOKEN_MAX_LEN 256
/* Room for the longest encoding (hex) and its NUL. */
#define TOKEN_TEXT_SIZE (2 * TOKEN_BYTES + 1)

enum token_encoding {
	TOKEN_BASE64URL = 0, /* 43 characters of [A-Za-z0-9_-], no padding */
	TOKEN_HEX = 1,       /* 64 characters of [0-9a-f] */
};

/* A new random token from the OS's CSPRNG (RAND_bytes) in out. Returns 0
 * or -EIO if no randomness could be had. The raw bytes are wiped. */
int token_generate(enum token_encoding enc, char out[TOKEN_TEXT_SIZE]);

/* SHA-256 of token[0..len). Returns 0 or -EIO. */
int token_sha256(const char *token, size_t len, uint8_t out[TOKEN_SHA256_SIZE]);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void token_hex(const uint8_t *bytes, size_t n, char *out);

/* Parses exactly 2n hex digits (either case) of s into out. Returns 0 or
 * -EINVAL. */
int token_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

/* Zeroes a secret in a way the compiler keeps (OPENSSL_cleanse). */
void token_wipe(void *p, size_t n);

#endif
