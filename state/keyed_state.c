/*
 * keyed_state.c - managed keyed state (see keyed_state.h).
 *
 * Snapshot section: u64 number of keys, then per key: u64 key group,
 * bytes key, u64 number of names, then (bytes name, bytes value) each;
 * bytes are a u64 length and the bytes (bytes_put_str). Keys come in
 * any order (this code writes them group by group); a restore takes them
 * as they come.
 *
 * Each key group has its own freezable map (cowmap.c). The snapshot
 * handshake, in struct kstate_snap:
 *
 *   kstate_freeze (task)  waits until snap.out is false, thaws every group
 *                         (the previous view is gone), freezes each
 *                         non-empty group into snap.views, clears
 *                         snap.done[g] for those, sets snap.out. The views
 *                         reach the persister through its queue's mutex.
 *   kstate_fill (writer)  serialises the views group by group and sets
 *                         snap.done[g] (release) after each: from then on
 *                         the task may change group g in place.
 *   kstate_release        sets every snap.done[g], then clears snap.out
 *   (writer)              under snap.mu and wakes a waiting freeze.
 *
 * Before changing group g the task thaws it if snap.done[g] is set
 * (acquire), and thaws every group once it sees snap.out clear. A thaw
 * moves what was copied to ks->trash, which each change, and each idle
 * turn of the task, empties a little: the copies a snapshot caused are
 * freed soon after the persister is through, without a pause for freeing
 * them all at once.
 */
#include "keyed_state.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cowmap.h"
#include "keyroute.h"
#include "keyset.h"
#include "kvmap.h"
#include "util.h"

/* Entries or pieces of slot table freed from the trash per change, and
 * per idle turn (about a millisecond). */
#define SWEEP_PER_CHANGE 8
#define SWEEP_PER_IDLE 4096

struct kstate_snap {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool out;  /* a frozen view is out; cleared under mu */
	atomic_bool stop; /* kstate_free: fill should give up */
	atomic_bool done[KEY_GROUPS];
	struct cowmap_view views[KEY_GROUPS];
	uint64_t nkeys;
	bool sections; /* fill writes the grouped section (a base) */
};

struct keyed_state {
	struct cowmap *groups[KEY_GROUPS]; /* NULL until a key is stored */
	struct cowent *cur; /* entry of the current key, or NULL */
	int cur_group;
	char *key;
	size_t key_len, key_cap;
	bool thaw_pending;     /* groups may still be frozen */
	struct cowtrash trash; /* thawed copies, freed bit by bit */
	struct kstate_snap snap;
	/* Incremental checkpoints: the keys changed since the last one, per
	 * group. An entry whose mark is `interval` is in its group's set
	 * already, so a key changed 10,000 times is looked up once. */
	bool track;
	uint64_t interval; /* from 1; 0 is a new entry's mark */
	struct keyset *changed[KEY_GROUPS];
	size_t nchanged; /* keys in the sets */
	/* The sets grew past CHANGED_MAX and were dropped: only a base can
	 * hold what changed (kstate_overflowed). */
	bool overflowed;
};

/* Without periodic checkpoints, or with many keys coming and going
 * between two, the changed keys would pile up without bound (a key
 * created and deleted stays as a tombstone). Past twice the live keys,
 * and at least CHANGED_MIN, a delta is no cheaper than a base: the sets
 * are dropped and the next checkpoint writes a base. Checked every
 * CHANGED_CHECK additions, since counting the keys visits every group. */
#define CHANGED_MIN 65536
#define CHANGED_CHECK 4096

struct keyed_state *kstate_new(void)
{
	struct keyed_state *ks = xcalloc(1, sizeof(*ks));

	pthread_mutex_init(&ks->snap.mu, NULL);
	pthread_cond_init(&ks->snap.cv, NULL);
	atomic_init(&ks->snap.out, false);
	atomic_init(&ks->snap.stop, false);
	for (int g = 0; g < KEY_GROUPS; g++)
		atomic_init(&ks->snap.done[g], true);
	ks->interval = 1;
	kstate_set_key(ks, "", 0);
	return ks;
}

