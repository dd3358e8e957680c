/*
 * store.h - checkpoint storage on the local file system: one directory per
 * checkpoint, one state file per task, a _metadata file written last. Every
 * write goes to a temp name, is fsynced, renamed into place, and the
 * directory fsynced; every read verifies magic, versions, sizes and
 * checksums before a byte is used. All file system calls, reads
 * included, go through a table (struct ckpt_io) so tests can make any of
 * them fail.
 *
 * This is the one header callers include. The store is made of:
 *   ckpt_io.c    the file I/O seam and the safe primitives on it
 *   statefile.c  the state-file codec (header, lz4 frame, trailer)
 *   meta.c       the _metadata codec and its checks
 *   retain.c     .lock, listing chk-<id> directories, removal, retention
 *   store.c      the handle; write, read, verify, find the latest
 *   listing.c    `weir checkpoints`
 *   savepoint.c  a store of one checkpoint directory; copying one
 *
 *   DIR/.lock                 flock()ed while a job runs on DIR
 *   DIR/chk-<id>/<task>.state header, lz4 frame, trailer with XXH64
 *   DIR/chk-<id>/_metadata    JSON; the checkpoint exists once it is there
 *   DIR/shared/<task>.b<id>   incremental keyed state: a base (all keys at
 *                             checkpoint <id>), a state file
 *   DIR/shared/<task>.d<id>   and a delta (keys changed since the barrier
 *                             before <id>); _metadata lists the chain of
 *                             each keyed task, and any number of
 *                             checkpoints may share a file
 *
 * Thread safety: a store handle may be used from several threads at once
 * (the coordinator and the snapshot persister); it holds no mutable state
 * beyond the lock file descriptor.
 */
#ifndef WEIR_CKPT_STORE_H
#define WEIR_CKPT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct ckpt_store;

#include "ckpt_io.h"
#include "meta.h"
#include "retain.h"
#include "statefile.h"

/* Opens (creating it and its parents if needed) the checkpoint directory.
 * io may be NULL for ckpt_io_posix. Returns NULL with a message in errstr. */
struct ckpt_store *ckpt_store_open(const char *dir, const struct ckpt_io *io,
                                   char *errstr, size_t errlen);
void ckpt_store_close(struct ckpt_store *st); /* NULL is fine; unlocks */
const char *ckpt_store_dir(const struct ckpt_store *st);
/* Appends to the message of a failed write what to do about it. */
void ckpt_write_hint(const struct ckpt_store *st, char *err, size_t errlen);
/* The store's table, every member set (borrowed, lives as long as st). */
const struct ckpt_io *ckpt_store_io(const struct ckpt_store *st);

/* Writes DIR/chk-<id>/<task>.state atomically (creating chk-<id>/; one that
 * is a symbolic link or not a directory is refused, and the write goes
 * through a descriptor of it, never its name). task is
 * a name like "op0-count-1" ([A-Za-z0-9._-]). Returns 0 and fills *out, or
 * -1 with a message naming the step that failed (errno text included). On
 * failure no file of that name is left behind. */
int ckpt_write_state(struct ckpt_store *st, uint64_t id, const char *task,
                     uint32_t state_version, const void *payload, size_t len,
                     struct ckpt_file_info *out, char *errstr, size_t errlen);

/* Writes chk-<id>/<name> atomically from the chunks next gives (the
 * bytes of a file of another checkpoint, copied as they are); not the
 * commit (see ckpt_write_meta). */
int ckpt_write_raw(struct ckpt_store *st, uint64_t id, const char *name,
                   ckpt_io_next_fn next, void *arg, char *errstr,
                   size_t errlen);

/* Reads and verifies a state file. expect (may be NULL) is what _metadata
 * says about it: size and checksum must match. On success *payload is
 * malloc()ed (caller frees), *len its size; with payload NULL the file is
 * only verified, in constant memory. */
int ckpt_read_state(struct ckpt_store *st, uint64_t id, const char *task,
                    const struct ckpt_file_info *expect, void **payload,
                    size_t *len, uint32_t *state_version, char *errstr,
                    size_t errlen);

/* The directory of chain files, in DIR. */
#define CKPT_SHARED_DIR "shared"

/* Writes DIR/shared/<task>.b<id> (base) or .d<id> atomically, the file
 * and shared/ fsynced, and fills *out (no payload). Returns 0, or -1 with
 * a message; on failure no file of that name is left behind. */
int ckpt_write_chain_file(struct ckpt_store *st, const char *task, bool base,
                          uint64_t id, const void *payload, size_t len,
                          struct ckpt_chain_file *out, char *errstr,
                          size_t errlen);

