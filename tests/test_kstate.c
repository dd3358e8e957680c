/*
 * test_kstate.c - managed keyed state and its two-part snapshots: what
 * kstate_fill writes is the state at kstate_freeze whatever the task
 * changed after, the task sees its own changes, copies made for a
 * snapshot are freed once the persister is through (or gave the view back
 * unfilled, as for an aborted checkpoint), a freeze waits for the previous
 * snapshot, kstate_free waits for a writer still reading, and a restore
 * with another parallelism puts every key in exactly one task. The
 * concurrent cases fill on a second thread while the task thread changes
 * the state; they run under ThreadSanitizer (suite 'concurrency').
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyed_state.h"
#include "keyroute.h"
#include "weir/weir.h"
#include "task.h"

#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* The model: for each key id, the u64 values of names "a" and "b"
 * (0: absent). A key with neither is not in the state. */
struct model {
	uint32_t n;
	uint64_t (*v)[2];
};

static struct model model_new(uint32_t n)
{
	struct model m = {.n = n, .v = calloc(n, sizeof(*m.v))};

	ck_assert_ptr_nonnull(m.v);
	return m;
}

static struct model model_copy(const struct model *src)
{
	struct model m = model_new(src->n);

	memcpy(m.v, src->v, src->n * sizeof(*m.v));
	return m;
}

static size_t key_of(uint32_t id, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "user-%u", id);
}

static const char *const names[2] = {"a", "b"};

static void put(struct keyed_state *ks, struct model *m, uint32_t id, int name,
                uint64_t v)
{
	char k[32];

	kstate_set_key(ks, k, key_of(id, k, sizeof(k)));
	kstate_put(ks, names[name], 1, &v, sizeof(v));
	m->v[id][name] = v;
}

static void del(struct keyed_state *ks, struct model *m, uint32_t id, int name)
{
	char k[32];

	kstate_set_key(ks, k, key_of(id, k, sizeof(k)));
	kstate_delete(ks, names[name], 1);
	m->v[id][name] = 0;
}

/* The task's view of the state equals the model. */
static void check_live(struct keyed_state *ks, const struct model *m)
{
	size_t keys = 0;

	for (uint32_t id = 0; id < m->n; id++) {
		char k[32];

		kstate_set_key(ks, k, key_of(id, k, sizeof(k)));
		for (int q = 0; q < 2; q++) {
			const void *v;
			size_t vlen;
			uint64_t got;
			int rc = kstate_get(ks, names[q], 1, &v, &vlen);

			if (!m->v[id][q]) {
				REQUIRE(rc < 0, "key %u: %s present", id,
				        names[q]);
				continue;
			}
			REQUIRE(rc == 0 && vlen == 8, "key %u: %s missing", id,
			        names[q]);
			memcpy(&got, v, 8);
			REQUIRE(got == m->v[id][q],
			        "key %u: %s is %llu, "
			        "expected %llu",
			        id, names[q], (unsigned long long)got,
			        (unsigned long long)m->v[id][q]);
		}
		keys += m->v[id][0] || m->v[id][1];
	}
	REQUIRE(kstate_keys(ks) == keys, "%zu keys, expected %zu",
	        kstate_keys(ks), keys);
}

/* Parses a snapshot section into a model of n keys. Every key must be in
 * the key group it hashes to and, when parallelism > 0, in a group that
 * task index owns. */
