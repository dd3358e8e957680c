/*
 * test_cowmap.c - the freezable key map behind keyed state: a view is
 * exactly the map at its freeze whatever the owner does after (changes,
 * removals, additions that grow the table), the owner sees its own
 * changes, an entry is copied at most once per freeze, and what was kept
 * for the view goes to the trash at the thaw and is freed from there bit
 * by bit (ASan's leak check sees the rest). A
 * randomized differential test against a plain array runs many freeze and
 * thaw cycles with every kind of change in between.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cowmap.h"
#include "kvmap.h"

/* ck_assert_* costs a write per check; hot loops use REQUIRE. */
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* xorshift64*: deterministic per test. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Key id 0 is the empty key, the others "key-<id>". */
static size_t key_text(uint32_t id, char *buf, size_t len)
{
	if (id == 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)snprintf(buf, len, "key-%u", id);
}

static uint32_t key_id(const char *key, size_t klen)
{
	char buf[32];

	if (klen == 0)
		return 0;
	REQUIRE(klen > 4 && klen < sizeof(buf) && !memcmp(key, "key-", 4),
	        "unexpected key of %zu bytes", klen);
	memcpy(buf, key + 4, klen - 4);
	buf[klen - 4] = '\0';
	return (uint32_t)strtoul(buf, NULL, 10);
}

/* A key's value is generation gen (> 0): name "v" holding gen in 8 bytes,
 * then gen % 33 bytes that derive from it, so that values change length
 * and a torn or stale value shows. */
static size_t value_bytes(uint64_t gen, unsigned char *buf)
{
	size_t n = 8 + (size_t)(gen % 33);

	memcpy(buf, &gen, 8);
	for (size_t i = 8; i < n; i++)
		buf[i] = (unsigned char)(gen * 31 + i);
	return n;
}

static uint64_t value_gen(const struct cowent *e)
{
	unsigned char want[64];
	size_t vlen = 0;
	const unsigned char *v = kvmap_get(e->names, "v", 1, &vlen);
	uint64_t gen;

	REQUIRE(v && vlen >= 8, "entry without its value");
	REQUIRE(kvmap_count(e->names) == 1, "entry with %zu names",
	        kvmap_count(e->names));
	memcpy(&gen, v, 8);
	REQUIRE(value_bytes(gen, want) == vlen && !memcmp(want, v, vlen),
	        "value of %zu bytes is not generation %llu's", vlen,
	        (unsigned long long)gen);
	return gen;
}

static void set(struct cowmap *m, uint32_t id, uint64_t gen)
{
	char k[32];
	unsigned char v[64];
	size_t klen = key_text(id, k, sizeof(k));
	size_t vlen = value_bytes(gen, v);
	struct cowent *e = cowmap_find(m, k, klen);

	e = e ? cowmap_own(m, e) : cowmap_add(m, k, klen);
	kvmap_put(e->names, "v", 1, v, vlen);
}

static void del(struct cowmap *m, uint32_t id)
{
	char k[32];
	size_t klen = key_text(id, k, sizeof(k));
	struct cowent *e = cowmap_find(m, k, klen);

	if (e)
		cowmap_remove(m, e);
}

/* The live map holds exactly gens[0..n) (0: absent). */
static void check_live(struct cowmap *m, const uint64_t *gens, uint32_t n)
{
	size_t present = 0;

	for (uint32_t id = 0; id < n; id++) {
		char k[32];
		size_t klen = key_text(id, k, sizeof(k));
		struct cowent *e = cowmap_find(m, k, klen);

		if (!gens[id]) {
			REQUIRE(!e, "key %u: removed but found", id);
			continue;
		}
		present++;
		REQUIRE(e, "key %u: missing", id);
		REQUIRE(value_gen(e) == gens[id],
		        "key %u: generation %llu, expected %llu", id,
		        (unsigned long long)value_gen(e),
		        (unsigned long long)gens[id]);
	}
	REQUIRE(cowmap_count(m) == present, "count %zu, expected %zu",
	        cowmap_count(m), present);
}

/* The view holds exactly gens[0..n). */
static void check_view(const struct cowmap_view *v, const uint64_t *gens,
                       uint32_t n)
{
	uint64_t *seen = calloc(n, sizeof(*seen));
	const struct cowent *e;
	size_t pos = 0, count = 0, present = 0;

	ck_assert_ptr_nonnull(seen);
	while (cowmap_view_next(v, &pos, &e)) {
		uint32_t id = key_id(e->key, e->klen);

		REQUIRE(id < n, "view: key %u out of range", id);
		REQUIRE(!seen[id], "view: key %u twice", id);
		seen[id] = value_gen(e);
		count++;
	}
	for (uint32_t id = 0; id < n; id++) {
		REQUIRE(seen[id] == gens[id],
		        "view: key %u has generation %llu, the freeze saw "
		        "%llu",
		        id, (unsigned long long)seen[id],
		        (unsigned long long)gens[id]);
		present += gens[id] != 0;
	}
	REQUIRE(count == present && count == v->n,
	        "view: %zu entries, %zu expected, n %zu", count, present, v->n);
	free(seen);
}

