/*
 * store.c - checkpoint storage on the local file system (see store.h). It
 * turns task snapshots into self-checking files, commits a checkpoint by
 * writing its _metadata last, and on restore refuses any file whose bytes do
 * not prove themselves intact.
 *
 * State file, format version 1 (integers little-endian, written byte by
 * byte so the format does not depend on the host):
 *
 *   offset  size  field
 *   0       8     magic "WEIRSTAT"
 *   8       4     format version (1)
 *   12      4     state version (the operator's own encoding version)
 *   16      8     payload length, uncompressed
 *   24      n     one LZ4 frame (content size set, content checksum on)
 *   24+n    8     end marker "WEIREND1"
 *   32+n    8     XXH64, seed 0, of bytes [0, 24+n)
 *
 * The trailer's XXH64 is ckpt_file_info.checksum and is copied into
 * _metadata together with the file size, so a file swapped for another valid
 * one is caught too. Every file under DIR is opened with O_NOFOLLOW and
 * O_NONBLOCK and must be a regular file (fstat), so a symbolic link is
 * never followed and a FIFO or device never waited on. The reader checks,
 * in order: size against _metadata (before a byte is read), minimum
 * length, magic, format version, end marker, XXH64, checksum and state
 * version against _metadata, payload length limit, then the frame (lz4
 * checks its content checksum; it must end exactly where the trailer
 * starts and decode to exactly the header's length). It reads in chunks,
 * hashing and decoding as it goes: verifying holds no payload, whatever
 * it decodes to, and a kept payload grows with the decoded bytes, never
 * sized from the header alone.
 *
 * Writes: <name>.tmp is created, written in full, fsynced, closed and
 * renamed to <name>, all through struct ckpt_io. Task files stop there;
 * _metadata, the commit, first fsyncs DIR (for chk-<id>/ itself) and
 * chk-<id>/ (for every task file's rename), then is written the same way
 * and chk-<id>/ fsynced once more. So a _metadata that survives a crash
 * finds every file it names, with one directory fsync per checkpoint
 * instead of one per file. Any failure removes the temp file (and <name>
 * if the rename already happened) and reports the step with the errno
 * text. Task names are
 * [A-Za-z0-9._-]{1,99}, not starting with '.' and without "..", so that
 * "<task>.state" is always a plain file name inside chk-<id>/.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <lz4frame.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "util.h"

#define STATE_MAGIC "WEIRSTAT"
#define STATE_END "WEIREND1"
#define STATE_FORMAT 1u
#define META_FORMAT 1
#define HDR_LEN 24
#define TRAILER_LEN 16
#define TASK_NAME_MAX 99
/* Largest payload written or accepted; a header above it is damage. */
#define MAX_PAYLOAD ((uint64_t)16 << 30)
/* Largest state file accepted: MAX_PAYLOAD plus lz4's worst expansion. */
#define MAX_STATE_FILE (MAX_PAYLOAD + MAX_PAYLOAD / 128 + 65536)
/* Largest _metadata accepted, checked before it is read or parsed. The
 * largest job (256 tasks per stage, a hundred stages, 100,000 source
 * partitions) writes under 8 MiB; the bound also caps the task entries a
 * file can hold at about 150,000, so no separate count is needed. */
#define MAX_META_FILE ((uint64_t)16 << 20)
#define META_NAME "_metadata"

struct ckpt_store {
	char *dir; /* as given, without trailing slashes */
	const struct ckpt_io *io;
	int lock_fd; /* -1 until ckpt_store_lock */
};

static int posix_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

const struct ckpt_io ckpt_io_posix = {
	.open = posix_open,
	.write = write,
	.fsync = fsync,
	.rename = rename,
	.close = close,
	.mkdir = mkdir,
};

/* ---- errors ---------------------------------------------------------- */

