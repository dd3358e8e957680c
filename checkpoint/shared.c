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

/* What checkpoint id's _metadata lists, read now; false when it cannot be
 * read (then it cannot be restored, and its files go unless another
 * checkpoint lists them). */
static bool refs_read(struct ckpt_store *st, uint64_t id,
                      struct shared_refs *out)
{
	struct ckpt_meta m;
	struct names v = {0};
	char err[512];

	if (ckpt_read_meta(st, id, &m, err, sizeof(err)) < 0) {
		log_debug("checkpoint", "shared files: %s", err);
		return false;
	}
	for (size_t t = 0; t < m.ntasks; t++)
		for (size_t j = 0; j < m.tasks[t].chain.n; j++)
			names_add(&v, m.tasks[t].chain.f[j].file.name);
	ckpt_meta_clear(&m);
	*out = (struct shared_refs){.id = id, .names = v.v, .n = v.n};
	return true;
}

/* The chain files every checkpoint with a readable _metadata lists, from
 * the cache, which is brought up to date: entries of checkpoints gone are
 * dropped, new ones read. */
static int referenced(struct ckpt_store *st, struct names *out)
{
	struct shared_refs *keep;
	size_t nkeep = 0;
	uint64_t *ids;
	size_t n;

	if (ckpt_list(st, &ids, &n) < 0)
		return -1;
	keep = xcalloc(n + 1, sizeof(*keep));
	for (size_t i = 0; i < n; i++) {
		struct shared_refs *r = refs_find(st, ids[i]);

		if (r) {
			keep[nkeep++] = *r;
			r->id = 0; /* moved */
		} else if (ckpt_has_meta(st, ids[i]) &&
		           refs_read(st, ids[i], &keep[nkeep])) {
			nkeep++;
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
	return 0;
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
		return -1;
	fd = io->openat(top, CKPT_SHARED_DIR,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	io->close(top);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
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
