/*
 * store.c - checkpoint storage on the local file system (see store.h): the
 * directory handle, and the operations that tie the state-file codec
 * (statefile.c), the _metadata codec (meta.c) and the I/O seam
 * (ckpt_io.c) together: write a task file, commit a checkpoint, read,
 * verify, and find the checkpoint a restore takes.
 *
 * Writes: chk-<id>/ is created if needed and opened once with
 * O_NOFOLLOW|O_DIRECTORY; the file is then written through that
 * descriptor (<name>.tmp created with O_EXCL|O_NOFOLLOW, written in full,
 * fsynced, closed, renamed within the directory), so a chk-<id> swapped
 * for a link between the check and the write cannot take the write out of
 * DIR. Task files stop there; _metadata, the commit, first fsyncs DIR (for
 * chk-<id>/ itself) and chk-<id>/ (for every task file's rename), then is
 * written the same way and chk-<id>/ fsynced once more. So a _metadata
 * that survives a crash finds every file it names, with one directory
 * fsync per checkpoint instead of one per file. Any failure removes the
 * temp file (and <name> if the rename already happened) and reports the
 * step with the errno text.
 *
 * Reads: every file under DIR is opened with O_NOFOLLOW and O_NONBLOCK and
 * must be a regular file (fstat), so a symbolic link is never followed and
 * a FIFO or device never waited on.
 *
 * Restore decodes each state file once: ckpt_load_latest verifies every
 * file of a checkpoint with the same streaming pass as ckpt_verify but
 * keeps each decoded payload in its task entry; only when all of them
 * verified is the checkpoint handed back, so nothing is restored half-way,
 * and restore applies the kept payloads without reading a file again.
 * Memory: the decoded state of that one checkpoint, which the tasks hold
 * in memory anyway once restored; a checkpoint that fails frees what it
 * kept before the next older one is tried.
 */