static struct model parse(const struct weir_writer *w, uint32_t n, int index,
                          int parallelism)
{
	struct weir_reader r = {.p = w->p, .len = w->len};
	struct model m = model_new(n);
	uint64_t nkeys, group, nnames;

	REQUIRE(weir_read_u64(&r, &nkeys) == WEIR_OK, "no key count");
	for (uint64_t i = 0; i < nkeys; i++) {
		const void *k, *nk, *nv;
		size_t kl, nkl, nvl;
		char buf[32];
		uint32_t id;

		REQUIRE(weir_read_u64(&r, &group) == WEIR_OK &&
		            weir_read_bytes(&r, &k, &kl) == WEIR_OK &&
		            weir_read_u64(&r, &nnames) == WEIR_OK,
		        "key %llu truncated", (unsigned long long)i);
		REQUIRE(kl > 5 && kl < sizeof(buf), "odd key");
		memcpy(buf, k, kl);
		buf[kl] = '\0';
		id = (uint32_t)strtoul(buf + 5, NULL, 10);
		REQUIRE(id < n, "key %u out of range", id);
		REQUIRE(group == (uint64_t)key_group(k, kl),
		        "key %u in the wrong group", id);
		REQUIRE(parallelism == 0 ||
		            key_group_owner((int)group, parallelism) == index,
		        "key %u in task %d of %d", id, index, parallelism);
		REQUIRE(nnames >= 1 && nnames <= 2, "key %u: %llu names", id,
		        (unsigned long long)nnames);
		REQUIRE(!m.v[id][0] && !m.v[id][1], "key %u twice", id);
		for (uint64_t j = 0; j < nnames; j++) {
			uint64_t v;

			REQUIRE(weir_read_bytes(&r, &nk, &nkl) == WEIR_OK &&
			            weir_read_bytes(&r, &nv, &nvl) == WEIR_OK,
			        "key %u: name truncated", id);
			REQUIRE(nkl == 1 && nvl == 8 &&
			            (*(const char *)nk == 'a' ||
			             *(const char *)nk == 'b'),
			        "key %u: odd name", id);
			memcpy(&v, nv, 8);
			m.v[id][*(const char *)nk - 'a'] = v;
		}
	}
	REQUIRE(weir_read_remaining(&r) == 0, "bytes after the section");
	return m;
}

static void check_equal(const struct model *got, const struct model *want,
                        const char *what)
{
	for (uint32_t id = 0; id < want->n; id++)
		for (int q = 0; q < 2; q++)
			REQUIRE(got->v[id][q] == want->v[id][q],
			        "%s: key %u, %s: %llu, expected %llu", what, id,
			        names[q], (unsigned long long)got->v[id][q],
			        (unsigned long long)want->v[id][q]);
}

static struct weir_writer fill(struct keyed_state *ks)
{
	struct weir_writer w = {0};
	char err[128];

	ck_assert_int_eq(kstate_fill(ks, &w, err, sizeof(err)), 0);
	return w;
}

/* A full snapshot: freeze, fill, release; the bytes. */
static struct weir_writer snapshot(struct keyed_state *ks)
{
	struct weir_writer w;

	kstate_freeze(ks);
	w = fill(ks);
	kstate_release(ks);
	return w;
}

/* Fills and releases the frozen view, which must equal want. */
static void expect_filled(struct keyed_state *ks, const struct model *want,
                          const char *what)
{
	struct weir_writer w = fill(ks);
	struct model got;

	kstate_release(ks);
	got = parse(&w, want->n, 0, 0);
	check_equal(&got, want, what);
	free(w.p);
	free(got.v);
}

static void build(struct keyed_state *ks, struct model *m, uint32_t n)
{
	for (uint32_t id = 0; id < n; id++) {
		put(ks, m, id, 0, id + 1);
		if (id % 2)
			put(ks, m, id, 1, 100000 + id);
	}
}

/* ---- one thread ----------------------------------------------------------- */

START_TEST(view_unchanged_by_later_puts_and_deletes)
{
	enum { N = 5000 };
	struct keyed_state *ks = kstate_new();
	struct model m = model_new(2 * N), at_freeze;

	build(ks, &m, N);
	kstate_freeze(ks);
	at_freeze = model_copy(&m);
	for (uint32_t id = 0; id < N; id++) {
		switch (id % 4) {
		case 0:
			put(ks, &m, id, 0, 7000000 + id);
			break;
		case 1:
			del(ks, &m, id, 0); /* key keeps "b" */
			break;
		case 2:
			del(ks, &m, id, 0); /* key has no state left */
			break;
		case 3:
			put(ks, &m, id, 0, 8000000 + id);
			del(ks, &m, id, 1);
			break;
		}
	}
	for (uint32_t id = N; id < 2 * N; id++)
		put(ks, &m, id, 1, id);
	check_live(ks, &m);
	ck_assert_uint_gt(kstate_kept(ks), 0);
	expect_filled(ks, &at_freeze, "the view");
	check_live(ks, &m);
	/* The next snapshot has the changes. */
	kstate_freeze(ks);
	expect_filled(ks, &m, "the next snapshot");
	free(at_freeze.v);
	free(m.v);
	kstate_free(ks);
}
END_TEST

