/*
 * kafka_txn.c - exactly-once output by Kafka transactions: the sink's two-
 * phase commit, for jobs whose replay would not compute the same records.
 *
 * Each sink task owns one transactional id, "<prefix>-<task index>" (the
 * prefix is the sink's "transactional.id" property, else
 * "weir-<job>-sink"; instance I of several uses "<prefix>-i<I>-<task
 * index>"), and has at most one transaction open:
 *
 *   records        go into the open transaction as they arrive, and a copy
 *                  of each is kept in memory (x->recs).
 *   barrier n      pre-commit: wait until everything is delivered, and add
 *                  the marker (below) to the transaction. The snapshot
 *                  holds the copies, so checkpoint n can rebuild the
 *                  transaction if it is lost.
 *   after barrier  records are held back (x->held) until the commit.
 *   complete(n)    commit; then the held records start the next
 *                  transaction. If checkpoint n never completes (it was
 *                  aborted), the held records join the still open
 *                  transaction at the next barrier, whose checkpoint then
 *                  covers both intervals.
 *
 * The marker. librdkafka cannot take over another process's transaction
 * (Flink resumes one by producer id and epoch), so after a crash between
 * "checkpoint n complete" and "commit", the restarted sink's
 * init_transactions fences the old instance and the broker aborts its
 * transaction. To know whether that happened, every pre-commit also
 * commits, inside the transaction, offsets for the consumer group named
 * like the transactional id: for each partition written, the offset after
 * the last record, with metadata "weir <token> <n>". Kafka makes these
 * visible exactly when the transaction commits. On restore from checkpoint
 * n the sink reads the group's offsets: a marker for n or later means the
 * transaction committed and its copies are dropped; otherwise the copies
 * are written again in a new transaction and committed. The token is drawn
 * when a job starts without a checkpoint and kept in the state, so a marker
 * left by an earlier run of the same job name is never mistaken for one of
 * this run.
 *
 * Commit failures: retriable errors are retried; an error that requires
 * abort aborts the transaction and writes the copies again in a new one;
 * a fatal error (fenced by a newer instance) stops the job.
 *
 * The cost: the sink keeps one checkpoint interval of its output in memory
 * and in each checkpoint, and output becomes visible to read_committed
 * readers when the checkpoint completes.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors.h"
#include "task.h"
#include "kafka_sink.h"
#include "log.h"
#include "util.h"

#define TXN_STATE_VERSION 2
#define TXN_CALL_TIMEOUT_MS 30000
#define MARKER_FMT "weir %016" PRIx64 " %" PRIu64

struct txn {
	char id[256];            /* transactional id, also the marker group */
	uint64_t token;          /* this run's markers, see above */
	struct weir_writer recs; /* copies of the open transaction's records */
	uint64_t nrecs;
	struct weir_writer held; /* arrived after a pre-commit, before commit */
	uint64_t nheld;
	bool open;             /* begin_transaction was called */
	uint64_t precommitted; /* checkpoint covering the open transaction */
	int64_t *base;         /* delivered[] when the transaction began */
	bool marker_checked;
	uint64_t commits;
	uint64_t restored_id; /* checkpoint the copies came from, 0 none */
	bool restored;
};

static void txn_free(void *mst)
{
	struct txn *x = mst;

	if (!x)
		return;
	free(x->recs.p);
	free(x->held.p);
	free(x->base);
	free(x);
}

/* --- copies of records -------------------------------------------------- */

/* A copy is what producing needs: partition (UA: librdkafka's
 * partitioner), timestamp, key, value and every header including weir's
 * lineage headers. Integers are weir_write_u64's little-endian. A header
 * value of NO_VALUE length is null. */
#define NO_VALUE UINT64_MAX

static void put_field(struct weir_writer *w, const void *p, uint64_t len)
{
	weir_write_u64(w, p ? len : NO_VALUE);
	if (p)
		weir_write(w, p, (size_t)len);
}

