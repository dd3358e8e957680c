/*
 * task.c - the task thread: the loop that moves batches from inputs through
 * the body to outputs, barrier alignment, snapshots, and routing of emitted
 * records to output channels (see task.h).
 *
 * Alignment: when barrier n arrives on input i, input i is blocked (what
 * follows it belongs to checkpoint n+1) until barrier n arrived on every
 * input that has not ended. Then the task snapshots, forwards barrier n on
 * every output and unblocks all inputs. Records are never reordered within
 * an input, and every record before barrier n on any input is processed
 * before the snapshot of n.
 *
 * Watermarks: each input's last watermark is kept (in_wm) with whether
 * its sender said it is idle (in_idle). The task's watermark is the
 * minimum over the inputs that have not gone idle (one that ended keeps
 * its last watermark, see combine_watermarks); it only
 * grows, so a watermark behind it changes nothing. When it grows the body
 * sees it first (body.watermark may emit), then it goes out on every
 * output after what was emitted before it. When every input still
 * running is idle the task sends one idle watermark, and a non-idle one
 * again once an input is active. A blocked input is not read, so a
 * watermark behind a barrier waits with the records around it.
 */
#include "task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "keyroute.h"
#include "log.h"
#include "util.h"

/* The longest a task sleeps. Every event that lets it go on signals its
 * wake-up (chan.h), so this is only a safety net; a source may ask for less
 * (wait_hint_ms). */
#define CHAN_SLEEP_MS 1000

struct task *task_new(struct flow *flow, int index, int stage, int sub,
                      int parallelism, const char *name, const char *who)
{
	struct task *t = xcalloc(1, sizeof(*t));

	t->flow = flow;
	t->index = index;
	t->stage = stage;
	t->sub = sub;
	t->parallelism = parallelism;
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->who, sizeof(t->who), "%s", who);
	wake_init(&t->wake);
	atomic_init(&t->trigger, 0);
	atomic_init(&t->chain.need_base, true);
	atomic_init(&t->chain.materializing, false);
	atomic_init(&t->chain.base_raw, 0);
	atomic_init(&t->chain.delta_raw, 0);
	atomic_init(&t->chain.deltas, 0);
	atomic_init(&t->chain.mat_failed_ms, 0);
	atomic_init(&t->complete_id, 0);
	atomic_init(&t->aborted_id, 0);
	t->wm = WM_MIN;
	atomic_init(&t->n_in, 0);
	atomic_init(&t->n_out, 0);
	atomic_init(&t->n_skipped, 0);
	atomic_init(&t->lag, -1);
	atomic_init(&t->stats.backpressure_us, 0);
	atomic_init(&t->stats.idle_us, 0);
	atomic_init(&t->stats.wm, WM_MIN);
	atomic_init(&t->stats.snap_id, 0);
	atomic_init(&t->stats.align_us, 0);
	atomic_init(&t->stats.state_keys, 0);
	atomic_init(&t->stats.state_bytes, 0);
	atomic_init(&t->stats.in_flight, 0);
	hist_init(&t->stats.delivery, hist_latency_us, hist_latency_n);
	t->wait_hint_ms = CHAN_SLEEP_MS;
	pthread_mutex_init(&t->waiting_mu, NULL);
	return t;
}

void task_free(struct task *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nout; i++)
		if (t->cur && t->cur[i])
			batch_free(t->cur[i]);
	free(t->cur);
	free(t->in);
	free(t->in_blocked);
	free(t->in_eos);
	free(t->in_wm);
	free(t->in_idle);
	free(t->out);
	free(t->stats.lag);
	if (t->keyer.free)
		t->keyer.free(t->keyer.st);
	wake_destroy(&t->wake);
	pthread_mutex_destroy(&t->waiting_mu);
	free(t);
}

int task_fail(struct task *t, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	flow_fail(t->flow, msg);
	return -1;
}

bool task_stopping(const struct task *t)
{
	return flow_stopping(t->flow);
}

void task_set_waiting(struct task *t, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&t->waiting_mu);
	va_start(ap, fmt);
	vsnprintf(t->waiting, sizeof(t->waiting), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&t->waiting_mu);
}

void task_clear_waiting(struct task *t)
{
	pthread_mutex_lock(&t->waiting_mu);
	t->waiting[0] = '\0';
	pthread_mutex_unlock(&t->waiting_mu);
}

void task_waiting(struct task *t, char *buf, size_t len)
{
	pthread_mutex_lock(&t->waiting_mu);
	snprintf(buf, len, "%s", t->waiting);
	pthread_mutex_unlock(&t->waiting_mu);
}

