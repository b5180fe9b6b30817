/* SPDX-License-Identifier: MIT */
#include "kmeans_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Entries form a doubly linked list, most recently used first. Lookup is a
 * linear scan of 64-bit hashes: with the few dozen entries a model cache
 * holds, that costs less than the mutex does. */
struct cache_entry {
	struct cache_entry *prev, *next;
	uint64_t hash;
	size_t key_len;
	size_t bytes;  /* key_len + the value estimate */
	json_t *value; /* never modified after insertion */
	unsigned char key[];
};

struct kmeans_cache {
	pthread_mutex_t lock; /* guards everything below */
	struct cache_entry *head, *tail;
	size_t count, bytes;
	size_t max_entries, max_bytes;
};

uint64_t kmeans_cache_hash(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

struct kmeans_cache *kmeans_cache_new(size_t max_entries, size_t max_bytes)
{
	struct kmeans_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	return c;
}

static void entry_unlink(struct kmeans_cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
	c->count--;
	c->bytes -= e->bytes;
}

static void entry_push_front(struct kmeans_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
	c->count++;
	c->bytes += e->bytes;
}

static void entry_free(struct cache_entry *e)
{
	json_decref(e->value);
	free(e);
}

static struct cache_entry *find(struct kmeans_cache *c, uint64_t hash,
                                const void *key, size_t len)
{
	for (struct cache_entry *e = c->head; e; e = e->next)
		if (e->hash == hash && e->key_len == len &&
		    memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

void kmeans_cache_free(struct kmeans_cache *c)
{
	struct cache_entry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

json_t *kmeans_cache_get(struct kmeans_cache *c, const void *key, size_t len)
{
	uint64_t hash = kmeans_cache_hash(key, len);
	struct cache_entry *e;
	json_t *copy = NULL;

	pthread_mutex_lock(&c->lock);
	e = find(c, hash, key, len);
	if (e) {
		entry_unlink(c, e);
		entry_push_front(c, e);
		/* NOTE: copied under the lock, not incref'd and copied after
		 * unlocking: jansson's json_decref() reads the count without
		 * an atomic and decrements with release order only, so two
		 * threads dropping references to one value race
		 * (ThreadSanitizer reports it). Only this mutex ever touches
		 * stored values. */
		copy = json_deep_copy(e->value);
	}
	pthread_mutex_unlock(&c->lock);
	return copy;
}

int kmeans_cache_put(struct kmeans_cache *c, const void *key, size_t len,
                     const json_t *value, size_t value_bytes)
{
	uint64_t hash = kmeans_cache_hash(key, len);
	struct cache_entry *e, *old;
	size_t bytes = len + value_bytes;

	if (c->max_entries == 0 || bytes > c->max_bytes)
		return 0;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	e->prev = e->next = NULL;
	e->hash = hash;
	e->key_len = len;
	e->bytes = bytes;
	memcpy(e->key, key, len);
	e->value = json_deep_copy(value);
	if (!e->value) {
		free(e);
		return -ENOMEM;
	}

	pthread_mutex_lock(&c->lock);
	/* Two workers may train the same input at once; the later one
	 * replaces the earlier (the models are identical). */
	old = find(c, hash, key, len);
	if (old)
		entry_unlink(c, old);
	entry_push_front(c, e);
	/* Evict from the tail; e itself fits, so this stops at e at worst. */
	while (c->count > c->max_entries || c->bytes > c->max_bytes) {
		struct cache_entry *victim = c->tail;
		entry_unlink(c, victim);
		entry_free(victim);
	}
	pthread_mutex_unlock(&c->lock);
	if (old)
		entry_free(old);
	return 0;
}

size_t kmeans_cache_count(struct kmeans_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}
