/*
 * fuzz_jobfile.c - the job file from bytes: parse, ${} substitution,
 * defaults and ranges (jobfile_parse), then what `weir validate` adds for
 * a job that parsed: the exactly-once rules and each operator's own
 * config (job_validate opens every built-in operator) and the graph
 * fingerprint. Then the same as `weir validate` reads it: from a file,
 * partly read (fields in error left at their defaults or NULL) and still
 * validated. Input: the job file's bytes.
 *
 * A job naming a "plugin" operator is parsed but not validated: validation
 * would dlopen() whatever path the input names.
 */
#include "fuzz.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jobfile.h"
#include "util.h"

/* Where the input is written for jobfile_load_partial; set once. */
static char *job_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	job_path = xasprintf("%s/job.json", fuzz_scratch_dir());
	/* ${} substitution reads the environment: give the seeds some. */
	setenv("WEIR_FUZZ_SET", "value", 1);
	setenv("WEIR_FUZZ_EMPTY", "", 1);
	setenv("WEIR_FUZZ_NUM", "250", 1);
	unsetenv("WEIR_FUZZ_UNSET");
	return 0;
}

static bool has_plugin(const struct job_cfg *cfg)
{
	for (size_t i = 0; i < cfg->nops; i++)
		if (cfg->ops[i].type && !strcmp(cfg->ops[i].type, "plugin"))
			return true;
	return false;
}

/* What `weir validate` adds to a job that was read. */
static void validate(const struct job_cfg *cfg, struct errlist *errs)
{
	size_t before = errs->n;
	char *fp;
	int rc;

	if (has_plugin(cfg))
		return;
	rc = job_validate(cfg, errs);
	assert(rc == 0 ? errs->n == before : errs->n > before);
	fp = job_fingerprint(cfg);
	assert(fp && fp[0]);
	free(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errlist errs = {0};
	struct job_cfg *cfg;

	cfg = jobfile_parse((const char *)data, size, "fuzz.json", &errs);
	/* Either a job or at least one message saying why not. */
	assert(cfg ? errs.n == 0 : errs.n > 0);
	for (size_t i = 0; i < errs.n; i++)
		assert(errs.msgs[i] && errs.msgs[i][0]);
	if (cfg)
		validate(cfg, &errs);
	jobfile_free(cfg);
	errlist_clear(&errs);

	fuzz_write_file(job_path, data, size);
	cfg = jobfile_load_partial(job_path, &errs);
	assert(cfg || errs.n > 0);
	if (cfg)
		validate(cfg, &errs);
	jobfile_free(cfg);
	errlist_clear(&errs);
	return 0;
}
