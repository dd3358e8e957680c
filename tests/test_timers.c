/*
 * test_timers.c - timers and state expiry of keyed operators (opctx.c,
 * state/timer_index.c), driven through an operator's task body as the
 * task loop drives it, with a task that has no outputs.
 *
 * The operator under test reads a command from each record ({"k": key,
 * "op": "set" | "del" | "pset" | "put", "t": time}) and logs each timer
 * that fires (key, domain, time, and what weir_state_get finds for the
 * key then). Checked: timers fire once each, in time order, when the
 * watermark reaches them; setting one twice fires it once; a deleted one
 * never fires; the index stays within about twice the live timers while
 * timers are set and deleted; processing-time timers fire by the wall
 * clock and tick says when the next is due; end_input runs at the end of
 * input, after the timers; names beginning with byte 0 are refused and
 * hidden; after a snapshot restored at another parallelism, every timer
 * fires exactly once, in the task that owns its key. Expiry: once the
 * watermark passes a key's ttl, the key and its memory are gone
 * (kstate_keys, kstate_kept); a record whose own time is past the expiry
 * finds the key empty whatever the watermark (so a replay decides as the
 * first run did). A snapshot's payload read back as `weir state` reads
 * it, timers and expiry told apart; a savepoint's keyed state inline.
 */
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "flow.h"
#include "keyed_state.h"
#include "keyroute.h"
#include "opctx.h"
#include "task.h"
#include "timer_index.h"

#define MAX_LOG 100000

struct fire {
	char key[16];
	int domain;
	int64_t time;
	int task;
	char seen[16]; /* value of "x" for the key when it fired, or "" */
};

struct oplog {
	struct fire f[MAX_LOG];
	int n;
	int ended;       /* end_input calls */
	int ended_after; /* fires logged when end_input ran */
	int aborted;
	char got[64]; /* "get" result of the last record */
};

static struct oplog *lg;

static int cmd_process(weir_ctx_t *ctx, void *st, const weir_record_t *rec)
{
	size_t len;
	const char *v = weir_record_value(rec, &len);
	json_t *j = json_loadb(v, len, 0, NULL);
	const char *op = json_string_value(json_object_get(j, "op"));
	int64_t t = json_integer_value(json_object_get(j, "t"));
	int rc = WEIR_OK;

	(void)st;
	if (!strcmp(op, "set"))
		rc = weir_timer_set(ctx, WEIR_TIME_EVENT, t);
	else if (!strcmp(op, "del"))
		rc = weir_timer_delete(ctx, WEIR_TIME_EVENT, t);
	else if (!strcmp(op, "pset"))
		rc = weir_timer_set(ctx, WEIR_TIME_PROCESSING, t);
	else if (!strcmp(op, "put"))
		rc = weir_state_put(ctx, "x", 1, "v", 1);
	else if (!strcmp(op, "get")) {
		const void *x;
		size_t xl;

		snprintf(lg->got, sizeof(lg->got), "%s",
		         weir_state_get(ctx, "x", 1, &x, &xl) == WEIR_OK
		             ? "x"
		             : "none");
	}
	json_decref(j);
	return rc;
}

static int cmd_timer(weir_ctx_t *ctx, void *st, int domain, int64_t time)
{
	struct fire *f = &lg->f[lg->n++];
	const void *k, *x;
	size_t kl, xl;

	(void)st;
	ck_assert_int_lt(lg->n, MAX_LOG);
	ck_assert_int_eq(weir_state_key(ctx, &k, &kl), WEIR_OK);
	snprintf(f->key, sizeof(f->key), "%.*s", (int)kl, (const char *)k);
	f->domain = domain;
	f->time = time;
	f->task = weir_task_index(ctx);
	snprintf(f->seen, sizeof(f->seen), "%s",
	         weir_state_get(ctx, "x", 1, &x, &xl) == WEIR_OK ? "x" : "");
	return WEIR_OK;
}

