/*
 * event_time.h - event time in a source task: each record's time (the
 * Kafka timestamp, or a field of the value in one of three formats), the
 * highest time seen per partition, and the watermarks the task sends.
 * The Kafka source and the generator share it.
 *
 * The rule (Flink's bounded out-of-orderness): a partition's watermark is
 * its highest time seen minus max_out_of_orderness_ms minus 1, so a record
 * at exactly the highest time is not late; WM_MIN until its first record.
 * A partition without records for idle_timeout_ms of wall clock (when that
 * is set) is idle until its next record. The task's watermark is the
 * minimum over its partitions that are not idle; when all are (or it owns
 * none) it sends one idle watermark. It sends a watermark when that grew,
 * at most once per interval_ms, and at once when idleness changes.
 *
 * The highest time per partition and the last watermark sent are part of
 * the source's state, so a restore sends that watermark first and goes on
 * from there. Everything here runs on the source's task thread, except
 * et_read (restore, before the thread starts).
 */
#ifndef WEIR_EVENT_TIME_H
#define WEIR_EVENT_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "connector_cfg.h"
#include "jrec.h"
#include "task.h"
#include "weir/weir.h"

/* Times outside this are refused: before 1970, after 9999-12-31. */
#define ET_MAX_TIME_MS 253402300799999LL

struct et_part {
	int64_t high;    /* highest event time seen; WM_MIN none yet */
	int64_t last_ms; /* monotonic ms of its last record */
	bool idle;
};

struct event_time {
	const struct job_time_cfg *cfg;
	const char *topic; /* for messages */
	struct et_part *parts;
	int nparts;
	struct fpath *field; /* NULL: the Kafka timestamp */
	struct jrec jr;
	int64_t sent_ms;  /* monotonic ms of the last watermark sent */
	bool announce;    /* restored: send the restored watermark first */
	int64_t restored; /* ... which is this */
	bool started;     /* the first check has set last_ms */
};

void et_init(struct event_time *et, const struct job_time_cfg *cfg,
             const char *topic, int nparts);
void et_free(struct event_time *et);

/* The event time of a record of partition index i (in et->parts) whose
 * value is rec->value and whose Kafka timestamp is rec->timestamp: 1
 * with *out set and the partition's highest time moved on; 0 when the
 * record has no usable time and was skipped (counted, logged); -1 when
 * that failed the job (source.on_error "fail"). */
int et_record(struct task *t, struct event_time *et, int i,
              const struct weir_record *rec, int64_t *out);

/* After a poll: sends the task's watermark when it grew (at most once
 * per interval_ms) or when idleness changed, and lowers t->wait_hint_ms
 * to when the next one may be due. Returns 0, or -1 when the job
 * stops. */
int et_check(struct task *t, struct event_time *et);

/* State: per partition (in et->parts order) its highest time, then the
 * last watermark sent. et_read reads what et_write wrote for partition
 * index i (et_read_part), then the tail (et_read_sent). */
void et_write_part(const struct event_time *et, int i, struct weir_writer *w);
void et_write_sent(const struct event_time *et, const struct task *t,
                   struct weir_writer *w);
int et_read_part(struct event_time *et, int i, struct weir_reader *r);
int et_read_sent(struct event_time *et, struct weir_reader *r);

/* "2026-12-07T09:15:13.123Z" or with an offset ("+01:00"); fractional
 * seconds optional. 0 with *ms set, or -1 (also for a time outside 0 to
 * ET_MAX_TIME_MS). */
int et_parse_rfc3339(const char *s, size_t len, int64_t *ms);

#endif