static void wait_released(struct kstate_snap *s)
{
	pthread_mutex_lock(&s->mu);
	while (atomic_load(&s->out))
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

void kstate_free(struct keyed_state *ks)
{
	if (!ks)
		return;
	atomic_store(&ks->snap.stop, true);
	wait_released(&ks->snap);
	for (int g = 0; g < KEY_GROUPS; g++) {
		cowmap_free(ks->groups[g]);
		keyset_free(ks->changed[g]);
	}
	cowtrash_clear(&ks->trash);
	pthread_mutex_destroy(&ks->snap.mu);
	pthread_cond_destroy(&ks->snap.cv);
	free(ks->key);
	free(ks);
}

static size_t sum_groups(const struct keyed_state *ks,
                         size_t (*of)(const struct cowmap *))
{
	size_t n = 0;

	for (int g = 0; g < KEY_GROUPS; g++)
		if (ks->groups[g])
			n += of(ks->groups[g]);
	return n;
}

size_t kstate_keys(const struct keyed_state *ks)
{
	return sum_groups(ks, cowmap_count);
}

size_t kstate_kept(const struct keyed_state *ks)
{
	return sum_groups(ks, cowmap_kept) + cowtrash_count(&ks->trash);
}

static void thaw_all(struct keyed_state *ks)
{
	for (int g = 0; g < KEY_GROUPS; g++)
		if (ks->groups[g] && cowmap_frozen(ks->groups[g]))
			cowmap_thaw(ks->groups[g], &ks->trash);
	ks->thaw_pending = false;
}

/* Thaws every group once the persister released the view. */
static void thaw_if_released(struct keyed_state *ks)
{
	if (ks->thaw_pending &&
	    !atomic_load_explicit(&ks->snap.out, memory_order_acquire))
		thaw_all(ks);
}

/* The map of group g, ready to be changed: thawed when the persister is
 * through with it, created when the group had no key yet. Frees a little
 * of the trash on the way. */
static struct cowmap *group_to_change(struct keyed_state *ks, int g)
{
	struct cowmap *m = ks->groups[g];

	if (ks->trash.ents.n || ks->trash.arrays.n)
		cowtrash_sweep(&ks->trash, SWEEP_PER_CHANGE);
	thaw_if_released(ks);
	if (m && cowmap_frozen(m) &&
	    atomic_load_explicit(&ks->snap.done[g], memory_order_acquire))
		cowmap_thaw(m, &ks->trash);
	if (!m)
		m = ks->groups[g] = cowmap_new();
	return m;
}

void kstate_set_key(struct keyed_state *ks, const void *key, size_t len)
{
	struct cowmap *m;

	if (len > ks->key_cap) {
		ks->key_cap = len * 2;
		ks->key = xrealloc(ks->key, ks->key_cap);
	}
	if (len)
		memcpy(ks->key, key, len);
	ks->key_len = len;
	ks->cur_group = key_group(key, len);
	m = ks->groups[ks->cur_group];
	ks->cur = m ? cowmap_find(m, key, len) : NULL;
}

void kstate_current_key(const struct keyed_state *ks, const void **key,
                        size_t *len)
{
	*key = ks->key ? ks->key : "";
	*len = ks->key_len;
}

int kstate_get(struct keyed_state *ks, const void *name, size_t len,
               const void **value, size_t *vlen)
{
	void *v;

	if (!ks->cur)
		return -1;
	v = kvmap_get(ks->cur->names, name, len, vlen);
	if (!v)
		return -1;
	*value = v;
	return 0;
}

/* Forgets what changed: a base holds it all. */
static void drop_changes(struct keyed_state *ks)
{
	for (int g = 0; g < KEY_GROUPS; g++)
		if (ks->changed[g])
			keyset_clear(ks->changed[g]);
	ks->nchanged = 0;
	ks->interval++;
}

/* Remembers that the current key changed, when changes are tracked. e is
 * its entry, owned (not seen by a view) unless `removing`: then it is
 * about to go and is only read. */
static void note_change(struct keyed_state *ks, struct cowent *e, bool removing)
{
	struct keyset **set = &ks->changed[ks->cur_group];

	if (!ks->track || e->mark == ks->interval)
		return;
	if (!*set)
		*set = keyset_new();
	if (keyset_add(*set, ks->key ? ks->key : "", ks->key_len) &&
	    ++ks->nchanged % CHANGED_CHECK == 0 && ks->nchanged > CHANGED_MIN &&
	    ks->nchanged > 2 * kstate_keys(ks)) {
		drop_changes(ks);
		ks->overflowed = true;
		return;
	}
	if (!removing)
		e->mark = ks->interval;
}

void kstate_put(struct keyed_state *ks, const void *name, size_t len,
                const void *value, size_t vlen)
{
	struct cowmap *m = group_to_change(ks, ks->cur_group);

	if (ks->cur)
		ks->cur = cowmap_own(m, ks->cur);
	else
		ks->cur = cowmap_add(m, ks->key ? ks->key : "", ks->key_len);
	note_change(ks, ks->cur, false);
	kvmap_put(ks->cur->names, name, len, value, vlen);
}

void kstate_delete(struct keyed_state *ks, const void *name, size_t len)
{
	struct cowmap *m;

	if (!ks->cur || !kvmap_get(ks->cur->names, name, len, NULL))
		return;
	m = group_to_change(ks, ks->cur_group);
	if (kvmap_count(ks->cur->names) == 1) {
		/* The key has no state left: forget it entirely. */
		note_change(ks, ks->cur, true);
		cowmap_remove(m, ks->cur);
		ks->cur = NULL;
		return;
	}
	ks->cur = cowmap_own(m, ks->cur);
	note_change(ks, ks->cur, false);
	kvmap_del(ks->cur->names, name, len);
}

int kstate_iterate(struct keyed_state *ks, kstate_fn fn, void *arg)
{
	const void *k, *v;
	size_t kl, vl, pos = 0;
	int rc;

	if (!ks->cur)
		return 0;
	while (kvmap_next(ks->cur->names, &pos, &k, &kl, &v, &vl))
		if ((rc = fn(arg, k, kl, v, vl)) != 0)
			return rc;
	return 0;
}

int kstate_get_of(struct keyed_state *ks, const void *key, size_t klen,
                  const void *name, size_t len, const void **value,
                  size_t *vlen)
{
	struct cowmap *m = ks->groups[key_group(key, klen)];
	struct cowent *e = m ? cowmap_find(m, key, klen) : NULL;
	void *v = e ? kvmap_get(e->names, name, len, vlen) : NULL;

	if (!v)
		return -1;
	*value = v;
	return 0;
}

bool kstate_has_key(const struct keyed_state *ks)
{
	return ks->cur != NULL;
}

void kstate_clear_key(struct keyed_state *ks)
{
	struct cowmap *m;

	if (!ks->cur)
		return;
	m = group_to_change(ks, ks->cur_group);
	note_change(ks, ks->cur, true);
	cowmap_remove(m, ks->cur);
	ks->cur = NULL;
}

int kstate_visit_all(struct keyed_state *ks, kstate_all_fn fn, void *arg)
{
	for (int g = 0; g < KEY_GROUPS; g++) {
		struct cowmap *m = ks->groups[g];
		struct cowmap_view v;
		const struct cowent *e;
		size_t pos = 0;
		int rc;

		if (!m || cowmap_count(m) == 0)
			continue;
		v = cowmap_peek(m);
		while (cowmap_view_next(&v, &pos, &e)) {
			const void *nk, *nv;
			size_t nkl, nvl, npos = 0;

			while (
			    kvmap_next(e->names, &npos, &nk, &nkl, &nv, &nvl))
				if ((rc = fn(arg, e->key, e->klen, nk, nkl, nv,
				             nvl)) != 0)
					return rc;
		}
	}
	return 0;
}

void kstate_idle(struct keyed_state *ks)
{
	thaw_if_released(ks);
	cowtrash_sweep(&ks->trash, SWEEP_PER_IDLE);
}

/* --- snapshots --------------------------------------------------------- */

void kstate_freeze(struct keyed_state *ks)
{
	struct kstate_snap *s = &ks->snap;

	wait_released(s);
	thaw_all(ks);
	s->nkeys = 0;
	for (int g = 0; g < KEY_GROUPS; g++) {
		struct cowmap *m = ks->groups[g];

		if (!m || cowmap_count(m) == 0) {
			memset(&s->views[g], 0, sizeof(s->views[g]));
			continue;
		}
		s->views[g] = cowmap_freeze(m);
		s->nkeys += s->views[g].n;
		atomic_store_explicit(&s->done[g], false, memory_order_relaxed);
	}
	atomic_store_explicit(&s->stop, false, memory_order_relaxed);
	atomic_store_explicit(&s->out, true, memory_order_relaxed);
	ks->thaw_pending = true;
}

static void put_names(struct weir_writer *w, const struct cowent *e)
{
	const void *nk, *nv;
	size_t nkl, nvl, npos = 0;

	bytes_put_u64(w, kvmap_count(e->names));
	while (kvmap_next(e->names, &npos, &nk, &nkl, &nv, &nvl)) {
		bytes_put_str(w, nk, nkl);
		bytes_put_str(w, nv, nvl);
	}
}

/* Section 1, full snapshots: every key with its group. */
static void write_group(struct weir_writer *w, int g,
                        const struct cowmap_view *v)
{
	const struct cowent *e;
	size_t pos = 0;

	while (cowmap_view_next(v, &pos, &e)) {
		bytes_put_u64(w, (uint64_t)g);
		bytes_put_str(w, e->key, e->klen);
		put_names(w, e);
	}
}

/* Section 2 (bases and deltas) is grouped: u64 number of groups, then
 * each group as u64 group, u64 entries, u64 bytes of entries, the
 * entries. An entry: one byte, ENT_PUT (bytes key, u64 names, then bytes
 * name and bytes value each: the key's whole name map) or ENT_DEL (bytes
 * key: the key has no state). A reader skips a group it does not own
 * without parsing it. */
enum { ENT_DEL = 0, ENT_PUT = 1 };

struct group_block {
	size_t at; /* where the byte count goes */
};

static struct group_block block_begin(struct weir_writer *w, int g,
                                      uint64_t entries)
{
	struct group_block b;

	bytes_put_u64(w, (uint64_t)g);
	bytes_put_u64(w, entries);
	b.at = w->len;
	bytes_put_u64(w, 0);
	return b;
}

static void block_end(struct weir_writer *w, struct group_block b)
{
	uint64_t n = w->len - b.at - 8;

	for (int i = 0; i < 8; i++)
		w->p[b.at + i] = (char)(n >> (8 * i));
}

static void put_entry(struct weir_writer *w, const void *key, size_t klen,
                      const struct cowent *e)
{
	unsigned char kind = e ? ENT_PUT : ENT_DEL;

	bytes_put(w, &kind, 1);
	bytes_put_str(w, key, klen);
	if (e)
		put_names(w, e);
}

int kstate_fill(struct keyed_state *ks, struct weir_writer *w, char *err,
                size_t errlen)
{
	struct kstate_snap *s = &ks->snap;
	uint64_t ngroups = 0;

	for (int g = 0; g < KEY_GROUPS; g++)
		ngroups += s->views[g].n > 0;
	bytes_put_u64(w, s->sections ? ngroups : s->nkeys);
	for (int g = 0; g < KEY_GROUPS; g++) {
		const struct cowent *e;
		size_t pos = 0;

		if (s->views[g].n == 0)
			continue;
		if (atomic_load_explicit(&s->stop, memory_order_relaxed)) {
			snprintf(err, errlen,
			         "the task ended while its keyed "
			         "state was being written");
			return -1;
		}
		if (s->sections) {
			struct group_block b = block_begin(w, g, s->views[g].n);

			while (cowmap_view_next(&s->views[g], &pos, &e))
				put_entry(w, e->key, e->klen, e);
			block_end(w, b);
		} else {
			write_group(w, g, &s->views[g]);
		}
		atomic_store_explicit(&s->done[g], true, memory_order_release);
	}
	return 0;
}

void kstate_track(struct keyed_state *ks, bool on)
{
	ks->track = on;
}

uint64_t kstate_delta(struct keyed_state *ks, struct weir_writer *w)
{
	uint64_t ngroups = 0, nkeys = 0;

	/* The sets are incomplete after an overflow: a base is due. */
	assert(!ks->overflowed);

	for (int g = 0; g < KEY_GROUPS; g++)
		ngroups += ks->changed[g] && keyset_count(ks->changed[g]) > 0;
	bytes_put_u64(w, ngroups);
	for (int g = 0; g < KEY_GROUPS; g++) {
		struct keyset *set = ks->changed[g];
		struct group_block b;
		const void *k;
		size_t kl, pos = 0;

		if (!set || keyset_count(set) == 0)
			continue;
		b = block_begin(w, g, keyset_count(set));
		while (keyset_next(set, &pos, &k, &kl))
			put_entry(w, k, kl,
			          ks->groups[g]
			              ? cowmap_find(ks->groups[g], k, kl)
			              : NULL);
		block_end(w, b);
		nkeys += keyset_count(set);
	}
	drop_changes(ks);
	return nkeys;
}

size_t kstate_changed(const struct keyed_state *ks)
{
	size_t n = 0;

	for (int g = 0; g < KEY_GROUPS; g++)
		if (ks->changed[g])
			n += keyset_count(ks->changed[g]);
	return n;
}

void kstate_release(struct keyed_state *ks)
{
	struct kstate_snap *s = &ks->snap;

	for (int g = 0; g < KEY_GROUPS; g++)
		atomic_store_explicit(&s->done[g], true, memory_order_release);
	pthread_mutex_lock(&s->mu);
	atomic_store_explicit(&s->out, false, memory_order_release);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int fill_tail(void *arg, struct weir_writer *w, char *err, size_t errlen)
{
	return kstate_fill(arg, w, err, errlen);
}

static void release_tail(void *arg)
{
	kstate_release(arg);
}

void kstate_capture(struct keyed_state *ks, struct snap_tail *tail)
{
	kstate_freeze(ks);
	ks->snap.sections = false;
	tail->kind = SNAP_INLINE;
	tail->fill = fill_tail;
	tail->release = release_tail;
	tail->arg = ks;
}

bool kstate_overflowed(const struct keyed_state *ks)
{
	return ks->overflowed;
}

void kstate_capture_base(struct keyed_state *ks, struct snap_tail *tail)
{
	kstate_freeze(ks);
	ks->snap.sections = true;
	drop_changes(ks);
	ks->overflowed = false;
	tail->kind = SNAP_BASE;
	tail->fill = fill_tail;
	tail->release = release_tail;
	tail->arg = ks;
}

/* --- restore ------------------------------------------------------------- */

/* A key stored with no names: -1 with the message. */
static int no_names(char *err, size_t errlen, const char *what, uint64_t i,
                    int g)
{
	snprintf(err, errlen,
	         "keyed state: %s %llu of key group %d holds no names", what,
	         (unsigned long long)i, g);
	return -1;
}

int kstate_restore(struct keyed_state *ks, struct weir_reader *r, int index,
                   int parallelism, char *err, size_t errlen)
{
	uint64_t nkeys, group, nnames;

	if (bytes_get_u64(r, &nkeys) < 0)
		goto trunc;
	for (uint64_t i = 0; i < nkeys; i++) {
		const void *k, *nk, *nv;
		size_t kl, nkl, nvl;
		struct cowent *e = NULL;
		int g;

		if (bytes_get_u64(r, &group) < 0 ||
		    bytes_get_str(r, &k, &kl) < 0 ||
		    bytes_get_u64(r, &nnames) < 0)
			goto trunc;
		g = key_group(k, kl);
		if (group != (uint64_t)g) {
			snprintf(err, errlen,
			         "keyed state: key %llu is in key "
			         "group %llu, but hashes to %d",
			         (unsigned long long)i,
			         (unsigned long long)group, g);
			return -1;
		}
		/* Never written: a key without names is gone. Taken in, it
		 * would be in every base written after. */
		if (nnames == 0)
			return no_names(err, errlen, "key", i, g);
		if (key_group_owner(g, parallelism) == index) {
			struct cowmap *m = group_to_change(ks, g);

			e = cowmap_find(m, k, kl);
			e = e ? cowmap_own(m, e) : cowmap_add(m, k, kl);
		}
		for (uint64_t j = 0; j < nnames; j++) {
			if (bytes_get_str(r, &nk, &nkl) < 0 ||
			    bytes_get_str(r, &nv, &nvl) < 0)
				goto trunc;
			if (e)
				kvmap_put(e->names, nk, nkl, nv, nvl);
		}
	}
	ks->cur = NULL;
	return 0;
trunc:
	snprintf(err, errlen, "keyed state is truncated");
	return -1;
}

/* One group block of a grouped section, for a group the task keeps. */
static int apply_block(struct keyed_state *ks, struct weir_reader *r, int g,
                       uint64_t entries, char *err, size_t errlen)
{
	struct cowmap *m = ks->groups[g];

	if (!m)
		m = ks->groups[g] = cowmap_new();
	for (uint64_t i = 0; i < entries; i++) {
		unsigned char kind;
		const void *k, *nk, *nv;
		size_t kl, nkl, nvl;
		uint64_t nnames;
		struct cowent *e;

		if (bytes_get(r, &kind, 1) < 0 || bytes_get_str(r, &k, &kl) < 0)
			goto trunc;
		if (kind != ENT_PUT && kind != ENT_DEL) {
			snprintf(err, errlen,
			         "keyed state: entry %llu of key group %d has "
			         "unknown kind %u",
			         (unsigned long long)i, g, kind);
			return -1;
		}
		if (key_group(k, kl) != g) {
			snprintf(err, errlen,
			         "keyed state: entry %llu of key group %d is a "
			         "key of group %d",
			         (unsigned long long)i, g, key_group(k, kl));
			return -1;
		}
		e = cowmap_find(m, k, kl);
		if (kind == ENT_DEL) {
			if (e)
				cowmap_remove(m, e);
			continue;
		}
		if (bytes_get_u64(r, &nnames) < 0)
			goto trunc;
		if (nnames == 0)
			return no_names(err, errlen, "entry", i, g);
		if (e) {
			e = cowmap_own(m, e);
			kvmap_free(e->names);
			e->names = kvmap_new();
		} else {
			e = cowmap_add(m, k, kl);
		}
		for (uint64_t j = 0; j < nnames; j++) {
			if (bytes_get_str(r, &nk, &nkl) < 0 ||
			    bytes_get_str(r, &nv, &nvl) < 0)
				goto trunc;
			kvmap_put(e->names, nk, nkl, nv, nvl);
		}
	}
	return 0;
trunc:
	snprintf(err, errlen, "keyed state: key group %d is truncated", g);
	return -1;
}

int kstate_apply(struct keyed_state *ks, struct weir_reader *r, int index,
                 int parallelism, const bool *want, char *err, size_t errlen)
{
	bool seen[KEY_GROUPS] = {false};
	uint64_t ngroups;

	if (bytes_get_u64(r, &ngroups) < 0)
		goto trunc;
	if (ngroups > KEY_GROUPS) {
		snprintf(err, errlen,
		         "keyed state: %llu key groups, more than the %d "
		         "there are",
		         (unsigned long long)ngroups, KEY_GROUPS);
		return -1;
	}
	for (uint64_t i = 0; i < ngroups; i++) {
		uint64_t g, entries, nbytes;
		struct weir_reader sub;

		if (bytes_get_u64(r, &g) < 0 ||
		    bytes_get_u64(r, &entries) < 0 ||
		    bytes_get_u64(r, &nbytes) < 0 || bytes_left(r) < nbytes)
			goto trunc;
		if (g >= KEY_GROUPS || seen[g]) {
			snprintf(
			    err, errlen, "keyed state: key group %llu is %s",
			    (unsigned long long)g,
			    g >= KEY_GROUPS ? "out of range" : "there twice");
			return -1;
		}
		seen[g] = true;
		sub.p = r->p + r->pos;
		sub.len = (size_t)nbytes;
		sub.pos = 0;
		r->pos += (size_t)nbytes;
		if (key_group_owner((int)g, parallelism) != index ||
		    (want && !want[g]))
			continue;
		if (apply_block(ks, &sub, (int)g, entries, err, errlen) < 0)
			return -1;
		if (sub.pos != sub.len) {
			snprintf(err, errlen,
			         "keyed state: key group %llu has %zu bytes "
			         "after its last entry",
			         (unsigned long long)g, sub.len - sub.pos);
			return -1;
		}
	}
	return 0;
trunc:
	snprintf(err, errlen, "keyed state is truncated");
	return -1;
}

void kstate_restored(struct keyed_state *ks)
{
	kstate_set_key(ks, "", 0); /* finds the entry anew */
}
