/*
 * keyroute.c - key groups (see keyroute.h).
 */
#include "keyroute.h"

#include <xxhash.h>

#include "task.h"

int key_group(const void *key, size_t len)
{
	return (int)(XXH64(key, len, 0) % KEY_GROUPS);
}

int key_group_owner(int group, int parallelism)
{
	return group * parallelism / KEY_GROUPS;
}
