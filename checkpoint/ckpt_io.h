/*
 * ckpt_io.h - the checkpoint store's file I/O seam: every file system call
 * of checkpoint/ goes through a struct ckpt_io, so that tests can make any
 * of them fail, and the few safe primitives built on it (open a regular
 * file without following links, read exactly, write a file atomically
 * inside a directory descriptor, fsync a directory).
 */
#ifndef WEIR_CKPT_IO_H
#define WEIR_CKPT_IO_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* File system calls, POSIX semantics (return -1 or NULL and set errno on
 * error). The table grows only at its end: a table written for an older
 * weir keeps working, and a member left NULL means the POSIX call, so a
 * test overrides just the calls it makes fail. */
struct ckpt_io {
	/* open(2) by path: DIR itself, .lock, state files and _metadata
	 * read back, directories to sync. */
	int (*open)(const char *path, int flags, mode_t mode);
	/* write(2) of a temp file being written. */
	ssize_t (*write)(int fd, const void *buf, size_t len);
	/* fsync(2) of a written file or a directory. */
	int (*fsync)(int fd);
	/* rename(2); no longer used by the store (see renameat), kept so
	 * the table's layout does not change. */
	int (*rename)(const char *from, const char *to);
	/* close(2) of any descriptor the store opened. */
	int (*close)(int fd);
	/* mkdir(2): DIR and its parents, chk-<id>/. */
	int (*mkdir)(const char *path, mode_t mode);
	/* pread(2): every byte the store reads. */
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	/* fstat(2) of an opened file or directory. */
	int (*fstat)(int fd, struct stat *sb);
	/* fstatat(2): stat and lstat of names (dirfd AT_FDCWD for a path). */
	int (*fstatat)(int dirfd, const char *name, struct stat *sb, int flags);
	/* openat(2): a temp file inside chk-<id>/, chk-<id>/ inside DIR. */
	int (*openat)(int dirfd, const char *name, int flags, mode_t mode);
	/* unlinkat(2): files, and with AT_REMOVEDIR directories. */
	int (*unlinkat)(int dirfd, const char *name, int flags);
	/* renameat(2): a temp file to its name within chk-<id>/. */
	int (*renameat)(int fromfd, const char *from, int tofd, const char *to);
	/* flock(2) of .lock. */
	int (*flock)(int fd, int op);
	/* ftruncate(2) and pwrite(2): the pid written into .lock. */
	int (*ftruncate)(int fd, off_t len);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	/* fdopendir(3), readdir(3), closedir(3): listing DIR and chk-<id>/.
	 * closedir closes the descriptor fdopendir took. */
	DIR *(*fdopendir)(int fd);
	struct dirent *(*readdir)(DIR *d);
	int (*closedir)(DIR *d);
};

extern const struct ckpt_io ckpt_io_posix;

/* *out = io with every NULL member (or all, for io NULL) taken from
 * ckpt_io_posix. */
void ckpt_io_resolve(struct ckpt_io *out, const struct ckpt_io *io);

/* Messages: fmt, and with _errno ": <strerror(e)>". errstr may be NULL. */
void ckpt_seterr(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ckpt_seterr_errno(char *errstr, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "a symbolic link", "a regular file", ...: for messages. */
const char *ckpt_file_kind(mode_t mode);

/* Opens path (rel in messages) for reading, never following a symbolic
 * link and never waiting (O_NONBLOCK), then checks with fstat that it is
 * a regular file of at most max bytes, and of exactly *want bytes when
 * want is not NULL: all before a byte is read. Returns the descriptor and
 * *size, or -1 with a message starting with rel. */
int ckpt_io_open_regular(const struct ckpt_io *io, const char *path,
                         const char *rel, uint64_t max, const uint64_t *want,
                         uint64_t *size, char *errstr, size_t errlen);

/* Reads exactly len bytes at off; a file that shrank reads short. */
int ckpt_io_read_at(const struct ckpt_io *io, int fd, const char *rel,
                    void *buf, size_t len, uint64_t off, char *errstr,
                    size_t errlen);

/* Reads a whole regular file of at most max bytes (see open_regular),
 * NUL-terminated; *buf is malloc()ed. */
int ckpt_io_read_file(const struct ckpt_io *io, const char *path,
                      const char *rel, uint64_t max, unsigned char **buf,
                      size_t *len, char *errstr, size_t errlen);

/* fsyncs the directory at path (shown as `shown` in messages). */
int ckpt_io_sync_path(const struct ckpt_io *io, const char *path,
                      const char *shown, char *errstr, size_t errlen);

/* Writes buf to <name> inside the directory open as dfd (dir_rel in
 * messages) through <name>.tmp: created with O_EXCL|O_NOFOLLOW after a
 * leftover is unlinked, written, fsynced, closed, renamed within dfd;
 * with fsync_dir, dfd is fsynced after. Nothing is done by path, so what
 * the directory's name points to later does not matter. On failure the
 * temp file (and <name> if renamed) is removed; errno is kept. */
int ckpt_io_write_atomic(const struct ckpt_io *io, int dfd, const char *dir_rel,
                         const char *name, const void *buf, size_t len,
                         bool fsync_dir, char *errstr, size_t errlen);

/* The bytes of a file ckpt_io_write_chunks writes, chunk by chunk: next
 * points *p at the next *len bytes (valid until it is called again;
 * *len 0: the end), or returns -1 with a message. */
typedef int (*ckpt_io_next_fn)(void *arg, const void **p, size_t *len,
                               char *errstr, size_t errlen);
/* ckpt_io_write_atomic with the bytes from next: a file larger than
 * memory can be written (copied) with one buffer. */
int ckpt_io_write_chunks(const struct ckpt_io *io, int dfd, const char *dir_rel,
                         const char *name, ckpt_io_next_fn next, void *arg,
                         bool fsync_dir, char *errstr, size_t errlen);

#endif
