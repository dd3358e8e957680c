/*
 * kafka_eo.c - the Kafka sink's exactly-once by de-duplication (see
 * kafka_eo.h): the table of what was written, the output tail scan, and
 * the sink's mode (eo_mode, kafka_sink.h).
 *
 * The mode's state: for each output partition, the offset up to which this
 * task's output is settled at the checkpoint, and the marks a replay in
 * progress has not passed yet. After a restore the task starts from those
 * marks, reads its output partitions from the settled offsets to learn
 * what was written since, and drops what replay produces again.
 */
#include "kafka_eo.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "kafka_common.h"
#include "kafka_sink.h"
#include "kvmap.h"
#include "lineage.h"
#include "log.h"
#include "util.h"

struct mark {
	int64_t offset;
	uint64_t seq;
};

struct eo_table {
	struct kvmap *m; /* (src part, out part) -> struct mark */
};

struct eo_table *eo_table_new(void)
{
	struct eo_table *d = xcalloc(1, sizeof(*d));

	d->m = kvmap_new();
	return d;
}

void eo_table_free(struct eo_table *d)
{
	if (!d)
		return;
	kvmap_free(d->m);
	free(d);
}

size_t eo_table_entries(const struct eo_table *d)
{
	return kvmap_count(d->m);
}

static bool after(int64_t o1, uint64_t s1, int64_t o2, uint64_t s2)
{
	return o1 > o2 || (o1 == o2 && s1 > s2);
}

void eo_table_note(struct eo_table *d, int32_t src_part, int32_t out_part,
                   int64_t offset, uint64_t seq)
{
	int32_t key[2] = {src_part, out_part};
	struct mark *m = kvmap_get(d->m, key, sizeof(key), NULL);
	struct mark nm = {offset, seq};

	if (!m)
		kvmap_put(d->m, key, sizeof(key), &nm, sizeof(nm));
	else if (after(offset, seq, m->offset, m->seq))
		*m = nm;
}

bool eo_table_written(struct eo_table *d, int32_t src_part, int32_t out_part,
                      int64_t offset, uint64_t seq)
{
	int32_t key[2] = {src_part, out_part};
	struct mark *m;

	if (kvmap_count(d->m) == 0)
		return false;
	m = kvmap_get(d->m, key, sizeof(key), NULL);
	if (!m)
		return false;
	if (!after(offset, seq, m->offset, m->seq))
		return true;
	/* Replay has passed what was written: nothing more to drop here. */
	kvmap_del(d->m, key, sizeof(key));
	return false;
}

bool eo_table_next(const struct eo_table *d, size_t *pos, int32_t *src_part,
                   int32_t *out_part, int64_t *offset, uint64_t *seq)
{
	const void *k, *v;
	size_t klen, vlen;
	int32_t key[2];
	struct mark m;

	if (!kvmap_next(d->m, pos, &k, &klen, &v, &vlen))
		return false;
	assert(klen == sizeof(key) && vlen == sizeof(m));
	memcpy(key, k, sizeof(key));
	memcpy(&m, v, sizeof(m));
	*src_part = key[0];
	*out_part = key[1];
	*offset = m.offset;
	*seq = m.seq;
	return true;
}

static bool header_is(rd_kafka_headers_t *h, const char *name, const char *want)
{
	const void *val;
	size_t len;

	return rd_kafka_header_get_last(h, name, &val, &len) ==
	           RD_KAFKA_RESP_ERR_NO_ERROR &&
	       len == strlen(want) && memcmp(val, want, len) == 0;
}

/* Notes m if this job (this instance, of several) wrote it. Instances
 * share the job's name and output topic; another instance's records come
 * from source partitions this one never replays, and an entry for them
 * would never be released. */
static void note_message(struct eo_table *d, rd_kafka_message_t *m,
                         const char *job, const char *src_topic,
                         const struct job_instance *in,
                         struct eo_scan_stats *stats)
{
	rd_kafka_headers_t *h = NULL;
	const void *val;
	size_t len, tlen;
	const char *topic;
	int32_t part;
	int64_t off;
	uint64_t seq;

