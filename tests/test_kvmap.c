/*
 * test_kvmap.c - the keyed-state hash map: put/get/overwrite, binary and
 * empty keys, deletion, iteration, growth through many sizes, clusters that
 * wrap around the end of the table, and a randomized differential test
 * against a naive reference with many deletes so that backward-shift
 * deletion meets long collision chains.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kvmap.h"

/*
 * Check's ck_assert_* records every passing check through the runner (a
 * write per check), too slow for the millions of checks below; hot paths
 * use REQUIRE, which costs nothing until it fails.
 */
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* ---- helpers ------------------------------------------------------------ */

/* splitmix64: a small deterministic generator, one state per test. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rnd_below(uint64_t *s, size_t n)
{
	return (size_t)(rnd(s) % n);
}

#define KEY_MAX 32

/*
 * The key of id: id 0 is the empty key; the others are the id in four
 * little-endian bytes (so most contain NUL bytes) followed by 0 to 22
 * bytes of filler that also holds NULs. Distinct ids give distinct keys.
 */
static size_t make_key(uint32_t id, unsigned char *buf)
{
	size_t pad, i;

	if (id == 0)
		return 0;
	buf[0] = (unsigned char)id;
	buf[1] = (unsigned char)(id >> 8);
	buf[2] = (unsigned char)(id >> 16);
	buf[3] = (unsigned char)(id >> 24);
	pad = (id * 7u) % 23u;
	for (i = 0; i < pad; i++)
		buf[4 + i] = (unsigned char)((i % 3 == 0) ? 0 : id + i);
	return 4 + pad;
}

