/*
 * kafka_eo.c - the Kafka sink's exactly-once by de-duplication: the table
 * of what was written and the output tail scan (see kafka_eo.h).
 */
#include "kafka_eo.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "kafka_common.h"
#include "kvmap.h"
#include "lineage.h"
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

static bool header_is(rd_kafka_headers_t *h, const char *name,
                      const char *want)
{
	const void *val;
	size_t len;

	return rd_kafka_header_get_last(h, name, &val, &len) ==
	           RD_KAFKA_RESP_ERR_NO_ERROR &&
	       len == strlen(want) && memcmp(val, want, len) == 0;
}

static void note_message(struct eo_table *d, rd_kafka_message_t *m,
                         const char *job, const char *src_topic,
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
	stats->ours++;
	eo_table_note(d, part, m->partition, off, seq);
}

int eo_scan(struct eo_table *d, const struct job_sink_cfg *cfg, const char *job,
            const char *src_topic, int nparts, const int64_t *from,
            struct eo_scan_stats *stats, char *err, size_t errlen)
{
	static const char *const defaults[] = {
	    "enable.auto.commit", "false",
	    "enable.partition.eof", "false",
	    "auto.offset.reset", "error",
	    "group.id", "weir-dedup",
	    "fetch.wait.max.ms", "10",
	    "isolation.level", "read_uncommitted",
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
	conf = kafka_conf_new("sink", cfg->brokers, defaults, NULL, err,
	                      errlen);
	if (!conf)
		goto out_free;
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	if (!rk) {
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
			snprintf(err, errlen,
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
			         "more than 60 s", cfg->topic);
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
			note_message(d, m, job, src_topic, stats);
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
