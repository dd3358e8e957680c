/*
 * kafka_eo.h - what makes the Kafka sink exactly-once without transactions.
 *
 * After a restore, the sink reads its output partitions from the offsets
 * settled at the restored checkpoint to their end, and notes, per (source
 * partition, output partition), the highest lineage (source offset,
 * sequence) this job already wrote. Replayed records at or below it are
 * dropped; the first one above it releases the entry. This is exact when
 * each source partition's records reach each output partition in lineage
 * order and are computed the same way on replay, which `weir validate`
 * checks for the job's graph.
 */
#ifndef WEIR_KAFKA_EO_H
#define WEIR_KAFKA_EO_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "connector_cfg.h"

struct eo_table;

struct eo_scan_stats {
	int64_t records; /* read from the tail */
	int64_t ours;    /* written by this job */
	int64_t ms;      /* time taken */
};

struct eo_table *eo_table_new(void);
void eo_table_free(struct eo_table *d);
size_t eo_table_entries(const struct eo_table *d);

void eo_table_note(struct eo_table *d, int32_t src_part, int32_t out_part,
                   int64_t offset, uint64_t seq);
/* Whether the record was written already (drop it). */
bool eo_table_written(struct eo_table *d, int32_t src_part, int32_t out_part,
                      int64_t offset, uint64_t seq);
/* Iterates the entries in no particular order; *pos starts at 0. Returns
 * false at the end. The table must not change during an iteration. */
bool eo_table_next(const struct eo_table *d, size_t *pos, int32_t *src_part,
                   int32_t *out_part, int64_t *offset, uint64_t *seq);

/* Reads partitions 0..nparts-1 of cfg->topic from from[p] to the current
 * end and notes this job's records (weir.job == job, lineage topic ==
 * src_topic, and a source partition of cfg->instance). Returns 0, or -1 with a message in err. */
int eo_scan(struct eo_table *d, const struct job_sink_cfg *cfg, const char *job,
            const char *src_topic, int nparts, const int64_t *from,
            struct eo_scan_stats *stats, char *err, size_t errlen);

#endif