static int cmd_end(weir_ctx_t *ctx, void *st)
{
	(void)ctx;
	(void)st;
	lg->ended++;
	lg->ended_after = lg->n;
	return WEIR_OK;
}

static int cmd_aborted(weir_ctx_t *ctx, void *st, uint64_t id)
{
	(void)ctx;
	(void)st;
	lg->aborted = (int)id;
	return WEIR_OK;
}

static const weir_operator_t cmd_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "cmd",
    .state_version = 1,
    .process = cmd_process,
    .on_timer = cmd_timer,
    .end_input = cmd_end,
    .checkpoint_aborted = cmd_aborted,
};

/* One instance: a task with no outputs running cmd_op keyed by "k". */
struct rig {
	struct job_op_cfg cfg;
	struct task *t;
	struct weir_ctx *ctx;
};

static void rig_open(struct rig *r, int index, int parallelism, int64_t ttl)
{
	struct errlist errs = {0};

	memset(r, 0, sizeof(*r));
	r->cfg.type = "plugin";
	r->cfg.key_field = "k";
	r->cfg.config_json = "{}";
	r->cfg.parallelism = parallelism;
	r->cfg.ttl_ms = ttl;
	r->t = task_new(NULL, index, 1, index, parallelism, "cmd", "cmd");
	r->t->wm = WM_MIN;
	r->ctx = opctx_new(&cmd_op, &r->cfg, 0, r->t, NULL);
	ck_assert_int_eq(opctx_open(r->ctx, &errs), 0);
	opctx_bind(r->ctx, &r->t->body);
}

static void rig_close(struct rig *r)
{
	r->t->body.close(r->t, r->t->body.st);
	task_free(r->t);
}

/* Processes one record {"k": key, "op": op, "t": t} of timestamp ts. */
static void rec(struct rig *r, const char *key, const char *op, int64_t t,
                int64_t ts)
{
	struct batch *b = batch_new(4, 4096);
	struct weir_record like = {
	    .topic = "in", .partition = 0, .offset = 0, .timestamp = ts};
	char v[128];
	int n =
	    snprintf(v, sizeof(v), "{\"k\":\"%s\",\"op\":\"%s\",\"t\":%lld}",
	             key, op, (long long)t);

	ck_assert_ptr_nonnull(
	    batch_add(b, NULL, 0, v, (size_t)n, NULL, 0, 0, &like));
	ck_assert_int_eq(r->t->body.process(r->t, r->t->body.st, b), 0);
	batch_free(b);
}

static void wm(struct rig *r, int64_t w)
{
	r->t->wm = w;
	ck_assert_int_eq(r->t->body.watermark(r->t, r->t->body.st, w), 0);
}

static void log_reset(void)
{
	memset(lg, 0, sizeof(*lg));
}

START_TEST(order_duplicates_delete)
{
	struct rig r;

	log_reset();
	rig_open(&r, 0, 1, 0);
	rec(&r, "a", "set", 30, 1);
	rec(&r, "b", "set", 10, 1);
	rec(&r, "a", "set", 10, 1);
	rec(&r, "a", "set", 30, 1); /* again: fires once */
	rec(&r, "c", "set", 20, 1);
	rec(&r, "c", "del", 20, 1);
	rec(&r, "c", "del", 99, 1); /* none: not an error */
	rec(&r, "b", "set", 50, 1);
	rec(&r, "b", "put", 0, 1);
	wm(&r, 9);
	ck_assert_int_eq(lg->n, 0);
	wm(&r, 30);
	ck_assert_int_eq(lg->n, 3);
	/* Time order; ties by key bytes. */
	ck_assert_str_eq(lg->f[0].key, "a");
	ck_assert_int_eq(lg->f[0].time, 10);
	ck_assert_str_eq(lg->f[1].key, "b");
	ck_assert_int_eq(lg->f[1].time, 10);
	ck_assert_str_eq(lg->f[1].seen, "x"); /* on_timer sees b's state */
	ck_assert_str_eq(lg->f[2].key, "a");
	ck_assert_int_eq(lg->f[2].time, 30);
	ck_assert_int_eq(lg->f[2].domain, WEIR_TIME_EVENT);
	wm(&r, 40);
	ck_assert_int_eq(lg->n, 3);
	ck_assert_int_eq(lg->ended, 0);
	/* A timer set again after it fired fires again. */
	rec(&r, "a", "set", 30, 1);
	wm(&r, WM_END);
	ck_assert_int_eq(lg->n, 5);
	ck_assert_str_eq(lg->f[3].key, "a");
	ck_assert_int_eq(lg->f[3].time, 30);
	ck_assert_str_eq(lg->f[4].key, "b");
	ck_assert_int_eq(lg->f[4].time, 50);
	ck_assert_int_eq(lg->ended, 1);
	ck_assert_int_eq(lg->ended_after, 5);
	/* The aborted hook reaches the operator. */
	ck_assert_int_eq(r.t->body.aborted(r.t, r.t->body.st, 7), 0);
	ck_assert_int_eq(lg->aborted, 7);
	rig_close(&r);
}
END_TEST

