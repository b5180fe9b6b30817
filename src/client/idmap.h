/* SPDX-License-Identifier: MIT */
/*
 * The ids a connection has in flight, each with a few flag bits: an
 * open-addressing hash table (linear probing, backward-shift deletion).
 * Ids are never 0 (0 marks an empty slot).
 */
#ifndef JOBD_CLIENT_IDMAP_H
#define JOBD_CLIENT_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	uint64_t id;
	unsigned flags;
};

struct idmap {
	struct idmap_slot *slots; /* owned; cap is a power of two */
	size_t cap;
	size_t count;
};

void idmap_init(struct idmap *m);
void idmap_fini(struct idmap *m);
/* Inserts id (> 0, not present). Returns 0 or -ENOMEM. */
int idmap_put(struct idmap *m, uint64_t id, unsigned flags);
/* The slot of id, or NULL. Valid until the next put/del. */
struct idmap_slot *idmap_get(const struct idmap *m, uint64_t id);
/* Removes id if present; returns its flags, or -1 if absent. */
int idmap_del(struct idmap *m, uint64_t id);
/* Empties the map (keeps its memory). */
void idmap_clear(struct idmap *m);

#endif
