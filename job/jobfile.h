/*
 * jobfile.h - the job file: JSON read with jansson, ${ENV} substitution in
 * every string, defaults filled in, and every problem reported with its
 * JSON path. The result is a plain struct the rest of weir reads.
 */
#ifndef WEIR_JOBFILE_H
#define WEIR_JOBFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "ckpt_cfg.h"
#include "connector_cfg.h"
#include "op_cfg.h"
#include "util.h"

struct job_cfg {
	char *path; /* the file it came from, or "<string>" */
	char *name; /* required, [A-Za-z0-9._-]+ */
	struct job_ckpt_cfg checkpoint;
	struct job_source_cfg source;
	struct job_op_cfg *ops;
	size_t nops;
	struct job_sink_cfg sink;
	int64_t progress_interval_ms; /* 0: no progress lines */
	char *http_listen; /* "http": {"listen": "HOST:PORT"}; NULL: off */
	/* This process's share of the job; checkpoint, source and sink
	 * point at it. Default: the only instance (0 of 1). */
	struct job_instance instance;
};

/* Parses a job file. Returns NULL and fills errs (one message per problem,
 * each "json.path: what was wrong; what was expected") on any error. */
struct job_cfg *jobfile_load(const char *path, struct errlist *errs);
struct job_cfg *jobfile_parse(const char *text, size_t len, const char *origin,
                              struct errlist *errs);
void jobfile_free(struct job_cfg *cfg);

/* Like jobfile_load, but returns what could be read even when errs got
 * messages (NULL only when the file is unreadable or not a JSON object),
 * so that `weir validate` can check the operators too and report every
 * problem in one round. Fields in error hold their defaults or NULL. */
struct job_cfg *jobfile_load_partial(const char *path, struct errlist *errs);

/* Replaces ${NAME} and ${NAME:-default} in s. Returns a new string, or NULL
 * with a message in errs (prefixed with path) when NAME is unset and has
 * no default or the syntax is broken. */
char *jobfile_expand_env(const char *s, const char *path, struct errlist *errs);

#endif
