/*
 * fuzz_state.c - a task's state file read back and verified by the
 * checkpoint store (ckpt_read_state): magic, format, end marker, XXH64
 * checksum, payload length and the lz4 frame.
 *
 * Input: one mode byte, then the file. The checksum would stop a fuzzer
 * at the door, so unless bit 0 of the mode is set the target first writes
 * the right XXH64 into the trailer (when the file is long enough to have
 * one). Bit 1 passes what _metadata would say (size, checksum, state
 * version taken from the file) instead of nothing.
 */
#include "fuzz.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "store.h"
#include "util.h"

#define HDR_LEN 24     /* magic, format, state version, payload length */
#define TRAILER_LEN 16 /* end marker, XXH64 of everything before it */

/* Set up once, read-only after. */
static struct ckpt_store *st;
static char *state_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_scratch_dir();
	char *chk;

	(void)argc;
	(void)argv;
	st = fuzz_scratch_store();
	chk = xasprintf("%s/chk-1", dir);
	if (mkdir(chk, 0700) < 0) {
		perror(chk);
		abort();
	}
	state_path = xasprintf("%s/t.state", chk);
	free(chk);
	return 0;
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ckpt_file_info expect = {0};
	unsigned char *file;
	void *payload = NULL;
	size_t n, len = 0;
	uint32_t sv = 0;
	char err[512];
	uint8_t mode;
	int rc;

	if (size == 0)
		return 0;
	mode = data[0];
	n = size - 1;
	file = xmalloc(n ? n : 1);
	memcpy(file, data + 1, n);
	if (!(mode & 1) && n >= HDR_LEN + TRAILER_LEN) {
		uint64_t sum = XXH64(file, n - TRAILER_LEN, 0);

		for (int i = 0; i < 8; i++)
			file[n - 8 + i] = (unsigned char)(sum >> (8 * i));
	}
	if (n >= HDR_LEN + TRAILER_LEN) {
		expect.size = n;
		expect.checksum = get_le(file + n - 8, 8);
		expect.state_version = (uint32_t)get_le(file + 12, 4);
	}
	fuzz_write_file(state_path, file, n);
	err[0] = '\0';
	rc = ckpt_read_state(st, 1, "t", (mode & 2) ? &expect : NULL, &payload,
	                     &len, &sv, err, sizeof(err));
	if (rc == 0) {
		/* What it hands out is what the header announced. */
		assert(n >= HDR_LEN + TRAILER_LEN);
		assert(len == get_le(file + 16, 8));
		assert(sv == (uint32_t)get_le(file + 12, 4));
		assert(len == 0 || payload);
	} else {
		assert(rc == -1 && err[0]);
		assert(!strncmp(err, "chk-1/t.state: ", 15));
	}
	free(payload);
	free(file);
	return 0;
}