static void seterr(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr_errno(char *errstr, size_t errlen, int e, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

static void seterr(char *errstr, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errstr || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, errlen, fmt, ap);
	va_end(ap);
}

/* Formats fmt and appends ": <strerror(e)>" (thread-safe). */
static void seterr_errno(char *errstr, size_t errlen, int e, const char *fmt,
                         ...)
{
	char what[1024], eb[128];
	va_list ap;

	if (!errstr || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(errstr, errlen, "%s: %s", what, strerror_r(e, eb, sizeof(eb)));
}

/* ---- small helpers ----------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* NULL when task is a valid task name, else what is wrong with it. */
static const char *task_name_problem(const char *task)
{
	size_t n = strlen(task);

	if (n == 0)
		return "is empty";
	if (n > TASK_NAME_MAX)
		return "is longer than 99 characters";
	if (task[0] == '.')
		return "starts with '.'";
	if (strstr(task, ".."))
		return "contains \"..\"";
	for (size_t i = 0; i < n; i++) {
		char c = task[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return "contains a character other than A-Z a-z 0-9 . _ -";
	}
	return NULL;
}

static char *path_in(const struct ckpt_store *st, const char *rel)
{
	return xasprintf("%s/%s", st->dir, rel);
}

static char *chk_rel(uint64_t id)
{
	return xasprintf("chk-%" PRIu64, id);
}

/* "a symbolic link", "a regular file", ...: for messages. */
static const char *file_kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "a device";
}

/* "rel: not a regular file (a FIFO): ..." for a file of that mode. */
static void seterr_not_regular(char *errstr, size_t errlen, const char *rel,
                               mode_t mode)
{
	seterr(errstr, errlen,
	       "%s: not a regular file (%s): weir writes only regular files "
	       "there and follows no links",
	       rel, file_kind(mode));
}

/* Opens a file under DIR for reading, never following a symbolic link and
 * never waiting (a FIFO or device opens at once with O_NONBLOCK), then
 * checks with fstat that it is a regular file of at most max bytes, and
 * of exactly *want bytes when want is not NULL: all before a byte is
 * read. Returns the descriptor and *size, or -1 with a message starting
 * with rel. */
static int open_regular(const char *path, const char *rel, uint64_t max,
                        const uint64_t *want, uint64_t *size, char *errstr,
                        size_t errlen)
{
	struct stat sb;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		/* A link (ELOOP) or a socket (ENXIO) fails here: say what
		 * it is rather than the errno. */
		e = errno;
		if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
			seterr_not_regular(errstr, errlen, rel, sb.st_mode);
		else
			seterr_errno(errstr, errlen, e, "%s: cannot open", rel);
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		e = errno;
		close(fd);
		seterr_errno(errstr, errlen, e, "%s: cannot stat", rel);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		seterr_not_regular(errstr, errlen, rel, sb.st_mode);
		return -1;
	}
	if (want && (uint64_t)sb.st_size != *want) {
		close(fd);
		seterr(errstr, errlen,
		       "%s: %jd bytes but _metadata says %" PRIu64
		       ": the file is truncated or was replaced",
		       rel, (intmax_t)sb.st_size, *want);
		return -1;
	}
	if ((uint64_t)sb.st_size > max || (uint64_t)sb.st_size >= SIZE_MAX) {
		close(fd);
		seterr(errstr, errlen,
		       "%s: %jd bytes, larger than any file weir writes there: "
		       "the file is damaged",
		       rel, (intmax_t)sb.st_size);
		return -1;
	}
	*size = (uint64_t)sb.st_size;
	return fd;
}

/* Reads exactly len bytes at off; a file that shrank reads short. */
static int read_at(int fd, const char *rel, void *buf, size_t len,
                   uint64_t off, char *errstr, size_t errlen)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got,
		                  (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			seterr_errno(errstr, errlen, errno, "%s: cannot read",
			             rel);
			return -1;
		}
		if (n == 0) {
			seterr(errstr, errlen,
			       "%s: the file shrank while it was read: the file "
			       "is truncated",
			       rel);
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Reads a whole regular file of at most max bytes (see open_regular). */
static int read_file(const char *path, const char *rel, uint64_t max,
                     unsigned char **buf, size_t *len, char *errstr,
                     size_t errlen)
{
	unsigned char *b;
	uint64_t size;
	int fd = open_regular(path, rel, max, NULL, &size, errstr, errlen);

	if (fd < 0)
		return -1;
	b = xmalloc((size_t)size + 1);
	if (read_at(fd, rel, b, (size_t)size, 0, errstr, errlen) < 0) {
		free(b);
		close(fd);
		return -1;
	}
	close(fd);
	b[size] = '\0';
	*buf = b;
	*len = (size_t)size;
	return 0;
}

/* ---- atomic writes ------------------------------------------------------- */

/* fsyncs directory path; shown as `shown` in messages. */
static int sync_dir(struct ckpt_store *st, const char *path, const char *shown,
                    char *errstr, size_t errlen)
{
	int fd, e;

	fd = st->io->open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		seterr_errno(errstr, errlen, errno,
		             "opening directory %s to sync it", shown);
		return -1;
	}
	if (st->io->fsync(fd) < 0) {
		e = errno;
		st->io->close(fd);
		errno = e;
		seterr_errno(errstr, errlen, e, "syncing directory %s", shown);
		return -1;
	}
	if (st->io->close(fd) < 0 && errno != EINTR) {
		seterr_errno(errstr, errlen, errno, "closing directory %s",
		             shown);
		return -1;
	}
	return 0;
}

/* Creates chk-<id>/ if needed. With commit (the _metadata write), fsyncs
 * DIR, then chk-<id>/: whichever thread created the directory, and
 * whatever task files were renamed into it, are durable before _metadata
 * is written. */
static int ensure_chk_dir(struct ckpt_store *st, uint64_t id, bool commit,
                          char *errstr, size_t errlen)
{
	char *rel = chk_rel(id), *path = path_in(st, rel);
	struct stat sb;
	int rc = -1;

	if (st->io->mkdir(path, 0755) < 0 && errno != EEXIST) {
		seterr_errno(errstr, errlen, errno, "creating directory %s",
		             rel);
		goto out;
	}
	/* Files are then written by path: a chk-<id> that someone else
	 * put there as a link would take them outside DIR. */
	if (lstat(path, &sb) < 0) {
		seterr_errno(errstr, errlen, errno, "checking directory %s",
		             rel);
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		seterr(errstr, errlen,
		       "%s is %s, not a directory weir created: weir writes no "
		       "checkpoint through it. Move it out of %s",
		       rel, file_kind(sb.st_mode), st->dir);
		goto out;
	}
	if (commit && (sync_dir(st, st->dir, st->dir, errstr, errlen) < 0 ||
	               sync_dir(st, path, rel, errstr, errlen) < 0))
		goto out;
	rc = 0;
out:
	free(rel);
	free(path);
	return rc;
}

/* Writes buf to DIR/<dir_rel>/<name> through a temp file; with fsync_dir,
 * fsyncs the directory after the rename. */
static int atomic_write(struct ckpt_store *st, const char *dir_rel,
                        const char *name, const void *buf, size_t len,
                        bool fsync_dir, char *errstr, size_t errlen)
{
	const struct ckpt_io *io = st->io;
	char *dir = path_in(st, dir_rel);
	char *path = xasprintf("%s/%s", dir, name);
	char *tmp = xasprintf("%s.tmp", path);
	char *tmp_rel = xasprintf("%s/%s.tmp", dir_rel, name);
	const unsigned char *p = buf;
	bool renamed = false;
	size_t off = 0;
	int fd = -1, rc, e = 0;

	/* A leftover temp file is replaced, never opened: a link or a hard
	 * link there must not let the write land outside DIR. */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		e = errno;
		seterr_errno(errstr, errlen, e, "removing the leftover %s",
		             tmp_rel);
		goto err;
	}
	fd = io->open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	              0644);
	if (fd < 0) {
		e = errno;
		seterr_errno(errstr, errlen, e, "creating %s", tmp_rel);
		goto err;
	}
	while (off < len) {
		ssize_t n = io->write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			seterr_errno(errstr, errlen, e, "writing %s", tmp_rel);
			goto err;
		}
		if (n == 0) {
			e = EIO;
			seterr(errstr, errlen,
			       "writing %s: write() made no progress after %zu "
			       "of %zu bytes",
			       tmp_rel, off, len);
			goto err;
		}
		off += (size_t)n;
	}
	if (io->fsync(fd) < 0) {
		e = errno;
		seterr_errno(errstr, errlen, e, "syncing %s", tmp_rel);
		goto err;
	}
	rc = io->close(fd);
	fd = -1;
	/* On Linux the descriptor is gone even when close reports EINTR. */
	if (rc < 0 && errno != EINTR) {
		e = errno;
		seterr_errno(errstr, errlen, e, "closing %s", tmp_rel);
		goto err;
	}
	if (io->rename(tmp, path) < 0) {
		e = errno;
		seterr_errno(errstr, errlen, e, "renaming %s to %s", tmp_rel,
		             name);
		goto err;
	}
	renamed = true;
	if (fsync_dir && sync_dir(st, dir, dir_rel, errstr, errlen) < 0) {
		e = errno;
		goto err;
	}
	free(dir);
	free(path);
	free(tmp);
	free(tmp_rel);
	return 0;
