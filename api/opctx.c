/*
 * opctx.c - the operator adapter (see opctx.h) and the functions of the
 * public API that operators call through their weir_ctx_t.
 */
#include "opctx.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrec.h"
#include "flow.h"
#include "keyed_state.h"
#include "keyfield.h"
#include "log.h"
#include "timer_index.h"
#include "util.h"

#define SNAPSHOT_WAIT_LOG_US 10000

/* The managed keyed state's mark in a snapshot's payload. */
enum { MANAGED_NONE = 0, MANAGED_INLINE = 1, MANAGED_CHAIN = 2 };

/* When a new base of incremental keyed state is due: see
 * materialize_due. */
#define MATERIALIZE_MIN_RAW ((uint64_t)64 << 10)
#define MATERIALIZE_MAX_DELTAS 256
#define MATERIALIZE_RETRY_MS 10000
#define BASE_INSTEAD_KEYS 100000

struct weir_ctx {
	const weir_operator_t *op; /* &optab */
	weir_operator_t optab;     /* the runtime's copy (registry_adopt) */
	const struct job_op_cfg *cfg;
	int op_index;
	struct task *t; /* NULL while validating */
	struct opctx_dead_letters
	    dl; /* on_error dead-letter; send NULL: none */
	void *state;
	bool opened;
	/* Managed keyed state, when the operator has a "key". */
	struct keyed_state *ks;
	/* Checkpoints of ks: incremental (a chain of base and deltas) or
	 * full, and when a new base is due (checkpoint.materialize_delta_pct). */
	bool incremental;
	int materialize_pct;
	struct fpath *keypath;
	const struct weir_record *key_of; /* record whose key is set */
	/* The current key was set by the runtime (a timer firing), not
	 * taken from the input record. */
	bool key_fixed;
	/* Timers and expiry (keyed operators): the order they come due in,
	 * built from the state on the task's first turn (timers_built). */
	struct timer_index *timers;
	bool timers_built;
	bool state_changed; /* process put or deleted a name (ttl_ms) */
	bool expiry_set;    /* ... or set the expiry itself, which wins */
	/* What the operator's callback is, for weir_emit outside process:
	 * on_timer (firing, of domain at time) or end_input (ending). */
	bool firing, ending;
	int fire_domain;
	int64_t fire_time;
	uint32_t out_seq;    /* seq of records emitted without an input */
	char *no_timer_emit; /* why they may not be (NULL: they may) */
	/* The input record's value read as JSON, shared by the operator,
	 * its keyed state and its routing (opctx_input_json); in_json_of is
	 * the record it was last pointed at. json: opctx_json of a record
	 * that is not the input. Both keep their token buffers. */
	struct jrec in_json;
	const struct weir_record *in_json_of;
	struct jrec json;
	char who[96];
	char err[2048];
};

struct weir_ctx *opctx_new(const weir_operator_t *op,
                           const struct job_op_cfg *cfg, int op_index,
                           struct task *t, const struct opctx_dead_letters *dl)
{
	struct weir_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->optab = *op;
	ctx->op = &ctx->optab;
	ctx->cfg = cfg;
	ctx->op_index = op_index;
	ctx->t = t;
	if (dl)
		ctx->dl = *dl;
	jrec_init(&ctx->in_json, NULL, 0);
	jrec_init(&ctx->json, NULL, 0);
	if (cfg->key_field || cfg->one_key)
		ctx->ks = kstate_new();
	if (cfg->key_field)
		ctx->keypath = fpath_new(cfg->key_field);
	if (t)
		snprintf(ctx->who, sizeof(ctx->who), "%s", t->who);
	else
		snprintf(ctx->who, sizeof(ctx->who), "operators[%d] %s",
		         op_index, op->name);
	return ctx;
}

/* "where.op: bad" -> "operators[0].where.op: bad"; a message that does not
 * start with a field path gets "operators[0] (filter): ". */
static void add_prefixed(struct weir_ctx *ctx, struct errlist *errs,
                         const char *msg)
{
	char *copy = xstrdup(msg), *line, *save = NULL;

	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *colon = strstr(line, ": ");
		bool is_path = colon && colon > line &&
		               !memchr(line, ' ', (size_t)(colon - line));

		if (is_path)
			errlist_add(errs, "operators[%d].%s", ctx->op_index,
			            line);
		else
			errlist_add(errs, "operators[%d] (%s): %s",
			            ctx->op_index, ctx->op->name, line);
	}
	free(copy);
}

int opctx_open(struct weir_ctx *ctx, struct errlist *errs)
{
	ctx->err[0] = '\0';
	if (!ctx->op->open) {
		ctx->opened = true;
		return 0;
	}
	if (ctx->op->open(ctx, ctx->cfg->config_json, &ctx->state) != WEIR_OK) {
		add_prefixed(ctx, errs,
		             ctx->err[0] ? ctx->err
		                         : "open failed without a message");
		return -1;
	}
	ctx->opened = true;
	return 0;
}

void opctx_free(struct weir_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->opened && ctx->op->close)
		ctx->op->close(ctx, ctx->state);
	kstate_free(ctx->ks);
	tindex_free(ctx->timers);
	free(ctx->no_timer_emit);
	fpath_free(ctx->keypath);
	jrec_clear(&ctx->in_json);
	jrec_clear(&ctx->json);
	if (ctx->dl.free)
		ctx->dl.free(ctx->dl.arg);
	free(ctx);
}

/* --- the body ------------------------------------------------------------- */

static int expire_by_record(struct weir_ctx *ctx,
                            const struct weir_record *rec);
static void ttl_after(struct weir_ctx *ctx, const struct weir_record *rec);
static void timers_build(struct weir_ctx *ctx);

