/*
 * flow.h - the running dataflow: its tasks and the channels between them,
 * how it fails and stops, and the hooks through which tasks hand their
 * snapshots to whatever takes checkpoints.
 *
 * The flow knows no job file, no Kafka and no checkpoint files. The job
 * (job/) builds it stage by stage, wires the hooks to the checkpoint
 * coordinator and snapshot persister, and starts the task threads; tasks and
 * the coordinator read the flags below.
 *
 * Threads: the hooks are called from task threads (submit, ack,
 * sources_ended) and from any thread that fails the flow (failed). The
 * flags are atomics; fail_msg and running are under mu.
 */
#ifndef WEIR_FLOW_H
#define WEIR_FLOW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct task;
struct chan;
struct snap_tail;

struct flow_hooks {
	/* A task's part of checkpoint id at its aligned barrier: the bytes
	 * its body wrote (malloc()ed, ownership passes), the _metadata
	 * offsets text (malloc()ed or NULL, ownership passes) and the part
	 * serialised later (tail). */
	void (*submit)(void *arg, struct task *t, uint64_t id,
	               uint32_t state_version, char *bytes, size_t len,
	               char *offsets, const struct snap_tail *tail);
	/* A task without state has taken its part of checkpoint id. */
	void (*ack)(void *arg, struct task *t, uint64_t id);
	/* The flow failed: whoever waits for checkpoints should look. */
	void (*failed)(void *arg);
	/* Every source has reached the end of its bounded input. */
	void (*sources_ended)(void *arg);
	void *arg;
};

struct flow {
	struct task **tasks; /* stage by stage, sources first */
	int ntasks;
	int nsources;
	struct chan **chans;
	int nchans;
	uint64_t restored_id; /* checkpoint restored; 0: started fresh */
	struct flow_hooks hooks;

	atomic_int hard_stop; /* a failure: every task stops now */
	atomic_int finished;  /* final checkpoint done (or given up) */
	atomic_int sources_ended;
	/* The checkpoint in flight when it is a savepoint (its keyed state
	 * is written in full, in the task files), else 0. Set by the
	 * coordinator before the trigger, read by tasks at the barrier. */
	atomic_uint_fast64_t savepoint_id;
	pthread_mutex_t mu;
	char *fail_msg;         /* first failure, under mu */
	pthread_cond_t done_cv; /* signalled when a task thread exits */
	int running;            /* task threads still running, under mu */
};

void flow_init(struct flow *f);
/* Frees the channels and tasks (their bodies must be closed by then). */
void flow_destroy(struct flow *f);

/* Adds a task of stage `stage` (0 = source), instance sub of par. */
struct task *flow_add_task(struct flow *f, int stage, int sub, int par,
                           const char *name, const char *who);
/* Joins stage a (tasks first_a.. of par_a) to the next stage b: task to
 * task when both have the same parallelism and b is not keyed, else
 * every task of a to every task of b, routing by key group when b is
 * keyed (each task of a then needs a keyer, task.h) or by source
 * partition. */
void flow_connect(struct flow *f, int first_a, int par_a, int first_b,
                  int par_b, bool keyed);

/* Stops every task now with an error; the first message is kept and
 * logged. Any thread. */
void flow_fail(struct flow *f, const char *msg);
bool flow_stopping(const struct flow *f);
/* Whether checkpoint id is a savepoint (see savepoint_id). Any thread. */
bool flow_is_savepoint(struct flow *f, uint64_t id);
/* The final checkpoint is done or given up: tasks end. */
void flow_finish(struct flow *f);
/* For tasks: a source reached its end; a task thread exits. */
void flow_source_ended(struct flow *f);
void flow_task_exited(struct flow *f);

#endif
