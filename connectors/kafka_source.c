/*
 * kafka_source.c - the Kafka source. Each source task owns the partitions
 * p with p % parallelism == its index, assigned by hand (no consumer group
 * rebalancing); with several instances, of the instance's partitions
 * (source_partitions, connector_cfg.h). Its state is the next offset of each owned partition; the
 * offsets live in checkpoints, and are also committed to group_id (when
 * set) after each completed checkpoint so that lag tools see progress.
 * State version 2 adds each partition's highest event time and the task's
 * watermark (event_time.h).
 *
 * Start positions are made concrete at open (earliest = the log start,
 * latest = the high watermark) so that a checkpoint taken before the first
 * record arrived still restores to the right place.
 *
 * Prefetch: librdkafka fetches ahead into a local queue until it holds
 * queued.min.messages records or queued.max.messages.kbytes; weir keeps both
 * small so that memory does not grow with the backlog. librdkafka 2.0 then
 * looks at the queue again only when its broker thread next wakes up, up to
 * a second later, so a task that empties the queue would wait that long for
 * more. The task wakes the fetcher itself (fetch_kick): when it saw the
 * queue reach the bound and has now emptied it, or when it is behind the
 * broker and nothing arrived for KICK_IDLE_MS. The wake-up is a watermark
 * query sent without waiting for the answer, one per partition leader: it
 * moves no fetch position, so a fetch in flight is never wasted.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "event_time.h"
#include "task.h"
#include "kafka_common.h"
#include "log.h"
#include "util.h"

#define POLL_BATCH 512
#define KICK_IDLE_MS 100
#define KICK_MAX_MS 1000

struct part {
	int32_t id;
	int64_t next; /* offset of the next record to emit */
	int64_t end;  /* bounded: stop here */
	bool kick;    /* the first owned partition of its leader */
};

/* What the task knows of librdkafka's local queue (see the top). */
struct prefetch {
	size_t max_msgs, max_bytes; /* queued.min.messages, ...kbytes */
	uint64_t msgs, bytes;       /* read so far, for the mean size */
	bool full;                  /* reached the bound since the last kick */
	int64_t last_msg_ms, last_kick_ms;
	int64_t gap_ms; /* kick again after this long without data */
};

struct ksrc {
	const struct job_source_cfg *cfg;
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;
	struct part *parts;
	int nparts;
	bool restored;
	/* Offsets of the last snapshot, committed when it completes. */
	uint64_t snap_id;
	int64_t *snap_next;
	int64_t err_log_ms;
	struct prefetch pf;
	char *hdrbuf;
	size_t hdrcap;
	int64_t lag_ms; /* when the lag was last worked out */
	struct event_time et;
};

static struct part *find_part(struct ksrc *s, int32_t id)
{
	for (int i = 0; i < s->nparts; i++)
		if (s->parts[i].id == id)
			return &s->parts[i];
	return NULL;
}

/* librdkafka calls this on its own thread when the queue becomes
 * non-empty: wake the task. */
static void queue_event(rd_kafka_t *rk, void *opaque)
{
	struct task *t = opaque;

	(void)rk;
	wake_signal(&t->wake);
}

/* Headers of a Kafka message in weir's encoding. */
static size_t encode_headers(struct ksrc *s, rd_kafka_message_t *m,
                             uint16_t *nh)
{
	rd_kafka_headers_t *hdrs = NULL;
	const char *name;
	const void *val;
	size_t vlen, len = 0;

	*nh = 0;
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	for (size_t i = 0;
	     rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) ==
	         RD_KAFKA_RESP_ERR_NO_ERROR &&
	     *nh < UINT16_MAX;
	     i++) {
		size_t nl = strlen(name);
		size_t need = record_hdr_encoded_size(nl, val ? vlen : 0);

		if (len + need > s->hdrcap) {
			s->hdrcap = (len + need) * 2;
			s->hdrbuf = xrealloc(s->hdrbuf, s->hdrcap);
		}
		len += record_hdr_encode(s->hdrbuf + len, name, nl, val,
		                         val ? vlen : 0);
		(*nh)++;
	}
	return len;
}

