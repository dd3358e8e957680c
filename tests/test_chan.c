/*
 * test_chan.c - channels and wake-ups: ring order, capacity and the full
 * ring, chan_free releasing what is left; producer and consumer threads
 * moving millions of elements through tiny rings with exactly the task
 * wake-up protocol (with a timeout, and without one so that a lost wake-up
 * would hang until Check's timeout); batches, barriers and EOS crossing
 * threads with their ownership; and wake_wait's signal and timeout.
 */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#endif
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chan.h"
#include "record.h"

/*
 * Check's ck_assert_* reports every passing check to the runner (a write
 * each); hot loops use REQUIRE, which costs nothing until it fails. Worker
 * threads never assert: they record their first error and the test thread
 * checks it after the join.
 */
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* ---- helpers ------------------------------------------------------------ */

struct pair {
	struct wake pw; /* the producer's wake: room freed */
	struct wake cw; /* the consumer's wake: data pushed */
	struct chan *c;
};

static void pair_init(struct pair *p, uint32_t cap)
{
	wake_init(&p->pw);
	wake_init(&p->cw);
	p->c = chan_new(cap, &p->pw, &p->cw);
	ck_assert_ptr_nonnull(p->c);
}

static void pair_destroy(struct pair *p)
{
	chan_free(p->c);
	wake_destroy(&p->pw);
	wake_destroy(&p->cw);
}

static struct elem mk(enum elem_type type, uint64_t id, struct batch *b)
{
	struct elem e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.id = id;
	e.batch = b;
	return e;
}

/* A batch of nrec records whose offsets are seq, seq+1, ... and whose
 * values spell the offset in decimal. */
static struct batch *mk_batch(uint64_t seq, uint32_t nrec)
{
	struct batch *b = batch_new(nrec, 32 * nrec);

	for (uint32_t i = 0; i < nrec; i++) {
		struct weir_record like;
		char v[24];
		int vl;

		memset(&like, 0, sizeof(like));
		like.topic = "t";
		like.offset = (int64_t)(seq + i);
		like.partition = 0;
		like.timestamp = -1;
		vl = snprintf(v, sizeof(v), "%llu",
		              (unsigned long long)(seq + i));
		if (!batch_add(b, NULL, 0, v, (size_t)vl, NULL, 0, 0, &like))
			return NULL; /* caught by the caller's checks */
	}
	return b;
}