/* Freezes and changes every key, so that every key is copied: the
 * originals and each segment of slot table they were in wait for the
 * writer. */
static void freeze_and_change_all(struct keyed_state *ks, struct model *m,
                                  uint64_t v)
{
	kstate_freeze(ks);
	for (uint32_t id = 0; id < m->n; id++)
		put(ks, m, id, 0, v + id);
	ck_assert_uint_ge(kstate_kept(ks), m->n);
}

/* What a snapshot made the task keep is let go of as soon as the persister
 * is through: group by group as the persister passes them (the task then
 * changes them in place again), or all groups at a release; and freed a
 * little with each change, and more when the task is idle, never all in
 * one change. */
START_TEST(copies_freed_when_the_writer_is_through)
{
	enum { N = 3000 };
	struct keyed_state *ks = kstate_new();
	struct model m = model_new(N);
	struct weir_writer w;
	size_t kept;

	build(ks, &m, N);
	freeze_and_change_all(ks, &m, 10);
	w = fill(ks);
	for (uint32_t id = 0; id < N; id++)
		put(ks, &m, id, 1, id + 6);
	ck_assert_uint_eq(kstate_kept(ks), 0);
	kstate_release(ks);
	free(w.p);

	freeze_and_change_all(ks, &m, 20);
	kept = kstate_kept(ks);
	kstate_release(ks);
	for (uint32_t id = 0; id < 10; id++)
		put(ks, &m, id, 0, 1);
	ck_assert_uint_lt(kstate_kept(ks), kept);
	ck_assert_uint_gt(kstate_kept(ks), kept - 10 * 8 - 1);
	kstate_idle(ks);
	ck_assert_uint_eq(kstate_kept(ks), 0);
	check_live(ks, &m);
	free(m.v);
	kstate_free(ks);
}
END_TEST

/* An aborted checkpoint's view is released unfilled; the state and the
 * next snapshot are as if it never was. */
START_TEST(released_unfilled_after_abort)
{
	enum { N = 2000 };
	struct keyed_state *ks = kstate_new();
	struct model m = model_new(N);

	build(ks, &m, N);
	kstate_freeze(ks);
	for (uint32_t id = 0; id < N; id += 3)
		del(ks, &m, id, 0);
	kstate_release(ks);
	for (uint32_t id = 1; id < N; id += 3)
		put(ks, &m, id, 1, 42);
	ck_assert_uint_eq(kstate_kept(ks), 0);
	kstate_freeze(ks);
	expect_filled(ks, &m, "after an abort");
	free(m.v);
	kstate_free(ks);
}
END_TEST

static void restore_into(struct keyed_state *ks, const struct weir_writer *w,
                         int index, int parallelism)
{
	struct weir_reader r = {.p = w->p, .len = w->len};
	char err[256];

	ck_assert_msg(
	    kstate_restore(ks, &r, index, parallelism, err, sizeof(err)) == 0,
	    "restore: %s", err);
	ck_assert_uint_eq(weir_read_remaining(&r), 0);
}

/* State written by one task and restored into three, then from the three
 * into two: every key lands in exactly the task that owns its group, with
 * its values, and the union is the original. */
