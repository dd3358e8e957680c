/*
 * timer_index.c - per-domain min-heaps of (time, key) (see
 * timer_index.h). An entry is one allocation holding its key; the heap is
 * an array of pointers to them, ordered by time, then key bytes, so that
 * timers of one time fire in a fixed order on every run.
 */
#include "timer_index.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Below this many stale entries a heap is never compacted: rebuilding a
 * small heap costs more than it frees. */
#define COMPACT_MIN 64

struct tentry {
	int64_t time;
	size_t klen;
	char key[];
};

struct theap {
	struct tentry **e;
	size_t n, cap;
	size_t stale;
};

struct timer_index {
	struct theap h[TINDEX_DOMAINS];
	struct tentry *popped; /* returned by the last pop, freed next call */
};

struct timer_index *tindex_new(void)
{
	return xcalloc(1, sizeof(struct timer_index));
}

void tindex_free(struct timer_index *ti)
{
	if (!ti)
		return;
	for (int d = 0; d < TINDEX_DOMAINS; d++) {
		for (size_t i = 0; i < ti->h[d].n; i++)
			free(ti->h[d].e[i]);
		free(ti->h[d].e);
	}
	free(ti->popped);
	free(ti);
}

static int cmp(const struct tentry *a, const struct tentry *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c;

	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	c = n ? memcmp(a->key, b->key, n) : 0;
	if (c)
		return c;
	return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static void sift_up(struct theap *h, size_t i)
{
	struct tentry *x = h->e[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (cmp(h->e[p], x) <= 0)
			break;
		h->e[i] = h->e[p];
		i = p;
	}
	h->e[i] = x;
}

static void sift_down(struct theap *h, size_t i)
{
	struct tentry *x = h->e[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && cmp(h->e[c + 1], h->e[c]) < 0)
			c++;
		if (cmp(x, h->e[c]) <= 0)
			break;
		h->e[i] = h->e[c];
		i = c;
	}
	h->e[i] = x;
}

void tindex_add(struct timer_index *ti, int domain, int64_t time,
                const void *key, size_t klen)
{
	struct theap *h = &ti->h[domain];
	struct tentry *e = xmalloc(sizeof(*e) + klen);

	e->time = time;
	e->klen = klen;
	if (klen)
		memcpy(e->key, key, klen);
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->e = xrealloc(h->e, h->cap * sizeof(*h->e));
	}
	h->e[h->n++] = e;
	sift_up(h, h->n - 1);
}

bool tindex_peek(const struct timer_index *ti, int domain, int64_t *time)
{
	const struct theap *h = &ti->h[domain];

	if (h->n == 0)
		return false;
	*time = h->e[0]->time;
	return true;
}

bool tindex_pop(struct timer_index *ti, int domain, int64_t *time,
                const void **key, size_t *klen)
{
	struct theap *h = &ti->h[domain];

	free(ti->popped);
	ti->popped = NULL;
	if (h->n == 0)
		return false;
	ti->popped = h->e[0];
	h->e[0] = h->e[--h->n];
	if (h->n > 0)
		sift_down(h, 0);
	*time = ti->popped->time;
	*key = ti->popped->key;
	*klen = ti->popped->klen;
	return true;
}

size_t tindex_size(const struct timer_index *ti, int domain)
{
	return ti->h[domain].n;
}

size_t tindex_stale_count(const struct timer_index *ti, int domain)
{
	return ti->h[domain].stale;
}

static int cmp_ptr(const void *a, const void *b)
{
	return cmp(*(struct tentry *const *)a, *(struct tentry *const *)b);
}

/* Keeps the live entries, each (time, key) once. A sorted array is a
 * heap. */
static void compact(struct theap *h, tindex_live_fn live, void *arg)
{
	size_t k = 0;

	qsort(h->e, h->n, sizeof(*h->e), cmp_ptr);
	for (size_t i = 0; i < h->n; i++) {
		struct tentry *e = h->e[i];

		if ((k > 0 && cmp(h->e[k - 1], e) == 0) ||
		    !live(arg, e->time, e->key, e->klen)) {
			free(e);
			continue;
		}
		h->e[k++] = e;
	}
	h->n = k;
	h->stale = 0;
	if (h->cap > 64 && h->n < h->cap / 4) {
		h->cap = h->n * 2 > 64 ? h->n * 2 : 64;
		h->e = xrealloc(h->e, h->cap * sizeof(*h->e));
	}
}

void tindex_stale(struct timer_index *ti, int domain, size_t n,
                  tindex_live_fn live, void *arg)
{
	struct theap *h = &ti->h[domain];

	h->stale += n;
	if (h->stale > h->n)
		h->stale = h->n;
	if (h->stale >= COMPACT_MIN && h->stale * 2 > h->n)
		compact(h, live, arg);
}

void tindex_drop_stale(struct timer_index *ti, int domain)
{
	if (ti->h[domain].stale > 0)
		ti->h[domain].stale--;
}
