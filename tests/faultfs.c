/*
 * faultfs.c - a disk fault injector for integration tests, loaded into the
 * real weir binary with LD_PRELOAD. It wraps the libc calls behind the
 * checkpoint store's POSIX table (checkpoint/ckpt_io.c) and makes those
 * that match a rule fail with a chosen errno, so a test can give a running
 * job a full disk or a failing fsync without a special build.
 *
 * WEIR_FAULTFS holds rules separated by ';', each a list of key=value
 * separated by ',':
 *
 *   call=C[|C...]  open (open, openat), write (write, pwrite), fsync
 *                  (fsync, fdatasync), rename (rename, renameat,
 *                  renameat2), mkdir (mkdir, mkdirat), unlink (unlink,
 *                  unlinkat), read (read, pread), truncate (ftruncate).
 *                  Required.
 *   path=GLOB      fnmatch(3) pattern without FNM_PATHNAME ('*' matches
 *                  '/') against the absolute path; a call on a descriptor
 *                  uses the path that descriptor was opened with, a rename
 *                  matches on either name. Default '*'.
 *   errno=E        ENOSPC, EIO, EDQUOT, EROFS, EACCES, EPERM or a number.
 *                  Default EIO.
 *   after=N        the first N matching calls succeed. Default 0.
 *   count=M        then M calls fail, and none after. Default: every one.
 *   arm=FILE       the rule is armed only while FILE exists; calls made
 *                  while it is disarmed neither fail nor count.
 *   delay_ms=D     instead of failing, the call sleeps D ms and then
 *                  runs (a slow disk: with arm=, a test holds a restore
 *                  up for as long as it wants).
 *
 * Every injected failure is reported on stderr, so a test can wait for it:
 *   faultfs: rule 1: fsync(/d/chk-3/_metadata.tmp) fails with ENOSPC (1)
 * A rule that does not parse stops the process at load with a message.
 *
 * Thread rule: calls come from any thread. Rule counters and the table of
 * descriptor paths are under one mutex; the common case (a descriptor
 * with no path recorded, a path no rule matches) takes no lock.
 * Descriptors are recorded with their device and inode, and a call on a
 * descriptor whose file changed (closed and reused behind our back, e.g.
 * by closedir) forgets the old path instead of matching it.
 */
/* open and open64 (and the like) are two functions to define here, not
 * one name redirected to the other; no fortified inline wrappers. */
#undef _FILE_OFFSET_BITS
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
	C_OPEN = 1 << 0,
	C_WRITE = 1 << 1,
	C_FSYNC = 1 << 2,
	C_RENAME = 1 << 3,
	C_MKDIR = 1 << 4,
	C_UNLINK = 1 << 5,
	C_READ = 1 << 6,
	C_TRUNCATE = 1 << 7,
	C_ON_FD = C_WRITE | C_FSYNC | C_READ | C_TRUNCATE,
};

static const struct {
	const char *name;
	int bit;
} calls[] = {
    {"open", C_OPEN},     {"write", C_WRITE},       {"fsync", C_FSYNC},
    {"rename", C_RENAME}, {"mkdir", C_MKDIR},       {"unlink", C_UNLINK},
    {"read", C_READ},     {"truncate", C_TRUNCATE},
};

static const struct {
	const char *name;
	int e;
} errnos[] = {
    {"ENOSPC", ENOSPC}, {"EIO", EIO},       {"EDQUOT", EDQUOT},
    {"EROFS", EROFS},   {"EACCES", EACCES}, {"EPERM", EPERM},
};

#define MAX_RULES 16
#define MAX_FDS 16384

struct rule {
	int calls;
	char *glob;
	int err;
	long after, count; /* count < 0: no end */
	char *arm;
	long delay_ms;     /* > 0: delay the call instead of failing it */
	long seen, failed; /* under mu */
};

struct fd_path {
	char *path; /* NULL: not recorded; read without mu only as a hint */
	dev_t dev;
	ino_t ino;
};

