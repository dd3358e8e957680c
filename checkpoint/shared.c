/*
 * shared.c - garbage collection of DIR/shared (see ckpt_collect_shared in
 * store.h). The files there are named by the chains in _metadata, so a
 * file is needed exactly when some checkpoint that can still be restored
 * lists it, or a chain being built holds it (the live set, which the
 * persister keeps). Everything is done through a descriptor of shared/,
 * opened without following a link, and only names weir gives its chain
 * files are removed: whatever else someone put there is left alone.
 */
#include "store_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

struct names {
	char **v;
	size_t n, cap;
};

static void names_add(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = xstrdup(name);
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_name(char *const *v, size_t n, const char *name)
{
	return n && bsearch(&name, v, n, sizeof(*v), cmp_name) != NULL;
}

/* Whether name is one weir gives a chain file, "<task>.b<id>" or
 * ".d<id>", or its temp file (*tmp set). */
static bool chain_file_like(const char *name, bool *tmp)
{
	size_t n = strlen(name);
	const char *dot;

	*tmp = n > 4 && !strcmp(name + n - 4, ".tmp");
	if (*tmp)
		n -= 4;
	for (dot = name + n; dot > name && dot[-1] != '.'; dot--)
		;
	if (dot == name || (*dot != 'b' && *dot != 'd'))
		return false;
	return n > (size_t)(dot - name) + 1 &&
	       strspn(dot + 1, "0123456789") == n - (size_t)(dot - name) - 1;
}

/* Logs that `what` DIR<sub> failed (errno), for the caller's warning;
 * returns -1. */
static int said_failed(struct ckpt_store *st, const char *what, const char *sub)
{
	char eb[128];

	log_warn("checkpoint", "%s %s%s: %s", what, st->dir, sub,
	         strerror_r(errno, eb, sizeof(eb)));
	return -1;
}

static void refs_free(struct shared_refs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->names);
}

void ckpt_shared_refs_clear(struct ckpt_store *st)
{
	for (size_t i = 0; i < st->nrefs; i++)
		refs_free(&st->refs[i]);
	free(st->refs);
	st->refs = NULL;
	st->nrefs = 0;
}

/* The cached entry of checkpoint id, or NULL. */
static struct shared_refs *refs_find(struct ckpt_store *st, uint64_t id)
{
	for (size_t i = 0; i < st->nrefs; i++)
		if (st->refs[i].id == id)
			return &st->refs[i];
	return NULL;
}

/* What checkpoint id's _metadata lists, read now: 1. 0 when it is missing
 * or damaged (not a regular file, too large, not decodable): the
 * checkpoint cannot be restored, and its files go unless another
 * checkpoint lists them. -1 when it could not be read just now (too many
 * open files, an I/O error): the checkpoint may well be restorable, and
 * nothing may be removed on its account. */
static int refs_read(struct ckpt_store *st, uint64_t id,
                     struct shared_refs *out)
{
	char *rel = xasprintf("chk-%" PRIu64 "/" CKPT_META_NAME, id);
	char *path = xasprintf("%s/%s", st->dir, rel);
	unsigned char *buf = NULL;
	char err[512], eb[128];
	struct ckpt_meta m;
	struct names v = {0};
	struct stat sb;
	size_t len;
	int rc = -1;

