/*
 * retain.c - what lives beside the checkpoints in DIR: the .lock that
 * keeps a second job off the directory, the listing of chk-<id>
 * directories (and of entries that only look like one), and removal of
 * old checkpoints, which works through directory descriptors so that a
 * link put in DIR never makes weir delete outside it.
 */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int ckpt_store_lock(struct ckpt_store *st, char *errstr, size_t errlen)
{
	char *path, buf[32];
	struct stat sb;
	int fd, e, n;

	if (st->lock_fd >= 0)
		return 0;
	path = xasprintf("%s/.lock", st->dir);
	fd = st->io.open(
	    path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ELOOP) {
		ckpt_seterr(
		    errstr, errlen,
		    "lock file %s is a symbolic link: weir writes its pid "
		    "there and never through a link. Check where it points, "
		    "remove it (weir creates its own), and start again",
		    path);
		free(path);
		return -1;
	}
	if (fd < 0) {
		ckpt_seterr_errno(errstr, errlen, errno, "opening lock file %s",
		                  path);
		free(path);
		return -1;
	}
	if (st->io.fstat(fd, &sb) < 0) {
		ckpt_seterr_errno(errstr, errlen, errno,
		                  "checking lock file %s", path);
		st->io.close(fd);
		free(path);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		ckpt_seterr(errstr, errlen,
		            "lock file %s is %s, not a regular file: remove it "
		            "(weir creates its own), and start again",
		            path, ckpt_file_kind(sb.st_mode));
		st->io.close(fd);
		free(path);
		return -1;
	}
	if (st->io.flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		if (e == EWOULDBLOCK) {
			ssize_t got = st->io.pread(fd, buf, sizeof(buf) - 1, 0);
			long pid = 0;
			buf[got > 0 ? got : 0] = '\0';
			if (got > 0)
				pid = strtol(buf, NULL, 10);
			if (pid > 0)
				snprintf(buf, sizeof(buf), "pid %ld", pid);
			else
				snprintf(buf, sizeof(buf), "pid unknown");
			ckpt_seterr(
			    errstr, errlen,
			    "checkpoint directory %s is in use by another "
			    "weir process (%s); stop that job first, or use "
			    "another checkpoint.dir",
			    st->dir, buf);
		} else {
			ckpt_seterr_errno(errstr, errlen, e, "locking %s",
			                  path);
		}
		st->io.close(fd);
		free(path);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (st->io.ftruncate(fd, 0) < 0 ||
	    st->io.pwrite(fd, buf, (size_t)n, 0) != n) {
		ckpt_seterr_errno(errstr, errlen, errno,
		                  "writing our pid to %s", path);
		st->io.close(fd);
		free(path);
		return -1;
	}
	free(path);
	st->lock_fd = fd;
	return 0;
}

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

/* fdopendir through the seam; on failure fd is closed, errno kept. */
static DIR *open_stream(struct ckpt_store *st, int fd)
{
	DIR *d = st->io.fdopendir(fd);
	int e;

	if (!d) {
		e = errno;
		st->io.close(fd);
		errno = e;
	}
	return d;
}

int ckpt_list_report(struct ckpt_store *st, uint64_t **ids, size_t *n,
                     ckpt_stray_fn stray, void *arg)
{
	struct dirent *de;
	size_t cap = 0;
	int fd, e = 0;
	DIR *d;

	*ids = NULL;
	*n = 0;
	fd = st->io.open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0 || !(d = open_stream(st, fd)))
		return -1;
	for (;;) {
		enum chk_name kind;
		struct stat sb;
		uint64_t id = 0;
		char why[160];
		errno = 0;
		if (!(de = st->io.readdir(d))) {
			e = errno;
			break;
		}
		kind = parse_chk_name(de->d_name, &id);
		if (kind == CHK_OTHER)
			continue;
		if (kind == CHK_OUT_OF_RANGE) {
			if (stray)
				stray(arg, de->d_name, 0, OUT_OF_RANGE_WHY);
			continue;
		}
		/* A link is not followed: what it points to is not ours.
		 * One that vanished since readdir is gone; any other
		 * failure fails the listing: leaving the entry out would
		 * silently pass over a checkpoint. */
		if (st->io.fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
		    0) {
			if (errno == ENOENT)
				continue;
			e = errno;
			break;
		}
		if (!S_ISDIR(sb.st_mode)) {
			snprintf(why, sizeof(why),
			         "it is %s, not a directory weir created; weir "
			         "neither reads, writes nor deletes through it",
			         ckpt_file_kind(sb.st_mode));
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
	st->io.closedir(d);
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

bool ckpt_has_meta(struct ckpt_store *st, uint64_t id)
{
	char *path =
	    xasprintf("%s/chk-%" PRIu64 "/" CKPT_META_NAME, st->dir, id);
	struct stat sb;
	bool there =
	    st->io.fstatat(AT_FDCWD, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT;

	free(path);
	return there;
}

/* Opens DIR/<rel> as a directory without following a link there. A link
 * or other non-directory is logged and left alone (-1, errno ENOTDIR);
 * a missing one is -1 with errno ENOENT. */
static int open_chk_dir(struct ckpt_store *st, int top, const char *rel)
{
	struct stat sb;
	int fd = st->io.openat(
	    top, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);

	if (fd >= 0 || (errno != ELOOP && errno != ENOTDIR))
		return fd;
	if (st->io.fstatat(top, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		log_warn("checkpoint",
		         "not removing %s/%s: it is %s, not a directory weir "
		         "created; left alone",
		         st->dir, rel, ckpt_file_kind(sb.st_mode));
	errno = ENOTDIR;
	return -1;
}

int ckpt_remove(struct ckpt_store *st, uint64_t id)
{
	const struct ckpt_io *io = &st->io;
	char *rel = xasprintf("chk-%" PRIu64, id);
	struct dirent *de;
	int top, fd = -1, e = 0;
	DIR *d;

	/* Everything relative to descriptors: chk-<id> is checked once and
	 * then only unlinked from, whatever its name points to later. */
	top = io->open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (top < 0 || (fd = open_chk_dir(st, top, rel)) < 0) {
		if (errno != ENOENT)
			e = errno;
		goto out;
	}
	/* _metadata first: a crash half-way leaves an incomplete checkpoint,
	 * never a damaged one. */
	if (io->unlinkat(fd, CKPT_META_NAME, 0) < 0 && errno != ENOENT)
		e = errno;
	if (!(d = open_stream(st, fd))) {
		if (!e)
			e = errno;
		goto out;
	}
	for (;;) {
		errno = 0;
		if (!(de = io->readdir(d))) {
			if (errno && !e)
				e = errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (io->unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT &&
		    !e)
			e = errno;
	}
	io->closedir(d);
	if (io->unlinkat(top, rel, AT_REMOVEDIR) < 0 && errno != ENOENT && !e)
		e = errno;
out:
	if (top >= 0)
		io->close(top);
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
		complete = ckpt_has_meta(st, id);
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
			log_warn("checkpoint",
			         "removing %s/chk-%" PRIu64 ": %s", st->dir, id,
			         strerror_r(errno, eb, sizeof(eb)));
			rc = -1;
		}
	}
	free(ids);
	return rc;
}
