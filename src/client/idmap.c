/* SPDX-License-Identifier: MIT */
#include "client/idmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void idmap_init(struct idmap *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
}

void idmap_fini(struct idmap *m)
{
	free(m->slots);
	idmap_init(m);
}

static size_t idmap_hash(uint64_t id, size_t cap)
{
	/* Fibonacci hashing: consecutive ids spread over the table. */
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static void idmap_insert_slot(struct idmap_slot *slots, size_t cap, uint64_t id,
                              unsigned flags)
{
	size_t i = idmap_hash(id, cap);

	while (slots[i].id)
		i = (i + 1) & (cap - 1);
	slots[i].id = id;
	slots[i].flags = flags;
}

static int idmap_grow(struct idmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64, i;
	struct idmap_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++)
		if (m->slots[i].id)
			idmap_insert_slot(ns, ncap, m->slots[i].id,
			                  m->slots[i].flags);
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int idmap_put(struct idmap *m, uint64_t id, unsigned flags)
{
	/* Keep the load at most one half so probes stay short. */
	if ((m->count + 1) * 2 > m->cap && idmap_grow(m) < 0)
		return -ENOMEM;
	idmap_insert_slot(m->slots, m->cap, id, flags);
	m->count++;
	return 0;
}

struct idmap_slot *idmap_get(const struct idmap *m, uint64_t id)
{
	size_t i;

	if (!m->cap || !id)
		return NULL;
	for (i = idmap_hash(id, m->cap); m->slots[i].id;
	     i = (i + 1) & (m->cap - 1))
		if (m->slots[i].id == id)
			return &m->slots[i];
	return NULL;
}

int idmap_del(struct idmap *m, uint64_t id)
{
	struct idmap_slot *s = idmap_get(m, id);
	size_t i, j, home;
	int flags;

	if (!s)
		return -1;
	flags = (int)s->flags;
	i = (size_t)(s - m->slots);
	/* Backward shift: move later entries of the probe run into the hole
	 * when their home position allows it, so no tombstones are needed. */
	for (j = (i + 1) & (m->cap - 1); m->slots[j].id;
	     j = (j + 1) & (m->cap - 1)) {
		home = idmap_hash(m->slots[j].id, m->cap);
		if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].id = 0;
	m->slots[i].flags = 0;
	m->count--;
	return flags;
}

void idmap_clear(struct idmap *m)
{
	if (m->slots)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->count = 0;
}
