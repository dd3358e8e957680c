/*
 * cowmap.h - the table behind managed keyed state: a hash map from record
 * keys to their name maps (struct kvmap) that can be frozen. A frozen view
 * stays exactly as it was at the freeze, and another thread may read it
 * while the owner goes on changing the map: a change copies what the view
 * still sees (4 KiB of the slot table, an entry and its name map) instead
 * of writing over it, and keeps the original until the owner thaws the map.
 * A thaw only moves what was kept to a trash that the owner empties a
 * little at a time, so that no one change pays for freeing all a snapshot
 * made it copy.
 *
 * Threads: the map belongs to one owner thread; every function but
 * cowmap_view_next is for the owner only. A view may be read by one other
 * thread between cowmap_freeze and cowmap_thaw, and the owner must know
 * that reader is done (a release/acquire handshake) before it thaws.
 */
#ifndef WEIR_COWMAP_H
#define WEIR_COWMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvmap;
struct cowmap;
struct cowseg;

/* One key. Read-only outside cowmap.c; names may be changed through the
 * entry cowmap_own returns. */
struct cowent {
	uint32_t hash;
	uint32_t klen;
	uint64_t ver;        /* the map's epoch when it was made */
	uint64_t mark;       /* the owner's to use; 0 in a new entry, kept
	                      * by cowmap_own's copy */
	struct kvmap *names; /* never NULL; owned */
	char key[];
};

/* A list of pointers. */
struct ptrlist {
	void **p;
	size_t n, cap;
};

/* Entries and pieces of slot table no view sees any more, not freed
 * yet. */
struct cowtrash {
	struct ptrlist ents, arrays;
};

/* Frees up to budget entries or arrays from t; returns how many are
 * left. */
size_t cowtrash_sweep(struct cowtrash *t, size_t budget);
/* Frees everything in t and its lists. */
void cowtrash_clear(struct cowtrash *t);
size_t cowtrash_count(const struct cowtrash *t);

/* What a freeze captured: cap slots in segments of 1 << seg_bits behind
 * dir, n entries. */
struct cowmap_view {
	struct cowseg *const *dir;
	size_t cap, n;
	unsigned seg_bits;
};

struct cowmap *cowmap_new(void);
/* Frees the map, its entries and everything kept for a view. NULL is
 * fine. No view may be in use. */
void cowmap_free(struct cowmap *m);
size_t cowmap_count(const struct cowmap *m);

/* The entry of key, or NULL. For reading; see cowmap_own. */
struct cowent *cowmap_find(const struct cowmap *m, const void *key,
                           size_t klen);
/* Adds key, which must not be there, with an empty name map. The entry
 * may be changed. */
struct cowent *cowmap_add(struct cowmap *m, const void *key, size_t klen);
/* The entry to change in place of e (found in this map): e itself, or,
 * when the frozen view sees e, a copy (name map included) that replaces e
 * in the map. e must not be used after. */
struct cowent *cowmap_own(struct cowmap *m, struct cowent *e);
/* Removes e (found in this map) and frees it, or keeps it for the view. */
void cowmap_remove(struct cowmap *m, struct cowent *e);

/* Freezes the map as it is now; O(1). The map must not be frozen. */
struct cowmap_view cowmap_freeze(struct cowmap *m);
bool cowmap_frozen(const struct cowmap *m);
/* The map as it is now, to iterate with cowmap_view_next on the owner's
 * thread; valid until the next change. Freezes nothing. */
struct cowmap_view cowmap_peek(const struct cowmap *m);
/* The view is no longer read: moves what changes kept for it to t (O(1)
 * when t is empty, else a copy of pointers). */
void cowmap_thaw(struct cowmap *m, struct cowtrash *t);
/* How many entries and pieces of slot table are kept for the view. */
size_t cowmap_kept(const struct cowmap *m);

/* Iterates a view in slot order; *pos starts at 0. Returns false at the
 * end. Any one thread, between the freeze and the thaw. */
bool cowmap_view_next(const struct cowmap_view *v, size_t *pos,
                      const struct cowent **e);

#endif
