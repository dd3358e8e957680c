/*
 * persister.c - the snapshot persister thread (see persister.h). Work is a FIFO of
 * writes and discards. A discard marks the checkpoint aborted, so a write
 * for it that is still queued, or arrives later from a slow task, is
 * dropped instead of re-creating the directory the discard removed.
 *
 * A write with a tail first has the tail appended to its bytes, and the
 * tail released at once, before compressing: the task's captured view is
 * held no longer than it takes to serialise it. A dropped write releases
 * its tail unfilled.
 */
#include "persister.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator.h"
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
};

struct ckpt_persister {
	struct ckpt_store *st;
	struct coord *coord;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct work *head, *tail;
	bool quit;
	uint64_t *aborted; /* ids discarded, under mu */
	size_t naborted, capaborted;
};

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

/* Appends the tail to wk->buf. Returns 0, or -1 with a message. */
static int fill_tail(struct work *wk, char *err, size_t errlen)
{
	struct weir_writer ww = {.p = wk->buf, .len = wk->len, .cap = wk->len};
	int64_t t0 = now_mono_us();
	int rc;

	rc = wk->tail.fill(wk->tail.arg, &ww, err, errlen);
	release_tail(wk);
	wk->buf = ww.p;
	wk->len = ww.len;
	log_debug("persister",
	          "checkpoint %llu: %s serialised, %zu bytes, "
	          "%lld us",
	          (unsigned long long)wk->id, wk->name, wk->len,
	          (long long)(now_mono_us() - t0));
	return rc;
}

static void do_write(struct ckpt_persister *w, struct work *wk)
{
	struct ckpt_file_info info;
	char err[512];
	int64_t t0 = now_mono_us();

	if (wk->tail.fill && fill_tail(wk, err, sizeof(err)) < 0) {
		coord_decline(w->coord, wk->id, wk->task, err);
		return;
	}
	if (ckpt_write_state(w->st, wk->id, wk->name, wk->state_version,
	                     wk->buf, wk->len, &info, err, sizeof(err)) < 0) {
		coord_decline(w->coord, wk->id, wk->task, err);
		return;
	}
	log_debug("persister",
	          "checkpoint %llu: %s written, %zu bytes raw, "
	          "%llu on disk, %lld us",
	          (unsigned long long)wk->id, wk->name, wk->len,
	          (unsigned long long)info.size,
	          (long long)(now_mono_us() - t0));
	/* The coordinator takes the offsets. */
	coord_ack(w->coord, wk->id, wk->task, &info, wk->offsets);
	wk->offsets = NULL;
}

static void *persister_main(void *arg)
{
	struct ckpt_persister *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct work *wk;

		while (!w->head && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->head)
			break;
		wk = w->head;
		w->head = wk->next;
		if (!w->head)
			w->tail = NULL;
		if (wk->discard || !is_aborted(w, wk->id)) {
			pthread_mutex_unlock(&w->mu);
			if (wk->discard)
				ckpt_remove(w->st, wk->id);
			else
				do_write(w, wk);
			pthread_mutex_lock(&w->mu);
			/* A discard that came in while this was written
			 * removes what was just written. */
			if (!wk->discard && is_aborted(w, wk->id)) {
				pthread_mutex_unlock(&w->mu);
				ckpt_remove(w->st, wk->id);
				pthread_mutex_lock(&w->mu);
			}
		}
		release_tail(wk);
		free(wk->buf);
		free(wk->offsets);
		free(wk);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct ckpt_persister *ckpt_persister_new(struct ckpt_store *st,
                                          struct coord *c)
{
	struct ckpt_persister *w = xcalloc(1, sizeof(*w));

	w->st = st;
	w->coord = c;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, persister_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
		return NULL;
	}
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
	if (w->tail)
		w->tail->next = wk;
	else
		w->head = wk;
	w->tail = wk;
	pthread_cond_signal(&w->cv);
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
	if (tail && tail->fill)
		wk->tail = *tail;
	enqueue(w, wk);
}

void ckpt_persister_discard(struct ckpt_persister *w, uint64_t id)
{
	struct work *wk = xcalloc(1, sizeof(*wk));

	wk->discard = true;
	wk->id = id;
	enqueue(w, wk);
}

void ckpt_persister_free(struct ckpt_persister *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->aborted);
	free(w);
}
