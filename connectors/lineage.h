/*
 * lineage.h - the sequence number in an output record's weir.lineage
 * header: the n-th output of one source record, counted where the outputs
 * reach the sink.
 *
 * Exactly-once by de-duplication drops a replayed record whose lineage
 * (source partition, offset, sequence) is at or below the highest one
 * already written to its output partition, so the lineages of one source
 * partition must be unique and grow in the order the sink writes them.
 * Numbering at the sink gives that through any chain of operators, with
 * any number of outputs per input: the pipeline delivers one source
 * partition's records to one sink task in order, and every output of an
 * input is emitted while that input is processed, so the outputs of one
 * source record arrive together and after those of the records before it.
 * A replay starts at a source offset, so it numbers them the same way.
 */
#ifndef WEIR_LINEAGE_H
#define WEIR_LINEAGE_H

#include <stddef.h>
#include <stdint.h>

struct lineage_seq;

struct lineage_seq *lineage_seq_new(void);
/* Accepts NULL. */
void lineage_seq_free(struct lineage_seq *ls);

/* The sequence number of the next output of source record
 * (partition, offset): 0 for its first, then 1, 2, ... Records without a
 * source partition (partition < 0) share one counter of their own. */
uint64_t lineage_seq_next(struct lineage_seq *ls, int32_t partition,
                          int64_t offset);

/* Parses a weir.lineage header "topic/partition/offset/seq". The topic
 * may contain '/'. Returns 0, or -1 when it is not one. */
int lineage_parse(const char *s, size_t len, const char **topic,
                  size_t *topic_len, int32_t *part, int64_t *offset,
                  uint64_t *seq);

#endif
