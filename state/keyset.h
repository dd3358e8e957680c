/*
 * keyset.h - a set of byte strings, compact: each member costs its bytes,
 * a 4-byte length and one 8-byte slot of a table at most 70% full. Keyed
 * state keeps one per key group to remember which keys changed since the
 * last checkpoint, so that a checkpoint writes those keys once each,
 * however often they changed. Members are visited in the order they were
 * first added. One owner thread.
 */
#ifndef WEIR_KEYSET_H
#define WEIR_KEYSET_H

#include <stdbool.h>
#include <stddef.h>

struct keyset;

struct keyset *keyset_new(void);
void keyset_free(struct keyset *s); /* NULL is fine */
size_t keyset_count(const struct keyset *s);
/* Bytes the set holds (members, lengths, table). */
size_t keyset_bytes(const struct keyset *s);

/* Adds a copy of key unless it is there; true when it was added. */
bool keyset_add(struct keyset *s, const void *key, size_t len);
/* Empties the set; memory beyond a small amount is returned. */
void keyset_clear(struct keyset *s);

/* Visits members in the order they were added; *pos starts at 0. Returns
 * false at the end. The set must not change during a visit. */
bool keyset_next(const struct keyset *s, size_t *pos, const void **key,
                 size_t *len);

#endif
