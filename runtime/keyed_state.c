/*
 * keyed_state.c - managed keyed state (see keyed_state.h).
 *
 * Snapshot section: u64 number of keys, then per key: u64 key group,
 * bytes key, u64 number of names, then (bytes name, bytes value) each;
 * bytes are a u64 length and the bytes (weir_write_bytes).
 */
#include "keyed_state.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyroute.h"
#include "kvmap.h"
#include "util.h"

struct keyed_state {
	struct kvmap *keys;     /* record key -> struct kvmap * (names) */
	struct kvmap *cur;      /* names of the current key, or NULL */
	char *key;
	size_t key_len, key_cap;
};

struct keyed_state *kstate_new(void)
{
	struct keyed_state *ks = xcalloc(1, sizeof(*ks));

	ks->keys = kvmap_new();
	return ks;
}

void kstate_free(struct keyed_state *ks)
{
	const void *k, *v;
	size_t kl, vl, pos = 0;

	if (!ks)
		return;
	while (kvmap_next(ks->keys, &pos, &k, &kl, &v, &vl)) {
		struct kvmap *names;

		memcpy(&names, v, sizeof(names));
		kvmap_free(names);
	}
	kvmap_free(ks->keys);
	free(ks->key);
	free(ks);
}

size_t kstate_keys(const struct keyed_state *ks)
{
	return kvmap_count(ks->keys);
}

static struct kvmap *names_of(struct keyed_state *ks, const void *key,
                              size_t len, bool create)
{
	void *v = kvmap_get(ks->keys, key, len, NULL);
	struct kvmap *names;

	if (v) {
		memcpy(&names, v, sizeof(names));
		return names;
	}
	if (!create)
		return NULL;
	names = kvmap_new();
	kvmap_put(ks->keys, key, len, &names, sizeof(names));
	return names;
}

void kstate_set_key(struct keyed_state *ks, const void *key, size_t len)
{
	if (len > ks->key_cap) {
		ks->key_cap = len * 2;
		ks->key = xrealloc(ks->key, ks->key_cap);
	}
	if (len)
		memcpy(ks->key, key, len);
	ks->key_len = len;
	ks->cur = names_of(ks, key, len, false);
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
		return WEIR_EEOF;
	v = kvmap_get(ks->cur, name, len, vlen);
	if (!v)
		return WEIR_EEOF;
	*value = v;
	return WEIR_OK;
}

void kstate_put(struct keyed_state *ks, const void *name, size_t len,
                const void *value, size_t vlen)
{
	if (!ks->cur)
		ks->cur = names_of(ks, ks->key ? ks->key : "", ks->key_len,
		                   true);
	kvmap_put(ks->cur, name, len, value, vlen);
}

void kstate_delete(struct keyed_state *ks, const void *name, size_t len)
{
	if (!ks->cur || !kvmap_del(ks->cur, name, len))
		return;
	if (kvmap_count(ks->cur) == 0) {
		/* The key has no state left: forget it entirely. */
		kvmap_free(ks->cur);
		kvmap_del(ks->keys, ks->key ? ks->key : "", ks->key_len);
		ks->cur = NULL;
	}
}

int kstate_iterate(struct keyed_state *ks, weir_state_fn fn, void *arg)
{
	const void *k, *v;
	size_t kl, vl, pos = 0;
	int rc;

	if (!ks->cur)
		return 0;
	while (kvmap_next(ks->cur, &pos, &k, &kl, &v, &vl))
		if ((rc = fn(arg, k, kl, v, vl)) != 0)
			return rc;
	return 0;
}

void kstate_snapshot(const struct keyed_state *ks, struct weir_writer *w)
{
	const void *k, *v;
	size_t kl, vl, pos = 0;

	weir_write_u64(w, kvmap_count(ks->keys));
	while (kvmap_next(ks->keys, &pos, &k, &kl, &v, &vl)) {
		struct kvmap *names;
		const void *nk, *nv;
		size_t nkl, nvl, npos = 0;

		memcpy(&names, v, sizeof(names));
		weir_write_u64(w, (uint64_t)key_group(k, kl));
		weir_write_bytes(w, k, kl);
		weir_write_u64(w, kvmap_count(names));
		while (kvmap_next(names, &npos, &nk, &nkl, &nv, &nvl)) {
			weir_write_bytes(w, nk, nkl);
			weir_write_bytes(w, nv, nvl);
		}
	}
}

int kstate_restore(struct keyed_state *ks, struct weir_reader *r, int index,
                   int parallelism, char *err, size_t errlen)
{
	uint64_t nkeys, group, nnames;

	if (weir_read_u64(r, &nkeys) != WEIR_OK)
		goto trunc;
	for (uint64_t i = 0; i < nkeys; i++) {
		const void *k, *nk, *nv;
		size_t kl, nkl, nvl;
		struct kvmap *names = NULL;
		bool mine;

		if (weir_read_u64(r, &group) != WEIR_OK ||
		    weir_read_bytes(r, &k, &kl) != WEIR_OK ||
		    weir_read_u64(r, &nnames) != WEIR_OK)
			goto trunc;
		if ((int)group != key_group(k, kl)) {
			snprintf(err, errlen, "keyed state: key %llu is in key "
			         "group %llu, but hashes to %d",
			         (unsigned long long)i, (unsigned long long)group,
			         key_group(k, kl));
			return -1;
		}
		mine = key_group_owner((int)group, parallelism) == index;
		if (mine)
			names = names_of(ks, k, kl, true);
		for (uint64_t j = 0; j < nnames; j++) {
			if (weir_read_bytes(r, &nk, &nkl) != WEIR_OK ||
			    weir_read_bytes(r, &nv, &nvl) != WEIR_OK)
				goto trunc;
			if (mine)
				kvmap_put(names, nk, nkl, nv, nvl);
		}
	}
	ks->cur = NULL;
	return 0;
trunc:
	snprintf(err, errlen, "keyed state is truncated");
	return -1;
}
