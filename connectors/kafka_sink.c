/*
 * kafka_sink.c - the Kafka sink: an idempotent producer per sink task.
 *
 * Every record goes out with its key, its headers, and two lineage headers
 * (weir.job: the job name; weir.lineage: "topic/partition/offset/seq" of the
 * source record it came from). At barrier n the sink waits until everything
 * produced before the barrier is delivered, so checkpoint n never covers a
 * record that is not in Kafka: at-least-once. A delivery failure fails the
 * job, so no later checkpoint can complete past a lost record.
 *
 * The two exactly-once modes are tables of functions (kafka_sink.h) in
 * kafka_eo.c (replay with de-duplication) and kafka_txn.c (transactions);
 * they share producing and delivery with this file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "task.h"
#include "kafka_sink.h"
#include "lineage.h"
#include "log.h"
#include "util.h"

#define FLUSH_STEP_MS 100

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
	struct ksink *s = opaque;

	(void)rk;
	s->n_reported++;
	atomic_store_explicit(&s->stats->in_flight,
	                      (int64_t)(s->n_produced - s->n_reported),
	                      memory_order_relaxed);
	if (!m->err) {
		int64_t us = rd_kafka_message_latency(m);

		if (us >= 0) /* -1: librdkafka did not time it */
			hist_observe(&s->stats->delivery, us);
		if (m->partition >= 0 && m->partition < s->out_partitions &&
		    m->offset > s->delivered[m->partition])
			s->delivered[m->partition] = m->offset;
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

/* librdkafka's errors (it retries them): the last one explains a wait for
 * delivery that does not end. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct ksink *s = opaque;

	kafka_error(rk, err, reason, opaque);
	/* "1/1 brokers are down" follows the reason why; keep that. */
	if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || !s->kafka_err[0])
		snprintf(s->kafka_err, sizeof(s->kafka_err), "%s", reason);
}

int ksink_fatal(struct task *t, struct ksink *s)
{
	char reason[512];
	rd_kafka_resp_err_t e =
	    rd_kafka_fatal_error(s->rk, reason, sizeof(reason));

	if (s->mode->fatal && s->mode->fatal(t, s, e, reason) < 0)
		return -1;
	return task_fail(t,
	                 "%s: the producer failed for good: %s (%s). The job "
	                 "stops; start it again to resume from the last "
	                 "completed checkpoint",
	                 t->who, reason, rd_kafka_err2name(e));
}

static int delivery_failed(struct task *t, struct ksink *s)
{
	if (rd_kafka_fatal_error(s->rk, NULL, 0))
		return ksink_fatal(t, s);
	return task_fail(t,
	                 "%s: %s. The job stops so that no checkpoint covers "
	                 "a record that is not in Kafka; start it again to "
	                 "resume from the last completed checkpoint",
	                 t->who, s->dr_what);
}

void ksink_headers_free(rd_kafka_headers_t *hdrs)
{
	if (hdrs)
		rd_kafka_headers_destroy(hdrs);
}

/* u in decimal at dst, as printf's %llu writes it; the length. */
static size_t put_u64(char *dst, uint64_t u)
{
	char tmp[20];
	size_t n = 0, len = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		dst[len++] = tmp[--n];
	return len;
}

/* v in decimal at dst, as printf's %lld writes it; the length. */
static size_t put_i64(char *dst, int64_t v)
{
	if (v >= 0)
		return put_u64(dst, (uint64_t)v);
	dst[0] = '-';
	return 1 + put_u64(dst + 1, (uint64_t)0 - (uint64_t)v);
}

int ksink_lineage(char *buf, size_t len, const struct weir_record *r,
                  uint64_t seq)
{
	size_t tl = strlen(r->topic), n;

	/* "topic/partition/offset/seq", once per output record: by hand,
	 * since snprintf was a tenth of the sink task's time. */
	if (tl + 3 + 3 * 20 + 1 > len) {
		/* A topic longer than Kafka allows (249): cut, never past buf. */
		int w = snprintf(buf, len, "%s/%d/%" PRId64 "/%" PRIu64,
		                 r->topic, (int)r->partition, r->offset, seq);

		return w < 0 ? 0 : (size_t)w < len ? w : (int)len - 1;
	}
	memcpy(buf, r->topic, tl);
	n = tl;
	buf[n++] = '/';
	n += put_i64(buf + n, r->partition);
	buf[n++] = '/';
	n += put_i64(buf + n, r->offset);
	buf[n++] = '/';
	n += put_u64(buf + n, seq);
	buf[n] = '\0';
	return (int)n;
}