err:
	if (fd >= 0)
		io->close(fd);
	unlink(tmp);
	/* Not known to be durable, so it must not count as written. */
	if (renamed)
		unlink(path);
	free(dir);
	free(path);
	free(tmp);
	free(tmp_rel);
	errno = e;
	return -1;
}

/* ---- store handle -------------------------------------------------------- */

/* mkdir -p through io->mkdir; existing components are left alone. */
static int make_dirs(const struct ckpt_io *io, const char *dir, char *errstr,
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
		if (stat(p, &sb) < 0) {
			if (errno != ENOENT) {
				seterr_errno(errstr, errlen, errno,
				             "checking directory %s", p);
				goto out;
			}
			if (io->mkdir(p, 0755) < 0 && errno != EEXIST) {
				seterr_errno(errstr, errlen, errno,
				             "creating checkpoint directory %s",
				             p);
				goto out;
			}
		}
		if (last)
			break;
		*s = '/';
	}
	if (stat(dir, &sb) < 0) {
		seterr_errno(errstr, errlen, errno,
		             "checking checkpoint directory %s", dir);
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		seterr(errstr, errlen,
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
		seterr(errstr, errlen, "checkpoint directory name is empty");
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->io = io ? io : &ckpt_io_posix;
	st->lock_fd = -1;
	st->dir = xstrdup(dir);
	n = strlen(st->dir);
	while (n > 1 && st->dir[n - 1] == '/')
		st->dir[--n] = '\0';
	if (make_dirs(st->io, st->dir, errstr, errlen) < 0) {
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
		close(st->lock_fd); /* releases the flock */
	free(st->dir);
	free(st);
}

const char *ckpt_store_dir(const struct ckpt_store *st)
{
	return st->dir;
}

int ckpt_store_lock(struct ckpt_store *st, char *errstr, size_t errlen)
{
	char *path, buf[32];
	struct stat sb;
	int fd, e, n;

	if (st->lock_fd >= 0)
		return 0;
	path = path_in(st, ".lock");
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
	          0644);
	if (fd < 0 && errno == ELOOP) {
		seterr(errstr, errlen,
		       "lock file %s is a symbolic link: weir writes its pid "
		       "there and never through a link. Check where it points, "
		       "remove it (weir creates its own), and start again",
		       path);
		free(path);
		return -1;
	}
	if (fd < 0) {
		seterr_errno(errstr, errlen, errno, "opening lock file %s",
		             path);
		free(path);
		return -1;
	}
	if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		seterr(errstr, errlen,
		       "lock file %s is %s, not a regular file: remove it "
		       "(weir creates its own), and start again",
		       path, file_kind(sb.st_mode));
		close(fd);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		if (e == EWOULDBLOCK) {
			ssize_t got = pread(fd, buf, sizeof(buf) - 1, 0);
			long pid = 0;
			buf[got > 0 ? got : 0] = '\0';
			if (got > 0)
				pid = strtol(buf, NULL, 10);
			if (pid > 0)
				snprintf(buf, sizeof(buf), "pid %ld", pid);
			else
				snprintf(buf, sizeof(buf), "pid unknown");
			seterr(errstr, errlen,
			       "checkpoint directory %s is in use by another "
			       "weir process (%s); stop that job first, or use "
			       "another checkpoint.dir",
			       st->dir, buf);
		} else {
			seterr_errno(errstr, errlen, e, "locking %s", path);
		}
		close(fd);
		free(path);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		seterr_errno(errstr, errlen, errno, "writing our pid to %s",
		             path);
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	st->lock_fd = fd;
	return 0;
}

/* ---- state files --------------------------------------------------------- */

int ckpt_write_state(struct ckpt_store *st, uint64_t id, const char *task,
                     uint32_t state_version, const void *payload, size_t len,
                     struct ckpt_file_info *out, char *errstr, size_t errlen)
{
	LZ4F_preferences_t prefs;
	const char *why = task_name_problem(task);
	char *dir_rel, *name;
	unsigned char *buf;
	size_t bound, flen, total;
	uint64_t sum;
	int rc = -1;

	if (why) {
		seterr(errstr, errlen, "invalid task name \"%s\": it %s", task,
		       why);
		return -1;
	}
	if ((uint64_t)len > MAX_PAYLOAD) {
		seterr(errstr, errlen,
		       "state of task %s is %zu bytes, more than the limit of "
		       "16 GiB",
		       task, len);
		return -1;
	}
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = len;
	bound = LZ4F_compressFrameBound(len, &prefs);
	buf = xmalloc(HDR_LEN + bound + TRAILER_LEN);
	dir_rel = chk_rel(id);
	name = xasprintf("%s.state", task);

	memcpy(buf, STATE_MAGIC, 8);
	put_u32(buf + 8, STATE_FORMAT);
	put_u32(buf + 12, state_version);
	put_u64(buf + 16, len);
	flen = LZ4F_compressFrame(buf + HDR_LEN, bound, payload ? payload : "",
	                          len, &prefs);
	if (LZ4F_isError(flen)) {
		seterr(errstr, errlen, "compressing %s/%s: %s", dir_rel, name,
		       LZ4F_getErrorName(flen));
		goto out;
	}
	total = HDR_LEN + flen;
	sum = XXH64(buf, total, 0);
	memcpy(buf + total, STATE_END, 8);
	put_u64(buf + total + 8, sum);
	total += TRAILER_LEN;

	if (ensure_chk_dir(st, id, false, errstr, errlen) < 0 ||
	    atomic_write(st, dir_rel, name, buf, total, false, errstr,
	                 errlen) < 0)
		goto out;
	if (out) {
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", name);
		out->size = total;
		out->checksum = sum;
		out->state_version = state_version;
	}
	rc = 0;
out:
	free(buf);
	free(dir_rel);
	free(name);
	return rc;
}

/* Bytes read from a state file at a time, and the buffer that decoded
 * bytes go to when only verifying (nothing is kept). */
#define READ_CHUNK ((size_t)256 << 10)
#define SCRATCH_LEN ((size_t)64 << 10)

/* lz4 decoding of one frame fed in pieces. With keep, the payload goes to
 * a buffer that grows with the decoded bytes (never sized from the header
 * alone); without, to a scratch buffer that is overwritten, so verifying
 * a file costs the same memory whatever its payload decodes to. */
struct frame_pass {
	const char *rel;
	LZ4F_dctx *dctx;
	bool keep;
	unsigned char *out;
	size_t alloc;           /* bytes at out */
	uint64_t want;          /* payload length the header announces */
	uint64_t got;           /* bytes decoded */
	uint64_t used;          /* frame bytes the decoder took */
	uint64_t trailing;      /* bytes after the end of the frame */
	size_t hint;            /* lz4's; 0 once the frame has ended */
	char why[512];          /* first problem, "" none */
};

static void frame_feed(struct frame_pass *fp, const unsigned char *src,
                       size_t n)
{
	while (n > 0 && !fp->why[0]) {
		unsigned char *dst = fp->out;
		size_t dn = fp->alloc, sn = n;

		if (fp->hint == 0) {
			fp->trailing += n;
			return;
		}
		if (fp->keep) {
			/* got <= want here, so alloc < want + 1 can grow. */
			if (fp->got == fp->alloc) {
				uint64_t cap = fp->want + 1;
				fp->alloc = (uint64_t)fp->alloc * 2 < cap
				                ? fp->alloc * 2
				                : (size_t)cap;
				fp->out = xrealloc(fp->out, fp->alloc);
			}
			dst = fp->out + fp->got;
			dn = fp->alloc - (size_t)fp->got;
		}
		fp->hint = LZ4F_decompress(fp->dctx, dst, &dn, src, &sn, NULL);
		if (LZ4F_isError(fp->hint)) {
			snprintf(fp->why, sizeof(fp->why),
			         "%s: lz4 frame is corrupt (%s): the file is "
			         "damaged",
			         fp->rel, LZ4F_getErrorName(fp->hint));
			return;
		}
		if (dn == 0 && sn == 0 && fp->hint != 0) {
			snprintf(fp->why, sizeof(fp->why),
			         "%s: lz4 decoding stalled at byte %" PRIu64
			         " of the frame: the file is damaged",
			         fp->rel, fp->used);
			return;
		}
		fp->used += sn;
		fp->got += dn;
		src += sn;
		n -= sn;
		if (fp->got > fp->want)
			snprintf(fp->why, sizeof(fp->why),
			         "%s: the lz4 frame holds more than the %" PRIu64
			         " bytes the header announces: the file is "
			         "damaged",
			         fp->rel, fp->want);
	}
}

/* After the whole frame was fed: 0, or -1 with what was wrong. */
static int frame_finish(struct frame_pass *fp, char *errstr, size_t errlen)
{
	if (fp->why[0])
		seterr(errstr, errlen, "%s", fp->why);
	else if (fp->trailing)
		seterr(errstr, errlen,
		       "%s: %" PRIu64 " bytes of trailing garbage after the "
		       "lz4 frame: the file is damaged",
		       fp->rel, fp->trailing);
	else if (fp->hint != 0)
		seterr(errstr, errlen,
		       "%s: the lz4 frame ends early (%" PRIu64 " bytes "
		       "decoded, header says %" PRIu64 "): the file is damaged",
		       fp->rel, fp->got, fp->want);
	else if (fp->got != fp->want)
		seterr(errstr, errlen,
		       "%s: decoded %" PRIu64 " bytes but the header says "
		       "%" PRIu64 ": the file is damaged",
		       fp->rel, fp->got, fp->want);
	else
		return 0;
	return -1;
}

/* Checks state file rel in one streaming pass (the checks and their order
 * are in the head comment): its size before anything is read, then the
 * header and trailer, then every chunk is hashed and decoded as it is
 * read. The payload is kept (malloc()ed, in *payload) only when payload is
 * not NULL; verifying alone holds a chunk and a scratch buffer. */
static int read_state_file(const char *path, const char *rel,
                           const struct ckpt_file_info *expect,
                           unsigned char **payload, uint64_t *len,
                           uint32_t *sv, char *errstr, size_t errlen)
{
	unsigned char hdr[HDR_LEN], tr[TRAILER_LEN], *chunk = NULL;
	struct frame_pass fp = {.rel = rel, .hint = 1};
	XXH64_state_t *xs = NULL;
	uint64_t size, stored, computed, end;
	uint32_t fmt;
	int fd, rc = -1;

	fd = open_regular(path, rel, MAX_STATE_FILE,
	                  expect ? &expect->size : NULL, &size, errstr, errlen);
	if (fd < 0)
		return -1;
	if (size < HDR_LEN + TRAILER_LEN) {
		seterr(errstr, errlen,
		       "%s: too short (%" PRIu64 " bytes, a state file has at "
		       "least %d): the file is truncated",
		       rel, size, HDR_LEN + TRAILER_LEN);
		goto out;
	}
	end = size - TRAILER_LEN;
	if (read_at(fd, rel, hdr, HDR_LEN, 0, errstr, errlen) < 0 ||
	    read_at(fd, rel, tr, TRAILER_LEN, end, errstr, errlen) < 0)
		goto out;
	if (memcmp(hdr, STATE_MAGIC, 8) != 0) {
		seterr(errstr, errlen,
		       "%s: not a weir state file (bad magic at the start)",
		       rel);
		goto out;
	}
	fmt = get_u32(hdr + 8);
	if (fmt != STATE_FORMAT) {
		seterr(errstr, errlen,
		       "%s: unknown state file format version %" PRIu32
		       " (this weir reads version %u): written by another "
		       "weir version, or the file is damaged",
		       rel, fmt, STATE_FORMAT);
		goto out;
	}
	if (memcmp(tr, STATE_END, 8) != 0) {
		seterr(errstr, errlen,
		       "%s: end marker missing: the file is truncated or "
		       "damaged",
		       rel);
		goto out;
	}
	fp.want = get_u64(hdr + 16);
	if (fp.want <= MAX_PAYLOAD) {
		uint64_t first = (end - HDR_LEN) * 4;

		if (LZ4F_isError(LZ4F_createDecompressionContext(
		        &fp.dctx, LZ4F_VERSION))) {
			seterr(errstr, errlen, "%s: cannot set up lz4 decoding",
			       rel);
			goto out;
		}
		fp.keep = payload != NULL;
		/* One byte of slack so a frame longer than the header says
		 * shows. */
		if (first < 65536)
			first = 65536;
		fp.alloc = !fp.keep ? SCRATCH_LEN
		           : first < fp.want + 1 ? (size_t)first
		                                 : (size_t)fp.want + 1;
		fp.out = xmalloc(fp.alloc);
	}
	xs = XXH64_createState();
	if (!xs || XXH64_reset(xs, 0) != XXH_OK) {
		seterr(errstr, errlen, "%s: cannot set up XXH64", rel);
		goto out;
	}
	chunk = xmalloc(READ_CHUNK);
	XXH64_update(xs, hdr, HDR_LEN);
	for (uint64_t off = HDR_LEN; off < end;) {
		size_t n = end - off < READ_CHUNK ? (size_t)(end - off)
		                                  : READ_CHUNK;
		if (read_at(fd, rel, chunk, n, off, errstr, errlen) < 0)
			goto out;
		XXH64_update(xs, chunk, n);
		if (fp.dctx)
			frame_feed(&fp, chunk, n);
		off += n;
	}
	stored = get_u64(tr + 8);
	computed = XXH64_digest(xs);
	if (stored != computed) {
		seterr(errstr, errlen,
		       "%s: checksum mismatch (file says 0x%016" PRIx64
		       ", computed 0x%016" PRIx64 "): the file is damaged",
		       rel, stored, computed);
		goto out;
	}
	if (expect && expect->checksum != stored) {
		seterr(errstr, errlen,
		       "%s: checksum 0x%016" PRIx64 " differs from 0x%016" PRIx64
		       " in _metadata: the file was replaced or _metadata is "
		       "damaged",
		       rel, stored, expect->checksum);
		goto out;
	}
	*sv = get_u32(hdr + 12);
	if (expect && expect->state_version != *sv) {
		seterr(errstr, errlen,
		       "%s: state version %" PRIu32 " but _metadata says %" PRIu32
		       ": the file was replaced or _metadata is damaged",
		       rel, *sv, expect->state_version);
		goto out;
	}
	if (!fp.dctx) {
		seterr(errstr, errlen,
		       "%s: header says the payload is %" PRIu64
		       " bytes, more than the limit of 16 GiB: the file is "
		       "damaged",
		       rel, fp.want);
		goto out;
	}
	if (frame_finish(&fp, errstr, errlen) < 0)
		goto out;
	*len = fp.want;
	if (payload) {
		*payload = fp.out;
		fp.out = NULL;
	}
	rc = 0;
out:
	if (fp.dctx)
		LZ4F_freeDecompressionContext(fp.dctx);
	XXH64_freeState(xs);
	free(fp.out);
	free(chunk);
	close(fd);
	return rc;
}

int ckpt_read_state(struct ckpt_store *st, uint64_t id, const char *task,
                    const struct ckpt_file_info *expect, void **payload,
                    size_t *len, uint32_t *state_version, char *errstr,
                    size_t errlen)
{
	const char *why = task_name_problem(task);
	unsigned char *data = NULL;
	char *rel, *path;
	uint64_t n = 0;
	uint32_t sv = 0;
	int rc = -1;

	if (why) {
		seterr(errstr, errlen, "invalid task name \"%s\": it %s", task,
		       why);
		return -1;
	}
	rel = xasprintf("chk-%" PRIu64 "/%s.state", id, task);
	path = path_in(st, rel);
	if (read_state_file(path, rel, expect, payload ? &data : NULL, &n, &sv,
	                    errstr, errlen) < 0)
		goto out;
	if (payload)
		*payload = data;
	if (len)
		*len = (size_t)n;
	if (state_version)
		*state_version = sv;
	rc = 0;
out:
	free(rel);
	free(path);
	return rc;
}

/* ---- _metadata ----------------------------------------------------------- */

/* NULL when file is the right file name for task, else what is wrong. */
static const char *task_file_problem(const char *task, const char *file)
{
	size_t n = strlen(task);

	if (strchr(file, '/'))
		return "contains '/'; task files must be inside the checkpoint "
		       "directory";
	if (strstr(file, ".."))
		return "contains \"..\"; task files must be inside the "
		       "checkpoint directory";
	if (strncmp(file, task, n) != 0 || strcmp(file + n, ".state") != 0)
		return "is not <task>.state";
	return NULL;
}

static int meta_add(json_t *obj, const char *key, json_t *v)
{
	return v ? json_object_set_new(obj, key, v) : -1;
}

int ckpt_write_meta(struct ckpt_store *st, const struct ckpt_meta *meta,
                    char *errstr, size_t errlen)
{
	json_t *root = json_object(), *tasks = json_array(), *offsets = NULL;
	char *dir_rel = chk_rel(meta->id), *json, *text = NULL, when[40];
	int rc = -1;

	if (meta->id > INT64_MAX) {
		seterr(errstr, errlen, "checkpoint id %" PRIu64 " is too large",
		       meta->id);
		goto out;
	}
	for (size_t i = 0; i < meta->ntasks; i++) {
		const struct ckpt_task_entry *t = &meta->tasks[i];
		const char *why = task_name_problem(t->task);
		char sum[20];
		json_t *o;
		if (why) {
			seterr(errstr, errlen,
			       "%s/_metadata: invalid task name \"%s\": it %s",
			       dir_rel, t->task, why);
			goto out;
		}
		why = task_file_problem(t->task, t->file.name);
		if (why) {
			seterr(errstr, errlen,
			       "%s/_metadata: file \"%s\" of task %s %s",
			       dir_rel, t->file.name, t->task, why);
			goto out;
		}
		snprintf(sum, sizeof(sum), "%016" PRIx64, t->file.checksum);
		o = json_pack("{s:s, s:s, s:I, s:s, s:I}", "task", t->task,
		              "file", t->file.name, "size",
		              (json_int_t)t->file.size, "checksum", sum,
		              "state_version",
		              (json_int_t)t->file.state_version);
		if (o && t->parallelism &&
		    json_object_set_new(o, "parallelism",
		                        json_integer(t->parallelism)) < 0) {
			json_decref(o);
			o = NULL;
		}
		if (!o || json_array_append_new(tasks, o) < 0) {
			seterr(errstr, errlen, "%s/_metadata: cannot encode task %s",
			       dir_rel, t->task);
			goto out;
		}
	}
	if (meta->offsets_json) {
		offsets = json_loads(meta->offsets_json, 0, NULL);
		if (!json_is_object(offsets)) {
			log_warn("checkpoint",
			         "checkpoint %" PRIu64 ": source offsets are not a "
			         "JSON object; writing {} to _metadata",
			         meta->id);
			json_decref(offsets);
			offsets = NULL;
		}
	}
	if (!offsets)
		offsets = json_object();
	fmt_wall_ms(meta->completed_ms, when, sizeof(when));
	if (meta_add(root, "format", json_integer(META_FORMAT)) < 0 ||
	    meta_add(root, "job", json_string(meta->job ? meta->job : "")) <
	        0 ||
	    meta_add(root, "fingerprint",
	             json_string(meta->fingerprint ? meta->fingerprint : "")) <
	        0 ||
	    meta_add(root, "id", json_integer((json_int_t)meta->id)) < 0 ||
	    meta_add(root, "triggered_at", json_integer(meta->triggered_ms)) <
	        0 ||
	    meta_add(root, "completed_at", json_integer(meta->completed_ms)) <
	        0 ||
	    meta_add(root, "completed_at_utc", json_string(when)) < 0 ||
	    meta_add(root, "tasks", json_incref(tasks)) < 0 ||
	    meta_add(root, "offsets", json_incref(offsets)) < 0) {
		seterr(errstr, errlen,
		       "%s/_metadata: cannot encode (job name or fingerprint "
		       "not valid UTF-8?)",
		       dir_rel);
		goto out;
	}
	json = json_dumps(root, JSON_INDENT(2));
	if (!json) {
		seterr(errstr, errlen, "%s/_metadata: cannot encode", dir_rel);
		goto out;
	}
	text = xasprintf("%s\n", json);
	free(json);
	if (ensure_chk_dir(st, meta->id, true, errstr, errlen) < 0 ||
	    atomic_write(st, dir_rel, META_NAME, text, strlen(text), true,
	                 errstr, errlen) < 0)
		goto out;
	rc = 0;
out:
	json_decref(offsets);
	json_decref(tasks);
	json_decref(root);
	free(text);
	free(dir_rel);
	return rc;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something unknown";
}

/* obj[key] if it has the type; else a message "rel: <where><key> ...". */
static json_t *meta_need(const char *rel, json_t *obj, const char *where,
                         const char *key, json_type type, const char *tname,
                         char *errstr, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		seterr(errstr, errlen, "%s: %s%s is missing: the file is damaged",
		       rel, where, key);
		return NULL;
	}
	if (json_typeof(v) != type) {
		seterr(errstr, errlen,
		       "%s: %s%s should be %s, found %s: the file is damaged",
		       rel, where, key, tname, json_type_name(v));
		return NULL;
	}
	return v;
}