/* The id a key was made from, or -1 if it is no key make_key produces. */
static int64_t key_id(const void *key, size_t klen)
{
	const unsigned char *k = key;
	unsigned char buf[KEY_MAX];
	uint32_t id;

	if (klen == 0)
		return 0;
	if (klen < 4)
		return -1;
	id = (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 |
	     (uint32_t)k[3] << 24;
	if (id == 0 || make_key(id, buf) != klen || memcmp(buf, k, klen) != 0)
		return -1;
	return id;
}

static void put_str(struct kvmap *m, const char *k, const char *v)
{
	void *p = kvmap_put(m, k, strlen(k), v, strlen(v));

	ck_assert_ptr_nonnull(p);
	ck_assert_mem_eq(p, v, strlen(v));
}

static void assert_get(struct kvmap *m, const void *k, size_t klen,
                       const void *v, size_t vlen)
{
	size_t got_len = (size_t)-1;
	void *p = kvmap_get(m, k, klen, &got_len);

	REQUIRE(p != NULL, "key of %zu bytes is missing", klen);
	REQUIRE(got_len == vlen,
	        "key of %zu bytes: value of %zu bytes, "
	        "expected %zu",
	        klen, got_len, vlen);
	REQUIRE(vlen == 0 || memcmp(p, v, vlen) == 0,
	        "key of %zu bytes: wrong value bytes", klen);
}

static void assert_absent(struct kvmap *m, const void *k, size_t klen)
{
	size_t got_len = 12345;

	REQUIRE(kvmap_get(m, k, klen, &got_len) == NULL,
	        "deleted or never stored key of %zu bytes is present", klen);
	REQUIRE(got_len == 12345, "vlen written on a miss");
}

/* ---- basics ------------------------------------------------------------- */

START_TEST(new_is_empty)
{
	struct kvmap *m = kvmap_new();
	size_t pos = 0, klen, vlen;
	const void *k, *v;

	ck_assert_uint_eq(kvmap_count(m), 0);
	assert_absent(m, "a", 1);
	ck_assert(!kvmap_del(m, "a", 1));
	ck_assert(!kvmap_next(m, &pos, &k, &klen, &v, &vlen));
	kvmap_free(m);
	kvmap_free(NULL);
}
END_TEST

START_TEST(put_get)
{
	struct kvmap *m = kvmap_new();

	put_str(m, "alpha", "1");
	put_str(m, "beta", "two");
	put_str(m, "gamma", "");
	ck_assert_uint_eq(kvmap_count(m), 3);
	assert_get(m, "alpha", 5, "1", 1);
	assert_get(m, "beta", 4, "two", 3);
	assert_get(m, "gamma", 5, "", 0);
	/* A prefix or extension of a key is another key. */
	assert_absent(m, "alph", 4);
	assert_absent(m, "alphaa", 6);
	assert_absent(m, "Alpha", 5);
	/* vlen may be NULL. */
	ck_assert_mem_eq(kvmap_get(m, "beta", 4, NULL), "two", 3);
	kvmap_free(m);
}
END_TEST

START_TEST(put_copies_key_and_value)
{
	struct kvmap *m = kvmap_new();
	char k[8] = "key", v[8] = "value";

	kvmap_put(m, k, 3, v, 5);
	memset(k, 'x', sizeof(k));
	memset(v, 'y', sizeof(v));
	assert_get(m, "key", 3, "value", 5);
	kvmap_free(m);
}
END_TEST

START_TEST(overwrite_same_length)
{
	struct kvmap *m = kvmap_new();
	void *p;

	kvmap_put(m, "k", 1, "aaaa", 4);
	p = kvmap_put(m, "k", 1, "bbbb", 4);
	ck_assert_uint_eq(kvmap_count(m), 1);
	ck_assert_mem_eq(p, "bbbb", 4);
	assert_get(m, "k", 1, "bbbb", 4);
	ck_assert_ptr_eq(kvmap_get(m, "k", 1, NULL), p);
	kvmap_free(m);
}
END_TEST

START_TEST(overwrite_other_length)
{
	struct kvmap *m = kvmap_new();
	char big[1000];
	void *p;

	memset(big, 'z', sizeof(big));
	put_str(m, "other", "o");
	put_str(m, "k", "short");
	p = kvmap_put(m, "k", 1, big, sizeof(big));
	ck_assert_mem_eq(p, big, sizeof(big));
	ck_assert_uint_eq(kvmap_count(m), 2);
	assert_get(m, "k", 1, big, sizeof(big));
	ck_assert_ptr_eq(kvmap_get(m, "k", 1, NULL), p);
	p = kvmap_put(m, "k", 1, "s", 1);
	ck_assert_mem_eq(p, "s", 1);
	assert_get(m, "k", 1, "s", 1);
	p = kvmap_put(m, "k", 1, "", 0);
	ck_assert_ptr_nonnull(p);
	assert_get(m, "k", 1, "", 0);
	put_str(m, "k", "back again");
	assert_get(m, "k", 1, "back again", 10);
	assert_get(m, "other", 5, "o", 1);
	ck_assert_uint_eq(kvmap_count(m), 2);
	kvmap_free(m);
}
END_TEST

START_TEST(binary_keys_with_nul)
{
	static const char k1[] = {'a', 0, 'b'};
	static const char k2[] = {'a', 0, 'c'};
	static const char k3[] = {'a', 0};
	static const char k4[] = {0};
	static const char k5[] = {0, 0};
	static const char v[] = {0, 1, 0, 2};
	struct kvmap *m = kvmap_new();

	kvmap_put(m, k1, 3, "1", 1);
	kvmap_put(m, k2, 3, "2", 1);
	kvmap_put(m, k3, 2, "3", 1);
	kvmap_put(m, k4, 1, "4", 1);
	kvmap_put(m, k5, 2, v, sizeof(v));
	kvmap_put(m, "a", 1, "6", 1);
	ck_assert_uint_eq(kvmap_count(m), 6);
	assert_get(m, k1, 3, "1", 1);
	assert_get(m, k2, 3, "2", 1);
	assert_get(m, k3, 2, "3", 1);
	assert_get(m, k4, 1, "4", 1);
	assert_get(m, k5, 2, v, sizeof(v));
	assert_get(m, "a", 1, "6", 1);
	ck_assert(kvmap_del(m, k3, 2));
	assert_absent(m, k3, 2);
	assert_get(m, k1, 3, "1", 1);
	assert_get(m, "a", 1, "6", 1);
	ck_assert_uint_eq(kvmap_count(m), 5);
	kvmap_free(m);
}
END_TEST

START_TEST(empty_key)
{
	struct kvmap *m = kvmap_new();
	static const char nul[] = {0};

	kvmap_put(m, "", 0, "empty", 5);
	kvmap_put(m, nul, 1, "nul", 3);
	ck_assert_uint_eq(kvmap_count(m), 2);
	assert_get(m, "", 0, "empty", 5);
	assert_get(m, nul, 1, "nul", 3);
	kvmap_put(m, "", 0, "again", 5);
	kvmap_put(m, "", 0, "longer value", 12);
	ck_assert_uint_eq(kvmap_count(m), 2);
	assert_get(m, "", 0, "longer value", 12);
	ck_assert(kvmap_del(m, "", 0));
	ck_assert(!kvmap_del(m, "", 0));
	assert_absent(m, "", 0);
	assert_get(m, nul, 1, "nul", 3);
	ck_assert_uint_eq(kvmap_count(m), 1);
	kvmap_free(m);
}
END_TEST

START_TEST(del_present_and_absent)
{
	struct kvmap *m = kvmap_new();

	put_str(m, "a", "1");
	put_str(m, "b", "2");
	ck_assert(!kvmap_del(m, "c", 1));
	ck_assert_uint_eq(kvmap_count(m), 2);
	ck_assert(kvmap_del(m, "a", 1));
	ck_assert_uint_eq(kvmap_count(m), 1);
	assert_absent(m, "a", 1);
	assert_get(m, "b", 1, "2", 1);
	ck_assert(!kvmap_del(m, "a", 1));
	ck_assert_uint_eq(kvmap_count(m), 1);
	ck_assert(kvmap_del(m, "b", 1));
	ck_assert_uint_eq(kvmap_count(m), 0);
	/* The key can come back after its deletion. */
	put_str(m, "a", "new");
	assert_get(m, "a", 1, "new", 3);
	ck_assert_uint_eq(kvmap_count(m), 1);
	kvmap_free(m);
}
END_TEST

/* Iterates m and checks it holds exactly the ids in [0, n) whose
 * present[] is set, each once, with the value val[id] of vlen[id] bytes
 * (val may be NULL: the value is then the key). */
static void check_iteration(const struct kvmap *m, uint32_t n,
                            const bool *present, unsigned char (*val)[64],
                            const size_t *vlens)
{
	bool *seen = calloc(n ? n : 1, sizeof(*seen));
	size_t pos = 0, klen, vlen, visits = 0, expect = 0;
	const void *k, *v;

	ck_assert_ptr_nonnull(seen);
	while (kvmap_next(m, &pos, &k, &klen, &v, &vlen)) {
		int64_t id = key_id(k, klen);

		REQUIRE(id >= 0 && id < (int64_t)n,
		        "iteration produced a foreign key (%zu bytes)", klen);
		REQUIRE(!seen[id], "key %lld visited twice", (long long)id);
		REQUIRE(present[id], "deleted key %lld visited", (long long)id);
		seen[id] = true;
		visits++;
		if (val)
			REQUIRE(vlen == vlens[id] &&
			            (!vlen || memcmp(v, val[id], vlen) == 0),
			        "key %lld: wrong value in iteration",
			        (long long)id);
		else
			REQUIRE(vlen == klen &&
			            (!vlen || memcmp(v, k, vlen) == 0),
			        "key %lld: wrong value in iteration",
			        (long long)id);
	}
	for (uint32_t i = 0; i < n; i++) {
		REQUIRE(seen[i] == present[i], "key %u %s", i,
		        present[i] ? "never visited" : "visited");
		expect += present[i];
	}
	ck_assert_uint_eq(visits, expect);
	ck_assert_uint_eq(kvmap_count(m), expect);
	/* Past the end it stays at the end. */
	ck_assert(!kvmap_next(m, &pos, &k, &klen, &v, &vlen));
	free(seen);
}

START_TEST(iteration_visits_each_once)
{
	enum { N = 1000 };
	struct kvmap *m = kvmap_new();
	bool *present = calloc(N, sizeof(*present));
	unsigned char key[KEY_MAX];

	for (uint32_t id = 0; id < N; id++) {
		size_t kl = make_key(id, key);

		kvmap_put(m, key, kl, key, kl);
		present[id] = true;
	}
	check_iteration(m, N, present, NULL, NULL);
	/* Delete every third one and iterate again. */
	for (uint32_t id = 0; id < N; id += 3) {
		size_t kl = make_key(id, key);

		ck_assert(kvmap_del(m, key, kl));
		present[id] = false;
	}
	check_iteration(m, N, present, NULL, NULL);
	free(present);
	kvmap_free(m);
}
END_TEST

/* A clone holds the same keys and values in memory of its own: changing
 * or freeing either leaves the other as it was. */
START_TEST(clone_is_independent)
{
	enum { N = 300 };
	struct kvmap *m = kvmap_new(), *c;
	unsigned char key[KEY_MAX], one[KEY_MAX];
	size_t one_len = make_key(1, one);

	for (uint32_t id = 0; id < N; id++) {
		size_t kl = make_key(id, key);

		kvmap_put(m, key, kl, key, kl);
	}
	c = kvmap_clone(m);
	ck_assert_uint_eq(kvmap_count(c), N);
	for (uint32_t id = 0; id < N; id++) {
		size_t kl = make_key(id, key);

		assert_get(c, key, kl, key, kl);
		ck_assert_ptr_ne(kvmap_get(c, key, kl, NULL),
		                 kvmap_get(m, key, kl, NULL));
	}
	put_str(c, "only in the clone", "x");
	ck_assert(kvmap_del(c, one, one_len));
	assert_absent(m, "only in the clone", 17);
	assert_get(m, one, one_len, one, one_len);
	kvmap_free(m);
	assert_get(c, "only in the clone", 17, "x", 1);
	ck_assert_uint_eq(kvmap_count(c), N);
	kvmap_free(c);
}
END_TEST

/* ---- growth ------------------------------------------------------------- */

/* For every size up to 1500: fill a fresh map, check every key and an
 * iteration, then delete them all (in a shuffled order) checking the
 * survivors as the map empties. */
START_TEST(growth_many_sizes)
{
	enum { MAX = 1500 };
	unsigned char key[KEY_MAX];
	bool *present = calloc(MAX, sizeof(*present));
	uint32_t *order = malloc(MAX * sizeof(*order));
	uint64_t seed = 42;

	for (uint32_t n = 0; n <= MAX; n += (n < 200 ? 1 : 37)) {
		struct kvmap *m = kvmap_new();

		for (uint32_t id = 0; id < n; id++) {
			size_t kl = make_key(id, key);

			kvmap_put(m, key, kl, key, kl);
			present[id] = true;
			REQUIRE(kvmap_count(m) == id + 1, "count after put");
		}
		for (uint32_t id = 0; id < n; id++) {
			size_t kl = make_key(id, key);

			assert_get(m, key, kl, key, kl);
		}
		for (uint32_t id = n; id < n + 10; id++) {
			size_t kl = make_key(id, key);

			assert_absent(m, key, kl);
		}
		check_iteration(m, n, present, NULL, NULL);
		for (uint32_t i = 0; i < n; i++)
			order[i] = i;
		for (uint32_t i = n; i > 1; i--) {
			uint32_t j = (uint32_t)rnd_below(&seed, i), t;

			t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (uint32_t i = 0; i < n; i++) {
			size_t kl = make_key(order[i], key);

			REQUIRE(kvmap_del(m, key, kl),
			        "size %u: del of key %u "
			        "found nothing",
			        n, order[i]);
			present[order[i]] = false;
			REQUIRE(kvmap_count(m) == n - i - 1, "count after del");
			/* Spot-check a few survivors after each delete. */
			for (int c = 0; c < 3 && i + 1 < n; c++) {
				uint32_t o =
				    order[i + 1 + rnd_below(&seed, n - i - 1)];
				size_t ol = make_key(o, key);

				assert_get(m, key, ol, key, ol);
			}
		}
		if (n <= 200)
			check_iteration(m, n, present, NULL, NULL);
		kvmap_free(m);
	}
	free(order);
	free(present);
}
END_TEST

START_TEST(large_map)
{
	enum { N = 200000 };
	struct kvmap *m = kvmap_new();
	char key[32];

	for (uint32_t i = 0; i < N; i++) {
		int kl = snprintf(key, sizeof(key), "key-%u", i);

		kvmap_put(m, key, (size_t)kl, &i, sizeof(i));
	}
	ck_assert_uint_eq(kvmap_count(m), N);
	for (uint32_t i = 0; i < N; i += 2) {
		int kl = snprintf(key, sizeof(key), "key-%u", i);

		ck_assert(kvmap_del(m, key, (size_t)kl));
	}
	ck_assert_uint_eq(kvmap_count(m), N / 2);
	for (uint32_t i = 0; i < N; i++) {
		int kl = snprintf(key, sizeof(key), "key-%u", i);
		size_t vl;
		uint32_t *v = kvmap_get(m, key, (size_t)kl, &vl);

		if (i % 2 == 0)
			REQUIRE(v == NULL, "deleted key-%u present", i);
		else
			REQUIRE(v && vl == sizeof(i) &&
			            memcmp(v, &i, sizeof(i)) == 0,
			        "key-%u missing or wrong", i);
	}
	kvmap_free(m);
}
END_TEST

/* ---- clusters around the end of a small table --------------------------- */

/*
 * White-box: a fresh map has 16 slots and grows past 70% (12 entries), and
 * an entry's home slot is XXH3_64bits(key) & 15. Keys whose homes are
 * 13, 14, 15, 0 and 1 build one cluster that wraps around the end of the
 * table, which is where backward shifting has to compare indices
 * cyclically. If the layout changes, this still is a valid (if less
 * pointed) test.
 */
START_TEST(wrapping_cluster_deletes)
{
	enum { NK = 11, TRIALS = 3000 };
	static const unsigned homes[] = {13, 14, 15, 0, 1};
	char pool[64][16];
	size_t plen[64];
	unsigned npool = 0;
	uint64_t seed = 7;

	/* Collect keys whose home is one of the chosen slots. */
	for (unsigned i = 0; npool < 64; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "c%u", i);
		unsigned h = (unsigned)(XXH3_64bits(k, (size_t)kl) & 15);

		for (size_t j = 0; j < sizeof(homes) / sizeof(homes[0]); j++) {
			if (h == homes[j]) {
				memcpy(pool[npool], k, (size_t)kl + 1);
				plen[npool++] = (size_t)kl;
				break;
			}
		}
	}
	for (int t = 0; t < TRIALS; t++) {
		struct kvmap *m = kvmap_new();
		unsigned pick[NK];
		bool live[NK];
		unsigned n = 0;

		/* NK distinct keys from the pool, in random order. */
		while (n < NK) {
			unsigned c = (unsigned)rnd_below(&seed, npool);
			bool dup = false;

			for (unsigned j = 0; j < n; j++)
				dup |= pick[j] == c;
			if (!dup)
				pick[n++] = c;
		}
		for (unsigned j = 0; j < NK; j++) {
			kvmap_put(m, pool[pick[j]], plen[pick[j]], &j,
			          sizeof(j));
			live[j] = true;
		}
		/* Delete in random order (and sometimes re-insert),
		 * checking every key after each step. */
		for (int step = 0; step < 3 * NK; step++) {
			unsigned j = (unsigned)rnd_below(&seed, NK);
			size_t expect = 0;

			if (live[j] || rnd_below(&seed, 4) != 0) {
				REQUIRE(kvmap_del(m, pool[pick[j]],
				                  plen[pick[j]]) == live[j],
				        "trial %d: del of %s returned %d", t,
				        pool[pick[j]], !live[j]);
				live[j] = false;
			} else {
				kvmap_put(m, pool[pick[j]], plen[pick[j]], &j,
				          sizeof(j));
				live[j] = true;
			}
			for (unsigned q = 0; q < NK; q++) {
				if (live[q]) {
					assert_get(m, pool[pick[q]],
					           plen[pick[q]], &q,
					           sizeof(q));
					expect++;
				} else {
					assert_absent(m, pool[pick[q]],
					              plen[pick[q]]);
				}
			}
			REQUIRE(kvmap_count(m) == expect, "trial %d: count", t);
		}
		kvmap_free(m);
	}
}
END_TEST

/* ---- randomized differential test --------------------------------------- */

struct ref {
	uint32_t nkeys;
	bool *present;
	unsigned char (*val)[64];
	size_t *vlen;
	size_t count;
};

static void ref_init(struct ref *r, uint32_t nkeys)
{
	r->nkeys = nkeys;
	r->present = calloc(nkeys, sizeof(*r->present));
	r->val = calloc(nkeys, sizeof(*r->val));
	r->vlen = calloc(nkeys, sizeof(*r->vlen));
	r->count = 0;
	ck_assert(r->present && r->val && r->vlen);
}

static void ref_free(struct ref *r)
{
	free(r->present);
	free(r->val);
	free(r->vlen);
}

static void check_key(struct kvmap *m, const struct ref *r, uint32_t id)
{
	unsigned char key[KEY_MAX];
	size_t kl = make_key(id, key);

	if (r->present[id])
		assert_get(m, key, kl, r->val[id], r->vlen[id]);
	else
		assert_absent(m, key, kl);
}

/*
 * nops random operations over nkeys keys: 40% put (random value of 0 to 64
 * bytes, so overwrites change length or not), 40% del, 20% get. Every get
 * and del result and the count after every op are checked against the
 * reference; after a put or del two other random keys are checked too (a
 * bad shift loses or hides a neighbour); every 20000 ops and at the end
 * the full contents are compared by iteration.
 */
static void differential(uint64_t seed, uint32_t nkeys, int nops)
{
	struct kvmap *m = kvmap_new();
	struct ref r;
	unsigned char key[KEY_MAX], val[64];

	ref_init(&r, nkeys);
	for (int op = 0; op < nops; op++) {
		uint32_t id = (uint32_t)rnd_below(&seed, nkeys);
		size_t kl = make_key(id, key);
		unsigned kind = (unsigned)rnd_below(&seed, 10);

		if (kind < 4) {
			size_t vl = rnd_below(&seed, 65);
			void *p;

			for (size_t i = 0; i < vl; i++)
				val[i] = (unsigned char)rnd(&seed);
			p = kvmap_put(m, key, kl, val, vl);
			REQUIRE(p && (!vl || memcmp(p, val, vl) == 0),
			        "op %d: put returned a wrong value", op);
			if (!r.present[id])
				r.count++;
			r.present[id] = true;
			memcpy(r.val[id], val, vl);
			r.vlen[id] = vl;
		} else if (kind < 8) {
			bool was = kvmap_del(m, key, kl);

			REQUIRE(was == r.present[id],
			        "op %d: del of key %u returned %d", op, id,
			        was);
			if (was)
				r.count--;
			r.present[id] = false;
		}
		check_key(m, &r, id);
		if (kind < 8) {
			check_key(m, &r, (uint32_t)rnd_below(&seed, nkeys));
			check_key(m, &r, (uint32_t)rnd_below(&seed, nkeys));
		}
		REQUIRE(kvmap_count(m) == r.count,
		        "op %d: count %zu, expected %zu", op, kvmap_count(m),
		        r.count);
		if (op % 20000 == 19999)
			check_iteration(m, nkeys, r.present, r.val, r.vlen);
	}
	check_iteration(m, nkeys, r.present, r.val, r.vlen);
	for (uint32_t id = 0; id < nkeys; id++)
		check_key(m, &r, id);
	ref_free(&r);
	kvmap_free(m);
}

START_TEST(differential_5k_keys)
{
	static const uint64_t seeds[] = {1, 0xdeadbeef, 20260101};

	differential(seeds[_i], 5000, 200000);
}
END_TEST

/* Few keys: the table stays small, so clusters wrap around its end. */
START_TEST(differential_small_key_spaces)
{
	static const uint32_t spaces[] = {3, 11, 12, 13, 40, 300};

	differential(1000 + (uint64_t)_i, spaces[_i], 200000);
}
END_TEST

static Suite *kvmap_suite(void)
{
	Suite *s = suite_create("kvmap");
	TCase *basic = tcase_create("basic");
	TCase *shape = tcase_create("growth_and_deletion");
	TCase *diff = tcase_create("differential");

	tcase_add_test(basic, new_is_empty);
	tcase_add_test(basic, put_get);
	tcase_add_test(basic, put_copies_key_and_value);
	tcase_add_test(basic, overwrite_same_length);
	tcase_add_test(basic, overwrite_other_length);
	tcase_add_test(basic, binary_keys_with_nul);
	tcase_add_test(basic, empty_key);
	tcase_add_test(basic, del_present_and_absent);
	tcase_add_test(basic, iteration_visits_each_once);
	tcase_add_test(basic, clone_is_independent);
	suite_add_tcase(s, basic);

	tcase_add_test(shape, growth_many_sizes);
	tcase_add_test(shape, large_map);
	tcase_add_test(shape, wrapping_cluster_deletes);
	suite_add_tcase(s, shape);

	tcase_add_loop_test(diff, differential_5k_keys, 0, 3);
	tcase_add_loop_test(diff, differential_small_key_spaces, 0, 6);
	suite_add_tcase(s, diff);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kvmap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
