/*
 * hist.c - fixed-bucket histograms read without a lock (see hist.h).
 */
#include "hist.h"

#include <assert.h>
#include <string.h>

const int64_t hist_latency_us[] = {1000,    2500,    5000,    10000,  25000,
                                   50000,   100000,  250000,  500000, 1000000,
                                   2500000, 5000000, 10000000};
const size_t hist_latency_n = sizeof(hist_latency_us) / sizeof(int64_t);
const int64_t hist_duration_us[] = {10000,   25000,    50000,    100000,
                                    250000,  500000,   1000000,  2500000,
                                    5000000, 10000000, 30000000, 120000000};
const size_t hist_duration_n = sizeof(hist_duration_us) / sizeof(int64_t);

void hist_init(struct hist *h, const int64_t *le_us, size_t n)
{
	assert(n <= HIST_MAX_BUCKETS);
	h->le_us = le_us;
	h->n = n;
	for (size_t i = 0; i <= HIST_MAX_BUCKETS; i++)
		atomic_init(&h->bucket[i], 0);
	atomic_init(&h->count, 0);
	atomic_init(&h->sum_us, 0);
}

void hist_observe(struct hist *h, int64_t us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < h->n && us > h->le_us[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us,
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void hist_read(const struct hist *h, struct hist_snap *out)
{
	uint64_t cum = 0;

	memset(out, 0, sizeof(*out));
	out->n = h->n;
	for (size_t i = 0; i <= h->n; i++) {
		cum +=
		    atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		out->cum[i] = cum;
		if (i < h->n)
			out->le_us[i] = h->le_us[i];
	}
	/* The buckets are the truth for +Inf, so that the exposition's
	 * _count always equals its last bucket. */
	out->count = cum;
	out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}