/* ---- cases ---------------------------------------------------------------- */

START_TEST(view_unchanged_by_later_changes)
{
	enum { N = 1000, ALL = 3 * N };
	struct cowmap *m = cowmap_new();
	uint64_t at_freeze[ALL] = {0}, now[ALL] = {0};
	struct cowmap_view v;
	struct cowtrash t = {0};
	size_t kept;

	for (uint32_t id = 0; id < N; id++)
		set(m, id, now[id] = at_freeze[id] = id + 1);
	v = cowmap_freeze(m);
	ck_assert(cowmap_frozen(m));
	ck_assert_uint_eq(cowmap_kept(m), 0);
	/* Change a third, remove a third, and add twice as many keys again,
	 * which grows the table twice while frozen. */
	for (uint32_t id = 0; id < N; id++) {
		if (id % 3 == 0)
			set(m, id, now[id] = 5000 + id);
		else if (id % 3 == 1)
			del(m, id), now[id] = 0;
	}
	for (uint32_t id = N; id < ALL; id++)
		set(m, id, now[id] = id + 1);
	check_live(m, now, ALL);
	check_view(&v, at_freeze, ALL);
	/* Changed and removed entries, and at least a piece of slot table,
	 * wait for the thaw. */
	kept = cowmap_kept(m);
	ck_assert_uint_ge(kept, 2 * N / 3 + 1);
	cowmap_thaw(m, &t);
	ck_assert(!cowmap_frozen(m));
	ck_assert_uint_eq(cowmap_kept(m), 0);
	ck_assert_uint_eq(cowtrash_count(&t), kept);
	/* The trash empties as far as each sweep's budget goes. */
	ck_assert_uint_eq(cowtrash_sweep(&t, 10), kept - 10);
	ck_assert_uint_eq(cowtrash_sweep(&t, kept), 0);
	ck_assert_uint_eq(cowtrash_sweep(&t, 1), 0);
	check_live(m, now, ALL);
	cowtrash_clear(&t);
	cowmap_free(m);
}
END_TEST

START_TEST(copies_once_per_freeze)
{
	struct cowmap *m = cowmap_new();
	struct cowent *e, *c;
	struct cowtrash t = {0};

	set(m, 7, 1);
	e = cowmap_find(m, "key-7", 5);
	/* Not frozen: changes are made in place. */
	ck_assert_ptr_eq(cowmap_own(m, e), e);
	cowmap_freeze(m);
	c = cowmap_own(m, e);
	ck_assert_ptr_ne(c, e);
	ck_assert_ptr_ne(c->names, e->names);
	ck_assert_ptr_eq(cowmap_find(m, "key-7", 5), c);
	ck_assert_ptr_eq(cowmap_own(m, c), c);
	/* A key added while frozen is the owner's from the start. */
	set(m, 8, 1);
	e = cowmap_find(m, "key-8", 5);
	ck_assert_ptr_eq(cowmap_own(m, e), e);
	/* Key 7, the slot segment and the directory. */
	ck_assert_uint_eq(cowmap_kept(m), 3);
	cowmap_thaw(m, &t);
	ck_assert_uint_eq(cowtrash_count(&t), 3);
	cowtrash_clear(&t);
	ck_assert_ptr_eq(cowmap_own(m, c), c);
	ck_assert_uint_eq(cowmap_kept(m), 0);
	cowmap_free(m);
	cowmap_free(NULL);
}
END_TEST

/* In a large table a change copies the segment of the slot it writes (and
 * the directory, once), not the table. */
START_TEST(a_change_copies_one_segment)
{
	enum { N = 20000 };
	struct cowmap *m = cowmap_new();
	struct cowtrash t = {0};
	char k[32];
	size_t klen;
	struct cowent *a, *b;
	uint32_t id;

	for (id = 1; id <= N; id++)
		set(m, id, id);
	cowmap_freeze(m);
	set(m, 1, 99);
	ck_assert_uint_eq(cowmap_kept(m), 3); /* entry, segment, directory */
	/* A key whose slot is in another segment: entry and segment. */
	klen = key_text(1, k, sizeof(k));
	a = cowmap_find(m, k, klen);
	for (id = 2; id <= N; id++) {
		klen = key_text(id, k, sizeof(k));
		b = cowmap_find(m, k, klen);
		if (((a->hash ^ b->hash) & 32767) >= 4096)
			break;
	}
	ck_assert_uint_le(id, N);
	set(m, id, 99);
	ck_assert_uint_eq(cowmap_kept(m), 5);
	cowmap_thaw(m, &t);
	cowtrash_clear(&t);
	cowmap_free(m);
}
END_TEST

