/*
 * timer_index.h - the in-memory order of a keyed task's timers: per
 * domain a min-heap of (time, key). The timers themselves are names in
 * the managed keyed state (opctx.c says which), so they are checkpointed,
 * restored and rescaled with their key; this index only says which comes
 * due first, and is rebuilt from the state after a restore.
 *
 * Deletion is lazy: deleting a timer removes its state name and leaves
 * its heap entry, which is dropped when it comes to the top and its name
 * is gone. The caller counts such stale entries (tindex_stale) and
 * compacts a heap when they outnumber the live ones, so memory stays
 * within about twice the live timers. Task thread only.
 */
#ifndef WEIR_TIMER_INDEX_H
#define WEIR_TIMER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Domains: the two of weir.h (WEIR_TIME_EVENT, WEIR_TIME_PROCESSING) and
 * the runtime's own for state expiry. */
#define TINDEX_DOMAINS 3

struct timer_index;

struct timer_index *tindex_new(void);
void tindex_free(struct timer_index *ti); /* NULL is fine */

/* Adds an entry (the key is copied). */
void tindex_add(struct timer_index *ti, int domain, int64_t time,
                const void *key, size_t klen);
/* The earliest time of domain: true with *time, false when empty. */
bool tindex_peek(const struct timer_index *ti, int domain, int64_t *time);
/* Removes the earliest entry of domain: true with its time and key (the
 * key is borrowed until the next call on ti), false when empty. */
bool tindex_pop(struct timer_index *ti, int domain, int64_t *time,
                const void **key, size_t *klen);
/* Entries of domain, live or stale. */
size_t tindex_size(const struct timer_index *ti, int domain);

/* One entry of domain became stale (its timer was deleted, or its key's
 * state cleared); when the stale ones outnumber the others, the heap is
 * compacted: live says whether an entry still has its timer; duplicates
 * of one (time, key) are kept once. */
typedef bool (*tindex_live_fn)(void *arg, int64_t time, const void *key,
                               size_t klen);
void tindex_stale(struct timer_index *ti, int domain, size_t n,
                  tindex_live_fn live, void *arg);
/* A popped entry was stale (the caller found its timer gone). */
void tindex_drop_stale(struct timer_index *ti, int domain);
/* Entries counted stale and not yet dropped. */
size_t tindex_stale_count(const struct timer_index *ti, int domain);

#endif