int ksink_lineage_next(struct ksink *s, char *buf, size_t len,
                       const struct weir_record *r)
{
	return ksink_lineage(
	    buf, len, r, lineage_seq_next(s->seqs, r->partition, r->offset));
}

/* One wait for Kafka to acknowledge records: a barrier's flush, or room
 * in librdkafka's full queue. While it lasts, the task says what it waits
 * for (task_set_waiting), which a checkpoint that times out reports. */
struct kwait {
	uint64_t reported; /* s->n_reported when it last moved */
	int64_t acked_ms;  /* when that was, or when the wait began */
};

static void kwait_begin(struct ksink *s, struct kwait *w)
{
	w->reported = s->n_reported;
	w->acked_ms = now_mono_ms();
}

/* After each step of serving librdkafka's callbacks. */
static void kwait_note(struct task *t, struct ksink *s, struct kwait *w)
{
	int64_t now = now_mono_ms();

	if (s->n_reported > w->reported) {
		w->reported = s->n_reported;
		w->acked_ms = now;
		s->kafka_err[0] = '\0';
	}
	task_set_waiting(t,
	                 "%llu record(s) to %s not yet delivered: Kafka at %s "
	                 "acknowledged none for %.1f s%s%s",
	                 (unsigned long long)(s->n_produced - s->n_reported),
	                 s->cfg->topic, s->cfg->brokers,
	                 (double)(now - w->acked_ms) / 1000.0,
	                 s->kafka_err[0] ? "; last error: " : "", s->kafka_err);
}

/* Where a record the sink cannot write came from, for messages: r's
 * lineage, or the weir.lineage header of a record kept for a transaction
 * (r NULL). */
static void record_origin(char *buf, size_t len, const struct weir_record *r,
                          rd_kafka_headers_t *hdrs)
{
	const void *v;
	size_t vl;
	const char *topic;
	size_t tl;
	int32_t p;
	int64_t o;
	uint64_t seq;

	if (r) {
		snprintf(buf, len, "%s[%d]@%lld", r->topic, (int)r->partition,
		         (long long)r->offset);
		return;
	}
	if (hdrs &&
	    rd_kafka_header_get_last(hdrs, "weir.lineage", &v, &vl) ==
	        RD_KAFKA_RESP_ERR_NO_ERROR &&
	    lineage_parse(v, vl, &topic, &tl, &p, &o, &seq) == 0) {
		snprintf(buf, len, "%.*s[%d]@%lld", (int)tl, topic, (int)p,
		         (long long)o);
		return;
	}
	snprintf(buf, len, "a record of the open transaction");
}

/* A record larger than the producer's message.max.bytes: librdkafka
 * refuses it before it leaves the process, so it is the sink's record
 * error. on_error "fail" stops the job naming the record and the setting;
 * "skip" counts it, warns at most once a second, and goes on. Returns 1
 * (skipped) or -1. */
static int too_large(struct task *t, struct ksink *s,
                     const struct weir_record *r, rd_kafka_headers_t *hdrs,
                     size_t key_len, size_t value_len)
{
	char from[320], max[32] = "?";
	size_t ml = sizeof(max);
	uint64_t total;

	record_origin(from, sizeof(from), r, hdrs);
	rd_kafka_conf_get(rd_kafka_conf(s->rk), "message.max.bytes", max, &ml);
	if (s->cfg->on_error == ON_ERROR_FAIL)
		return task_fail(
		    t,
		    "%s: the record from %s is %zu bytes (key %zu, value %zu, "
		    "plus headers), more than the producer's message.max.bytes "
		    "(%s), so it cannot be written to %s. sink.on_error is "
		    "\"fail\", so the job stops; no checkpoint includes this "
		    "record. Raise sink.properties.\"message.max.bytes\" (the "
		    "topic's max.message.bytes on the broker must allow it "
		    "too), "
		    "or set sink.on_error to \"skip\", and start the job again",
		    t->who, from, key_len + value_len, key_len, value_len, max,
		    s->cfg->topic);
	total = atomic_fetch_add(&t->n_skipped, 1) + 1;
	if (now_mono_ms() - t->skip_log_ms >= SKIP_LOG_INTERVAL_MS) {
		log_warn(
		    t->who,
		    "skipped the record from %s: %zu bytes (key %zu, value "
		    "%zu, plus headers), more than message.max.bytes (%s) "
		    "allows in %s; %llu skipped in all (sink.on_error "
		    "\"skip\")",
		    from, key_len + value_len, key_len, value_len, max,
		    s->cfg->topic, (unsigned long long)total);
		t->skip_log_ms = now_mono_ms();
	}
	return 1;
}

