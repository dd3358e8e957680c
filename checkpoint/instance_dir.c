/*
 * instance_dir.c - the checkpoint directories of a job's instances (see
 * instance_dir.h). Each instance restores only checkpoints of its own
 * (_metadata records index and count, restore.c checks them); this file
 * catches the case that _metadata cannot: a run with another count finds
 * an empty directory of its own and would silently start over.
 */
#include "instance_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

char *ckpt_instance_dir(const char *dir, const struct job_instance *in)
{
	if (job_instance_count(in) == 1)
		return xstrdup(dir);
	return xasprintf("%s/instance-%d-of-%d", dir, in->index, in->count);
}

static bool is_chk_name(const char *name)
{
	return !strncmp(name, "chk-", 4) && name[4] >= '0' && name[4] <= '9';
}

/* The count of "instance-<J>-of-<M>", or 0 for any other name. */
static int instance_count_of(const char *name)
{
	int j, m, end = 0;

	if (sscanf(name, "instance-%d-of-%d%n", &j, &m, &end) != 2 ||
	    name[end] != '\0' || j < 0 || m < 1 || j >= m)
		return 0;
	return m;
}

/* Whether the directory `name` inside dfd holds a chk-<n>. An unreadable
 * one counts as holding one: better a refusal that names it than a run
 * that starts over beside it. */
static bool holds_checkpoints(const struct ckpt_io *io, int dfd,
                              const char *name)
{
	int fd = io->openat(dfd, name,
	                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (fd < 0)
		return errno != ENOTDIR && errno != ELOOP;
	d = io->fdopendir(fd);
	if (!d) {
		io->close(fd);
		return true;
	}
	for (;;) {
		errno = 0;
		de = io->readdir(d);
		if (!de || (found = is_chk_name(de->d_name)))
			break;
	}
	if (!de && errno)
		found = true;
	io->closedir(d);
	return found;
}

int ckpt_instance_check(const char *dir, const struct job_instance *in,
                        const struct ckpt_io *iop, char *err, size_t errlen)
{
	int count = job_instance_count(in), other = 0, fd;
	char what[300] = "";
	struct ckpt_io io;
	struct dirent *de;
	DIR *d;

	ckpt_io_resolve(&io, iop);
	fd = io.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		ckpt_seterr_errno(err, errlen, errno,
		                  "checkpoint.dir: cannot open %s", dir);
		return -1;
	}
	d = io.fdopendir(fd);
	if (!d) {
		ckpt_seterr_errno(err, errlen, errno,
		                  "checkpoint.dir: cannot list %s", dir);
		io.close(fd);
		return -1;
	}
	while (!other) {
		int m;

		errno = 0;
		de = io.readdir(d);
		if (!de && errno) {
			ckpt_seterr_errno(err, errlen, errno,
			                  "checkpoint.dir: cannot list %s",
			                  dir);
			io.closedir(d);
			return -1;
		}
		if (!de)
			break;
		m = instance_count_of(de->d_name);
		if (count > 1 && is_chk_name(de->d_name))
			other = 1;
		else if (m && m != count &&
		         holds_checkpoints(&io, fd, de->d_name))
			other = m;
		if (other)
			snprintf(what, sizeof(what), "%s", de->d_name);
	}
	io.closedir(d);
	if (!other)
		return 0;
	ckpt_seterr(err, errlen,
	            "checkpoint.dir %s holds checkpoints of this job run as "
	            "%d instance(s) (%s), and this run is instance %d of %d. "
	            "Each instance owns the source partitions p with p %% "
	            "count == index and restores only its own checkpoints; "
	            "moving partitions between instances would need "
	            "rescaling across processes, which weir does not do. "
	            "Run %d instance(s) as before (%s), or, to start over as "
	            "%d, move %s aside (the sources then start at "
	            "source.start)",
	            dir, other, what, job_instance_index(in), count, other,
	            other == 1 ? "without --instance"
	                       : "--instance I/N with "
	                         "the same N",
	            count, dir);
	return -1;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ckpt_instance_hint(const char *dir, const struct ckpt_io *iop, FILE *out)
{
	struct ckpt_io io;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int fd;
	DIR *d;

	ckpt_io_resolve(&io, iop);
	fd = io.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	d = io.fdopendir(fd);
	if (!d) {
		io.close(fd);
		return;
	}
	while ((de = io.readdir(d))) {
		if (!instance_count_of(de->d_name))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	io.closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			fprintf(out,
			        "%s holds the checkpoint directories of a job "
			        "run as several instances; list them with:\n",
			        dir);
		fprintf(out, "  weir checkpoints %s/%s\n", dir, names[i]);
		free(names[i]);
	}
	free(names);
}
