/*
 * savepoint.c - a store of one checkpoint directory named by its path (a
 * savepoint, or chk-<n> of any checkpoint directory), for `weir run
 * --from`, `weir state` and for writing savepoints; and the copy of a
 * completed checkpoint into such a directory.
 *
 * A savepoint is written as a checkpoint of the job's own directory whose
 * keyed state is in the task files (nothing in shared/), then copied file
 * by file into the directory the user named, _metadata last, so the copy
 * exists once its _metadata does, like any checkpoint. The job's own
 * chk-<n> stays a checkpoint like the others (retention takes it in turn);
 * the copy is outside checkpoint.dir and nothing of weir deletes it.
 */
#include "store_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Splits path into its parent and last component (trailing slashes
 * dropped); both malloc()ed. */
static void split_path(const char *path, char **parent, char **name)
{
	char *p = xstrdup(path), *slash;
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		*parent = xstrdup(".");
		*name = p;
		return;
	}
	*name = xstrdup(slash + 1);
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	*parent = p;
}

/* Whether the directory at path holds no entry: 1, 0, or -1 with a
 * message. */
static int dir_empty(const struct ckpt_io *io, const char *path, char *errstr,
                     size_t errlen)
{
	int fd =
	    io->open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	struct dirent *de;
	int empty = 1;
	DIR *d;

	if (fd < 0 || !(d = io->fdopendir(fd))) {
		ckpt_seterr_errno(errstr, errlen, errno, "cannot open %s",
		                  path);
		if (fd >= 0)
			io->close(fd);
		return -1;
	}
	while ((de = io->readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	io->closedir(d);
	return empty;
}

/* The id _metadata in path says; -1 with a message when it has none. */
static int peek_id(const struct ckpt_io *io, const char *path, uint64_t *id,
                   char *errstr, size_t errlen)
{
	char *file = xasprintf("%s/" CKPT_META_NAME, path);
	unsigned char *buf = NULL;
	json_t *root = NULL, *v;
	size_t len;
	int rc = -1;

	if (ckpt_io_read_file(io, file, file, CKPT_META_MAX, &buf, &len, errstr,
	                      errlen) < 0)
		goto out;
	root = json_loadb((const char *)buf, len, 0, NULL);
	v = json_object_get(root, "id");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > CKPT_ID_MAX) {
		ckpt_seterr(errstr, errlen,
		            "%s is damaged: it holds no checkpoint id", file);
		goto out;
	}
	*id = (uint64_t)json_integer_value(v);
	rc = 0;
out:
	json_decref(root);
	free(buf);
	free(file);
	return rc;
}

struct ckpt_store *ckpt_store_open_one(const char *path, bool create,
                                       const struct ckpt_io *io, uint64_t *id,
                                       char *errstr, size_t errlen)
{
	struct ckpt_store *st = xcalloc(1, sizeof(*st));
	struct stat sb;

	pthread_mutex_init(&st->refs_mu, NULL);
	ckpt_io_resolve(&st->io, io);
	st->lock_fd = -1;
	if (!path || !*path) {
		ckpt_seterr(errstr, errlen, "the directory name is empty");
		goto err;
	}
	split_path(path, &st->dir, &st->one);
	if (!strcmp(st->one, ".") || !strcmp(st->one, "..")) {
		ckpt_seterr(errstr, errlen,
		            "%s: name the directory itself, not . or ..", path);
		goto err;
	}
	if (create) {
		int empty;

		if (ckpt_make_dirs(&st->io, path, errstr, errlen) < 0)
			goto err;
		empty = dir_empty(&st->io, path, errstr, errlen);
		if (empty < 0)
			goto err;
		if (!empty) {
			ckpt_seterr(errstr, errlen,
			            "%s exists and is not empty: a savepoint "
			            "goes into a new or empty directory. Name "
			            "another one",
			            path);
			goto err;
		}
		return st;
	}
	if (st->io.fstatat(AT_FDCWD, path, &sb, 0) < 0) {
		ckpt_seterr_errno(errstr, errlen, errno, "%s", path);
		goto err;
	}
	if (!S_ISDIR(sb.st_mode)) {
		ckpt_seterr(errstr, errlen,
		            "%s is %s: name a savepoint directory or the "
		            "chk-<n> directory of a checkpoint",
		            path, ckpt_file_kind(sb.st_mode));
		goto err;
	}
	if (peek_id(&st->io, path, id, errstr, errlen) < 0)
		goto err;
	return st;
err:
	ckpt_store_close(st);
	return NULL;
}

void ckpt_one_hint(const char *dir, const struct ckpt_io *io, FILE *out)
{
	char err[512];
	uint64_t id;
	struct ckpt_store *st =
	    ckpt_store_open_one(dir, false, io, &id, err, sizeof(err));
	struct ckpt_meta m;

	if (!st)
		return;
	if (ckpt_read_meta(st, id, &m, err, sizeof(err)) == 0) {
		fprintf(out,
		        "%s is itself checkpoint %llu%s: `weir state %s` "
		        "prints its keyed state, `weir run JOB.json --from "
		        "%s` starts from it\n",
		        dir, (unsigned long long)id,
		        m.savepoint ? " (a savepoint)" : "", dir, dir);
		ckpt_meta_clear(&m);
	}
	ckpt_store_close(st);
}

const char *ckpt_store_one(const struct ckpt_store *st)
{
	return st->one;
}

/* A file being copied, read in chunks of COPY_CHUNK. */
#define COPY_CHUNK ((size_t)1 << 20)

struct copy_src {
	const struct ckpt_io *io;
	int fd;
	const char *rel;
	uint64_t off, size;
	unsigned char *buf;
};

static int next_chunk(void *arg, const void **p, size_t *len, char *errstr,
                      size_t errlen)
{
	struct copy_src *c = arg;
	size_t n = c->size - c->off < COPY_CHUNK ? (size_t)(c->size - c->off)
	                                         : COPY_CHUNK;

	*p = c->buf;
	*len = n;
	if (n && ckpt_io_read_at(c->io, c->fd, c->rel, c->buf, n, c->off,
	                         errstr, errlen) < 0)
		return -1;
	c->off += n;
	return 0;
}

/* Copies the file f of checkpoint directory src_rel of from into to. */
static int copy_file(struct ckpt_store *from, const char *src_rel,
                     const struct ckpt_file_info *f, struct ckpt_store *to,
                     uint64_t id, char *errstr, size_t errlen)
{
	char *rel = xasprintf("%s/%s", src_rel, f->name);
	char *path = xasprintf("%s/%s", from->dir, rel);
	struct copy_src c = {.io = &from->io, .rel = rel, .size = f->size};
	uint64_t size;
	int rc = -1;

	/* Of the size _metadata says, checked before a byte is copied. */
	c.fd = ckpt_io_open_regular(&from->io, path, rel, f->size, &f->size,
	                            &size, errstr, errlen);
	if (c.fd >= 0) {
		c.buf = xmalloc(COPY_CHUNK);
		rc = ckpt_write_raw(to, id, f->name, next_chunk, &c, errstr,
		                    errlen);
		free(c.buf);
		from->io.close(c.fd);
	}
	free(path);
	free(rel);
	return rc;
}

int ckpt_copy(struct ckpt_store *from, const struct ckpt_meta *meta,
              struct ckpt_store *to, char *errstr, size_t errlen)
{
	char *src = ckpt_chk_rel(from, meta->id);
	int rc = -1;

	for (size_t i = 0; i < meta->ntasks; i++) {
		if (meta->tasks[i].chain.n) {
			ckpt_seterr(errstr, errlen,
			            "%s/%s: its keyed state is in %s/, so a "
			            "copy would not be self-contained",
			            src, meta->tasks[i].file.name,
			            CKPT_SHARED_DIR);
			goto out;
		}
		if (copy_file(from, src, &meta->tasks[i].file, to, meta->id,
		              errstr, errlen) < 0)
			goto out;
	}
	rc = ckpt_write_meta(to, meta, errstr, errlen);
out:
	free(src);
	return rc;
}
