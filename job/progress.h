/*
 * progress.h - the job's progress line: every progress_interval_ms the
 * thread that waits for the job logs, stage by stage, the records each
 * stage has taken in and passed on, the rates at both ends of the
 * pipeline, and the Kafka source's lag.
 *
 *   job: progress: source 1200000 read (118000/s), lag 5120 |
 *        filter 1200000 in, 300000 out, 2 skipped | sink 300000 in (29500/s)
 */
#ifndef WEIR_PROGRESS_H
#define WEIR_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

struct job;

struct progress {
	int64_t at_ms;       /* monotonic time of the last line */
	uint64_t read, sunk; /* the source's and sink's counts then */
};

void progress_start(struct progress *p, const struct job *job);
/* Formats the line into buf (the part after "job: progress: "). */
void progress_format(struct progress *p, const struct job *job, char *buf,
                     size_t len);

#endif