static int op_process(struct task *t, void *st, struct batch *b)
{
	struct weir_ctx *ctx = st;

	if (ctx->ks && !ctx->timers_built)
		timers_build(ctx);
	for (uint32_t i = 0; i < b->n; i++) {
		task_set_input(t, &b->recs[i]);
		/* Records are compared by address, and batches reuse them. */
		ctx->key_of = NULL;
		ctx->key_fixed = false;
		ctx->in_json_of = NULL;
		ctx->state_changed = false;
		ctx->expiry_set = false;
		ctx->err[0] = '\0';
		if (ctx->ks && expire_by_record(ctx, &b->recs[i]) < 0)
			return -1;
		if (ctx->op->process(ctx, ctx->state, &b->recs[i]) != WEIR_OK) {
			task_set_input(t, NULL);
			if (task_stopping(t))
				return -1;
			return task_fail(
			    t, "%s: %s", t->who,
			    ctx->err[0] ? ctx->err
			                : "process failed without a message");
		}
		if (ctx->state_changed && !ctx->expiry_set &&
		    ctx->cfg->ttl_ms > 0)
			ttl_after(ctx, &b->recs[i]);
	}
	task_set_input(t, NULL);
	return 0;
}

static int op_flush(struct task *t, void *st, uint64_t id)
{
	struct weir_ctx *ctx = st;
	char err[512];

	if (ctx->dl.flush &&
	    ctx->dl.flush(ctx->dl.arg, t, err, sizeof(err)) < 0)
		return task_fail(t, "%s: checkpoint %llu: %s", t->who,
		                 (unsigned long long)id, err);
	return 0;
}

/* A snapshot's payload: u64 length of the operator's own bytes, those
 * bytes, then the managed keyed state: u64 1 and its section (full
 * snapshots), u64 2 (incremental: it is in the chain of files _metadata
 * lists for the task), or u64 0 (none). The operator writes its bytes
 * here, on the task thread; op_snapshot_tail captures the keyed state. */
static int op_snapshot(struct task *t, void *st, uint64_t id,
                       struct weir_writer *w, char **offsets)
{
	struct weir_ctx *ctx = st;
	size_t at, raw;

	(void)offsets;
	ctx->err[0] = '\0';
	weir_write_u64(w, 0);
	at = w->len;
	if (ctx->op->snapshot &&
	    ctx->op->snapshot(ctx, ctx->state, w) != WEIR_OK)
		return task_fail(t,
		                 "%s: snapshot of checkpoint %llu failed: %s",
		                 t->who, (unsigned long long)id,
		                 ctx->err[0] ? ctx->err : "no message");
	raw = w->len - at;
	for (int i = 0; i < 8; i++)
		w->p[at - 8 + i] = (char)((uint64_t)raw >> (8 * i));
	weir_write_u64(w, !ctx->ks ? MANAGED_NONE
	                  : ctx->incremental && !flow_is_savepoint(t->flow, id)
	                      ? MANAGED_CHAIN
	                      : MANAGED_INLINE);
	return 0;
}

/* Whether checkpoint's base is due: the deltas since the newest base
 * outweigh materialize_pct of it (and at least MATERIALIZE_MIN_RAW, so a
 * small state is not rewritten for every change), or there are
 * MATERIALIZE_MAX_DELTAS of them; never while one is being written, nor
 * within MATERIALIZE_RETRY_MS of one that failed. */
static bool materialize_due(const struct weir_ctx *ctx, size_t delta_len)
{
	const struct task_chain *c = &ctx->t->chain;
	uint64_t base = atomic_load(&c->base_raw);
	uint64_t deltas = atomic_load(&c->delta_raw) + delta_len;
	int64_t failed = atomic_load(&c->mat_failed_ms);

	if (atomic_load(&c->materializing) ||
	    (failed && now_mono_ms() - failed < MATERIALIZE_RETRY_MS))
		return false;
	if (atomic_load(&c->deltas) + 1 >= MATERIALIZE_MAX_DELTAS)
		return true;
	return deltas >= MATERIALIZE_MIN_RAW &&
	       deltas > base / 100 * (uint64_t)ctx->materialize_pct +
	                    base % 100 * (uint64_t)ctx->materialize_pct / 100;
}

/* Whether this checkpoint should write a base rather than a delta: a
 * delta is copied on the task thread at the barrier, so one that would
 * hold most keys (a state built in one interval, a job that touches every
 * key) stalls the task for as long as copying the state takes, while a
 * base is frozen in O(key groups) and written by the persister. Past
 * BASE_INSTEAD_KEYS changed keys, half of all or more, it is a base; not
 * while a materialization holds the frozen view. */
static bool base_instead(const struct weir_ctx *ctx)
{
	size_t changed = kstate_changed(ctx->ks);

	return changed >= BASE_INSTEAD_KEYS &&
	       changed >= kstate_keys(ctx->ks) / 2 &&
	       !atomic_load(&ctx->t->chain.materializing);
}

/* Publishes the number of keys for the metrics endpoint (task.h). */
static void publish_keys(struct task *t, struct weir_ctx *ctx)
{
	atomic_store_explicit(&t->stats.state_keys, kstate_keys(ctx->ks),
	                      memory_order_relaxed);
}

/* Captures the keyed state for the persister. Full snapshots freeze it
 * (SNAP_INLINE); incremental ones write a base when there is no chain or
 * most keys changed (SNAP_BASE), else the delta (SNAP_DELTA), and freeze
 * it as well when a new base is due. A freeze waits only when a view is
 * still out (an aborted checkpoint's, queued behind others): say so when
 * it is long. */
static int op_snapshot_tail(struct task *t, void *st, uint64_t id,
                            struct snap_tail *tail)
{
	struct weir_ctx *ctx = st;
	struct task_chain *c = &t->chain;
	int64_t t0 = now_mono_us(), waited;

