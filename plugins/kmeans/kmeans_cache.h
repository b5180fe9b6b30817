/* SPDX-License-Identifier: MIT */
/*
 * A bounded LRU cache of trained k-means models, shared by all of the
 * plugin's worker threads (one mutex inside).
 *
 * Keys are opaque byte strings (the canonical input, see kmeans.c). An entry
 * is found by a 64-bit FNV-1a hash of its key and then confirmed by
 * comparing the whole key, so a hash collision can cost a lookup but never
 * returns another input's model.
 */
#ifndef JOBD_PLUGINS_KMEANS_CACHE_H
#define JOBD_PLUGINS_KMEANS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct kmeans_cache;

/*
 * A cache of at most max_entries entries whose keys and (estimated) values
 * take at most max_bytes. max_entries 0 makes a cache that stores nothing.
 * Returns NULL when out of memory.
 */
struct kmeans_cache *kmeans_cache_new(size_t max_entries, size_t max_bytes);

/* Frees every entry. Accepts NULL. No other thread may use c. */
void kmeans_cache_free(struct kmeans_cache *c);

/*
 * Looks key up. On a hit, marks the entry most recently used and returns a
 * new, private deep copy of its value (the caller owns and may modify it);
 * on a miss (or no memory for the copy) returns NULL.
 */
json_t *kmeans_cache_get(struct kmeans_cache *c, const void *key, size_t len);

/*
 * Stores a deep copy of value under a copy of key, replacing any entry with
 * the same key and evicting least recently used entries until the bounds
 * hold. value_bytes is the caller's estimate of value's size. An entry that
 * alone exceeds max_bytes is not stored. Returns 0, or -ENOMEM.
 */
int kmeans_cache_put(struct kmeans_cache *c, const void *key, size_t len,
                     const json_t *value, size_t value_bytes);

/* Entries now held (for tests and logs). */
size_t kmeans_cache_count(struct kmeans_cache *c);

/* 64-bit FNV-1a of buf. */
uint64_t kmeans_cache_hash(const void *buf, size_t len);

#endif
