/*
 * ckpt_cfg.h - the job file's "checkpoint" section, as the coordinator
 * reads it (job/jobfile.c fills it in).
 */
#ifndef WEIR_CKPT_CFG_H
#define WEIR_CKPT_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg_limits.h"

struct job_ckpt_cfg {
	char *dir;                 /* required */
	int64_t interval_ms;       /* default 1000; 0 disables periodic */
	int64_t timeout_ms;        /* default 10000, 1..JOB_MAX_MS */
	int64_t min_pause_ms;      /* default 0, up to JOB_MAX_MS */
	int retain;                /* default 3, 1..JOB_MAX_RETAIN */
	int tolerable_failures;    /* default 3, 0..JOB_MAX_TOLERABLE */
	bool incremental;          /* default true: keyed state as a chain */
	int materialize_delta_pct; /* default 100, 1..JOB_MAX_MATERIALIZE_PCT */
};

#endif