	if (!ctx->ks)
		return 0;
	publish_keys(t, ctx);
	/* A savepoint holds all of it, in the task's file: self-contained.
	 * What changed since the last delta stays tracked for the next. */
	if (!ctx->incremental || flow_is_savepoint(t->flow, id)) {
		kstate_capture(ctx->ks, tail);
	} else if (atomic_exchange(&c->need_base, false) ||
	           kstate_overflowed(ctx->ks) || base_instead(ctx)) {
		kstate_capture_base(ctx->ks, tail);
	} else {
		struct weir_writer dw = {0};

		tail->kind = SNAP_DELTA;
		if (kstate_delta(ctx->ks, &dw) > 0) {
			tail->delta = dw.p;
			tail->delta_len = dw.len;
		} else {
			free(dw.p);
		}
		if (materialize_due(ctx, tail->delta_len)) {
			atomic_store(&c->materializing, true);
			kstate_capture_base(ctx->ks, tail);
			tail->kind = SNAP_DELTA;
			tail->materialize = true;
		}
	}
	waited = now_mono_us() - t0;
	if (waited >= SNAPSHOT_WAIT_LOG_US)
		log_info(t->who,
		         "checkpoint %llu: waited %lld ms to capture keyed "
		         "state (%s)",
		         (unsigned long long)id, (long long)(waited / 1000),
		         tail->kind == SNAP_DELTA && !tail->materialize
		             ? "the delta of its changed keys"
		             : "for the previous snapshot to be written");
	return 0;
}

static void op_idle(struct task *t, void *st)
{
	struct weir_ctx *ctx = st;

	kstate_idle(ctx->ks);
	publish_keys(t, ctx);
}

int opctx_restore_part(struct weir_ctx *ctx, struct weir_reader *r,
                       uint32_t version, bool own, bool rescaled, bool *chained)
{
	struct task *t = ctx->t;
	struct weir_reader raw = {0};
	uint64_t raw_len, managed;
	char err[256];

	ctx->err[0] = '\0';
	if (weir_read_u64(r, &raw_len) != WEIR_OK ||
	    weir_read_remaining(r) < raw_len)
		return task_fail(t, "%s: the checkpoint's state is truncated",
		                 t->who);
	raw.p = r->p + r->pos;
	raw.len = (size_t)raw_len;
	r->pos += (size_t)raw_len;
	if (raw_len > 0 && rescaled)
		return task_fail(
		    t,
		    "%s: the job is restored with another "
		    "parallelism, but %s keeps state of its own "
		    "(snapshot/restore), which cannot be split by "
		    "key. Restore with the parallelism the "
		    "checkpoint was taken with, or keep the state in "
		    "managed keyed state (weir_state_*)",
		    t->who, ctx->op->name);
	if (own && (raw_len > 0 || ctx->op->restore)) {
		if (!ctx->op->restore)
			return task_fail(t,
			                 "%s: the checkpoint holds state but "
			                 "the operator has no restore",
			                 t->who);
		if (ctx->op->restore(ctx, ctx->state, &raw, version) != WEIR_OK)
			return task_fail(t,
			                 "%s: restore failed (state version "
			                 "%u): %s",
			                 t->who, version,
			                 ctx->err[0] ? ctx->err : "no message");
	}
	if (weir_read_u64(r, &managed) != WEIR_OK)
		return task_fail(t, "%s: the checkpoint's state is truncated",
		                 t->who);
	if (managed > MANAGED_CHAIN)
		return task_fail(t,
		                 "%s: the checkpoint's state has an unknown "
		                 "keyed-state mark %llu: the file is damaged",
		                 t->who, (unsigned long long)managed);
	if (managed && !ctx->ks)
		return task_fail(
		    t,
		    "%s: the checkpoint holds keyed state, but the "
		    "operator has no \"key\" now: run the job with "
		    "the key it had, or use a new checkpoint.dir",
		    t->who);
	if (managed == MANAGED_CHAIN && !chained)
		return task_fail(
		    t,
		    "%s: the checkpoint's keyed state is in a chain "
		    "of files, but the task is not keyed: the file "
		    "is damaged",
		    t->who);
	if (chained)
		*chained = managed == MANAGED_CHAIN;
	if (managed == MANAGED_INLINE &&
	    kstate_restore(ctx->ks, r, t->sub, t->parallelism, err,
	                   sizeof(err)) < 0)
		return task_fail(t, "%s: %s", t->who, err);
	return 0;
}

int opctx_payload_keyed(const void *payload, size_t len, struct keyed_state *ks,
                        bool *keyed, bool *chained, char *err, size_t errlen)
{
	struct weir_reader r = {.p = payload, .len = len};
	uint64_t raw_len, managed;

	*keyed = *chained = false;
	if (weir_read_u64(&r, &raw_len) != WEIR_OK ||
	    weir_read_remaining(&r) < raw_len) {
		snprintf(err, errlen, "the state is truncated");
		return -1;
	}
	r.pos += (size_t)raw_len;
	if (weir_read_u64(&r, &managed) != WEIR_OK || managed > MANAGED_CHAIN) {
		snprintf(err, errlen,
		         "the state has no valid keyed-state mark: the file "
		         "is damaged or is not an operator's");
		return -1;
	}
	*keyed = managed != MANAGED_NONE;
	*chained = managed == MANAGED_CHAIN;
	if (managed == MANAGED_INLINE)
		return kstate_restore(ks, &r, 0, 1, err, errlen);
	return 0;
}

struct keyed_state *opctx_keyed_state(struct weir_ctx *ctx)
{
	return ctx->ks;
}

void opctx_set_checkpoints(struct weir_ctx *ctx, bool incremental,
                           int materialize_pct)
{
	ctx->incremental = incremental && ctx->ks;
	ctx->materialize_pct = materialize_pct > 0 ? materialize_pct : 100;
	if (ctx->ks)
		kstate_track(ctx->ks, ctx->incremental);
}

