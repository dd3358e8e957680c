/*
 * keyset.c - the compact set of byte strings (see keyset.h). Members live
 * one after another in an arena (u32 length, bytes); the table is open
 * addressing with linear probing over 64-bit slots, each the member's
 * arena offset plus one in the low 40 bits and the top 24 bits of its hash
 * above, so that most probes that miss never touch the arena. No member
 * is ever removed but all at once, so there is no deletion to handle.
 */
#include "keyset.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util.h"

#define OFF_BITS 40
#define OFF_MASK ((UINT64_C(1) << OFF_BITS) - 1)
/* Kept over a clear: a set that is filled and emptied every checkpoint
 * does not go back to malloc each time for a few keys. */
#define KEEP_ARENA ((size_t)64 << 10)
#define KEEP_SLOTS ((size_t)4096)

struct keyset {
	unsigned char *arena;
	size_t alen, acap;
	uint64_t *slot;
	size_t cap, n; /* cap: a power of two, or 0 */
};

struct keyset *keyset_new(void)
{
	return xcalloc(1, sizeof(struct keyset));
}

void keyset_free(struct keyset *s)
{
	if (!s)
		return;
	free(s->arena);
	free(s->slot);
	free(s);
}

size_t keyset_count(const struct keyset *s)
{
	return s->n;
}

size_t keyset_bytes(const struct keyset *s)
{
	return s->acap + s->cap * sizeof(*s->slot);
}

static uint64_t tag_of(uint64_t h)
{
	return h & ~OFF_MASK;
}

static const unsigned char *member(const struct keyset *s, uint64_t slot,
                                   uint32_t *len)
{
	const unsigned char *p = s->arena + ((slot & OFF_MASK) - 1);

	memcpy(len, p, sizeof(*len));
	return p + sizeof(*len);
}

/* The slot of key, or of the empty slot where it would go. */
static size_t find(const struct keyset *s, uint64_t h, const void *key,
                   size_t len)
{
	size_t mask = s->cap - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		uint64_t v = s->slot[i];
		uint32_t mlen;
		const unsigned char *m;

		if (v == 0)
			return i;
		if (tag_of(v) != tag_of(h))
			continue;
		m = member(s, v, &mlen);
		if (mlen == len && memcmp(m, key, len) == 0)
			return i;
	}
}

static void grow(struct keyset *s)
{
	size_t old = s->cap;
	uint64_t *slots = s->slot;

	s->cap = old ? old * 2 : 64;
	s->slot = xcalloc(s->cap, sizeof(*s->slot));
	for (size_t i = 0; i < old; i++) {
		uint32_t len;
		const unsigned char *m;
		size_t j;

		if (!slots[i])
			continue;
		m = member(s, slots[i], &len);
		j = find(s, XXH3_64bits(m, len), m, len);
		s->slot[j] = slots[i];
	}
	free(slots);
}

bool keyset_add(struct keyset *s, const void *key, size_t len)
{
	uint64_t h = XXH3_64bits(key, len);
	uint32_t l32 = (uint32_t)len;
	size_t i, need;

	/* Keys are bounded well below 4 GiB by the record size limit. */
	assert(len <= UINT32_MAX);
	if ((s->n + 1) * 10 > s->cap * 7)
		grow(s);
	i = find(s, h, key, len);
	if (s->slot[i])
		return false;
	need = sizeof(l32) + len;
	if (s->acap - s->alen < need) {
		s->acap = s->acap * 2 > s->alen + need ? s->acap * 2
		                                       : s->alen + need + 4096;
		s->arena = xrealloc(s->arena, s->acap);
	}
	assert(s->alen + 1 <= OFF_MASK);
	s->slot[i] = tag_of(h) | (uint64_t)(s->alen + 1);
	memcpy(s->arena + s->alen, &l32, sizeof(l32));
	if (len)
		memcpy(s->arena + s->alen + sizeof(l32), key, len);
	s->alen += need;
	s->n++;
	return true;
}

void keyset_clear(struct keyset *s)
{
	if (s->acap > KEEP_ARENA) {
		free(s->arena);
		s->arena = NULL;
		s->acap = 0;
	}
	if (s->cap > KEEP_SLOTS) {
		free(s->slot);
		s->slot = NULL;
		s->cap = 0;
	} else if (s->cap) {
		memset(s->slot, 0, s->cap * sizeof(*s->slot));
	}
	s->alen = 0;
	s->n = 0;
}

bool keyset_next(const struct keyset *s, size_t *pos, const void **key,
                 size_t *len)
{
	uint32_t l32;

	if (*pos >= s->alen)
		return false;
	memcpy(&l32, s->arena + *pos, sizeof(l32));
	*key = s->arena + *pos + sizeof(l32);
	*len = l32;
	*pos += sizeof(l32) + l32;
	return true;
}