	stats->records++;
	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    !header_is(h, "weir.job", job) ||
	    rd_kafka_header_get_last(h, "weir.lineage", &val, &len) !=
	        RD_KAFKA_RESP_ERR_NO_ERROR ||
	    lineage_parse(val, len, &topic, &tlen, &part, &off, &seq) < 0 ||
	    tlen != strlen(src_topic) || memcmp(topic, src_topic, tlen) != 0)
		return;
	if (part >= 0 &&
	    part % job_instance_count(in) != job_instance_index(in))
		return;
	stats->ours++;
	eo_table_note(d, part, m->partition, off, seq);
}

int eo_scan(struct eo_table *d, const struct job_sink_cfg *cfg, const char *job,
            const char *src_topic, int nparts, const int64_t *from,
            struct eo_scan_stats *stats, char *err, size_t errlen)
{
	static const char *const defaults[] = {"enable.auto.commit",
	                                       "false",
	                                       "enable.partition.eof",
	                                       "false",
	                                       "auto.offset.reset",
	                                       "error",
	                                       "group.id",
	                                       "weir-dedup",
	                                       "fetch.wait.max.ms",
	                                       "10",
	                                       "isolation.level",
	                                       "read_uncommitted",
	                                       NULL};
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *l;
	int64_t *end = xcalloc((size_t)nparts, sizeof(int64_t));
	int64_t *pos = xcalloc((size_t)nparts, sizeof(int64_t));
	int64_t t0 = now_mono_ms(), deadline;
	char e[256];
	int rc = -1, left = 0;

	memset(stats, 0, sizeof(*stats));
	conf =
	    kafka_conf_new("sink", cfg->brokers, defaults, NULL, err, errlen);
	if (!conf)
		goto out_free;
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	if (!rk) {
		/* librdkafka owns conf only when it succeeds. */
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "sink: cannot create a consumer: %s", e);
		goto out_free;
	}
	l = rd_kafka_topic_partition_list_new(nparts);
	for (int p = 0; p < nparts; p++) {
		int64_t lo, hi;
		rd_kafka_resp_err_t rerr = rd_kafka_query_watermark_offsets(
		    rk, cfg->topic, p, &lo, &hi, KAFKA_START_TIMEOUT_MS);

		if (rerr) {
			snprintf(err, errlen,
			         "sink: cannot read the offsets of %s[%d]: %s",
			         cfg->topic, p, rd_kafka_err2str(rerr));
			goto out;
		}
		if (from[p] < lo) {
			snprintf(
			    err, errlen,
			    "sink: exactly-once needs to read %s[%d] from "
			    "offset %" PRId64 " to know what was written "
			    "before the crash, but the broker holds %" PRId64
			    "..%" PRId64 " only (retention). Output may "
			    "hold duplicates if you go on: move the "
			    "checkpoint directory aside to start fresh",
			    cfg->topic, p, from[p], lo, hi);
			goto out;
		}
		end[p] = hi;
		pos[p] = from[p];
		if (from[p] < hi) {
			left++;
			rd_kafka_topic_partition_list_add(l, cfg->topic, p)
			    ->offset = from[p];
		}
	}
	if (left && rd_kafka_assign(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "sink: cannot assign %s", cfg->topic);
		goto out;
	}
	deadline = now_mono_ms() + 60000;
	while (left > 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (now_mono_ms() > deadline) {
			snprintf(err, errlen,
			         "sink: reading the output tail of %s took "
			         "more than 60 s",
			         cfg->topic);
			goto out;
		}
		if (!m) {
			/* Offsets that deliver no message (control records)
			 * still move the position. */
			rd_kafka_position(rk, l);
			for (int i = 0; i < l->cnt; i++) {
				int p = l->elems[i].partition;

				if (l->elems[i].offset >= end[p] &&
				    pos[p] < end[p]) {
					pos[p] = end[p];
					left--;
				}
			}
			continue;
		}
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
			    rd_kafka_fatal_error(rk, NULL, 0)) {
				snprintf(err, errlen, "sink: %s",
				         rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				goto out;
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->partition >= 0 && m->partition < nparts &&
		    pos[m->partition] < end[m->partition]) {
			note_message(d, m, job, src_topic, cfg->instance,
			             stats);
			pos[m->partition] = m->offset + 1;
			if (pos[m->partition] >= end[m->partition])
				left--;
		}
		rd_kafka_message_destroy(m);
	}
	stats->ms = now_mono_ms() - t0;
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
out_free:
	free(end);
	free(pos);
	return rc;
}

