/*
 * kafka_common.h - librdkafka plumbing shared by the source, the sink and
 * the dead-letter producer: configuration with weir's defaults under the
 * user's properties, and librdkafka's log routed to weir's log.
 */
#ifndef WEIR_KAFKA_COMMON_H
#define WEIR_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>

#include "connector_cfg.h"

/* A configuration with bootstrap.servers, then each of `defaults` (NULL-
 * terminated key, value pairs), then the user's properties (which win).
 * Returns NULL with a message naming the property in err. */
rd_kafka_conf_t *kafka_conf_new(const char *what, const char *brokers,
                                const char *const *defaults,
                                const struct kv_list *props, char *err,
                                size_t errlen);

/* The error callback kafka_conf_new installs: logs the errors that
 * librdkafka does not already log as a failed connection. A client that
 * installs its own calls this from it. */
void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque);

#endif
