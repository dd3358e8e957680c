/*
 * dead_letter.h - the producer behind on_error "dead-letter": records an
 * operator cannot process go to a Kafka topic, unchanged, with headers
 * saying which operator refused them and why. Delivery is awaited at every
 * barrier, like the sink's, so a checkpoint never covers a lost record.
 */
#ifndef WEIR_DEAD_LETTER_H
#define WEIR_DEAD_LETTER_H

#include <stddef.h>

#include "connector_cfg.h"
#include "record.h"

struct task;
struct dead_letter;

/* what: the JSON path of the operator, for messages. */
struct dead_letter *dlq_new(const char *what, const char *brokers,
                            const char *topic, const struct kv_list *props,
                            char *err, size_t errlen);
int dlq_send(struct dead_letter *d, const struct weir_record *rec,
             const char *who, const char *why, char *err, size_t errlen);
/* Waits until everything sent is delivered, or t's job stops. */
int dlq_flush(struct dead_letter *d, struct task *t, char *err, size_t errlen);
void dlq_free(struct dead_letter *d);

#endif
