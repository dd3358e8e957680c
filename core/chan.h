/*
 * chan.h - channels: bounded single-producer/single-consumer rings of
 * elements (a batch, a barrier, a watermark, end-of-stream) between two
 * task threads, and the wake-up each task sleeps on when it can make no
 * progress.
 *
 * A task owns one `struct wake`. Anything that may let it progress (data
 * pushed to one of its inputs, room freed on one of its outputs, a trigger
 * from the coordinator, a stop) signals it. The protocol that loses no
 * wake-up: read the epoch, look for work, and only then wait for the epoch
 * to change. Signalling costs one atomic increment unless the task sleeps.
 */
#ifndef WEIR_CHAN_H
#define WEIR_CHAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct batch;

struct wake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_uint epoch;
	atomic_int sleeping;
};

void wake_init(struct wake *w);
void wake_destroy(struct wake *w);
unsigned wake_epoch(struct wake *w);
/* Sleeps until the epoch differs from `seen` or timeout_ms passes
 * (timeout_ms < 0: no limit). */
void wake_wait(struct wake *w, unsigned seen, int64_t timeout_ms);
void wake_signal(struct wake *w);

enum elem_type { ELEM_BATCH = 1, ELEM_BARRIER, ELEM_WATERMARK, ELEM_EOS };

/* 24 bytes: the idle flag sits in the padding after type, and a
 * watermark shares the word of a barrier's id. */
struct elem {
	enum elem_type type;
	bool idle; /* ELEM_WATERMARK: the sender has no active input */
	union {
		uint64_t id; /* ELEM_BARRIER: checkpoint id */
		int64_t wm;  /* ELEM_WATERMARK: event time, ms */
	};
	struct batch *batch; /* ELEM_BATCH: ownership moves with it */
};

struct chan {
	struct elem *ring;
	uint32_t mask;
	struct wake *consumer;                  /* signalled after a push */
	struct wake *producer;                  /* signalled after a pop */
	_Alignas(64) atomic_uint_fast64_t head; /* next to pop; consumer */
	_Alignas(64) atomic_uint_fast64_t tail; /* next to push; producer */
};

/* cap is rounded up to a power of two. */
struct chan *chan_new(uint32_t cap, struct wake *producer,
                      struct wake *consumer);
/* Frees the ring and any batches still in it. */
void chan_free(struct chan *c);

/* Producer side. Returns false when the ring is full. */
bool chan_try_push(struct chan *c, const struct elem *e);
/* Consumer side. chan_peek returns false when the ring is empty; the
 * element stays in place until chan_pop. */
bool chan_peek(struct chan *c, struct elem *out);
void chan_pop(struct chan *c);
uint32_t chan_len(struct chan *c);

#endif