START_TEST(processing_time)
{
	struct rig r;
	int64_t now = now_wall_ms(), next;

	log_reset();
	rig_open(&r, 0, 1, 0);
	ck_assert_int_eq(r.t->body.tick(r.t, r.t->body.st), -1);
	rec(&r, "a", "pset", now + 100000, 1);
	rec(&r, "b", "pset", now - 1000, 1);
	rec(&r, "a", "set", now - 5000, 1); /* event time: not the clock's */
	next = r.t->body.tick(r.t, r.t->body.st);
	ck_assert_int_eq(lg->n, 1);
	ck_assert_str_eq(lg->f[0].key, "b");
	ck_assert_int_eq(lg->f[0].domain, WEIR_TIME_PROCESSING);
	ck_assert_int_gt(next, 90000);
	ck_assert_int_le(next, 100000);
	rig_close(&r);
}
END_TEST

/* The state names of the runtime are out of the operator's reach. */
static int count_names(void *arg, const void *name, size_t name_len,
                       const void *value, size_t value_len)
{
	(void)name;
	(void)name_len;
	(void)value;
	(void)value_len;
	(*(int *)arg)++;
	return 0;
}

static int reserved_process(weir_ctx_t *ctx, void *st, const weir_record_t *rec)
{
	const void *v;
	size_t vl;
	int n = 0;

	(void)st;
	(void)rec;
	ck_assert_int_eq(weir_timer_set(ctx, WEIR_TIME_EVENT, 5), WEIR_OK);
	ck_assert_int_eq(weir_timer_set(ctx, 7, 5), WEIR_ERR);
	ck_assert_int_eq(weir_state_put(ctx, "\0T", 2, "", 0), WEIR_ERR);
	ck_assert_int_eq(weir_state_get(ctx, "\0E", 2, &v, &vl), WEIR_ERR);
	ck_assert_int_eq(weir_state_delete(ctx, "\0", 1), WEIR_ERR);
	ck_assert_int_eq(weir_state_put(ctx, "y", 1, "", 0), WEIR_OK);
	ck_assert_int_eq(weir_state_iterate(ctx, count_names, &n), WEIR_OK);
	ck_assert_int_eq(n, 1);
	lg->n = 1;
	return WEIR_OK;
}

static const weir_operator_t reserved_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "reserved",
    .state_version = 1,
    .process = reserved_process,
};

START_TEST(reserved_names)
{
	struct job_op_cfg cfg = {.type = "plugin",
	                         .key_field = "k",
	                         .config_json = "{}",
	                         .parallelism = 1};
	struct task *t = task_new(NULL, 0, 1, 0, 1, "r", "r");
	struct weir_ctx *ctx = opctx_new(&reserved_op, &cfg, 0, t, NULL);
	struct batch *b = batch_new(4, 4096);
	struct weir_record like = {.topic = "in", .timestamp = 1};

	log_reset();
	opctx_bind(ctx, &t->body);
	batch_add(b, NULL, 0, "{\"k\":\"a\"}", 9, NULL, 0, 0, &like);
	ck_assert_int_eq(t->body.process(t, ctx, b), 0);
	ck_assert_int_eq(lg->n, 1);
	batch_free(b);
	t->body.close(t, ctx);
	task_free(t);
}
END_TEST

