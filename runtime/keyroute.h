/*
 * keyroute.h - how a key picks a task. A key's bytes hash (XXH64) to one of
 * KEY_GROUPS key groups; a stage of parallelism n gives task i the groups
 * [i*G/n, (i+1)*G/n). Keyed state kept per key group can thus be split or
 * merged when a job is restored with another parallelism.
 */
#ifndef WEIR_KEYROUTE_H
#define WEIR_KEYROUTE_H

#include <stddef.h>

#include "jrec.h"

int key_group(const void *key, size_t len);
int key_group_owner(int group, int parallelism);

/* The bytes that stand for the field at path of a record as a key: a
 * string's characters (borrowed from j), a number's or literal's text (in
 * buf). A record that is not JSON, a missing field, an object or an array
 * gives the empty key. */
const char *key_text(struct jrec *j, const struct fpath *path, char *buf,
                     size_t buflen, size_t *len);

#endif
