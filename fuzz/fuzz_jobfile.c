/*
 * fuzz_jobfile.c - the job file from bytes: parse, ${} substitution,
 * defaults and ranges (jobfile_parse), then what `weir validate` adds for
 * a job that parsed: the exactly-once rules and each operator's own
 * config (job_validate opens every built-in operator) and the graph
 * fingerprint. Input: the job file's bytes.
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errlist errs = {0};
	struct job_cfg *cfg;
	char *fp;

	cfg = jobfile_parse((const char *)data, size, "fuzz.json", &errs);
	/* Either a job or at least one message saying why not. */
	assert(cfg ? errs.n == 0 : errs.n > 0);
	for (size_t i = 0; i < errs.n; i++)
		assert(errs.msgs[i] && errs.msgs[i][0]);
	if (cfg && !has_plugin(cfg)) {
		size_t before = errs.n;
		int rc = job_validate(cfg, &errs);

		assert(rc == 0 ? errs.n == before : errs.n > before);
		fp = job_fingerprint(cfg);
		assert(fp && fp[0]);
		free(fp);
	}
	jobfile_free(cfg);
	errlist_clear(&errs);
	return 0;
}
