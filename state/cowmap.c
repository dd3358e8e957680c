/*
 * cowmap.c - the freezable key map (see cowmap.h). Open addressing with
 * linear probing, at most 70% full, with backward-shift deletion (no
 * tombstones), like kvmap.c. The slots are split into segments of at most
 * 512 entry pointers behind a directory, so that copy-on-write copies
 * 4 KiB at a time however large the table.
 *
 * Versions: m->epoch is the version of what is made now, starting at 1.
 * cowmap_freeze sets m->frozen to it and moves m->epoch on; m->frozen is 0
 * when no view is out. An entry, a segment or the directory whose version
 * is <= m->frozen is seen by the view, so while frozen it is never written
 * or freed: the directory and a segment are copied before their first
 * change (slot_ref), an entry before its first change (cowmap_own), a grow
 * builds new ones, and what is replaced or removed goes on the kept lists.
 * Everything made after the freeze is the owner's alone and changes in
 * place. cowmap_thaw moves the kept lists to the owner's trash and sets
 * m->frozen back to 0.
 *
 * So a freeze costs O(1), and while it lasts each segment and each entry
 * is copied at most once, at its first change.
 */
#include "cowmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kvmap.h"
#include "util.h"

/* Slots come in segments of 1 << SEG_BITS (4 KiB of pointers), so that
 * the first change near a slot after a freeze copies one segment, not the
 * whole table. */
#define SEG_BITS 9

struct cowseg {
	uint64_t ver; /* the epoch that made it */
	struct cowent *slot[];
};

struct cowmap {
	struct cowseg **dir; /* cap >> seg_bits segments */
	uint64_t dir_ver;    /* the epoch that made dir */
	size_t cap;          /* slots, a power of two */
	size_t n;
	unsigned seg_bits; /* log2 of slots per segment */
	uint64_t epoch, frozen;
	struct cowtrash kept; /* replaced or removed while frozen */
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

/* --- trash ----------------------------------------------------------------- */

static void list_push(struct ptrlist *l, void *p)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->p = xrealloc(l->p, l->cap * sizeof(*l->p));
	}
	l->p[l->n++] = p;
}

/* Moves everything in src to the end of dst. */
static void list_move(struct ptrlist *dst, struct ptrlist *src)
{
	if (src->n == 0)
		return;
	if (dst->n == 0) {
		struct ptrlist t = *dst;

		*dst = *src;
		*src = t;
		return;
	}
	if (dst->cap - dst->n < src->n) {
		dst->cap = dst->n + src->n;
		dst->p = xrealloc(dst->p, dst->cap * sizeof(*dst->p));
	}
	memcpy(dst->p + dst->n, src->p, src->n * sizeof(*src->p));
	dst->n += src->n;
	src->n = 0;
}

size_t cowtrash_sweep(struct cowtrash *t, size_t budget)
{
	for (; budget > 0 && t->arrays.n > 0; budget--)
		free(t->arrays.p[--t->arrays.n]);
	for (; budget > 0 && t->ents.n > 0; budget--)
		ent_free(t->ents.p[--t->ents.n]);
	return cowtrash_count(t);
}

void cowtrash_clear(struct cowtrash *t)
{
	cowtrash_sweep(t, cowtrash_count(t));
	free(t->ents.p);
	free(t->arrays.p);
	memset(t, 0, sizeof(*t));
}

size_t cowtrash_count(const struct cowtrash *t)
{
	return t->ents.n + t->arrays.n;
}

/* --- the map --------------------------------------------------------------- */

static bool seen_by_view(const struct cowmap *m, uint64_t ver)
{
	return ver <= m->frozen;
}

static size_t seg_mask(unsigned bits)
{
	return ((size_t)1 << bits) - 1;
}

static struct cowseg *seg_new(unsigned bits, uint64_t ver)
{
	struct cowseg *sg =
	    xcalloc(1, sizeof(*sg) + ((size_t)1 << bits) * sizeof(sg->slot[0]));

	sg->ver = ver;
	return sg;
}

/* A directory of cap slots in fresh, empty segments. */
static void alloc_slots(struct cowmap *m, size_t cap)
{
	size_t nseg;

	m->cap = cap;
	m->seg_bits = 0;
	while (((size_t)1 << m->seg_bits) < cap && m->seg_bits < SEG_BITS)
		m->seg_bits++;
	nseg = cap >> m->seg_bits;
	m->dir = xmalloc(nseg * sizeof(*m->dir));
	for (size_t s = 0; s < nseg; s++)
		m->dir[s] = seg_new(m->seg_bits, m->epoch);
	m->dir_ver = m->epoch;
}

static struct cowent *slot_get(const struct cowmap *m, size_t i)
{
	return m->dir[i >> m->seg_bits]->slot[i & seg_mask(m->seg_bits)];
}

/* Lets go of memory the view may see: kept until the thaw, or freed. */
static void drop(struct cowmap *m, void *p, uint64_t ver)
{
	if (seen_by_view(m, ver))
		list_push(&m->kept.arrays, p);
	else
		free(p);
}

/* Slot i, made the owner's to write: the directory and the segment that
 * holds it are copied first when the view sees them. */
static struct cowent **slot_ref(struct cowmap *m, size_t i)
{
	size_t s = i >> m->seg_bits, nseg = m->cap >> m->seg_bits;
	struct cowseg *sg = m->dir[s];

	if (seen_by_view(m, m->dir_ver)) {
		struct cowseg **dir = xmalloc(nseg * sizeof(*dir));

		memcpy(dir, m->dir, nseg * sizeof(*dir));
		drop(m, m->dir, m->dir_ver);
		m->dir = dir;
		m->dir_ver = m->epoch;
	}
	if (seen_by_view(m, sg->ver)) {
		size_t size = sizeof(*sg) +
		              ((size_t)1 << m->seg_bits) * sizeof(sg->slot[0]);

		m->dir[s] = xmalloc(size);
		memcpy(m->dir[s], sg, size);
		m->dir[s]->ver = m->epoch;
		drop(m, sg, sg->ver);
	}
	return &m->dir[s]->slot[i & seg_mask(m->seg_bits)];
}

