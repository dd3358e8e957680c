/*
 * replay.c - runs a fuzz target without libFuzzer: every file named on the
 * command line (or found in a directory named there) is one input, passed
 * to LLVMFuzzerTestOneInput in name order. The normal test suite runs the
 * committed corpus this way, so what the fuzzers found keeps being
 * checked by gcc builds, plain and under the sanitizers.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Larger inputs are not fuzz inputs: the corpus is small files. */
#define REPLAY_MAX_BYTES (1u << 20)

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf, *fit;
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	buf = malloc(REPLAY_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX_BYTES + 1, f);
	fclose(f);
	if (n > REPLAY_MAX_BYTES) {
		fprintf(stderr, "%s: larger than %u bytes, not a fuzz input\n",
		        path, REPLAY_MAX_BYTES);
		free(buf);
		return -1;
	}
	/* Exactly n bytes, so that ASan sees a read past the end. */
	fit = realloc(buf, n ? n : 1);
	if (!fit) {
		free(buf);
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	LLVMFuzzerTestOneInput(fit, n);
	free(fit);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, size_t *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), rc = 0;

	if (n < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &sb) == 0 &&
		    S_ISREG(sb.st_mode)) {
			if (run_file(path) < 0)
				rc = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat sb;

		if (stat(argv[i], &sb) < 0) {
			perror(argv[i]);
			rc = 1;
		} else if (S_ISDIR(sb.st_mode)) {
			if (run_dir(argv[i], &count) < 0)
				rc = 1;
		} else if (run_file(argv[i]) < 0) {
			rc = 1;
		} else {
			count++;
		}
	}
	printf("%s: %zu inputs replayed\n", argv[0], count);
	if (count == 0)
		rc = 1;
	return rc;
}
