/*
 * persister.c - the snapshot persister (see persister.h). Work is a FIFO of
 * writes and discards. A discard marks the checkpoint aborted, so a task
 * file for it that is still queued, or arrives later from a slow task, is
 * dropped instead of re-creating the directory the discard removed.
 *
 * A write with a view (SNAP_INLINE, SNAP_BASE) first has the view
 * serialised, and released at once, before compressing: the task's
 * captured view is held no longer than it takes to serialise it. A
 * dropped write releases its view unserialised.
 *
 * Chains (incremental keyed state). Per keyed task, chains[task] is the
 * list of files in DIR/shared that its next checkpoint builds on: a base,
 * then the deltas written since, in order. A SNAP_BASE write starts it
 * anew; a SNAP_DELTA write appends its delta, even when its checkpoint was
 * aborted (the task forgot those changes at the barrier, so the chain
 * needs them); every acknowledgement carries a copy of the chain for
 * _metadata. A chain file that cannot be written breaks the chain: the
 * task is told (task_chain.need_base) and deltas are refused until its
 * next base. A SNAP_DELTA with materialize hands its view to the
 * materializer thread, which writes it as a base of that checkpoint and
 * then, unless the chain was started anew meanwhile, makes it the chain's
 * base, dropping the deltas it holds. The chain files being written are
 * in `writing`, so that collecting garbage in shared/ (under the same
 * lock) never takes a file that is about to be listed.
 */
#include "persister.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator.h"
#include "flow.h"
#include "log.h"
#include "store.h"
#include "task.h"
#include "util.h"

struct work {
	struct work *next;
	bool discard;
	uint64_t id;
	int task;
	char name[64];
	uint32_t state_version;
	char *buf;
	size_t len;
	char *offsets;
	struct snap_tail tail;
	uint64_t gen; /* materialize: the chain's generation it builds on */
};

/* A keyed task's chain; under chain_mu. */
struct chain {
	struct ckpt_chain files; /* base first; n 0: none yet */
	bool broken;             /* a file failed: no deltas until a base */
	uint64_t gen;            /* a base started it anew: +1 */
	/* Chain files being written (by the persister, the materializer),
	 * "" when none. */
	char writing[2][sizeof(((struct ckpt_file_info *)0)->name)];
};

enum { BY_PERSISTER, BY_MATERIALIZER };

/* A FIFO of work for one thread. */
struct queue {
	struct work *head, *tail;
};

struct ckpt_persister {
	struct ckpt_store *st;
	struct coord *coord;
	struct flow *flow;
	pthread_t thread, mat_thread;
	bool mat_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct queue q, mq; /* the persister's, the materializer's */
	bool quit;
	uint64_t *aborted; /* ids discarded, under mu */
	size_t naborted, capaborted;
	pthread_mutex_t chain_mu;
	struct chain *chains; /* per task */
};

static void queue_push(struct queue *q, struct work *wk)
{
	if (q->tail)
		q->tail->next = wk;
	else
		q->head = wk;
	q->tail = wk;
}

static struct work *queue_pop(struct queue *q)
{
	struct work *wk = q->head;

	if (wk) {
		q->head = wk->next;
		if (!q->head)
			q->tail = NULL;
		wk->next = NULL;
	}
	return wk;
}

static bool is_aborted(struct ckpt_persister *w, uint64_t id)
{
	for (size_t i = 0; i < w->naborted; i++)
		if (w->aborted[i] == id)
			return true;
	return false;
}

static void release_tail(struct work *wk)
{
	if (wk->tail.release)
		wk->tail.release(wk->tail.arg);
	wk->tail.release = NULL;
}

static void work_free(struct work *wk)
{
	release_tail(wk);
	free(wk->tail.delta);
	free(wk->buf);
	free(wk->offsets);
	free(wk);
}

/* Serialises the view into ww and releases it. Returns 0, or -1 with a
 * message. */
static int fill_view(struct work *wk, struct weir_writer *ww, char *err,
                     size_t errlen)
{
	int64_t t0 = now_mono_us();
	int rc = wk->tail.fill(wk->tail.arg, ww, err, errlen);

	release_tail(wk);
	log_debug("persister",
	          "checkpoint %llu: %s serialised, %zu bytes, %lld us",
	          (unsigned long long)wk->id, wk->name, ww->len,
	          (long long)(now_mono_us() - t0));
	return rc;
}