int ksink_produce(struct task *t, struct ksink *s, int32_t part,
                  int64_t timestamp, const void *key, size_t key_len,
                  const void *value, size_t value_len, rd_kafka_headers_t *hdrs,
                  const struct weir_record *r)
{
	struct kwait w;
	bool waited = false;
	int rc;

	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    s->rk, RD_KAFKA_V_RKT(s->rkt), RD_KAFKA_V_PARTITION(part),
		    RD_KAFKA_V_KEY(key, key ? key_len : 0),
		    RD_KAFKA_V_VALUE((void *)value, value_len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_TIMESTAMP(timestamp > 0 ? timestamp : 0),
		    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);

		if (!err) {
			s->n_produced++;
			atomic_store_explicit(
			    &s->stats->in_flight,
			    (int64_t)(s->n_produced - s->n_reported),
			    memory_order_relaxed);
			rc = 0; /* librdkafka owns hdrs now */
			break;
		}
		if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
			rc = too_large(t, s, r, hdrs, key ? key_len : 0,
			               value_len);
			ksink_headers_free(hdrs);
			break;
		}
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			ksink_headers_free(hdrs);
			if (err == RD_KAFKA_RESP_ERR__FATAL)
				rc = ksink_fatal(t, s);
			else
				rc = task_fail(
				    t, "%s: cannot produce to %s: %s", t->who,
				    s->cfg->topic, rd_kafka_err2str(err));
			break;
		}
		/* Backpressure from librdkafka: serve delivery reports
		 * until there is room. */
		if (!waited)
			kwait_begin(s, &w);
		waited = true;
		rd_kafka_poll(s->rk, FLUSH_STEP_MS);
		if (s->dr_err || task_stopping(t)) {
			ksink_headers_free(hdrs);
			rc = s->dr_err ? delivery_failed(t, s) : -1;
			break;
		}
		kwait_note(t, s, &w);
	}
	if (waited)
		task_clear_waiting(t);
	return rc;
}

int32_t ksink_source_partition(const struct weir_record *r)
{
	return r->partition < 0 ? 0 : r->partition;
}

/* Produces r with its headers and weir's lineage headers, to the partition
 * pick says (and not at all when it says KSINK_DROP). */
static int produce_record(struct task *t, struct ksink *s,
                          const struct weir_record *r, ksink_pick_fn *pick)
{
	bool lin_hdrs = s->cfg->lineage_headers;
	/* No headers at all: no allocation for them either. */
	rd_kafka_headers_t *hdrs =
	    r->nhdrs || lin_hdrs
	        ? rd_kafka_headers_new((size_t)r->nhdrs + 2 * lin_hdrs)
	        : NULL;
	char lin[320];
	int32_t part;
	uint64_t seq = 0;

	for (size_t i = 0; i < r->nhdrs; i++) {
		const char *name;
		const void *val;
		size_t vl;

		weir_record_header_at(r, i, &name, &val, &vl);
		rd_kafka_header_add(hdrs, name, -1, val, (ssize_t)vl);
	}
	if (lin_hdrs) {
		rd_kafka_header_add(hdrs, "weir.job", -1, s->job_name, -1);
		seq = lineage_seq_next(s->seqs, r->partition, r->offset);
		rd_kafka_header_add(hdrs, "weir.lineage", -1, lin,
		                    ksink_lineage(lin, sizeof(lin), r, seq));
	}
	part = pick(s, r, seq);
	if (part == KSINK_DROP) {
		ksink_headers_free(hdrs);
		return 0;
	}
	return ksink_produce(t, s, part, r->timestamp, r->key, r->key_len,
	                     r->value, r->value_len, hdrs, r);
}

int ksink_process(struct task *t, struct ksink *s, struct batch *b,
                  ksink_pick_fn *pick)
{
	for (uint32_t i = 0; i < b->n; i++)
		if (produce_record(t, s, &b->recs[i], pick) < 0)
			return -1;
	rd_kafka_poll(s->rk, 0);
	if (s->dr_err)
		return delivery_failed(t, s);
	return 0;
}

int ksink_wait_delivered(struct task *t, struct ksink *s)
{
	struct kwait w;
	bool stopping = false;

	kwait_begin(s, &w);
	while (rd_kafka_outq_len(s->rk) > 0) {
		rd_kafka_flush(s->rk, FLUSH_STEP_MS);
		if (s->dr_err)
			break;
		if ((stopping = task_stopping(t)))
			break;
		kwait_note(t, s, &w);
	}
	task_clear_waiting(t);
	if (s->dr_err)
		return delivery_failed(t, s);
	return stopping ? -1 : 0;
}