static int op_restore(struct task *t, void *st, struct weir_reader *r,
                      uint32_t version)
{
	(void)t;
	return opctx_restore_part(st, r, version, true, false, NULL);
}

static int op_complete(struct task *t, void *st, uint64_t id)
{
	struct weir_ctx *ctx = st;

	if (ctx->op->checkpoint_complete &&
	    ctx->op->checkpoint_complete(ctx, ctx->state, id) != WEIR_OK)
		return task_fail(t, "%s: checkpoint_complete(%llu) failed: %s",
		                 t->who, (unsigned long long)id,
		                 ctx->err[0] ? ctx->err : "no message");
	return 0;
}

static int op_watermark(struct task *t, void *st, int64_t wm);
static int64_t op_tick(struct task *t, void *st);

static int op_aborted(struct task *t, void *st, uint64_t id)
{
	struct weir_ctx *ctx = st;

	ctx->err[0] = '\0';
	if (ctx->op->checkpoint_aborted &&
	    ctx->op->checkpoint_aborted(ctx, ctx->state, id) != WEIR_OK)
		return task_fail(t, "%s: checkpoint_aborted(%llu) failed: %s",
		                 t->who, (unsigned long long)id,
		                 ctx->err[0] ? ctx->err : "no message");
	return 0;
}

void opctx_forbid_timer_emit(struct weir_ctx *ctx, const char *why)
{
	free(ctx->no_timer_emit);
	ctx->no_timer_emit = xstrdup(why);
}

static void op_close(struct task *t, void *st)
{
	(void)t;
	opctx_free(st);
}

void opctx_bind(struct weir_ctx *ctx, struct task_body *body)
{
	memset(body, 0, sizeof(*body));
	body->st = ctx;
	body->state_version = ctx->op->state_version;
	body->process = op_process;
	body->flush = op_flush;
	if (ctx->op->snapshot || ctx->ks) {
		body->snapshot = op_snapshot;
		body->snapshot_tail = op_snapshot_tail;
	}
	if (ctx->ks) {
		body->idle = op_idle;
		body->tick = op_tick;
		ctx->t->stats.keyed_state = true;
	}
	body->watermark = op_watermark;
	body->aborted = op_aborted;
	body->restore = op_restore;
	body->complete = op_complete;
	body->close = op_close;
}

/* --- public API ------------------------------------------------------------ */

/* The number of this stage's next output of the current input: its
 * weir_record_lineage seq. The sink numbers outputs of one source record
 * itself (connectors/lineage.h), so this one only has to be right for
 * what an operator sees. */
static uint32_t next_seq(struct task *t)
{
	return t->emit_seq < UINT32_MAX ? t->emit_seq++ : UINT32_MAX;
}

/* A record of on_timer or end_input: it has no input record, so no
 * headers, no source partition or offset in its lineage, and the timer's
 * time (event time) or the watermark as its timestamp. */
static int emit_own(weir_ctx_t *ctx, const void *key, size_t key_len,
                    const void *value, size_t value_len)
{
	struct task *t = ctx->t;
	struct weir_record like = {.topic = "", .partition = -1, .offset = -1};

	if (ctx->no_timer_emit)
		return task_fail(
		    t,
		    "%s: %s emitted a record, which has no source "
		    "record: %s cannot write it exactly once, "
		    "because de-duplication can only recognise "
		    "replayed outputs of source records. Set the "
		    "sink's \"exactly_once\": \"transactions\", or "
		    "\"delivery\": \"at-least-once\"",
		    t->who, ctx->firing ? "on_timer" : "end_input",
		    ctx->no_timer_emit);
	like.seq = ctx->out_seq < UINT32_MAX ? ctx->out_seq++ : UINT32_MAX;
	if (ctx->firing && ctx->fire_domain == WEIR_TIME_EVENT)
		like.timestamp = ctx->fire_time;
	else
		like.timestamp =
		    t->wm == WM_MIN || t->wm == WM_END ? -1 : t->wm;
	return task_emit(t, key, key_len, value, value_len, NULL, 0, 0, &like) <
	               0
	           ? WEIR_ERR
	           : WEIR_OK;
}

int weir_emit(weir_ctx_t *ctx, const void *key, size_t key_len,
              const void *value, size_t value_len)
{
	struct task *t = ctx->t;
	struct weir_record like;

	if (t && !t->cur_in && (ctx->firing || ctx->ending))
		return emit_own(ctx, key, key_len, value, value_len);
	if (!t || !t->cur_in)
		return weir_error(ctx, "weir_emit called outside process, "
		                       "on_timer and end_input");
	like = *t->cur_in;
	like.seq = next_seq(t);
	return task_emit(t, key, key_len, value, value_len, like.hdrs,
	                 like.hdrs_len, like.nhdrs, &like) < 0
	           ? WEIR_ERR
	           : WEIR_OK;
}

int weir_forward(weir_ctx_t *ctx, const weir_record_t *rec)
{
	struct task *t = ctx->t;
	struct weir_record like;

	if (!t || !t->cur_in)
		return weir_error(ctx, "weir_forward called outside process");
	like = *rec;
	like.seq = next_seq(t);
	return task_emit(t, rec->key, rec->key_len, rec->value, rec->value_len,
	                 rec->hdrs, rec->hdrs_len, rec->nhdrs, &like) < 0
	           ? WEIR_ERR
	           : WEIR_OK;
}

int weir_error(weir_ctx_t *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
	return WEIR_ERR;
}

