/*
 * ckpt_io.c - the file I/O seam of the checkpoint store (see ckpt_io.h):
 * the POSIX table and the primitives every other checkpoint file builds
 * on. No function here calls libc's file system functions directly; all
 * go through the table, so a test's table sees every call.
 */
#include "ckpt_io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util.h"

static int posix_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

static int posix_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	return openat(dirfd, name, flags, mode);
}

const struct ckpt_io ckpt_io_posix = {
    .open = posix_open,
    .write = write,
    .fsync = fsync,
    .rename = rename,
    .close = close,
    .mkdir = mkdir,
    .pread = pread,
    .fstat = fstat,
    .fstatat = fstatat,
    .openat = posix_openat,
    .unlinkat = unlinkat,
    .renameat = renameat,
    .flock = flock,
    .ftruncate = ftruncate,
    .pwrite = pwrite,
    .fdopendir = fdopendir,
    .readdir = readdir,
    .closedir = closedir,
};

#define RESOLVE(m) out->m = io && io->m ? io->m : ckpt_io_posix.m

void ckpt_io_resolve(struct ckpt_io *out, const struct ckpt_io *io)
{
	RESOLVE(open);
	RESOLVE(write);
	RESOLVE(fsync);
	RESOLVE(rename);
	RESOLVE(close);
	RESOLVE(mkdir);
	RESOLVE(pread);
	RESOLVE(fstat);
	RESOLVE(fstatat);
	RESOLVE(openat);
	RESOLVE(unlinkat);
	RESOLVE(renameat);
	RESOLVE(flock);
	RESOLVE(ftruncate);
	RESOLVE(pwrite);
	RESOLVE(fdopendir);
	RESOLVE(readdir);
	RESOLVE(closedir);
}

#undef RESOLVE

void ckpt_seterr(char *errstr, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errstr || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, errlen, fmt, ap);
	va_end(ap);
}

/* Thread-safe: strerror_r, no static buffer. */
void ckpt_seterr_errno(char *errstr, size_t errlen, int e, const char *fmt, ...)
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

const char *ckpt_file_kind(mode_t mode)
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
	ckpt_seterr(errstr, errlen,
	            "%s: not a regular file (%s): weir writes only regular "
	            "files there and follows no links",
	            rel, ckpt_file_kind(mode));
}

int ckpt_io_open_regular(const struct ckpt_io *io, const char *path,
                         const char *rel, uint64_t max, const uint64_t *want,
                         uint64_t *size, char *errstr, size_t errlen)
{
	struct stat sb;
	int fd, e;

	fd = io->open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0) {
		/* A link (ELOOP) or a socket (ENXIO) fails here: say what
		 * it is rather than the errno. */
		e = errno;
		if (io->fstatat(AT_FDCWD, path, &sb, AT_SYMLINK_NOFOLLOW) ==
		        0 &&
		    !S_ISREG(sb.st_mode))
			seterr_not_regular(errstr, errlen, rel, sb.st_mode);
		else
			ckpt_seterr_errno(errstr, errlen, e, "%s: cannot open",
			                  rel);
		return -1;
	}
	if (io->fstat(fd, &sb) < 0) {
		e = errno;
		io->close(fd);
		ckpt_seterr_errno(errstr, errlen, e, "%s: cannot stat", rel);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		io->close(fd);
		seterr_not_regular(errstr, errlen, rel, sb.st_mode);
		return -1;
	}
	if (want && (uint64_t)sb.st_size != *want) {
		io->close(fd);
		ckpt_seterr(errstr, errlen,
		            "%s: %jd bytes but _metadata says %" PRIu64
		            ": the file is truncated or was replaced",
		            rel, (intmax_t)sb.st_size, *want);
		return -1;
	}
	if ((uint64_t)sb.st_size > max || (uint64_t)sb.st_size >= SIZE_MAX) {
		io->close(fd);
		ckpt_seterr(errstr, errlen,
		            "%s: %jd bytes, larger than any file weir writes "
		            "there: the file is damaged",
		            rel, (intmax_t)sb.st_size);
		return -1;
	}
	*size = (uint64_t)sb.st_size;
	return fd;
}