/* Removes from DIR/shared every file that no checkpoint with a _metadata
 * that reads well refers to and that live (sorted by strcmp, nlive
 * names) does not hold: files of checkpoints retention removed, of
 * checkpoints that never completed, of writes that failed. Temp files
 * are removed too with `all` (nothing is being written), else left for
 * the write they belong to. A _metadata that is damaged lists nothing;
 * one that cannot be read (an I/O error, too many open files) stops the
 * collection. Returns the files removed, or -1 when the checkpoints
 * cannot be listed or a _metadata read (nothing is removed then). */
int ckpt_collect_shared(struct ckpt_store *st, char *const *live, size_t nlive,
                        bool all);

/* Writes DIR/chk-<id>/_metadata atomically: the commit point. */
int ckpt_write_meta(struct ckpt_store *st, const struct ckpt_meta *meta,
                    char *errstr, size_t errlen);
/* Reads and checks _metadata of checkpoint id (shape and types). */
int ckpt_read_meta(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
                   char *errstr, size_t errlen);

/* Reads _metadata and verifies every task file it lists (read in full,
 * checksums, lz4 frame), streaming: memory does not grow with the state.
 * Returns 0 with *out filled, or -1 with the reason in errstr. */
int ckpt_verify(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
                char *errstr, size_t errlen);

/* ckpt_verify keeping each decoded payload, as ckpt_load_latest does,
 * for the checkpoint id the caller chose. */
int ckpt_load(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
              char *errstr, size_t errlen);

/* A store of the one checkpoint directory at path: a savepoint, or
 * chk-<n> of a checkpoint directory (chain files are then read from the
 * shared/ beside it). Its name stands in for chk-<id> in every read and
 * write; the ones that list, lock or remove checkpoints are not for it.
 * Without create, path must hold a _metadata, whose id is put in *id.
 * With create (a savepoint to write), path is created with its parents
 * when missing and must be empty. Returns NULL with a message. */
struct ckpt_store *ckpt_store_open_one(const char *path, bool create,
                                       const struct ckpt_io *io, uint64_t *id,
                                       char *errstr, size_t errlen);
/* For `weir checkpoints DIR` on a directory without chk-<n>: when DIR is
 * itself one checkpoint (a savepoint), says so to out. */
void ckpt_one_hint(const char *dir, const struct ckpt_io *io, FILE *out);
/* The directory name of a store of one, NULL for a checkpoint dir. */
const char *ckpt_store_one(const struct ckpt_store *st);

/* Copies checkpoint meta->id of from (complete, every keyed state in its
 * task files) into to, a store of one: each task file byte for byte,
 * then meta as _metadata, the commit. Returns 0, or -1 with a message. */
int ckpt_copy(struct ckpt_store *from, const struct ckpt_meta *meta,
              struct ckpt_store *to, char *errstr, size_t errlen);

/* Called for every checkpoint that is skipped, newest first, with why. */
typedef void (*ckpt_report_fn)(void *arg, uint64_t id, const char *why);

/* The caller's judgement of a checkpoint whose _metadata reads well,
 * before its state files are read: 0 when it may be used, else -1 with why
 * (reported as is). The store knows no job graph; the job does. */
typedef int (*ckpt_check_fn)(void *arg, const struct ckpt_meta *meta, char *why,
                             size_t len);

/* Finds the newest checkpoint that check (may be NULL) accepts and that
 * verifies. report and check get arg. Returns 1 with *out filled, 0 when
 * the directory holds no checkpoint at all, -1 when checkpoints exist but
 * none is usable (every reason reported). */
int ckpt_find_latest(struct ckpt_store *st, struct ckpt_meta *out,
                     ckpt_check_fn check, ckpt_report_fn report, void *arg);

/* ckpt_find_latest for a restore: the same checks, in the same order, and
 * in addition each task file's decoded payload is kept in
 * out->tasks[i].payload / .payload_len (owned by out, freed by
 * ckpt_meta_clear), so restore decodes each file once. Returns 1 only
 * when every file of the checkpoint verified: no payload of a checkpoint
 * that failed is handed back. */
int ckpt_load_latest(struct ckpt_store *st, struct ckpt_meta *out,
                     ckpt_check_fn check, ckpt_report_fn report, void *arg);

/* Prints `weir checkpoints DIR`: one line per checkpoint, newest first:
 * id, completed time (UTC), its own size and its full size (see
 * listing.c), status (complete, incomplete, damaged: why), and source
 * offsets. Returns 0, or -1 with errstr. */
int ckpt_print_listing(const char *dir, FILE *out, char *errstr, size_t errlen);
/* ckpt_print_listing through io (NULL: ckpt_io_posix). */
int ckpt_print_listing_io(const char *dir, const struct ckpt_io *io, FILE *out,
                          char *errstr, size_t errlen);

#endif