static void put_copy(struct ksink *s, struct weir_writer *w,
                     const struct weir_record *r)
{
	char lin[320];
	bool lin_hdrs = s->cfg->lineage_headers;
	int32_t part = RD_KAFKA_PARTITION_UA;

	if (s->cfg->partitioner == PARTITIONER_SOURCE)
		part = r->partition < 0 ? 0 : r->partition;
	weir_write_u64(w, (uint32_t)part);
	weir_write_u64(w, (uint64_t)r->timestamp);
	put_field(w, r->key, r->key_len);
	put_field(w, r->value, r->value_len);
	weir_write_u64(w, (uint64_t)r->nhdrs + 2 * lin_hdrs);
	for (size_t i = 0; i < r->nhdrs; i++) {
		const char *name;
		const void *val;
		size_t vl;

		weir_record_header_at(r, i, &name, &val, &vl);
		put_field(w, name, strlen(name));
		put_field(w, val, vl);
	}
	if (!lin_hdrs)
		return;
	put_field(w, "weir.job", 8);
	put_field(w, s->job_name, strlen(s->job_name));
	put_field(w, "weir.lineage", 12);
	put_field(w, lin, (uint64_t)ksink_lineage_next(s, lin, sizeof(lin), r));
}

static int get_field(struct weir_reader *r, const void **p, size_t *len)
{
	uint64_t n;

	if (weir_read_u64(r, &n) != WEIR_OK)
		return -1;
	if (n == NO_VALUE) {
		*p = NULL;
		*len = 0;
		return 0;
	}
	if (n > r->len - r->pos)
		return -1;
	*p = r->p + r->pos;
	*len = (size_t)n;
	r->pos += (size_t)n;
	return 0;
}

/* Produces the copy at r's position and moves past it. */
static int produce_copy(struct task *t, struct ksink *s, struct weir_reader *r)
{
	uint64_t part, ts, nh;
	const void *key, *val;
	size_t klen, vlen;
	rd_kafka_headers_t *hdrs;

	if (weir_read_u64(r, &part) != WEIR_OK ||
	    weir_read_u64(r, &ts) != WEIR_OK || get_field(r, &key, &klen) ||
	    get_field(r, &val, &vlen) || weir_read_u64(r, &nh) != WEIR_OK ||
	    nh > UINT16_MAX + 2u)
		goto damaged;
	hdrs = nh ? rd_kafka_headers_new((size_t)nh) : NULL;
	for (uint64_t i = 0; i < nh; i++) {
		const void *name, *hv;
		size_t nlen, hlen;

		if (get_field(r, &name, &nlen) || !name ||
		    get_field(r, &hv, &hlen)) {
			ksink_headers_free(hdrs);
			goto damaged;
		}
		rd_kafka_header_add(hdrs, name, (ssize_t)nlen, hv,
		                    hv ? (ssize_t)hlen : -1);
	}
	return ksink_produce(t, s, (int32_t)(uint32_t)part, (int64_t)ts, key,
	                     klen, val, vlen, hdrs, NULL);
damaged:
	return task_fail(t,
	                 "%s: a record kept for the open transaction is "
	                 "damaged at byte %zu. This is a bug in weir; please "
	                 "report it",
	                 t->who, r->pos);
}

static int produce_copies(struct task *t, struct ksink *s,
                          const struct weir_writer *w)
{
	struct weir_reader r = {w->p, w->len, 0};

	while (r.pos < r.len)
		if (produce_copy(t, s, &r) < 0)
			return -1;
	rd_kafka_poll(s->rk, 0);
	return 0;
}

/* --- the transaction ---------------------------------------------------- */

/* A failed transactional call: fatal errors stop the job, the rest say
 * which step failed. */
static int call_failed(struct task *t, struct ksink *s, const char *step,
                       rd_kafka_error_t *e)
{
	struct txn *x = s->mst;
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", rd_kafka_error_string(e));
	if (rd_kafka_error_is_fatal(e)) {
		rd_kafka_error_destroy(e);
		return ksink_fatal(t, s);
	}
	rd_kafka_error_destroy(e);
	return task_fail(t,
	                 "%s: %s of transaction \"%s\" failed: %s. The "
	                 "job stops; start it again to resume from the last "
	                 "completed checkpoint",
	                 t->who, step, x->id, msg);
}

static int begin(struct task *t, struct ksink *s)
{
	struct txn *x = s->mst;
	rd_kafka_error_t *e;

	if (x->open)
		return 0;
	e = rd_kafka_begin_transaction(s->rk);
	if (e)
		return call_failed(t, s, "begin", e);
	memcpy(x->base, s->delivered,
	       (size_t)s->out_partitions * sizeof(int64_t));
	x->open = true;
	return 0;
}

/* Adds the marker of checkpoint id to the open transaction: the offset
 * after this task's last record in each partition it wrote. */
