/*
 * fuzz.h - what every fuzz target shares: the libFuzzer entry points it
 * defines, and a scratch checkpoint directory for the targets that read
 * files. The same target sources build two ways: with clang and
 * -fsanitize=fuzzer (libFuzzer drives them, fuzz/run.sh), and with any
 * compiler linked to replay.c, which feeds them the committed corpus as a
 * regression test of the normal suite.
 */
#ifndef WEIR_FUZZ_H
#define WEIR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Called once before the first input; returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* Called once per input; returns 0. A crash, a sanitizer report or a
 * failed assert is a finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh private directory under $TMPDIR (or /tmp) that is removed, with
 * everything in it, when the process exits normally. Aborts on failure:
 * a target without its scratch space cannot run. */
const char *fuzz_scratch_dir(void);

/* A checkpoint store on the scratch directory; aborts on failure. */
struct ckpt_store;
struct ckpt_store *fuzz_scratch_store(void);

/* Writes len bytes to path (replacing it); aborts on failure. */
void fuzz_write_file(const char *path, const void *buf, size_t len);

#endif