/* --- chains ---------------------------------------------------------------- */

static struct task *task_of(struct ckpt_persister *w, const struct work *wk)
{
	return w->flow->tasks[wk->task];
}

/* Tells the task what its chain weighs now. Under chain_mu. */
static void publish_sizes(struct ckpt_persister *w, int task)
{
	const struct ckpt_chain *c = &w->chains[task].files;
	struct task_chain *tc = &w->flow->tasks[task]->chain;
	uint64_t deltas = 0;

	for (size_t i = 1; i < c->n; i++)
		deltas += c->f[i].file.raw;
	atomic_store(&tc->base_raw, c->n ? c->f[0].file.raw : 0);
	atomic_store(&tc->delta_raw, deltas);
	atomic_store(&tc->deltas, c->n ? c->n - 1 : 0);
}

/* The chain cannot go on: the task's next checkpoint writes a base. */
static void break_chain(struct ckpt_persister *w, int task)
{
	pthread_mutex_lock(&w->chain_mu);
	w->chains[task].broken = true;
	pthread_mutex_unlock(&w->chain_mu);
	atomic_store(&w->flow->tasks[task]->chain.need_base, true);
}

static void chain_append(struct ckpt_chain *c, const struct ckpt_chain_file *f)
{
	c->f = xrealloc(c->f, (c->n + 1) * sizeof(*c->f));
	c->f[c->n++] = *f;
}

/* Writes a chain file of wk's task, named in `writing` (slot by) while it
 * is written. */
static int write_chain_file(struct ckpt_persister *w, const struct work *wk,
                            int by, bool base, const void *p, size_t len,
                            struct ckpt_chain_file *out, char *err,
                            size_t errlen)
{
	struct chain *c = &w->chains[wk->task];
	int64_t t0 = now_mono_us();
	int rc;

	pthread_mutex_lock(&w->chain_mu);
	ckpt_chain_file_name(c->writing[by], sizeof(c->writing[by]), wk->name,
	                     base, wk->id);
	pthread_mutex_unlock(&w->chain_mu);
	rc = ckpt_write_chain_file(w->st, wk->name, base, wk->id, p, len, out,
	                           err, errlen);
	if (rc < 0)
		ckpt_write_hint(w->st, err, errlen);
	if (rc == 0)
		log_debug(by == BY_PERSISTER ? "persister" : "materializer",
		          "checkpoint %llu: %s %s written, %zu bytes raw, "
		          "%llu on disk, %lld us",
		          (unsigned long long)wk->id, wk->name,
		          base ? "base" : "delta", len,
		          (unsigned long long)out->file.size,
		          (long long)(now_mono_us() - t0));
	return rc;
}

/* SNAP_BASE: the chain starts again with this checkpoint's base. */
static int write_base(struct ckpt_persister *w, struct work *wk, char *err,
                      size_t errlen)
{
	struct weir_writer ww = {0};
	struct ckpt_chain_file f;
	struct chain *c = &w->chains[wk->task];
	int rc = fill_view(wk, &ww, err, errlen);

	if (rc == 0)
		rc = write_chain_file(w, wk, BY_PERSISTER, true, ww.p, ww.len,
		                      &f, err, errlen);
	free(ww.p);
	pthread_mutex_lock(&w->chain_mu);
	c->writing[BY_PERSISTER][0] = '\0';
	if (rc == 0) {
		ckpt_chain_clear(&c->files);
		chain_append(&c->files, &f);
		c->broken = false;
		c->gen++;
		publish_sizes(w, wk->task);
	}
	pthread_mutex_unlock(&w->chain_mu);
	if (rc < 0)
		break_chain(w, wk->task);
	return rc;
}

static void materialize_later(struct ckpt_persister *w, struct work *wk);

/* SNAP_DELTA: appends the delta (none when no key changed) to the chain,
 * and passes the view on to the materializer when there is one. */