START_TEST(restore_rescaled_exact)
{
	enum { N = 20000 };
	struct keyed_state *one = kstate_new(), *three[3], *two[2];
	struct weir_writer w3[3], w2, w1 = {0};
	struct model m = model_new(N), merged = model_new(N);

	build(one, &m, N);
	w1 = snapshot(one);
	for (int i = 0; i < 3; i++) {
		struct model part;

		three[i] = kstate_new();
		restore_into(three[i], &w1, i, 3);
		w3[i] = snapshot(three[i]);
		part = parse(&w3[i], N, i, 3);
		for (uint32_t id = 0; id < N; id++)
			for (int q = 0; q < 2; q++)
				if (part.v[id][q])
					merged.v[id][q] = part.v[id][q];
		free(part.v);
	}
	check_equal(&merged, &m, "three tasks");
	memset(merged.v, 0, N * sizeof(*merged.v));
	for (int i = 0; i < 2; i++) {
		struct model part;

		two[i] = kstate_new();
		for (int k = 0; k < 3; k++)
			restore_into(two[i], &w3[k], i, 2);
		w2 = snapshot(two[i]);
		part = parse(&w2, N, i, 2);
		for (uint32_t id = 0; id < N; id++)
			for (int q = 0; q < 2; q++)
				if (part.v[id][q])
					merged.v[id][q] = part.v[id][q];
		free(part.v);
		free(w2.p);
		kstate_free(two[i]);
	}
	check_equal(&merged, &m, "two tasks");
	for (int i = 0; i < 3; i++) {
		free(w3[i].p);
		kstate_free(three[i]);
	}
	free(w1.p);
	free(m.v);
	free(merged.v);
	kstate_free(one);
}
END_TEST

static void put_u64(struct weir_writer *w, uint64_t v)
{
	weir_write_u64(w, v);
}

static void put_key(struct weir_writer *w, const char *key, uint64_t a)
{
	put_u64(w, (uint64_t)key_group(key, strlen(key)));
	weir_write_bytes(w, key, strlen(key));
	put_u64(w, 1);
	weir_write_bytes(w, "a", 1);
	weir_write_bytes(w, &a, 8);
}

/* Sections written before key groups were kept apart list keys in hash
 * table order, groups interleaved; they restore the same. A key in the
 * wrong group and a truncated section are refused with a message. */
START_TEST(restore_any_key_order_and_refusals)
{
	struct keyed_state *ks = kstate_new();
	struct weir_writer w = {0};
	struct weir_reader r;
	struct model m = model_new(4);
	char err[256];

	put_u64(&w, 3);
	put_key(&w, "user-3", 33);
	put_key(&w, "user-0", 10);
	put_key(&w, "user-2", 22);
	restore_into(ks, &w, 0, 1);
	m.v[3][0] = 33;
	m.v[0][0] = 10;
	m.v[2][0] = 22;
	check_live(ks, &m);
	kstate_free(ks);

	/* The group field says 5 more than the hash. */
	ks = kstate_new();
	w.len = 0;
	put_u64(&w, 1);
	put_u64(&w, (uint64_t)(key_group("user-1", 6) + 5) % KEY_GROUPS);
	weir_write_bytes(&w, "user-1", 6);
	put_u64(&w, 0);
	r = (struct weir_reader){.p = w.p, .len = w.len};
	ck_assert_int_eq(kstate_restore(ks, &r, 0, 1, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "key group"), "message: %s", err);

	/* Cut in the middle of a value. */
	w.len = 0;
	put_u64(&w, 1);
	put_key(&w, "user-1", 1);
	r = (struct weir_reader){.p = w.p, .len = w.len - 3};
	ck_assert_int_eq(kstate_restore(ks, &r, 0, 1, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "truncated"), "message: %s", err);
	free(w.p);
	free(m.v);
	kstate_free(ks);
}
END_TEST

/* ---- two threads ----------------------------------------------------------- */

struct filler {
	struct keyed_state *ks;
	struct weir_writer w;
	int rc;
	unsigned delay_us;    /* before filling */
	bool skip_fill;       /* release unfilled, as for an abort */
	atomic_int releasing; /* set just before kstate_release */
};

static void *fill_main(void *arg)
{
	struct filler *f = arg;
	char err[128];

	if (f->delay_us)
		usleep(f->delay_us);
	if (!f->skip_fill)
		f->rc = kstate_fill(f->ks, &f->w, err, sizeof(err));
	atomic_store(&f->releasing, 1);
	kstate_release(f->ks);
	return NULL;
}

