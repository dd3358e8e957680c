/*
 * job.h - a running job: the graph of tasks and channels built from a job
 * file, the checkpoint store and coordinator, restore at start, and the
 * lifecycle the CLI drives (start, graceful stop, wait).
 */
#ifndef WEIR_JOB_H
#define WEIR_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "flow.h"
#include "jobfile.h"
#include "util.h"

struct task;
struct coord;
struct ckpt_store;
struct ckpt_persister;
struct ckpt_stats;

/* How far the job got, for GET /ready and /job (job_status). */
enum job_phase {
	JOB_STARTING,  /* reading the job file, reaching Kafka */
	JOB_RESTORING, /* the graph is built: looking for and restoring a
	                * checkpoint */
	JOB_RUNNING,   /* every task thread and the coordinator started */
};

struct job {
	struct job_cfg *cfg;
	char *fingerprint; /* readable description of the graph */
	struct flow flow;  /* the tasks and channels, running */
	struct ckpt_store *store;
	const struct ckpt_io *io; /* file system calls; NULL: POSIX */
	struct ckpt_persister *persister;
	struct coord *coord;

	/* weir run --from: the checkpoint or savepoint directory to start
	 * from instead of the newest in checkpoint.dir; NULL: none. Set
	 * (malloc()ed) before job_build; freed by job_free. */
	char *from;

	pthread_mutex_t mu;
	bool starting;  /* no task thread started yet, under mu */
	char step[256]; /* what starting is doing, under mu */

	/* What the HTTP endpoint reads (job/http.c): checkpoint statistics
	 * (owned; the coordinator records into them), the phase (release
	 * on store: from JOB_RESTORING on, flow.tasks is complete and
	 * stays), whether a stop was asked for, and when the job began. */
	struct ckpt_stats *stats;
	atomic_int phase;
	atomic_bool stop_requested;
	int64_t begin_mono_ms, begin_wall_ms;
};

/* "starting", "restoring", "running", "stopping" (a stop was asked for,
 * or every bounded source ended) or "failed". Any thread. */
const char *job_status(const struct job *job);

/* Builds the job from a configuration that passed job_validate: opens
 * every operator and connector (reaching Kafka), locks and reads the
 * checkpoint directory and restores the newest checkpoint that verifies.
 * Returns NULL with messages in errs. Takes ownership of cfg. */
struct job *job_new(struct job_cfg *cfg, struct errlist *errs);
/* job_new in two steps, so that a signal thread can see the job while it
 * is built: job_alloc, then job_build (0, or -1 with errs; then
 * job_free). */
int job_build(struct job *job, struct errlist *errs);

/* Checks a job without running it: the graph and every operator's
 * configuration (nothing is connected to). Returns 0 or -1 with errs. */
int job_validate(const struct job_cfg *cfg, struct errlist *errs);

/* One paragraph for `weir validate`: "delivery: ...", which delivery
 * modes the job can have and why (exactly-once by de-duplication only
 * when a replay computes the same records per source partition). The
 * caller frees it. */
char *job_delivery_text(const struct job_cfg *cfg);

/* The steps of job_new, for tests that run tasks with bodies of their own:
 * allocate, add tasks (stage by stage, each stage's tasks in a row), join
 * neighbouring stages (key_field NULL: not keyed), then job_prepare locks
 * checkpoint.dir, restores, and creates the coordinator and writer. */
struct job *job_alloc(struct job_cfg *cfg);
struct task *job_add_task(struct job *job, int stage, int sub, int parallelism,
                          const char *name, const char *who);
void job_connect(struct job *job, int first_a, int par_a, int first_b,
                 int par_b, const char *key_field);
int job_prepare(struct job *job, struct errlist *errs);

int job_start(struct job *job);
/* Graceful stop: final checkpoint, sinks flushed, tasks end. Any thread;
 * async-signal-safe it is not. */
void job_request_stop(struct job *job);
/* The first SIGINT/SIGTERM (signal_name as strsignal gives it), from the
 * CLI's signal thread. While the job starts (job_build, job_start up to
 * the first task thread) nothing is processed and everything startup did
 * on disk is what a crash there leaves, which a restart handles: it logs
 * what was interrupted and ends the process at once with status 0. Once
 * the job runs it is job_request_stop. */
void job_signal_stop(struct job *job, const char *signal_name);
/* Waits for the end. Returns 0 when the job ended cleanly (bounded input
 * consumed, or stop requested, and the final checkpoint completed), 1 after
 * a failure (job_error() says what). */
int job_wait(struct job *job);
const char *job_error(struct job *job);
void job_free(struct job *job);

/* Takes a savepoint of the running job into target (absolute, or
 * relative to the working directory; created when missing, else it must
 * be an empty directory, and not inside checkpoint.dir), and with stop
 * ends the job after it (job_wait then returns). Waits until it is
 * written. Returns 0 with msg "<id> <path>" (the savepoint's checkpoint
 * id and absolute path); -1 when it failed or the job is stopping, -2
 * when it was refused before anything was written (a bad target, the job
 * still starting, another savepoint being taken), with why in msg. Any thread but the job's own; one
 * savepoint at a time (a second caller is refused). */
int job_savepoint(struct job *job, const char *target, bool stop, char *msg,
                  size_t msglen);

/* Stops the job now with an error (flow_fail). Any thread. */
void job_fail(struct job *job, const char *msg);
bool job_stopping(const struct job *job);

/* A stable description of the graph: stages, their types and parallelism.
 * A checkpoint is restored only by a job with the same fingerprint. */
char *job_fingerprint(const struct job_cfg *cfg);

#endif