	if (st->io.fstatat(AT_FDCWD, path, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			log_warn("checkpoint",
			         "%s/%s: cannot stat: %s; the files in %s/%s "
			         "are kept until it can be read",
			         st->dir, rel,
			         strerror_r(errno, eb, sizeof(eb)), st->dir,
			         CKPT_SHARED_DIR);
	} else if (!S_ISREG(sb.st_mode) ||
	           (uint64_t)sb.st_size > CKPT_META_MAX) {
		/* What ckpt_read_meta refuses as damaged. */
		rc = 0;
	} else if (ckpt_io_read_file(&st->io, path, rel, CKPT_META_MAX, &buf,
	                             &len, err, sizeof(err)) < 0) {
		log_warn("checkpoint",
		         "%s/%s; the files in %s/%s are kept until it can be "
		         "read",
		         st->dir, err, st->dir, CKPT_SHARED_DIR);
	} else if (ckpt_meta_decode(rel, id, buf, len, &m, err, sizeof(err)) <
	           0) {
		log_debug("checkpoint", "shared files: %s", err);
		rc = 0;
	} else {
		for (size_t t = 0; t < m.ntasks; t++)
			for (size_t j = 0; j < m.tasks[t].chain.n; j++)
				names_add(&v, m.tasks[t].chain.f[j].file.name);
		ckpt_meta_clear(&m);
		*out = (struct shared_refs){.id = id, .names = v.v, .n = v.n};
		rc = 1;
	}
	free(buf);
	free(rel);
	free(path);
	return rc;
}

/* The chain files every checkpoint with a readable _metadata lists, from
 * the cache, which is brought up to date: entries of checkpoints gone are
 * dropped, new ones read. -1 when the checkpoints cannot be listed or a
 * _metadata read. */
static int referenced(struct ckpt_store *st, struct names *out)
{
	struct shared_refs *keep;
	size_t nkeep = 0;
	uint64_t *ids;
	size_t n;
	int rc = 0;

	if (ckpt_list(st, &ids, &n) < 0)
		return said_failed(st, "listing the checkpoints of", "");
	keep = xcalloc(n + 1, sizeof(*keep));
	for (size_t i = 0; i < n; i++) {
		struct shared_refs *r = refs_find(st, ids[i]);
		int got;

		if (r) {
			keep[nkeep++] = *r;
			r->id = 0; /* moved */
		} else if ((got = refs_read(st, ids[i], &keep[nkeep])) > 0) {
			nkeep++;
		} else if (got < 0) {
			rc = -1;
		}
	}
	for (size_t i = 0; i < st->nrefs; i++)
		if (st->refs[i].id)
			refs_free(&st->refs[i]);
	free(st->refs);
	st->refs = keep;
	st->nrefs = nkeep;
	free(ids);
	for (size_t i = 0; i < nkeep; i++)
		for (size_t j = 0; j < keep[i].n; j++)
			names_add(out, keep[i].names[j]);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_name);
	return rc;
}

int ckpt_collect_shared(struct ckpt_store *st, char *const *live, size_t nlive,
                        bool all)
{
	const struct ckpt_io *io = &st->io;
	struct names refs = {0};
	struct dirent *de;
	int top, fd, rc, removed = 0;
	DIR *d;

	top = io->open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (top < 0)
		return said_failed(st, "opening", "");
	fd = io->openat(top, CKPT_SHARED_DIR,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	io->close(top);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return said_failed(st, "opening", "/" CKPT_SHARED_DIR);
	/* Listed after the directory was opened, and the live set taken
	 * before: a file that appears meanwhile is in one of them. */
	pthread_mutex_lock(&st->refs_mu);
	rc = referenced(st, &refs);
	pthread_mutex_unlock(&st->refs_mu);
	if (rc < 0) {
		io->close(fd);
		names_free(&refs);
		return -1;
	}
	if (!(d = io->fdopendir(fd))) {
		said_failed(st, "listing", "/" CKPT_SHARED_DIR);
		io->close(fd);
		names_free(&refs);
		return -1;
	}
	while ((de = io->readdir(d))) {
		bool tmp;

		if (!chain_file_like(de->d_name, &tmp) || (tmp && !all))
			continue;
		if (!tmp && (has_name(refs.v, refs.n, de->d_name) ||
		             has_name(live, nlive, de->d_name)))
			continue;
		if (io->unlinkat(dirfd(d), de->d_name, 0) == 0) {
			removed++;
			log_debug("checkpoint",
			          "removed %s/%s/%s: no "
			          "checkpoint needs it",
			          st->dir, CKPT_SHARED_DIR, de->d_name);
		} else if (errno != ENOENT) {
			char eb[128];

			log_warn("checkpoint", "removing %s/%s/%s: %s", st->dir,
			         CKPT_SHARED_DIR, de->d_name,
			         strerror_r(errno, eb, sizeof(eb)));
		}
	}
	io->closedir(d);
	names_free(&refs);
	return removed;
}
