/*
 * chan.c - SPSC rings and task wake-ups (see chan.h).
 *
 * The ring indices grow without wrapping (64 bits); slot = index & mask.
 * The producer publishes a slot with a release store of tail, the consumer
 * frees it with a release store of head; each reads the other's index with
 * acquire. The wake-up uses sequentially consistent operations on both
 * sides (epoch increment then `sleeping` load, against `sleeping` store
 * then epoch load) so that either the signaller sees the sleeper or the
 * sleeper sees the new epoch.
 */
#include "chan.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "record.h"
#include "util.h"

void wake_init(struct wake *w)
{
	pthread_mutex_init(&w->mu, NULL);
	cond_init_mono(&w->cv);
	atomic_init(&w->epoch, 0);
	atomic_init(&w->sleeping, 0);
}

void wake_destroy(struct wake *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

unsigned wake_epoch(struct wake *w)
{
	return atomic_load(&w->epoch);
}

void wake_wait(struct wake *w, unsigned seen, int64_t timeout_ms)
{
	struct timespec deadline = {0, 0};

	if (timeout_ms >= 0)
		deadline = mono_deadline(now_mono_ms() + timeout_ms);
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->sleeping, 1);
	while (atomic_load(&w->epoch) == seen) {
		int rc = timeout_ms >= 0
		             ? pthread_cond_timedwait(&w->cv, &w->mu, &deadline)
		             : pthread_cond_wait(&w->cv, &w->mu);
		if (rc == ETIMEDOUT)
			break;
	}
	atomic_store(&w->sleeping, 0);
	pthread_mutex_unlock(&w->mu);
}

void wake_signal(struct wake *w)
{
	atomic_fetch_add(&w->epoch, 1);
	if (atomic_load(&w->sleeping)) {
		pthread_mutex_lock(&w->mu);
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

struct chan *chan_new(uint32_t cap, struct wake *producer,
                      struct wake *consumer)
{
	struct chan *c = xcalloc(1, sizeof(*c));
	uint32_t n = 2;

	while (n < cap)
		n <<= 1;
	c->ring = xcalloc(n, sizeof(*c->ring));
	c->mask = n - 1;
	c->producer = producer;
	c->consumer = consumer;
	atomic_init(&c->head, 0);
	atomic_init(&c->tail, 0);
	return c;
}

void chan_free(struct chan *c)
{
	uint_fast64_t head, tail;

	if (!c)
		return;
	/* Both ends are gone: drain without signalling their wake-ups. */
	tail = atomic_load(&c->tail);
	for (head = atomic_load(&c->head); head != tail; head++)
		if (c->ring[head & c->mask].type == ELEM_BATCH)
			batch_free(c->ring[head & c->mask].batch);
	free(c->ring);
	free(c);
}

bool chan_try_push(struct chan *c, const struct elem *e)
{
	uint_fast64_t tail =
	    atomic_load_explicit(&c->tail, memory_order_relaxed);
	uint_fast64_t head =
	    atomic_load_explicit(&c->head, memory_order_acquire);

	if (tail - head > c->mask)
		return false;
	c->ring[tail & c->mask] = *e;
	atomic_store_explicit(&c->tail, tail + 1, memory_order_release);
	if (c->consumer)
		wake_signal(c->consumer);
	return true;
}

bool chan_peek(struct chan *c, struct elem *out)
{
	uint_fast64_t head =
	    atomic_load_explicit(&c->head, memory_order_relaxed);
	uint_fast64_t tail =
	    atomic_load_explicit(&c->tail, memory_order_acquire);

	if (head == tail)
		return false;
	*out = c->ring[head & c->mask];
	return true;
}

void chan_pop(struct chan *c)
{
	uint_fast64_t head =
	    atomic_load_explicit(&c->head, memory_order_relaxed);

	atomic_store_explicit(&c->head, head + 1, memory_order_release);
	if (c->producer)
		wake_signal(c->producer);
}

uint32_t chan_len(struct chan *c)
{
	return (uint32_t)(atomic_load(&c->tail) - atomic_load(&c->head));
}