static int write_delta(struct ckpt_persister *w, struct work *wk, char *err,
                       size_t errlen)
{
	struct chain *c = &w->chains[wk->task];
	struct ckpt_chain_file f;
	bool usable;
	int rc = 0;

	pthread_mutex_lock(&w->chain_mu);
	usable = !c->broken && c->files.n > 0;
	wk->gen = c->gen;
	pthread_mutex_unlock(&w->chain_mu);
	if (!usable) {
		snprintf(err, errlen,
		         "its keyed state has no base to add changes to (an "
		         "earlier checkpoint's file could not be written); "
		         "the next checkpoint writes a full base");
		atomic_store(&task_of(w, wk)->chain.need_base, true);
		rc = -1;
	} else if (wk->tail.delta) {
		rc =
		    write_chain_file(w, wk, BY_PERSISTER, false, wk->tail.delta,
		                     wk->tail.delta_len, &f, err, errlen);
		pthread_mutex_lock(&w->chain_mu);
		c->writing[BY_PERSISTER][0] = '\0';
		if (rc == 0) {
			chain_append(&c->files, &f);
			publish_sizes(w, wk->task);
		}
		pthread_mutex_unlock(&w->chain_mu);
		if (rc < 0)
			break_chain(w, wk->task);
	}
	if (wk->tail.materialize) {
		if (rc == 0) {
			materialize_later(w, wk);
		} else {
			release_tail(wk);
			atomic_store(&task_of(w, wk)->chain.materializing,
			             false);
		}
	}
	return rc;
}

/* Writes wk: its keyed state's part (a chain file, or the view appended
 * to its bytes), then, unless its checkpoint was aborted, its task file,
 * and acknowledges it. */
static void do_write(struct ckpt_persister *w, struct work *wk, bool aborted)
{
	struct ckpt_file_info info;
	struct ckpt_chain chain = {0};
	char err[512];
	int64_t t0 = now_mono_us();
	int rc = 0;

	switch (wk->tail.kind) {
	case SNAP_NONE:
		break;
	case SNAP_INLINE:
		if (aborted)
			return;
		{
			struct weir_writer ww = {
			    .p = wk->buf, .len = wk->len, .cap = wk->len};

			rc = fill_view(wk, &ww, err, sizeof(err));
			wk->buf = ww.p;
			wk->len = ww.len;
		}
		break;
	case SNAP_BASE:
		if (aborted) {
			/* The task forgot its changes at this barrier: only
			 * a base can follow. */
			release_tail(wk);
			break_chain(w, wk->task);
			return;
		}
		rc = write_base(w, wk, err, sizeof(err));
		break;
	case SNAP_DELTA:
		rc = write_delta(w, wk, err, sizeof(err));
		break;
	}
	if (aborted)
		return;
	if (rc < 0) {
		coord_decline(w->coord, wk->id, wk->task, err);
		return;
	}
	if (ckpt_write_state(w->st, wk->id, wk->name, wk->state_version,
	                     wk->buf, wk->len, &info, err, sizeof(err)) < 0) {
		ckpt_write_hint(w->st, err, sizeof(err));
		coord_decline(w->coord, wk->id, wk->task, err);
		return;
	}
	log_debug("persister",
	          "checkpoint %llu: %s written, %zu bytes raw, "
	          "%llu on disk, %lld us",
	          (unsigned long long)wk->id, wk->name, wk->len,
	          (unsigned long long)info.size,
	          (long long)(now_mono_us() - t0));
	if (wk->tail.kind == SNAP_BASE || wk->tail.kind == SNAP_DELTA) {
		pthread_mutex_lock(&w->chain_mu);
		ckpt_chain_copy(&chain, &w->chains[wk->task].files);
		pthread_mutex_unlock(&w->chain_mu);
	}
	/* The coordinator takes the offsets and the chain. */
	coord_ack(w->coord, wk->id, wk->task, &info, wk->offsets, &chain);
	wk->offsets = NULL;
}

