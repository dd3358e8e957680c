/*
 * restore.h - restoring a job's tasks from the newest usable checkpoint
 * of its directory. Usable: its _metadata lists state for exactly the
 * tasks of this graph that keep state, and every file verifies (sizes,
 * checksums, lz4 frames) before any state is applied, so nothing is
 * restored half-way. A checkpoint that is not usable is reported and the
 * next older one tried; none usable is an error that says what to do.
 */
#ifndef WEIR_RESTORE_H
#define WEIR_RESTORE_H

#include <stdint.h>

#include "ckpt_cfg.h"
#include "store.h"

struct flow;
struct errlist;

struct ckpt_restore {
	struct flow *flow;        /* its tasks are restored */
	struct ckpt_store *store; /* locked */
	const char *dir;          /* for messages */
	const char *job_name;     /* a checkpoint of another job is refused */
	const char *fingerprint;  /* and one of another graph */
	/* and one of another instance (NULL: the only one) */
	const struct job_instance *instance;
	/* Told what restore is doing, for a signal that interrupts it
	 * (may be NULL). */
	void (*step)(void *arg, const char *what);
	void *arg;
	/* Out, optional (NULL: not wanted): one per task of the flow. For
	 * a keyed task restored at the parallelism it was checkpointed with
	 * from a chain, that chain (without payloads), for the persister to
	 * go on from (ckpt_persister_adopt) instead of writing a new base;
	 * empty otherwise. The caller clears them. */
	struct ckpt_chain *chains;
	/* weir run --from: restore checkpoint from_id of from (a store of
	 * one, ckpt_store_open_one; from_path its path, for messages)
	 * instead of the newest of store. NULL: none. */
	struct ckpt_store *from;
	const char *from_path;
	uint64_t from_id;
};

/* Restores the flow's tasks (main thread, before they start) and sets
 * flow->restored_id (0: nothing to restore, a fresh start). Removes the
 * directories of checkpoints that never completed. *next_id receives the
 * id of the next checkpoint (with from: past it and past every id in
 * store). Returns 0, or -1 with messages in errs. */
int ckpt_restore(const struct ckpt_restore *r, uint64_t *next_id,
                 struct errlist *errs);

#endif
