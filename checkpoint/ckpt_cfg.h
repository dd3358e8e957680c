/*
 * ckpt_cfg.h - the job file's "checkpoint" section, as the coordinator
 * reads it (job/jobfile.c fills it in).
 */
#ifndef WEIR_CKPT_CFG_H
#define WEIR_CKPT_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg_limits.h"

/* Several processes running one job (`--instance I/N`, the job file's
 * "instance"): instance `index` of `count` owns the source partitions p
 * with p % count == index, and has checkpoints of its own. Count 1 is the
 * only instance, a job run as one process. Sections that need it point at
 * the job's (job_cfg.instance); a NULL pointer means the only instance. */
struct job_instance {
	int index; /* 0 .. count - 1 */
	int count; /* 1 .. JOB_MAX_INSTANCES */
};

static inline int job_instance_count(const struct job_instance *in)
{
	return in ? in->count : 1;
}

static inline int job_instance_index(const struct job_instance *in)
{
	return in ? in->index : 0;
}

struct job_ckpt_cfg {
	char *dir;                 /* required */
	int64_t interval_ms;       /* default 1000; 0 disables periodic */
	int64_t timeout_ms;        /* default 10000, 1..JOB_MAX_MS */
	int64_t min_pause_ms;      /* default 0, up to JOB_MAX_MS */
	int retain;                /* default 3, 1..JOB_MAX_RETAIN */
	int tolerable_failures;    /* default 3, 0..JOB_MAX_TOLERABLE */
	bool incremental;          /* default true: keyed state as a chain */
	int materialize_delta_pct; /* default 100, 1..JOB_MAX_MATERIALIZE_PCT */
	/* Recorded in every _metadata; a restore as another instance is
	 * refused. */
	const struct job_instance *instance;
};

#endif
