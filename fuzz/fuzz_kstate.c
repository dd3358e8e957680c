/*
 * fuzz_kstate.c - the managed keyed state section of an operator's state
 * file (count, dedup and plugins using weir_state_*), read back by
 * kstate_restore as a task of parallelism 1 and as task 1 of 3. What one
 * restore accepted must serialise again and restore to the same keys.
 *
 * Input: the section's bytes, as a state file's payload holds them after
 * the operator's own bytes.
 */
#include "fuzz.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keyed_state.h"
#include "task.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Restores bytes into a new keyed state; NULL when refused. */
static struct keyed_state *restore(const void *p, size_t len, int index,
                                   int parallelism)
{
	struct weir_reader r = {.p = p, .len = len, .pos = 0};
	struct keyed_state *ks = kstate_new();
	char err[256];

	err[0] = '\0';
	if (kstate_restore(ks, &r, index, parallelism, err, sizeof(err)) < 0) {
		assert(err[0]);
		kstate_free(ks);
		return NULL;
	}
	assert(r.pos <= r.len);
	return ks;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyed_state *ks = restore(data, size, 0, 1), *again;
	struct weir_writer w = {0};
	char err[256];

	kstate_free(restore(data, size, 1, 3));
	if (!ks)
		return 0;
	kstate_freeze(ks);
	assert(kstate_fill(ks, &w, err, sizeof(err)) == 0);
	kstate_release(ks);
	again = restore(w.p, w.len, 0, 1);
	assert(again && kstate_keys(again) == kstate_keys(ks));
	kstate_free(again);
	kstate_free(ks);
	free(w.p);
	return 0;
}
