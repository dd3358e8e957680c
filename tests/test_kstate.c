/*
 * test_kstate.c - managed keyed state and its two-part snapshots: what
 * kstate_fill writes is the state at kstate_freeze whatever the task
 * changed after, the task sees its own changes, copies made for a
 * snapshot are freed once the persister is through (or gave the view back
 * unfilled, as for an aborted checkpoint), a freeze waits for the previous
 * snapshot, kstate_free waits for a writer still reading, and a restore
 * with another parallelism puts every key in exactly one task.
 * Incremental checkpoints: a property test checks that the last base and
 * the deltas after it, applied with kstate_apply to fresh state (one task,
 * or split over two and three), are exactly the state at the last
 * checkpoint; a delta names each changed key once. The concurrent cases
 * fill on a second thread while the task thread changes the state (a
 * materialization takes deltas meanwhile); they run under ThreadSanitizer
 * (suite 'concurrency').
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

#include "bytes.h"
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

/* Task index of parallelism holds exactly the keys of the model whose
 * key groups it owns, with their values. */
static void check_task(struct keyed_state *ks, const struct model *m, int index,
                       int parallelism)
{
	size_t keys = 0;

	for (uint32_t id = 0; id < m->n; id++) {
		char k[32];
		size_t kl = key_of(id, k, sizeof(k));
		bool own =
		    key_group_owner(key_group(k, kl), parallelism) == index;

		kstate_set_key(ks, k, kl);
		for (int q = 0; q < 2; q++) {
			const void *v;
			size_t vlen;
			uint64_t got;
			int rc = kstate_get(ks, names[q], 1, &v, &vlen);

			if (!own || !m->v[id][q]) {
				REQUIRE(rc < 0,
				        "key %u: %s present in task %d of %d",
				        id, names[q], index, parallelism);
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
		keys += own && (m->v[id][0] || m->v[id][1]);
	}
	REQUIRE(kstate_keys(ks) == keys, "%zu keys, expected %zu",
	        kstate_keys(ks), keys);
}

/* The task's view of the state equals the model. */
static void check_live(struct keyed_state *ks, const struct model *m)
{
	check_task(ks, m, 0, 1);
}

/* The id of key "user-<id>" (k, kl), below n. */
static uint32_t id_of(const void *k, size_t kl, uint32_t n)
{
	char buf[32];
	uint32_t id;

	REQUIRE(kl > 5 && kl < sizeof(buf) && !memcmp(k, "user-", 5),
	        "odd key");
	memcpy(buf, k, kl);
	buf[kl] = '\0';
	id = (uint32_t)strtoul(buf + 5, NULL, 10);
	REQUIRE(id < n, "key %u out of range", id);
	return id;
}

/* Reads a key's name map (u64 count, then names "a" and "b" with 8-byte
 * values) into m->v[id]. */
static void read_names(struct weir_reader *r, uint32_t id, struct model *m)
{
	uint64_t nnames;

	REQUIRE(weir_read_u64(r, &nnames) == WEIR_OK, "key %u truncated", id);
	REQUIRE(nnames >= 1 && nnames <= 2, "key %u: %llu names", id,
	        (unsigned long long)nnames);
	for (uint64_t j = 0; j < nnames; j++) {
		const void *nk, *nv;
		size_t nkl, nvl;
		uint64_t v;

		REQUIRE(weir_read_bytes(r, &nk, &nkl) == WEIR_OK &&
		            weir_read_bytes(r, &nv, &nvl) == WEIR_OK,
		        "key %u: name truncated", id);
		REQUIRE(
		    nkl == 1 && nvl == 8 &&
		        (*(const char *)nk == 'a' || *(const char *)nk == 'b'),
		    "key %u: odd name", id);
		memcpy(&v, nv, 8);
		m->v[id][*(const char *)nk - 'a'] = v;
	}
}

/* Parses a snapshot section into a model of n keys. Every key must be in
 * the key group it hashes to and, when parallelism > 0, in a group that
 * task index owns. */
static struct model parse(const struct weir_writer *w, uint32_t n, int index,
                          int parallelism)
{
	struct weir_reader r = {.p = w->p, .len = w->len};
	struct model m = model_new(n);
	uint64_t nkeys, group;

	REQUIRE(weir_read_u64(&r, &nkeys) == WEIR_OK, "no key count");
	for (uint64_t i = 0; i < nkeys; i++) {
		const void *k;
		size_t kl;
		uint32_t id;

		REQUIRE(weir_read_u64(&r, &group) == WEIR_OK &&
		            weir_read_bytes(&r, &k, &kl) == WEIR_OK,
		        "key %llu truncated", (unsigned long long)i);
		id = id_of(k, kl, n);
		REQUIRE(group == (uint64_t)key_group(k, kl),
		        "key %u in the wrong group", id);
		REQUIRE(parallelism == 0 ||
		            key_group_owner((int)group, parallelism) == index,
		        "key %u in task %d of %d", id, index, parallelism);
		REQUIRE(!m.v[id][0] && !m.v[id][1], "key %u twice", id);
		read_names(&r, id, &m);
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

/* ---- incremental checkpoints ----------------------------------------------
 *
 * Bases and deltas are grouped sections (keyed_state.c): u64 groups, then
 * per group u64 group, u64 entries, u64 bytes, and the entries, each a
 * kind byte, the key, and for a put the key's whole name map. The test
 * reads them with its own parser, and rebuilds state from them with
 * kstate_apply as a restore does. */

enum { ENT_DEL = 0, ENT_PUT = 1 };

/* What a grouped section holds, per key id: how many entries name it,
 * whether the last is a tombstone, and the values a put gives it. */
struct grouped {
	struct model vals;
	uint32_t *times;
	bool *tomb;
	uint64_t groups, entries;
};

static struct grouped parse_grouped(const struct weir_writer *w, uint32_t n)
{
	struct weir_reader r = {.p = w->p, .len = w->len};
	struct grouped s = {.vals = model_new(n),
	                    .times = calloc(n, sizeof(uint32_t)),
	                    .tomb = calloc(n, sizeof(bool))};
	bool seen[KEY_GROUPS] = {false};

	ck_assert(s.times && s.tomb);
	REQUIRE(weir_read_u64(&r, &s.groups) == WEIR_OK &&
	            s.groups <= KEY_GROUPS,
	        "no group count");
	for (uint64_t i = 0; i < s.groups; i++) {
		uint64_t g, entries, nbytes;
		size_t end;

		REQUIRE(weir_read_u64(&r, &g) == WEIR_OK &&
		            weir_read_u64(&r, &entries) == WEIR_OK &&
		            weir_read_u64(&r, &nbytes) == WEIR_OK &&
		            weir_read_remaining(&r) >= nbytes,
		        "group %llu truncated", (unsigned long long)i);
		REQUIRE(g < KEY_GROUPS && !seen[g], "group %llu twice",
		        (unsigned long long)g);
		REQUIRE(entries > 0, "group %llu without entries",
		        (unsigned long long)g);
		seen[g] = true;
		end = r.pos + (size_t)nbytes;
		for (uint64_t e = 0; e < entries; e++) {
			unsigned char kind;
			const void *k;
			size_t kl;
			uint32_t id;

			REQUIRE(bytes_get(&r, &kind, 1) == 0 &&
			            weir_read_bytes(&r, &k, &kl) == WEIR_OK,
			        "group %llu: entry truncated",
			        (unsigned long long)g);
			id = id_of(k, kl, n);
			REQUIRE(key_group(k, kl) == (int)g,
			        "key %u in the wrong group", id);
			REQUIRE(kind == ENT_PUT || kind == ENT_DEL,
			        "key %u: kind %u", id, kind);
			s.times[id]++;
			s.tomb[id] = kind == ENT_DEL;
			s.vals.v[id][0] = s.vals.v[id][1] = 0;
			if (kind == ENT_PUT)
				read_names(&r, id, &s.vals);
		}
		REQUIRE(r.pos == end, "group %llu: %zu bytes, entries took %zu",
		        (unsigned long long)g, (size_t)nbytes,
		        r.pos - (end - (size_t)nbytes));
		s.entries += entries;
	}
	REQUIRE(weir_read_remaining(&r) == 0, "bytes after the section");
	return s;
}

static void grouped_free(struct grouped *s)
{
	free(s->vals.v);
	free(s->times);
	free(s->tomb);
}

/* The sections a restore reads: a base, then the deltas since. */
struct chain {
	struct weir_writer *s;
	size_t n, cap;
};

static void chain_push(struct chain *c, struct weir_writer w)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->s = realloc(c->s, c->cap * sizeof(*c->s));
		ck_assert_ptr_nonnull(c->s);
	}
	c->s[c->n++] = w;
}

/* Keeps the sections from `from` on, with base before them. */
static void chain_rebase(struct chain *c, struct weir_writer base, size_t from)
{
	struct chain next = {0};

	chain_push(&next, base);
	for (size_t i = 0; i < c->n; i++)
		if (i >= from)
			chain_push(&next, c->s[i]);
		else
			free(c->s[i].p);
	free(c->s);
	*c = next;
}

static void chain_free(struct chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->s[i].p);
	free(c->s);
	memset(c, 0, sizeof(*c));
}

/* Applies every section of c, in order, to ks as task index of
 * parallelism, for the groups want accepts (NULL: all). */
static void apply_chain(struct keyed_state *ks, const struct chain *c,
                        int index, int parallelism, const bool *want)
{
	for (size_t i = 0; i < c->n; i++) {
		struct weir_reader r = {.p = c->s[i].p, .len = c->s[i].len};
		char err[256];

		REQUIRE(kstate_apply(ks, &r, index, parallelism, want, err,
		                     sizeof(err)) == 0,
		        "section %zu of %zu: %s", i, c->n, err);
		REQUIRE(weir_read_remaining(&r) == 0,
		        "section %zu: %zu bytes left", i,
		        weir_read_remaining(&r));
	}
}

/* State rebuilt from the chain equals m: in one task; in one task from
 * two halves of the groups applied one after the other (as restore's two
 * threads do); and split over 2 and over 3 tasks, each key in exactly
 * the task that owns its group. */
static void check_chain(const struct chain *c, const struct model *m)
{
	bool half[2][KEY_GROUPS];
	struct keyed_state *ks = kstate_new();

	apply_chain(ks, c, 0, 1, NULL);
	kstate_restored(ks);
	check_live(ks, m);
	kstate_free(ks);

	for (int g = 0; g < KEY_GROUPS; g++) {
		half[0][g] = g % 2 == 0;
		half[1][g] = g % 2 == 1;
	}
	ks = kstate_new();
	apply_chain(ks, c, 0, 1, half[1]);
	apply_chain(ks, c, 0, 1, half[0]);
	kstate_restored(ks);
	check_live(ks, m);
	kstate_free(ks);

	for (int par = 2; par <= 3; par++)
		for (int i = 0; i < par; i++) {
			ks = kstate_new();
			apply_chain(ks, c, i, par, NULL);
			kstate_restored(ks);
			check_task(ks, m, i, par);
			kstate_free(ks);
		}
}

/* A base of the state as it is: capture, fill on this thread, release. */
static struct weir_writer take_base(struct keyed_state *ks)
{
	struct snap_tail tail = {0};
	struct weir_writer w = {0};
	char err[128];

	kstate_capture_base(ks, &tail);
	ck_assert_int_eq(tail.kind, SNAP_BASE);
	ck_assert_int_eq(tail.fill(tail.arg, &w, err, sizeof(err)), 0);
	tail.release(tail.arg);
	return w;
}

/* The task of the property test: the state, the model of it, and which
 * keys changed since the last checkpoint. */
struct incr {
	struct keyed_state *ks;
	struct model m;
	bool *touched;
	size_t ntouched;
	uint64_t s; /* random state */
};

static void touch(struct incr *t, uint32_t id)
{
	if (!t->touched[id]) {
		t->touched[id] = true;
		t->ntouched++;
	}
}

static void untouch_all(struct incr *t)
{
	memset(t->touched, 0, t->m.n * sizeof(bool));
	t->ntouched = 0;
}

static uint64_t rnd(struct incr *t)
{
	t->s = t->s * 6364136223846793005ULL + 1442695040888963407ULL;
	return t->s >> 17;
}

/* One random change: a put of one name or both, a delete of one name or
 * of the whole key. A delete of what is not there changes nothing. */
static void random_op(struct incr *t, uint32_t span, uint64_t v)
{
	uint64_t r = rnd(t);
	uint32_t id = (uint32_t)(r % span);
	int q = (int)(r >> 40) & 1;

	switch ((r >> 32) % 8) {
	case 0:
		if (t->m.v[id][q])
			touch(t, id);
		del(t->ks, &t->m, id, q);
		break;
	case 1:
		if (t->m.v[id][0] || t->m.v[id][1])
			touch(t, id);
		del(t->ks, &t->m, id, 0);
		del(t->ks, &t->m, id, 1);
		break;
	case 2:
		put(t->ks, &t->m, id, 0, v);
		put(t->ks, &t->m, id, 1, v + 1);
		touch(t, id);
		break;
	default:
		put(t->ks, &t->m, id, q, v);
		touch(t, id);
		break;
	}
}

/* The delta names each changed key once, with its name map as it is now,
 * or a tombstone when it has none, and no other key. */
static void check_delta(const struct weir_writer *w, const struct incr *t,
                        uint64_t written)
{
	struct grouped d = parse_grouped(w, t->m.n);

	REQUIRE(written == t->ntouched && d.entries == t->ntouched,
	        "delta of %llu keys (%llu entries), %zu changed",
	        (unsigned long long)written, (unsigned long long)d.entries,
	        t->ntouched);
	for (uint32_t id = 0; id < t->m.n; id++) {
		bool gone = !t->m.v[id][0] && !t->m.v[id][1];

		REQUIRE(d.times[id] == (t->touched[id] ? 1 : 0),
		        "key %u %u times in the delta", id, d.times[id]);
		if (!t->touched[id])
			continue;
		REQUIRE(d.tomb[id] == gone, "key %u: %s, expected %s", id,
		        d.tomb[id] ? "tombstone" : "put",
		        gone ? "tombstone" : "put");
		REQUIRE(d.vals.v[id][0] == t->m.v[id][0] &&
		            d.vals.v[id][1] == t->m.v[id][1],
		        "key %u: delta holds other values", id);
	}
	grouped_free(&d);
}

/* The base names every key there is once, with its values. */
static void check_base(const struct weir_writer *w, const struct model *m)
{
	struct grouped b = parse_grouped(w, m->n);

	for (uint32_t id = 0; id < m->n; id++) {
		bool there = m->v[id][0] || m->v[id][1];

		REQUIRE(b.times[id] == (there ? 1 : 0) && !b.tomb[id],
		        "key %u %u times in the base", id, b.times[id]);
	}
	check_equal(&b.vals, m, "base");
	grouped_free(&b);
}

/* Random puts and deletes over many keys, and a checkpoint after each
 * burst: mostly a delta, sometimes a base, sometimes a materialization
 * (a delta and a base frozen at the same barrier, the base filled a few
 * checkpoints later while deltas go on). At random points the chain (the
 * last base and the deltas after it) is applied to fresh keyed state and
 * must be the state at the last checkpoint exactly; while a
 * materialization is out the chain it will replace must be too. */
START_TEST(incremental_chain_property)
{
	enum { N = 1000, STEPS = 60 };
	struct incr t = {.ks = kstate_new(),
	                 .m = model_new(N),
	                 .touched = calloc(N, sizeof(bool)),
	                 .s = 777 + (uint64_t)_i};
	struct chain c = {0};
	struct model at_ckpt, at_mat = {0};
	bool pending = false; /* a materialization's view is out */
	size_t mat_from = 0;  /* the chain's deltas after it start here */
	int deltas = 0, bases = 0, mats = 0, checks = 0;

	ck_assert_ptr_nonnull(t.touched);
	kstate_track(t.ks, true);
	for (uint32_t id = 0; id < N; id += 2)
		put(t.ks, &t.m, id, 0, id + 1);
	chain_push(&c, take_base(t.ks));
	check_base(&c.s[0], &t.m);
	at_ckpt = model_copy(&t.m);
	ck_assert_uint_eq(kstate_changed(t.ks), 0);

	for (int step = 1; step <= STEPS; step++) {
		uint64_t r = rnd(&t);
		/* Bursts over a few hot keys, over all keys, or none. */
		uint32_t span = r % 3 == 0 ? 40 : N;
		size_t ops = r % 11 == 0 ? 0 : (size_t)(r >> 8) % 1500;
		bool fill_now;

		for (size_t i = 0; i < ops; i++)
			random_op(&t, span, (uint64_t)step << 32 | (i + 1));
		REQUIRE(kstate_changed(t.ks) == t.ntouched,
		        "step %d: %zu keys changed, expected %zu", step,
		        kstate_changed(t.ks), t.ntouched);

		r = rnd(&t);
		/* The view must be filled before another freeze: this
		 * thread is the persister too. */
		fill_now = pending && (r % 3 == 0 || r % 5 == 0);
		if (fill_now) {
			struct weir_writer base = fill(t.ks);

			kstate_release(t.ks);
			check_base(&base, &at_mat);
			chain_rebase(&c, base, mat_from);
			pending = false;
			free(at_mat.v);
		}
		if (r % 5 == 0) {
			chain_free(&c);
			chain_push(&c, take_base(t.ks));
			check_base(&c.s[0], &t.m);
			bases++;
		} else {
			struct weir_writer w = {0};
			uint64_t n = kstate_delta(t.ks, &w);

			check_delta(&w, &t, n);
			chain_push(&c, w);
			deltas++;
			if (!pending && r % 4 == 1) {
				struct snap_tail tail = {0};

				kstate_capture_base(t.ks, &tail);
				ck_assert_int_eq(tail.kind, SNAP_BASE);
				pending = true;
				mat_from = c.n;
				at_mat = model_copy(&t.m);
				mats++;
			}
		}
		untouch_all(&t);
		ck_assert_uint_eq(kstate_changed(t.ks), 0);
		free(at_ckpt.v);
		at_ckpt = model_copy(&t.m);
		if (rnd(&t) % 4 == 0 || step == STEPS) {
			check_chain(&c, &at_ckpt);
			checks++;
		}
	}
	if (pending) {
		struct weir_writer base = fill(t.ks);

		kstate_release(t.ks);
		chain_rebase(&c, base, mat_from);
		check_chain(&c, &at_ckpt);
		free(at_mat.v);
	}
	ck_assert_msg(deltas > 20 && bases > 3 && mats > 2 && checks > 8,
	              "%d deltas, %d bases, %d materializations, %d checks",
	              deltas, bases, mats, checks);
	chain_free(&c);
	free(at_ckpt.v);
	free(t.touched);
	free(t.m.v);
	kstate_free(t.ks);
}
END_TEST

/* A key changed 10,000 times between two checkpoints is one entry of the
 * delta, with its last values; so is one deleted and put back many
 * times, and one that ends deleted is a tombstone. kstate_changed counts
 * keys, not changes; a delete of what is not there is no change; with
 * tracking off nothing is counted. */
START_TEST(delta_one_entry_per_key)
{
	struct incr t = {.ks = kstate_new(),
	                 .m = model_new(10),
	                 .touched = calloc(10, sizeof(bool))};
	struct weir_writer w = {0};
	uint64_t n;

	ck_assert_ptr_nonnull(t.touched);
	put(t.ks, &t.m, 9, 0, 1);
	ck_assert_uint_eq(kstate_changed(t.ks), 0);
	kstate_track(t.ks, true);
	for (uint64_t i = 1; i <= 10000; i++) {
		put(t.ks, &t.m, 1, (int)(i % 2), i);
		put(t.ks, &t.m, 2, 0, i);
		del(t.ks, &t.m, 2, 0);
		put(t.ks, &t.m, 3, 1, i);
	}
	put(t.ks, &t.m, 2, 1, 5);
	del(t.ks, &t.m, 3, 1);
	del(t.ks, &t.m, 4, 0); /* never there */
	t.touched[1] = t.touched[2] = t.touched[3] = true;
	t.ntouched = 3;
	ck_assert_uint_eq(kstate_changed(t.ks), 3);
	n = kstate_delta(t.ks, &w);
	check_delta(&w, &t, n);
	ck_assert_uint_eq(kstate_changed(t.ks), 0);
	free(w.p);
	free(t.touched);
	free(t.m.v);
	kstate_free(t.ks);
}
END_TEST

/* With nothing changed a delta has no groups, and no keys: after another
 * delta, after a base, and when every change was a delete of nothing. */
/* A job without periodic checkpoints (interval_ms 0) and keys that come
 * and go (ttl_ms): the set of changed keys must not grow with every key
 * ever seen. Past twice the live keys (and 65536) it is dropped, and the
 * next checkpoint must write a base instead of a delta. */
START_TEST(changed_set_bounded_by_live_keys)
{
	struct keyed_state *ks = kstate_new();
	struct snap_tail tail = {0};
	size_t most = 0;
	char key[32];

	kstate_track(ks, true);
	for (int i = 0; i < 1000000; i++) {
		int n = snprintf(key, sizeof(key), "id-%d", i);

		kstate_set_key(ks, key, (size_t)n);
		kstate_put(ks, "t", 1, "x", 1);
		if (i >= 1000) { /* 1,000 live keys: the oldest goes */
			n = snprintf(key, sizeof(key), "id-%d", i - 1000);
			kstate_set_key(ks, key, (size_t)n);
			kstate_delete(ks, "t", 1);
		}
		if (kstate_changed(ks) > most)
			most = kstate_changed(ks);
	}
	ck_assert_uint_eq(kstate_keys(ks), 1000);
	ck_assert_msg(most <= 2 * 65536 + 4096,
	              "the changed-key set grew to %zu keys for 1,000 live "
	              "ones",
	              most);
	ck_assert(kstate_overflowed(ks));
	kstate_capture_base(ks, &tail);
	ck_assert(!kstate_overflowed(ks));
	ck_assert_uint_eq(kstate_changed(ks), 0);
	tail.release(tail.arg);
	kstate_free(ks);
}
END_TEST

START_TEST(empty_delta_has_no_groups)
{
	struct keyed_state *ks = kstate_new();
	struct model m = model_new(100);
	struct weir_writer w = {0}, base;
	struct grouped d;

	kstate_track(ks, true);
	ck_assert_uint_eq(kstate_delta(ks, &w), 0);
	build(ks, &m, 100);
	ck_assert_uint_eq(kstate_changed(ks), 100);
	w.len = 0;
	ck_assert_uint_eq(kstate_delta(ks, &w), 100);
	w.len = 0;
	ck_assert_uint_eq(kstate_delta(ks, &w), 0);
	d = parse_grouped(&w, 100);
	ck_assert_uint_eq(d.groups, 0);
	ck_assert_uint_eq(w.len, 8);
	grouped_free(&d);

	put(ks, &m, 5, 0, 55);
	base = take_base(ks);
	ck_assert_uint_eq(kstate_changed(ks), 0);
	del(ks, &m, 0, 1); /* key 0 has no "b" */
	w.len = 0;
	ck_assert_uint_eq(kstate_delta(ks, &w), 0);
	ck_assert_uint_eq(w.len, 8);
	free(base.p);
	free(w.p);
	free(m.v);
	kstate_free(ks);
}
END_TEST

/* ---- hostile sections ------------------------------------------------------
 */

/* An entry: kind, key, and for a put nnames names ("a", "b", ...) with
 * 8-byte values. */
static void put_entry(struct weir_writer *w, unsigned kind, const char *key,
                      uint64_t nnames)
{
	unsigned char k = (unsigned char)kind;

	bytes_put(w, &k, 1);
	weir_write_bytes(w, key, strlen(key));
	if (kind == ENT_DEL)
		return;
	put_u64(w, nnames);
	for (uint64_t i = 0; i < nnames && i < 26; i++) {
		char name = (char)('a' + i);

		weir_write_bytes(w, &name, 1);
		weir_write_bytes(w, &i, 8);
	}
}

/* Appends group g, claiming `entries` entries and nbytes bytes (-1: the
 * body's), then the body. */
static void put_group(struct weir_writer *w, uint64_t g, uint64_t entries,
                      int64_t nbytes, const struct weir_writer *body)
{
	put_u64(w, g);
	put_u64(w, entries);
	put_u64(w, nbytes < 0 ? body->len : (uint64_t)nbytes);
	bytes_put(w, body->p, body->len);
}

static int group_of(const char *key)
{
	return key_group(key, strlen(key));
}

/* Applies w's bytes to fresh state as task index of parallelism; must be
 * refused with a message holding `want`. ASan sees what a refusal
 * leaks. */
static void expect_refused(const struct weir_writer *w, size_t len, int index,
                           int parallelism, const char *want, const char *what)
{
	struct keyed_state *ks = kstate_new();
	struct weir_reader r = {.p = w->p, .len = len};
	char err[256] = "";

	REQUIRE(kstate_apply(ks, &r, index, parallelism, NULL, err,
	                     sizeof(err)) == -1,
	        "%s: accepted", what);
	REQUIRE(strstr(err, want), "%s: message \"%s\", wanted \"%s\"", what,
	        err, want);
	kstate_free(ks);
}

/* Each kind of damage to a grouped section is refused with a message
 * that names it and the key group, never a crash or a leak; so is every
 * prefix of a real delta, whichever task reads it. */
START_TEST(apply_refuses_hostile_sections)
{
	const char *k1 = "user-1", *k2 = "user-2";
	int g1 = group_of(k1), g2 = group_of(k2);
	struct weir_writer w = {0}, body = {0}, bad_kind = {0}, no_names = {0};
	char msg[128];

	ck_assert_int_ne(g1, g2);
	put_entry(&body, ENT_PUT, k1, 2);
	put_entry(&body, ENT_DEL, k1, 0);
	put_entry(&body, ENT_PUT, k1, 1);
	put_entry(&bad_kind, 2, k1, 1);
	put_entry(&no_names, ENT_PUT, k1, 0);
	{
		/* The group count, then `copies` times group g claiming
		 * `entries` entries and nbytes bytes (-1: the body's). */
		const struct {
			const char *what, *want;
			uint64_t ngroups, copies, g, entries;
			int64_t nbytes;
			const struct weir_writer *body;
		} cases[] = {
		    {"too many groups", "129 key groups, more than the 128",
		     KEY_GROUPS + 1, 0, 0, 0, -1, &body},
		    {"group out of range", "key group 128 is out of range", 1,
		     1, KEY_GROUPS, 3, -1, &body},
		    {"group twice", "is there twice", 2, 2, g1, 3, -1, &body},
		    {"more groups claimed than there are",
		     "keyed state is truncated", 2, 1, g1, 3, -1, &body},
		    {"byte count past the end", "keyed state is truncated", 1,
		     1, g1, 3, (int64_t)body.len + 1, &body},
		    {"more entries than bytes", "is truncated", 1, 1, g1, 4, -1,
		     &body},
		    {"fewer entries than bytes", "bytes after its last entry",
		     1, 1, g1, 2, -1, &body},
		    {"byte count cuts an entry", "is truncated", 1, 1, g1, 3,
		     (int64_t)body.len - 1, &body},
		    {"unknown entry kind", "has unknown kind 2", 1, 1, g1, 1,
		     -1, &bad_kind},
		    {"key in the wrong group", "is a key of group", 1, 1, g2, 3,
		     -1, &body},
		    {"put with no names", "holds no names", 1, 1, g1, 1, -1,
		     &no_names},
		};

		expect_refused(&w, 0, 0, 1, "keyed state is truncated",
		               "no group count");
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			w.len = 0;
			put_u64(&w, cases[c].ngroups);
			for (uint64_t i = 0; i < cases[c].copies; i++)
				put_group(&w, cases[c].g, cases[c].entries,
				          cases[c].nbytes, cases[c].body);
			expect_refused(&w, w.len, 0, 1, cases[c].want,
			               cases[c].what);
		}
	}

	/* The group is named where an entry is wrong. */
	w.len = 0;
	put_u64(&w, 1);
	put_group(&w, g1, 4, -1, &body);
	snprintf(msg, sizeof(msg), "key group %d is truncated", g1);
	expect_refused(&w, w.len, 0, 1, msg, "group named");

	/* A group a task does not own is skipped unread: its entries are
	 * its owner's to check. The layout is checked by every task. */
	{
		struct keyed_state *ks = kstate_new();
		struct weir_reader r;
		int owner = key_group_owner(g1, 3),
		    other_task = (owner + 1) % 3;

		w.len = 0;
		put_u64(&w, 1);
		put_group(&w, g1, 1, -1, &bad_kind);
		r = (struct weir_reader){.p = w.p, .len = w.len};
		ck_assert_int_eq(
		    kstate_apply(ks, &r, other_task, 3, NULL, msg, sizeof(msg)),
		    0);
		expect_refused(&w, w.len, owner, 3, "unknown kind", "owner");
		w.len = 0;
		put_u64(&w, 2);
		put_group(&w, g1, 1, -1, &bad_kind);
		put_group(&w, g1, 1, -1, &bad_kind);
		expect_refused(&w, w.len, other_task, 3, "twice", "not owner");
		kstate_free(ks);
	}

	/* Every prefix of a real delta (puts, tombstones, several groups). */
	{
		struct keyed_state *ks = kstate_new();
		struct model m = model_new(40);

		kstate_track(ks, true);
		build(ks, &m, 40);
		for (uint32_t id = 0; id < 40; id += 3)
			del(ks, &m, id, 0);
		w.len = 0;
		ck_assert_uint_gt(kstate_delta(ks, &w), 20);
		for (size_t len = 0; len < w.len; len++) {
			snprintf(msg, sizeof(msg), "prefix of %zu bytes", len);
			expect_refused(&w, len, 0, 1, "truncated", msg);
			expect_refused(&w, len, 1, 3, "truncated", msg);
		}
		free(m.v);
		kstate_free(ks);
	}
	free(w.p);
	free(body.p);
	free(bad_kind.p);
	free(no_names.p);
}
END_TEST

