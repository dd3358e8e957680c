/*
 * listing.c - `weir checkpoints DIR`: a table of the checkpoints in a
 * directory, newest first, with what a restore would make of each. It only
 * reads: it takes no lock (a running job may own DIR) and creates nothing.
 */
#include "store.h"

#include <dirent.h>
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

/* Bytes of the *.state files in chk-<id>/, whatever _metadata says. */
static uint64_t state_bytes(const char *dir, uint64_t id)
{
	char *path = xasprintf("%s/chk-%" PRIu64, dir, id);
	DIR *d = opendir(path);
	struct dirent *de;
	uint64_t sum = 0;

	free(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat sb;
		if (n < 6 || strcmp(de->d_name + n - 6, ".state") != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
		        0 &&
		    S_ISREG(sb.st_mode))
			sum += (uint64_t)sb.st_size;
	}
	closedir(d);
	return sum;
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
			char *v = json_dumps(parts, JSON_COMPACT | JSON_ENCODE_ANY);
			char *piece = xasprintf("%s=%s", topic, v ? v : "?");
			append(&s, &len, piece);
			free(piece);
			free(v);
			continue;
		}
		json_object_foreach(parts, part, off) {
			char *v = json_dumps(off, JSON_COMPACT | JSON_ENCODE_ANY);
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
	char *meta_path = xasprintf("%s/chk-%" PRIu64 "/_metadata",
	                            ckpt_store_dir(st), id);
	struct ckpt_meta meta;
	char err[1024];
	struct stat sb;

	snprintf(r->id, sizeof(r->id), "%" PRIu64, id);
	snprintf(r->completed, sizeof(r->completed), "-");
	fmt_size(state_bytes(ckpt_store_dir(st), id), r->size, sizeof(r->size));
	if (stat(meta_path, &sb) < 0 && errno == ENOENT) {
		r->status = xstrdup("incomplete (no _metadata)");
		r->offsets = xstrdup("-");
		free(meta_path);
		return;
	}
	free(meta_path);
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

int ckpt_print_listing(const char *dir, FILE *out, char *errstr,
                       size_t errlen)
{
	int wid = 2, wcomp = 9, wsize = 4, wstat = 6;
	struct ckpt_store *st;
	struct row *rows;
	struct stat sb;
	uint64_t *ids;
	size_t n;

	if (stat(dir, &sb) < 0) {
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
	st = ckpt_store_open(dir, NULL, errstr, errlen);
	if (!st)
		return -1;
	if (ckpt_list_report(st, &ids, &n, print_stray, (void *)dir) < 0) {
		snprintf(errstr, errlen, "cannot list checkpoint directory %s: %s",
		         dir, strerror(errno));
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
