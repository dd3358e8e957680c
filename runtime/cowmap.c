/*
 * cowmap.c - the freezable key map (see cowmap.h). Open addressing with
 * linear probing over a table of entry pointers, at most 70% full, with
 * backward-shift deletion (no tombstones), like kvmap.c.
 *
 * Versions: m->epoch is the version of what is made now, starting at 1.
 * cowmap_freeze sets m->frozen to it and moves m->epoch on; m->frozen is 0
 * when no view is out. An entry or a slot array whose version is <=
 * m->frozen is seen by the view, so while frozen it is never written or
 * freed: the slot array is copied before its first change (and a grow
 * keeps the old one), an entry is copied before a change (cowmap_own),
 * and what is replaced or removed goes on the kept lists. Everything made
 * after the freeze is the owner's alone and changes in place. cowmap_thaw
 * frees the kept lists and sets m->frozen back to 0.
 *
 * So the cost of a freeze is O(1), and while it lasts each slot array is
 * copied at most once (the first change) and each entry at most once (the
 * first change of that key).
 */
#include "cowmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kvmap.h"
#include "util.h"

struct cowmap {
	struct cowent **slots;
	size_t cap;             /* power of two */
	size_t n;
	uint64_t slots_ver;     /* version of the slot array */
	uint64_t epoch, frozen;
	/* Kept for the view until the thaw. */
	struct cowent **kept_ents;
	size_t nkept_ents, capkept_ents;
	struct cowent ***kept_slots;
	size_t nkept_slots, capkept_slots;
};

static uint32_t hash_of(const void *key, size_t klen)
{
	return (uint32_t)XXH3_64bits(key, klen);
}

static void ent_free(struct cowent *e)
{
	kvmap_free(e->names);
	free(e);
}

struct cowmap *cowmap_new(void)
{
	struct cowmap *m = xcalloc(1, sizeof(*m));

	m->cap = 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->epoch = 1;
	m->slots_ver = 1;
	return m;
}

void cowmap_free(struct cowmap *m)
{
	if (!m)
		return;
	cowmap_thaw(m);
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i])
			ent_free(m->slots[i]);
	free(m->slots);
	free(m->kept_ents);
	free(m->kept_slots);
	free(m);
}

size_t cowmap_count(const struct cowmap *m)
{
	return m->n;
}

static bool seen_by_view(const struct cowmap *m, uint64_t ver)
{
	return ver <= m->frozen;
}

static void keep_ent(struct cowmap *m, struct cowent *e)
{
	if (m->nkept_ents == m->capkept_ents) {
		m->capkept_ents = m->capkept_ents ? m->capkept_ents * 2 : 64;
		m->kept_ents = xrealloc(m->kept_ents, m->capkept_ents *
		                                          sizeof(*m->kept_ents));
	}
	m->kept_ents[m->nkept_ents++] = e;
}

/* Lets go of the slot array, the current one: kept for the view, or
 * freed. */
static void drop_slots(struct cowmap *m, struct cowent **slots)
{
	if (!seen_by_view(m, m->slots_ver)) {
		free(slots);
		return;
	}
	if (m->nkept_slots == m->capkept_slots) {
		m->capkept_slots = m->capkept_slots ? m->capkept_slots * 2 : 4;
		m->kept_slots = xrealloc(m->kept_slots,
		                         m->capkept_slots *
		                             sizeof(*m->kept_slots));
	}
	m->kept_slots[m->nkept_slots++] = slots;
}

/* Makes the slot array the owner's to write. */
static void own_slots(struct cowmap *m)
{
	struct cowent **copy;

	if (!seen_by_view(m, m->slots_ver))
		return;
	copy = xmalloc(m->cap * sizeof(*copy));
	memcpy(copy, m->slots, m->cap * sizeof(*copy));
	drop_slots(m, m->slots);
	m->slots = copy;
	m->slots_ver = m->epoch;
}

