/*
 * coordinator.h - the checkpoint coordinator: one thread that triggers
 * checkpoints, collects acknowledgements, completes them by writing
 * _metadata, and aborts them on timeout or failure. The state machine is
 * documented at the top of coordinator.c.
 */
#ifndef WEIR_COORDINATOR_H
#define WEIR_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt_cfg.h"

struct flow;
struct coord;
struct ckpt_store;
struct ckpt_persister;
struct ckpt_file_info;
struct ckpt_chain;

/* Checkpoints flow's tasks into st, from id next_id on. job_name and
 * fingerprint go into every _metadata; the coordinator borrows all. */
struct coord *coord_new(struct flow *flow, const struct job_ckpt_cfg *cfg,
                        const char *job_name, const char *fingerprint,
                        struct ckpt_store *st, uint64_t next_id);
void coord_set_persister(struct coord *c, struct ckpt_persister *w);
/* Records every checkpoint in stats (borrowed; may stay NULL). Before
 * coord_start. */
struct ckpt_stats;
void coord_set_stats(struct coord *c, struct ckpt_stats *stats);
int coord_start(struct coord *c);

/* A task finished its part of checkpoint id. file is NULL for a task with
 * no state. Takes ownership of offsets (JSON object text or NULL) and of
 * chain's files (may be NULL: none), leaving *chain empty. Any thread. */
void coord_ack(struct coord *c, uint64_t id, int task,
               const struct ckpt_file_info *file, char *offsets,
               struct ckpt_chain *chain);
/* A task could not take its part of checkpoint id: the checkpoint fails. */
void coord_decline(struct coord *c, uint64_t id, int task, const char *why);

/* Takes a savepoint: the next checkpoint (triggered at once, after the
 * one in flight) writes every keyed state in full into the task files,
 * and once complete it is copied into `to` (a store of one directory,
 * ckpt_store_open_one; borrowed until the call returns). With stop it is
 * the final checkpoint and the job ends after it. Waits until it
 * completed or failed. Returns 0 with *id, -2 when another savepoint is
 * being taken (nothing done), or -1 with why in msg (the job is stopping,
 * the checkpoint failed, the copy failed). Any thread but the
 * coordinator's. */
int coord_savepoint(struct coord *c, struct ckpt_store *to, bool stop,
                    uint64_t *id, char *msg, size_t msglen);

/* Take a final checkpoint, then end the job (graceful stop, or every
 * bounded source reached its end). */
void coord_request_final(struct coord *c);
/* The job failed: abort what is in flight and end the thread. */
void coord_shutdown(struct coord *c);
/* Makes the coordinator look at the job again now (a failed flow calls
 * it: a failure is posted without the coordinator's lock). Any thread except the
 * coordinator's own. */
void coord_wake(struct coord *c);
void coord_join(struct coord *c);
void coord_free(struct coord *c);

/* Whether the final checkpoint completed. Valid after coord_join. */
bool coord_final_ok(const struct coord *c);

#endif
