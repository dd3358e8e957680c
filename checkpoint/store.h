/*
 * store.h - checkpoint storage on the local file system: one directory per
 * checkpoint, one state file per task, a _metadata file written last. Every
 * write goes to a temp name, is fsynced, renamed into place, and the
 * directory fsynced; every read verifies magic, versions, sizes and
 * checksums before a byte is used. All file system calls go through a
 * table (struct ckpt_io) so tests can make any of them fail.
 *
 *   DIR/.lock                 flock()ed while a job runs on DIR
 *   DIR/chk-<id>/<task>.state header, lz4 frame, trailer with XXH64
 *   DIR/chk-<id>/_metadata    JSON; the checkpoint exists once it is there
 *
 * Thread safety: a store handle may be used from several threads at once
 * (the coordinator and the snapshot writer); it holds no mutable state
 * beyond the lock file descriptor.
 */
#ifndef WEIR_CKPT_STORE_H
#define WEIR_CKPT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* File system calls, POSIX semantics (return -1 and set errno on error). */
struct ckpt_io {
	int (*open)(const char *path, int flags, mode_t mode);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	int (*fsync)(int fd);
	int (*rename)(const char *from, const char *to);
	int (*close)(int fd);
	int (*mkdir)(const char *path, mode_t mode);
};

extern const struct ckpt_io ckpt_io_posix;

struct ckpt_store;

/* Opens (creating it and its parents if needed) the checkpoint directory.
 * io may be NULL for ckpt_io_posix. Returns NULL with a message in errstr. */
struct ckpt_store *ckpt_store_open(const char *dir, const struct ckpt_io *io,
                                   char *errstr, size_t errlen);
void ckpt_store_close(struct ckpt_store *st); /* NULL is fine; unlocks */
const char *ckpt_store_dir(const struct ckpt_store *st);

/* Takes DIR/.lock (flock, non-blocking). Fails at once, naming the pid that
 * holds it, when another process runs a job on DIR, and when .lock is a
 * symbolic link or not a regular file (never followed nor written). Released
 * by ckpt_store_close or by the process dying (even by SIGKILL). */
int ckpt_store_lock(struct ckpt_store *st, char *errstr, size_t errlen);

struct ckpt_file_info {
	char name[128];          /* file name inside chk-<id>/ */
	uint64_t size;           /* bytes on disk */
	uint64_t checksum;       /* XXH64 of the whole file but the trailer */
	uint32_t state_version;
};

/* Writes DIR/chk-<id>/<task>.state atomically (creating chk-<id>/; one that
 * is a symbolic link or not a directory is refused). task is
 * a name like "op0-count-1" ([A-Za-z0-9._-]). Returns 0 and fills *out, or
 * -1 with a message naming the step that failed (errno text included). On
 * failure no file of that name is left behind. */
int ckpt_write_state(struct ckpt_store *st, uint64_t id, const char *task,
                     uint32_t state_version, const void *payload, size_t len,
                     struct ckpt_file_info *out, char *errstr, size_t errlen);

/* Reads and verifies a state file. expect (may be NULL) is what _metadata
 * says about it: size and checksum must match. On success *payload is
 * malloc()ed (caller frees), *len its size; with payload NULL the file is
 * only verified, in constant memory. */
int ckpt_read_state(struct ckpt_store *st, uint64_t id, const char *task,
                    const struct ckpt_file_info *expect, void **payload,
                    size_t *len, uint32_t *state_version, char *errstr,
                    size_t errlen);

struct ckpt_task_entry {
	char *task;
	struct ckpt_file_info file;
	/* Tasks of the stage that wrote it, so that a restore can tell that
	 * a keyed stage's file is missing; 0: not recorded (_metadata
	 * written before weir recorded it). */
	uint32_t parallelism;
};

struct ckpt_meta {
	char *job;               /* job name */
	char *fingerprint;       /* graph fingerprint */
	uint64_t id;
	int64_t triggered_ms;    /* wall clock, ms since the epoch */
	int64_t completed_ms;
	struct ckpt_task_entry *tasks;
	size_t ntasks;
	char *offsets_json;      /* JSON object text, {"topic":{"0":42,...}} */
};

/* Writes DIR/chk-<id>/_metadata atomically: the commit point. */
int ckpt_write_meta(struct ckpt_store *st, const struct ckpt_meta *meta,
                    char *errstr, size_t errlen);
/* Reads and checks _metadata of checkpoint id (shape and types). */
int ckpt_read_meta(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
                   char *errstr, size_t errlen);
void ckpt_meta_clear(struct ckpt_meta *meta);

/* Checkpoint ids run from 1 to CKPT_ID_MAX (2^53, the largest integer
 * every JSON reader holds exactly). A chk-<n> outside that range is never
 * one weir wrote. */
#define CKPT_ID_MAX ((uint64_t)1 << 53)

/* Ids of every chk-<id> directory, ascending (complete or not): real
 * directories only, ids in range. *ids is malloc()ed. Returns 0, or -1
 * with errno set. */
int ckpt_list(struct ckpt_store *st, uint64_t **ids, size_t *n);

/* Called for each entry named chk-<digits> that ckpt_list leaves out: a
 * symbolic link, a file, an id out of range. id is 0 when out of range. */
typedef void (*ckpt_stray_fn)(void *arg, const char *name, uint64_t id,
                              const char *why);

/* ckpt_list, telling stray (may be NULL) about every entry left out. */
int ckpt_list_report(struct ckpt_store *st, uint64_t **ids, size_t *n,
                     ckpt_stray_fn stray, void *arg);

/* Reads _metadata and verifies every task file it lists (read in full,
 * checksums, lz4 frame), streaming: memory does not grow with the state.
 * Returns 0 with *out filled, or -1 with the reason in errstr. */
int ckpt_verify(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
                char *errstr, size_t errlen);

/* Removes DIR/chk-<id>/ and the files in it, through a descriptor of
 * that directory: a chk-<id> that is a symbolic link or not a directory is
 * left alone (logged; -1 with errno ENOTDIR), and so is whatever a link or
 * a directory inside it points to. */
int ckpt_remove(struct ckpt_store *st, uint64_t id);

/* Keeps the newest `retain` checkpoints that have _metadata, up to and
 * including newest; removes older complete ones and every incomplete one
 * older than newest. */
int ckpt_retain(struct ckpt_store *st, uint64_t newest, int retain);

/* Called for every checkpoint that is skipped, newest first, with why. */
typedef void (*ckpt_report_fn)(void *arg, uint64_t id, const char *why);

/* The caller's judgement of a checkpoint whose _metadata reads well,
 * before its state files are read: 0 when it may be used, else -1 with why
 * (reported as is). The store knows no job graph; the job does. */
typedef int (*ckpt_check_fn)(void *arg, const struct ckpt_meta *meta,
                             char *why, size_t len);

/* Finds the newest checkpoint that check (may be NULL) accepts and that
 * verifies. report and check get arg. Returns 1 with *out filled, 0 when
 * the directory holds no checkpoint at all, -1 when checkpoints exist but
 * none is usable (every reason reported). */
int ckpt_find_latest(struct ckpt_store *st, struct ckpt_meta *out,
                     ckpt_check_fn check, ckpt_report_fn report, void *arg);

/* Prints `weir checkpoints DIR`: one line per checkpoint, newest first:
 * id, completed time (UTC), total size, status (complete, incomplete,
 * damaged: why), and source offsets. Returns 0, or -1 with errstr. */
int ckpt_print_listing(const char *dir, FILE *out, char *errstr,
                       size_t errlen);

#endif
