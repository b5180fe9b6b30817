/* SPDX-License-Identifier: MIT */
/*
 * The result cache of a retry-safe plugin (config: plugins.NAME.cache:
 * {max_bytes: SIZE}): a result is stored under the SHA-256 of what makes
 * it (the plugin build, its effective options, the input's JSON text and
 * each input array's bytes, cache_key()), and a later call with the same
 * key is answered from it without running the plugin. Entries are files
 * in one directory per plugin under state_dir (state_dir/cache/NAME/
 * KEY.json, the output's JSON text), so they survive restarts; the least
 * recently used go first when the total passes max_bytes (the file's
 * mtime records the last use, so the order survives a restart too).
 *
 * Results that carry binary arrays are not stored (not yet): such a call
 * always runs. Thread-safe: workers look up and store concurrently.
 */
#ifndef JOBD_DAEMON_EXEC_CACHE_H
#define JOBD_DAEMON_EXEC_CACHE_H

#include <stdint.h>

#include <jansson.h>

struct result_cache;

/* Opens (making it if needed) dir and indexes the entries in it; evicts
 * down to max_bytes. NULL with *why (malloc'd) on failure. Loop thread. */
struct result_cache *result_cache_open(const char *dir, uint64_t max_bytes,
                                       char **why);

/* Accepts NULL. Leaves the files. */
void result_cache_free(struct result_cache *c);

/*
 * The key (hex SHA-256, out[65]) of a call: over plugin_sha256,
 * options_sha256, input_sha256 and the arrays' hashes text (NULL for
 * none), each followed by a NUL so that no two splits collide. Returns 0
 * or -EIO.
 */
int cache_key(const char *plugin_sha256, const char *options_sha256,
              const char *input_sha256, const char *arrays_sha256,
              char out[65]);

/* The stored output of key (a new reference in *output), marking it most
 * recently used; or -ENOENT. */
int result_cache_get(struct result_cache *c, const char *key, json_t **output);

/* Stores output under key (written to a temporary file and renamed, so a
 * crash leaves the old entry or the new one) and evicts down to
 * max_bytes. Returns 0, -EFBIG for an entry over max_bytes alone, or a
 * negative errno. */
int result_cache_put(struct result_cache *c, const char *key,
                     const json_t *output);

/* Entries and bytes held (for tests and stats). */
void result_cache_usage(struct result_cache *c, uint64_t *entries,
                        uint64_t *bytes);

#endif