/* The index alone: set and delete in rounds, never more than about
 * twice the live timers held. */
struct model {
	bool live[4096];
};

static bool model_live(void *arg, int64_t time, const void *key, size_t klen)
{
	(void)key;
	(void)klen;
	return ((struct model *)arg)->live[time];
}

START_TEST(compaction_bound)
{
	struct timer_index *ti = tindex_new();
	static struct model m;
	size_t live = 0, most = 0;
	uint64_t s = 7;

	memset(&m, 0, sizeof(m));
	for (int round = 0; round < 200000; round++) {
		int64_t time;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		time = (int64_t)((s >> 33) % 4096);
		if (!m.live[time]) {
			m.live[time] = true;
			live++;
			tindex_add(ti, 0, time, "k", 1);
		} else {
			m.live[time] = false;
			live--;
			tindex_stale(ti, 0, 1, model_live, &m);
		}
		if (tindex_size(ti, 0) > most)
			most = tindex_size(ti, 0);
		ck_assert_uint_le(tindex_size(ti, 0), 2 * live + 64 + 1);
	}
	/* Popping gives the live ones in order, stale ones in between. */
	{
		int64_t time, last = -1;
		const void *k;
		size_t kl, got = 0;

		while (tindex_pop(ti, 0, &time, &k, &kl)) {
			ck_assert_int_ge(time, last);
			last = time;
			if (m.live[time]) {
				m.live[time] = false;
				got++;
			}
		}
		ck_assert_uint_eq(got, live);
	}
	ck_assert_uint_lt(most, 4096 * 2 + 64);
	tindex_free(ti);
}
END_TEST

/* Full snapshot of one instance's keyed state, restored into each of
 * `to` instances. */
static void snapshot_into(struct rig *from, struct rig *to, int n)
{
	struct weir_writer w = {0};
	struct snap_tail tail = {0};
	char err[256];

	kstate_capture(opctx_keyed_state(from->ctx), &tail);
	ck_assert_int_eq(tail.fill(tail.arg, &w, err, sizeof(err)), 0);
	tail.release(tail.arg);
	for (int i = 0; i < n; i++) {
		struct weir_reader rd = {.p = w.p, .len = w.len};
		struct keyed_state *ks = opctx_keyed_state(to[i].ctx);

		ck_assert_int_eq(
		    kstate_restore(ks, &rd, i, n, err, sizeof(err)), 0);
		kstate_restored(ks);
	}
	free(w.p);
}

START_TEST(restore_rescaled)
{
	struct rig one, three[3];
	int nkeys = 300, per_task[3] = {0, 0, 0};
	char key[16];
	static int fired[300][4];

	log_reset();
	memset(fired, 0, sizeof(fired));
	rig_open(&one, 0, 1, 0);
	for (int k = 0; k < nkeys; k++) {
		snprintf(key, sizeof(key), "key%d", k);
		for (int j = 0; j < 4; j++)
			rec(&one, key, "set", 100 * j + k % 7, 1);
		rec(&one, key, "del", 300 + k % 7, 1); /* 3 left per key */
	}
	wm(&one, 99); /* fires the first of each key's timers */
	ck_assert_int_eq(lg->n, nkeys);
	log_reset();
	for (int i = 0; i < 3; i++)
		rig_open(&three[i], i, 3, 0);
	snapshot_into(&one, three, 3);
	rig_close(&one);
	for (int i = 0; i < 3; i++)
		wm(&three[i], WM_END);
	ck_assert_int_eq(lg->n, nkeys * 2);
	for (int i = 0; i < lg->n; i++) {
		const struct fire *f = &lg->f[i];
		int k = atoi(f->key + 3);
		int j = (int)(f->time / 100);

		ck_assert_int_eq(
		    key_group_owner(key_group(f->key, strlen(f->key)), 3),
		    f->task);
		ck_assert_int_eq(f->time % 100, k % 7);
		ck_assert(j == 1 || j == 2);
		fired[k][j]++;
		per_task[f->task]++;
	}
	for (int k = 0; k < nkeys; k++)
		ck_assert(fired[k][1] == 1 && fired[k][2] == 1 &&
		          fired[k][0] == 0 && fired[k][3] == 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_gt(per_task[i], 0);
		ck_assert_int_eq(lg->ended, 3);
		rig_close(&three[i]);
	}
}
END_TEST

