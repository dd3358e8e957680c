/*
 * test_keyset.c - the compact set keyed state uses to remember which keys
 * changed since a checkpoint: a member is added once however often it is
 * added, members come back in the order they were first added, the empty
 * key and keys of every length up to 64 KiB (keys that are prefixes of
 * each other, keys with zero bytes) are members like any other, a clear
 * forgets them all and gives back what a large set took, and a million
 * members cost about what keyset.h promises. Two keys whose hashes agree
 * where the table looks are told apart. A randomized run checks
 * every answer against a plain model.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "keyset.h"

/* ck_assert_* costs a write per check; hot loops use REQUIRE. */
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* What keyset_clear may keep (keyset.c keeps 64 KiB of arena and 4096
 * slots; twice that is still small next to a set of a million). */
#define SMALL_AFTER_CLEAR ((size_t)192 << 10)

/* xorshift64*: deterministic per test. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* The bytes all keys are cut from: key id is the first len_of(id) bytes
 * starting at offset id % 251, so that many keys are prefixes of others,
 * and the bytes include zeros. */
#define POOL_LEN (70000 + 256)
static unsigned char pool[POOL_LEN];

static void pool_init(void)
{
	uint64_t s = 99;

	for (size_t i = 0; i < POOL_LEN; i++)
		pool[i] =
		    (unsigned char)(next_rand(&s) % 7 == 0 ? 0 : next_rand(&s));
}

/* Lengths 0 to 40 mostly, some to 300, a few of 64 KiB and more. Id 0
 * is the empty key. The key is made unique by its first 4 bytes being
 * the id, when it has 4 bytes; shorter keys are ids below 2^(8 len). */
static size_t len_of(uint32_t id)
{
	if (id == 0)
		return 0;
	if (id < 256)
		return 1 + id % 3; /* 1..3 bytes: ids must fit, see key_of */
	if (id % 9973 == 5000)
		return 65536 + id % 300;
	if (id % 13 == 0)
		return 41 + id % 260;
	return 4 + id % 37;
}

/* The key of id in buf (at least len_of(id) bytes). */
static const void *key_of(uint32_t id, unsigned char *buf, size_t *len)
{
	size_t n = len_of(id);

	memcpy(buf, pool + id % 251, n);
	if (n >= 4)
		memcpy(buf, &id, 4);
	else
		for (size_t i = 0; i < n; i++)
			/* 1..3 bytes: the id in the last byte, the rest
			 * zeros: "\0", "\0\0x", ... never clash. */
			buf[i] = i + 1 == n ? (unsigned char)id : 0;
	*len = n;
	return buf;
}

/* The model: ids in the order they were first added, and which are in. */
struct model {
	uint32_t *order;
	size_t n;
	bool *in;
	uint32_t ids;
};

static struct model model_new(uint32_t ids)
{
	struct model m = {.order = calloc(ids, sizeof(uint32_t)),
	                  .in = calloc(ids, sizeof(bool)),
	                  .ids = ids};

	ck_assert(m.order && m.in);
	return m;
}

static void model_free(struct model *m)
{
	free(m->order);
	free(m->in);
}

static bool model_add(struct model *m, uint32_t id)
{
	if (m->in[id])
		return false;
	m->in[id] = true;
	m->order[m->n++] = id;
	return true;
}

static void model_clear(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		m->in[m->order[i]] = false;
	m->n = 0;
}

static unsigned char *keybuf(void)
{
	unsigned char *b = malloc(POOL_LEN);

	ck_assert_ptr_nonnull(b);
	return b;
}

/* Adds id to both; the set must say what the model says. */
static void add(struct keyset *s, struct model *m, uint32_t id,
                unsigned char *buf)
{
	size_t len;
	const void *k = key_of(id, buf, &len);
	bool want = model_add(m, id), got = keyset_add(s, k, len);

	REQUIRE(got == want, "add of key %u (%zu bytes): %s, expected %s", id,
	        len, got ? "added" : "already there",
	        want ? "added" : "already there");
}