void task_trigger(struct task *t, uint64_t id, bool final)
{
	/* Id and flag in one word, so a source never pairs one trigger's id
	 * with another's flag. */
	atomic_store(&t->trigger, id << 1 | (final ? 1u : 0u));
	wake_signal(&t->wake);
}

void task_notify_complete(struct task *t, uint64_t id)
{
	atomic_store(&t->complete_id, id);
	wake_signal(&t->wake);
}

void task_notify_aborted(struct task *t, uint64_t id)
{
	/* Ids only grow: keep the newest. */
	uint_fast64_t cur = atomic_load(&t->aborted_id);

	while (cur < id && !atomic_compare_exchange_weak(&t->aborted_id, &cur,
	                                                 (uint_fast64_t)id))
		;
	wake_signal(&t->wake);
}

void task_skipped(struct task *t, const struct weir_record *rec,
                  const char *why, const char *hint)
{
	char smp[128];

	atomic_fetch_add(&t->n_skipped, 1);
	if (now_mono_ms() - t->skip_log_ms < SKIP_LOG_INTERVAL_MS)
		return;
	record_sample(rec, smp, sizeof(smp));
	log_warn(t->who,
	         "skipped record %s[%d]@%lld: %s (value: %s); %llu skipped "
	         "in all (%s)",
	         rec->topic, rec->partition, (long long)rec->offset, why, smp,
	         (unsigned long long)atomic_load(&t->n_skipped), hint);
	t->skip_log_ms = now_mono_ms();
}

void task_set_input(struct task *t, const struct weir_record *rec)
{
	t->cur_in = rec;
	t->emit_seq = 0;
}

/* --- output ------------------------------------------------------------- */

/* Adds the time since t0 (now_mono_us) to counter c. */
static void add_since(atomic_uint_fast64_t *c, int64_t t0)
{
	int64_t d = now_mono_us() - t0;

	atomic_fetch_add_explicit(c, (uint64_t)(d > 0 ? d : 0),
	                          memory_order_relaxed);
}

/* Sleeps with nothing to do, counting the time as idle. */
static void idle_wait(struct task *t, unsigned seen, int64_t ms)
{
	int64_t t0 = now_mono_us();

	wake_wait(&t->wake, seen, ms);
	add_since(&t->stats.idle_us, t0);
}

/* Pushes e to c, sleeping while c is full (the time counts as
 * backpressure). Fails only when the job stops hard, in which case the
 * caller still owns e's batch. */
static int push_wait(struct task *t, struct chan *c, const struct elem *e)
{
	int64_t t0 = 0;
	int rc = 0;

	for (;;) {
		unsigned seen = wake_epoch(&t->wake);

		if (chan_try_push(c, e))
			break;
		if (flow_stopping(t->flow)) {
			rc = -1;
			break;
		}
		if (!t0)
			t0 = now_mono_us();
		wake_wait(&t->wake, seen, CHAN_SLEEP_MS);
	}
	if (t0)
		add_since(&t->stats.backpressure_us, t0);
	return rc;
}

static int flush_output(struct task *t, int o)
{
	struct elem e = {.type = ELEM_BATCH, .batch = t->cur[o]};

	if (!e.batch || e.batch->n == 0)
		return 0;
	t->cur[o] = NULL;
	if (push_wait(t, t->out[o], &e) < 0) {
		batch_free(e.batch);
		return -1;
	}
	return 0;
}

static int flush_outputs(struct task *t)
{
	for (int o = 0; o < t->nout; o++)
		if (flush_output(t, o) < 0)
			return -1;
	return 0;
}

/* Sends e (a barrier, watermark or end-of-stream) on every output, after
 * what is buffered. */
static int broadcast_elem(struct task *t, const struct elem *e)
{
	if (flush_outputs(t) < 0)
		return -1;
	for (int o = 0; o < t->nout; o++)
		if (push_wait(t, t->out[o], e) < 0)
			return -1;
	return 0;
}

static int broadcast(struct task *t, enum elem_type type, uint64_t id)
{
	struct elem e = {.type = type, .id = id};

	return broadcast_elem(t, &e);
}

int task_emit_watermark(struct task *t, int64_t wm, bool idle)
{
	struct elem e = {.type = ELEM_WATERMARK, .idle = idle};

	if (wm > t->wm)
		t->wm = wm;
	atomic_store_explicit(&t->stats.wm, t->wm, memory_order_relaxed);
	t->wm_idle = idle;
	e.wm = t->wm;
	return broadcast_elem(t, &e);
}