/* Lets go of the whole slot structure (after a grow). */
static void drop_slots(struct cowmap *m, struct cowseg **dir, size_t nseg,
                       uint64_t dir_ver)
{
	for (size_t s = 0; s < nseg; s++)
		drop(m, dir[s], dir[s]->ver);
	drop(m, dir, dir_ver);
}

struct cowmap *cowmap_new(void)
{
	struct cowmap *m = xcalloc(1, sizeof(*m));

	m->epoch = 1;
	alloc_slots(m, 16);
	return m;
}

void cowmap_free(struct cowmap *m)
{
	if (!m)
		return;
	cowtrash_clear(&m->kept);
	for (size_t i = 0; i < m->cap; i++)
		if (slot_get(m, i))
			ent_free(slot_get(m, i));
	for (size_t s = 0; s < m->cap >> m->seg_bits; s++)
		free(m->dir[s]);
	free(m->dir);
	free(m);
}

size_t cowmap_count(const struct cowmap *m)
{
	return m->n;
}

static size_t find(const struct cowmap *m, uint32_t h, const void *key,
                   size_t klen)
{
	size_t mask = m->cap - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		const struct cowent *e = slot_get(m, i);

		if (!e || (e->hash == h && e->klen == klen &&
		           memcmp(e->key, key, klen) == 0))
			return i;
	}
}

/* The slot holding e, which is in the map. */
static size_t slot_of(const struct cowmap *m, const struct cowent *e)
{
	size_t mask = m->cap - 1, i = e->hash & mask;

	while (slot_get(m, i) != e) {
		assert(slot_get(m, i));
		i = (i + 1) & mask;
	}
	return i;
}

static void grow(struct cowmap *m)
{
	struct cowmap old = *m;
	size_t mask;

	alloc_slots(m, old.cap * 2);
	mask = m->cap - 1;
	for (size_t i = 0; i < old.cap; i++) {
		struct cowent *e = slot_get(&old, i);
		size_t j;

		if (!e)
			continue;
		for (j = e->hash & mask; slot_get(m, j); j = (j + 1) & mask)
			;
		/* The new segments are the owner's: no copy. */
		m->dir[j >> m->seg_bits]->slot[j & seg_mask(m->seg_bits)] = e;
	}
	drop_slots(m, old.dir, old.cap >> old.seg_bits, old.dir_ver);
}

struct cowent *cowmap_find(const struct cowmap *m, const void *key, size_t klen)
{
	return slot_get(m, find(m, hash_of(key, klen), key, klen));
}

struct cowent *cowmap_add(struct cowmap *m, const void *key, size_t klen)
{
	uint32_t h = hash_of(key, klen);
	struct cowent *e = xmalloc(sizeof(*e) + klen);
	struct cowent **slot;

	e->hash = h;
	e->klen = (uint32_t)klen;
	e->ver = m->epoch;
	e->mark = 0;
	e->names = kvmap_new();
	if (klen)
		memcpy(e->key, key, klen);
	if ((m->n + 1) * 10 > m->cap * 7)
		grow(m);
	slot = slot_ref(m, find(m, h, key, klen));
	assert(!*slot);
	*slot = e;
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
	*slot_ref(m, slot_of(m, e)) = c;
	list_push(&m->kept.ents, e);
	return c;
}

void cowmap_remove(struct cowmap *m, struct cowent *e)
{
	size_t mask = m->cap - 1, i = slot_of(m, e);

	*slot_ref(m, i) = NULL;
	m->n--;
	/* Shift back the entries of the cluster that follows: move j to i
	 * unless its home lies cyclically in (i, j]. */
	for (size_t j = (i + 1) & mask; slot_get(m, j); j = (j + 1) & mask) {
		size_t home = slot_get(m, j)->hash & mask;

		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			*slot_ref(m, i) = slot_get(m, j);
			*slot_ref(m, j) = NULL;
			i = j;
		}
	}
	if (seen_by_view(m, e->ver))
		list_push(&m->kept.ents, e);
	else
		ent_free(e);
}

struct cowmap_view cowmap_freeze(struct cowmap *m)
{
	struct cowmap_view v = {
	    .dir = m->dir, .cap = m->cap, .n = m->n, .seg_bits = m->seg_bits};

	assert(!m->frozen);
	m->frozen = m->epoch++;
	return v;
}

struct cowmap_view cowmap_peek(const struct cowmap *m)
{
	struct cowmap_view v = {
	    .dir = m->dir, .cap = m->cap, .n = m->n, .seg_bits = m->seg_bits};

	return v;
}

bool cowmap_frozen(const struct cowmap *m)
{
	return m->frozen != 0;
}

void cowmap_thaw(struct cowmap *m, struct cowtrash *t)
{
	list_move(&t->ents, &m->kept.ents);
	list_move(&t->arrays, &m->kept.arrays);
	m->frozen = 0;
}

size_t cowmap_kept(const struct cowmap *m)
{
	return cowtrash_count(&m->kept);
}

bool cowmap_view_next(const struct cowmap_view *v, size_t *pos,
                      const struct cowent **e)
{
	size_t mask = seg_mask(v->seg_bits);

	for (; *pos < v->cap; (*pos)++) {
		const struct cowent *x =
		    v->dir[*pos >> v->seg_bits]->slot[*pos & mask];

		if (!x)
			continue;
		*e = x;
		(*pos)++;
		return true;
	}
	return false;
}