START_TEST(ttl_frees_keys)
{
	struct rig r;
	struct keyed_state *ks;
	char key[16];

	log_reset();
	rig_open(&r, 0, 1, 1000);
	ks = opctx_keyed_state(r.ctx);
	for (int k = 0; k < 2000; k++) {
		snprintf(key, sizeof(key), "k%d", k);
		/* Keys k0..k999 last change at 10000, the rest at 50000. */
		rec(&r, key, "put", 0, k < 1000 ? 10000 : 50000);
	}
	/* A timer does not keep its key alive, and goes with it. */
	rec(&r, "k1", "set", 60000, 10000);
	ck_assert_uint_eq(kstate_keys(ks), 2000);
	wm(&r, 11000); /* exactly at the expiry: not past it */
	ck_assert_uint_eq(kstate_keys(ks), 2000);
	wm(&r, 11001);
	ck_assert_uint_eq(kstate_keys(ks), 1000);
	ck_assert_uint_eq(kstate_kept(ks), 0);
	wm(&r, 51000);
	ck_assert_uint_eq(kstate_keys(ks), 1000);
	wm(&r, 51001);
	ck_assert_uint_eq(kstate_keys(ks), 0);
	wm(&r, 70000);
	ck_assert_int_eq(lg->n, 0); /* k1's timer went with k1 */
	ck_assert_uint_eq(kstate_keys(ks), 0);
	rig_close(&r);
}
END_TEST

/* The watermark lags, but a record later than the key's expiry finds it
 * empty all the same: the answer depends on record times alone. */
START_TEST(ttl_by_record_time)
{
	struct rig r;

	log_reset();
	rig_open(&r, 0, 1, 1000);
	rec(&r, "a", "put", 0, 5000);
	rec(&r, "a", "get", 0, 6000); /* at the expiry: still there */
	ck_assert_str_eq(lg->got, "x");
	rec(&r, "a", "get", 0, 6001); /* past it, watermark still MIN */
	ck_assert_str_eq(lg->got, "none");
	rec(&r, "b", "put", 0, 5000);
	rec(&r, "b", "put", 0, 5900); /* a change moves the expiry */
	rec(&r, "b", "get", 0, 6500);
	ck_assert_str_eq(lg->got, "x");
	rec(&r, "b", "get", 0, 3000); /* an old record: not expired */
	ck_assert_str_eq(lg->got, "x");
	ck_assert_uint_eq(kstate_keys(opctx_keyed_state(r.ctx)), 1);
	rig_close(&r);
}
END_TEST

/* What `weir state` reads: a snapshot's payload outside a job, with the
 * runtime's names told apart. Incremental state goes to a chain at an
 * ordinary barrier, and inline, in full, at a savepoint's. */
struct kinds {
	int user, expiry, timers[2];
	int64_t expires_ms, timer_ms[2];
};

static int count_kind(void *arg, const void *key, size_t klen, const void *name,
                      size_t name_len, const void *value, size_t value_len)
{
	struct kinds *k = arg;
	int domain = -1;
	int64_t t = 0;

	ck_assert_int_eq((int)klen, 1);
	switch (
	    opctx_name_kind(name, name_len, value, value_len, &domain, &t)) {
	case OPCTX_NAME_TIMER:
		ck_assert(domain == WEIR_TIME_EVENT ||
		          domain == WEIR_TIME_PROCESSING);
		k->timers[domain]++;
		k->timer_ms[domain] = t;
		break;
	case OPCTX_NAME_EXPIRY:
		k->expiry++;
		k->expires_ms = t;
		break;
	default:
		ck_assert(name_len == 1 && !memcmp(name, "x", 1));
		k->user++;
	}
	return 0;
}

