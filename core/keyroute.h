/*
 * keyroute.h - how a key picks a task. A key's bytes hash (XXH64) to one of
 * KEY_GROUPS key groups; a stage of parallelism n gives task i the groups
 * [i*G/n, (i+1)*G/n). Keyed state kept per key group can thus be split or
 * merged when a job is restored with another parallelism.
 */
#ifndef WEIR_KEYROUTE_H
#define WEIR_KEYROUTE_H

#include <stddef.h>

int key_group(const void *key, size_t len);
int key_group_owner(int group, int parallelism);

#endif