int weir_record_error(weir_ctx_t *ctx, const weir_record_t *rec,
                      const char *fmt, ...)
{
	struct task *t = ctx->t;
	char why[512], smp[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!t)
		return weir_error(ctx, "%s", why);
	switch (ctx->cfg->on_error) {
	case ON_ERROR_FAIL:
		record_sample(rec, smp, sizeof(smp));
		return task_fail(
		    t,
		    "%s: record %s[%d]@%lld: %s (value: %s). "
		    "on_error is \"fail\", so the job stops; no "
		    "checkpoint includes this record. Fix the input, "
		    "or set on_error to \"skip\" or \"dead-letter\", "
		    "and start the job again",
		    t->who, rec->topic, rec->partition, (long long)rec->offset,
		    why, smp);
	case ON_ERROR_DEAD_LETTER: {
		char err[512];

		if (ctx->dl.send(ctx->dl.arg, rec, t->who, why, err,
		                 sizeof(err)) < 0)
			return task_fail(t, "%s: %s", t->who, err);
		atomic_fetch_add(&t->n_skipped, 1);
		return WEIR_OK;
	}
	case ON_ERROR_SKIP:
		break;
	}
	task_skipped(
	    t, rec, why,
	    "on_error \"skip\"; use \"fail\" or \"dead-letter\" to keep "
	    "them");
	return WEIR_OK;
}

void weir_log(weir_ctx_t *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info(ctx->who, "%s", msg);
}

int weir_validating(const weir_ctx_t *ctx)
{
	return ctx->t == NULL;
}

int weir_task_index(const weir_ctx_t *ctx)
{
	return ctx->t ? ctx->t->sub : 0;
}

int weir_task_parallelism(const weir_ctx_t *ctx)
{
	return ctx->t ? ctx->t->parallelism : ctx->cfg->parallelism;
}

struct jrec *opctx_input_json(struct weir_ctx *ctx)
{
	const struct weir_record *rec = ctx->t->cur_in;

	assert(rec);
	if (ctx->in_json_of != rec) {
		jrec_reset(&ctx->in_json, rec->value, rec->value_len);
		ctx->in_json_of = rec;
	}
	return &ctx->in_json;
}

struct jrec *opctx_json(weir_ctx_t *ctx, const weir_record_t *rec)
{
	if (ctx->t && rec == ctx->t->cur_in)
		return opctx_input_json(ctx);
	jrec_reset(&ctx->json, rec->value, rec->value_len);
	return &ctx->json;
}

int opctx_key_field(weir_ctx_t *ctx, const weir_record_t *rec,
                    const struct fpath *p, struct jrec **jp, int *rc)
{
	struct jrec *j = opctx_json(ctx, rec);
	int tok;

	if (jp)
		*jp = j;
	if (!jrec_ok(j)) {
		*rc = weir_record_error(ctx, rec, "%s", j->err);
		return -1;
	}
	tok = jrec_find_scalar(j, p);
	if (tok == JREC_MISSING)
		*rc = weir_record_error(ctx, rec, "field \"%s\" is missing",
		                        fpath_str(p));
	else if (tok == JREC_NOT_SCALAR)
		*rc =
		    weir_record_error(ctx, rec,
		                      "field \"%s\" is an object or an array; "
		                      "a key is a string, number, boolean or "
		                      "null",
		                      fpath_str(p));
	return tok < 0 ? -1 : tok;
}

/* --- managed keyed state ---------------------------------------------------- */

/* Points the keyed state at the current key: the timer's while one fires
 * (key_fixed), else the current record's, computed from its "key" field
 * the first time a record asks (the same text routing used; a record
 * without the field has the empty key). */
static int current_key(weir_ctx_t *ctx)
{
	const struct weir_record *rec = ctx->t ? ctx->t->cur_in : NULL;
	const char *k;
	size_t len;
	char buf[64];

	if (!ctx->ks)
		return WEIR_ENOTSUP;
	if (ctx->key_fixed)
		return WEIR_OK;
	if (!rec)
		return weir_error(ctx, "keyed state used outside process and "
		                       "on_timer (there is no current key)");
	if (ctx->key_of == rec)
		return WEIR_OK;
	if (ctx->keypath) {
		k = key_text(opctx_input_json(ctx), ctx->keypath, buf,
		             sizeof(buf), &len);
	} else {
		k = "";
		len = 0;
	}
	kstate_set_key(ctx->ks, k, len);
	ctx->key_of = rec;
	return WEIR_OK;
}

/* Names that begin with the byte 0 are the runtime's (weir.h). */
static bool reserved(const void *name, size_t len)
{
	return len > 0 && *(const unsigned char *)name == 0;
}

static int refuse_reserved(weir_ctx_t *ctx, const char *fn)
{
	return weir_error(ctx,
	                  "%s: state names that begin with the byte 0 are "
	                  "weir's own (timers, expiry); give the name "
	                  "another first byte",
	                  fn);
}

int weir_state_key(weir_ctx_t *ctx, const void **key, size_t *len)
{
	int rc = current_key(ctx);

	if (rc == WEIR_OK)
		kstate_current_key(ctx->ks, key, len);
	return rc;
}

int weir_state_get(weir_ctx_t *ctx, const void *name, size_t name_len,
                   const void **value, size_t *value_len)
{
	int rc = current_key(ctx);

	if (rc != WEIR_OK)
		return rc;
	if (reserved(name, name_len))
		return refuse_reserved(ctx, "weir_state_get");
	return kstate_get(ctx->ks, name, name_len, value, value_len) < 0
	           ? WEIR_EEOF
	           : WEIR_OK;
}

int weir_state_put(weir_ctx_t *ctx, const void *name, size_t name_len,
                   const void *value, size_t value_len)
{
	int rc = current_key(ctx);

	if (rc != WEIR_OK)
		return rc;
	if (reserved(name, name_len))
		return refuse_reserved(ctx, "weir_state_put");
	kstate_put(ctx->ks, name, name_len, value, value_len);
	ctx->state_changed = true;
	return WEIR_OK;
}

