/*
 * fuzz_meta.c - a checkpoint's _metadata read by the store
 * (ckpt_read_meta), the checkpoint verified against it with every state
 * file it lists (ckpt_verify, ckpt_find_latest), and the directory listed
 * as `weir checkpoints` prints it (ckpt_print_listing).
 *
 * Input: the _metadata file of checkpoint 1. Beside it, written once, are
 * three valid state files that the seeds list with their real sizes and
 * checksums, so that verification gets past _metadata.
 */
#include "fuzz.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* Set up once, read-only after. */
static struct ckpt_store *st;
static char *meta_path;
static FILE *devnull;

static void write_state(const char *task, uint32_t sv, const char *payload)
{
	struct ckpt_file_info info;
	char err[256];

	if (ckpt_write_state(st, 1, task, sv, payload, strlen(payload), &info,
	                     err, sizeof(err)) < 0) {
		fprintf(stderr, "weir fuzz: %s\n", err);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_scratch_dir();

	(void)argc;
	(void)argv;
	st = fuzz_scratch_store();
	/* The seeds' _metadata list these, byte for byte. */
	write_state("source-0", 1, "{\"logs\":{\"0\":42,\"1\":7}}");
	write_state("op0-count-0", 1, "service-a");
	write_state("sink-0", 2, "");
	meta_path = xasprintf("%s/chk-1/_metadata", dir);
	devnull = fopen("/dev/null", "w");
	if (!devnull) {
		perror("/dev/null");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ckpt_meta meta;
	char err[512];
	int rc;

	fuzz_write_file(meta_path, data, size);

	err[0] = '\0';
	rc = ckpt_read_meta(st, 1, &meta, err, sizeof(err));
	if (rc == 0) {
		assert(meta.id == 1 && meta.job && meta.fingerprint);
		assert(meta.offsets_json && meta.offsets_json[0] == '{');
		assert(meta.ntasks == 0 || meta.tasks);
		for (size_t i = 0; i < meta.ntasks; i++)
			assert(meta.tasks[i].task && meta.tasks[i].task[0]);
	} else {
		assert(rc == -1 && err[0] && !meta.tasks && !meta.job);
	}
	ckpt_meta_clear(&meta);

	err[0] = '\0';
	rc = ckpt_verify(st, 1, &meta, err, sizeof(err));
	assert(rc == 0 || (rc == -1 && err[0]));
	if (rc == 0)
		ckpt_meta_clear(&meta);

	rc = ckpt_find_latest(st, &meta, NULL, NULL, NULL);
	assert(rc == 1 || rc == -1);
	if (rc == 1)
		ckpt_meta_clear(&meta);

	/* What restore calls: the payloads kept, owned by meta. */
	rc = ckpt_load_latest(st, &meta, NULL, NULL, NULL);
	assert(rc == 1 || rc == -1);
	if (rc == 1)
		ckpt_meta_clear(&meta);

	rc = ckpt_print_listing(ckpt_store_dir(st), devnull, err, sizeof(err));
	assert(rc == 0);
	return 0;
}
