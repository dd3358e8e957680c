/*
 * task.h - a task is one thread running one instance of a stage: a source
 * that reads from outside, an operator, or a sink that writes outside. The
 * task loop moves batches from its input channels through its body to its
 * output channels, aligns checkpoint barriers across its inputs, takes its
 * body's snapshot at the aligned barrier and hands it to the snapshot
 * writer, and sleeps when there is nothing to do.
 */
#ifndef WEIR_TASK_H
#define WEIR_TASK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "hist.h"
#include "record.h"

#include "bytes.h"

struct flow;
struct task;

/* What a task hands the snapshot persister for its managed keyed state
 * at a barrier, besides the bytes of its snapshot:
 *
 *   SNAP_NONE    nothing.
 *   SNAP_INLINE  fill appends the whole state to those bytes (full
 *                snapshots: the state is in the task's file).
 *   SNAP_BASE    fill writes the whole state as a base file of this
 *                checkpoint (incremental: the chain starts again here).
 *   SNAP_DELTA   delta holds what changed since the last barrier
 *                (incremental); with materialize, fill also writes the
 *                whole state as a new base, in the background, which
 *                later checkpoints build on once it is written.
 *
 * fill and release act on a view of the state captured at the barrier.
 * fill appends to w: 0, or -1 with a message. release tells the body the
 * view is no longer needed: exactly once, after fill, or without fill
 * when its checkpoint was aborted first. Both run on a thread of the
 * checkpoint layer. */
enum snap_kind { SNAP_NONE, SNAP_INLINE, SNAP_BASE, SNAP_DELTA };

struct snap_tail {
	enum snap_kind kind;
	int (*fill)(void *arg, struct weir_writer *w, char *err, size_t errlen);
	void (*release)(void *arg);
	void *arg;
	char *delta; /* SNAP_DELTA: malloc()ed, the persister's */
	size_t delta_len;
	bool materialize;
};

/* What the checkpoint layer tells a keyed task about the chain of files
 * its incremental checkpoints build (written there, read by the body at
 * barriers). */
struct task_chain {
	/* No chain to add a delta to: the next checkpoint writes a base
	 * (true at start, and after a chain file could not be written). */
	atomic_bool need_base;
	atomic_bool materializing;      /* a new base is being written */
	atomic_uint_fast64_t base_raw;  /* decoded bytes of the newest base */
	atomic_uint_fast64_t delta_raw; /* of the deltas after it */
	atomic_uint_fast64_t deltas;    /* files after the base */
	atomic_int_fast64_t mat_failed_ms; /* last failed materialization,
	                                    * monotonic ms; 0 none */
};

/* What runs inside a task. A source implements poll; operators and sinks
 * implement process. Every other member is optional. All run on the task's
 * thread, except open/restore which run on the main thread before the task
 * starts. Returns are 0 or -1 after task_fail() said why. */
struct task_body {
	void *st;
	uint32_t state_version;
	/* Source: read what is available and emit it. Set *progress when
	 * something was read. May set t->wait_hint_ms. */
	int (*poll)(struct task *t, void *st, bool *progress);
	/* Source: the bounded input is consumed. */
	bool (*at_end)(struct task *t, void *st);
	/* Operator or sink: one batch from input `input`. The batch stays
	 * the caller's. */
	int (*process)(struct task *t, void *st, struct batch *b);
	/* At the aligned barrier, before the snapshot: make everything before
	 * the barrier durable (sinks wait for delivery here). */
	int (*flush)(struct task *t, void *st, uint64_t id);
	/* Writes the state into w. *offsets may receive a malloc()ed JSON
	 * object text for _metadata ({"topic":{"0":42}}). */
	int (*snapshot)(struct task *t, void *st, uint64_t id,
	                struct weir_writer *w, char **offsets);
	/* Right after snapshot: capture what the snapshot persister serialises
	 * after those bytes, in *tail. Fails only before capturing. */
	int (*snapshot_tail)(struct task *t, void *st, uint64_t id,
	                     struct snap_tail *tail);
	int (*restore)(struct task *t, void *st, struct weir_reader *r,
	               uint32_t version);
	/* After restore (or with nothing to restore), before the thread
	 * starts, on the main thread: connect, seek, scan. */
	int (*start)(struct task *t, void *st);
	int (*complete)(struct task *t, void *st, uint64_t id);
	/* Called each loop turn when the task is about to sleep. */
	void (*idle)(struct task *t, void *st);
	/* Operator or sink: the task's watermark (t->wm, the minimum over its
	 * inputs that are not idle) grew to wm; WM_END when every input
	 * ended its bounded input. Runs after every record before it and
	 * before the task forwards the watermark, so what it emits comes
	 * first. */
	int (*watermark)(struct task *t, void *st, int64_t wm);
	/* Each loop turn: do what is due by the clock (processing-time
	 * timers). Returns the milliseconds until the next thing due, or -1
	 * when nothing is; the task sleeps no longer than that. */
	int64_t (*tick)(struct task *t, void *st);
	/* Checkpoint id was aborted: it will not complete. */
	int (*aborted)(struct task *t, void *st, uint64_t id);
	void (*close)(struct task *t, void *st);
};