#define NEED(obj, where, key, T, tname)                                       \
	meta_need(rel, obj, where, key, T, tname, errstr, errlen)

static int meta_task(const char *rel, json_t *o, size_t i,
                     struct ckpt_task_entry *t, char *errstr, size_t errlen)
{
	char where[48];
	json_t *task, *file, *size, *sum, *sv, *par;
	const char *s, *why;
	json_int_t n;

	snprintf(where, sizeof(where), "tasks[%zu]", i);
	if (!json_is_object(o)) {
		seterr(errstr, errlen,
		       "%s: %s should be an object, found %s: the file is "
		       "damaged",
		       rel, where, json_type_name(o));
		return -1;
	}
	strcat(where, ".");
	if (!(task = NEED(o, where, "task", JSON_STRING, "a string")) ||
	    !(file = NEED(o, where, "file", JSON_STRING, "a string")) ||
	    !(size = NEED(o, where, "size", JSON_INTEGER, "an integer")) ||
	    !(sum = NEED(o, where, "checksum", JSON_STRING, "a string")) ||
	    !(sv = NEED(o, where, "state_version", JSON_INTEGER,
	                "an integer")))
		return -1;
	s = json_string_value(task);
	if ((why = task_name_problem(s))) {
		seterr(errstr, errlen,
		       "%s: %stask \"%s\" is not a valid task name: it %s", rel,
		       where, s, why);
		return -1;
	}
	if ((why = task_file_problem(s, json_string_value(file)))) {
		seterr(errstr, errlen, "%s: %sfile \"%s\" %s: the file is damaged",
		       rel, where, json_string_value(file), why);
		return -1;
	}
	if ((n = json_integer_value(size)) < 0) {
		seterr(errstr, errlen,
		       "%s: %ssize is negative: the file is damaged", rel,
		       where);
		return -1;
	}
	t->file.size = (uint64_t)n;
	s = json_string_value(sum);
	if (strlen(s) != 16 || strspn(s, "0123456789abcdefABCDEF") != 16) {
		seterr(errstr, errlen,
		       "%s: %schecksum \"%s\" is not 16 hex digits: the file is "
		       "damaged",
		       rel, where, s);
		return -1;
	}
	t->file.checksum = strtoull(s, NULL, 16);
	n = json_integer_value(sv);
	if (n < 0 || n > UINT32_MAX) {
		seterr(errstr, errlen,
		       "%s: %sstate_version %" JSON_INTEGER_FORMAT
		       " is out of range: the file is damaged",
		       rel, where, n);
		return -1;
	}
	t->file.state_version = (uint32_t)n;
	/* Optional: _metadata before it was recorded lacks it. */
	par = json_object_get(o, "parallelism");
	if (par && (!json_is_integer(par) || json_integer_value(par) < 1 ||
	            json_integer_value(par) > UINT16_MAX)) {
		seterr(errstr, errlen,
		       "%s: %sparallelism should be an integer from 1 to %d: "
		       "the file is damaged",
		       rel, where, UINT16_MAX);
		return -1;
	}
	t->parallelism = par ? (uint32_t)json_integer_value(par) : 0;
	snprintf(t->file.name, sizeof(t->file.name), "%s",
	         json_string_value(file));
	t->task = xstrdup(json_string_value(task));
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct ckpt_task_entry *const *x = a, *const *y = b;
	int c = strcmp((*x)->task, (*y)->task);