static rd_kafka_error_t *add_marker(struct ksink *s, uint64_t id)
{
	struct txn *x = s->mst;
	rd_kafka_topic_partition_list_t *l =
	    rd_kafka_topic_partition_list_new(s->out_partitions);
	rd_kafka_consumer_group_metadata_t *g =
	    rd_kafka_consumer_group_metadata_new(x->id);
	char md[64];
	rd_kafka_error_t *e;

	snprintf(md, sizeof(md), MARKER_FMT, x->token, id);
	for (int p = 0; p < s->out_partitions; p++) {
		rd_kafka_topic_partition_t *tp;

		if (s->delivered[p] <= x->base[p])
			continue;
		tp = rd_kafka_topic_partition_list_add(l, s->cfg->topic, p);
		tp->offset = s->delivered[p] + 1;
		tp->metadata = xstrdup(md);
		tp->metadata_size = strlen(md);
	}
	e = rd_kafka_send_offsets_to_transaction(s->rk, l, g,
	                                         TXN_CALL_TIMEOUT_MS);
	rd_kafka_consumer_group_metadata_destroy(g);
	rd_kafka_topic_partition_list_destroy(l);
	return e;
}

/* The newest checkpoint id whose marker this run committed; 0 none, -1
 * when the broker cannot be asked (message in err). */
static int64_t read_marker(struct ksink *s, char *err, size_t errlen)
{
	static const char *const defaults[] = {"enable.auto.commit", "false",
	                                       NULL};
	struct txn *x = s->mst;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t e;
	char ce[256];
	int64_t best = 0;

	conf = kafka_conf_new("sink", s->cfg->brokers, defaults, NULL, err,
	                      errlen);
	if (!conf)
		return -1;
	if (rd_kafka_conf_set(conf, "group.id", x->id, ce, sizeof(ce)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "sink: group.id: %s", ce);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, ce, sizeof(ce));
	if (!rk) {
		/* librdkafka owns conf only when it succeeds. */
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "sink: cannot create a consumer: %s", ce);
		return -1;
	}
	l = rd_kafka_topic_partition_list_new(s->out_partitions);
	for (int p = 0; p < s->out_partitions; p++)
		rd_kafka_topic_partition_list_add(l, s->cfg->topic, p);
	e = rd_kafka_committed(rk, l, KAFKA_START_TIMEOUT_MS);
	if (e) {
		snprintf(err, errlen,
		         "cannot read the transaction markers (offsets of "
		         "group \"%s\"): %s",
		         x->id, rd_kafka_err2str(e));
		best = -1;
	}
	for (int i = 0; best >= 0 && i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &l->elems[i];
		char md[64];
		uint64_t token, id;

		if (!tp->metadata || tp->metadata_size >= sizeof(md))
			continue;
		memcpy(md, tp->metadata, tp->metadata_size);
		md[tp->metadata_size] = '\0';
		if (sscanf(md, "weir %" SCNx64 " %" SCNu64, &token, &id) == 2 &&
		    token == x->token && (int64_t)id > best)
			best = (int64_t)id;
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return best;
}

/* Pre-commit of checkpoint id: everything delivered, marker added. */
static int precommit(struct task *t, struct ksink *s, uint64_t id)
{
	struct txn *x = s->mst;
	rd_kafka_error_t *e;

	if (ksink_wait_delivered(t, s) < 0)
		return -1;
	if (!x->open || x->nrecs == 0)
		return 0;
	e = add_marker(s, id);
	if (e)
		return call_failed(t, s, "pre-commit (adding the marker)", e);
	x->precommitted = id;
	return 0;
}

/* After the first commit of a run: does the broker keep markers? If not,
 * say plainly what that means. */
static void check_marker(struct task *t, struct ksink *s, uint64_t id)
{
	char err[512];
	int64_t m;

	struct txn *x = s->mst;

	x->marker_checked = true;
	m = read_marker(s, err, sizeof(err));
	if (m < 0)
		log_warn(t->who, "%s", err);
	else if ((uint64_t)m < id)
		log_warn(
		    t->who,
		    "this broker did not keep the marker committed with "
		    "checkpoint %" PRIu64 "'s transaction (librdkafka's "
		    "embedded mock cluster does not store offsets "
		    "committed in transactions). After a crash weir cannot "
		    "tell whether the last transaction was committed and "
		    "writes it again: with this broker the output is "
		    "at-least-once",
		    id);
}