/* NULL if b is the batch mk_batch(seq, nrec) made, else what is wrong. */
static const char *batch_problem(const struct batch *b, uint64_t seq,
                                 uint32_t nrec)
{
	if (!b)
		return "no batch";
	if (b->n != nrec)
		return "wrong record count";
	for (uint32_t i = 0; i < nrec; i++) {
		char v[24];
		int vl = snprintf(v, sizeof(v), "%llu",
		                  (unsigned long long)(seq + i));

		if (b->recs[i].offset != (int64_t)(seq + i))
			return "wrong record offset";
		if (b->recs[i].value_len != (uint32_t)vl ||
		    memcmp(b->recs[i].value, v, (size_t)vl) != 0)
			return "wrong record value";
	}
	return NULL;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- single thread ------------------------------------------------------ */

START_TEST(push_peek_pop_order)
{
	struct pair p;
	struct elem e;
	int seen = 0;

	pair_init(&p, 8);
	ck_assert(!chan_peek(p.c, &e));
	ck_assert_uint_eq(chan_len(p.c), 0);
	for (uint64_t i = 0; i < 5; i++) {
		struct elem in =
		    mk(i % 2 ? ELEM_BARRIER : ELEM_BATCH, 100 + i, NULL);

		ck_assert(chan_try_push(p.c, &in));
		ck_assert_uint_eq(chan_len(p.c), i + 1);
	}
	for (uint64_t i = 0; i < 5; i++) {
		/* Peek leaves the element in place. */
		ck_assert(chan_peek(p.c, &e));
		ck_assert_uint_eq(e.id, 100 + i);
		ck_assert(chan_peek(p.c, &e));
		ck_assert_uint_eq(e.id, 100 + i);
		ck_assert_int_eq(e.type, i % 2 ? ELEM_BARRIER : ELEM_BATCH);
		ck_assert_uint_eq(chan_len(p.c), 5 - i);
		chan_pop(p.c);
		seen++;
	}
	ck_assert_int_eq(seen, 5);
	ck_assert(!chan_peek(p.c, &e));
	ck_assert_uint_eq(chan_len(p.c), 0);
	pair_destroy(&p);
}
END_TEST

/* Many laps around a ring of 4: indices run far past the ring size and
 * the order survives every wrap, with the ring at every fill level. */
START_TEST(order_across_wraps)
{
	struct pair p;
	uint64_t next_in = 0, next_out = 0;

	pair_init(&p, 4);
	for (int round = 0; round < 20000; round++) {
		unsigned push = (unsigned)(round % 5),
		         pop = (unsigned)(round % 4);
		struct elem e;

		for (unsigned i = 0; i < push; i++) {
			struct elem in = mk(ELEM_BARRIER, next_in, NULL);

			if (!chan_try_push(p.c, &in))
				break;
			next_in++;
		}
		REQUIRE(chan_len(p.c) == next_in - next_out, "round %d: len",
		        round);
		for (unsigned i = 0; i < pop && chan_peek(p.c, &e); i++) {
			REQUIRE(e.id == next_out,
			        "round %d: got %llu, want %llu", round,
			        (unsigned long long)e.id,
			        (unsigned long long)next_out);
			chan_pop(p.c);
			next_out++;
		}
	}
	ck_assert_uint_gt(next_out, 20000);
	pair_destroy(&p);
}
END_TEST

static bool is_pow2(uint32_t n)
{
	return n && (n & (n - 1)) == 0;
}

/* Pushes until refused; returns how many went in. */
static uint32_t fill(struct chan *c, uint64_t first_id)
{
	uint32_t n = 0;

	for (;;) {
		struct elem e = mk(ELEM_BARRIER, first_id + n, NULL);

		if (!chan_try_push(c, &e))
			return n;
		n++;
		ck_assert_uint_lt(n, 1u << 20);
	}
}

START_TEST(full_ring_refuses_push)
{
	static const struct {
		uint32_t cap, want;
	} cases[] = {
	    {2, 2},   {3, 4},    {4, 4},     {5, 8},
	    {64, 64}, {65, 128}, {100, 128}, {1024, 1024},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct pair p;
		struct elem e, extra = mk(ELEM_EOS, 999999, NULL);
		uint32_t n;

		pair_init(&p, cases[k].cap);
		n = fill(p.c, 0);
		ck_assert_msg(n == cases[k].want, "cap %u holds %u, want %u",
		              cases[k].cap, n, cases[k].want);
		ck_assert_uint_eq(chan_len(p.c), n);
		/* A refused push changes nothing. */
		ck_assert(!chan_try_push(p.c, &extra));
		ck_assert_uint_eq(chan_len(p.c), n);
		/* One pop makes room for exactly one. */
		ck_assert(chan_peek(p.c, &e));
		ck_assert_uint_eq(e.id, 0);
		chan_pop(p.c);
		ck_assert(chan_try_push(p.c, &extra));
		ck_assert(!chan_try_push(p.c, &extra));
		for (uint32_t i = 1; i < n; i++) {
			ck_assert(chan_peek(p.c, &e));
			REQUIRE(e.id == i && e.type == ELEM_BARRIER,
			        "cap %u: slot %u holds id %llu", cases[k].cap,
			        i, (unsigned long long)e.id);
			chan_pop(p.c);
		}
		ck_assert(chan_peek(p.c, &e));
		ck_assert_int_eq(e.type, ELEM_EOS);
		ck_assert_uint_eq(e.id, 999999);
		chan_pop(p.c);
		ck_assert(!chan_peek(p.c, &e));
		pair_destroy(&p);
	}
}
END_TEST

/* Capacities 0 and 1: whatever they round to, it is a power of two that
 * holds at least one element. (Today both give 2.) */
START_TEST(tiny_capacities)
{
	for (uint32_t cap = 0; cap <= 1; cap++) {
		struct pair p;
		uint32_t n;

		pair_init(&p, cap);
		n = fill(p.c, 0);
		ck_assert_msg(is_pow2(n) && n >= 1, "cap %u holds %u", cap, n);
		pair_destroy(&p);
	}
}
END_TEST

/* A push signals the consumer's wake, a pop the producer's; a refused
 * push and a failed peek signal nobody. */
START_TEST(push_and_pop_signal_the_other_side)
{
	struct pair p;
	struct elem e = mk(ELEM_BARRIER, 1, NULL);
	unsigned pe, ce;

	pair_init(&p, 2);
	pe = wake_epoch(&p.pw);
	ce = wake_epoch(&p.cw);
	ck_assert(!chan_peek(p.c, &e));
	ck_assert_uint_eq(wake_epoch(&p.pw), pe);
	ck_assert_uint_eq(wake_epoch(&p.cw), ce);
	ck_assert(chan_try_push(p.c, &e));
	ck_assert_uint_ne(wake_epoch(&p.cw), ce);
	ck_assert_uint_eq(wake_epoch(&p.pw), pe);
	ck_assert(chan_try_push(p.c, &e));
	ce = wake_epoch(&p.cw);
	ck_assert(!chan_try_push(p.c, &e));
	ck_assert_uint_eq(wake_epoch(&p.cw), ce);
	ck_assert(chan_peek(p.c, &e));
	ck_assert_uint_eq(wake_epoch(&p.pw), pe);
	chan_pop(p.c);
	ck_assert_uint_ne(wake_epoch(&p.pw), pe);
	ck_assert_uint_eq(wake_epoch(&p.cw), ce);
	pair_destroy(&p);
}
END_TEST

/* chan_free frees every batch still in the ring, including a leftover run
 * that wraps around the end of the ring; barriers and EOS hold nothing to
 * free. Under ASan/LSan a missed batch is a leak, a batch freed twice or a
 * barrier's id taken for a pointer is an error. */
START_TEST(chan_free_frees_leftover_batches)
{
	struct pair p;
	struct elem e;

	chan_free(NULL);

	/* A full ring of batches, nothing consumed. */
	pair_init(&p, 8);
	for (uint64_t i = 0; i < 8; i++) {
		e = mk(ELEM_BATCH, i, mk_batch(i, 1 + (uint32_t)(i % 3)));
		ck_assert(chan_try_push(p.c, &e));
	}
	pair_destroy(&p);

	/* Leftovers that wrap, mixed with barriers and EOS. */
	pair_init(&p, 8);
	for (uint64_t i = 0; i < 6; i++) {
		e = mk(ELEM_BARRIER, i, NULL);
		ck_assert(chan_try_push(p.c, &e));
	}
	for (int i = 0; i < 6; i++) {
		ck_assert(chan_peek(p.c, &e));
		chan_pop(p.c);
	}
	for (uint64_t i = 0; i < 7; i++) {
		if (i % 3 == 1)
			e = mk(ELEM_BARRIER, 77, NULL);
		else if (i == 6)
			e = mk(ELEM_EOS, 0, NULL);
		else
			e = mk(ELEM_BATCH, i, mk_batch(i, 2));
		ck_assert(chan_try_push(p.c, &e));
	}
	/* Consume one batch ourselves: ownership left the ring with it. */
	ck_assert(chan_peek(p.c, &e));
	ck_assert_int_eq(e.type, ELEM_BATCH);
	chan_pop(p.c);
	ck_assert_ptr_null(batch_problem(e.batch, 0, 2));
	batch_free(e.batch);
	ck_assert_uint_eq(chan_len(p.c), 6);
	pair_destroy(&p);

	/* An empty ring. */
	pair_init(&p, 4);
	pair_destroy(&p);
}
END_TEST

/* ---- producer and consumer threads -------------------------------------- */

/*
 * What the stream looks like. Element seq (0-based) of n is:
 *   the last one: EOS with id seq;
 *   with mixed set: every 7th a barrier, every 1000th an EOS (in the middle
 *     of the stream: the channel does not care), every other one a batch of
 *     1 + seq % 3 records starting at offset seq;
 *   otherwise: a barrier with id seq (nothing to allocate, so millions go
 *     through quickly).
 */
struct stream {
	struct pair p;
	uint64_t n;
	int64_t timeout_ms;
	bool mixed;
	/* Results, each written by one thread and read after the join. */
	uint64_t pushed, received, producer_waits, consumer_waits;
	uint64_t bad_seq;    /* first seq that went wrong */
	const char *problem; /* NULL, or what went wrong */
	bool eos_last;
};

static enum elem_type stream_type(const struct stream *s, uint64_t seq)
{
	if (seq == s->n - 1)
		return ELEM_EOS;
	if (!s->mixed)
		return ELEM_BARRIER;
	if (seq % 1000 == 999)
		return ELEM_EOS;
	if (seq % 7 == 3)
		return ELEM_BARRIER;
	return ELEM_BATCH;
}

static uint32_t stream_nrec(uint64_t seq)
{
	return 1 + (uint32_t)(seq % 3);
}

static struct elem stream_elem(const struct stream *s, uint64_t seq)
{
	enum elem_type t = stream_type(s, seq);

	return mk(t, seq,
	          t == ELEM_BATCH ? mk_batch(seq, stream_nrec(seq)) : NULL);
}

static void *producer_main(void *arg)
{
	struct stream *s = arg;
	struct chan *c = s->p.c;

	for (uint64_t seq = 0; seq < s->n; seq++) {
		struct elem e = stream_elem(s, seq);

		/* The task protocol: epoch first, then try, then sleep. */
		for (;;) {
			unsigned epoch = wake_epoch(&s->p.pw);

			if (chan_try_push(c, &e))
				break;
			wake_wait(&s->p.pw, epoch, s->timeout_ms);
			s->producer_waits++;
		}
		s->pushed++;
	}
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct stream *s = arg;
	struct chan *c = s->p.c;
	uint64_t want = 0;

	for (;;) {
		unsigned epoch = wake_epoch(&s->p.cw);
		struct elem e;

		if (!chan_peek(c, &e)) {
			wake_wait(&s->p.cw, epoch, s->timeout_ms);
			s->consumer_waits++;
			continue;
		}
		chan_pop(c);
		s->received++;
		if (e.id != want && !s->problem) {
			s->problem =
			    e.id < want ? "duplicated or reordered" : "lost";
			s->bad_seq = want;
		}
		if (e.type != stream_type(s, e.id) && !s->problem) {
			s->problem = "wrong element type";
			s->bad_seq = want;
		}
		if (e.type == ELEM_BATCH) {
			const char *why =
			    batch_problem(e.batch, e.id, stream_nrec(e.id));

			if (why && !s->problem) {
				s->problem = why;
				s->bad_seq = want;
			}
			batch_free(e.batch); /* the consumer owns it now */
		} else if (e.batch && !s->problem) {
			s->problem = "non-batch element carries a batch";
			s->bad_seq = want;
		}
		want = e.id + 1;
		if (e.type == ELEM_EOS && e.id == s->n - 1) {
			s->eos_last = true;
			break;
		}
		if (want > s->n)
			break;
	}
	return NULL;
}

static void run_stream(uint32_t cap, int64_t timeout_ms, uint64_t n, bool mixed)
{
	struct stream s;
	pthread_t prod, cons;
	struct elem e;

	memset(&s, 0, sizeof(s));
	pair_init(&s.p, cap);
	s.n = n;
	s.timeout_ms = timeout_ms;
	s.mixed = mixed;
	ck_assert_int_eq(pthread_create(&cons, NULL, consumer_main, &s), 0);
	ck_assert_int_eq(pthread_create(&prod, NULL, producer_main, &s), 0);
	ck_assert_int_eq(pthread_join(prod, NULL), 0);
	ck_assert_int_eq(pthread_join(cons, NULL), 0);

	ck_assert_msg(s.problem == NULL, "cap %u, timeout %lld: %s at seq %llu",
	              cap, (long long)timeout_ms, s.problem,
	              (unsigned long long)s.bad_seq);
	ck_assert_uint_eq(s.pushed, n);
	ck_assert_uint_eq(s.received, n);
	ck_assert(s.eos_last);
	ck_assert(!chan_peek(s.p.c, &e));
	ck_assert_uint_eq(chan_len(s.p.c), 0);
	/* The protocol was exercised: someone found the ring full or empty. */
	ck_assert_uint_gt(s.producer_waits + s.consumer_waits, 0);
	pair_destroy(&s.p);
}

/* 2^21 elements, every one checked for loss, duplication and order. */
#define STREAM_N (UINT64_C(1) << 18)

static const struct {
	uint32_t cap;
	int64_t timeout_ms;
} stream_cases[] = {
    {4, 100},
    {64, 100},
    {4, -1},
    {64, -1},
};

/* With a 100 ms timeout a lost wake-up would only make this slow. */
START_TEST(stream_timed_waits)
{
	run_stream(stream_cases[_i].cap, stream_cases[_i].timeout_ms, STREAM_N,
	           false);
}
END_TEST

/* Without a timeout a single lost wake-up hangs both threads, and Check's
 * test timeout fails the test. */
START_TEST(stream_untimed_waits)
{
	run_stream(stream_cases[2 + _i].cap, stream_cases[2 + _i].timeout_ms,
	           STREAM_N, false);
}
END_TEST

/* Batches (owned by whoever holds the element: the consumer frees them),
 * barriers and EOS interleaved. Under ASan a batch lost or freed twice
 * shows; its records are checked on arrival. */
START_TEST(stream_mixed_elements)
{
	run_stream(stream_cases[_i].cap, stream_cases[_i].timeout_ms,
	           UINT64_C(300000), true);
}
END_TEST

/* ---- wake-ups ----------------------------------------------------------- */

struct waiter {
	struct wake *w;
	unsigned seen;
	int64_t timeout_ms;
	atomic_bool signalled; /* set by the signaller just before it signals */
	bool was_signalled;    /* what the waiter saw when it woke */
	unsigned epoch_after;
	atomic_bool done;
};

static void *waiter_main(void *arg)
{
	struct waiter *wt = arg;

	wake_wait(wt->w, wt->seen, wt->timeout_ms);
	wt->was_signalled = atomic_load(&wt->signalled);
	wt->epoch_after = wake_epoch(wt->w);
	atomic_store(&wt->done, true);
	return NULL;
}

/* A sleeper is woken by a signal from another thread, with no timeout and
 * with a long one; it does not wake before the signal. */
START_TEST(wake_signal_from_other_thread)
{
	static const int64_t timeouts[] = {-1, 60000};

	for (size_t k = 0; k < 2; k++) {
		struct wake w;
		struct waiter wt;
		pthread_t t;

		wake_init(&w);
		memset(&wt, 0, sizeof(wt));
		wt.w = &w;
		wt.seen = wake_epoch(&w);
		wt.timeout_ms = timeouts[k];
		atomic_init(&wt.signalled, false);
		atomic_init(&wt.done, false);
		ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &wt), 0);
		/* Let it fall asleep (it must still be asleep after 100 ms:
		 * nothing changed its epoch). */
		sleep_ms(100);
		ck_assert(!atomic_load(&wt.done));
		atomic_store(&wt.signalled, true);
		wake_signal(&w);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert(wt.was_signalled);
		ck_assert_uint_ne(wt.epoch_after, wt.seen);
		wake_destroy(&w);
	}
}
END_TEST

