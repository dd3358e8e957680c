/*
 * metrics.h - GET /metrics: the job's metrics in the Prometheus text
 * exposition format 0.0.4. Every name starts with weir_, is in base units
 * (seconds, bytes) and ends in _total when it counts; labels are job,
 * stage ("1-count": index and type), task, topic, partition, and result
 * for checkpoint outcomes. README ("Operating weir") lists them and
 * tests/metric_names.txt pins the names.
 *
 * It reads the atomics tasks publish and copies the checkpoint
 * statistics under their lock; never waits on a task. HTTP thread.
 */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include <stddef.h>

struct job;

/* The exposition text; *len its length. The caller frees it. version is
 * weir's, for weir_build_info. */
char *metrics_format(struct job *job, const char *version, size_t *len);

#endif
