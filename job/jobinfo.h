/*
 * jobinfo.h - what GET /job answers: the job's status, its stages with
 * their counters, the edges between them, the source lag per partition
 * and the restored checkpoint (README, "Operating weir"). Also the stage
 * names the metrics label their series with.
 *
 * Everything here reads atomics the tasks publish (task.h) or takes the
 * checkpoint statistics' lock briefly; it never waits on a task. Call it
 * from the HTTP thread.
 */
#ifndef WEIR_JOBINFO_H
#define WEIR_JOBINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct job;
struct task;

/* Whether the graph is built, so that job->flow.tasks may be read. */
bool jobinfo_graph_ready(const struct job *job);

/* The stages: the source, each operator, the sink. */
int jobinfo_nstages(const struct job *job);
/* "source", "operator" or "sink". */
const char *jobinfo_stage_kind(const struct job *job, int stage);
/* The type of stage: "kafka", "generator", "filter", ..., "discard", or
 * "plugin:NAME" (NAME as the plugin names itself). */
void jobinfo_stage_type(const struct job *job, int stage, char *buf,
                        size_t len);

/* A stage's watermark: the minimum over its tasks, in ms since the
 * epoch; false while some task has none yet or when every input ended. */
bool jobinfo_stage_watermark(const struct job *job, int stage, int64_t *ms);

/* The JSON of GET /job. The caller frees it. */
char *jobinfo_json(struct job *job);

#endif