	return c ? c : (*x > *y) - (*x < *y);
}

/* Two entries for one task: the first such pair in file order is named.
 * Sorting keeps this O(n log n): comparing every pair took 35 s for
 * 100,000 entries. */
static int meta_duplicate(const char *rel, const struct ckpt_meta *m,
                          char *errstr, size_t errlen)
{
	const struct ckpt_task_entry **by = xcalloc(m->ntasks + 1, sizeof(*by));
	size_t first = 0, second = SIZE_MAX;

	for (size_t i = 0; i < m->ntasks; i++)
		by[i] = &m->tasks[i];
	if (m->ntasks > 1)
		qsort(by, m->ntasks, sizeof(*by), cmp_entry);
	/* Equal names sort by position, so the pair with the smallest
	 * second position is adjacent. */
	for (size_t i = 1; i < m->ntasks; i++) {
		size_t b = (size_t)(by[i] - m->tasks);

		if (strcmp(by[i - 1]->task, by[i]->task) != 0 || b >= second)
			continue;
		first = (size_t)(by[i - 1] - m->tasks);
		second = b;
	}
	free(by);
	if (second == SIZE_MAX)
		return 0;
	seterr(errstr, errlen,
	       "%s: tasks[%zu] and tasks[%zu] are both task %s: the file is "
	       "damaged",
	       rel, first, second, m->tasks[second].task);
	return -1;
}