START_TEST(empty_key_and_empty_map)
{
	struct cowmap *m = cowmap_new();
	struct cowmap_view v = cowmap_freeze(m);
	const struct cowent *e;
	size_t pos = 0;
	uint64_t gens[2] = {9, 0};
	struct cowtrash t = {0};

	ck_assert(!cowmap_view_next(&v, &pos, &e));
	set(m, 0, 9);
	check_live(m, gens, 2);
	cowmap_thaw(m, &t);
	v = cowmap_freeze(m);
	check_view(&v, gens, 2);
	del(m, 0);
	ck_assert_uint_eq(cowmap_count(m), 0);
	check_view(&v, gens, 2);
	cowmap_thaw(m, &t);
	cowtrash_clear(&t);
	cowmap_free(m);
}
END_TEST

/* Freed while frozen: the kept entries and arrays go too (leak check). */
START_TEST(free_while_frozen)
{
	struct cowmap *m = cowmap_new();

	for (uint32_t id = 1; id < 200; id++)
		set(m, id, id);
	cowmap_freeze(m);
	for (uint32_t id = 1; id < 200; id += 2)
		set(m, id, id + 1000);
	for (uint32_t id = 2; id < 200; id += 4)
		del(m, id);
	for (uint32_t id = 200; id < 600; id++)
		set(m, id, id);
	ck_assert_uint_gt(cowmap_kept(m), 100);
	cowmap_free(m);
}
END_TEST

/*
 * Random adds, changes and removals over nkeys keys, with a freeze now and
 * then; each view is checked against the model as it was at its freeze,
 * both right after more changes and at the thaw. A thaw goes to a trash
 * that is swept a little at a time, so it is often thawed into while not
 * yet empty.
 */
static void differential(uint64_t seed, uint32_t nkeys, int ops)
{
	struct cowmap *m = cowmap_new();
	uint64_t *now = calloc(nkeys, sizeof(*now));
	uint64_t *frozen = calloc(nkeys, sizeof(*frozen));
	uint64_t gen = 1, s = seed;
	struct cowmap_view v = {0};
	struct cowtrash t = {0};
	int freezes = 0;

	ck_assert_ptr_nonnull(now);
	ck_assert_ptr_nonnull(frozen);
	for (int op = 0; op < ops; op++) {
		uint64_t r = next_rand(&s);
		uint32_t id = (uint32_t)(r % nkeys);

		cowtrash_sweep(&t, (r >> 56) % 3);
		switch ((r >> 32) % 100) {
		case 0:
			if (cowmap_frozen(m)) {
				size_t kept = cowmap_kept(m),
				       trash = cowtrash_count(&t);

				check_view(&v, frozen, nkeys);
				cowmap_thaw(m, &t);
				REQUIRE(cowmap_kept(m) == 0, "kept after thaw");
				REQUIRE(cowtrash_count(&t) == trash + kept,
				        "trash %zu after thawing %zu into %zu",
				        cowtrash_count(&t), kept, trash);
			} else {
				v = cowmap_freeze(m);
				memcpy(frozen, now, nkeys * sizeof(*now));
				freezes++;
			}
			break;
		case 1:
			check_live(m, now, nkeys);
			if (cowmap_frozen(m))
				check_view(&v, frozen, nkeys);
			break;
		default:
			/* Removals a little less often than sets, so the
			 * map fills and empties in waves. */
			if ((r >> 40) % 5 < 2) {
				del(m, id);
				now[id] = 0;
			} else {
				gen++;
				set(m, id, gen);
				now[id] = gen;
			}
		}
	}
	check_live(m, now, nkeys);
	if (cowmap_frozen(m))
		check_view(&v, frozen, nkeys);
	ck_assert_int_gt(freezes, 10);
	cowtrash_clear(&t);
	cowmap_free(m);
	free(now);
	free(frozen);
}

START_TEST(differential_random)
{
	static const uint32_t keys[] = {5, 60, 3000};

	differential(0x9e3779b97f4a7c15ULL + (uint64_t)_i, keys[_i], 60000);
}
END_TEST

static Suite *cowmap_suite(void)
{
	Suite *s = suite_create("cowmap");
	TCase *basic = tcase_create("freeze");
	TCase *diff = tcase_create("differential");

	tcase_add_test(basic, view_unchanged_by_later_changes);
	tcase_add_test(basic, copies_once_per_freeze);
	tcase_add_test(basic, a_change_copies_one_segment);
	tcase_add_test(basic, empty_key_and_empty_map);
	tcase_add_test(basic, free_while_frozen);
	suite_add_tcase(s, basic);
	tcase_add_loop_test(diff, differential_random, 0, 3);
	suite_add_tcase(s, diff);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cowmap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