/* Takes r's part of checkpoint id: the payload, the tail's kind. */
static enum snap_kind take(struct rig *r, uint64_t id, struct weir_writer *w)
{
	struct snap_tail tail = {0};
	char *offsets = NULL, err[256];

	ck_assert_int_eq(
	    r->t->body.snapshot(r->t, r->t->body.st, id, w, &offsets), 0);
	ck_assert_int_eq(
	    r->t->body.snapshot_tail(r->t, r->t->body.st, id, &tail), 0);
	if (tail.kind == SNAP_INLINE)
		ck_assert_int_eq(tail.fill(tail.arg, w, err, sizeof(err)), 0);
	if (tail.release)
		tail.release(tail.arg);
	free(offsets);
	return tail.kind;
}

START_TEST(payload_names_decoded)
{
	struct rig r;
	struct flow fl;
	struct weir_writer w = {0};
	struct keyed_state *ks = kstate_new();
	struct kinds k = {0};
	bool keyed, chained;
	char err[256];

	log_reset();
	rig_open(&r, 0, 1, 1000);
	flow_init(&fl);
	r.t->flow = &fl;
	opctx_set_checkpoints(r.ctx, true, 100);
	rec(&r, "a", "put", 0, 5000); /* expires at 6000 */
	rec(&r, "a", "set", 7000, 5000);
	rec(&r, "a", "pset", 8000, 5000);

	ck_assert_int_eq(take(&r, 1, &w), SNAP_BASE);
	ck_assert_int_eq(opctx_payload_keyed(w.p, w.len, ks, &keyed, &chained,
	                                     err, sizeof(err)),
	                 0);
	ck_assert(keyed && chained);
	ck_assert_uint_eq(kstate_keys(ks), 0);
	free(w.p);
	memset(&w, 0, sizeof(w));

	atomic_store(&fl.savepoint_id, 2);
	ck_assert_int_eq(take(&r, 2, &w), SNAP_INLINE);
	ck_assert_int_eq(opctx_payload_keyed(w.p, w.len, ks, &keyed, &chained,
	                                     err, sizeof(err)),
	                 0);
	ck_assert(keyed && !chained);
	kstate_restored(ks);
	kstate_visit_all(ks, count_kind, &k);
	ck_assert_int_eq(k.user, 1);
	ck_assert_int_eq(k.expiry, 1);
	ck_assert_int_eq(k.expires_ms, 6000);
	ck_assert_int_eq(k.timers[WEIR_TIME_EVENT], 1);
	ck_assert_int_eq(k.timer_ms[WEIR_TIME_EVENT], 7000);
	ck_assert_int_eq(k.timers[WEIR_TIME_PROCESSING], 1);
	ck_assert_int_eq(k.timer_ms[WEIR_TIME_PROCESSING], 8000);
	ck_assert_int_eq(opctx_payload_keyed(w.p, 12, ks, &keyed, &chained, err,
	                                     sizeof(err)),
	                 -1);
	ck_assert_msg(strstr(err, "damaged"), "%s", err);
	free(w.p);
	kstate_free(ks);
	rig_close(&r);
	flow_destroy(&fl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timers");
	TCase *tc = tcase_create("timers");
	SRunner *sr;
	int failed;

	lg = calloc(1, sizeof(*lg));
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, order_duplicates_delete);
	tcase_add_test(tc, processing_time);
	tcase_add_test(tc, reserved_names);
	tcase_add_test(tc, compaction_bound);
	tcase_add_test(tc, restore_rescaled);
	tcase_add_test(tc, ttl_frees_keys);
	tcase_add_test(tc, ttl_by_record_time);
	tcase_add_test(tc, payload_names_decoded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(lg);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