static int pick_output(struct task *t, const void *value, size_t value_len,
                       const struct weir_record *like)
{
	switch (t->route) {
	case ROUTE_FORWARD:
		return 0;
	case ROUTE_PARTITION: {
		int32_t p = like ? like->partition : 0;
		uint32_t d = t->part_stride > 1 ? (uint32_t)t->part_stride : 1;

		return (int)((uint32_t)(p < 0 ? 0 : p) / d % (uint32_t)t->nout);
	}
	case ROUTE_KEY: {
		const char *k;
		char buf[64];
		size_t klen = t->keyer.key(t->keyer.st, t, value, value_len,
		                           buf, sizeof(buf), &k);

		return key_group_owner(key_group(k, klen), t->nout);
	}
	}
	return 0;
}

int task_emit(struct task *t, const void *key, size_t key_len,
              const void *value, size_t value_len, const void *hdrs,
              size_t hdrs_len, uint16_t nhdrs, const struct weir_record *like)
{
	int o = t->nout > 1 ? pick_output(t, value, value_len, like) : 0;
	size_t need = record_bytes(key ? key_len : 0, value_len, hdrs_len);

	if (t->nout == 0)
		return 0;
	for (;;) {
		struct batch *b = t->cur[o];

		if (!b) {
			size_t arena = need > BATCH_ARENA ? need : BATCH_ARENA;
			b = t->cur[o] = batch_new(BATCH_RECORDS, arena);
		}
		if (batch_add(b, key, key_len, value, value_len, hdrs, hdrs_len,
		              nhdrs, like)) {
			atomic_store_explicit(
			    &t->n_out,
			    atomic_load_explicit(&t->n_out,
			                         memory_order_relaxed) +
			        1,
			    memory_order_relaxed);
			return 0;
		}
		if (flush_output(t, o) < 0)
			return -1;
	}
}

/* --- checkpoints ---------------------------------------------------------- */

/* Takes this task's part of checkpoint id: make the output durable, capture
 * the state (bytes, and a view the persister serialises later), hand it to the
 * writer, then forward the barrier. */
static int take_checkpoint(struct task *t, uint64_t id)
{
	struct weir_writer w = {0};
	char *offsets = NULL;
	int64_t t0 = now_mono_us();

	/* Published before the part is handed on, so the coordinator reads
	 * it with the acknowledgement. */
	atomic_store_explicit(
	    &t->stats.align_us,
	    (uint64_t)(t->align_t0_us ? t0 - t->align_t0_us : 0),
	    memory_order_relaxed);
	atomic_store_explicit(&t->stats.snap_id, id, memory_order_relaxed);
	t->align_t0_us = 0;
	if (flush_outputs(t) < 0)
		return -1;
	if (t->body.flush && t->body.flush(t, t->body.st, id) < 0)
		return -1;
	if (t->body.snapshot) {
		struct snap_tail tail = {.kind = SNAP_NONE};

		if (t->body.snapshot(t, t->body.st, id, &w, &offsets) < 0 ||
		    (t->body.snapshot_tail &&
		     t->body.snapshot_tail(t, t->body.st, id, &tail) < 0)) {
			free(w.p);
			free(offsets);
			return -1;
		}
		t->flow->hooks.submit(t->flow->hooks.arg, t, id,
		                      t->body.state_version, w.p, w.len,
		                      offsets, &tail);
	} else {
		t->flow->hooks.ack(t->flow->hooks.arg, t, id);
	}
	log_debug(t->who, "checkpoint %llu: state captured in %lld us",
	          (unsigned long long)id, (long long)(now_mono_us() - t0));
	return broadcast(t, ELEM_BARRIER, id);
}

static int handle_complete(struct task *t)
{
	uint64_t id = atomic_load(&t->complete_id);

	if (id <= t->complete_seen)
		return 0;
	t->complete_seen = id;
	if (t->body.complete)
		return t->body.complete(t, t->body.st, id);
	return 0;
}

static int handle_aborted(struct task *t)
{
	uint64_t id = atomic_load(&t->aborted_id);

	if (id <= t->aborted_seen)
		return 0;
	t->aborted_seen = id;
	if (t->body.aborted)
		return t->body.aborted(t, t->body.st, id);
	return 0;
}

/* What the loops do each turn besides moving elements: completed and
 * aborted checkpoints, then what is due by the clock. *sleep_ms is
 * lowered to the time until the body's next due thing. */
static int handle_notices(struct task *t, int64_t *sleep_ms)
{
	if (handle_complete(t) < 0 || handle_aborted(t) < 0)
		return -1;
	if (t->body.tick) {
		int64_t due = t->body.tick(t, t->body.st);

		if (flow_stopping(t->flow))
			return -1;
		if (due >= 0 && due < *sleep_ms)
			*sleep_ms = due;
	}
	return 0;
}

