/*
 * kvmap.h - a hash map from byte strings to byte strings, open addressing
 * with linear probing. Keyed state lives in these. Not thread-safe: one
 * map belongs to one task.
 */
#ifndef WEIR_KVMAP_H
#define WEIR_KVMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvmap;

struct kvmap *kvmap_new(void);
void kvmap_free(struct kvmap *m); /* NULL is fine */
/* A deep copy: its own table and entries. */
struct kvmap *kvmap_clone(const struct kvmap *m);
size_t kvmap_count(const struct kvmap *m);

/* The stored value, or NULL. It stays valid until the next put or del. */
void *kvmap_get(struct kvmap *m, const void *key, size_t klen, size_t *vlen);
/* Stores a copy of value under a copy of key; returns the stored value. */
void *kvmap_put(struct kvmap *m, const void *key, size_t klen,
                const void *value, size_t vlen);
/* Returns true when key was there. */
bool kvmap_del(struct kvmap *m, const void *key, size_t klen);

/* Iteration in no particular order; *pos starts at 0. Returns false at the
 * end. The map must not change during an iteration. */
bool kvmap_next(const struct kvmap *m, size_t *pos, const void **key,
                size_t *klen, const void **value, size_t *vlen);

#endif
