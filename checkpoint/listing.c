/*
 * listing.c - `weir checkpoints DIR`: a table of the checkpoints in a
 * directory, newest first, with what a restore would make of each. It only
 * reads: it takes no lock (a running job may own DIR) and creates nothing.
 * Every file system call goes through the store's struct ckpt_io.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

struct row {
	char id[24];
	char completed[40];
	char size[32];
	char *status;
	char *offsets;
};

static void fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* Bytes of the *.state files in chk-<id>/, whatever _metadata says.
 * Returns 0, or -1 with errno set when chk-<id>/ cannot be listed. */
static int state_bytes(struct ckpt_store *st, uint64_t id, uint64_t *sum)
{
	const struct ckpt_io *io = ckpt_store_io(st);
	char *path = xasprintf("%s/chk-%" PRIu64, ckpt_store_dir(st), id);
	int fd =
	    io->open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	struct dirent *de;
	int e = 0;
	DIR *d;

	free(path);
	*sum = 0;
	if (fd < 0)
		return -1;
	if (!(d = io->fdopendir(fd))) {
		e = errno;
		io->close(fd);
		errno = e;
		return -1;
	}
	for (;;) {
		size_t n;
		struct stat sb;
		errno = 0;
		if (!(de = io->readdir(d))) {
			e = errno;
			break;
		}
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 6, ".state") != 0)
			continue;
		if (io->fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			e = errno;
			break;
		}
		if (S_ISREG(sb.st_mode))
			*sum += (uint64_t)sb.st_size;
	}
	io->closedir(d);
	errno = e;
	return e ? -1 : 0;
}

static void append(char **s, size_t *len, const char *piece)
{
	size_t n = strlen(piece);

	*s = xrealloc(*s, *len + n + 2);
	if (*len)
		(*s)[(*len)++] = ' ';
	memcpy(*s + *len, piece, n + 1);
	*len += n;
}

/* {"logs":{"0":120,"1":98}} -> "logs[0]=120 logs[1]=98"; "-" if empty. */
static char *fmt_offsets(const char *json)
{
	json_t *root = json ? json_loads(json, 0, NULL) : NULL;
	const char *topic, *part;
	json_t *parts, *off;
	char *s = NULL;
	size_t len = 0;

	json_object_foreach(root, topic, parts) {
		if (!json_is_object(parts)) {
			char *v =
			    json_dumps(parts, JSON_COMPACT | JSON_ENCODE_ANY);
			char *piece = xasprintf("%s=%s", topic, v ? v : "?");
			append(&s, &len, piece);
			free(piece);
			free(v);
			continue;
		}
		json_object_foreach(parts, part, off) {
			char *v =
			    json_dumps(off, JSON_COMPACT | JSON_ENCODE_ANY);
			char *piece =
			    xasprintf("%s[%s]=%s", topic, part, v ? v : "?");
			append(&s, &len, piece);
			free(piece);
			free(v);
		}
	}
	json_decref(root);
	return s ? s : xstrdup("-");
}