static int on_error_message(struct task *t, struct ksrc *s,
                            rd_kafka_message_t *m)
{
	rd_kafka_resp_err_t err = m->err;

	if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return 0;
	if (err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
	    err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
		struct part *p = m->rkt ? find_part(s, m->partition) : NULL;
		return task_fail(t,
		                 "%s: partition %s[%d]: offset %" PRId64
		                 " is no longer on the broker (%s): records "
		                 "were deleted by retention before weir read "
		                 "them. Set source.on_offset_out_of_range to "
		                 "\"earliest\" or \"latest\" to go on anyway",
		                 t->who, s->cfg->topic, (int)m->partition,
		                 p ? p->next : -1, rd_kafka_message_errstr(m));
	}
	if (rd_kafka_fatal_error(s->rk, NULL, 0))
		return task_fail(t, "%s: fatal Kafka error: %s", t->who,
		                 rd_kafka_message_errstr(m));
	/* Transient (broker down, ...): librdkafka retries; say so at most
	 * once every 5 s. */
	if (now_mono_ms() - s->err_log_ms > 5000) {
		log_warn(t->who, "Kafka: %s (retrying)",
		         rd_kafka_message_errstr(m));
		s->err_log_ms = now_mono_ms();
	}
	return 0;
}

/* Notes that librdkafka's queue held `queued` records at some moment: if
 * that reached its bound, librdkafka stopped fetching. */
static void prefetch_note(struct prefetch *pf, size_t queued)
{
	uint64_t mean = pf->msgs ? pf->bytes / pf->msgs : 0;

	if (queued >= pf->max_msgs || queued * mean >= pf->max_bytes / 10 * 9)
		pf->full = true;
}

/* The records of p this task has not read yet: to the bounded end, or to
 * the high watermark librdkafka last heard in a fetch response (no request
 * is sent); -1 while that is unknown. */