int ckpt_read_meta(struct ckpt_store *st, uint64_t id, struct ckpt_meta *out,
                   char *errstr, size_t errlen)
{
	char *rel = xasprintf("chk-%" PRIu64 "/" META_NAME, id);
	char *path = path_in(st, rel);
	json_t *root = NULL, *v, *tasks, *offsets;
	unsigned char *buf = NULL;
	json_error_t jerr;
	size_t len;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (read_file(path, rel, MAX_META_FILE, &buf, &len, errstr, errlen) < 0)
		goto out;
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		seterr(errstr, errlen,
		       "%s: not valid JSON (line %d, column %d: %s): the file is "
		       "damaged",
		       rel, jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		seterr(errstr, errlen,
		       "%s: should hold a JSON object, found %s: the file is "
		       "damaged",
		       rel, json_type_name(root));
		goto out;
	}
	if (!(v = NEED(root, "", "format", JSON_INTEGER, "an integer")))
		goto out;
	if (json_integer_value(v) != META_FORMAT) {
		seterr(errstr, errlen,
		       "%s: format %" JSON_INTEGER_FORMAT
		       " is not supported (this weir reads %d): written by "
		       "another weir version?",
		       rel, json_integer_value(v), META_FORMAT);
		goto out;
	}
	if (!(v = NEED(root, "", "id", JSON_INTEGER, "an integer")))
		goto out;
	if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) != id) {
		seterr(errstr, errlen,
		       "%s: id is %" JSON_INTEGER_FORMAT " but the directory is "
		       "chk-%" PRIu64 ": _metadata belongs to another checkpoint",
		       rel, json_integer_value(v), id);
		goto out;
	}
	out->id = id;
	if (!(v = NEED(root, "", "job", JSON_STRING, "a string")))
		goto out;
	out->job = xstrdup(json_string_value(v));
	if (!(v = NEED(root, "", "fingerprint", JSON_STRING, "a string")))
		goto out;
	out->fingerprint = xstrdup(json_string_value(v));
	if (!(v = NEED(root, "", "triggered_at", JSON_INTEGER, "an integer")))
		goto out;
	out->triggered_ms = json_integer_value(v);
	if (!(v = NEED(root, "", "completed_at", JSON_INTEGER, "an integer")))
		goto out;
	out->completed_ms = json_integer_value(v);
	if (!(tasks = NEED(root, "", "tasks", JSON_ARRAY, "an array")) ||
	    !(offsets = NEED(root, "", "offsets", JSON_OBJECT, "an object")))
		goto out;
	out->ntasks = json_array_size(tasks);
	out->tasks = xcalloc(out->ntasks, sizeof(*out->tasks));
	for (size_t i = 0; i < out->ntasks; i++)
		if (meta_task(rel, json_array_get(tasks, i), i, &out->tasks[i],
		              errstr, errlen) < 0)
			goto out;
	if (meta_duplicate(rel, out, errstr, errlen) < 0)
		goto out;
	out->offsets_json = json_dumps(offsets, JSON_COMPACT);
	if (!out->offsets_json) {
		seterr(errstr, errlen, "%s: cannot encode offsets", rel);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		ckpt_meta_clear(out);
	json_decref(root);
	free(buf);
	free(rel);
	free(path);
	return rc;
}

