/*
 * instance_dir.h - where each instance of a job run as several processes
 * keeps its checkpoints: checkpoint.dir/instance-<I>-of-<N>, so that the
 * instances of one job can share checkpoint.dir. A job run as one process
 * keeps them in checkpoint.dir itself, as always.
 */
#ifndef WEIR_INSTANCE_DIR_H
#define WEIR_INSTANCE_DIR_H

#include <stddef.h>
#include <stdio.h>

#include "ckpt_cfg.h"
#include "ckpt_io.h"

/* The checkpoint directory of instance in (NULL: the only one) of a job
 * whose checkpoint.dir is dir; malloc()ed. */
char *ckpt_instance_dir(const char *dir, const struct job_instance *in);

/* Refuses to run as instance in when dir (checkpoint.dir) holds
 * checkpoints of the job run with another number of instances: as one
 * process (chk-<n> in dir) or as M instances (a checkpoint in
 * instance-<J>-of-<M>). Their partitions are split another way, so this
 * run would start from nothing and read again what they covered. Reads
 * through io (NULL: POSIX); a dir that does not exist yet is fine.
 * Returns 0, or -1 with a message that says what to do. */
int ckpt_instance_check(const char *dir, const struct job_instance *in,
                        const struct ckpt_io *io, char *err, size_t errlen);

/* For `weir checkpoints DIR` on a checkpoint.dir without checkpoints of
 * its own: prints to out how to list each instance directory in dir,
 * sorted (nothing when there is none). Reads through io (NULL: POSIX). */
void ckpt_instance_hint(const char *dir, const struct ckpt_io *io, FILE *out);

#endif
