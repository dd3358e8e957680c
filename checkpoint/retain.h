/*
 * retain.h - what lives beside the checkpoints in DIR (see retain.c): the
 * lock, the listing of chk-<id> directories, removal and retention.
 * Included through store.h.
 */
#ifndef WEIR_CKPT_RETAIN_H
#define WEIR_CKPT_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckpt_store;

/* Takes DIR/.lock (flock, non-blocking). Fails at once, naming the pid that
 * holds it, when another process runs a job on DIR, and when .lock is a
 * symbolic link or not a regular file (never followed nor written). Released
 * by ckpt_store_close or by the process dying (even by SIGKILL). */
int ckpt_store_lock(struct ckpt_store *st, char *errstr, size_t errlen);

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

/* Whether chk-<id>/_metadata exists (an unreadable one counts as there,
 * so that reading it reports why). */
bool ckpt_has_meta(struct ckpt_store *st, uint64_t id);

/* Removes DIR/chk-<id>/ and the files in it, through a descriptor of
 * that directory: a chk-<id> that is a symbolic link or not a directory is
 * left alone (logged; -1 with errno ENOTDIR), and so is whatever a link or
 * a directory inside it points to. */
int ckpt_remove(struct ckpt_store *st, uint64_t id);

/* Keeps the newest `retain` checkpoints that have _metadata, up to and
 * including newest; removes older complete ones and every incomplete one
 * older than newest. */
int ckpt_retain(struct ckpt_store *st, uint64_t newest, int retain);

#endif
