/* SPDX-License-Identifier: MIT */
/*
 * The users file: who may talk to jobd and what each may do
 * (docs/security.md). YAML, read with libyaml; pure code except
 * users_load(), which reads the file through trusted_open().
 *
 *   users:
 *     alice:
 *       token_sha256: 9f86d081...   # 64 hex digits: SHA-256 of the token
 *       plugins: [nbody, "kmeans*"] # names or fnmatch(3) globs
 *       admin: false                # sees every job and per-user stats
 *       max_running: 4              # optional caps (1..1000000)
 *       max_queued: 100
 *       unix_user: alice            # optional: Unix-socket peers (SO_PEERCRED)
 *       cert_subject: "CN=alice,O=Lab"  # optional: mutual-TLS subject
 *
 * Every error is one line, "file:line:column: key: what is wrong", the
 * key being the dotted path ("users.alice.max_running"). Token hashes
 * never appear in a message.
 */
#ifndef JOBD_AUTH_USERS_H
#define JOBD_AUTH_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/token.h"

#define USERS_NAME_MAX_LEN 64
/* Caps: 0 means none; otherwise 1..USERS_CAP_MAX. */
#define USERS_CAP_MAX 1000000u
/* The file is refused past this size before it is parsed. */
#define USERS_FILE_MAX (4u * 1024 * 1024)

struct users_entry {
	char *name; /* the key under users:, [A-Za-z0-9_.-]{1,64}; owned */
	bool has_token;
	uint8_t token_sha256[TOKEN_SHA256_SIZE];
	char **plugins; /* names or globs; owned; none: may call nothing */
	size_t n_plugins;
	bool admin;
	uint32_t max_running; /* 0: no cap */
	uint32_t max_queued;  /* 0: no cap */
	char *unix_user;      /* or NULL; owned */
	char *cert_subject;   /* RFC 2253 form, or NULL; owned */
};

struct users {
	char *path; /* the name used in messages; owned */
	struct users_entry *v;
	size_t n;
};

/*
 * Parses YAML text; name is used in messages. Returns 0 and a new table in
 * *out (users_free it), or a negative errno (-EINVAL for a bad file) with a
 * malloc'd one-line message in *error (caller frees). Every user must have
 * at least one of token_sha256, unix_user, cert_subject; no two users may
 * share a token hash, a unix_user or a cert_subject.
 */
int users_parse(const char *text, size_t len, const char *name,
                struct users **out, char **error);

/*
 * Reads path through trusted_open(TRUSTED_SECRET) (issue 22: owned by root
 * or by us, writable by no one else, not readable by others) and parses
 * it. Same contract as users_parse(); -EPERM names the fix.
 */
int users_load(const char *path, struct users **out, char **error);

/* A new empty table named path (for the first `jobd user add`). */
struct users *users_new(const char *path);

/* Frees u and everything it owns; accepts NULL. */
void users_free(struct users *u);

/*
 * The user whose token_sha256 is the SHA-256 of token[0..len), or NULL.
 * Constant time in which user matches, and whether any does: the hash is
 * compared with CRYPTO_memcmp against every user's, with no early exit.
 * The token is never stored or logged.
 */
const struct users_entry *users_by_token(const struct users *u,
                                         const char *token, size_t len);

/* The user mapped to a Unix user name / a certificate subject, or NULL. */
const struct users_entry *users_by_unix_user(const struct users *u,
                                             const char *unix_user);
const struct users_entry *users_by_cert_subject(const struct users *u,
                                                const char *subject);

/* The user of that name, or NULL. */
const struct users_entry *users_find(const struct users *u, const char *name);

/*
 * Appends *e to u, taking what it owns (e is zeroed), after the checks
 * users_parse() makes: a valid unused name, a way to authenticate, no
 * shared credential. Returns 0, -EEXIST (the name is taken), -EINVAL
 * (*why says which rule), or -ENOMEM. On failure *e is untouched.
 */
int users_add(struct users *u, struct users_entry *e, char *why,
              size_t why_size);

/* Removes the user of that name. Returns 0 or -ENOENT. */
int users_remove(struct users *u, const char *name);

/* Frees what e owns (wiping its hash) and zeroes it; accepts zeroed. */
void users_entry_fini(struct users_entry *e);

/*
 * The table as a users file (YAML that users_parse() reads back to the
 * same table), with a header comment; *text is malloc'd. Comments of a
 * hand-edited file are not kept. Returns 0 or -ENOMEM.
 */
int users_format(const struct users *u, char **text);

/* May e call plugin (a plain plugin name)? True if any of its plugins
 * entries matches by fnmatch(3). */
bool users_may_call(const struct users_entry *e, const char *plugin);

/* Valid names: a user name, a plugins entry, a Unix user name. */
bool users_valid_name(const char *s);
bool users_valid_plugin_pattern(const char *s);
bool users_valid_unix_user(const char *s);

#endif