static void fill_row(struct ckpt_store *st, uint64_t id, struct row *r)
{
	struct ckpt_meta meta;
	char err[1024];
	uint64_t bytes;

	snprintf(r->id, sizeof(r->id), "%" PRIu64, id);
	snprintf(r->completed, sizeof(r->completed), "-");
	if (state_bytes(st, id, &bytes) == 0) {
		fmt_size(bytes, r->size, sizeof(r->size));
	} else {
		/* On stderr, like a stray entry: the table stays parsable. */
		fprintf(stderr,
		        "weir: cannot list %s/chk-%" PRIu64 " to sum its "
		        "state files: %s; its size is shown as ?\n",
		        ckpt_store_dir(st), id, strerror(errno));
		snprintf(r->size, sizeof(r->size), "?");
	}
	if (!ckpt_has_meta(st, id)) {
		r->status = xstrdup("incomplete (no _metadata)");
		r->offsets = xstrdup("-");
		return;
	}
	if (ckpt_verify(st, id, &meta, err, sizeof(err)) == 0) {
		/* Without the job's graph this is all that can be judged:
		 * every checkpoint holds at least its sources' positions. */
		if (meta.ntasks == 0)
			r->status = xasprintf(
			    "damaged: chk-%" PRIu64 "/_metadata: lists no "
			    "task state, not even the sources' positions: it "
			    "cannot be restored",
			    id);
		else
			r->status = xstrdup("complete");
	} else {
		r->status = xasprintf("damaged: %s", err);
		/* The state files may be what is broken: show what we can. */
		if (ckpt_read_meta(st, id, &meta, err, sizeof(err)) < 0) {
			r->offsets = xstrdup("-");
			return;
		}
	}
	fmt_wall_ms(meta.completed_ms, r->completed, sizeof(r->completed));
	r->offsets = fmt_offsets(meta.offsets_json);
	ckpt_meta_clear(&meta);
}

/* An entry named chk-<n> that is no checkpoint: said on stderr, so that
 * the table stays what scripts parse. */
static void print_stray(void *arg, const char *name, uint64_t id,
                        const char *why)
{
	(void)id;
	fprintf(stderr, "weir: %s/%s is not a checkpoint: %s\n",
	        (const char *)arg, name, why);
}

static int width(int w, const char *s)
{
	int n = (int)strlen(s);

	return n > w ? n : w;
}

int ckpt_print_listing(const char *dir, FILE *out, char *errstr, size_t errlen)
{
	return ckpt_print_listing_io(dir, NULL, out, errstr, errlen);
}

int ckpt_print_listing_io(const char *dir, const struct ckpt_io *io, FILE *out,
                          char *errstr, size_t errlen)
{
	int wid = 2, wcomp = 9, wsize = 4, wstat = 6;
	struct ckpt_store *st;
	struct ckpt_io fs;
	struct row *rows;
	struct stat sb;
	uint64_t *ids;
	size_t n;

	ckpt_io_resolve(&fs, io);
	if (fs.fstatat(AT_FDCWD, dir, &sb, 0) < 0) {
		if (errno == ENOENT)
			snprintf(errstr, errlen,
			         "no such checkpoint directory: %s", dir);
		else
			snprintf(errstr, errlen,
			         "cannot open checkpoint directory %s: %s", dir,
			         strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(errstr, errlen, "%s is not a directory", dir);
		return -1;
	}
	/* The directory exists, so opening the store creates nothing. */
	st = ckpt_store_open(dir, io, errstr, errlen);
	if (!st)
		return -1;
	if (ckpt_list_report(st, &ids, &n, print_stray, (void *)dir) < 0) {
		snprintf(errstr, errlen,
		         "cannot list checkpoint directory %s: %s", dir,
		         strerror(errno));
		ckpt_store_close(st);
		return -1;
	}
	if (n == 0) {
		fprintf(out, "no checkpoints in %s\n", dir);
		ckpt_store_close(st);
		return 0;
	}
	rows = xcalloc(n, sizeof(*rows));
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[i];
		fill_row(st, ids[n - 1 - i], r);
		wid = width(wid, r->id);
		wcomp = width(wcomp, r->completed);
		wsize = width(wsize, r->size);
		wstat = width(wstat, r->status);
	}
	fprintf(out, "%-*s  %-*s  %*s  %-*s  %s\n", wid, "ID", wcomp,
	        "COMPLETED", wsize, "SIZE", wstat, "STATUS", "OFFSETS");
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[i];
		fprintf(out, "%-*s  %-*s  %*s  %-*s  %s\n", wid, r->id, wcomp,
		        r->completed, wsize, r->size, wstat, r->status,
		        r->offsets);
		free(r->status);
		free(r->offsets);
	}
	free(rows);
	free(ids);
	ckpt_store_close(st);
	return 0;
}
