/*
 * store_impl.h - the store handle's insides, shared by the files of
 * checkpoint/ that make up the store (store.c, retain.c) and by no one
 * else: callers see struct ckpt_store only as an opaque handle.
 */
#ifndef WEIR_CKPT_STORE_IMPL_H
#define WEIR_CKPT_STORE_IMPL_H

#include <pthread.h>

#include "store.h"

/* The chain files one checkpoint's _metadata lists (shared.c): a
 * _metadata never changes once written, so it is read once. */
struct shared_refs {
	uint64_t id;
	char **names;
	size_t n;
};

struct ckpt_store {
	char *dir;         /* as given, without trailing slashes */
	struct ckpt_io io; /* resolved: no member is NULL */
	int lock_fd;       /* -1 until ckpt_store_lock */
	/* ckpt_store_open_one: the one checkpoint directory in dir (its
	 * name replaces chk-<id>); NULL for a checkpoint directory. */
	char *one;
	/* ckpt_collect_shared's cache, one entry per checkpoint with a
	 * readable _metadata, by id; under refs_mu. */
	pthread_mutex_t refs_mu;
	struct shared_refs *refs;
	size_t nrefs;
};

/* Frees the cache of ckpt_collect_shared. */
void ckpt_shared_refs_clear(struct ckpt_store *st);
/* "chk-<id>", or the store's one directory: malloc()ed. */
char *ckpt_chk_rel(const struct ckpt_store *st, uint64_t id);
/* mkdir -p through io; dir must end up a directory. */
int ckpt_make_dirs(const struct ckpt_io *io, const char *dir, char *errstr,
                   size_t errlen);

#endif
