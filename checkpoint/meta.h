/*
 * meta.h - the _metadata codec: a checkpoint's table of contents (job,
 * graph fingerprint, one entry per task file with its size and checksum,
 * source offsets) as JSON text, and the checks that text must pass before
 * any of it is believed.
 */
#ifndef WEIR_CKPT_META_H
#define WEIR_CKPT_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "statefile.h"

#define CKPT_META_NAME "_metadata"
/* Largest _metadata accepted, checked before it is read or parsed. The
 * largest job (256 tasks per stage, a hundred stages, 100,000 source
 * partitions) writes under 8 MiB; the bound also caps the task entries a
 * file can hold at about 150,000, so no separate count is needed. */
#define CKPT_META_MAX ((uint64_t)16 << 20)

/* A file of a keyed task's chain in DIR/shared/: a base, or a delta. */
struct ckpt_chain_file {
	struct ckpt_file_info file;
	uint64_t id; /* the checkpoint at whose barrier it was taken */
	bool base;
	/* The decoded payload, as for a task entry. */
	void *payload;
	size_t payload_len;
};

/* A chain: a base, then deltas in the order they were taken. */
struct ckpt_chain {
	struct ckpt_chain_file *f;
	size_t n;
};

/* shared/<task>.b<id> or .d<id>: the name of a chain file (out, outlen). */
void ckpt_chain_file_name(char *out, size_t outlen, const char *task, bool base,
                          uint64_t id);

struct ckpt_task_entry {
	char *task;
	struct ckpt_file_info file;
	/* Incremental keyed state: where the task's keyed state is (n 0:
	 * in its file, or none). Owned by the entry. */
	struct ckpt_chain chain;
	/* Tasks of the stage that wrote it, so that a restore can tell that
	 * a keyed stage's file is missing; 0: not recorded (_metadata
	 * written before weir recorded it). */
	uint32_t parallelism;
	/* The decoded payload, kept by ckpt_load_latest (NULL otherwise);
	 * owned by the entry, freed by ckpt_meta_clear. */
	void *payload;
	size_t payload_len;
};

struct ckpt_meta {
	char *job;         /* job name */
	char *fingerprint; /* graph fingerprint */
	uint64_t id;
	int64_t triggered_ms; /* wall clock, ms since the epoch */
	int64_t completed_ms;
	struct ckpt_task_entry *tasks;
	size_t ntasks;
	char *offsets_json; /* JSON object text, {"topic":{"0":42,...}} */
	/* The instance of several that took it ("instance" in _metadata,
	 * written when count > 1); count 1, index 0 for the only one. */
	int instance_index, instance_count;
	/* Taken because a user asked (weir savepoint): keyed state is in
	 * the task files, nothing is in shared/. "savepoint": true. */
	bool savepoint;
};

/* Encodes meta as _metadata text (dir_rel, "chk-<id>", in messages).
 * Returns 0 with *text malloc()ed, or -1 with a message. */
int ckpt_meta_encode(const struct ckpt_meta *meta, const char *dir_rel,
                     char **text, char *errstr, size_t errlen);

/* Decodes and checks the _metadata text buf of len bytes (rel in
 * messages) of checkpoint id: shape, types, ranges, task names and file
 * names, no task twice. Returns 0 with *out filled, or -1 with a message
 * (and *out cleared). */
int ckpt_meta_decode(const char *rel, uint64_t id, const unsigned char *buf,
                     size_t len, struct ckpt_meta *out, char *errstr,
                     size_t errlen);

void ckpt_meta_clear(struct ckpt_meta *meta); /* NULL is fine */

/* Frees chain's files and their payloads, and clears it. */
void ckpt_chain_clear(struct ckpt_chain *chain);
/* A deep copy of src's file list, without payloads. */
void ckpt_chain_copy(struct ckpt_chain *dst, const struct ckpt_chain *src);

#endif
