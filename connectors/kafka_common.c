/*
 * kafka_common.c - librdkafka configuration, logging and the start-up
 * probe (see kafka_common.h and connectors.h).
 */
#include "kafka_common.h"

#include <stdio.h>
#include <string.h>

#include "connectors.h"
#include "log.h"

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
	char who[128];

	snprintf(who, sizeof(who), "kafka %s", rd_kafka_name(rk));
	/* syslog levels: 0..3 errors, 4 warning, 5..6 info, 7 debug. A
	 * failed connection ("FAIL") is retried: a warning, not an error. */
	if (level <= 3 && strcmp(fac, "FAIL") != 0)
		log_error(who, "%s: %s", fac, buf);
	else if (level == 4)
		log_warn(who, "%s: %s", fac, buf);
	else if (level <= 6)
		log_info(who, "%s: %s", fac, buf);
	else
		log_debug(who, "%s: %s", fac, buf);
}

/* Error events: librdkafka retries all but fatal ones by itself. Without
 * this callback each would also be logged a second time as an error. */
void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char who[128];

	(void)opaque;
	snprintf(who, sizeof(who), "kafka %s", rd_kafka_name(rk));
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		log_error(who, "fatal: %s", reason);
	else if (err != RD_KAFKA_RESP_ERR__TRANSPORT &&
	         err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		log_warn(who, "%s (%s); retrying", reason,
		         rd_kafka_err2name((rd_kafka_resp_err_t)err));
}

rd_kafka_conf_t *kafka_conf_new(const char *what, const char *brokers,
                                const char *const *defaults,
                                const struct kv_list *props, char *err,
                                size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char e[256];

	rd_kafka_conf_set_log_cb(conf, kafka_log);
	rd_kafka_conf_set_error_cb(conf, kafka_error);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e,
	                      sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "%s.brokers: %s", what, e);
		goto fail;
	}
	if (rd_kafka_conf_set(conf, "log.connection.close", "false", e,
	                      sizeof(e)) != RD_KAFKA_CONF_OK)
		goto fail;
	/* librdkafka doubles the wait between reconnects up to 10 s, so a
	 * job went on up to 10 s after its broker was back, and that time
	 * counted against the checkpoint timeouts. 1 s is the Java client's
	 * cap. The user's properties can still change it. */
	if (rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", e,
	                      sizeof(e)) != RD_KAFKA_CONF_OK)
		goto fail;
	for (int i = 0; defaults && defaults[i]; i += 2)
		if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], e,
		                      sizeof(e)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "%s: internal setting %s: %s",
			         what, defaults[i], e);
			goto fail;
		}
	for (size_t i = 0; props && i < props->n; i++)
		if (rd_kafka_conf_set(conf, props->items[i].key,
		                      props->items[i].value, e,
		                      sizeof(e)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen,
			         "%s.properties.%s: %s (see librdkafka's "
			         "CONFIGURATION.md for the valid settings)",
			         what, props->items[i].key, e);
			goto fail;
		}
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int kafka_probe(const char *what, const char *brokers,
                const struct kv_list *props, const char *topic, int *partitions,
                char *err, size_t errlen)
{
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t rerr;
	char e[256];
	int rc = -1;

	(void)props;
	conf = kafka_conf_new(what, brokers, NULL, NULL, err, errlen);
	if (!conf)
		return -1;
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!rk) {
		snprintf(err, errlen, "%s: cannot create a Kafka client: %s",
		         what, e);
		return -1;
	}
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	rerr = rd_kafka_metadata(rk, 0, rkt, &md, KAFKA_START_TIMEOUT_MS);
	if (rerr) {
		snprintf(err, errlen,
		         "%s: cannot reach Kafka at %s within %d s (%s). Check "
		         "%s.brokers and that the broker is up",
		         what, brokers, KAFKA_START_TIMEOUT_MS / 1000,
		         rd_kafka_err2str(rerr), what);
		goto out;
	}
	if (md->topic_cnt != 1 || md->topics[0].err ||
	    md->topics[0].partition_cnt == 0) {
		rd_kafka_resp_err_t terr =
		    md->topic_cnt ? md->topics[0].err
		                  : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
		snprintf(
		    err, errlen,
		    "%s.topic: topic \"%s\" is not available on %s (%s). "
		    "Create it first (for the embedded broker: weir broker "
		    "--topic %s:PARTITIONS)",
		    what, topic, brokers,
		    terr ? rd_kafka_err2str(terr) : "no partitions", topic);
		goto out;
	}
	*partitions = md->topics[0].partition_cnt;
	rc = 0;
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return rc;
}