/* A signal between reading the epoch and sleeping is not lost: the wait
 * returns at once even without a timeout. */
START_TEST(wake_signal_before_wait)
{
	struct wake w;
	unsigned e;

	wake_init(&w);
	e = wake_epoch(&w);
	wake_signal(&w);
	wake_wait(&w, e, -1);
	ck_assert_uint_eq(wake_epoch(&w), e + 1);
	/* Signalling with nobody asleep only counts. */
	wake_signal(&w);
	wake_signal(&w);
	ck_assert_uint_eq(wake_epoch(&w), e + 3);
	wake_wait(&w, e, -1);
	wake_wait(&w, e + 2, -1);
	wake_destroy(&w);
}
END_TEST

/* Nobody signals: the wait returns after the timeout, never before it
 * (1 ms slack for clock rounding). 999 and 1001 ms cross the nanosecond
 * carry and the whole-second part of the deadline. No upper bound is
 * asserted: a loaded machine may wake us late. */
START_TEST(wake_timeout_without_signal)
{
	static const int64_t timeouts[] = {0, 1, 20, 250, 999, 1001};
	struct wake w;

	wake_init(&w);
	for (size_t k = 0; k < sizeof(timeouts) / sizeof(timeouts[0]); k++) {
		unsigned e = wake_epoch(&w);
		int64_t t0 = mono_us(), elapsed;

		wake_wait(&w, e, timeouts[k]);
		elapsed = mono_us() - t0;
		ck_assert_msg(elapsed >= timeouts[k] * 1000 - 1000,
		              "wake_wait(%lld ms) returned after %lld us",
		              (long long)timeouts[k], (long long)elapsed);
		ck_assert_uint_eq(wake_epoch(&w), e);
	}
	wake_destroy(&w);
}
END_TEST