int weir_state_delete(weir_ctx_t *ctx, const void *name, size_t name_len)
{
	int rc = current_key(ctx);

	if (rc != WEIR_OK)
		return rc;
	if (reserved(name, name_len))
		return refuse_reserved(ctx, "weir_state_delete");
	kstate_delete(ctx->ks, name, name_len);
	ctx->state_changed = true;
	return WEIR_OK;
}

/* weir_state_iterate's visit: the operator's names only. */
struct visible {
	weir_state_fn fn;
	void *arg;
};

static int visit_visible(void *arg, const void *name, size_t name_len,
                         const void *value, size_t value_len)
{
	struct visible *v = arg;

	if (reserved(name, name_len))
		return 0;
	return v->fn(v->arg, name, name_len, value, value_len);
}

int weir_state_iterate(weir_ctx_t *ctx, weir_state_fn fn, void *arg)
{
	struct visible v = {fn, arg};
	int rc = current_key(ctx);

	return rc != WEIR_OK ? rc : kstate_iterate(ctx->ks, visit_visible, &v);
}

/* --- timers and expiry -------------------------------------------------------
 *
 * A timer is a state name of its key: the byte 0, 'T', the domain byte and
 * the time as 8 bytes big-endian, with an empty value. A key's expiry is
 * the name 0 'E' with the time (8 bytes big-endian) as its value, and an
 * index entry in the runtime's own domain. Being names, both are
 * checkpointed (a changed key is in the delta), restored and moved with
 * their key group like any state; the index (timer_index.h) only orders
 * them and is rebuilt from the names on the task's first turn. A popped
 * index entry whose name is gone (deleted, fired, the key cleared) or,
 * for expiry, holds another time (moved) is stale and skipped.
 */

#define TIMER_NAME_LEN 11
#define EXPIRY_DOMAIN 2
static const char expiry_name[2] = {0, 'E'};

static void put_be64(unsigned char *b, int64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
}

static int64_t get_be64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return (int64_t)v;
}

static void timer_name(unsigned char *n, int domain, int64_t time)
{
	n[0] = 0;
	n[1] = 'T';
	n[2] = (unsigned char)domain;
	put_be64(n + 3, time);
}

/* The key's expiry: true with *time, false when it has none. */
static bool expiry_of(struct weir_ctx *ctx, int64_t *time)
{
	const void *v;
	size_t vl;

	if (kstate_get(ctx->ks, expiry_name, 2, &v, &vl) < 0 || vl != 8)
		return false;
	*time = get_be64(v);
	return true;
}

struct live_arg {
	struct weir_ctx *ctx;
	int domain;
};

/* Whether an index entry still has its timer or expiry (compaction). */
static bool entry_live(void *arg, int64_t time, const void *key, size_t klen)
{
	const struct live_arg *la = arg;
	unsigned char n[TIMER_NAME_LEN];
	const void *v;
	size_t vl;

	if (la->domain == EXPIRY_DOMAIN)
		return kstate_get_of(la->ctx->ks, key, klen, expiry_name, 2, &v,
		                     &vl) == 0 &&
		       vl == 8 && get_be64(v) == time;
	timer_name(n, la->domain, time);
	return kstate_get_of(la->ctx->ks, key, klen, n, sizeof(n), &v, &vl) ==
	       0;
}

static void stale(struct weir_ctx *ctx, int domain, size_t n)
{
	struct live_arg la = {ctx, domain};

	if (n)
		tindex_stale(ctx->timers, domain, n, entry_live, &la);
}

/* Rebuilding the index: every timer and expiry name of every key. */
static int index_name(void *arg, const void *key, size_t klen, const void *name,
                      size_t name_len, const void *value, size_t value_len)
{
	struct weir_ctx *ctx = arg;
	const unsigned char *n = name;

	if (name_len == TIMER_NAME_LEN && n[0] == 0 && n[1] == 'T' &&
	    n[2] < EXPIRY_DOMAIN)
		tindex_add(ctx->timers, n[2], get_be64(n + 3), key, klen);
	else if (name_len == 2 && !memcmp(name, expiry_name, 2) &&
	         value_len == 8)
		tindex_add(ctx->timers, EXPIRY_DOMAIN, get_be64(value), key,
		           klen);
	return 0;
}

int opctx_name_kind(const void *name, size_t name_len, const void *value,
                    size_t value_len, int *domain, int64_t *time_ms)
{
	const unsigned char *n = name;

	if (name_len == TIMER_NAME_LEN && n[0] == 0 && n[1] == 'T' &&
	    n[2] < EXPIRY_DOMAIN) {
		*domain = n[2];
		*time_ms = get_be64(n + 3);
		return OPCTX_NAME_TIMER;
	}
	if (name_len == 2 && !memcmp(name, expiry_name, 2) && value_len == 8) {
		*time_ms = get_be64(value);
		return OPCTX_NAME_EXPIRY;
	}
	return OPCTX_NAME_USER;
}

static void timers_build(struct weir_ctx *ctx)
{
	const void *k;
	size_t kl;
	char *saved;

	if (!ctx->timers)
		ctx->timers = tindex_new();
	kstate_current_key(ctx->ks, &k, &kl);
	saved = xmalloc(kl + 1);
	memcpy(saved, k, kl);
	kstate_visit_all(ctx->ks, index_name, ctx);
	kstate_set_key(ctx->ks, saved, kl);
	free(saved);
	ctx->timers_built = true;
}

/* Counts the current key's timers per domain (before it is cleared). */
static int count_timer(void *arg, const void *name, size_t name_len,
                       const void *value, size_t value_len)
{
	size_t *per = arg;
	const unsigned char *n = name;

	(void)value;
	(void)value_len;
	if (name_len == TIMER_NAME_LEN && n[0] == 0 && n[1] == 'T' &&
	    n[2] < EXPIRY_DOMAIN)
		per[n[2]]++;
	return 0;
}

