/*
 * test_watermark.c - how a task combines the watermarks of its inputs,
 * through the real task thread and channels: the minimum over inputs,
 * idle inputs left out (and one idle watermark downstream when all are),
 * an ended input holding its last watermark, never backwards, and the order downstream: the
 * records before a watermark, then what the body emitted on seeing it,
 * then the watermark. Also the loop's clock (tick shortens the sleep),
 * aborted checkpoints reaching the body, and a bounded source sending
 * the end of event time before it tells the flow it ended.
 *
 * The test thread plays the upstream tasks (it pushes into the inputs)
 * and the downstream one (it pops the output).
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "flow.h"
#include "record.h"
#include "task.h"
#include "util.h"

#define NIN 3
#define MAX_SEEN 64

struct body {
	int64_t seen[MAX_SEEN]; /* what body.watermark was called with */
	int nseen;
	atomic_int ticks;
	atomic_uint_fast64_t aborted;
};

static int body_process(struct task *t, void *st, struct batch *b)
{
	(void)st;
	for (uint32_t i = 0; i < b->n; i++)
		if (task_emit(t, NULL, 0, b->recs[i].value,
		              b->recs[i].value_len, NULL, 0, 0,
		              &b->recs[i]) < 0)
			return -1;
	return 0;
}

/* Emits a record "wm <n>" before the task forwards the watermark. */
static int body_watermark(struct task *t, void *st, int64_t wm)
{
	struct body *b = st;
	char val[48];
	int n = snprintf(val, sizeof(val), "wm %lld", (long long)wm);

	if (b->nseen < MAX_SEEN)
		b->seen[b->nseen++] = wm;
	return task_emit(t, NULL, 0, val, (size_t)n, NULL, 0, 0, NULL);
}

static int64_t body_tick(struct task *t, void *st)
{
	struct body *b = st;

	(void)t;
	atomic_fetch_add(&b->ticks, 1);
	return 5;
}

static int body_aborted(struct task *t, void *st, uint64_t id)
{
	struct body *b = st;

	(void)t;
	atomic_store(&b->aborted, id);
	return 0;
}

static void noop_ack(void *arg, struct task *t, uint64_t id)
{
	(void)arg;
	(void)t;
	(void)id;
}

struct rig {
	struct flow flow;
	struct task *mid;
	struct chan *in[NIN];
	struct chan *out;
	struct body body;
};

/* NIN placeholder upstream tasks, the task under test, one placeholder
 * downstream task; only the middle one runs. */
static void rig_start(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	flow_init(&r->flow);
	r->flow.hooks.ack = noop_ack;
	for (int i = 0; i < NIN; i++)
		flow_add_task(&r->flow, 0, i, NIN, "up", "up");
	r->mid = flow_add_task(&r->flow, 1, 0, 1, "mid", "mid");
	flow_add_task(&r->flow, 2, 0, 1, "down", "down");
	flow_connect(&r->flow, 0, NIN, NIN, 1, false);
	flow_connect(&r->flow, NIN, 1, NIN + 1, 1, false);
	for (int i = 0; i < NIN; i++)
		r->in[i] = r->mid->in[i];
	r->out = r->mid->out[0];
	r->mid->body.st = &r->body;
	r->mid->body.process = body_process;
	r->mid->body.watermark = body_watermark;
	r->mid->body.tick = body_tick;
	r->mid->body.aborted = body_aborted;
	r->flow.running = 1;
	ck_assert_int_eq(task_start(r->mid), 0);
}

static void rig_stop(struct rig *r)
{
	flow_finish(&r->flow);
	task_join(r->mid);
	flow_destroy(&r->flow);
}

/* Pushes e to input i and waits until the task took it: the task reads
 * its inputs in turns, so elements on two inputs have an order only when
 * the second is pushed after the first was taken. A taken element is
 * handled before the task looks at any other. */
static void push(struct rig *r, int i, struct elem e)
{
	while (!chan_try_push(r->in[i], &e))
		usleep(1000);
	for (int k = 0; k < 10000 && chan_len(r->in[i]) > 0; k++)
		usleep(100);
	ck_assert_uint_eq(chan_len(r->in[i]), 0);
}

static void wm(struct rig *r, int i, int64_t w, bool idle)
{
	push(r, i,
	     (struct elem){.type = ELEM_WATERMARK, .wm = w, .idle = idle});
}

static void rec(struct rig *r, int i, int64_t offset)
{
	struct batch *b = batch_new(4, 256);
	struct weir_record like = {.partition = i, .offset = offset};
	char val[32];
	int n = snprintf(val, sizeof(val), "rec %lld", (long long)offset);

	ck_assert_ptr_nonnull(
	    batch_add(b, NULL, 0, val, (size_t)n, NULL, 0, 0, &like));
	push(r, i, (struct elem){.type = ELEM_BATCH, .batch = b});
}

