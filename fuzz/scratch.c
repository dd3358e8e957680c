/*
 * scratch.c - the scratch directory of the targets that read files (see
 * fuzz.h). The checkpoint store reads state files and _metadata from disk
 * only, so those targets write each input into a directory of their own
 * and let the store read it back from there.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"

/* One per process, made on first use: the fuzzing process is the unit of
 * isolation here, so this is the harness's only static state. */
static char scratch[4096];

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_scratch(void)
{
	nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_scratch_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (scratch[0])
		return scratch;
	snprintf(scratch, sizeof(scratch), "%s/weir-fuzz-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		perror("weir fuzz: mkdtemp");
		abort();
	}
	atexit(remove_scratch);
	return scratch;
}

struct ckpt_store *fuzz_scratch_store(void)
{
	char err[256];
	struct ckpt_store *st =
	    ckpt_store_open(fuzz_scratch_dir(), NULL, err, sizeof(err));

	if (!st) {
		fprintf(stderr, "weir fuzz: %s\n", err);
		abort();
	}
	return st;
}

void fuzz_write_file(const char *path, const void *buf, size_t len)
{
	const char *p = buf;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror(path);
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0) {
		perror(path);
		abort();
	}
}