/* --- the sink's mode ---------------------------------------------------- */

/* A partition this task did not write to keeps its settled offset, and
 * after a crash the task reads it from there. When others write to the
 * topic (the other instances of the job), that tail grows without end,
 * and once retention deletes its start the task cannot restart. So at
 * every SETTLE_EVERY-th checkpoint, SETTLE_MIN_MS apart at least, such
 * partitions are settled at their end offset (settle_idle). */
#define SETTLE_EVERY 10
#define SETTLE_MIN_MS 1000
#define SETTLE_QUERY_MS 1000

/* 1: settled offsets only; 3: and the marks (2 is kafka_txn.c's). */
#define EO_STATE_V1 1
#define EO_STATE_VERSION 3

/* The mode's state (struct ksink's mst). */
struct eo {
	int64_t *settled;    /* per output partition */
	struct eo_table *dd; /* after a restore, until replay passes it */
	uint64_t dropped;
	bool restored;
	uint64_t snapshots; /* taken by this process */
	int64_t settled_ms; /* when settle_idle last ran */
};

static int eo_setup(struct ksink *s, struct task *t, rd_kafka_conf_t *conf,
                    char *err, size_t errlen)
{
	struct eo *eo = xcalloc(1, sizeof(*eo));

	(void)t;
	(void)conf;
	(void)err;
	(void)errlen;
	eo->settled = xcalloc((size_t)s->out_partitions, sizeof(int64_t));
	s->mst = eo;
	return 0;
}

/* The sink picks output partitions itself (murmur2 of the key like Java
 * clients, the source partition for records without a key), so replay
 * sends every record where it went the first time; and drops what was
 * written before the crash. */
static int32_t eo_pick(struct ksink *s, const struct weir_record *r,
                       uint64_t seq)
{
	struct eo *eo = s->mst;
	int32_t part;

	if (s->cfg->partitioner == PARTITIONER_SOURCE)
		part = ksink_source_partition(r);
	else if (r->key)
		part = rd_kafka_msg_partitioner_murmur2(
		    s->rkt, r->key, r->key_len, s->out_partitions, NULL, NULL);
	else
		part = ksink_source_partition(r) % s->out_partitions;
	if (eo->dd &&
	    eo_table_written(eo->dd, r->partition, part, r->offset, seq)) {
		eo->dropped++;
		return KSINK_DROP;
	}
	return part;
}

static int eo_process(struct task *t, void *st, struct batch *b)
{
	return ksink_process(t, st, b, eo_pick);
}

/* At the barrier, after the flush: nothing of this task is in flight,
 * so what it writes after the barrier lands at or after a partition's
 * end offset now, which can be its settled offset. During a replay too:
 * the marks of what it must still recognise before that end go with the
 * checkpoint (eo_snapshot). A query that fails leaves the partition as it
 * was. */