static int64_t part_lag(const struct ksrc *s, const struct part *p)
{
	int64_t lo, hi;

	if (s->cfg->bounded)
		return p->end > p->next ? p->end - p->next : 0;
	if (rd_kafka_get_watermark_offsets(s->rk, s->cfg->topic, p->id, &lo,
	                                   &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    hi < 0 || p->next < 0)
		return -1;
	return hi > p->next ? hi - p->next : 0;
}

static bool behind(struct ksrc *s)
{
	for (int i = 0; i < s->nparts; i++)
		if (part_lag(s, &s->parts[i]) > 0)
			return true;
	return false;
}

/* Called with librdkafka's queue empty: wakes its fetcher when it may have
 * stopped (see the top). The query's timeout of 0 sends the request and
 * returns; librdkafka drops the late answer. Kicks that bring nothing
 * (the broker is down) back off to KICK_MAX_MS. */
static void fetch_kick(struct task *t, struct ksrc *s)
{
	struct prefetch *pf = &s->pf;
	int64_t now = now_mono_ms();
	int64_t since =
	    now - (pf->last_msg_ms > pf->last_kick_ms ? pf->last_msg_ms
	                                              : pf->last_kick_ms);
	bool full = pf->full;

	if (!full && since < pf->gap_ms) {
		t->wait_hint_ms = pf->gap_ms - since;
		return;
	}
	pf->full = false;
	if (!behind(s))
		return; /* all read: the queue event wakes the task */
	for (int i = 0; i < s->nparts; i++) {
		int64_t lo, hi;

		if (s->parts[i].kick)
			rd_kafka_query_watermark_offsets(
			    s->rk, s->cfg->topic, s->parts[i].id, &lo, &hi, 0);
	}
	pf->last_kick_ms = now;
	if (!full && pf->gap_ms < KICK_MAX_MS)
		pf->gap_ms *= 2;
	t->wait_hint_ms = pf->gap_ms;
}

/* The lag for the job's progress lines, at most once a second. */
static void note_lag(struct task *t, struct ksrc *s)
{
	int64_t now = now_mono_ms(), lag = 0;

	if (now - s->lag_ms < 1000)
		return;
	s->lag_ms = now;
	for (int i = 0; i < s->nparts; i++) {
		int64_t n = part_lag(s, &s->parts[i]);

		atomic_store_explicit(&t->stats.lag[i].records, n,
		                      memory_order_relaxed);
		lag = n < 0 || lag < 0 ? -1 : lag + n;
	}
	atomic_store_explicit(&t->lag, lag, memory_order_relaxed);
}

static int ksrc_poll(struct task *t, void *st, bool *progress)
{
	struct ksrc *s = st;
	rd_kafka_message_t *msgs[POLL_BATCH];
	ssize_t n;
	int rc = 0;

	note_lag(t, s);
	n = rd_kafka_consume_batch_queue(s->queue, 0, msgs, POLL_BATCH);
	if (n <= 0) {
		if (rd_kafka_queue_length(s->queue) == 0)
			fetch_kick(t, s);
		return et_check(t, &s->et);
	}
	*progress = true;
	s->pf.last_msg_ms = now_mono_ms();
	s->pf.gap_ms = KICK_IDLE_MS;
	prefetch_note(&s->pf, rd_kafka_queue_length(s->queue) + (size_t)n);
	for (ssize_t i = 0; i < n; i++) {
		rd_kafka_message_t *m = msgs[i];
		struct weir_record like;
		struct part *p;
		uint16_t nh;
		size_t hl;

		if (rc < 0)
			goto next;
		if (m->err) {
			rc = on_error_message(t, s, m);
			goto next;
		}
		p = find_part(s, m->partition);
		/* Stale (before a seek) or past a bounded end: not ours. */
		if (!p || m->offset < p->next ||
		    (s->cfg->bounded && m->offset >= p->end))
			goto next;
		s->pf.msgs++;
		s->pf.bytes += m->len + (m->key ? m->key_len : 0);
		hl = encode_headers(s, m, &nh);
		like.topic = s->cfg->topic;
		like.partition = m->partition;
		like.offset = m->offset;
		like.seq = 0;
		like.value = m->payload;
		like.value_len = m->payload ? (uint32_t)m->len : 0;
		like.timestamp = rd_kafka_message_timestamp(m, NULL);
		rc = et_record(t, &s->et, (int)(p - s->parts), &like,
		               &like.timestamp);
		if (rc <= 0) { /* skipped, or the job fails */
			p->next = m->offset + 1;
			goto next;
		}
		rc = 0;
		if (task_emit(t, m->key, m->key ? m->key_len : 0, m->payload,
		              m->payload ? m->len : 0, s->hdrbuf, hl, nh,
		              &like) < 0) {
			rc = -1;
			goto next;
		}
		p->next = m->offset + 1;
	next:
		rd_kafka_message_destroy(m);
	}
	atomic_fetch_add_explicit(&t->n_in, (uint64_t)n, memory_order_relaxed);
	if (rc < 0)
		return rc;
	return et_check(t, &s->et);
}

static bool ksrc_at_end(struct task *t, void *st)
{
	struct ksrc *s = st;

	if (!s->cfg->bounded)
		return false;
	for (int i = 0; i < s->nparts; i++)
		if (s->parts[i].next < s->parts[i].end)
			return false;
	/* Polling stops here, and with it note_lag. */
	atomic_store_explicit(&t->lag, 0, memory_order_relaxed);
	for (int i = 0; i < t->stats.nlag; i++)
		atomic_store_explicit(&t->stats.lag[i].records, 0,
		                      memory_order_relaxed);
	return true;
}

static char *offsets_json(struct ksrc *s)
{
	json_t *root = json_object(), *parts = json_object();
	char key[16], *text;

	for (int i = 0; i < s->nparts; i++) {
		snprintf(key, sizeof(key), "%d", (int)s->parts[i].id);
		json_object_set_new(parts, key, json_integer(s->parts[i].next));
	}
	json_object_set_new(root, s->cfg->topic, parts);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static int ksrc_snapshot(struct task *t, void *st, uint64_t id,
                         struct weir_writer *w, char **offsets)
{
	struct ksrc *s = st;

	weir_write_u64(w, (uint64_t)s->nparts);
	for (int i = 0; i < s->nparts; i++) {
		weir_write_u64(w, (uint64_t)s->parts[i].id);
		weir_write_u64(w, (uint64_t)s->parts[i].next);
		et_write_part(&s->et, i, w);
		s->snap_next[i] = s->parts[i].next;
	}
	et_write_sent(&s->et, t, w);
	s->snap_id = id;
	*offsets = offsets_json(s);
	return 0;
}

static int ksrc_restore(struct task *t, void *st, struct weir_reader *r,
                        uint32_t version)
{
	struct ksrc *s = st;
	uint64_t n, id, next;

	/* Version 1 had no event time: its watermark starts at WM_MIN. */
	if (version != 1 && version != 2)
		return task_fail(t, "%s: unknown source state version %u",
		                 t->who, version);
	if (weir_read_u64(r, &n) != WEIR_OK)
		goto bad;
	for (uint64_t i = 0; i < n; i++) {
		struct part *p;

		if (weir_read_u64(r, &id) != WEIR_OK ||
		    weir_read_u64(r, &next) != WEIR_OK)
			goto bad;
		p = find_part(s, (int32_t)id);
		if (!p)
			return task_fail(
			    t,
			    "%s: the checkpoint has partition %s[%d], "
			    "which this task does not own; did the "
			    "topic's partitions change?",
			    t->who, s->cfg->topic, (int)id);
		p->next = (int64_t)next;
		if (version >= 2 &&
		    et_read_part(&s->et, (int)(p - s->parts), r) < 0)
			goto bad;
	}
	if (version >= 2 && et_read_sent(&s->et, r) < 0)
		goto bad;
	s->restored = true;
	return 0;
bad:
	return task_fail(t, "%s: source state in the checkpoint is truncated",
	                 t->who);
}

static int ksrc_complete(struct task *t, void *st, uint64_t id)
{
	struct ksrc *s = st;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;

	if (!s->cfg->group_id || id != s->snap_id || s->nparts == 0)
		return 0;
	l = rd_kafka_topic_partition_list_new(s->nparts);
	for (int i = 0; i < s->nparts; i++)
		rd_kafka_topic_partition_list_add(l, s->cfg->topic,
		                                  s->parts[i].id)
		    ->offset = s->snap_next[i];
	err = rd_kafka_commit(s->rk, l, 1);
	if (err)
		log_warn(t->who,
		         "could not commit offsets of checkpoint %llu "
		         "to group %s: %s (offsets are safe in the checkpoint; "
		         "only lag monitoring is affected)",
		         (unsigned long long)id, s->cfg->group_id,
		         rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
	return 0;
}

static void ksrc_close(struct task *t, void *st)
{
	struct ksrc *s = st;

	(void)t;
	if (s->queue) {
		rd_kafka_queue_cb_event_enable(s->queue, NULL, NULL);
		rd_kafka_queue_destroy(s->queue);
	}
	if (s->rk) {
		rd_kafka_consumer_close(s->rk);
		rd_kafka_destroy(s->rk);
	}
	free(s->parts);
	free(s->snap_next);
	free(s->hdrbuf);
	et_free(&s->et);
	free(s);
}

/* Marks one owned partition per leader broker for fetch_kick. Without
 * metadata the first partition stands for all (one broker is the common
 * case; a missed leader only means librdkafka's own wake-up, up to 1 s). */
static void mark_leaders(struct ksrc *s)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, s->cfg->topic, NULL);
	const struct rd_kafka_metadata_topic *mt;
	int32_t *leader = NULL; /* of each owned partition, -1 unknown */

	if (s->nparts > 0)
		s->parts[0].kick = true;
	if (!rkt)
		return;
	if (rd_kafka_metadata(s->rk, 0, rkt, &md, KAFKA_START_TIMEOUT_MS) ||
	    md->topic_cnt != 1)
		goto out;
	mt = &md->topics[0];
	leader = xmalloc((size_t)s->nparts * sizeof(*leader));
	for (int i = 0; i < s->nparts; i++) {
		int32_t id = s->parts[i].id;
		bool seen = false;

		leader[i] = -1;
		if (id < mt->partition_cnt && mt->partitions[id].id == id)
			leader[i] = mt->partitions[id].leader;
		else
			for (int k = 0; k < mt->partition_cnt; k++)
				if (mt->partitions[k].id == id)
					leader[i] = mt->partitions[k].leader;
		for (int j = 0; j < i && !seen; j++)
			seen = s->parts[j].kick && leader[j] == leader[i];
		s->parts[i].kick = !seen;
	}
	free(leader);
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
}

/* The log start (which = RD_KAFKA_OFFSET_BEGINNING) or end (..._END) of
 * every owned partition, into out[i] for s->parts[i]: one ListOffsets
 * request per leader, where asking each partition's watermarks in turn
 * took two round trips per partition. A ListOffsets "timestamp" of -2 or
 * -1 asks for exactly these two offsets. */
static int log_ends(struct ksrc *s, int64_t which, int64_t *out, char *err,
                    size_t errlen)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t rerr;
	int32_t bad = -1;

	if (s->nparts == 0)
		return 0;
	l = rd_kafka_topic_partition_list_new(s->nparts);
	for (int i = 0; i < s->nparts; i++)
		rd_kafka_topic_partition_list_add(l, s->cfg->topic,
		                                  s->parts[i].id)
		    ->offset = which;
	rerr = rd_kafka_offsets_for_times(s->rk, l, KAFKA_START_TIMEOUT_MS);
	for (int i = 0; i < s->nparts && !rerr; i++) {
		rd_kafka_topic_partition_t *e =
		    rd_kafka_topic_partition_list_find(l, s->cfg->topic,
		                                       s->parts[i].id);

		if (!e || e->err || e->offset < 0) {
			rerr =
			    e && e->err ? e->err : RD_KAFKA_RESP_ERR__NO_OFFSET;
			bad = s->parts[i].id;
		} else {
			out[i] = e->offset;
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
	if (!rerr)
		return 0;
	if (bad >= 0)
		snprintf(
		    err, errlen,
		    "source: cannot read the offsets of %s[%d] from %s: %s",
		    s->cfg->topic, (int)bad, s->cfg->brokers,
		    rd_kafka_err2str(rerr));
	else
		snprintf(err, errlen,
		         "source: cannot read the offsets of %s from %s within "
		         "%d s: %s",
		         s->cfg->topic, s->cfg->brokers,
		         KAFKA_START_TIMEOUT_MS / 1000, rd_kafka_err2str(rerr));
	return -1;
}

/* Picks the start offsets (restored ones are checked against the log) and
 * assigns the partitions. Runs after restore, before the task starts. */
static int ksrc_start(struct task *t, struct ksrc *s, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *l =
	    rd_kafka_topic_partition_list_new(s->nparts ? s->nparts : 1);
	int64_t *los = xcalloc((size_t)s->nparts + 1, sizeof(int64_t));
	int64_t *his = xcalloc((size_t)s->nparts + 1, sizeof(int64_t));
	rd_kafka_resp_err_t rerr;
	int rc = -1;

	if (log_ends(s, RD_KAFKA_OFFSET_BEGINNING, los, err, errlen) < 0 ||
	    log_ends(s, RD_KAFKA_OFFSET_END, his, err, errlen) < 0)
		goto out;
	for (int i = 0; i < s->nparts; i++) {
		struct part *p = &s->parts[i];
		int64_t lo = los[i], hi = his[i];

		if (!s->restored) {
			p->next = s->cfg->start == START_LATEST ? hi : lo;
		} else if (p->next < lo || p->next > hi) {
			enum oor_policy pol = s->cfg->on_offset_out_of_range;

			if (pol == OOR_FAIL) {
				snprintf(
				    err, errlen,
				    "source: the checkpoint resumes %s[%d] "
				    "at offset %" PRId64 ", but the broker "
				    "holds offsets %" PRId64 "..%" PRId64
				    " only%s. Set "
				    "source.on_offset_out_of_range to "
				    "\"earliest\" or \"latest\" to go on "
				    "anyway",
				    s->cfg->topic, (int)p->id, p->next, lo, hi,
				    p->next < lo ? ": records were deleted "
				                   "by retention"
				                 : " (was the topic "
				                   "re-created?)");
				goto out;
			}
			log_warn(t->who,
			         "%s[%d]: restored offset %" PRId64
			         " is out of range %" PRId64 "..%" PRId64
			         "; going on from the %s as "
			         "on_offset_out_of_range says",
			         s->cfg->topic, (int)p->id, p->next, lo, hi,
			         pol == OOR_EARLIEST ? "earliest" : "latest");
			p->next = pol == OOR_EARLIEST ? lo : hi;
		}
		p->end = hi;
		rd_kafka_topic_partition_list_add(l, s->cfg->topic, p->id)
		    ->offset = p->next;
	}
	mark_leaders(s);
	rerr = rd_kafka_assign(s->rk, l);
	if (rerr) {
		snprintf(err, errlen, "source: cannot assign partitions: %s",
		         rd_kafka_err2str(rerr));
		goto out;
	}
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(l);
	free(los);
	free(his);
	return rc;
}

static int ksrc_start_body(struct task *t, void *st)
{
	struct ksrc *s = st;
	char err[1024];

	if (ksrc_start(t, s, err, sizeof(err)) < 0)
		return task_fail(t, "%s", err);
	log_info(t->who, "reading %d partition(s) of %s%s", s->nparts,
	         s->cfg->topic, s->restored ? " from the checkpoint" : "");
	return 0;
}

static int conf_size(rd_kafka_conf_t *conf, const char *name, size_t *out)
{
	char v[32], *end;
	size_t len = sizeof(v);

	if (rd_kafka_conf_get(conf, name, v, &len) != RD_KAFKA_CONF_OK)
		return -1;
	*out = (size_t)strtoull(v, &end, 10);
	return *end ? -1 : 0;
}

int kafka_source_open(struct task *t, const struct job_source_cfg *cfg,
                      int partitions, struct task_body *body, char *err,
                      size_t errlen)
{
	static const char *const defaults[] = {"enable.auto.commit",
	                                       "false",
	                                       "enable.auto.offset.store",
	                                       "false",
	                                       "enable.partition.eof",
	                                       "false",
	                                       "auto.offset.reset",
	                                       "error",
	                                       "fetch.wait.max.ms",
	                                       "100",
	                                       "queued.min.messages",
	                                       "10000",
	                                       "queued.max.messages.kbytes",
	                                       "1024",
	                                       "group.id",
	                                       "weir",
	                                       NULL};
	struct ksrc *s = xcalloc(1, sizeof(*s));
	rd_kafka_conf_t *conf;
	size_t kbytes;
	char e[256];
	int first, step;

	s->cfg = cfg;
	source_partitions(cfg, t->sub, t->parallelism, &first, &step);
	for (int p = first; p < partitions; p += step)
		s->nparts++;
	s->parts =
	    xcalloc((size_t)(s->nparts ? s->nparts : 1), sizeof(*s->parts));
	s->snap_next =
	    xcalloc((size_t)(s->nparts ? s->nparts : 1), sizeof(int64_t));
	t->stats.lag =
	    xcalloc((size_t)(s->nparts ? s->nparts : 1), sizeof(*t->stats.lag));
	t->stats.nlag = s->nparts;
	for (int p = first, i = 0; p < partitions; p += step, i++) {
		s->parts[i].id = p;
		t->stats.lag[i].partition = p;
		atomic_init(&t->stats.lag[i].records, -1);
	}
	et_init(&s->et, &cfg->time, cfg->topic, s->nparts);

	conf = kafka_conf_new("source", cfg->brokers, defaults,
	                      &cfg->properties, err, errlen);
	if (!conf)
		goto fail;
	if (cfg->group_id &&
	    rd_kafka_conf_set(conf, "group.id", cfg->group_id, e, sizeof(e)) !=
	        RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "source.group_id: %s", e);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	if (conf_size(conf, "queued.min.messages", &s->pf.max_msgs) < 0 ||
	    conf_size(conf, "queued.max.messages.kbytes", &kbytes) < 0) {
		snprintf(err, errlen,
		         "source: cannot read back the prefetch settings");
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	s->pf.max_bytes = kbytes * 1024;
	s->pf.gap_ms = KICK_IDLE_MS;
	s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	if (!s->rk) {
		/* librdkafka owns conf only when it succeeds. */
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "source: cannot create a consumer: %s",
		         e);
		goto fail;
	}
	rd_kafka_poll_set_consumer(s->rk);
	s->queue = rd_kafka_queue_get_consumer(s->rk);
	rd_kafka_queue_cb_event_enable(s->queue, queue_event, t);

	memset(body, 0, sizeof(*body));
	body->st = s;
	body->state_version = 2;
	body->poll = ksrc_poll;
	body->start = ksrc_start_body;
	body->at_end = ksrc_at_end;
	body->snapshot = ksrc_snapshot;
	body->restore = ksrc_restore;
	body->complete = ksrc_complete;
	body->close = ksrc_close;
	return 0;
fail:
	ksrc_close(t, s);
	return -1;
}
