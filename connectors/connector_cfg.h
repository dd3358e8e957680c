/*
 * connector_cfg.h - the job file's "source" and "sink" sections, as the
 * connectors read them (job/jobfile.c fills them in).
 */
#ifndef WEIR_CONNECTOR_CFG_H
#define WEIR_CONNECTOR_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg_limits.h"
#include "ckpt_cfg.h"
#include "op_cfg.h"
#include "util.h"

enum source_type { SOURCE_KAFKA, SOURCE_GENERATOR };
enum start_pos { START_EARLIEST, START_LATEST };
enum oor_policy { OOR_FAIL, OOR_EARLIEST, OOR_LATEST };
enum ts_format { TS_EPOCH_MS, TS_EPOCH_S, TS_RFC3339 };

/* Event time: where a record's time comes from and how the source turns
 * the times it saw into watermarks (connectors/event_time.h). */
struct job_time_cfg {
	char *field;           /* "timestamp.field"; NULL: Kafka's timestamp */
	enum ts_format format; /* default epoch_ms */
	int64_t max_ooo_ms;    /* "max_out_of_orderness_ms", default 0 */
	int64_t idle_timeout_ms; /* 0 (default): a partition is never idle */
	int64_t interval_ms;     /* at most one watermark per this; 0: each
	                          * poll that moved it. Default
	                          * JOB_DEFAULT_WM_INTERVAL_MS */
	/* A record without a usable time: skip (default, counted and
	 * logged) or fail. */
	enum on_error_policy on_error;
};

struct job_source_cfg {
	enum source_type type;
	int parallelism; /* default 1 */
	/* kafka */
	char *brokers, *topic; /* required for kafka */
	enum start_pos start;  /* default earliest */
	bool bounded;          /* default false */
	char *group_id;        /* default NULL: no offset commits */
	enum oor_policy on_offset_out_of_range; /* default fail */
	struct kv_list properties; /* librdkafka settings, passed through */
	/* The topic is partitioned by this field: all records with one value
	 * of it are in one partition. NULL: unknown. */
	char *partitioned_by;
	/* generator: an in-memory source for tests and benchmarks */
	int64_t count;            /* records per partition; default 1000 */
	int partitions;           /* default 1, up to JOB_MAX_GEN_PARTITIONS */
	int64_t rate;             /* records/s per partition, 0 = max */
	struct job_time_cfg time; /* both types */
	/* The partitions this process owns (NULL: all of them). */
	const struct job_instance *instance;
};

/* The source partitions source task `sub` of `par` reads: with N
 * instances, instance I owns I, I + N, I + 2N, ... and its tasks take
 * those in turn, so task sub reads p = *first, *first + *step, ... while
 * p < the topic's partitions. With one instance that is p % par == sub.
 * The bounds (256 instances, 256 tasks) keep p + step within int. */
static inline void source_partitions(const struct job_source_cfg *cfg, int sub,
                                     int par, int *first, int *step)
{
	int n = job_instance_count(cfg->instance);

	*first = job_instance_index(cfg->instance) + n * sub;
	*step = n * par;
}

enum sink_type { SINK_KAFKA, SINK_DISCARD };
enum delivery { DELIVERY_AT_LEAST_ONCE, DELIVERY_EXACTLY_ONCE };
enum partitioner { PARTITIONER_KEY, PARTITIONER_SOURCE };
enum eo_method { EXACTLY_ONCE_DEDUP, EXACTLY_ONCE_TRANSACTIONS };

struct job_sink_cfg {
	enum sink_type type;
	int parallelism;              /* default 1 */
	char *brokers, *topic;        /* required for kafka */
	enum delivery delivery;       /* default at-least-once */
	enum eo_method exactly_once;  /* default dedup */
	enum partitioner partitioner; /* default key */
	bool lineage_headers;         /* weir.job, weir.lineage; default true */
	/* A record Kafka refuses (larger than message.max.bytes): fail
	 * (default) or skip; no dead letters. */
	enum on_error_policy on_error;
	struct kv_list properties;
	/* Transactional ids and the output scan are per instance (NULL:
	 * the only one). */
	const struct job_instance *instance;
};

#endif