#include "store_impl.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* mkdir -p through io->mkdir; existing components are left alone. */
int ckpt_make_dirs(const struct ckpt_io *io, const char *dir, char *errstr,
                   size_t errlen)
{
	char *p = xstrdup(dir);
	struct stat sb;
	int rc = -1;

	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';
		if (!last && *s != '/')
			continue;
		*s = '\0';
		if (io->fstatat(AT_FDCWD, p, &sb, 0) < 0) {
			if (errno != ENOENT) {
				ckpt_seterr_errno(errstr, errlen, errno,
				                  "checking directory %s", p);
				goto out;
			}
			if (io->mkdir(p, 0755) < 0 && errno != EEXIST) {
				ckpt_seterr_errno(
				    errstr, errlen, errno,
				    "creating checkpoint directory %s", p);
				goto out;
			}
		}
		if (last)
			break;
		*s = '/';
	}
	if (io->fstatat(AT_FDCWD, dir, &sb, 0) < 0) {
		ckpt_seterr_errno(errstr, errlen, errno,
		                  "checking checkpoint directory %s", dir);
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		ckpt_seterr(
		    errstr, errlen,
		    "checkpoint directory %s exists but is not a directory",
		    dir);
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

struct ckpt_store *ckpt_store_open(const char *dir, const struct ckpt_io *io,
                                   char *errstr, size_t errlen)
{
	struct ckpt_store *st;
	size_t n;

	if (!dir || !*dir) {
		ckpt_seterr(errstr, errlen,
		            "checkpoint directory name is empty");
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	pthread_mutex_init(&st->refs_mu, NULL);
	ckpt_io_resolve(&st->io, io);
	st->lock_fd = -1;
	st->dir = xstrdup(dir);
	n = strlen(st->dir);
	while (n > 1 && st->dir[n - 1] == '/')
		st->dir[--n] = '\0';
	if (ckpt_make_dirs(&st->io, st->dir, errstr, errlen) < 0) {
		ckpt_store_close(st);
		return NULL;
	}
	return st;
}

void ckpt_store_close(struct ckpt_store *st)
{
	if (!st)
		return;
	if (st->lock_fd >= 0)
		st->io.close(st->lock_fd); /* releases the flock */
	ckpt_shared_refs_clear(st);
	pthread_mutex_destroy(&st->refs_mu);
	free(st->one);
	free(st->dir);
	free(st);
}

const char *ckpt_store_dir(const struct ckpt_store *st)
{
	return st->dir;
}

void ckpt_write_hint(const struct ckpt_store *st, char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);

	if (n + 1 < errlen)
		snprintf(err + n, errlen - n,
		         ". Check the file system of %s (free space, "
		         "permissions, errors in the kernel log)",
		         st->dir);
}

const struct ckpt_io *ckpt_store_io(const struct ckpt_store *st)
{
	return &st->io;
}

char *ckpt_chk_rel(const struct ckpt_store *st, uint64_t id)
{
	return st->one ? xstrdup(st->one) : xasprintf("chk-%" PRIu64, id);
}

/* fsyncs DIR, then chk-<id>/ (open as fd, rel in messages). */
static int sync_for_commit(struct ckpt_store *st, int fd, const char *rel,
                           char *errstr, size_t errlen)
{
	if (ckpt_io_sync_path(&st->io, st->dir, st->dir, errstr, errlen) < 0)
		return -1;
	if (st->io.fsync(fd) < 0) {
		ckpt_seterr_errno(errstr, errlen, errno, "syncing directory %s",
		                  rel);
		return -1;
	}
	return 0;
}

/* Creates chk-<id>/ if needed and opens it, never through a link: the
 * descriptor every write into it goes through. With commit (the _metadata
 * write), fsyncs DIR, then chk-<id>/: whichever thread created the
 * directory, and whatever task files were renamed into it, are durable
 * before _metadata is written. Returns the descriptor or -1. */
static int open_chk_dir(struct ckpt_store *st, const char *rel, bool commit,
                        char *errstr, size_t errlen)
{
	const struct ckpt_io *io = &st->io;
	char *path = xasprintf("%s/%s", st->dir, rel);
	struct stat sb;
	int fd = -1, e;

	if (io->mkdir(path, 0755) < 0 && errno != EEXIST) {
		ckpt_seterr_errno(errstr, errlen, errno,
		                  "creating directory %s", rel);
		goto out;
	}
	fd = io->open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		if ((e == ELOOP || e == ENOTDIR) &&
		    io->fstatat(AT_FDCWD, path, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			ckpt_seterr(
			    errstr, errlen,
			    "%s is %s, not a directory weir created: weir "
			    "writes no checkpoint through it. Move it out "
			    "of %s",
			    rel, ckpt_file_kind(sb.st_mode), st->dir);
		else
			ckpt_seterr_errno(errstr, errlen, e,
			                  "opening directory %s", rel);
		goto out;
	}
	if (commit && sync_for_commit(st, fd, rel, errstr, errlen) < 0) {
		io->close(fd);
		fd = -1;
	}
out:
	free(path);
	return fd;
}

/* Writes buf as <rel>/<name> in DIR (see the head comment); sync_dir
 * fsyncs <rel> after the rename. */
static int write_in_dir(struct ckpt_store *st, const char *rel,
                        const char *name, const void *buf, size_t len,
                        bool commit, bool sync_dir, char *errstr, size_t errlen)
{
	int fd = open_chk_dir(st, rel, commit, errstr, errlen), rc = -1;

	if (fd >= 0) {
		rc = ckpt_io_write_atomic(&st->io, fd, rel, name, buf, len,
		                          sync_dir, errstr, errlen);
		st->io.close(fd);
	}
	return rc;
}

static int write_in_chk(struct ckpt_store *st, uint64_t id, const char *name,
                        const void *buf, size_t len, bool commit, char *errstr,
                        size_t errlen)
{
	char *rel = ckpt_chk_rel(st, id);
	int rc = write_in_dir(st, rel, name, buf, len, commit, commit, errstr,
	                      errlen);

	free(rel);
	return rc;
}

int ckpt_write_raw(struct ckpt_store *st, uint64_t id, const char *name,
                   ckpt_io_next_fn next, void *arg, char *errstr, size_t errlen)
{
	char *rel = ckpt_chk_rel(st, id);
	int fd = open_chk_dir(st, rel, false, errstr, errlen), rc = -1;

	if (fd >= 0) {
		rc = ckpt_io_write_chunks(&st->io, fd, rel, name, next, arg,
		                          false, errstr, errlen);
		st->io.close(fd);
	}
	free(rel);
	return rc;
}

int ckpt_write_state(struct ckpt_store *st, uint64_t id, const char *task,
                     uint32_t state_version, const void *payload, size_t len,
                     struct ckpt_file_info *out, char *errstr, size_t errlen)
{
	const char *why = ckpt_task_name_problem(task);
	char *name, *rel, *dir;
	unsigned char *buf;
	uint64_t sum;
	size_t total;
	int rc = -1;

	if (why) {
		ckpt_seterr(errstr, errlen, "invalid task name \"%s\": it %s",
		            task, why);
		return -1;
	}
	name = xasprintf("%s.state", task);
	dir = ckpt_chk_rel(st, id);
	rel = xasprintf("%s/%s", dir, name);
	free(dir);
	if (ckpt_statefile_encode(task, rel, state_version, CKPT_TASK_STATE,
	                          payload, len, &buf, &total, &sum, errstr,
	                          errlen) < 0)
		goto out;
	rc = write_in_chk(st, id, name, buf, total, false, errstr, errlen);
	free(buf);
	if (rc == 0 && out) {
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", name);
		out->size = total;
		out->checksum = sum;
		out->raw = len;
		out->state_version = state_version;
	}
out:
	free(name);
	free(rel);
	return rc;
}

/* Reads state file task of checkpoint id; see ckpt_read_state. */
static int read_state(struct ckpt_store *st, uint64_t id, const char *task,
                      const struct ckpt_file_info *expect,
                      unsigned char **payload, uint64_t *len, uint32_t *sv,
                      char *errstr, size_t errlen)
{
	const char *why = ckpt_task_name_problem(task);
	char *rel, *path, *dir;
	int rc;

	if (why) {
		ckpt_seterr(errstr, errlen, "invalid task name \"%s\": it %s",
		            task, why);
		return -1;
	}
	dir = ckpt_chk_rel(st, id);
	rel = xasprintf("%s/%s.state", dir, task);
	free(dir);
	path = xasprintf("%s/%s", st->dir, rel);
	rc = ckpt_statefile_read(&st->io, path, rel, CKPT_TASK_STATE, expect,
	                         payload, len, sv, errstr, errlen);
	free(rel);
	free(path);
	return rc;
}

int ckpt_read_state(struct ckpt_store *st, uint64_t id, const char *task,
                    const struct ckpt_file_info *expect, void **payload,
                    size_t *len, uint32_t *state_version, char *errstr,
                    size_t errlen)
{
	unsigned char *data = NULL;
	uint64_t n = 0;
	uint32_t sv = 0;

	if (read_state(st, id, task, expect, payload ? &data : NULL, &n, &sv,
	               errstr, errlen) < 0)
		return -1;
	if (payload)
		*payload = data;
	if (len)
		*len = (size_t)n;
	if (state_version)
		*state_version = sv;
	return 0;
}

int ckpt_write_chain_file(struct ckpt_store *st, const char *task, bool base,
                          uint64_t id, const void *payload, size_t len,
                          struct ckpt_chain_file *out, char *errstr,
                          size_t errlen)
{
	enum ckpt_content content = base ? CKPT_KEYED_BASE : CKPT_KEYED_DELTA;
	char name[sizeof(out->file.name)], *rel;
	unsigned char *buf;
	uint64_t sum;
	size_t total;
	int rc;

	assert(!ckpt_task_name_problem(task));
	ckpt_chain_file_name(name, sizeof(name), task, base, id);
	rel = xasprintf(CKPT_SHARED_DIR "/%s", name);
	rc = ckpt_statefile_encode(task, rel, 0, content, payload, len, &buf,
	                           &total, &sum, errstr, errlen);
	if (rc == 0) {
		rc = write_in_dir(st, CKPT_SHARED_DIR, name, buf, total, false,
		                  true, errstr, errlen);
		free(buf);
	}
	if (rc == 0) {
		memset(out, 0, sizeof(*out));
		snprintf(out->file.name, sizeof(out->file.name), "%s", name);
		out->file.size = total;
		out->file.checksum = sum;
		out->file.raw = len;
		out->id = id;
		out->base = base;
	}
	free(rel);
	return rc;
}

/* Reads and verifies chain file f, keeping its payload in f with keep. */
static int read_chain_file(struct ckpt_store *st, struct ckpt_chain_file *f,
                           bool keep, char *errstr, size_t errlen)
{
	char *rel = xasprintf(CKPT_SHARED_DIR "/%s", f->file.name);
	char *path = xasprintf("%s/%s", st->dir, rel);
	char *dir = xasprintf("%s/" CKPT_SHARED_DIR, st->dir);
	unsigned char *data = NULL;
	uint64_t len = 0;
	uint32_t sv;
	struct stat sb;
	int rc = -1;

	/* shared/ itself is not read through a link either. */
	if (st->io.fstatat(AT_FDCWD, dir, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		ckpt_seterr_errno(errstr, errlen, errno, "%s: cannot stat %s",
		                  rel, CKPT_SHARED_DIR);
	else if (!S_ISDIR(sb.st_mode))
		ckpt_seterr(errstr, errlen,
		            "%s: %s is %s, not a directory weir created: weir "
		            "reads no checkpoint through it",
		            rel, CKPT_SHARED_DIR, ckpt_file_kind(sb.st_mode));
	else
		rc = ckpt_statefile_read(
		    &st->io, path, rel,
		    f->base ? CKPT_KEYED_BASE : CKPT_KEYED_DELTA, &f->file,
		    keep ? &data : NULL, &len, &sv, errstr, errlen);
	free(dir);
	if (rc == 0) {
		f->payload = data;
		f->payload_len = keep ? (size_t)len : 0;
	}
	free(rel);
	free(path);
	return rc;
}

int ckpt_write_meta(struct ckpt_store *st, const struct ckpt_meta *meta,
                    char *errstr, size_t errlen)
{
	char *dir_rel = ckpt_chk_rel(st, meta->id), *text = NULL;
	int rc = -1;

	if (ckpt_meta_encode(meta, dir_rel, &text, errstr, errlen) == 0)
		rc = write_in_chk(st, meta->id, CKPT_META_NAME, text,
		                  strlen(text), true, errstr, errlen);
	free(text);
	free(dir_rel);
	return rc;
}

int ckpt_read_meta(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
                   char *errstr, size_t errlen)
{
	char *dir = ckpt_chk_rel(st, id);
	char *rel = xasprintf("%s/" CKPT_META_NAME, dir);
	char *path = xasprintf("%s/%s", st->dir, rel);
	unsigned char *buf = NULL;
	size_t len;
	int rc = -1;

	free(dir);
	memset(out, 0, sizeof(*out));
	if (ckpt_io_read_file(&st->io, path, rel, CKPT_META_MAX, &buf, &len,
	                      errstr, errlen) == 0)
		rc = ckpt_meta_decode(rel, id, buf, len, out, errstr, errlen);
	free(buf);
	free(rel);
	free(path);
	return rc;
}

/* Verifies every task file meta lists, keeping each decoded payload in
 * its entry with keep; clears meta when one fails. */
static int verify_files(struct ckpt_store *st, struct ckpt_meta *meta,
                        bool keep, char *errstr, size_t errlen)
{
	for (size_t i = 0; i < meta->ntasks; i++) {
		struct ckpt_task_entry *t = &meta->tasks[i];
		unsigned char *data = NULL;
		uint64_t len = 0;
		uint32_t sv;

		if (read_state(st, meta->id, t->task, &t->file,
		               keep ? &data : NULL, &len, &sv, errstr,
		               errlen) < 0) {
			ckpt_meta_clear(meta);
			return -1;
		}
		t->payload = data;
		t->payload_len = keep ? (size_t)len : 0;
		for (size_t j = 0; j < t->chain.n; j++)
			if (read_chain_file(st, &t->chain.f[j], keep, errstr,
			                    errlen) < 0) {
				ckpt_meta_clear(meta);
				return -1;
			}
	}
	return 0;
}

int ckpt_verify(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
                char *errstr, size_t errlen)
{
	if (ckpt_read_meta(st, id, out, errstr, errlen) < 0)
		return -1;
	return verify_files(st, out, false, errstr, errlen);
}

int ckpt_load(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
              char *errstr, size_t errlen)
{
	if (ckpt_read_meta(st, id, out, errstr, errlen) < 0)
		return -1;
	return verify_files(st, out, true, errstr, errlen);
}

/* A directory with only incomplete checkpoints never committed one: that is
 * 0 (start fresh), not -1. A listing failure is reported with id 0. */
static int find_latest(struct ckpt_store *st, struct ckpt_meta *out, bool keep,
                       ckpt_check_fn check, ckpt_report_fn report, void *arg)
{
	char err[1024], why[1100];
	bool any_complete = false;
	uint64_t *ids;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (ckpt_list(st, &ids, &n) < 0) {
		ckpt_seterr_errno(why, sizeof(why), errno,
		                  "cannot list checkpoint directory %s",
		                  st->dir);
		if (report)
			report(arg, 0, why);
		return -1;
	}
	for (size_t i = n; i-- > 0;) {
		if (!ckpt_has_meta(st, ids[i])) {
			if (report)
				report(
				    arg, ids[i],
				    "incomplete: no _metadata (the job stopped "
				    "before it completed)");
			continue;
		}
		any_complete = true;
		if (ckpt_read_meta(st, ids[i], out, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "damaged: %s", err);
		} else if (check && check(arg, out, why, sizeof(why)) < 0) {
			ckpt_meta_clear(out);
		} else if (verify_files(st, out, keep, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "damaged: %s", err);
		} else {
			free(ids);
			return 1;
		}
		if (report)
			report(arg, ids[i], why);
	}
	free(ids);
	return any_complete ? -1 : 0;
}

int ckpt_find_latest(struct ckpt_store *st, struct ckpt_meta *out,
                     ckpt_check_fn check, ckpt_report_fn report, void *arg)
{
	return find_latest(st, out, false, check, report, arg);
}

int ckpt_load_latest(struct ckpt_store *st, struct ckpt_meta *out,
                     ckpt_check_fn check, ckpt_report_fn report, void *arg)
{
	return find_latest(st, out, true, check, report, arg);
}
