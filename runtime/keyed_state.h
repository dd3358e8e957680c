/*
 * keyed_state.h - the managed keyed state behind weir_state_*(): for each
 * record key, a map of names to values. Snapshots list keys with their key
 * group; a restore keeps only the groups the restoring task owns, so state
 * follows its keys when a job is restored with another parallelism.
 */
#ifndef WEIR_KEYED_STATE_H
#define WEIR_KEYED_STATE_H

#include <stddef.h>

#include "task.h"
#include "weir/weir.h"

struct keyed_state;

struct keyed_state *kstate_new(void);
void kstate_free(struct keyed_state *ks);
size_t kstate_keys(const struct keyed_state *ks);

/* Sets the key that get/put/delete/iterate act on (copied). */
void kstate_set_key(struct keyed_state *ks, const void *key, size_t len);
void kstate_current_key(const struct keyed_state *ks, const void **key,
                        size_t *len);

int kstate_get(struct keyed_state *ks, const void *name, size_t len,
               const void **value, size_t *vlen);
void kstate_put(struct keyed_state *ks, const void *name, size_t len,
                const void *value, size_t vlen);
void kstate_delete(struct keyed_state *ks, const void *name, size_t len);
int kstate_iterate(struct keyed_state *ks, weir_state_fn fn, void *arg);

/* Appends every key's names and values to w. */
void kstate_snapshot(const struct keyed_state *ks, struct weir_writer *w);
/* Reads a snapshot section and adds the keys whose key group task `index`
 * of `parallelism` owns. Returns 0, or -1 with a message. */
int kstate_restore(struct keyed_state *ks, struct weir_reader *r, int index,
                   int parallelism, char *err, size_t errlen);

#endif