static void settle_idle(struct ksink *s, struct eo *eo)
{
	int64_t now = now_mono_ms();

	if (eo->snapshots % SETTLE_EVERY != 0 ||
	    now - eo->settled_ms < SETTLE_MIN_MS)
		return;
	eo->settled_ms = now;
	for (int p = 0; p < s->out_partitions; p++) {
		int64_t lo, hi;

		if (s->delivered[p] + 1 > eo->settled[p] ||
		    rd_kafka_query_watermark_offsets(s->rk, s->cfg->topic, p,
		                                     &lo, &hi, SETTLE_QUERY_MS))
			continue;
		if (hi > eo->settled[p])
			eo->settled[p] = hi;
	}
}

static int eo_snapshot(struct task *t, void *st, uint64_t id,
                       struct weir_writer *w, char **offsets)
{
	struct ksink *s = st;
	struct eo *eo = s->mst;

	(void)t;
	(void)id;
	(void)offsets;
	/* flush ran first: everything before the barrier is delivered. */
	weir_write_u64(w, (uint64_t)s->out_partitions);
	if (eo->dd && eo_table_entries(eo->dd) == 0) {
		eo_table_free(eo->dd);
		eo->dd = NULL;
	}
	settle_idle(s, eo);
	eo->snapshots++;
	for (int p = 0; p < s->out_partitions; p++) {
		if (s->delivered[p] + 1 > eo->settled[p])
			eo->settled[p] = s->delivered[p] + 1;
		weir_write_u64(w, (uint64_t)eo->settled[p]);
	}
	/* During a replay the settled offsets move past outputs the replay
	 * still has to drop: a restore from this checkpoint would not read
	 * them again, and its source offsets can lie below their marks. So
	 * the marks go with it. */
	weir_write_u64(w, eo->dd ? (uint64_t)eo_table_entries(eo->dd) : 0);
	if (eo->dd) {
		size_t pos = 0;
		int32_t src, out;
		int64_t off;
		uint64_t seq;

		while (eo_table_next(eo->dd, &pos, &src, &out, &off, &seq)) {
			weir_write_u64(w, (uint64_t)(int64_t)src);
			weir_write_u64(w, (uint64_t)(uint32_t)out);
			weir_write_u64(w, (uint64_t)off);
			weir_write_u64(w, seq);
		}
	}
	return 0;
}

/* The marks of a checkpoint taken during a replay (EO_STATE_VERSION). */
static int restore_marks(struct task *t, struct ksink *s, struct eo *eo,
                         struct weir_reader *r)
{
	uint64_t n, v[4];

	if (weir_read_u64(r, &n) != WEIR_OK ||
	    n > weir_read_remaining(r) / sizeof(v))
		return task_fail(t, "%s: sink state is truncated", t->who);
	if (n == 0)
		return 0;
	eo->dd = eo_table_new();
	for (uint64_t i = 0; i < n; i++) {
		for (int k = 0; k < 4; k++)
			if (weir_read_u64(r, &v[k]) != WEIR_OK)
				return task_fail(
				    t, "%s: sink state is truncated", t->who);
		if ((int64_t)v[0] < INT32_MIN || (int64_t)v[0] > INT32_MAX ||
		    v[1] >= (uint64_t)s->out_partitions || v[2] > INT64_MAX)
			return task_fail(
			    t,
			    "%s: sink state holds a mark for source "
			    "partition %" PRId64 ", %s[%" PRIu64 "], offset "
			    "%" PRIu64 " that cannot be; the checkpoint is "
			    "damaged: move it aside to restore an older one",
			    t->who, (int64_t)v[0], s->cfg->topic, v[1], v[2]);
		eo_table_note(eo->dd, (int32_t)v[0], (int32_t)v[1],
		              (int64_t)v[2], v[3]);
	}
	return 0;
}

