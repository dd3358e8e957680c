/*
 * persister.h - the snapshot persister: one thread that takes what a task
 * captured at a barrier and does the slow part off the task's thread
 * (serialise a captured view, compress, write, fsync, rename), then
 * acknowledges the checkpoint to the coordinator, or declines it when the
 * write failed; and the materializer, a second thread that writes new
 * bases of incremental keyed state while checkpoints go on. It keeps
 * each keyed task's chain of files (see persister.c).
 */
#ifndef WEIR_CKPT_PERSISTER_H
#define WEIR_CKPT_PERSISTER_H

#include <stddef.h>
#include <stdint.h>

struct ckpt_store;
struct coord;
struct ckpt_persister;
struct snap_tail;
struct flow;
struct ckpt_chain;

/* Persists the checkpoints of flow's tasks into st, for c. */
struct ckpt_persister *ckpt_persister_new(struct ckpt_store *st,
                                          struct coord *c, struct flow *flow);

/* Task goes on from chain, the one restore took its keyed state from
 * (taken over; *chain is left empty): its next checkpoint writes a delta
 * to it instead of a new base. Before the tasks start. */
void ckpt_persister_adopt(struct ckpt_persister *w, int task,
                          struct ckpt_chain *chain);

/* Queues a state file; takes ownership of buf and offsets (malloc()ed,
 * offsets may be NULL). tail (copied; NULL or fill NULL: none) is appended
 * to buf on the persister's thread before the file is written, and released
 * there in every case, the aborted checkpoint's included. Any thread. */
void ckpt_persister_submit(struct ckpt_persister *w, uint64_t id, int task,
                           const char *name, uint32_t state_version, char *buf,
                           size_t len, char *offsets,
                           const struct snap_tail *tail);

/* Checkpoint id was aborted: drop its queued writes, ignore later ones,
 * and remove its directory. Any thread. */
void ckpt_persister_discard(struct ckpt_persister *w, uint64_t id);

/* Removes the files of DIR/shared that neither a checkpoint in DIR nor a
 * chain being built needs (after retention removed checkpoints). Any
 * thread. */
void ckpt_persister_collect(struct ckpt_persister *w);

/* Finishes queued work, joins the threads, and removes the files of
 * DIR/shared that no checkpoint needs. NULL is fine. */
void ckpt_persister_free(struct ckpt_persister *w);

#endif
