/*
 * cfg_limits.h - the ranges the job file's numbers are held to (job/jobfile.c
 * checks them; `weir validate` reports a value outside).
 */
#ifndef WEIR_CFG_LIMITS_H
#define WEIR_CFG_LIMITS_H

/* The ranges the job file's numbers are held to. The code that adds,
 * multiplies or loops over them relies on these: a day of milliseconds
 * summed or scaled a few times, 10^15 records, 10^9 records/s times a
 * clock in microseconds, all stay far within int64_t. */
#define JOB_MAX_MS 86400000    /* 24 h, any duration in ms */
#define JOB_MIN_INTERVAL_MS 10 /* a positive interval_ms */
#define JOB_MAX_RETAIN 10000
#define JOB_MAX_TOLERABLE 10000
#define JOB_MAX_MATERIALIZE_PCT 100000 /* checkpoint.materialize_delta_pct */
#define JOB_MAX_PARALLELISM 256
#define JOB_MAX_INSTANCES 256 /* --instance I/N: N */
#define JOB_MAX_GEN_COUNT 1000000000000000LL
#define JOB_MAX_GEN_PARTITIONS 10000
#define JOB_MAX_GEN_RATE 1000000000
/* source.watermarks.interval_ms when not given: a window's result is due
 * within tens of ms of its end passing. */
#define JOB_DEFAULT_WM_INTERVAL_MS 10

#endif