/* The next element out of the task, waiting up to 10 s. */
static struct elem next_out(struct rig *r)
{
	struct elem e;

	for (int k = 0; k < 10000; k++) {
		if (chan_peek(r->out, &e)) {
			chan_pop(r->out);
			return e;
		}
		usleep(1000);
	}
	ck_abort_msg("nothing came out of the task in 10 s");
	return e;
}

static void expect_wm(struct rig *r, int64_t w, bool idle)
{
	struct elem e = next_out(r);

	ck_assert_msg(e.type == ELEM_WATERMARK,
	              "expected watermark %lld%s, got element type %d",
	              (long long)w, idle ? " (idle)" : "", (int)e.type);
	ck_assert_int_eq(e.wm, w);
	ck_assert_int_eq(e.idle, idle);
}

/* The next elements are batches holding exactly these values (the task
 * may cut them into batches anywhere). */
static void expect_values(struct rig *r, const char *const *vals, int n)
{
	int k = 0;

	while (k < n) {
		struct elem e = next_out(r);

		ck_assert_msg(e.type == ELEM_BATCH,
		              "expected \"%s\", got element type %d", vals[k],
		              (int)e.type);
		ck_assert_uint_le(e.batch->n, (uint32_t)(n - k));
		for (uint32_t j = 0; j < e.batch->n; j++, k++) {
			const struct weir_record *x = &e.batch->recs[j];

			ck_assert_msg(
			    strlen(vals[k]) == x->value_len &&
			        memcmp(vals[k], x->value, x->value_len) == 0,
			    "record %d: expected \"%s\", got \"%.*s\"", k,
			    vals[k], (int)x->value_len, x->value);
		}
		batch_free(e.batch);
	}
}

START_TEST(test_combining_rules)
{
	struct rig r;
	static const int64_t want[] = {50, 100, 200, 500, 520, 530, 560};

	rig_start(&r);
	ck_assert_int_eq(r.mid->wm, WM_MIN);

	/* The minimum over inputs: nothing until every input said
	 * something. */
	wm(&r, 0, 100, false);
	wm(&r, 1, 50, false);
	wm(&r, 2, 70, false);
	expect_values(&r, (const char *const[]){"wm 50"}, 1);
	expect_wm(&r, 50, false);

	/* Records before a watermark come out before it, then what the body
	 * emitted on it. */
	rec(&r, 2, 1);
	wm(&r, 2, 200, false); /* min(100, 50, 200): unchanged */
	rec(&r, 1, 2);
	wm(&r, 1, 300, false); /* min(100, 300, 200) = 100 */
	expect_values(&r, (const char *const[]){"rec 1", "rec 2", "wm 100"}, 3);
	expect_wm(&r, 100, false);

	/* Never backwards: a sender going back, or an input behind the
	 * task's watermark, changes nothing. */
	wm(&r, 0, 60, false);
	rec(&r, 0, 3);
	/* Idle inputs do not hold it back: min(100, 300) without input 2
	 * would still be 100; input 0 idle leaves min(300, 200) = 200. */
	wm(&r, 0, 100, true);
	expect_values(&r, (const char *const[]){"rec 3", "wm 200"}, 2);
	expect_wm(&r, 200, false);

	/* Every input idle: one idle watermark, not one per idle input
	 * (input 1 going idle leaves input 2 at 200: no change). */
	wm(&r, 1, 300, true);
	wm(&r, 2, 200, true);
	expect_wm(&r, 200, true);
	wm(&r, 2, 200, true);
	wm(&r, 1, 300, true);

	/* Active again, behind the task's watermark: a non-idle watermark
	 * at the task's own, so downstream counts the input again. */
	wm(&r, 0, 150, false);
	expect_wm(&r, 200, false);
	wm(&r, 0, 500, false);
	expect_values(&r, (const char *const[]){"wm 500"}, 1);
	expect_wm(&r, 500, false);
	wm(&r, 2, 520, false);
	wm(&r, 0, 600, false);
	expect_values(&r, (const char *const[]){"wm 520"}, 1);
	expect_wm(&r, 520, false);
	wm(&r, 1, 530, false);
	wm(&r, 2, 700, false);
	expect_values(&r, (const char *const[]){"wm 530"}, 1);
	expect_wm(&r, 530, false);

	wm(&r, 1, 560, false);
	expect_values(&r, (const char *const[]){"wm 560"}, 1);
	expect_wm(&r, 560, false);

	/* An input that ended keeps its last watermark: end-of-stream comes
	 * after the final barrier, so nothing may fire past it (the next
	 * element out is end-of-stream, not a watermark). */
	push(&r, 1, (struct elem){.type = ELEM_EOS});
	wm(&r, 0, WM_END, false);
	wm(&r, 2, WM_END, false);
	push(&r, 0, (struct elem){.type = ELEM_EOS});
	push(&r, 2, (struct elem){.type = ELEM_EOS});
	ck_assert_int_eq(next_out(&r).type, ELEM_EOS);
	rig_stop(&r);

	ck_assert_int_eq(r.body.nseen, (int)(sizeof(want) / sizeof(want[0])));
	for (int k = 0; k < r.body.nseen; k++)
		ck_assert_int_eq(r.body.seen[k], want[k]);
}
END_TEST