int ckpt_io_read_at(const struct ckpt_io *io, int fd, const char *rel,
                    void *buf, size_t len, uint64_t off, char *errstr,
                    size_t errlen)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = io->pread(fd, (char *)buf + got, len - got,
		                      (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ckpt_seterr_errno(errstr, errlen, errno,
			                  "%s: cannot read", rel);
			return -1;
		}
		if (n == 0) {
			ckpt_seterr(
			    errstr, errlen,
			    "%s: the file shrank while it was read: the "
			    "file is truncated",
			    rel);
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int ckpt_io_read_file(const struct ckpt_io *io, const char *path,
                      const char *rel, uint64_t max, unsigned char **buf,
                      size_t *len, char *errstr, size_t errlen)
{
	unsigned char *b;
	uint64_t size;
	int fd = ckpt_io_open_regular(io, path, rel, max, NULL, &size, errstr,
	                              errlen);

	if (fd < 0)
		return -1;
	b = xmalloc((size_t)size + 1);
	if (ckpt_io_read_at(io, fd, rel, b, (size_t)size, 0, errstr, errlen) <
	    0) {
		free(b);
		io->close(fd);
		return -1;
	}
	io->close(fd);
	b[size] = '\0';
	*buf = b;
	*len = (size_t)size;
	return 0;
}

/* fsyncs fd, a directory shown as `shown`; errno is kept. */
static int sync_fd(const struct ckpt_io *io, int fd, const char *shown,
                   char *errstr, size_t errlen)
{
	int e;

	if (io->fsync(fd) < 0) {
		e = errno;
		ckpt_seterr_errno(errstr, errlen, e, "syncing directory %s",
		                  shown);
		errno = e;
		return -1;
	}
	return 0;
}

int ckpt_io_sync_path(const struct ckpt_io *io, const char *path,
                      const char *shown, char *errstr, size_t errlen)
{
	int fd, e;

	fd = io->open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		ckpt_seterr_errno(errstr, errlen, errno,
		                  "opening directory %s to sync it", shown);
		return -1;
	}
	if (sync_fd(io, fd, shown, errstr, errlen) < 0) {
		e = errno;
		io->close(fd);
		errno = e;
		return -1;
	}
	if (io->close(fd) < 0 && errno != EINTR) {
		ckpt_seterr_errno(errstr, errlen, errno, "closing directory %s",
		                  shown);
		return -1;
	}
	return 0;
}

/* Writes len bytes at p to fd (tmp in dir_rel, for messages), through
 * short writes and EINTR; *done counts the file's bytes so far. errno is
 * kept. */
static int write_all(const struct ckpt_io *io, int fd, const char *dir_rel,
                     const char *tmp, const unsigned char *p, size_t len,
                     uint64_t *done, char *errstr, size_t errlen)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = io->write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ckpt_seterr_errno(errstr, errlen, errno,
			                  "writing %s/%s", dir_rel, tmp);
			return -1;
		}
		if (n == 0) {
			ckpt_seterr(errstr, errlen,
			            "writing %s/%s: write() made no progress "
			            "after %" PRIu64 " bytes",
			            dir_rel, tmp, *done + off);
			errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	*done += len;
	return 0;
}

struct one_chunk {
	const void *buf;
	size_t len;
};

static int next_one(void *arg, const void **p, size_t *len, char *errstr,
                    size_t errlen)
{
	struct one_chunk *c = arg;

	(void)errstr;
	(void)errlen;
	*p = c->buf;
	*len = c->len;
	c->len = 0;
	return 0;
}

int ckpt_io_write_atomic(const struct ckpt_io *io, int dfd, const char *dir_rel,
                         const char *name, const void *buf, size_t len,
                         bool fsync_dir, char *errstr, size_t errlen)
{
	struct one_chunk c = {buf, len};

	return ckpt_io_write_chunks(io, dfd, dir_rel, name, next_one, &c,
	                            fsync_dir, errstr, errlen);
}

int ckpt_io_write_chunks(const struct ckpt_io *io, int dfd, const char *dir_rel,
                         const char *name, ckpt_io_next_fn next, void *arg,
                         bool fsync_dir, char *errstr, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", name);
	bool renamed = false;
	uint64_t done = 0;
	int fd = -1, rc, e = 0;

	/* A leftover temp file is replaced, never opened: a link or a hard
	 * link there must not let the write land outside DIR. */
	if (io->unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT) {
		e = errno;
		ckpt_seterr_errno(errstr, errlen, e,
		                  "removing the leftover %s/%s", dir_rel, tmp);
		goto err;
	}
	fd = io->openat(dfd, tmp,
	                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	                0644);
	if (fd < 0) {
		e = errno;
		ckpt_seterr_errno(errstr, errlen, e, "creating %s/%s", dir_rel,
		                  tmp);
		goto err;
	}
	for (;;) {
		const void *p;
		size_t len;

		if (next(arg, &p, &len, errstr, errlen) < 0) {
			e = EIO;
			goto err;
		}
		if (len == 0)
			break;
		if (write_all(io, fd, dir_rel, tmp, p, len, &done, errstr,
		              errlen) < 0) {
			e = errno;
			goto err;
		}
	}
	if (io->fsync(fd) < 0) {
		e = errno;
		ckpt_seterr_errno(errstr, errlen, e, "syncing %s/%s", dir_rel,
		                  tmp);
		goto err;
	}
	rc = io->close(fd);
	fd = -1;
	/* On Linux the descriptor is gone even when close reports EINTR. */
	if (rc < 0 && errno != EINTR) {
		e = errno;
		ckpt_seterr_errno(errstr, errlen, e, "closing %s/%s", dir_rel,
		                  tmp);
		goto err;
	}
	if (io->renameat(dfd, tmp, dfd, name) < 0) {
		e = errno;
		ckpt_seterr_errno(errstr, errlen, e, "renaming %s/%s to %s",
		                  dir_rel, tmp, name);
		goto err;
	}
	renamed = true;
	if (fsync_dir && sync_fd(io, dfd, dir_rel, errstr, errlen) < 0) {
		e = errno;
		goto err;
	}
	free(tmp);
	return 0;
err:
	if (fd >= 0)
		io->close(fd);
	io->unlinkat(dfd, tmp, 0);
	/* Not known to be durable, so it must not count as written. */
	if (renamed)
		io->unlinkat(dfd, name, 0);
	free(tmp);
	errno = e;
	return -1;
}