/* The set holds exactly the model's keys, in the model's order. */
static void check_same(const struct keyset *s, const struct model *m,
                       unsigned char *buf)
{
	const void *k;
	size_t len, pos = 0, i = 0;

	REQUIRE(keyset_count(s) == m->n, "%zu members, expected %zu",
	        keyset_count(s), m->n);
	while (keyset_next(s, &pos, &k, &len)) {
		size_t wlen;
		const void *want;

		REQUIRE(i < m->n, "more members than the %zu added", m->n);
		want = key_of(m->order[i], buf, &wlen);
		REQUIRE(len == wlen && (len == 0 || !memcmp(k, want, len)),
		        "member %zu: %zu bytes, expected key %u of %zu", i, len,
		        m->order[i], wlen);
		i++;
	}
	REQUIRE(i == m->n, "%zu members visited, expected %zu", i, m->n);
	/* The end stays the end. */
	REQUIRE(!keyset_next(s, &pos, &k, &len), "a member after the end");
}

/* ---- tests ----------------------------------------------------------------
 */

START_TEST(empty_set)
{
	struct keyset *s = keyset_new();
	const void *k;
	size_t len, pos = 0;

	ck_assert_uint_eq(keyset_count(s), 0);
	ck_assert(!keyset_next(s, &pos, &k, &len));
	keyset_clear(s);
	ck_assert_uint_eq(keyset_count(s), 0);
	ck_assert(!keyset_next(s, &pos, &k, &len));
	keyset_free(s);
	keyset_free(NULL);
}
END_TEST

/* The empty key, keys that differ only in length or in one zero byte, and
 * keys that hash alike in their low bits are all told apart. */
START_TEST(edge_keys)
{
	static const struct {
		const char *k;
		size_t len;
	} keys[] = {
	    {"", 0},        {"\0", 1},       {"\0\0", 2}, {"a", 1},
	    {"a\0", 2},     {"ab", 2},       {"abc", 3},  {"abc\0", 4},
	    {"ab\0c", 4},   {"\xff", 1},     {"A", 1},    {"user-1", 6},
	    {"user-10", 7}, {"user-1\0", 7},
	};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	struct keyset *s = keyset_new();
	const void *k;
	size_t len, pos = 0, i = 0;

	for (int round = 0; round < 3; round++)
		for (size_t j = 0; j < N; j++)
			ck_assert_msg(keyset_add(s, keys[j].k, keys[j].len) ==
			                  (round == 0),
			              "round %d, key %zu", round, j);
	ck_assert_uint_eq(keyset_count(s), N);
	while (keyset_next(s, &pos, &k, &len)) {
		ck_assert_uint_lt(i, N);
		ck_assert_uint_eq(len, keys[i].len);
		ck_assert(len == 0 || memcmp(k, keys[i].k, len) == 0);
		i++;
	}
	ck_assert_uint_eq(i, N);
	keyset_free(s);
}
END_TEST

/* Random adds from a pool of ids (most of them added many times), with a
 * clear now and then, checked against the model after each phase. */
START_TEST(random_against_model)
{
	enum { IDS = 6000, PHASES = 40 };
	struct keyset *s = keyset_new();
	struct model m = model_new(IDS);
	unsigned char *buf = keybuf();
	uint64_t seed = 0x5eed0000u + (uint64_t)_i;

	for (int phase = 0; phase < PHASES; phase++) {
		uint64_t r = next_rand(&seed);
		/* Phases of a few adds and of many, over few ids and all. */
		uint32_t span = r % 3 == 0 ? 50 : IDS;
		size_t adds = (size_t)(r >> 8) % (r % 2 ? 30 : 20000);

		for (size_t i = 0; i < adds; i++)
			add(s, &m, (uint32_t)(next_rand(&seed) % span), buf);
		check_same(s, &m, buf);
		if (next_rand(&seed) % 4 == 0) {
			keyset_clear(s);
			model_clear(&m);
			check_same(s, &m, buf);
		}
	}
	free(buf);
	model_free(&m);
	keyset_free(s);
}
END_TEST

/* A million members: all there once, in order, at about the cost
 * keyset.h states (bytes + 4 per member, one 8-byte slot of a table at
 * most 70% full); a clear gives the memory back and the set is as good
 * as new after. */
