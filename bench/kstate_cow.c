/*
 * kstate_cow.c - what a snapshot of keyed state costs the task after the
 * barrier, apart from sharing the CPU with the snapshot persister. Builds
 * NKEYS keys of count-like state (name "n", 8 bytes), then times batches of
 * BATCH updates of random existing keys, all on this one thread, in three
 * phases of equal length:
 *
 *   plain   no snapshot out
 *   frozen  a snapshot frozen, the persister not started: every update of a
 *           key not copied yet copies it (and a group's first update its
 *           slot array)
 *   thaw    the persister is through (filled here, timed), not released yet:
 *           a group's first update frees what was copied for it
 *
 * and prints one line per phase: "PHASE: N batches of BATCH updates, cpu
 * C ms, p50 .. p999 .. max .. us", after "freeze F us, fill T ms".
 *
 *   kstate_cow [NKEYS [BATCHES]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyed_state.h"
#include "util.h"

#define BATCH 100

static int64_t cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One count update of key id, as the count operator does it. */
static void update(struct keyed_state *ks, uint64_t id)
{
	char key[48];
	int n = snprintf(key, sizeof(key), "request %llu done",
	                 (unsigned long long)id);
	const void *v;
	size_t vlen;
	uint64_t c = 1;

	kstate_set_key(ks, key, (size_t)n);
	if (kstate_get(ks, "n", 1, &v, &vlen) == 0 && vlen == 8) {
		memcpy(&c, v, 8);
		c++;
	}
	kstate_put(ks, "n", 1, &c, 8);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Times n batches of random updates and prints their distribution. */
static void phase(const char *name, struct keyed_state *ks, uint64_t nkeys,
                  uint64_t *rng, int64_t *lat, size_t n)
{
	int64_t cpu = cpu_us();

	for (size_t b = 0; b < n; b++) {
		int64_t t0 = now_mono_us();

		for (int i = 0; i < BATCH; i++) {
			*rng = *rng * 6364136223846793005ULL +
			       1442695040888963407ULL;
			update(ks, (*rng >> 33) % nkeys);
		}
		lat[b] = now_mono_us() - t0;
	}
	cpu = cpu_us() - cpu;
	qsort(lat, n, sizeof(*lat), cmp_i64);
	printf("%s: %zu batches of %d updates, cpu %lld ms, p50 %lld p999 "
	       "%lld max %lld us\n",
	       name, n, BATCH, (long long)(cpu / 1000), (long long)lat[n / 2],
	       (long long)lat[n * 999 / 1000], (long long)lat[n - 1]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	uint64_t nkeys = argc > 1 ? strtoull(argv[1], NULL, 10) : 1500000;
	size_t batches = argc > 2 ? strtoull(argv[2], NULL, 10) : 5000;
	struct keyed_state *ks = kstate_new();
	struct weir_writer w = {0};
	uint64_t rng = 1;
	int64_t *lat, t0, freeze_us;
	char err[128];

	if (nkeys == 0 || batches == 0) {
		fprintf(stderr, "usage: kstate_cow [NKEYS [BATCHES]]\n");
		return 2;
	}
	lat = xmalloc(batches * sizeof(*lat));
	for (uint64_t id = 0; id < nkeys; id++)
		update(ks, id);
	phase("plain", ks, nkeys, &rng, lat, batches);
	t0 = now_mono_us();
	kstate_freeze(ks);
	freeze_us = now_mono_us() - t0;
	phase("frozen", ks, nkeys, &rng, lat, batches);
	t0 = now_mono_us();
	if (kstate_fill(ks, &w, err, sizeof(err)) < 0) {
		fprintf(stderr, "kstate_cow: %s\n", err);
		return 1;
	}
	printf("freeze %lld us, fill %lld ms (%zu bytes)\n",
	       (long long)freeze_us, (long long)((now_mono_us() - t0) / 1000),
	       w.len);
	phase("thaw", ks, nkeys, &rng, lat, batches);
	kstate_release(ks);
	free(w.p);
	free(lat);
	kstate_free(ks);
	return 0;
}