static int eo_restore(struct task *t, void *st, struct weir_reader *r,
                      uint32_t version)
{
	struct ksink *s = st;
	struct eo *eo = s->mst;
	uint64_t n, v;

	if (version == 2)
		return task_fail(
		    t,
		    "%s: this checkpoint was written with "
		    "\"exactly_once\": \"transactions\"; its sink "
		    "state cannot drive de-duplication. Switch the "
		    "sink back to \"transactions\", or move the "
		    "checkpoint directory aside to start fresh",
		    t->who);
	if ((version != EO_STATE_V1 && version != EO_STATE_VERSION) ||
	    weir_read_u64(r, &n) != WEIR_OK)
		return task_fail(t, "%s: unknown sink state", t->who);
	if ((int)n != s->out_partitions)
		return task_fail(
		    t,
		    "%s: the checkpoint knows %d partition(s) of "
		    "%s, the topic now has %d; exactly-once cannot "
		    "tell where its output went. Restore with the "
		    "original partition count, or move the "
		    "checkpoint directory aside to start fresh",
		    t->who, (int)n, s->cfg->topic, s->out_partitions);
	for (int p = 0; p < s->out_partitions; p++) {
		if (weir_read_u64(r, &v) != WEIR_OK)
			return task_fail(t, "%s: sink state is truncated",
			                 t->who);
		eo->settled[p] = (int64_t)v;
	}
	if (version == EO_STATE_VERSION && restore_marks(t, s, eo, r) < 0)
		return -1;
	eo->restored = true;
	return 0;
}

/* Exactly-once, before the first record: after a restore, learn what was
 * written after the checkpoint; on a fresh start, where output begins. */
static int eo_start(struct task *t, void *st)
{
	struct ksink *s = st;
	struct eo *eo = s->mst;
	struct eo_scan_stats stats;
	char err[1024];

	if (!eo->restored) {
		for (int p = 0; p < s->out_partitions; p++) {
			int64_t lo, hi;
			rd_kafka_resp_err_t e =
			    rd_kafka_query_watermark_offsets(
			        s->rk, s->cfg->topic, p, &lo, &hi,
			        KAFKA_START_TIMEOUT_MS);

			if (e)
				return task_fail(t,
				                 "%s: cannot read the offsets "
				                 "of %s[%d]: %s",
				                 t->who, s->cfg->topic, p,
				                 rd_kafka_err2str(e));
			eo->settled[p] = hi;
		}
		return 0;
	}
	if (eo->dd)
		log_info(t->who,
		         "exactly-once: the checkpoint was taken during a "
		         "replay; %zu mark(s) of what was written before it "
		         "still hold",
		         eo_table_entries(eo->dd));
	else
		eo->dd = eo_table_new();
	if (eo_scan(eo->dd, s->cfg, s->job_name, s->src_topic,
	            s->out_partitions, eo->settled, &stats, err,
	            sizeof(err)) < 0)
		return task_fail(t, "%s: %s", t->who, err);
	log_info(t->who,
	         "exactly-once: read %lld record(s) of %s written after the "
	         "checkpoint in %lld ms; %lld are this %s's and will not be "
	         "written again",
	         (long long)stats.records, s->cfg->topic, (long long)stats.ms,
	         (long long)stats.ours,
	         job_instance_count(s->cfg->instance) > 1 ? "instance" : "job");
	return 0;
}

static void eo_close(struct task *t, struct ksink *s)
{
	struct eo *eo = s->mst;

	ksink_close_flush(t, s);
	if (eo->dropped)
		log_info(t ? t->who : "sink",
		         "exactly-once: %llu replayed "
		         "record(s) were already in %s and not written again",
		         (unsigned long long)eo->dropped, s->cfg->topic);
}

static void eo_free(void *mst)
{
	struct eo *eo = mst;

	if (!eo)
		return;
	eo_table_free(eo->dd);
	free(eo->settled);
	free(eo);
}

const struct ksink_mode eo_mode = {
    .name = "exactly-once by de-duplication",
    .state_version = EO_STATE_VERSION,
    .setup = eo_setup,
    .process = eo_process,
    .flush = ksink_flush,
    .snapshot = eo_snapshot,
    .restore = eo_restore,
    .start = eo_start,
    .close = eo_close,
    .free = eo_free,
};