/* Watermarks: event time in ms since the epoch. WM_MIN before any;
 * WM_END after the end of a bounded input. */
#define WM_MIN INT64_MIN
#define WM_END INT64_MAX

enum route {
	ROUTE_FORWARD,   /* one output */
	ROUTE_KEY,       /* by key group of the record's key (task_keyer) */
	ROUTE_PARTITION, /* by source partition: keeps per-partition order */
};

/* How a task that routes by key finds an output record's key: the layer
 * that knows what a key is (a field of a JSON value) provides it. key
 * sets *key to the key's bytes (in value, in buf, or static) and returns
 * their length; a record without one has the empty key. Task thread. */
struct task_keyer {
	size_t (*key)(void *st, struct task *t, const void *value,
	              size_t value_len, char *buf, size_t buflen,
	              const char **key);
	void (*free)(void *st);
	void *st;
};

#define KEY_GROUPS 128

/* One source partition's records not read yet, or -1 when unknown. */
struct task_lag {
	int32_t partition;
	atomic_int_fast64_t records;
};

/* What a task publishes for the metrics endpoint (job/metrics.c). Each
 * member is written by one thread, named here, with relaxed atomics, and
 * read by any; nothing here is ever waited for. */
struct task_stats {
	/* Task thread: time blocked on a full output channel, and asleep
	 * with nothing to do. */
	atomic_uint_fast64_t backpressure_us, idle_us;
	/* Task thread: t->wm as it grows (WM_MIN before any). */
	atomic_int_fast64_t wm;
	/* Task thread, at its barriers: the checkpoint it last took its
	 * part of, and how long from the first barrier of that alignment
	 * to the snapshot (0 with one input). */
	atomic_uint_fast64_t snap_id, align_us;
	/* Operator with keyed state, task thread at barriers and idle
	 * turns: its keys. The coordinator, at each completed checkpoint:
	 * the bytes of the task's state in it (what a restore reads). */
	atomic_uint_fast64_t state_keys, state_bytes;
	bool keyed_state; /* set before the thread starts */
	/* Kafka sink, task thread: records produced and not yet
	 * acknowledged, and the time from produce to acknowledgement. */
	atomic_int_fast64_t in_flight;
	struct hist delivery;
	bool delivers; /* set before the thread starts */
	/* Kafka source: per owned partition, set up before the thread
	 * starts, updated by it. */
	struct task_lag *lag;
	int nlag;
};

struct task {
	struct flow *flow;
	int index;       /* in job->tasks */
	int stage;       /* 0 = source, 1..n operators, n+1 sink */
	int sub;         /* instance within the stage */
	int parallelism; /* of the stage */
	char name[64];   /* state file name, e.g. "op1-count-0" */
	char who[96];    /* log prefix, e.g. "operators[0] filter#0" */
	struct wake wake;
	pthread_t thread;
	bool started;
	struct task_body body;
	/* Its body keeps managed keyed state (api/opctx.c), which a restore
	 * takes by key group from every file of the stage. */
	bool keyed;
	struct task_chain chain;

	struct chan **in;
	int nin;
	bool *in_blocked, *in_eos;
	uint64_t align_id;   /* newest barrier seen on any input */
	int64_t align_t0_us; /* when its first barrier arrived; 0: none */

