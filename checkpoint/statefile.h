/*
 * statefile.h - the state-file codec: one task's snapshot as a
 * self-checking file (header, one lz4 frame, trailer with XXH64), encoded
 * in memory and decoded in one streaming pass that verifies as it reads.
 * The layout is in statefile.c's head comment.
 */
#ifndef WEIR_CKPT_STATEFILE_H
#define WEIR_CKPT_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt_io.h"

struct ckpt_file_info {
	char name[128];    /* inside chk-<id>/ (task state) or shared/ */
	uint64_t size;     /* bytes on disk */
	uint64_t checksum; /* XXH64 of the whole file but the trailer */
	uint64_t raw;      /* payload bytes decoded; 0: not recorded */
	uint32_t state_version;
};

/* What a state file holds (its header says it). */
enum ckpt_content {
	CKPT_TASK_STATE = 0,  /* chk-<id>/<task>.state */
	CKPT_KEYED_BASE = 1,  /* shared/<task>.b<id> */
	CKPT_KEYED_DELTA = 2, /* shared/<task>.d<id> */
};

/* "a keyed-state base", ...: for messages. */
const char *ckpt_content_name(uint32_t content);

/* NULL when task is a valid task name ([A-Za-z0-9._-]{1,99}, not starting
 * with '.', without ".."), else what is wrong with it. */
const char *ckpt_task_name_problem(const char *task);

/* Encodes payload as a state file of task (rel, "chk-<id>/<task>.state",
 * in messages). Returns 0 with *file malloc()ed (caller frees), *size and
 * *checksum, or -1 with a message. */
int ckpt_statefile_encode(const char *task, const char *rel,
                          uint32_t state_version, enum ckpt_content content,
                          const void *payload, size_t len, unsigned char **file,
                          size_t *size, uint64_t *checksum, char *errstr,
                          size_t errlen);

/* Reads and checks the state file at path (rel in messages), which must
 * hold content, in one streaming pass; expect (may be NULL) is what
 * _metadata says of it (a raw size, when recorded, is checked against the
 * header before anything is decoded). The
 * payload is kept (*payload malloc()ed) only when payload is not NULL;
 * verifying alone holds a chunk and a scratch buffer. */
int ckpt_statefile_read(const struct ckpt_io *io, const char *path,
                        const char *rel, enum ckpt_content content,
                        const struct ckpt_file_info *expect,
                        unsigned char **payload, uint64_t *len, uint32_t *sv,
                        char *errstr, size_t errlen);

#endif
