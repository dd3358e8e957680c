/*
 * kafka_sink.h - what the Kafka sink's files share: the sink task's state,
 * producing one record, and waiting for delivery. kafka_sink.c is the sink
 * (at-least-once, and exactly-once by de-duplication); kafka_txn.c adds
 * exactly-once by transactions.
 */
#ifndef WEIR_KAFKA_SINK_H
#define WEIR_KAFKA_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "kafka_common.h"
#include "task.h"

struct eo_table;
struct lineage_seq;
struct txn;

struct ksink {
	const struct job_sink_cfg *cfg;
	const char *job_name;
	const char *src_topic;
	bool eo;                /* exactly-once by de-duplication */
	bool restored;
	int64_t *settled;       /* eo: per output partition */
	int64_t *delivered;     /* highest offset delivered, -1 none */
	struct eo_table *dd;
	uint64_t dropped;
	struct lineage_seq *seqs; /* numbers each source record's outputs */
	struct txn *txn;        /* exactly-once by transactions, else NULL */
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
	/* The last error librdkafka reported (it retries them); a wait for
	 * delivery clears it when Kafka acknowledges records again. Task
	 * thread, like dr_err. */
	char kafka_err[200];
};

/* Hands one record to librdkafka, waiting while its queue is full. hdrs
 * becomes librdkafka's, or is destroyed on failure. part may be
 * RD_KAFKA_PARTITION_UA. r is the record, for messages (NULL for a copy
 * kept for a transaction). Returns 0, 1 when the record is too large for
 * Kafka and sink.on_error "skip" skipped it, or -1 (the task failed). */
int ksink_produce(struct task *t, struct ksink *s, int32_t part,
                  int64_t timestamp, const void *key, size_t key_len,
                  const void *value, size_t value_len,
                  rd_kafka_headers_t *hdrs, const struct weir_record *r);

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

/* Stops the job after a fatal producer error, saying what it means (a
 * fenced transactional producer: another instance took over). */
int ksink_fatal(struct task *t, struct ksink *s);

/* Transactions (kafka_txn.c). txn_setup adds the transactional settings
 * to conf before the producer exists; txn_attach then takes over the
 * body's hooks. */
int txn_setup(struct ksink *s, struct task *t, rd_kafka_conf_t *conf,
              char *err, size_t errlen);
void txn_attach(struct task_body *body);
/* At close: aborts a transaction that is still open (a restart restores
 * its records from the checkpoint). */
void txn_close(struct task *t, struct ksink *s);
void txn_free(struct txn *x);
const char *txn_id(const struct txn *x);

#endif
