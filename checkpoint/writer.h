/*
 * writer.h - the snapshot writer: one thread that takes what a task
 * captured at a barrier and does the slow part off the task's thread
 * (serialise a captured view, compress, write, fsync, rename), then
 * acknowledges the checkpoint to the coordinator, or declines it when the
 * write failed.
 */
#ifndef WEIR_CKPT_WRITER_H
#define WEIR_CKPT_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct ckpt_store;
struct coord;
struct ckpt_writer;
struct snap_tail;

struct ckpt_writer *ckpt_writer_new(struct ckpt_store *st, struct coord *c);

/* Queues a state file; takes ownership of buf and offsets (malloc()ed,
 * offsets may be NULL). tail (copied; NULL or fill NULL: none) is appended
 * to buf on the writer's thread before the file is written, and released
 * there in every case, the aborted checkpoint's included. Any thread. */
void ckpt_writer_submit(struct ckpt_writer *w, uint64_t id, int task,
                        const char *name, uint32_t state_version, char *buf,
                        size_t len, char *offsets,
                        const struct snap_tail *tail);

/* Checkpoint id was aborted: drop its queued writes, ignore later ones,
 * and remove its directory. Any thread. */
void ckpt_writer_discard(struct ckpt_writer *w, uint64_t id);

/* Finishes queued work and joins the thread. NULL is fine. */
void ckpt_writer_free(struct ckpt_writer *w);

#endif