/* A key with no names is no state: weir never writes one, and
 * kstate_apply refuses it. A full snapshot holding one (a forged file) is
 * refused too: taken in, the key would go into every base written after,
 * and no restore could read those. */
START_TEST(restore_refuses_key_without_names)
{
	struct keyed_state *ks = kstate_new();
	struct weir_writer w = {0};
	struct weir_reader r;
	char err[256] = "";

	put_u64(&w, 2);
	put_key(&w, "user-1", 11);
	put_u64(&w, (uint64_t)group_of("user-2"));
	weir_write_bytes(&w, "user-2", 6);
	put_u64(&w, 0);
	r = (struct weir_reader){.p = w.p, .len = w.len};
	ck_assert_int_eq(kstate_restore(ks, &r, 0, 1, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "key 1 of key group") &&
	                  strstr(err, "holds no names"),
	              "message: %s", err);
	free(w.p);
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

/* Applies a chain to the groups of one half, as one of restore's two
 * threads does. */
struct applier {
	struct keyed_state *ks;
	const struct chain *c;
	bool want[KEY_GROUPS];
	int rc;
	char err[256];
};

static void *apply_main(void *arg)
{
	struct applier *a = arg;

	for (size_t i = 0; i < a->c->n && a->rc == 0; i++) {
		struct weir_reader r = {.p = a->c->s[i].p,
		                        .len = a->c->s[i].len};

		a->rc = kstate_apply(a->ks, &r, 0, 1, a->want, a->err,
		                     sizeof(a->err));
	}
	return NULL;
}

/* The chain applied on two threads at once, each to half the groups,
 * equals m. */
static void check_chain_two_threads(const struct chain *c,
                                    const struct model *m)
{
	struct keyed_state *ks = kstate_new();
	struct applier a[2] = {{.ks = ks, .c = c}, {.ks = ks, .c = c}};
	pthread_t th[2];

	for (int g = 0; g < KEY_GROUPS; g++)
		a[g % 2].want[g] = true;
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
		    pthread_create(&th[i], NULL, apply_main, &a[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(a[i].rc == 0, "apply: %s", a[i].err);
	}
	kstate_restored(ks);
	check_live(ks, m);
	kstate_free(ks);
}

/* A materialization as the persister and the materializer run it: at a
 * barrier the task takes its delta and freezes a base; another thread
 * fills the base while the task goes on changing the state and taking
 * deltas at the next barriers. Then the new base and the deltas after it,
 * and the old chain with every delta, both rebuild the state at the last
 * barrier, applied on two threads as restore does. */
START_TEST(concurrent_materialization)
{
	enum { N = 8000, ROUNDS = 3, BARRIERS = 5 };
	struct incr t = {.ks = kstate_new(),
	                 .m = model_new(N),
	                 .touched = calloc(N, sizeof(bool)),
	                 .s = 4242};
	struct chain c = {0};

	ck_assert_ptr_nonnull(t.touched);
	kstate_track(t.ks, true);
	build(t.ks, &t.m, N / 2);
	chain_push(&c, take_base(t.ks));
	for (int round = 0; round < ROUNDS; round++) {
		struct filler f = {.ks = t.ks};
		struct weir_writer w = {0};
		struct snap_tail tail = {0};
		struct model at_mat, at_last;
		size_t from;
		pthread_t th;
		uint64_t n;

		for (int i = 0; i < 3000; i++)
			random_op(&t, N, (uint64_t)round << 32 | (i + 1));
		n = kstate_delta(t.ks, &w);
		check_delta(&w, &t, n);
		untouch_all(&t);
		chain_push(&c, w);
		kstate_capture_base(t.ks, &tail);
		at_mat = model_copy(&t.m);
		from = c.n;
		ck_assert_int_eq(pthread_create(&th, NULL, fill_main, &f), 0);
		for (int b = 0; b < BARRIERS; b++) {
			for (int i = 0; i < 2000; i++)
				random_op(&t, b % 2 ? 64 : N,
				          (uint64_t)round << 32 |
				              (uint64_t)b << 16 | (i + 1));
			w = (struct weir_writer){0};
			n = kstate_delta(t.ks, &w);
			check_delta(&w, &t, n);
			untouch_all(&t);
			chain_push(&c, w);
		}
		at_last = model_copy(&t.m);
		pthread_join(th, NULL);
		ck_assert_int_eq(f.rc, 0);
		check_base(&f.w, &at_mat);
		check_chain_two_threads(&c, &at_last);
		chain_rebase(&c, f.w, from);
		ck_assert_uint_eq(c.n, 1 + BARRIERS);
		check_chain_two_threads(&c, &at_last);
		check_live(t.ks, &t.m);
		free(at_mat.v);
		free(at_last.v);
	}
	chain_free(&c);
	free(t.touched);
	free(t.m.v);
	kstate_free(t.ks);
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
	tcase_add_loop_test(one, incremental_chain_property, 0, 2);
	tcase_add_test(one, delta_one_entry_per_key);
	tcase_add_test(one, empty_delta_has_no_groups);
	tcase_add_test(one, changed_set_bounded_by_live_keys);
	tcase_add_test(one, apply_refuses_hostile_sections);
	tcase_add_test(one, restore_refuses_key_without_names);
	suite_add_tcase(s, one);
	tcase_set_timeout(two, 120);
	tcase_add_test(two, concurrent_fill_while_task_changes);
	tcase_add_test(two, freeze_waits_for_previous_release);
	tcase_add_test(two, free_waits_for_the_writer);
	tcase_add_test(two, concurrent_materialization);
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
