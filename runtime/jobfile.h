/*
 * jobfile.h - the job file: JSON read with jansson, ${ENV} substitution in
 * every string, defaults filled in, and every problem reported with its
 * JSON path. The result is a plain struct the rest of weir reads.
 */
#ifndef WEIR_JOBFILE_H
#define WEIR_JOBFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct kv {
	char *key, *value;
};

struct kv_list {
	struct kv *items;
	size_t n;
};

/* The ranges the job file's numbers are held to. The code that adds,
 * multiplies or loops over them relies on these: a day of milliseconds
 * summed or scaled a few times, 10^15 records, 10^9 records/s times a
 * clock in microseconds, all stay far within int64_t. */
#define JOB_MAX_MS 86400000           /* 24 h, any duration in ms */
#define JOB_MIN_INTERVAL_MS 10        /* a positive interval_ms */
#define JOB_MAX_RETAIN 10000
#define JOB_MAX_TOLERABLE 10000
#define JOB_MAX_PARALLELISM 256
#define JOB_MAX_GEN_COUNT 1000000000000000LL
#define JOB_MAX_GEN_PARTITIONS 10000
#define JOB_MAX_GEN_RATE 1000000000

struct job_ckpt_cfg {
	char *dir;                  /* required */
	int64_t interval_ms;        /* default 1000; 0 disables periodic */
	int64_t timeout_ms;         /* default 10000, 1..JOB_MAX_MS */
	int64_t min_pause_ms;       /* default 0, up to JOB_MAX_MS */
	int retain;                 /* default 3, 1..JOB_MAX_RETAIN */
	int tolerable_failures;     /* default 3, 0..JOB_MAX_TOLERABLE */
};

enum source_type { SOURCE_KAFKA, SOURCE_GENERATOR };
enum start_pos { START_EARLIEST, START_LATEST };
enum oor_policy { OOR_FAIL, OOR_EARLIEST, OOR_LATEST };

struct job_source_cfg {
	enum source_type type;
	int parallelism;            /* default 1 */
	/* kafka */
	char *brokers, *topic;      /* required for kafka */
	enum start_pos start;       /* default earliest */
	bool bounded;               /* default false */
	char *group_id;             /* default NULL: no offset commits */
	enum oor_policy on_offset_out_of_range; /* default fail */
	struct kv_list properties;  /* librdkafka settings, passed through */
	/* The topic is partitioned by this field: all records with one value
	 * of it are in one partition. NULL: unknown. */
	char *partitioned_by;
	/* generator: an in-memory source for tests and benchmarks */
	int64_t count;              /* records per partition; default 1000 */
	int partitions;             /* default 1, up to JOB_MAX_GEN_PARTITIONS */
	int64_t rate;               /* records/s per partition, 0 = max */
};

enum on_error_policy { ON_ERROR_SKIP, ON_ERROR_FAIL, ON_ERROR_DEAD_LETTER };

struct job_op_cfg {
	char *type;                 /* required: "filter", "count", "map", "dedup",
	                               "plugin" */
	char *config_json;          /* the whole object after ${} substitution */
	char *key_field;            /* "key": routes by this field; NULL if none */
	int parallelism;            /* default 1 */
	enum on_error_policy on_error;  /* default skip */
	char *dead_letter_topic;    /* required iff on_error is dead-letter */
	char *library;              /* "plugin" only: path of the .so */
};

enum sink_type { SINK_KAFKA, SINK_DISCARD };
enum delivery { DELIVERY_AT_LEAST_ONCE, DELIVERY_EXACTLY_ONCE };
enum partitioner { PARTITIONER_KEY, PARTITIONER_SOURCE };
enum eo_method { EXACTLY_ONCE_DEDUP, EXACTLY_ONCE_TRANSACTIONS };

struct job_sink_cfg {
	enum sink_type type;
	int parallelism;            /* default 1 */
	char *brokers, *topic;      /* required for kafka */
	enum delivery delivery;     /* default at-least-once */
	enum eo_method exactly_once; /* default dedup */
	enum partitioner partitioner; /* default key */
	bool lineage_headers;       /* weir.job, weir.lineage; default true */
	/* A record Kafka refuses (larger than message.max.bytes): fail
	 * (default) or skip; no dead letters. */
	enum on_error_policy on_error;
	struct kv_list properties;
};

struct job_cfg {
	char *path;                 /* the file it came from, or "<string>" */
	char *name;                 /* required, [A-Za-z0-9._-]+ */
	struct job_ckpt_cfg checkpoint;
	struct job_source_cfg source;
	struct job_op_cfg *ops;
	size_t nops;
	struct job_sink_cfg sink;
	int64_t progress_interval_ms; /* 0: no progress lines */
};

/* Parses a job file. Returns NULL and fills errs (one message per problem,
 * each "json.path: what was wrong; what was expected") on any error. */
struct job_cfg *jobfile_load(const char *path, struct errlist *errs);
struct job_cfg *jobfile_parse(const char *text, size_t len, const char *origin,
                              struct errlist *errs);
void jobfile_free(struct job_cfg *cfg);

/* Like jobfile_load, but returns what could be read even when errs got
 * messages (NULL only when the file is unreadable or not a JSON object),
 * so that `weir validate` can check the operators too and report every
 * problem in one round. Fields in error hold their defaults or NULL. */
struct job_cfg *jobfile_load_partial(const char *path, struct errlist *errs);

/* Replaces ${NAME} and ${NAME:-default} in s. Returns a new string, or NULL
 * with a message in errs (prefixed with path) when NAME is unset and has
 * no default or the syntax is broken. */
char *jobfile_expand_env(const char *s, const char *path, struct errlist *errs);

#endif
