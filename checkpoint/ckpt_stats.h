/*
 * ckpt_stats.h - checkpoint statistics for the HTTP endpoint, modelled on
 * Flink's: counts by result, the latest completed, failed and restored
 * checkpoint, and a history of the last CKPT_HISTORY with per-task
 * acknowledgement times, sizes and alignment times.
 *
 * The coordinator records what happens (its thread, or a thread posting
 * an ack under the coordinator's lock); the job records the restore at
 * start; the HTTP thread reads. Everything is under the stats' own mutex,
 * held only to copy or format: no caller ever waits on I/O behind it.
 * Every function accepts a NULL stats and then does nothing.
 */
#ifndef WEIR_CKPT_STATS_H
#define WEIR_CKPT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define CKPT_HISTORY 100

struct ckpt_stats;

struct ckpt_stats *ckpt_stats_new(void);
void ckpt_stats_free(struct ckpt_stats *s);

/* Checkpoint id was triggered at wall_ms (epoch ms). */
void ckpt_stats_triggered(struct ckpt_stats *s, uint64_t id, bool savepoint,
                          int64_t wall_ms);
/* Task `task` (its state file name; copied) acknowledged id ack_ms after
 * the trigger, with size bytes of state (what a restore reads) and
 * align_us of alignment. */
void ckpt_stats_acked(struct ckpt_stats *s, uint64_t id, const char *task,
                      int64_t ack_ms, uint64_t size, int64_t align_us);
/* id completed at wall_ms, duration_ms after its trigger (the figure the
 * log line gives); size bytes in all, written of them new. */
void ckpt_stats_completed(struct ckpt_stats *s, uint64_t id, int64_t wall_ms,
                          int64_t duration_ms, uint64_t size, uint64_t written);
/* id failed (why: a message, copied), or was aborted because the job
 * stopped. */
void ckpt_stats_ended(struct ckpt_stats *s, uint64_t id, bool aborted,
                      const char *why, int64_t wall_ms, int64_t duration_ms);
/* The job restored checkpoint id from path (copied) in restore_ms,
 * finishing at wall_ms. */
void ckpt_stats_restored(struct ckpt_stats *s, uint64_t id, const char *path,
                         int64_t restore_ms, int64_t wall_ms);

/* GET /checkpoints: {"counts", "latest", "history"} as README describes.
 * The caller frees it. */
char *ckpt_stats_json(struct ckpt_stats *s);
/* The restored object of /checkpoints' "latest", without time_ms as GET
 * /job shows it, or "null". The caller frees it. */
char *ckpt_stats_restored_json(struct ckpt_stats *s);

/* The figures of the metrics endpoint, copied. */
struct ckpt_summary {
	uint64_t completed, failed, aborted;
	uint64_t last_id;      /* last completed; 0 none */
	int64_t last_wall_ms;  /* its completion time */
	uint64_t last_size;    /* bytes a restore of it reads */
	int64_t last_align_us; /* max over its tasks */
	struct hist_snap duration;
	uint64_t restored_id; /* 0: started fresh */
	int64_t restore_ms;   /* -1: no restore recorded */
};
void ckpt_stats_summary(struct ckpt_stats *s, struct ckpt_summary *out);

#endif