#undef NEED

void ckpt_meta_clear(struct ckpt_meta *meta)
{
	if (!meta)
		return;
	free(meta->job);
	free(meta->fingerprint);
	for (size_t i = 0; i < meta->ntasks; i++)
		free(meta->tasks[i].task);
	free(meta->tasks);
	free(meta->offsets_json);
	memset(meta, 0, sizeof(*meta));
}

/* ---- whole checkpoints --------------------------------------------------- */

enum chk_name { CHK_OTHER, CHK_OUT_OF_RANGE, CHK_ID };

#define OUT_OF_RANGE_WHY                                                       \
	"its id is out of range (weir numbers checkpoints 1 to "               \
	"9007199254740992), so weir did not write it. Move it out of the "     \
	"checkpoint directory"

/* Parses "chk-<decimal>" (no sign, no leading zeros); an id above
 * CKPT_ID_MAX (however many digits) or 0 is CHK_OUT_OF_RANGE. */
static enum chk_name parse_chk_name(const char *name, uint64_t *id)
{
	const char *s = name + 4;
	uint64_t v = 0;

	if (strncmp(name, "chk-", 4) != 0 || !*s || (s[0] == '0' && s[1]) ||
	    strspn(s, "0123456789") != strlen(s))
		return CHK_OTHER;
	for (; *s && v <= CKPT_ID_MAX; s++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (v == 0 || v > CKPT_ID_MAX)
		return CHK_OUT_OF_RANGE;
	*id = v;
	return CHK_ID;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int ckpt_list(struct ckpt_store *st, uint64_t **ids, size_t *n)
{
	return ckpt_list_report(st, ids, n, NULL, NULL);
}

int ckpt_list_report(struct ckpt_store *st, uint64_t **ids, size_t *n,
                     ckpt_stray_fn stray, void *arg)
{
	DIR *d = opendir(st->dir);
	struct dirent *de;
	size_t cap = 0;
	int e;

	*ids = NULL;
	*n = 0;
	if (!d)
		return -1;
	for (;;) {
		enum chk_name kind;
		struct stat sb;
		uint64_t id = 0;
		char why[160];
		errno = 0;
		if (!(de = readdir(d)))
			break;
		kind = parse_chk_name(de->d_name, &id);
		if (kind == CHK_OTHER)
			continue;
		if (kind == CHK_OUT_OF_RANGE) {
			if (stray)
				stray(arg, de->d_name, 0, OUT_OF_RANGE_WHY);
			continue;
		}
		/* A link is not followed: what it points to is not ours. */
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(sb.st_mode)) {
			snprintf(why, sizeof(why),
			         "it is %s, not a directory weir created; weir "
			         "neither reads, writes nor deletes through it",
			         file_kind(sb.st_mode));
			if (stray)
				stray(arg, de->d_name, id, why);
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*ids = xrealloc(*ids, cap * sizeof(**ids));
		}
		(*ids)[(*n)++] = id;
	}
	e = errno;
	closedir(d);
	if (e) {
		free(*ids);
		*ids = NULL;
		*n = 0;
		errno = e;
		return -1;
	}
	if (*n)
		qsort(*ids, *n, sizeof(**ids), cmp_u64);
	return 0;
}

/* Whether chk-<id>/_metadata exists (an unreadable one counts as there). */
static bool has_meta(struct ckpt_store *st, uint64_t id)
{
	char *path = xasprintf("%s/chk-%" PRIu64 "/" META_NAME, st->dir, id);
	struct stat sb;
	bool there = stat(path, &sb) == 0 || errno != ENOENT;

	free(path);
	return there;
}

/* Verifies every task file meta lists; clears meta when one fails. */
static int verify_files(struct ckpt_store *st, struct ckpt_meta *meta,
                        char *errstr, size_t errlen)
{
	for (size_t i = 0; i < meta->ntasks; i++) {
		if (ckpt_read_state(st, meta->id, meta->tasks[i].task,
		                    &meta->tasks[i].file, NULL, NULL, NULL,
		                    errstr, errlen) < 0) {
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
	return verify_files(st, out, errstr, errlen);
}

/* Opens DIR/<rel> as a directory without following a link there. A link
 * or other non-directory is logged and left alone (-1, errno ENOTDIR);
 * a missing one is -1 with errno ENOENT. */
static int open_chk_dir(struct ckpt_store *st, int top, const char *rel)
{
	struct stat sb;
	int fd =
	    openat(top, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 || (errno != ELOOP && errno != ENOTDIR))
		return fd;
	if (fstatat(top, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		log_warn("checkpoint",
		         "not removing %s/%s: it is %s, not a directory weir "
		         "created; left alone",
		         st->dir, rel, file_kind(sb.st_mode));
	errno = ENOTDIR;
	return -1;
}

int ckpt_remove(struct ckpt_store *st, uint64_t id)
{
	char *rel = chk_rel(id);
	struct dirent *de;
	int top, fd = -1, e = 0;
	DIR *d;

	/* Everything relative to descriptors: chk-<id> is checked once and
	 * then only unlinked from, whatever its name points to later. */
	top = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0 || (fd = open_chk_dir(st, top, rel)) < 0) {
		if (errno != ENOENT)
			e = errno;
		goto out;
	}
	/* _metadata first: a crash half-way leaves an incomplete checkpoint,
	 * never a damaged one. */
	if (unlinkat(fd, META_NAME, 0) < 0 && errno != ENOENT)
		e = errno;
	d = fdopendir(fd);
	if (!d) {
		if (!e)
			e = errno;
		close(fd);
		goto out;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT &&
		    !e)
			e = errno;
	}
	closedir(d);
	if (unlinkat(top, rel, AT_REMOVEDIR) < 0 && errno != ENOENT && !e)
		e = errno;
out:
	if (top >= 0)
		close(top);
	free(rel);
	errno = e;
	return e ? -1 : 0;
}

int ckpt_retain(struct ckpt_store *st, uint64_t newest, int retain)
{
	uint64_t *ids;
	size_t n;
	int kept = 0, rc = 0;

	if (ckpt_list(st, &ids, &n) < 0)
		return -1;
	for (size_t i = n; i-- > 0;) {
		uint64_t id = ids[i];
		bool complete;
		if (id > newest)
			continue; /* being written, not ours to judge */
		complete = has_meta(st, id);
		if (id == newest) {
			kept += complete;
			continue;
		}
		if (complete && kept < retain) {
			kept++;
			continue;
		}
		if (ckpt_remove(st, id) < 0) {
			char eb[128];
			log_warn("checkpoint", "removing %s/chk-%" PRIu64 ": %s",
			         st->dir, id, strerror_r(errno, eb, sizeof(eb)));
			rc = -1;
		}
	}
	free(ids);
	return rc;
}

/* A directory with only incomplete checkpoints never committed one: that is
 * 0 (start fresh), not -1. A listing failure is reported with id 0. */
int ckpt_find_latest(struct ckpt_store *st, struct ckpt_meta *out,
                     ckpt_check_fn check, ckpt_report_fn report, void *arg)
{
	char err[1024], why[1100];
	bool any_complete = false;
	uint64_t *ids;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (ckpt_list(st, &ids, &n) < 0) {
		seterr_errno(why, sizeof(why), errno,
		             "cannot list checkpoint directory %s", st->dir);
		if (report)
			report(arg, 0, why);
		return -1;
	}
	for (size_t i = n; i-- > 0;) {
		if (!has_meta(st, ids[i])) {
			if (report)
				report(arg, ids[i],
				       "incomplete: no _metadata (the job stopped "
				       "before it completed)");
			continue;
		}
		any_complete = true;
		if (ckpt_read_meta(st, ids[i], out, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "damaged: %s", err);
		} else if (check && check(arg, out, why, sizeof(why)) < 0) {
			ckpt_meta_clear(out);
		} else if (verify_files(st, out, err, sizeof(err)) < 0) {
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