/* --- watermarks ------------------------------------------------------------- */

/* Input i's watermark, its idleness or its end changed: works out the
 * task's watermark again (see the top). */
static int combine_watermarks(struct task *t)
{
	int64_t min = WM_END;
	bool live = false, active = false;

	for (int i = 0; i < t->nin; i++) {
		/* An input that ended keeps its last watermark: end-of-stream
		 * follows the final barrier, so a watermark that grew past it
		 * would fire timers whose output no checkpoint holds (a bounded
		 * input ended with WM_END anyway). */
		live = live || !t->in_eos[i];
		if (t->in_idle[i] && !t->in_eos[i])
			continue;
		active = true;
		if (t->in_wm[i] < min)
			min = t->in_wm[i];
	}
	if (!live)
		return 0; /* every input ended: nothing follows */
	if (!active)
		return t->wm_idle ? 0 : task_emit_watermark(t, t->wm, true);
	if (min > t->wm) {
		t->wm = min;
		if (t->body.watermark &&
		    t->body.watermark(t, t->body.st, min) < 0)
			return -1;
		return task_emit_watermark(t, min, false);
	}
	/* Active again without a newer watermark: say so downstream. */
	if (t->wm_idle)
		return task_emit_watermark(t, t->wm, false);
	return 0;
}

/* After end-of-stream: wait for the final checkpoint to be settled so the
 * body sees its completion (offsets committed, transactions closed). */
static void wait_finished(struct task *t)
{
	while (!atomic_load(&t->flow->finished) && !flow_stopping(t->flow)) {
		unsigned seen = wake_epoch(&t->wake);

		if (handle_complete(t) < 0)
			return;
		if (atomic_load(&t->flow->finished) || flow_stopping(t->flow))
			break;
		wake_wait(&t->wake, seen, CHAN_SLEEP_MS);
	}
	handle_complete(t);
}

/* --- the loops -------------------------------------------------------------- */

static void run_source(struct task *t)
{
	bool ended = false;

	for (;;) {
		unsigned seen = wake_epoch(&t->wake);
		uint64_t trig;
		bool progress = false;

		int64_t sleep_ms = CHAN_SLEEP_MS;

		if (flow_stopping(t->flow))
			return;
		t->wait_hint_ms = CHAN_SLEEP_MS;
		if (handle_notices(t, &sleep_ms) < 0)
			return;
		trig = atomic_exchange(&t->trigger, 0);
		if (trig) {
			bool final = trig & 1;

			trig >>= 1;
			if (take_checkpoint(t, trig) < 0)
				return;
			if (final) {
				if (broadcast(t, ELEM_EOS, 0) < 0)
					return;
				wait_finished(t);
				return;
			}
			continue;
		}
		/* A fresh job reads nothing before its first checkpoint is
		 * complete: a crash at any moment then restores concrete
		 * start offsets and where the sink's output began. */
		if (!ended && t->complete_seen == 0 &&
		    t->flow->restored_id == 0) {
			idle_wait(t, seen, sleep_ms);
			continue;
		}
		if (!ended) {
			if (t->body.poll(t, t->body.st, &progress) < 0)
				return;
			if (t->body.at_end && t->body.at_end(t, t->body.st)) {
				ended = true;
				/* The end of event time goes out before
				 * the flow hears of the end, so it
				 * precedes the final barrier. */
				if (task_emit_watermark(t, WM_END, false) < 0)
					return;
				flow_source_ended(t->flow);
			}
			if (t->wait_hint_ms < sleep_ms)
				sleep_ms = t->wait_hint_ms;
		}
		if (!progress) {
			if (flush_outputs(t) < 0)
				return;
			if (t->body.idle)
				t->body.idle(t, t->body.st);
			idle_wait(t, seen, sleep_ms);
		}
	}
}

/* Handles one element from input i. Returns 1 when the loop should stop
 * reading input i for now, 0 to go on, -1 on failure, 2 when every input
 * has ended. */
