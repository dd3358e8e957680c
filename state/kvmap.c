/*
 * kvmap.c - the byte-string hash map (see kvmap.h). Each entry is one
 * allocation holding its hash, lengths, key and value; the table holds
 * pointers and is kept at most 70% full. Deletion uses backward shifting,
 * so there are no tombstones.
 */
#include "kvmap.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util.h"

struct entry {
	uint64_t hash;
	uint32_t klen, vlen;
	char data[]; /* key, then value */
};

/* Keyed state makes one map per key, and most keys hold one or two names
 * (count and dedup hold one): a map starts with SMALL slots inside
 * itself, one allocation, and doubles from there. It began with 16 slots
 * of its own, 128 bytes and a second allocation a key: a third of a
 * restored key's memory. */
#define SMALL 2

struct kvmap {
	struct entry **slots; /* small, or allocated once grown */
	size_t cap;           /* power of two */
	size_t n;
	struct entry *small[SMALL];
};

static struct entry **slots_new(struct kvmap *m, size_t cap)
{
	return cap == SMALL ? memset(m->small, 0, sizeof(m->small))
	                    : xcalloc(cap, sizeof(struct entry *));
}

static void slots_free(struct kvmap *m, struct entry **slots)
{
	if (slots != m->small)
		free(slots);
}

struct kvmap *kvmap_new(void)
{
	struct kvmap *m = xmalloc(sizeof(*m));

	m->cap = SMALL;
	m->n = 0;
	m->slots = slots_new(m, m->cap);
	return m;
}

void kvmap_free(struct kvmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i]);
	slots_free(m, m->slots);
	free(m);
}

struct kvmap *kvmap_clone(const struct kvmap *m)
{
	struct kvmap *c = xmalloc(sizeof(*c));

	c->cap = m->cap;
	c->n = m->n;
	c->slots = slots_new(c, c->cap);
	for (size_t i = 0; i < m->cap; i++) {
		const struct entry *e = m->slots[i];
		size_t size;

		if (!e)
			continue;
		size = sizeof(*e) + e->klen + e->vlen;
		c->slots[i] = xmalloc(size);
		memcpy(c->slots[i], e, size);
	}
	return c;
}

size_t kvmap_count(const struct kvmap *m)
{
	return m->n;
}

static size_t find(const struct kvmap *m, uint64_t h, const void *key,
                   size_t klen)
{
	size_t mask = m->cap - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		struct entry *e = m->slots[i];

		if (!e || (e->hash == h && e->klen == klen &&
		           memcmp(e->data, key, klen) == 0))
			return i;
	}
}

static void grow(struct kvmap *m)
{
	struct entry **old = m->slots;
	size_t oldcap = m->cap;

	m->cap *= 2;
	m->slots = slots_new(m, m->cap);
	for (size_t i = 0; i < oldcap; i++) {
		struct entry *e = old[i];
		size_t j;

		if (!e)
			continue;
		for (j = (size_t)e->hash & (m->cap - 1); m->slots[j];
		     j = (j + 1) & (m->cap - 1))
			;
		m->slots[j] = e;
	}
	slots_free(m, old);
}

void *kvmap_get(struct kvmap *m, const void *key, size_t klen, size_t *vlen)
{
	struct entry *e = m->slots[find(m, XXH3_64bits(key, klen), key, klen)];

	if (!e)
		return NULL;
	if (vlen)
		*vlen = e->vlen;
	return e->data + e->klen;
}

void *kvmap_put(struct kvmap *m, const void *key, size_t klen,
                const void *value, size_t vlen)
{
	uint64_t h = XXH3_64bits(key, klen);
	size_t i = find(m, h, key, klen);
	struct entry *e = m->slots[i];

	if (e && e->vlen == vlen) {
		memcpy(e->data + klen, value, vlen);
		return e->data + klen;
	}
	e = xrealloc(e, sizeof(*e) + klen + vlen);
	if (!m->slots[i]) {
		e->hash = h;
		e->klen = (uint32_t)klen;
		memcpy(e->data, key, klen);
		m->n++;
	}
	e->vlen = (uint32_t)vlen;
	memcpy(e->data + klen, value, vlen);
	m->slots[i] = e;
	if (m->n * 10 > m->cap * 7) {
		grow(m);
		return kvmap_get(m, key, klen, NULL);
	}
	return e->data + klen;
}

bool kvmap_del(struct kvmap *m, const void *key, size_t klen)
{
	size_t mask = m->cap - 1;
	size_t i = find(m, XXH3_64bits(key, klen), key, klen);

	if (!m->slots[i])
		return false;
	free(m->slots[i]);
	m->slots[i] = NULL;
	m->n--;
	/* Shift back the entries of the cluster that follows. */
	for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
		size_t home = (size_t)m->slots[j]->hash & mask;

		/* Move j to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			m->slots[j] = NULL;
			i = j;
		}
	}
	return true;
}

bool kvmap_next(const struct kvmap *m, size_t *pos, const void **key,
                size_t *klen, const void **value, size_t *vlen)
{
	for (; *pos < m->cap; (*pos)++) {
		struct entry *e = m->slots[*pos];

		if (!e)
			continue;
		*key = e->data;
		*klen = e->klen;
		*value = e->data + e->klen;
		*vlen = e->vlen;
		(*pos)++;
		return true;
	}
	return false;
}