START_TEST(a_million_then_clear)
{
	enum { N = 1000000 };
	struct keyset *s = keyset_new();
	struct model m = model_new(N);
	unsigned char *buf = keybuf();
	size_t key_bytes = 0, slots, bound;

	for (uint32_t id = 0; id < N; id++) {
		add(s, &m, id, buf);
		key_bytes += len_of(id);
	}
	check_same(s, &m, buf);
	for (uint32_t id = 0; id < N; id += 7)
		add(s, &m, id, buf);
	ck_assert_uint_eq(keyset_count(s), N);
	/* The slot table: the smallest power of two that holds N at 70%,
	 * doubled once at most by when the growth test runs. */
	for (slots = 64; slots * 7 < (size_t)N * 10; slots *= 2)
		;
	bound = 2 * (key_bytes + 4 * (size_t)N) + 4096 + 2 * slots * 8;
	ck_assert_msg(keyset_bytes(s) >= key_bytes + 4 * (size_t)N,
	              "%zu bytes for %zu bytes of keys", keyset_bytes(s),
	              key_bytes);
	ck_assert_msg(keyset_bytes(s) <= bound,
	              "%zu bytes, more than %zu for %zu bytes of keys",
	              keyset_bytes(s), bound, key_bytes);

	keyset_clear(s);
	model_clear(&m);
	ck_assert_msg(keyset_bytes(s) <= SMALL_AFTER_CLEAR,
	              "%zu bytes kept after a clear", keyset_bytes(s));
	check_same(s, &m, buf);
	/* What was there is new again. */
	for (uint32_t id = N - 1; id > N - 5000; id--)
		add(s, &m, id, buf);
	check_same(s, &m, buf);
	keyset_clear(s);
	model_clear(&m);
	ck_assert_msg(keyset_bytes(s) <= SMALL_AFTER_CLEAR,
	              "%zu bytes kept after a clear", keyset_bytes(s));
	free(buf);
	model_free(&m);
	keyset_free(s);
}
END_TEST

/* A set filled with a few keys and cleared each checkpoint keeps its
 * memory (no malloc per interval), and never grows with the rounds. */
START_TEST(small_set_reused)
{
	struct keyset *s = keyset_new();
	struct model m = model_new(200);
	unsigned char *buf = keybuf();
	size_t first = 0;

	for (int round = 0; round < 1000; round++) {
		for (uint32_t id = 0; id < 200; id += 1 + round % 5)
			add(s, &m, id, buf);
		check_same(s, &m, buf);
		if (round == 0)
			first = keyset_bytes(s);
		keyset_clear(s);
		model_clear(&m);
		ck_assert_uint_eq(keyset_bytes(s), first);
	}
	free(buf);
	model_free(&m);
	keyset_free(s);
}
END_TEST

/* Two keys, one a prefix of the other, whose hashes agree in the 24 bits
 * the table keeps and in the low 6 (the first slot in a table of 64):
 * found by a search over "user-72<hex>" offline, with XXH3 as xxhash
 * 0.8 computes it. Only their lengths tell them apart. */
START_TEST(same_tag_same_slot)
{
	static const char s[] = "user-7", l[] = "user-72d774a1e";
	struct keyset *set = keyset_new();
	const void *k;
	size_t len, pos = 0;

	ck_assert_uint_eq(XXH3_64bits(s, 6) >> 40, XXH3_64bits(l, 14) >> 40);
	ck_assert_uint_eq(XXH3_64bits(s, 6) & 63, XXH3_64bits(l, 14) & 63);
	ck_assert(keyset_add(set, s, 6));
	ck_assert(keyset_add(set, l, 14));
	ck_assert(!keyset_add(set, s, 6));
	ck_assert(!keyset_add(set, l, 14));
	ck_assert_uint_eq(keyset_count(set), 2);
	keyset_clear(set);
	ck_assert(keyset_add(set, l, 14));
	ck_assert(keyset_add(set, s, 6));
	ck_assert(keyset_next(set, &pos, &k, &len) && len == 14);
	ck_assert(keyset_next(set, &pos, &k, &len) && len == 6);
	ck_assert(!memcmp(k, s, 6));
	keyset_free(set);
}
END_TEST

static Suite *keyset_suite(void)
{
	Suite *s = suite_create("keyset");
	TCase *tc = tcase_create("keyset");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, empty_set);
	tcase_add_test(tc, edge_keys);
	tcase_add_test(tc, same_tag_same_slot);
	tcase_add_loop_test(tc, random_against_model, 0, 4);
	tcase_add_test(tc, a_million_then_clear);
	tcase_add_test(tc, small_set_reused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keyset_suite());
	int failed;

	pool_init();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
