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
#include "keyed_state.h"
#include "keyfield.h"
#include "log.h"
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
	const weir_operator_t *op;
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

	ctx->op = op;
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
	fpath_free(ctx->keypath);
	jrec_clear(&ctx->in_json);
	jrec_clear(&ctx->json);
	if (ctx->dl.free)
		ctx->dl.free(ctx->dl.arg);
	free(ctx);
}

/* --- the body ------------------------------------------------------------- */

static int op_process(struct task *t, void *st, struct batch *b)
{
	struct weir_ctx *ctx = st;

	for (uint32_t i = 0; i < b->n; i++) {
		task_set_input(t, &b->recs[i]);
		/* Records are compared by address, and batches reuse them. */
		ctx->key_of = NULL;
		ctx->in_json_of = NULL;
		ctx->err[0] = '\0';
		if (ctx->op->process(ctx, ctx->state, &b->recs[i]) != WEIR_OK) {
			task_set_input(t, NULL);
			if (task_stopping(t))
				return -1;
			return task_fail(
			    t, "%s: %s", t->who,
			    ctx->err[0] ? ctx->err
			                : "process failed without a message");
		}
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
	weir_write_u64(w, !ctx->ks           ? MANAGED_NONE
	                  : ctx->incremental ? MANAGED_CHAIN
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
	if (!ctx->incremental) {
		kstate_capture(ctx->ks, tail);
	} else if (atomic_exchange(&c->need_base, false) || base_instead(ctx)) {
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

	(void)t;
	kstate_idle(ctx->ks);
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
	if (ctx->ks)
		body->idle = op_idle;
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

int weir_emit(weir_ctx_t *ctx, const void *key, size_t key_len,
              const void *value, size_t value_len)
{
	struct task *t = ctx->t;
	struct weir_record like;

	if (!t || !t->cur_in)
		return weir_error(ctx, "weir_emit called outside process");
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

/* A printable sample of a value: at most 120 bytes, control bytes as '.'. */
static void sample(const weir_record_t *rec, char *buf, size_t len)
{
	size_t n = rec->value_len < len - 4 ? rec->value_len : len - 4;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rec->value[i];
		buf[i] = c < 32 || c == 127 ? '.' : (char)c;
	}
	if (n < rec->value_len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
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
		sample(rec, smp, sizeof(smp));
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
	atomic_fetch_add(&t->n_skipped, 1);
	if (now_mono_ms() - t->skip_log_ms >= SKIP_LOG_INTERVAL_MS) {
		uint64_t total = atomic_load(&t->n_skipped);

		sample(rec, smp, sizeof(smp));
		log_warn(t->who,
		         "skipped record %s[%d]@%lld: %s (value: %s); %llu "
		         "skipped in all (on_error \"skip\"; use \"fail\" or "
		         "\"dead-letter\" to keep them)",
		         rec->topic, rec->partition, (long long)rec->offset,
		         why, smp, (unsigned long long)total);
		t->skip_log_ms = now_mono_ms();
	}
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

/* Points the keyed state at the current record's key, computed from its
 * "key" field the first time a record asks (the same text routing used; a
 * record without the field has the empty key). */
static int current_key(weir_ctx_t *ctx)
{
	const struct weir_record *rec = ctx->t ? ctx->t->cur_in : NULL;
	const char *k;
	size_t len;
	char buf[64];

	if (!ctx->ks)
		return WEIR_ENOTSUP;
	if (!rec)
		return weir_error(ctx, "keyed state used outside process");
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
	return kstate_get(ctx->ks, name, name_len, value, value_len) < 0
	           ? WEIR_EEOF
	           : WEIR_OK;
}

int weir_state_put(weir_ctx_t *ctx, const void *name, size_t name_len,
                   const void *value, size_t value_len)
{
	int rc = current_key(ctx);

	if (rc == WEIR_OK)
		kstate_put(ctx->ks, name, name_len, value, value_len);
	return rc;
}

int weir_state_delete(weir_ctx_t *ctx, const void *name, size_t name_len)
{
	int rc = current_key(ctx);

	if (rc == WEIR_OK)
		kstate_delete(ctx->ks, name, name_len);
	return rc;
}

int weir_state_iterate(weir_ctx_t *ctx, weir_state_fn fn, void *arg)
{
	int rc = current_key(ctx);

	return rc != WEIR_OK ? rc : kstate_iterate(ctx->ks, fn, arg);
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