/* Commits the open transaction, covering checkpoint x->precommitted. */
static int commit(struct task *t, struct ksink *s)
{
	struct txn *x = s->mst;
	uint64_t id = x->precommitted;

	log_debug(t->who,
	          "committing checkpoint %" PRIu64 "'s transaction: "
	          "%" PRIu64 " record(s)",
	          id, x->nrecs);
	for (;;) {
		rd_kafka_error_t *e =
		    rd_kafka_commit_transaction(s->rk, TXN_CALL_TIMEOUT_MS);

		if (!e)
			break;
		if (rd_kafka_error_is_fatal(e) ||
		    !(rd_kafka_error_is_retriable(e) ||
		      rd_kafka_error_txn_requires_abort(e)))
			return call_failed(t, s, "commit", e);
		if (rd_kafka_error_is_retriable(e)) {
			log_warn(t->who,
			         "commit of checkpoint %" PRIu64 "'s "
			         "transaction: %s; retrying",
			         id, rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			if (task_stopping(t))
				return -1;
			continue;
		}
		log_warn(
		    t->who,
		    "commit of checkpoint %" PRIu64 "'s transaction failed: "
		    "%s. Aborting it and writing its %" PRIu64 " record(s) "
		    "again in a new transaction",
		    id, rd_kafka_error_string(e), x->nrecs);
		rd_kafka_error_destroy(e);
		e = rd_kafka_abort_transaction(s->rk, TXN_CALL_TIMEOUT_MS);
		if (e)
			return call_failed(t, s, "abort", e);
		x->open = false;
		if (begin(t, s) < 0 || produce_copies(t, s, &x->recs) < 0 ||
		    precommit(t, s, id) < 0)
			return -1;
	}
	log_debug(t->who,
	          "committed checkpoint %" PRIu64 "'s transaction: "
	          "%" PRIu64 " record(s)",
	          id, x->nrecs);
	x->commits++;
	x->open = false;
	x->precommitted = 0;
	x->recs.len = 0;
	x->nrecs = 0;
	if (!x->marker_checked)
		check_marker(t, s, id);
	return 0;
}

/* --- the task body ------------------------------------------------------ */

static int txn_process(struct task *t, void *st, struct batch *b)
{
	struct ksink *s = st;
	struct txn *x = s->mst;
	struct weir_reader copy;
	size_t at;
	int rc;

	for (uint32_t i = 0; i < b->n; i++) {
		if (x->precommitted) {
			put_copy(s, &x->held, &b->recs[i]);
			x->nheld++;
			continue;
		}
		if (begin(t, s) < 0)
			return -1;
		/* The copy is what is produced: a transaction written again
		 * after a crash is the same records, headers and all, and
		 * each record's headers and lineage are made once. */
		at = x->recs.len;
		put_copy(s, &x->recs, &b->recs[i]);
		x->nrecs++;
		copy = (struct weir_reader){x->recs.p, x->recs.len, at};
		rc = produce_copy(t, s, &copy);
		if (rc < 0)
			return -1;
		if (rc > 0) { /* skipped: not part of the transaction */
			x->recs.len = at;
			x->nrecs--;
		}
	}
	rd_kafka_poll(s->rk, 0);
	return 0;
}

/* Moves the held records into the open transaction. */
static int release_held(struct task *t, struct ksink *s)
{
	struct txn *x = s->mst;

	struct weir_reader r = {x->held.p, x->held.len, 0};

	if (x->nheld == 0)
		return 0;
	if (begin(t, s) < 0)
		return -1;
	/* Copy by copy: one too large for Kafka that sink.on_error "skip"
	 * skipped is not part of the transaction (as in txn_process). */
	while (r.pos < r.len) {
		size_t at = r.pos;
		int rc = produce_copy(t, s, &r);

		if (rc < 0)
			return -1;
		if (rc == 0) {
			weir_write(&x->recs, x->held.p + at, r.pos - at);
			x->nrecs++;
		}
	}
	rd_kafka_poll(s->rk, 0);
	x->held.len = 0;
	x->nheld = 0;
	return 0;
}

static int txn_flush(struct task *t, void *st, uint64_t id)
{
	struct ksink *s = st;

	/* Still waiting for an earlier commit (its checkpoint was aborted):
	 * this checkpoint covers both intervals. */
	if (release_held(t, s) < 0)
		return -1;
	return precommit(t, s, id);
}

static int txn_snapshot(struct task *t, void *st, uint64_t id,
                        struct weir_writer *w, char **offsets)
{
	struct ksink *s = st;
	struct txn *x = s->mst;
	bool keep = x->open && x->precommitted == id;

	(void)t;
	(void)offsets;
	weir_write_u64(w, x->token);
	weir_write_u64(w, id);
	weir_write_u64(w, keep ? x->nrecs : 0);
	weir_write_bytes(w, x->recs.p, keep ? x->recs.len : 0);
	return 0;
}

static int txn_restore(struct task *t, void *st, struct weir_reader *r,
                       uint32_t version)
{
	struct ksink *s = st;
	struct txn *x = s->mst;
	uint64_t id, n;
	const void *p;
	size_t len;

	if (version == 1 || version == eo_mode.state_version)
		return task_fail(
		    t,
		    "%s: this checkpoint was written with "
		    "\"exactly_once\": \"dedup\"; its sink state "
		    "cannot drive transactions. Switch the sink back "
		    "to \"dedup\", or move the checkpoint directory "
		    "aside to start fresh",
		    t->who);
	if (version != TXN_STATE_VERSION ||
	    weir_read_u64(r, &x->token) != WEIR_OK ||
	    weir_read_u64(r, &id) != WEIR_OK ||
	    weir_read_u64(r, &n) != WEIR_OK ||
	    weir_read_bytes(r, &p, &len) != WEIR_OK)
		return task_fail(t,
		                 "%s: unknown or truncated sink state "
		                 "(version %u)",
		                 t->who, version);
	x->recs.len = 0;
	weir_write(&x->recs, p, len);
	x->nrecs = n;
	x->restored_id = id;
	x->restored = true;
	return 0;
}

/* The restored checkpoint's transaction: committed before the crash, or
 * aborted when this instance fenced the old one? */
static int recover(struct task *t, struct ksink *s)
{
	struct txn *x = s->mst;
	uint64_t id = x->restored_id;
	int64_t t0 = now_mono_ms();
	char err[512];
	int64_t m = read_marker(s, err, sizeof(err));

	if (m < 0)
		return task_fail(t,
		                 "%s: %s. weir cannot tell whether the last "
		                 "transaction before the crash was committed; "
		                 "start the job again when the broker is "
		                 "reachable",
		                 t->who, err);
	if ((uint64_t)m >= id) {
		if ((uint64_t)m > id)
			log_warn(t->who,
			         "checkpoint %" PRId64 "'s transaction was "
			         "committed, but the job restores the older "
			         "checkpoint %" PRIu64
			         " (the newer one is damaged "
			         "or missing): output after checkpoint %" PRIu64
			         " will be written again",
			         m, id, id);
		log_info(t->who,
		         "transactions: checkpoint %" PRIu64 "'s transaction "
		         "(%" PRIu64 " record(s)) was committed before the "
		         "crash; nothing to write again",
		         id, x->nrecs);
		x->recs.len = 0;
		x->nrecs = 0;
		return 0;
	}
	if (begin(t, s) < 0 || produce_copies(t, s, &x->recs) < 0 ||
	    precommit(t, s, id) < 0 || commit(t, s) < 0)
		return -1;
	log_info(t->who,
	         "transactions: checkpoint %" PRIu64 "'s transaction was not "
	         "committed before the crash (starting this instance "
	         "aborted it); wrote its record(s) again and committed them "
	         "in %lld ms",
	         id, (long long)(now_mono_ms() - t0));
	return 0;
}

static int txn_start(struct task *t, void *st)
{
	struct ksink *s = st;
	struct txn *x = s->mst;
	uint64_t n = x->nrecs;
	rd_kafka_error_t *e;

	/* Fences every earlier producer with this id; the broker aborts the
	 * transaction it left open. */
	e = rd_kafka_init_transactions(s->rk, KAFKA_START_TIMEOUT_MS);
	if (e)
		return call_failed(t, s, "init", e);
	if (!x->restored) {
		if (getentropy(&x->token, sizeof(x->token)) < 0)
			x->token = (uint64_t)now_mono_us() ^ (uint64_t)getpid();
		log_info(t->who,
		         "transactions: id \"%s\", no checkpoint to "
		         "restore",
		         x->id);
		return 0;
	}
	log_info(t->who,
	         "transactions: id \"%s\", restored checkpoint %" PRIu64
	         " with %" PRIu64 " record(s) in its transaction",
	         x->id, x->restored_id, n);
	if (n == 0)
		return 0;
	/* The recovery commit is a run's first: it checks the marker too. */
	return recover(t, s);
}

static int txn_complete(struct task *t, void *st, uint64_t id)
{
	struct ksink *s = st;
	struct txn *x = s->mst;

	if (!x->precommitted || id < x->precommitted)
		return 0;
	if (commit(t, s) < 0)
		return -1;
	return release_held(t, s);
}

static void txn_close(struct task *t, struct ksink *s)
{
	struct txn *x = s->mst;
	rd_kafka_error_t *e;

	if (!x->open)
		return;
	/* An open transaction would hold back read_committed readers until
	 * it times out. Its records are after the last completed checkpoint
	 * (restored from it, or replayed from the source on restart). */
	e = rd_kafka_abort_transaction(s->rk, 5000);
	if (e) {
		log_warn(t ? t->who : "sink",
		         "could not abort the open "
		         "transaction: %s; the broker aborts it when the job "
		         "starts again or when it times out",
		         rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return;
	}
	log_info(t ? t->who : "sink",
	         "aborted the open transaction (%" PRIu64
	         " record(s) after the last completed checkpoint)",
	         x->nrecs + x->nheld);
}

static bool user_set(const struct job_sink_cfg *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->properties.n; i++)
		if (!strcmp(cfg->properties.items[i].key, key))
			return true;
	return false;
}

static int txn_setup(struct ksink *s, struct task *t, rd_kafka_conf_t *conf,
                     char *err, size_t errlen)
{
	struct txn *x = xcalloc(1, sizeof(*x));
	const struct job_ckpt_cfg *ck = s->ckpt;
	char prefix[200], e[256], v[32];
	size_t sz = sizeof(prefix);

	s->mst = x;
	x->base = xcalloc((size_t)s->out_partitions, sizeof(int64_t));
	if (rd_kafka_conf_get(conf, "transactional.id", prefix, &sz) !=
	        RD_KAFKA_CONF_OK ||
	    !prefix[0])
		snprintf(prefix, sizeof(prefix), "weir-%s-sink", s->job_name);
	/* Instances must not fence each other: each has ids of its own. */
	if (job_instance_count(s->cfg->instance) > 1)
		snprintf(x->id, sizeof(x->id), "%s-i%d-%d", prefix,
		         job_instance_index(s->cfg->instance), t->sub);
	else
		snprintf(x->id, sizeof(x->id), "%s-%d", prefix, t->sub);
	if (rd_kafka_conf_set(conf, "transactional.id", x->id, e, sizeof(e)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "sink.properties.transactional.id: %s",
		         e);
		return -1;
	}
	/* The transaction stays open for a checkpoint interval and its
	 * completion; a few failed checkpoints in a row must not time it
	 * out. 900 s is Kafka's default transaction.max.timeout.ms. */
	if (!user_set(s->cfg, "transaction.timeout.ms")) {
		int64_t ms;

		/* Both are at most a day (the job file's range). */
		assert(ck->interval_ms <= JOB_MAX_MS &&
		       ck->timeout_ms <= JOB_MAX_MS);
		ms = 4 * (ck->interval_ms + ck->timeout_ms);
		ms = ms < 60000 ? 60000 : ms > 900000 ? 900000 : ms;
		snprintf(v, sizeof(v), "%lld", (long long)ms);
		if (rd_kafka_conf_set(conf, "transaction.timeout.ms", v, e,
		                      sizeof(e)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen,
			         "sink: transaction.timeout.ms: %s", e);
			return -1;
		}
	}
	return 0;
}

/* A fenced transactional producer: another instance took over. */
static int txn_fatal(struct task *t, struct ksink *s, rd_kafka_resp_err_t e,
                     const char *reason)
{
	struct txn *x = s->mst;

	if (e != RD_KAFKA_RESP_ERR__FENCED &&
	    e != RD_KAFKA_RESP_ERR_PRODUCER_FENCED &&
	    e != RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
		return 0;
	return task_fail(t,
	                 "%s: fenced: another producer with transactional "
	                 "id \"%s\" has started (%s), so this instance "
	                 "may no longer write. It stops without "
	                 "committing; its open transaction is aborted by "
	                 "the broker. If the other instance is not meant "
	                 "to run, stop it and start this job again",
	                 t->who, x->id, reason);
}

const struct ksink_mode txn_mode = {
    .name = "exactly-once by transactions",
    .state_version = TXN_STATE_VERSION,
    .setup = txn_setup,
    .process = txn_process,
    .flush = txn_flush,
    .snapshot = txn_snapshot,
    .restore = txn_restore,
    .start = txn_start,
    .complete = txn_complete,
    .fatal = txn_fatal,
    .close = txn_close,
    .free = txn_free,
};
