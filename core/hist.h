/*
 * hist.h - a histogram with fixed bucket bounds whose counts are relaxed
 * atomics: one thread observes values, any other reads the buckets for
 * the metrics endpoint without a lock. A reader may see a count and a sum
 * a few observations apart, which a scrape tolerates.
 */
#ifndef WEIR_HIST_H
#define WEIR_HIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_MAX_BUCKETS 16

struct hist {
	const int64_t *le_us; /* upper bounds in microseconds, ascending */
	size_t n;             /* number of bounds; +Inf is implicit */
	atomic_uint_fast64_t bucket[HIST_MAX_BUCKETS + 1]; /* not cumulative */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_us;
};

/* Latency-like bounds (1 ms to 10 s) and checkpoint-like ones (10 ms to
 * 2 min), for hist_init. */
extern const int64_t hist_latency_us[];
extern const size_t hist_latency_n;
extern const int64_t hist_duration_us[];
extern const size_t hist_duration_n;

/* le_us is borrowed (a static table); n <= HIST_MAX_BUCKETS. */
void hist_init(struct hist *h, const int64_t *le_us, size_t n);
/* Counts one value. One writer thread per histogram. */
void hist_observe(struct hist *h, int64_t us);

/* A consistent-enough copy for formatting: cumulative counts per bound,
 * then the total. */
struct hist_snap {
	size_t n;
	int64_t le_us[HIST_MAX_BUCKETS];
	uint64_t cum[HIST_MAX_BUCKETS + 1];
	uint64_t count, sum_us;
};
void hist_read(const struct hist *h, struct hist_snap *out);

#endif