/* Builds m->n keys in f->ks, freezes, and starts the persister. */
static pthread_t build_and_start_writer(struct filler *f, struct model *m)
{
	pthread_t th;

	build(f->ks, m, m->n);
	kstate_freeze(f->ks);
	ck_assert_int_eq(pthread_create(&th, NULL, fill_main, f), 0);
	return th;
}

/* The persister fills while the task keeps changing every kind of thing;
 * each round's bytes are the state at its freeze. */
START_TEST(concurrent_fill_while_task_changes)
{
	enum { N = 20000, ROUNDS = 6 };
	struct keyed_state *ks = kstate_new();
	struct model m = model_new(2 * N);
	uint64_t s = 12345;

	build(ks, &m, N);
	for (int round = 0; round < ROUNDS; round++) {
		struct filler f = {.ks = ks};
		struct model at_freeze, got;
		pthread_t th;

		kstate_freeze(ks);
		at_freeze = model_copy(&m);
		ck_assert_int_eq(pthread_create(&th, NULL, fill_main, &f), 0);
		for (int op = 0; op < 30000; op++) {
			uint32_t id;

			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			id = (uint32_t)(s >> 33) % (2 * N);
			if ((s >> 20) % 4 == 0)
				del(ks, &m, id, (int)(s >> 60) & 1);
			else
				put(ks, &m, id, (int)(s >> 60) & 1,
				    (uint64_t)round << 32 | (uint64_t)op);
		}
		pthread_join(th, NULL);
		ck_assert_int_eq(f.rc, 0);
		got = parse(&f.w, 2 * N, 0, 0);
		check_equal(&got, &at_freeze, "concurrent view");
		check_live(ks, &m);
		free(f.w.p);
		free(got.v);
		free(at_freeze.v);
	}
	/* Idle turns after the last release free every copy. */
	for (int i = 0; i < 100 && kstate_kept(ks) > 0; i++)
		kstate_idle(ks);
	ck_assert_uint_eq(kstate_kept(ks), 0);
	free(m.v);
	kstate_free(ks);
}
END_TEST

/* A freeze while the previous view is still out waits for its release. */
START_TEST(freeze_waits_for_previous_release)
{
	struct keyed_state *ks = kstate_new();
	struct model m = model_new(100);
	struct filler f = {.ks = ks, .delay_us = 100000, .skip_fill = true};
	pthread_t th = build_and_start_writer(&f, &m);

	put(ks, &m, 1, 0, 77);
	kstate_freeze(ks);
	ck_assert_int_eq(atomic_load(&f.releasing), 1);
	pthread_join(th, NULL);
	expect_filled(ks, &m, "second snapshot");
	free(m.v);
	kstate_free(ks);
}
END_TEST

/* kstate_free with the persister still reading stops it and waits for the
 * release before freeing anything. */
START_TEST(free_waits_for_the_writer)
{
	struct keyed_state *ks = kstate_new();
	struct model m = model_new(20000);
	struct filler f = {.ks = ks, .delay_us = 50000};
	pthread_t th = build_and_start_writer(&f, &m);

	kstate_free(ks);
	ck_assert_int_eq(atomic_load(&f.releasing), 1);
	pthread_join(th, NULL);
	/* Stopped before the first group, unless it was quicker than the
	 * free. */
	ck_assert(f.rc == -1 || f.rc == 0);
	free(f.w.p);
	free(m.v);
}
END_TEST

static Suite *kstate_suite(void)
{
	Suite *s = suite_create("kstate");
	TCase *one = tcase_create("snapshot");
	TCase *two = tcase_create("concurrent");

	tcase_add_test(one, view_unchanged_by_later_puts_and_deletes);
	tcase_add_test(one, copies_freed_when_the_writer_is_through);
	tcase_add_test(one, released_unfilled_after_abort);
	tcase_add_test(one, restore_rescaled_exact);
	tcase_add_test(one, restore_any_key_order_and_refusals);
	suite_add_tcase(s, one);
	tcase_set_timeout(two, 120);
	tcase_add_test(two, concurrent_fill_while_task_changes);
	tcase_add_test(two, freeze_waits_for_previous_release);
	tcase_add_test(two, free_waits_for_the_writer);
	suite_add_tcase(s, two);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kstate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
