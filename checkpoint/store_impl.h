/*
 * store_impl.h - the store handle's insides, shared by the files of
 * checkpoint/ that make up the store (store.c, retain.c) and by no one
 * else: callers see struct ckpt_store only as an opaque handle.
 */
#ifndef WEIR_CKPT_STORE_IMPL_H
#define WEIR_CKPT_STORE_IMPL_H

#include "store.h"

struct ckpt_store {
	char *dir;         /* as given, without trailing slashes */
	struct ckpt_io io; /* resolved: no member is NULL */
	int lock_fd;       /* -1 until ckpt_store_lock */
};

#endif
