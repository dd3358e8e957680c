/*
 * connectors.h - what reads from and writes to the world: the Kafka source
 * and sink, the in-memory generator source and the discard sink (tests and
 * benchmarks). Each *_open fills a task body; errors go to err with what
 * to do about them.
 */
#ifndef WEIR_CONNECTORS_H
#define WEIR_CONNECTORS_H

#include <stddef.h>

#include "ckpt_cfg.h"
#include "connector_cfg.h"
#include "task.h"
#include "weir/weir.h"

int kafka_source_open(struct task *t, const struct job_source_cfg *cfg,
                      int partitions, struct task_body *body, char *err,
                      size_t errlen);
int generator_source_open(struct task *t, const struct job_source_cfg *cfg,
                          struct task_body *body, char *err, size_t errlen);
/* ckpt: the transactional sink's timeout follows the checkpoints'. */
int kafka_sink_open(struct task *t, const struct job_sink_cfg *cfg,
                    const struct job_ckpt_cfg *ckpt, const char *job_name,
                    const char *src_topic, int source_partitions,
                    struct task_body *body, char *err, size_t errlen);
int discard_sink_open(struct task *t, const struct job_sink_cfg *cfg,
                      struct task_body *body, char *err, size_t errlen);

/* How long a Kafka call at start may wait for the broker. */
#define KAFKA_START_TIMEOUT_MS 10000

/* Reaches the cluster and reads the partition count of topic, waiting at
 * most KAFKA_START_TIMEOUT_MS. `what` names the config section in errors
 * ("source", "sink"). */
int kafka_probe(const char *what, const char *brokers,
                const struct kv_list *props, const char *topic, int *partitions,
                char *err, size_t errlen);

#endif