static size_t find(const struct cowmap *m, uint32_t h, const void *key,
                   size_t klen)
{
	size_t mask = m->cap - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		const struct cowent *e = m->slots[i];

		if (!e || (e->hash == h && e->klen == klen &&
		           memcmp(e->key, key, klen) == 0))
			return i;
	}
}

/* The slot holding e, which is in the map. */
static size_t slot_of(const struct cowmap *m, const struct cowent *e)
{
	size_t mask = m->cap - 1, i = e->hash & mask;

	while (m->slots[i] != e) {
		assert(m->slots[i]);
		i = (i + 1) & mask;
	}
	return i;
}

static void grow(struct cowmap *m)
{
	struct cowent **old = m->slots;
	size_t oldcap = m->cap, mask;

	m->cap *= 2;
	mask = m->cap - 1;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (!old[i])
			continue;
		for (j = old[i]->hash & mask; m->slots[j]; j = (j + 1) & mask)
			;
		m->slots[j] = old[i];
	}
	drop_slots(m, old);
	m->slots_ver = m->epoch;
}

struct cowent *cowmap_find(const struct cowmap *m, const void *key,
                           size_t klen)
{
	return m->slots[find(m, hash_of(key, klen), key, klen)];
}

struct cowent *cowmap_add(struct cowmap *m, const void *key, size_t klen)
{
	uint32_t h = hash_of(key, klen);
	struct cowent *e = xmalloc(sizeof(*e) + klen);
	size_t i;

	e->hash = h;
	e->klen = (uint32_t)klen;
	e->ver = m->epoch;
	e->names = kvmap_new();
	if (klen)
		memcpy(e->key, key, klen);
	/* Either makes a slot array of the owner's own. */
	if ((m->n + 1) * 10 > m->cap * 7)
		grow(m);
	else
		own_slots(m);
	i = find(m, h, key, klen);
	assert(!m->slots[i]);
	m->slots[i] = e;
	m->n++;
	return e;
}

struct cowent *cowmap_own(struct cowmap *m, struct cowent *e)
{
	struct cowent *c;

	if (!seen_by_view(m, e->ver))
		return e;
	c = xmalloc(sizeof(*c) + e->klen);
	memcpy(c, e, sizeof(*c) + e->klen);
	c->ver = m->epoch;
	c->names = kvmap_clone(e->names);
	own_slots(m);
	m->slots[slot_of(m, e)] = c;
	keep_ent(m, e);
	return c;
}

void cowmap_remove(struct cowmap *m, struct cowent *e)
{
	size_t mask = m->cap - 1, i;

	own_slots(m);
	i = slot_of(m, e);
	m->slots[i] = NULL;
	m->n--;
	/* Shift back the entries of the cluster that follows: move j to i
	 * unless its home lies cyclically in (i, j]. */
	for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
		size_t home = m->slots[j]->hash & mask;

		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			m->slots[j] = NULL;
			i = j;
		}
	}
	if (seen_by_view(m, e->ver))
		keep_ent(m, e);
	else
		ent_free(e);
}

struct cowmap_view cowmap_freeze(struct cowmap *m)
{
	struct cowmap_view v = {.slots = m->slots, .cap = m->cap, .n = m->n};

	assert(!m->frozen);
	m->frozen = m->epoch++;
	return v;
}

bool cowmap_frozen(const struct cowmap *m)
{
	return m->frozen != 0;
}

void cowmap_thaw(struct cowmap *m)
{
	for (size_t i = 0; i < m->nkept_ents; i++)
		ent_free(m->kept_ents[i]);
	for (size_t i = 0; i < m->nkept_slots; i++)
		free(m->kept_slots[i]);
	m->nkept_ents = m->nkept_slots = 0;
	m->frozen = 0;
}

size_t cowmap_kept(const struct cowmap *m)
{
	return m->nkept_ents + m->nkept_slots;
}

bool cowmap_view_next(const struct cowmap_view *v, size_t *pos,
                      const struct cowent **e)
{
	for (; *pos < v->cap; (*pos)++) {
		if (!v->slots[*pos])
			continue;
		*e = v->slots[(*pos)++];
		return true;
	}
	return false;
}