/*
 * Two threads hand a token back and forth 200000 times through two wakes
 * and an atomic counter, each sleeping without a timeout whenever the
 * token is not theirs. One lost wake-up hangs it (Check's timeout).
 */
struct pingpong {
	struct wake w[2];
	atomic_uint_fast64_t turn; /* even: thread 0's move, odd: thread 1's */
	uint64_t rounds;
	int64_t timeout_ms;
};

struct pp_arg {
	struct pingpong *pp;
	unsigned me;
};

static void *pingpong_main(void *arg)
{
	struct pp_arg *a = arg;
	struct pingpong *pp = a->pp;

	for (;;) {
		unsigned epoch = wake_epoch(&pp->w[a->me]);
		uint_fast64_t t = atomic_load(&pp->turn);

		if (t >= 2 * pp->rounds)
			break;
		if (t % 2 != a->me) {
			wake_wait(&pp->w[a->me], epoch, pp->timeout_ms);
			continue;
		}
		atomic_store(&pp->turn, t + 1);
		wake_signal(&pp->w[!a->me]);
	}
	return NULL;
}

START_TEST(wake_ping_pong)
{
	struct pingpong pp;
	struct pp_arg a[2] = {{&pp, 0}, {&pp, 1}};
	pthread_t t[2];

	wake_init(&pp.w[0]);
	wake_init(&pp.w[1]);
	atomic_init(&pp.turn, 0);
	pp.rounds = 200000;
	pp.timeout_ms = -1;
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, pingpong_main, &a[i]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_uint_eq(atomic_load(&pp.turn), 2 * pp.rounds);
	wake_destroy(&pp.w[0]);
	wake_destroy(&pp.w[1]);
}
END_TEST

static Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *ring = tcase_create("ring");
	TCase *threads = tcase_create("threads");
	TCase *wake = tcase_create("wake");

	tcase_add_test(ring, push_peek_pop_order);
	tcase_add_test(ring, order_across_wraps);
	tcase_add_test(ring, full_ring_refuses_push);
	tcase_add_test(ring, tiny_capacities);
	tcase_add_test(ring, push_and_pop_signal_the_other_side);
	tcase_add_test(ring, chan_free_frees_leftover_batches);
	suite_add_tcase(s, ring);

	/* A lost wake-up in the untimed cases shows as this timeout. The
	 * ring of 4 takes 25-40 s per stream on a 2-CPU VM, about as long
	 * under TSan: every few elements each side sleeps and is woken. */
	tcase_set_timeout(threads, 120);
	tcase_add_loop_test(threads, stream_timed_waits, 0, 2);
	tcase_add_loop_test(threads, stream_untimed_waits, 0, 2);
	tcase_add_loop_test(threads, stream_mixed_elements, 0, 4);
	suite_add_tcase(s, threads);

	tcase_set_timeout(wake, 60);
	tcase_add_test(wake, wake_signal_from_other_thread);
	tcase_add_test(wake, wake_signal_before_wait);
	tcase_add_test(wake, wake_timeout_without_signal);
	tcase_add_test(wake, wake_ping_pong);
	suite_add_tcase(s, wake);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