/* Deletes every name of the current key, timers and expiry too. */
static void clear_key(struct weir_ctx *ctx)
{
	size_t per[EXPIRY_DOMAIN] = {0, 0};
	int64_t exp;
	bool had = expiry_of(ctx, &exp);

	kstate_iterate(ctx->ks, count_timer, per);
	kstate_clear_key(ctx->ks);
	for (int d = 0; d < EXPIRY_DOMAIN; d++)
		stale(ctx, d, per[d]);
	stale(ctx, EXPIRY_DOMAIN, had);
}

/* Sets the current key's expiry to time (WM_MIN: none). */
static void set_expiry(struct weir_ctx *ctx, int64_t time)
{
	const void *k;
	size_t kl;
	int64_t old;
	bool had = expiry_of(ctx, &old);
	unsigned char v[8];

	if (had && old == time)
		return;
	if (time == WM_MIN) {
		kstate_delete(ctx->ks, expiry_name, 2);
	} else {
		put_be64(v, time);
		kstate_put(ctx->ks, expiry_name, 2, v, sizeof(v));
		kstate_current_key(ctx->ks, &k, &kl);
		tindex_add(ctx->timers, EXPIRY_DOMAIN, time, k, kl);
	}
	stale(ctx, EXPIRY_DOMAIN, had);
}

/* The record's key is cleared first when the record's own time is past
 * its expiry, so that a replay finds what the first run found, whatever
 * the watermark was then. */
static int expire_by_record(struct weir_ctx *ctx, const struct weir_record *rec)
{
	int64_t exp;

	if (rec->timestamp < 0 ||
	    (tindex_size(ctx->timers, EXPIRY_DOMAIN) == 0 &&
	     ctx->cfg->ttl_ms == 0))
		return 0;
	if (current_key(ctx) != WEIR_OK)
		return task_fail(ctx->t, "%s: %s", ctx->t->who, ctx->err);
	if (expiry_of(ctx, &exp) && rec->timestamp > exp)
		clear_key(ctx);
	return 0;
}

/* ttl_ms: the record changed its key's state, so the key lives ttl_ms past
 * the record's time (or the watermark's, for a record without one). */
static void ttl_after(struct weir_ctx *ctx, const struct weir_record *rec)
{
	int64_t at = rec->timestamp >= 0 ? rec->timestamp : ctx->t->wm;

	if (at == WM_MIN || at == WM_END || current_key(ctx) != WEIR_OK)
		return;
	if (!kstate_has_key(ctx->ks))
		return; /* the operator deleted all it had */
	set_expiry(ctx, at > INT64_MAX - ctx->cfg->ttl_ms
	                    ? INT64_MAX - 1
	                    : at + ctx->cfg->ttl_ms);
}

static int check_domain(weir_ctx_t *ctx, const char *fn, int domain)
{
	if (domain == WEIR_TIME_EVENT || domain == WEIR_TIME_PROCESSING)
		return WEIR_OK;
	return weir_error(ctx,
	                  "%s: domain %d is not a time domain; use "
	                  "WEIR_TIME_EVENT or WEIR_TIME_PROCESSING",
	                  fn, domain);
}

/* For the timer functions: the state of the current key, ready. */
static int timer_key(weir_ctx_t *ctx)
{
	int rc = current_key(ctx);

	if (rc == WEIR_OK && !ctx->timers_built)
		timers_build(ctx);
	return rc;
}

int weir_timer_set(weir_ctx_t *ctx, int domain, int64_t time_ms)
{
	unsigned char n[TIMER_NAME_LEN];
	const void *v, *k;
	size_t vl, kl;
	int rc = timer_key(ctx);

	if (rc != WEIR_OK ||
	    (rc = check_domain(ctx, "weir_timer_set", domain)) != WEIR_OK)
		return rc;
	timer_name(n, domain, time_ms);
	if (kstate_get(ctx->ks, n, sizeof(n), &v, &vl) == 0)
		return WEIR_OK;
	kstate_put(ctx->ks, n, sizeof(n), "", 0);
	kstate_current_key(ctx->ks, &k, &kl);
	tindex_add(ctx->timers, domain, time_ms, k, kl);
	return WEIR_OK;
}

int weir_timer_delete(weir_ctx_t *ctx, int domain, int64_t time_ms)
{
	unsigned char n[TIMER_NAME_LEN];
	const void *v;
	size_t vl;
	int rc = timer_key(ctx);

	if (rc != WEIR_OK ||
	    (rc = check_domain(ctx, "weir_timer_delete", domain)) != WEIR_OK)
		return rc;
	timer_name(n, domain, time_ms);
	if (kstate_get(ctx->ks, n, sizeof(n), &v, &vl) < 0)
		return WEIR_OK;
	kstate_delete(ctx->ks, n, sizeof(n));
	stale(ctx, domain, 1);
	return WEIR_OK;
}

int weir_state_expire_at(weir_ctx_t *ctx, int64_t time_ms)
{
	int rc = timer_key(ctx);

	if (rc == WEIR_OK) {
		set_expiry(ctx, time_ms);
		ctx->expiry_set = true;
	}
	return rc;
}

/* Fires the earliest timer of domain, which is due: its key becomes the
 * current key, its name is deleted, then on_timer runs. */
