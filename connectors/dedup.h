/*
 * dedup.h - what makes the Kafka sink exactly-once without transactions.
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
#ifndef WEIR_DEDUP_H
#define WEIR_DEDUP_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "connector_cfg.h"

struct dedup;

struct dedup_scan_stats {
	int64_t records;        /* read from the tail */
	int64_t ours;           /* written by this job */
	int64_t ms;             /* time taken */
};

struct dedup *dedup_new(void);
void dedup_free(struct dedup *d);
size_t dedup_entries(const struct dedup *d);

void dedup_note(struct dedup *d, int32_t src_part, int32_t out_part,
                int64_t offset, uint64_t seq);
/* Whether the record was written already (drop it). */
bool dedup_written(struct dedup *d, int32_t src_part, int32_t out_part,
                   int64_t offset, uint64_t seq);

/* Parses a weir.lineage header "topic/partition/offset/seq". The topic
 * may contain '/'. Returns 0, or -1 when it is not one. */
int dedup_parse_lineage(const char *s, size_t len, const char **topic,
                        size_t *topic_len, int32_t *part, int64_t *offset,
                        uint64_t *seq);

/* Reads partitions 0..nparts-1 of cfg->topic from from[p] to the current
 * end and notes this job's records (weir.job == job, lineage topic ==
 * src_topic). Returns 0, or -1 with a message in err. */
int dedup_scan(struct dedup *d, const struct job_sink_cfg *cfg,
               const char *job, const char *src_topic, int nparts,
               const int64_t *from, struct dedup_scan_stats *stats,
               char *err, size_t errlen);

#endif