static void *persister_main(void *arg)
{
	struct ckpt_persister *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct work *wk;

		while (!w->q.head && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!(wk = queue_pop(&w->q)))
			break;
		if (wk->discard) {
			pthread_mutex_unlock(&w->mu);
			ckpt_remove(w->st, wk->id);
			pthread_mutex_lock(&w->mu);
		} else {
			bool aborted = is_aborted(w, wk->id);

			pthread_mutex_unlock(&w->mu);
			do_write(w, wk, aborted);
			pthread_mutex_lock(&w->mu);
			/* A discard that came in while this was written
			 * removes what was just written. */
			if (!aborted && is_aborted(w, wk->id)) {
				pthread_mutex_unlock(&w->mu);
				ckpt_remove(w->st, wk->id);
				pthread_mutex_lock(&w->mu);
			}
		}
		work_free(wk);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* --- the materializer ------------------------------------------------------ */

static void materialize_later(struct ckpt_persister *w, struct work *wk)
{
	struct work *m = xcalloc(1, sizeof(*m));

	m->id = wk->id;
	m->task = wk->task;
	memcpy(m->name, wk->name, sizeof(m->name));
	m->gen = wk->gen;
	m->tail = wk->tail;
	m->tail.delta = NULL;
	wk->tail.release = NULL; /* the materializer's now */
	pthread_mutex_lock(&w->mu);
	queue_push(&w->mq, m);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Makes f, the base of checkpoint m->id, the chain's base: the deltas
 * after m->id stay. False when the chain was started anew meanwhile (a
 * base of a later checkpoint) or broke: f is not needed. */
static bool adopt_base(struct ckpt_persister *w, const struct work *m,
                       const struct ckpt_chain_file *f)
{
	struct chain *c = &w->chains[m->task];
	struct ckpt_chain next = {0};
	bool ok;

	pthread_mutex_lock(&w->chain_mu);
	c->writing[BY_MATERIALIZER][0] = '\0';
	ok = !c->broken && c->gen == m->gen;
	if (ok) {
		chain_append(&next, f);
		for (size_t i = 1; i < c->files.n; i++)
			if (c->files.f[i].id > m->id)
				chain_append(&next, &c->files.f[i]);
		ckpt_chain_clear(&c->files);
		c->files = next;
		publish_sizes(w, m->task);
	}
	pthread_mutex_unlock(&w->chain_mu);
	return ok;
}

static void materialize(struct ckpt_persister *w, struct work *m, bool quit)
{
	struct task_chain *tc = &task_of(w, m)->chain;
	struct weir_writer ww = {0};
	struct ckpt_chain_file f;
	char err[512];
	int64_t t0 = now_mono_ms();
	int rc = -1;

	if (quit) {
		snprintf(err, sizeof(err), "the job is stopping");
		release_tail(m);
	} else {
		log_debug(m->name,
		          "materializing keyed state of checkpoint %llu",
		          (unsigned long long)m->id);
		rc = fill_view(m, &ww, err, sizeof(err));
	}
	if (rc == 0)
		rc = write_chain_file(w, m, BY_MATERIALIZER, true, ww.p, ww.len,
		                      &f, err, sizeof(err));
	free(ww.p);
	if (rc == 0 && adopt_base(w, m, &f)) {
		log_info(m->name,
		         "materialized keyed state of checkpoint %llu: %zu "
		         "bytes raw, %llu on disk, in %lld ms",
		         (unsigned long long)m->id, (size_t)f.file.raw,
		         (unsigned long long)f.file.size,
		         (long long)(now_mono_ms() - t0));
	} else if (rc == 0) {
		log_debug(m->name,
		          "materialized keyed state of checkpoint %llu is not "
		          "used: its chain was started anew",
		          (unsigned long long)m->id);
	} else {
		pthread_mutex_lock(&w->chain_mu);
		w->chains[m->task].writing[BY_MATERIALIZER][0] = '\0';
		pthread_mutex_unlock(&w->chain_mu);
		atomic_store(&tc->mat_failed_ms, now_mono_ms());
		if (!quit)
			log_warn(m->name,
			         "materializing keyed state of checkpoint %llu "
			         "failed: %s. Checkpoints go on adding deltas "
			         "to the previous base; another try follows",
			         (unsigned long long)m->id, err);
	}
	atomic_store(&tc->materializing, false);
}

static void *materializer_main(void *arg)
{
	struct ckpt_persister *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct work *m;
		bool quit;

		while (!w->mq.head && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!(m = queue_pop(&w->mq)))
			break;
		quit = w->quit;
		pthread_mutex_unlock(&w->mu);
		materialize(w, m, quit);
		work_free(m);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* --- the handle ---------------------------------------------------------- */

struct ckpt_persister *ckpt_persister_new(struct ckpt_store *st,
                                          struct coord *c, struct flow *flow)
{
	struct ckpt_persister *w = xcalloc(1, sizeof(*w));

	w->st = st;
	w->coord = c;
	w->flow = flow;
	w->chains = xcalloc((size_t)flow->ntasks + 1, sizeof(*w->chains));
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->chain_mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, persister_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_mutex_destroy(&w->chain_mu);
		pthread_cond_destroy(&w->cv);
		free(w->chains);
		free(w);
		return NULL;
	}
	w->mat_started =
	    pthread_create(&w->mat_thread, NULL, materializer_main, w) == 0;
	if (!w->mat_started)
		log_warn("persister",
		         "cannot start the materializer thread: keyed state "
		         "is checkpointed as deltas without new bases");
	return w;
}

static void enqueue(struct ckpt_persister *w, struct work *wk)
{
	pthread_mutex_lock(&w->mu);
	if (wk->discard && !is_aborted(w, wk->id)) {
		if (w->naborted == w->capaborted) {
			w->capaborted = w->capaborted ? w->capaborted * 2 : 16;
			w->aborted = xrealloc(
			    w->aborted, w->capaborted * sizeof(*w->aborted));
		}
		w->aborted[w->naborted++] = wk->id;
	}
	queue_push(&w->q, wk);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void ckpt_persister_submit(struct ckpt_persister *w, uint64_t id, int task,
                           const char *name, uint32_t state_version, char *buf,
                           size_t len, char *offsets,
                           const struct snap_tail *tail)
{
	struct work *wk = xcalloc(1, sizeof(*wk));

	wk->id = id;
	wk->task = task;
	snprintf(wk->name, sizeof(wk->name), "%s", name);
	wk->state_version = state_version;
	wk->buf = buf;
	wk->len = len;
	wk->offsets = offsets;
	if (tail)
		wk->tail = *tail;
	/* A materialization without its thread is dropped at once. */
	if (wk->tail.materialize && !w->mat_started) {
		release_tail(wk);
		wk->tail.materialize = false;
		atomic_store(&w->flow->tasks[task]->chain.materializing, false);
	}
	enqueue(w, wk);
}

void ckpt_persister_adopt(struct ckpt_persister *w, int task,
                          struct ckpt_chain *chain)
{
	struct chain *c = &w->chains[task];

	if (chain->n == 0)
		return;
	pthread_mutex_lock(&w->chain_mu);
	ckpt_chain_clear(&c->files);
	c->files = *chain;
	memset(chain, 0, sizeof(*chain));
	c->broken = false;
	publish_sizes(w, task);
	pthread_mutex_unlock(&w->chain_mu);
	atomic_store(&w->flow->tasks[task]->chain.need_base, false);
}

void ckpt_persister_discard(struct ckpt_persister *w, uint64_t id)
{
	struct work *wk = xcalloc(1, sizeof(*wk));

	wk->discard = true;
	wk->id = id;
	enqueue(w, wk);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects shared/ keeping the chains' files. Under chain_mu. */
static void collect(struct ckpt_persister *w, bool live)
{
	char **names = NULL;
	size_t n = 0, cap = 0;

	for (int t = 0; live && t < w->flow->ntasks; t++) {
		const struct chain *c = &w->chains[t];

		for (size_t i = 0; i < c->files.n + 2; i++) {
			const char *name = i < c->files.n
			                       ? c->files.f[i].file.name
			                       : c->writing[i - c->files.n];
			if (!name[0])
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				names = xrealloc(names, cap * sizeof(*names));
			}
			names[n++] = (char *)name;
		}
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_cstr);
	if (ckpt_collect_shared(w->st, names, n, !live) < 0)
		log_warn("checkpoint",
		         "could not remove unneeded files from %s/%s (the "
		         "reason is above); nothing was removed, and the next "
		         "checkpoint or start tries again",
		         ckpt_store_dir(w->st), CKPT_SHARED_DIR);
	free(names);
}

void ckpt_persister_collect(struct ckpt_persister *w)
{
	pthread_mutex_lock(&w->chain_mu);
	collect(w, true);
	pthread_mutex_unlock(&w->chain_mu);
}

void ckpt_persister_free(struct ckpt_persister *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	if (w->mat_started)
		pthread_join(w->mat_thread, NULL);
	/* Handed over after the materializer ended: views to give back. */
	for (struct work *m; (m = queue_pop(&w->mq));) {
		materialize(w, m, true);
		work_free(m);
	}
	/* Nothing is written any more: what no checkpoint lists goes. */
	collect(w, false);
	for (int t = 0; t < w->flow->ntasks; t++)
		ckpt_chain_clear(&w->chains[t].files);
	free(w->chains);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->chain_mu);
	pthread_cond_destroy(&w->cv);
	free(w->aborted);
	free(w);
}
