/*
 * listing.c - `weir checkpoints DIR`: a table of the checkpoints in a
 * directory, newest first, with what a restore would make of each. It only
 * reads: it takes no lock (a running job may own DIR) and creates nothing.
 * Every file system call goes through the store's struct ckpt_io.
 *
 * Sizes: checkpoints share the chain files of incremental keyed state, so
 * each row has two. OWN is what was first written for that checkpoint: the
 * files in its chk-<id>/ and the chain files that the next older
 * checkpoint whose _metadata reads does not list. FULL is what a restore
 * of it reads: its chk-<id>/ files and every chain file it lists. Without
 * chains the two are equal. Sizes are those of the files on disk.
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

#include "instance_dir.h"
#include "util.h"

struct row {
	char id[24];
	char completed[40];
	char own[32];
	char full[32];
	char *status;
	char *offsets;
};

/* The chain files a checkpoint lists, sorted, for the next newer one. */
struct listed {
	char **v;
	size_t n;
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

/* Bytes of the *.state files and _metadata in chk-<id>/, whatever
 * _metadata says. Returns 0, or -1 with errno set when chk-<id>/ cannot
 * be listed. */
static int chk_bytes(struct ckpt_store *st, uint64_t id, uint64_t *sum)
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
		if ((n < 6 || strcmp(de->d_name + n - 6, ".state") != 0) &&
		    strcmp(de->d_name, CKPT_META_NAME) != 0)
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

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void listed_clear(struct listed *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Bytes of shared/<name> into *size: 0 when it is missing or no regular
 * file (the status says why). Returns 0, or -1 with errno set when it
 * cannot be looked at. */
static int chain_file_bytes(struct ckpt_store *st, const char *name,
                            uint64_t *size)
{
	const struct ckpt_io *io = ckpt_store_io(st);
	char *path =
	    xasprintf("%s/" CKPT_SHARED_DIR "/%s", ckpt_store_dir(st), name);
	struct stat sb;
	int rc = io->fstatat(AT_FDCWD, path, &sb, AT_SYMLINK_NOFOLLOW);

	free(path);
	*size = 0;
	if (rc < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	if (S_ISREG(sb.st_mode))
		*size = (uint64_t)sb.st_size;
	return 0;
}

/* Adds the chain files meta lists to *own (those prev does not list) and
 * *full, and replaces prev with them. False when a file's size could not
 * be read (said on stderr). */
static bool chain_sizes(struct ckpt_store *st, const struct ckpt_meta *meta,
                        struct listed *prev, uint64_t *own, uint64_t *full)
{
	struct listed now = {0};
	bool ok = true;
	size_t cap = 0;

	for (size_t t = 0; t < meta->ntasks; t++)
		cap += meta->tasks[t].chain.n;
	now.v = xcalloc(cap + 1, sizeof(*now.v));
	for (size_t t = 0; t < meta->ntasks; t++) {
		const struct ckpt_chain *c = &meta->tasks[t].chain;

		for (size_t j = 0; j < c->n; j++) {
			const char *name = c->f[j].file.name;
			uint64_t size;

			if (chain_file_bytes(st, name, &size) < 0 && ok) {
				fprintf(
				    stderr,
				    "weir: cannot look at %s/" CKPT_SHARED_DIR
				    "/%s: %s; the sizes of checkpoint "
				    "%" PRIu64 " are shown as ?\n",
				    ckpt_store_dir(st), name, strerror(errno),
				    meta->id);
				ok = false;
			}
			*full += size;
			if (!prev->n || !bsearch(&name, prev->v, prev->n,
			                         sizeof(*prev->v), cmp_name))
				*own += size;
			now.v[now.n++] = xstrdup(name);
		}
	}
	if (now.n > 1)
		qsort(now.v, now.n, sizeof(*now.v), cmp_name);
	listed_clear(prev);
	*prev = now;
	return ok;
}

/* Fills r for checkpoint id. prev holds the chain files of the next older
 * checkpoint whose _metadata reads; this one's replace them when its
 * _metadata reads. */
static void fill_row(struct ckpt_store *st, uint64_t id, struct listed *prev,
                     struct row *r)
{
	struct ckpt_meta meta;
	char err[1024];
	uint64_t bytes, own = 0, full = 0;
	bool sized = true;

	snprintf(r->id, sizeof(r->id), "%" PRIu64, id);
	snprintf(r->completed, sizeof(r->completed), "-");
	snprintf(r->full, sizeof(r->full), "-");
	if (chk_bytes(st, id, &bytes) == 0) {
		fmt_size(bytes, r->own, sizeof(r->own));
	} else {
		/* On stderr, like a stray entry: the table stays parsable. */
		fprintf(stderr,
		        "weir: cannot list %s/chk-%" PRIu64 " to sum its "
		        "files: %s; its sizes are shown as ?\n",
		        ckpt_store_dir(st), id, strerror(errno));
		snprintf(r->own, sizeof(r->own), "?");
		sized = false;
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
			r->status =
			    xstrdup(meta.savepoint ? "complete (savepoint)"
			                           : "complete");
	} else {
		r->status = xasprintf("damaged: %s", err);
		/* The state files may be what is broken: show what we can. */
		if (ckpt_read_meta(st, id, &meta, err, sizeof(err)) < 0) {
			r->offsets = xstrdup("-");
			return;
		}
	}
	if (!chain_sizes(st, &meta, prev, &own, &full))
		sized = false;
	if (sized) {
		fmt_size(bytes + own, r->own, sizeof(r->own));
		fmt_size(bytes + full, r->full, sizeof(r->full));
	} else {
		snprintf(r->own, sizeof(r->own), "?");
		snprintf(r->full, sizeof(r->full), "?");
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
	int wid = 2, wcomp = 9, wown = 3, wfull = 4, wstat = 6;
	struct listed prev = {0};
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
		ckpt_instance_hint(dir, io, out);
		ckpt_one_hint(dir, io, out);
		ckpt_store_close(st);
		return 0;
	}
	/* Oldest first, so that each row knows what the one before listed;
	 * printed newest first. */
	rows = xcalloc(n, sizeof(*rows));
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[n - 1 - i];
		fill_row(st, ids[i], &prev, r);
		wid = width(wid, r->id);
		wcomp = width(wcomp, r->completed);
		wown = width(wown, r->own);
		wfull = width(wfull, r->full);
		wstat = width(wstat, r->status);
	}
	listed_clear(&prev);
	fprintf(out, "%-*s  %-*s  %*s  %*s  %-*s  %s\n", wid, "ID", wcomp,
	        "COMPLETED", wown, "OWN", wfull, "FULL", wstat, "STATUS",
	        "OFFSETS");
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[i];
		fprintf(out, "%-*s  %-*s  %*s  %*s  %-*s  %s\n", wid, r->id,
		        wcomp, r->completed, wown, r->own, wfull, r->full,
		        wstat, r->status, r->offsets);
		free(r->status);
		free(r->offsets);
	}
	free(rows);
	free(ids);
	ckpt_store_close(st);
	return 0;
}
