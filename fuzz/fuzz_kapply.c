/*
 * fuzz_kapply.c - the grouped keyed-state sections of incremental
 * checkpoints (the payload of a base or delta file in DIR/shared), read by
 * kstate_apply as a restore does: as a task of parallelism 1, as each task
 * of 3, and in two halves of the key groups. What is refused must come
 * with a message; what parallelism 1 accepts must be accepted by every
 * task of 3, which together hold the same keys, and so must the halves;
 * applying it twice changes nothing (the last entry of a key wins either
 * way); and a base written from the result applies to the same state.
 *
 * Input: the section's bytes.
 */
#include "fuzz.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "keyed_state.h"
#include "task.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Applies the section to ks; true when accepted. */
static bool apply(struct keyed_state *ks, const void *p, size_t len, int index,
                  int parallelism, const bool *want)
{
	struct weir_reader r = {.p = p, .len = len, .pos = 0};
	char err[256];

	err[0] = '\0';
	if (kstate_apply(ks, &r, index, parallelism, want, err, sizeof(err)) <
	    0) {
		assert(err[0]);
		return false;
	}
	assert(r.pos <= r.len);
	return true;
}

/* What ks holds, independent of order: the sum over keys of a hash of
 * the key and of its names and values. Written as a base and read back
 * with the section layout (keyed_state.c), which the writer gets right. */
static uint64_t digest(struct keyed_state *ks, struct weir_writer *base)
{
	struct snap_tail tail = {0};
	struct weir_reader r;
	uint64_t sum = 0, groups, g, entries, nbytes;
	char err[256];

	base->len = 0;
	kstate_capture_base(ks, &tail);
	assert(tail.fill(tail.arg, base, err, sizeof(err)) == 0);
	tail.release(tail.arg);
	r = (struct weir_reader){.p = base->p, .len = base->len, .pos = 0};
	assert(bytes_get_u64(&r, &groups) == 0);
	for (uint64_t i = 0; i < groups; i++) {
		assert(bytes_get_u64(&r, &g) == 0 &&
		       bytes_get_u64(&r, &entries) == 0 &&
		       bytes_get_u64(&r, &nbytes) == 0);
		for (uint64_t e = 0; e < entries; e++) {
			unsigned char kind;
			const void *k, *nk, *nv;
			size_t kl, nkl, nvl;
			uint64_t nnames, names = 0;

			assert(bytes_get(&r, &kind, 1) == 0 && kind == 1 &&
			       bytes_get_str(&r, &k, &kl) == 0 &&
			       bytes_get_u64(&r, &nnames) == 0);
			for (uint64_t j = 0; j < nnames; j++) {
				assert(bytes_get_str(&r, &nk, &nkl) == 0 &&
				       bytes_get_str(&r, &nv, &nvl) == 0);
				names += XXH3_64bits_withSeed(nk, nkl, nvl) ^
				         XXH3_64bits(nv, nvl);
			}
			sum += XXH3_64bits_withSeed(k, kl, names);
		}
	}
	assert(bytes_left(&r) == 0);
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyed_state *ks = kstate_new();
	struct weir_writer base = {0};
	bool half[2][KEY_GROUPS];
	uint64_t whole, parts = 0;
	size_t keys, part_keys = 0;
	bool ok = apply(ks, data, size, 0, 1, NULL);

	for (int i = 0; i < 3; i++) {
		struct keyed_state *part = kstate_new();
		bool part_ok = apply(part, data, size, i, 3, NULL);

		/* A task reads only its own groups' entries. */
		assert(part_ok || !ok);
		if (ok) {
			part_keys += kstate_keys(part);
			parts += digest(part, &base);
		}
		kstate_free(part);
	}
	if (!ok) {
		kstate_free(ks);
		free(base.p);
		return 0;
	}
	keys = kstate_keys(ks);
	whole = digest(ks, &base);
	assert(part_keys == keys && parts == whole);

	for (int g = 0; g < KEY_GROUPS; g++) {
		half[0][g] = g % 2 == 0;
		half[1][g] = g % 2 == 1;
	}
	{
		struct keyed_state *halves = kstate_new();

		assert(apply(halves, data, size, 0, 1, half[1]) &&
		       apply(halves, data, size, 0, 1, half[0]));
		assert(kstate_keys(halves) == keys &&
		       digest(halves, &base) == whole);
		kstate_free(halves);
	}

	{
		struct keyed_state *twice = kstate_new();

		assert(apply(twice, data, size, 0, 1, NULL) &&
		       apply(twice, data, size, 0, 1, NULL));
		assert(kstate_keys(twice) == keys &&
		       digest(twice, &base) == whole);
		kstate_free(twice);
	}
	{
		struct keyed_state *again = kstate_new();

		assert(apply(again, base.p, base.len, 0, 1, NULL));
		assert(kstate_keys(again) == keys);
		assert(digest(again, &base) == whole);
		kstate_free(again);
	}
	kstate_free(ks);
	free(base.p);
	return 0;
}