static struct rule rules[MAX_RULES];
static int nrules;
static struct fd_path fds[MAX_FDS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* --- the next definition of each call (libc, or the sanitizer's) ---- */

#define REAL(ret, name, params)                                                \
	static ret(*real_##name) params;                                       \
	static ret(*next_##name(void)) params                                  \
	{                                                                      \
		if (!__atomic_load_n(&real_##name, __ATOMIC_ACQUIRE)) {        \
			ret(*p) params;                                        \
			*(void **)&p = dlsym(RTLD_NEXT, #name);                \
			if (!p)                                                \
				die("faultfs: no next definition of " #name);  \
			__atomic_store_n(&real_##name, p, __ATOMIC_RELEASE);   \
		}                                                              \
		return real_##name;                                            \
	}

static void die(const char *msg)
{
	fprintf(stderr, "%s\n", msg);
	_exit(99);
}

REAL(int, openat, (int, const char *, int, ...))
REAL(int, close, (int))
REAL(ssize_t, write, (int, const void *, size_t))
REAL(ssize_t, pwrite, (int, const void *, size_t, off_t))
REAL(ssize_t, read, (int, void *, size_t))
REAL(ssize_t, pread, (int, void *, size_t, off_t))
REAL(int, fsync, (int))
REAL(int, fdatasync, (int))
REAL(int, ftruncate, (int, off_t))
REAL(int, rename, (const char *, const char *))
REAL(int, renameat, (int, const char *, int, const char *))
REAL(int, renameat2, (int, const char *, int, const char *, unsigned))
REAL(int, mkdir, (const char *, mode_t))
REAL(int, mkdirat, (int, const char *, mode_t))
REAL(int, unlink, (const char *))
REAL(int, unlinkat, (int, const char *, int))

/* --- rules ---------------------------------------------------------- */

static void bad_rule(int n, const char *what, const char *text)
{
	fprintf(stderr,
	        "faultfs: WEIR_FAULTFS rule %d: %s: '%s'. A rule is "
	        "call=C[|C],path=GLOB,errno=E,after=N,count=M,arm=FILE,"
	        "delay_ms=D "
	        "(see tests/faultfs.c)\n",
	        n, what, text);
	_exit(99);
}

static long parse_count(int n, const char *key, const char *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < 0) {
		char what[64];

		snprintf(what, sizeof(what), "%s is not a whole number >= 0",
		         key);
		bad_rule(n, what, v);
	}
	return x;
}

static int parse_calls(int n, char *v)
{
	int bits = 0;

	for (char *c = strtok(v, "|"); c; c = strtok(NULL, "|")) {
		size_t i;

		for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
			if (!strcmp(c, calls[i].name))
				break;
		if (i == sizeof(calls) / sizeof(calls[0]))
			bad_rule(n,
			         "unknown call (open, write, fsync, rename, "
			         "mkdir, unlink, read, truncate)",
			         c);
		bits |= calls[i].bit;
	}
	return bits;
}

static int parse_errno(int n, const char *v)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(v, errnos[i].name))
			return errnos[i].e;
	if (!strchr("0123456789", v[0]))
		bad_rule(n,
		         "errno is none of ENOSPC, EIO, EDQUOT, EROFS, "
		         "EACCES, EPERM nor a number",
		         v);
	return (int)parse_count(n, "errno", v);
}

static void parse_rule(int n, char *text, struct rule *r)
{
	char *save = NULL;

	*r = (struct rule){.glob = "*", .err = EIO, .count = -1};
	for (char *kv = strtok_r(text, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v)
			bad_rule(n, "expected key=value", kv);
		*v++ = '\0';
		if (!strcmp(kv, "call"))
			r->calls = parse_calls(n, v);
		else if (!strcmp(kv, "path"))
			r->glob = v;
		else if (!strcmp(kv, "errno"))
			r->err = parse_errno(n, v);
		else if (!strcmp(kv, "after"))
			r->after = parse_count(n, "after", v);
		else if (!strcmp(kv, "count"))
			r->count = parse_count(n, "count", v);
		else if (!strcmp(kv, "arm"))
			r->arm = v;
		else if (!strcmp(kv, "delay_ms"))
			r->delay_ms = parse_count(n, "delay_ms", v);
		else
			bad_rule(n,
			         "unknown key (call, path, errno, after, "
			         "count, arm, delay_ms)",
			         kv);
	}
	if (!r->calls)
		bad_rule(n, "no call=", text);
}

__attribute__((constructor)) static void faultfs_init(void)
{
	const char *env = getenv("WEIR_FAULTFS");
	char *text, *save = NULL;

	if (!env)
		return;
	/* Kept for the process's life: rules point into it. */
	text = strdup(env);
	if (!text)
		die("faultfs: out of memory");
	for (char *r = strtok_r(text, ";", &save); r;
	     r = strtok_r(NULL, ";", &save)) {
		if (!r[strspn(r, " ")])
			continue;
		if (nrules == MAX_RULES)
			bad_rule(nrules + 1, "too many rules", r);
		parse_rule(nrules + 1, r, &rules[nrules]);
		nrules++;
	}
}

static const char *errno_name(int e)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].e == e)
			return errnos[i].name;
	return "an errno";
}

static bool armed(const struct rule *r)
{
	struct stat sb;

	return !r->arm || stat(r->arm, &sb) == 0;
}

/* The errno the call must fail with, or 0. path2 is a rename's target. */
static int fault(int call, const char *name, const char *path,
                 const char *path2)
{
	for (int i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		char line[PATH_MAX * 2 + 128];
		long nth;
		int len;

		if (!(r->calls & call))
			continue;
		if (fnmatch(r->glob, path, 0) &&
		    (!path2 || fnmatch(r->glob, path2, 0)))
			continue;
		if (!armed(r))
			continue;
		pthread_mutex_lock(&mu);
		r->seen++;
		nth =
		    r->seen > r->after && (r->count < 0 || r->failed < r->count)
		        ? ++r->failed
		        : 0;
		pthread_mutex_unlock(&mu);
		if (!nth)
			continue;
		if (r->delay_ms)
			len = snprintf(line, sizeof(line),
			               "faultfs: rule %d: %s(%s%s%s) delayed "
			               "%ld ms (%ld)\n",
			               i + 1, name, path, path2 ? ", " : "",
			               path2 ? path2 : "", r->delay_ms, nth);
		else
			len = snprintf(line, sizeof(line),
			               "faultfs: rule %d: %s(%s%s%s) fails "
			               "with %s (%ld)\n",
			               i + 1, name, path, path2 ? ", " : "",
			               path2 ? path2 : "", errno_name(r->err),
			               nth);
		if (len > 0)
			next_write()(2, line,
			             (size_t)len < sizeof(line)
			                 ? (size_t)len
			                 : sizeof(line) - 1);
		if (r->delay_ms) {
			struct timespec ts = {r->delay_ms / 1000,
			                      r->delay_ms % 1000 * 1000000};

			nanosleep(&ts, NULL);
			return 0;
		}
		return r->err;
	}
	return 0;
}

/* The absolute path of name relative to dirfd, in out; false if unknown. */
static bool full_path(int dirfd, const char *name, char *out, size_t len)
{
	char link[64];
	size_t n;

	if (name[0] == '/') {
		snprintf(out, len, "%s", name);
		return true;
	}
	if (dirfd == AT_FDCWD) {
		if (!getcwd(out, len))
			return false;
		n = strlen(out);
	} else {
		ssize_t got;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		got = readlink(link, out, len - 1);
		if (got < 0)
			return false;
		n = (size_t)got;
	}
	snprintf(out + n, len - n, "/%s", name);
	return true;
}

static bool any_rule(int call_mask, const char *path)
{
	for (int i = 0; i < nrules; i++)
		if ((rules[i].calls & call_mask) &&
		    !fnmatch(rules[i].glob, path, 0))
			return true;
	return false;
}

/* Records (or forgets) the path fd was opened with. */
static void remember(int fd, const char *path)
{
	struct stat sb;
	char *old, *copy = NULL;

	if (fd < 0 || fd >= MAX_FDS)
		return;
	if (path && any_rule(C_ON_FD, path) && fstat(fd, &sb) == 0)
		copy = strdup(path);
	if (!copy && !__atomic_load_n(&fds[fd].path, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&mu);
	old = fds[fd].path;
	fds[fd].path = copy;
	if (copy) {
		fds[fd].dev = sb.st_dev;
		fds[fd].ino = sb.st_ino;
	}
	pthread_mutex_unlock(&mu);
	free(old);
}

/* The errno a call on fd must fail with, or 0. */
static int fault_fd(int call, const char *name, int fd)
{
	char path[PATH_MAX];
	struct stat sb;
	bool same;

	if (!nrules || fd < 0 || fd >= MAX_FDS ||
	    !__atomic_load_n(&fds[fd].path, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&mu);
	same = fds[fd].path && fstat(fd, &sb) == 0 &&
	       sb.st_dev == fds[fd].dev && sb.st_ino == fds[fd].ino;
	if (same)
		snprintf(path, sizeof(path), "%s", fds[fd].path);
	pthread_mutex_unlock(&mu);
	if (!same) {
		remember(fd, NULL);
		return 0;
	}
	return fault(call, name, path, NULL);
}

/* The errno a call on dirfd/name must fail with, or 0. */
static int fault_at(int call, const char *fn, int dirfd, const char *name)
{
	char path[PATH_MAX];

	if (!nrules || !full_path(dirfd, name, path, sizeof(path)))
		return 0;
	return fault(call, fn, path, NULL);
}

#define FAIL_IF(e)                                                             \
	do {                                                                   \
		int e_ = (e);                                                  \
		if (e_) {                                                      \
			errno = e_;                                            \
			return -1;                                             \
		}                                                              \
	} while (0)

/* --- opening: records the path of the descriptor -------------------- */

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE
	           ? (mode_t)va_arg(ap, int)
	           : 0;
}

/* Every open: glibc's open(path) is openat(AT_FDCWD, path) too. */
static int open_in(const char *fn, int dirfd, const char *name, int flags,
                   mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	FAIL_IF(fault_at(C_OPEN, fn, dirfd, name));
	fd = next_openat()(dirfd, name, flags, mode);
	if (fd >= 0 && nrules)
		remember(fd, full_path(dirfd, name, path, sizeof(path)) ? path
		                                                        : NULL);
	return fd;
}

#define OPEN(name, params, dirfd)                                              \
	int name params                                                        \
	{                                                                      \
		va_list ap;                                                    \
		mode_t mode;                                                   \
                                                                               \
		va_start(ap, flags);                                           \
		mode = open_mode(flags, ap);                                   \
		va_end(ap);                                                    \
		return open_in(#name, dirfd, path, flags, mode);               \
	}

OPEN(open, (const char *path, int flags, ...), AT_FDCWD)
OPEN(open64, (const char *path, int flags, ...), AT_FDCWD)
OPEN(openat, (int dirfd, const char *path, int flags, ...), dirfd)
OPEN(openat64, (int dirfd, const char *path, int flags, ...), dirfd)

int close(int fd)
{
	if (nrules)
		remember(fd, NULL);
	return next_close()(fd);
}

/* --- calls on a descriptor ------------------------------------------ */

/* The ...64 names are the same calls where off_t has 64 bits, which is
 * all this shim supports. */
_Static_assert(sizeof(off_t) == sizeof(off64_t), "a 64-bit off_t");

ssize_t write(int fd, const void *buf, size_t len)
{
	FAIL_IF(fault_fd(C_WRITE, "write", fd));
	return next_write()(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	FAIL_IF(fault_fd(C_WRITE, "pwrite", fd));
	return next_pwrite()(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return pwrite(fd, buf, len, off);
}

ssize_t read(int fd, void *buf, size_t len)
{
	FAIL_IF(fault_fd(C_READ, "read", fd));
	return next_read()(fd, buf, len);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	FAIL_IF(fault_fd(C_READ, "pread", fd));
	return next_pread()(fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	return pread(fd, buf, len, off);
}

int fsync(int fd)
{
	FAIL_IF(fault_fd(C_FSYNC, "fsync", fd));
	return next_fsync()(fd);
}

int fdatasync(int fd)
{
	FAIL_IF(fault_fd(C_FSYNC, "fdatasync", fd));
	return next_fdatasync()(fd);
}

int ftruncate(int fd, off_t len)
{
	FAIL_IF(fault_fd(C_TRUNCATE, "ftruncate", fd));
	return next_ftruncate()(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
	return ftruncate(fd, len);
}

/* --- calls on names -------------------------------------------------- */

static int fault_rename(int fromfd, const char *from, int tofd, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (!nrules || !full_path(fromfd, from, a, sizeof(a)) ||
	    !full_path(tofd, to, b, sizeof(b)))
		return 0;
	return fault(C_RENAME, "rename", a, b);
}

int rename(const char *from, const char *to)
{
	FAIL_IF(fault_rename(AT_FDCWD, from, AT_FDCWD, to));
	return next_rename()(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
	FAIL_IF(fault_rename(fromfd, from, tofd, to));
	return next_renameat()(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to,
              unsigned flags)
{
	FAIL_IF(fault_rename(fromfd, from, tofd, to));
	return next_renameat2()(fromfd, from, tofd, to, flags);
}

int mkdir(const char *path, mode_t mode)
{
	FAIL_IF(fault_at(C_MKDIR, "mkdir", AT_FDCWD, path));
	return next_mkdir()(path, mode);
}

int mkdirat(int dirfd, const char *name, mode_t mode)
{
	FAIL_IF(fault_at(C_MKDIR, "mkdirat", dirfd, name));
	return next_mkdirat()(dirfd, name, mode);
}

int unlink(const char *path)
{
	FAIL_IF(fault_at(C_UNLINK, "unlink", AT_FDCWD, path));
	return next_unlink()(path);
}

int unlinkat(int dirfd, const char *name, int flags)
{
	FAIL_IF(fault_at(C_UNLINK, "unlinkat", dirfd, name));
	return next_unlinkat()(dirfd, name, flags);
}
