/*
 * kafka_sink.h - what the Kafka sink's files share: the sink task's state,
 * producing one record, waiting for delivery, and the table of functions
 * each delivery mode fills. kafka_sink_open picks the table from the
 * config; the common code never asks which mode it serves.
 *
 *   at-least-once        (kafka_sink.c) every record produced before
 *                        barrier n is delivered before checkpoint n; no
 *                        state.
 *   exactly-once, dedup  (kafka_eo.c, eo_mode) the offsets settled per
 *                        output partition are the state; after a restore
 *                        the output tail is read and replayed records
 *                        already there are dropped.
 *   exactly-once, txn    (kafka_txn.c, txn_mode) Kafka transactions
 *                        committed when the checkpoint completes; the
 *                        open transaction's records are the state.
 *
 * name, process and flush are required; any other member may be NULL
 * (nothing to do). They run where the task body's hooks of the same names
 * run (task.h), with the sink.
 */
#ifndef WEIR_KAFKA_SINK_H
#define WEIR_KAFKA_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "ckpt_cfg.h"
#include "kafka_common.h"
#include "task.h"
#include "weir/weir.h"

struct ksink;
struct lineage_seq;

struct ksink_mode {
	const char *name;
	/* Of the snapshot's bytes, handed back to restore. */
	uint32_t state_version;
	/* Before the producer exists: creates the mode's state (s->mst) and
	 * adds its settings to conf. s->out_partitions is known. */
	int (*setup)(struct ksink *s, struct task *t, rd_kafka_conf_t *conf,
	             char *err, size_t errlen);
	/* One batch (ksink_process serves a mode that only picks where each
	 * record goes). */
	int (*process)(struct task *t, void *st, struct batch *b);
	/* At the barrier: what checkpoint id covers is in Kafka (or in the
	 * transaction). */
	int (*flush)(struct task *t, void *st, uint64_t id);
	int (*snapshot)(struct task *t, void *st, uint64_t id,
	                struct weir_writer *w, char **offsets);
	int (*restore)(struct task *t, void *st, struct weir_reader *r,
	               uint32_t version);
	int (*start)(struct task *t, void *st);
	int (*complete)(struct task *t, void *st, uint64_t id);
	/* A fatal producer error the mode can explain: stops the task
	 * (task_fail) and returns -1, or returns 0 to leave it to the
	 * general message. */
	int (*fatal)(struct task *t, struct ksink *s, rd_kafka_resp_err_t e,
	             const char *reason);
	/* At close, while the producer still exists (t may be NULL). */
	void (*close)(struct task *t, struct ksink *s);
	/* Frees s->mst; runs also when setup failed half way. */
	void (*free)(void *mst);
};

extern const struct ksink_mode eo_mode;  /* kafka_eo.c */
extern const struct ksink_mode txn_mode; /* kafka_txn.c */

struct ksink {
	const struct job_sink_cfg *cfg;
	const struct job_ckpt_cfg *ckpt; /* the transaction timeout follows */
	const char *job_name;
	const char *src_topic;
	const struct ksink_mode *mode;
	void *mst;                /* the mode's state, owned by the mode */
	int64_t *delivered;       /* highest offset delivered, -1 none */
	struct lineage_seq *seqs; /* numbers each source record's outputs */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	int out_partitions;
	/* Set by the delivery callback (on the task thread, inside
	 * rd_kafka_poll/flush). */
	rd_kafka_resp_err_t dr_err;
	char dr_what[256];
	/* Records handed to librdkafka, and delivery reports (either way)
	 * served: the difference is what Kafka has yet to acknowledge. */
	uint64_t n_produced, n_reported;
	/* Its task's stats (task.h): in-flight records, delivery latency. */
	struct task_stats *stats;
	/* The last error librdkafka reported (it retries them); a wait for
	 * delivery clears it when Kafka acknowledges records again. Task
	 * thread, like dr_err. */
	char kafka_err[200];
};

/* Where ksink_process sends r, the seq-th output of its source record:
 * a partition, RD_KAFKA_PARTITION_UA (librdkafka's partitioner), or
 * KSINK_DROP (already in Kafka). */
#define KSINK_DROP (-2)
typedef int32_t ksink_pick_fn(struct ksink *s, const struct weir_record *r,
                              uint64_t seq);

/* Produces each record of b with its headers and weir's lineage headers
 * to the partition pick says, then serves delivery reports. */
int ksink_process(struct task *t, struct ksink *s, struct batch *b,
                  ksink_pick_fn *pick);
/* The partition of r under sink.partitioner "source". */
int32_t ksink_source_partition(const struct weir_record *r);

/* Hands one record to librdkafka, waiting while its queue is full. hdrs
 * becomes librdkafka's, or is destroyed on failure. part may be
 * RD_KAFKA_PARTITION_UA. r is the record, for messages (NULL for a copy
 * kept for a transaction). Returns 0, 1 when the record is too large for
 * Kafka and sink.on_error "skip" skipped it, or -1 (the task failed). */
int ksink_produce(struct task *t, struct ksink *s, int32_t part,
                  int64_t timestamp, const void *key, size_t key_len,
                  const void *value, size_t value_len, rd_kafka_headers_t *hdrs,
                  const struct weir_record *r);

/* The weir.lineage header of r, the seq-th output of its source record
 * (lineage_seq_next): "topic/partition/offset/seq". */
int ksink_lineage(char *buf, size_t len, const struct weir_record *r,
                  uint64_t seq);
/* ksink_lineage for the next output of r's source record. */
int ksink_lineage_next(struct ksink *s, char *buf, size_t len,
                       const struct weir_record *r);
/* rd_kafka_headers_destroy, for headers that may be NULL (none). */
void ksink_headers_free(rd_kafka_headers_t *hdrs);

/* Waits until everything produced is delivered. Meanwhile the task says
 * what it waits for (task_set_waiting), which a checkpoint that times out
 * reports. */
int ksink_wait_delivered(struct task *t, struct ksink *s);
/* ksink_wait_delivered as a flush hook. */
int ksink_flush(struct task *t, void *st, uint64_t id);
/* At close: waits a while for what is not delivered yet, and says what
 * was not. */
void ksink_close_flush(struct task *t, struct ksink *s);

/* Stops the job after a fatal producer error, saying what it means (a
 * fenced transactional producer: another instance took over). */
int ksink_fatal(struct task *t, struct ksink *s);

#endif
