/*
 * keyed_state.h - the managed keyed state behind weir_state_*(): for each
 * record key, a map of names to values, kept per key group. Snapshots list
 * keys with their key group; a restore keeps only the groups the restoring
 * task owns, so state follows its keys when a job is restored with another
 * parallelism.
 *
 * A snapshot is taken in two parts so that the task does not stop for the
 * size of its state. At the barrier the task freezes the state (O(key
 * groups)); the snapshot persister's thread then serialises the frozen view
 * while the task goes on changing the state, which copies only what it
 * changes in groups the persister has not reached yet. At most one snapshot
 * is out at a time: a freeze waits until the previous one was released.
 */
#ifndef WEIR_KEYED_STATE_H
#define WEIR_KEYED_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

struct keyed_state;

/* Visits one name and value of the current key; non-zero stops. */
typedef int (*kstate_fn)(void *arg, const void *name, size_t name_len,
                         const void *value, size_t value_len);

struct keyed_state *kstate_new(void);
/* Stops and waits for a snapshot still being serialised, then frees. NULL
 * is fine. Task thread. */
void kstate_free(struct keyed_state *ks);
size_t kstate_keys(const struct keyed_state *ks);

/* Everything below but kstate_fill and kstate_release is for the task
 * thread. */

/* Sets the key that get/put/delete/iterate act on (copied). */
void kstate_set_key(struct keyed_state *ks, const void *key, size_t len);
void kstate_current_key(const struct keyed_state *ks, const void **key,
                        size_t *len);

/* 0 with the value (borrowed until the next change), or -1: none. */
int kstate_get(struct keyed_state *ks, const void *name, size_t len,
               const void **value, size_t *vlen);
void kstate_put(struct keyed_state *ks, const void *name, size_t len,
                const void *value, size_t vlen);
void kstate_delete(struct keyed_state *ks, const void *name, size_t len);
int kstate_iterate(struct keyed_state *ks, kstate_fn fn, void *arg);
/* kstate_get of another key than the current one, which stays. */
int kstate_get_of(struct keyed_state *ks, const void *key, size_t klen,
                  const void *name, size_t len, const void **value,
                  size_t *vlen);
/* Whether the current key has any name. */
bool kstate_has_key(const struct keyed_state *ks);
/* Deletes every name of the current key: the key is gone and its memory
 * returned (or kept for a snapshot's view until it is written). */
void kstate_clear_key(struct keyed_state *ks);

/* Visits every name of every key; non-zero from fn stops. The state must
 * not change meanwhile. Task thread, or before the task starts (the
 * timer index is rebuilt this way after a restore). */
typedef int (*kstate_all_fn)(void *arg, const void *key, size_t klen,
                             const void *name, size_t name_len,
                             const void *value, size_t value_len);
int kstate_visit_all(struct keyed_state *ks, kstate_all_fn fn, void *arg);

/* Captures the state as it is now for a snapshot, first waiting until the
 * previous snapshot was released. Task thread, at the barrier. Must be
 * followed by kstate_release. */
void kstate_freeze(struct keyed_state *ks);
/* Appends the snapshot section of what kstate_freeze captured to w.
 * Returns 0, or -1 with a message when kstate_free stopped it. One thread
 * other than the task (the snapshot persister), before kstate_release. */
int kstate_fill(struct keyed_state *ks, struct weir_writer *w, char *err,
                size_t errlen);
/* The captured view is no longer needed, whether it was filled or not.
 * The thread that fills. */
void kstate_release(struct keyed_state *ks);

/* kstate_freeze, then points tail at kstate_fill and kstate_release of
 * ks, for the snapshot persister (kind SNAP_INLINE). Task thread, at the
 * barrier. The section is the full snapshot's (section 1, kstate_restore
 * reads it). */
void kstate_capture(struct keyed_state *ks, struct snap_tail *tail);

/* --- incremental checkpoints ---------------------------------------------
 *
 * With tracking on, the state remembers which keys changed since the last
 * checkpoint: one entry per key in a compact set per key group (the key's
 * bytes and about 16 more), whatever the number of changes. A checkpoint
 * then writes either a delta (kstate_delta: each changed key's name map as
 * it is now, or a tombstone) or a base (kstate_capture_base: every key,
 * from a frozen view, serialised on another thread). Both are grouped
 * sections (section 2, kstate_apply reads them), so a restore rebuilds
 * any key group from the newest base and the deltas after it. */

/* Turns change tracking on or off (off by default). Task thread. */
void kstate_track(struct keyed_state *ks, bool on);
/* Appends the delta since the last kstate_delta or kstate_capture_base to
 * w and starts a new interval; returns the keys written. O(keys changed).
 * Task thread, at the barrier. */
uint64_t kstate_delta(struct keyed_state *ks, struct weir_writer *w);
/* Keys changed since the last checkpoint. */
size_t kstate_changed(const struct keyed_state *ks);
/* More keys changed than a delta is worth (over twice the live keys):
 * they were forgotten, and the next checkpoint must write a base
 * (kstate_capture_base clears it). */
bool kstate_overflowed(const struct keyed_state *ks);
/* kstate_capture for a base (kind SNAP_BASE): the view is serialised as
 * a grouped section, and what changed so far is forgotten (the base holds
 * it). */
void kstate_capture_base(struct keyed_state *ks, struct snap_tail *tail);

/* Applies a grouped section to the key groups that task `index` of
 * `parallelism` owns and want (NULL: all) accepts: a put replaces the
 * key's whole name map, a tombstone removes the key. Sections are applied
 * base first, then deltas in order. Threads may apply to one ks at once
 * when their want sets do not overlap; before the task starts, and
 * kstate_restored after the last. Returns 0, or -1 with a message. */
int kstate_apply(struct keyed_state *ks, struct weir_reader *r, int index,
                 int parallelism, const bool *want, char *err, size_t errlen);
/* Restore is over: forgets the current key. */
void kstate_restored(struct keyed_state *ks);

/* The task has nothing else to do: frees some of what snapshots made it
 * copy (each change frees a little too). */
void kstate_idle(struct keyed_state *ks);

/* What the task still keeps for a snapshot's view or has not freed yet:
 * copied-over entries and pieces of slot table. For tests. */
size_t kstate_kept(const struct keyed_state *ks);

/* Reads a snapshot section and adds the keys whose key group task `index`
 * of `parallelism` owns. Returns 0, or -1 with a message. Before the task
 * starts. */
int kstate_restore(struct keyed_state *ks, struct weir_reader *r, int index,
                   int parallelism, char *err, size_t errlen);

#endif