	struct chan **out;
	int nout;
	struct batch **cur; /* batch being filled, per output */
	enum route route;
	struct task_keyer keyer; /* ROUTE_KEY; owned */
	/* ROUTE_PARTITION picks output (p / part_stride) % nout for source
	 * partition p: one instance of N reads p = I, I + N, ..., which
	 * part_stride N spreads evenly. 0 or 1: p % nout. */
	int part_stride;

	/* Set by the coordinator, read by the task. */
	/* Source: barrier to inject, id << 1 | final; 0 none. A newer
	 * trigger replaces one not yet taken (its checkpoint was aborted). */
	atomic_uint_fast64_t trigger;
	atomic_uint_fast64_t complete_id; /* newest completed checkpoint */
	uint64_t complete_seen;
	atomic_uint_fast64_t aborted_id; /* newest aborted checkpoint */
	uint64_t aborted_seen;

	/* Event time: the watermark this task has reached (the minimum over
	 * its live, non-idle inputs; it only grows) and, per input, the last
	 * one that input sent and whether it is idle. Task thread. */
	int64_t wm;
	int64_t *in_wm;
	bool *in_idle;
	bool wm_idle; /* the last watermark this task sent said idle */

	/* The input record being processed, for emit and errors. */
	const struct weir_record *cur_in;
	uint32_t emit_seq;
	int64_t wait_hint_ms; /* source: sleep at most this long */

	/* What the task waits for outside the job (task_set_waiting); ""
	 * when nothing. Under waiting_mu. */
	pthread_mutex_t waiting_mu;
	char waiting[512];

	/* Counters, written by the task thread only. */
	atomic_uint_fast64_t n_in, n_out, n_skipped;
	/* A Kafka source's records not read yet (high watermarks minus its
	 * positions, as librdkafka last heard them), or -1 when unknown. */
	atomic_int_fast64_t lag;
	/* When a skipped record was last logged: at most one such warning
	 * per SKIP_LOG_INTERVAL_MS, each with the count so far. */
	int64_t skip_log_ms;
	/* What the metrics endpoint reads besides the counters above. */
	struct task_stats stats;
};

#define SKIP_LOG_INTERVAL_MS 1000

/* Counts rec as skipped and, at most once per SKIP_LOG_INTERVAL_MS, logs
 * it with why, a sample of its value, the count so far and hint (which
 * setting skipped it and how to keep such records). Task thread. */
void task_skipped(struct task *t, const struct weir_record *rec,
                  const char *why, const char *hint);

struct task *task_new(struct flow *flow, int index, int stage, int sub,
                      int parallelism, const char *name, const char *who);
void task_free(struct task *t);
int task_start(struct task *t);
void task_join(struct task *t);

/* Emits a record to the output chosen by the task's route. key NULL means
 * no key. like gives lineage and timestamp (NULL: none). Returns 0, or -1
 * when the job is stopping and nothing more may be emitted. */
int task_emit(struct task *t, const void *key, size_t key_len,
              const void *value, size_t value_len, const void *hdrs,
              size_t hdrs_len, uint16_t nhdrs, const struct weir_record *like);

/* Makes rec the input record being processed (NULL: none). */
void task_set_input(struct task *t, const struct weir_record *rec);

/* Stops the whole job with an error; msg names what failed and what to do.
 * Returns -1. */
int task_fail(struct task *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The job is stopping after a failure: give up what waits. Any thread. */
bool task_stopping(const struct task *t);

/* While the task is held up by something outside the job (a sink waiting
 * for Kafka to acknowledge its records), says what: a checkpoint that times
 * out waiting for the task names it. Task thread; task_clear_waiting when
 * the wait is over. */
void task_set_waiting(struct task *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void task_clear_waiting(struct task *t);
/* Copies what the task waits for into buf ("" when nothing). Any thread. */
void task_waiting(struct task *t, char *buf, size_t len);

/* Source: its watermark grew to wm (WM_END: its bounded input ended);
 * idle: it has no active partition, so it should not hold back the
 * watermark downstream until it sends one again. Flushes what is
 * buffered, then sends the watermark on every output. Returns 0 or -1
 * when the job stops. */
int task_emit_watermark(struct task *t, int64_t wm, bool idle);

/* Coordinator side. */
void task_trigger(struct task *t, uint64_t id, bool final);
void task_notify_complete(struct task *t, uint64_t id);
void task_notify_aborted(struct task *t, uint64_t id);

#endif
