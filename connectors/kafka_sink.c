/*
 * kafka_sink.c - the Kafka sink: an idempotent producer per sink task.
 *
 * Every record goes out with its key, its headers, and two lineage headers
 * (weir.job: the job name; weir.lineage: "topic/partition/offset/seq" of the
 * source record it came from). At barrier n the sink waits until everything
 * produced before the barrier is delivered, so checkpoint n never covers a
 * record that is not in Kafka: at-least-once. A delivery failure fails the
 * job, so no later checkpoint can complete past a lost record.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "job.h"
#include "kafka_common.h"
#include "log.h"
#include "util.h"

#define FLUSH_STEP_MS 100

struct ksink {
	const struct job_sink_cfg *cfg;
	const char *job_name;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	int out_partitions;
	/* Set by the delivery callback (on the task thread, inside
	 * rd_kafka_poll/flush). */
	rd_kafka_resp_err_t dr_err;
	char dr_what[256];
	uint64_t delivered;
	int64_t qfull_log_ms;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
	struct ksink *s = opaque;

	(void)rk;
	if (!m->err) {
		s->delivered++;
		return;
	}
	if (!s->dr_err) {
		s->dr_err = m->err;
		snprintf(s->dr_what, sizeof(s->dr_what),
		         "delivery to %s[%d] failed: %s",
		         rd_kafka_topic_name(m->rkt), (int)m->partition,
		         rd_kafka_err2str(m->err));
	}
}

static int delivery_failed(struct task *t, struct ksink *s)
{
	return task_fail(t,
	                 "%s: %s. The job stops so that no checkpoint covers "
	                 "a record that is not in Kafka; start it again to "
	                 "resume from the last completed checkpoint",
	                 t->who, s->dr_what);
}

static int lineage_header(char *buf, size_t len, const struct weir_record *r)
{
	return snprintf(buf, len, "%s/%d/%" PRId64 "/%u", r->topic,
	                (int)r->partition, r->offset, r->seq);
}

static int produce_one(struct task *t, struct ksink *s,
                       const struct weir_record *r)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)r->nhdrs + 2);
	char lin[320];
	int32_t part = RD_KAFKA_PARTITION_UA;
	int n = lineage_header(lin, sizeof(lin), r);

	for (size_t i = 0; i < r->nhdrs; i++) {
		const char *name;
		const void *val;
		size_t vl;

		weir_record_header_at(r, i, &name, &val, &vl);
		rd_kafka_header_add(hdrs, name, -1, val, (ssize_t)vl);
	}
	rd_kafka_header_add(hdrs, "weir.job", -1, s->job_name, -1);
	rd_kafka_header_add(hdrs, "weir.lineage", -1, lin, n);
	if (s->cfg->partitioner == PARTITIONER_SOURCE)
		part = r->partition < 0 ? 0 : r->partition;

	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    s->rk, RD_KAFKA_V_RKT(s->rkt), RD_KAFKA_V_PARTITION(part),
		    RD_KAFKA_V_KEY(r->key, r->key ? r->key_len : 0),
		    RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_TIMESTAMP(r->timestamp > 0 ? r->timestamp : 0),
		    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);

		if (!err)
			return 0; /* librdkafka owns hdrs now */
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_headers_destroy(hdrs);
			return task_fail(t, "%s: cannot produce to %s: %s",
			                 t->who, s->cfg->topic,
			                 rd_kafka_err2str(err));
		}
		/* Backpressure from librdkafka: serve delivery reports
		 * until there is room. */
		rd_kafka_poll(s->rk, FLUSH_STEP_MS);
		if (s->dr_err) {
			rd_kafka_headers_destroy(hdrs);
			return delivery_failed(t, s);
		}
		if (job_stopping(t->job)) {
			rd_kafka_headers_destroy(hdrs);
			return -1;
		}
	}
}

static int ksink_process(struct task *t, void *st, struct batch *b)
{
	struct ksink *s = st;

	for (uint32_t i = 0; i < b->n; i++)
		if (produce_one(t, s, &b->recs[i]) < 0)
			return -1;
	rd_kafka_poll(s->rk, 0);
	if (s->dr_err)
		return delivery_failed(t, s);
	return 0;
}

static int ksink_flush(struct task *t, void *st, uint64_t id)
{
	struct ksink *s = st;

	(void)id;
	while (rd_kafka_outq_len(s->rk) > 0) {
		rd_kafka_flush(s->rk, FLUSH_STEP_MS);
		if (s->dr_err)
			return delivery_failed(t, s);
		if (job_stopping(t->job))
			return -1;
	}
	if (s->dr_err)
		return delivery_failed(t, s);
	return 0;
}

static void ksink_idle(struct task *t, void *st)
{
	struct ksink *s = st;

	(void)t;
	rd_kafka_poll(s->rk, 0);
}

static void ksink_close(struct task *t, void *st)
{
	struct ksink *s = st;

	if (s->rk) {
		int wait = t && job_stopping(t->job) ? 2000 : 30000;

		if (rd_kafka_flush(s->rk, wait) != RD_KAFKA_RESP_ERR_NO_ERROR)
			log_warn(t ? t->who : "sink",
			         "%d record(s) not delivered at close; they "
			         "are after the last checkpoint and will be "
			         "written again on restart",
			         rd_kafka_outq_len(s->rk));
	}
	if (s->rkt)
		rd_kafka_topic_destroy(s->rkt);
	if (s->rk)
		rd_kafka_destroy(s->rk);
	free(s);
}

int kafka_sink_open(struct task *t, const struct job_sink_cfg *cfg,
                    const char *job_name, int source_partitions,
                    struct task_body *body, char *err, size_t errlen)
{
	static const char *const defaults[] = {
	    "enable.idempotence", "true",
	    "linger.ms", "5",
	    "partitioner", "murmur2_random",
	    NULL};
	struct ksink *s = xcalloc(1, sizeof(*s));
	rd_kafka_conf_t *conf;
	char e[256];

	s->cfg = cfg;
	s->job_name = job_name;
	if (kafka_probe("sink", cfg->brokers, &cfg->properties, cfg->topic,
	                &s->out_partitions, err, errlen) < 0)
		goto fail;
	if (cfg->partitioner == PARTITIONER_SOURCE &&
	    s->out_partitions < source_partitions) {
		snprintf(err, errlen,
		         "sink.partitioner: \"source\" writes each record to "
		         "the partition number it was read from, but %s has "
		         "%d partition(s) and the source topic %d. Give the "
		         "sink topic at least %d partitions, or use "
		         "\"partitioner\": \"key\"",
		         cfg->topic, s->out_partitions, source_partitions,
		         source_partitions);
		goto fail;
	}
	conf = kafka_conf_new("sink", cfg->brokers, defaults, &cfg->properties,
	                      err, errlen);
	if (!conf)
		goto fail;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, s);
	s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!s->rk) {
		snprintf(err, errlen, "sink: cannot create a producer: %s", e);
		goto fail;
	}
	s->rkt = rd_kafka_topic_new(s->rk, cfg->topic, NULL);

	memset(body, 0, sizeof(*body));
	body->st = s;
	body->state_version = 1;
	body->process = ksink_process;
	body->flush = ksink_flush;
	body->idle = ksink_idle;
	body->close = ksink_close;
	return 0;
fail:
	ksink_close(NULL, s);
	return -1;
}
