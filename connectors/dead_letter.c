/*
 * dead_letter.c - the dead-letter producer (see dead_letter.h).
 */
#include "dead_letter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "connectors.h"
#include "task.h"
#include "kafka_common.h"
#include "util.h"

struct dead_letter {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	char *topic;
	rd_kafka_resp_err_t err;
	char what[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
	struct dead_letter *d = opaque;

	(void)rk;
	if (m->err && !d->err) {
		d->err = m->err;
		snprintf(d->what, sizeof(d->what),
		         "dead-letter delivery to %s failed: %s", d->topic,
		         rd_kafka_err2str(m->err));
	}
}

struct dead_letter *dlq_new(const char *what, const char *brokers,
                            const char *topic, const struct kv_list *props,
                            char *err, size_t errlen)
{
	static const char *const defaults[] = {"enable.idempotence", "true",
	                                       NULL};
	struct dead_letter *d = xcalloc(1, sizeof(*d));
	rd_kafka_conf_t *conf;
	int parts;
	char e[256];

	if (kafka_probe(what, brokers, NULL, topic, &parts, err, errlen) < 0)
		goto fail;
	conf = kafka_conf_new(what, brokers, defaults, props, err, errlen);
	if (!conf)
		goto fail;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, d);
	d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!d->rk) {
		/* librdkafka owns conf only when it succeeds. */
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "%s: cannot create a producer: %s", what,
		         e);
		goto fail;
	}
	d->topic = xstrdup(topic);
	d->rkt = rd_kafka_topic_new(d->rk, topic, NULL);
	return d;
fail:
	dlq_free(d);
	return NULL;
}

int dlq_send(struct dead_letter *d, const struct weir_record *rec,
             const char *who, const char *why, char *err, size_t errlen)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new((size_t)rec->nhdrs + 3);
	char lin[320];
	int n = snprintf(lin, sizeof(lin), "%s/%d/%" PRId64 "/%u", rec->topic,
	                 (int)rec->partition, rec->offset, rec->seq);

	for (size_t i = 0; i < rec->nhdrs; i++) {
		const char *name;
		const void *val;
		size_t vl;

		weir_record_header_at(rec, i, &name, &val, &vl);
		rd_kafka_header_add(h, name, -1, val, (ssize_t)vl);
	}
	rd_kafka_header_add(h, "weir.error", -1, why, -1);
	rd_kafka_header_add(h, "weir.operator", -1, who, -1);
	rd_kafka_header_add(h, "weir.lineage", -1, lin, n);
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
		    d->rk, RD_KAFKA_V_RKT(d->rkt),
		    RD_KAFKA_V_KEY(rec->key, rec->key ? rec->key_len : 0),
		    RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (!e)
			break;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_headers_destroy(h);
			snprintf(err, errlen,
			         "cannot produce to dead-letter topic %s: %s",
			         d->topic, rd_kafka_err2str(e));
			return -1;
		}
		rd_kafka_poll(d->rk, 100);
	}
	rd_kafka_poll(d->rk, 0);
	if (d->err) {
		snprintf(err, errlen, "%s", d->what);
		return -1;
	}
	return 0;
}

int dlq_flush(struct dead_letter *d, struct task *t, char *err, size_t errlen)
{
	while (rd_kafka_outq_len(d->rk) > 0 && !task_stopping(t))
		rd_kafka_flush(d->rk, 100);
	if (d->err) {
		snprintf(err, errlen, "%s", d->what);
		return -1;
	}
	return task_stopping(t) ? -1 : 0;
}

void dlq_free(struct dead_letter *d)
{
	if (!d)
		return;
	if (d->rk)
		rd_kafka_flush(d->rk, 5000);
	if (d->rkt)
		rd_kafka_topic_destroy(d->rkt);
	if (d->rk)
		rd_kafka_destroy(d->rk);
	free(d->topic);
	free(d);
}