static int handle_elem(struct task *t, int i, const struct elem *e,
                       int *nblocked, int *nlive)
{
	switch (e->type) {
	case ELEM_BATCH: {
		int rc;

		/* Counted before the body emits its outputs, so that a reader
		 * of the counters (progress, metrics) never sees a stage with
		 * more out than in. */
		atomic_fetch_add_explicit(&t->n_in, e->batch->n,
		                          memory_order_relaxed);
		rc = t->body.process(t, t->body.st, e->batch);
		batch_free(e->batch);
		chan_pop(t->in[i]);
		return rc < 0 ? -1 : 0;
	}
	case ELEM_BARRIER:
		chan_pop(t->in[i]);
		/* A barrier older than the newest one seen belongs to a
		 * checkpoint that can no longer complete here: drop it. */
		if (e->id <= t->align_id &&
		    (*nblocked == 0 || e->id < t->align_id))
			return 0;
		/* A newer barrier while aligning: an upstream task skipped
		 * the older checkpoint (it was aborted and re-triggered
		 * before the task saw it), so that one cannot complete.
		 * Give it up and align on the newer one. */
		if (*nblocked > 0 && e->id > t->align_id) {
			log_debug(t->who,
			          "checkpoint %llu superseded by %llu "
			          "during alignment",
			          (unsigned long long)t->align_id,
			          (unsigned long long)e->id);
			memset(t->in_blocked, 0, sizeof(bool) * (size_t)t->nin);
			*nblocked = 0;
		}
		if (*nblocked == 0)
			t->align_t0_us = now_mono_us();
		t->align_id = e->id;
		t->in_blocked[i] = true;
		(*nblocked)++;
		if (*nblocked < *nlive)
			return 1;
		if (take_checkpoint(t, e->id) < 0)
			return -1;
		memset(t->in_blocked, 0, sizeof(bool) * (size_t)t->nin);
		*nblocked = 0;
		return 1;
	case ELEM_WATERMARK:
		chan_pop(t->in[i]);
		if (e->wm > t->in_wm[i])
			t->in_wm[i] = e->wm;
		t->in_idle[i] = e->idle;
		return combine_watermarks(t) < 0 ? -1 : 0;
	case ELEM_EOS:
		chan_pop(t->in[i]);
		t->in_eos[i] = true;
		(*nlive)--;
		if (*nlive == 0)
			return 2;
		/* An input that ends releases an alignment it held up. */
		if (*nblocked > 0 && *nblocked == *nlive) {
			if (take_checkpoint(t, t->align_id) < 0)
				return -1;
			memset(t->in_blocked, 0, sizeof(bool) * (size_t)t->nin);
			*nblocked = 0;
		}
		return 1;
	}
	return -1;
}

static void run_consumer(struct task *t)
{
	int nblocked = 0, nlive = t->nin, next = 0;

	for (;;) {
		unsigned seen = wake_epoch(&t->wake);
		bool progress = false;
		int64_t sleep_ms = CHAN_SLEEP_MS;

		if (flow_stopping(t->flow))
			return;
		if (handle_notices(t, &sleep_ms) < 0)
			return;
		for (int k = 0; k < t->nin; k++) {
			int i = (next + k) % t->nin;
			struct elem e;
			int budget = 8, rc = 0;

			if (t->in_blocked[i] || t->in_eos[i])
				continue;
			while (budget-- > 0 && chan_peek(t->in[i], &e)) {
				progress = true;
				rc = handle_elem(t, i, &e, &nblocked, &nlive);
				if (rc != 0)
					break;
			}
			if (rc < 0)
				return;
			if (rc == 2) {
				if (broadcast(t, ELEM_EOS, 0) < 0)
					return;
				wait_finished(t);
				return;
			}
		}
		next = (next + 1) % t->nin;
		if (!progress) {
			if (flush_outputs(t) < 0)
				return;
			if (t->body.idle)
				t->body.idle(t, t->body.st);
			idle_wait(t, seen, sleep_ms);
		}
	}
}

static void *task_main(void *arg)
{
	struct task *t = arg;
	char name[16];

	/* The state file name ("op1-filter-0"), cut to what Linux keeps, so
	 * that top -H and perf tell the tasks apart. */
	memcpy(name, t->name, sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	pthread_setname_np(pthread_self(), name);
	if (t->nin == 0)
		run_source(t);
	else
		run_consumer(t);
	if (t->body.close)
		t->body.close(t, t->body.st);
	t->body.close = NULL;
	log_debug(t->who, "exits: %llu in, %llu out, %llu skipped",
	          (unsigned long long)atomic_load(&t->n_in),
	          (unsigned long long)atomic_load(&t->n_out),
	          (unsigned long long)atomic_load(&t->n_skipped));
	flow_task_exited(t->flow);
	return NULL;
}

int task_start(struct task *t)
{
	if (t->nout > 0 && !t->cur)
		t->cur = xcalloc((size_t)t->nout, sizeof(*t->cur));
	if (pthread_create(&t->thread, NULL, task_main, t) != 0)
		return -1;
	t->started = true;
	return 0;
}

void task_join(struct task *t)
{
	if (t->started)
		pthread_join(t->thread, NULL);
	t->started = false;
}