static int fire_one(struct weir_ctx *ctx, int domain)
{
	struct task *t = ctx->t;
	unsigned char n[TIMER_NAME_LEN];
	const void *k, *v;
	size_t kl, vl;
	int64_t time;
	int rc = WEIR_OK;

	tindex_pop(ctx->timers, domain, &time, &k, &kl);
	kstate_set_key(ctx->ks, k, kl);
	timer_name(n, domain, time);
	if (kstate_get(ctx->ks, n, sizeof(n), &v, &vl) < 0) {
		tindex_drop_stale(ctx->timers, domain);
		return 0;
	}
	kstate_delete(ctx->ks, n, sizeof(n));
	if (!ctx->op->on_timer)
		return 0;
	ctx->key_fixed = true;
	ctx->firing = true;
	ctx->fire_domain = domain;
	ctx->fire_time = time;
	ctx->err[0] = '\0';
	rc = ctx->op->on_timer(ctx, ctx->state, domain, time);
	ctx->firing = false;
	ctx->key_fixed = false;
	if (rc == WEIR_OK)
		return 0;
	if (task_stopping(t))
		return -1;
	return task_fail(t, "%s: on_timer (%s time %lld) failed: %s", t->who,
	                 domain == WEIR_TIME_EVENT ? "event" : "processing",
	                 (long long)time,
	                 ctx->err[0] ? ctx->err : "no message");
}

/* The earliest expiry is due: the key loses all its state. */
static void expire_one(struct weir_ctx *ctx)
{
	const void *k;
	size_t kl;
	int64_t time, exp;

	tindex_pop(ctx->timers, EXPIRY_DOMAIN, &time, &k, &kl);
	kstate_set_key(ctx->ks, k, kl);
	if (!expiry_of(ctx, &exp) || exp != time) {
		tindex_drop_stale(ctx->timers, EXPIRY_DOMAIN);
		return;
	}
	clear_key(ctx);
	/* clear_key counted this entry stale, but it is popped already. */
	tindex_drop_stale(ctx->timers, EXPIRY_DOMAIN);
}

static int op_end_input(struct weir_ctx *ctx)
{
	struct task *t = ctx->t;
	int rc;

	if (!ctx->op->end_input)
		return 0;
	ctx->ending = true;
	ctx->err[0] = '\0';
	rc = ctx->op->end_input(ctx, ctx->state);
	ctx->ending = false;
	if (rc == WEIR_OK)
		return 0;
	if (task_stopping(t))
		return -1;
	return task_fail(t, "%s: end_input failed: %s", t->who,
	                 ctx->err[0] ? ctx->err : "no message");
}

/* Event-time timers up to wm and expiries before it, in time order (a
 * timer before an expiry of the same time), then end_input at WM_END. */
static int op_watermark(struct task *t, void *st, int64_t wm)
{
	struct weir_ctx *ctx = st;

	(void)t;
	if (ctx->ks) {
		if (!ctx->timers_built)
			timers_build(ctx);
		for (;;) {
			int64_t te, tx;
			bool e =
			    tindex_peek(ctx->timers, WEIR_TIME_EVENT, &te) &&
			    te <= wm;
			bool x = tindex_peek(ctx->timers, EXPIRY_DOMAIN, &tx) &&
			         tx < wm;

			if (e && (!x || te <= tx)) {
				if (fire_one(ctx, WEIR_TIME_EVENT) < 0)
					return -1;
			} else if (x) {
				expire_one(ctx);
			} else {
				break;
			}
		}
		kstate_set_key(ctx->ks, "", 0);
	}
	return wm == WM_END ? op_end_input(ctx) : 0;
}

/* Processing-time timers due by the wall clock; the ms to the next. */
static int64_t op_tick(struct task *t, void *st)
{
	struct weir_ctx *ctx = st;
	int64_t now, next;
	bool fired = false;

	(void)t;
	if (!ctx->timers_built)
		timers_build(ctx);
	/* Every loop turn: read the clock only when a timer waits for it. */
	if (!tindex_peek(ctx->timers, WEIR_TIME_PROCESSING, &next))
		return -1;
	now = now_wall_ms();
	while (tindex_peek(ctx->timers, WEIR_TIME_PROCESSING, &next) &&
	       next <= now) {
		if (fire_one(ctx, WEIR_TIME_PROCESSING) < 0)
			return -1;
		fired = true;
	}
	if (fired)
		kstate_set_key(ctx->ks, "", 0);
	if (!tindex_peek(ctx->timers, WEIR_TIME_PROCESSING, &next))
		return -1;
	return next - now;
}

/* --- state bytes (little-endian) ------------------------------------------ */

int weir_write(weir_writer_t *w, const void *buf, size_t len)
{
	bytes_put(w, buf, len);
	return WEIR_OK;
}

int weir_write_u64(weir_writer_t *w, uint64_t v)
{
	bytes_put_u64(w, v);
	return WEIR_OK;
}

int weir_write_bytes(weir_writer_t *w, const void *buf, size_t len)
{
	bytes_put_str(w, buf, len);
	return WEIR_OK;
}

int weir_read(weir_reader_t *r, void *buf, size_t len)
{
	return bytes_get(r, buf, len) < 0 ? WEIR_EEOF : WEIR_OK;
}

int weir_read_u64(weir_reader_t *r, uint64_t *v)
{
	return bytes_get_u64(r, v) < 0 ? WEIR_EEOF : WEIR_OK;
}

int weir_read_bytes(weir_reader_t *r, const void **buf, size_t *len)
{
	return bytes_get_str(r, buf, len) < 0 ? WEIR_EEOF : WEIR_OK;
}

size_t weir_read_remaining(const weir_reader_t *r)
{
	return bytes_left(r);
}

/* --- time ------------------------------------------------------------------- */

int64_t weir_current_watermark(const weir_ctx_t *ctx)
{
	/* No task while validating: no time has passed yet. */
	return ctx->t ? ctx->t->wm : WEIR_WATERMARK_MIN;
}

int64_t weir_current_processing_time(const weir_ctx_t *ctx)
{
	(void)ctx;
	return now_wall_ms();
}