int ksink_flush(struct task *t, void *st, uint64_t id)
{
	(void)id;
	return ksink_wait_delivered(t, st);
}

static void ksink_idle(struct task *t, void *st)
{
	struct ksink *s = st;

	(void)t;
	rd_kafka_poll(s->rk, 0);
}

void ksink_close_flush(struct task *t, struct ksink *s)
{
	int wait = t && task_stopping(t) ? 2000 : 30000;

	if (rd_kafka_flush(s->rk, wait) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warn(t ? t->who : "sink",
		         "%d record(s) not delivered at close; they are after "
		         "the last checkpoint and will be written again on "
		         "restart",
		         rd_kafka_outq_len(s->rk));
}

static void ksink_close(struct task *t, void *st)
{
	struct ksink *s = st;

	if (s->rk && s->mode->close)
		s->mode->close(t, s);
	if (s->rkt)
		rd_kafka_topic_destroy(s->rkt);
	if (s->rk)
		rd_kafka_destroy(s->rk);
	if (s->mode->free)
		s->mode->free(s->mst);
	lineage_seq_free(s->seqs);
	free(s->delivered);
	free(s);
}

/* --- at-least-once ------------------------------------------------------ */

/* librdkafka's partitioner (murmur2_random, see the defaults below), or
 * the source partition. */
static int32_t alo_pick(struct ksink *s, const struct weir_record *r,
                        uint64_t seq)
{
	(void)seq;
	if (s->cfg->partitioner == PARTITIONER_SOURCE)
		return ksink_source_partition(r);
	return RD_KAFKA_PARTITION_UA;
}

static int alo_process(struct task *t, void *st, struct batch *b)
{
	return ksink_process(t, st, b, alo_pick);
}

static const struct ksink_mode alo_mode = {
    .name = "at-least-once",
    .state_version = 1,
    .process = alo_process,
    .flush = ksink_flush,
    .close = ksink_close_flush,
};

static const struct ksink_mode *mode_of(const struct job_sink_cfg *cfg)
{
	if (cfg->delivery != DELIVERY_EXACTLY_ONCE)
		return &alo_mode;
	if (cfg->exactly_once == EXACTLY_ONCE_TRANSACTIONS)
		return &txn_mode;
	return &eo_mode;
}

int kafka_sink_open(struct task *t, const struct job_sink_cfg *cfg,
                    const struct job_ckpt_cfg *ckpt, const char *job_name,
                    const char *src_topic, int source_partitions,
                    struct task_body *body, char *err, size_t errlen)
{
	static const char *const defaults[] = {"enable.idempotence",
	                                       "true",
	                                       "linger.ms",
	                                       "5",
	                                       "partitioner",
	                                       "murmur2_random",
	                                       "queue.buffering.max.messages",
	                                       "10000",
	                                       NULL};
	struct ksink *s = xcalloc(1, sizeof(*s));
	rd_kafka_conf_t *conf;
	char e[256];

	s->cfg = cfg;
	s->ckpt = ckpt;
	s->stats = &t->stats;
	t->stats.delivers = true;
	s->job_name = job_name;
	s->src_topic = src_topic;
	s->seqs = lineage_seq_new();
	s->mode = mode_of(cfg);
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
	if (s->mode->setup && s->mode->setup(s, t, conf, err, errlen) < 0) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_opaque(conf, s);
	s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!s->rk) {
		/* librdkafka owns conf only when it succeeds. */
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "sink: cannot create a producer: %s", e);
		goto fail;
	}
	s->rkt = rd_kafka_topic_new(s->rk, cfg->topic, NULL);
	s->delivered = xmalloc((size_t)s->out_partitions * sizeof(int64_t));
	for (int p = 0; p < s->out_partitions; p++)
		s->delivered[p] = -1;

	memset(body, 0, sizeof(*body));
	body->st = s;
	body->state_version = s->mode->state_version;
	body->process = s->mode->process;
	body->flush = s->mode->flush;
	body->snapshot = s->mode->snapshot;
	body->restore = s->mode->restore;
	body->start = s->mode->start;
	body->complete = s->mode->complete;
	body->idle = ksink_idle;
	body->close = ksink_close;
	log_debug(t->who, "sink delivery: %s", s->mode->name);
	return 0;
fail:
	ksink_close(NULL, s);
	return -1;
}