/* tick runs every loop turn and the task sleeps no longer than it says;
 * an aborted checkpoint reaches body.aborted. */
START_TEST(test_tick_and_aborted)
{
	struct rig r;
	int ticks;

	rig_start(&r);
	usleep(300 * 1000);
	ticks = atomic_load(&r.body.ticks);
	/* 5 ms asked: dozens of turns in 300 ms, where the loop's own
	 * sleep (1 s) gives one. */
	ck_assert_msg(ticks >= 15, "tick ran %d times in 300 ms", ticks);
	task_notify_aborted(r.mid, 7);
	task_notify_aborted(r.mid, 5); /* older: ignored */
	for (int k = 0; k < 5000 && atomic_load(&r.body.aborted) == 0; k++)
		usleep(1000);
	ck_assert_uint_eq(atomic_load(&r.body.aborted), 7);
	for (int i = 0; i < NIN; i++)
		push(&r, i, (struct elem){.type = ELEM_EOS});
	ck_assert_int_eq(next_out(&r).type, ELEM_EOS);
	rig_stop(&r);
}
END_TEST

/* --- a bounded source ------------------------------------------------- */

struct src {
	int next;
	struct chan *out;
	atomic_uint queued_at_end; /* elements in out when the flow heard */
};

static int src_poll(struct task *t, void *st, bool *progress)
{
	struct src *s = st;
	struct weir_record like = {.offset = s->next};

	if (s->next >= 3)
		return 0;
	s->next++;
	*progress = true;
	return task_emit(t, NULL, 0, "x", 1, NULL, 0, 0, &like);
}

static bool src_at_end(struct task *t, void *st)
{
	(void)t;
	return ((struct src *)st)->next >= 3;
}

static void src_ended(void *arg)
{
	struct src *s = arg;

	atomic_store(&s->queued_at_end, chan_len(s->out) + 1);
}

START_TEST(test_bounded_source_sends_end_first)
{
	struct flow f;
	struct src s = {0};
	struct task *t;
	struct elem e;
	int k;

	flow_init(&f);
	f.hooks.ack = noop_ack;
	f.hooks.sources_ended = src_ended;
	f.hooks.arg = &s;
	f.nsources = 1;
	f.restored_id = 1; /* read at once, no first checkpoint */
	t = flow_add_task(&f, 0, 0, 1, "src", "src");
	flow_add_task(&f, 1, 0, 1, "down", "down");
	flow_connect(&f, 0, 1, 1, 1, false);
	s.out = t->out[0];
	t->body.st = &s;
	t->body.poll = src_poll;
	t->body.at_end = src_at_end;
	f.running = 1;
	ck_assert_int_eq(task_start(t), 0);
	for (k = 0; k < 10000 && atomic_load(&s.queued_at_end) == 0; k++)
		usleep(1000);
	/* The records and WM_END were in the channel when the flow heard of
	 * the end (so before any final barrier). */
	ck_assert_uint_eq(atomic_load(&s.queued_at_end), 3);
	ck_assert(chan_peek(s.out, &e) && e.type == ELEM_BATCH);
	ck_assert_uint_eq(e.batch->n, 3);
	batch_free(e.batch);
	chan_pop(s.out);
	ck_assert(chan_peek(s.out, &e) && e.type == ELEM_WATERMARK);
	ck_assert_int_eq(e.wm, WM_END);
	ck_assert(!e.idle);
	chan_pop(s.out);
	ck_assert_int_eq(t->wm, WM_END);
	task_trigger(t, 1, true);
	for (k = 0; k < 10000 && !chan_peek(s.out, &e); k++)
		usleep(1000);
	ck_assert_int_eq(e.type, ELEM_BARRIER);
	flow_finish(&f);
	task_join(t);
	flow_destroy(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("watermark");
	TCase *tc = tcase_create("task");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_combining_rules);
	tcase_add_test(tc, test_tick_and_aborted);
	tcase_add_test(tc, test_bounded_source_sends_end_first);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
