/*
 * opctx.h - runs an operator written against the public API (weir.h) as a
 * task body: the weir_ctx_t handed to its callbacks, the record-error
 * policy (skip, fail, dead-letter), and the state reader and writer.
 */
#ifndef WEIR_OPCTX_H
#define WEIR_OPCTX_H

#include <stdbool.h>

#include "op_cfg.h"
#include "task.h"
#include "util.h"
#include "weir/weir.h"

struct fpath;
struct keyed_state;
struct jrec;

/* Where on_error "dead-letter" sends the records an operator refuses
 * (connectors/ provides it). send: the record unchanged, with why; flush:
 * wait until everything sent is delivered (at every barrier, so that no
 * checkpoint covers a lost record); free: at the end. send and flush
 * return 0, or -1 with a message in err. Task thread. */
struct opctx_dead_letters {
	int (*send)(void *arg, const struct weir_record *rec, const char *who,
	            const char *why, char *err, size_t errlen);
	int (*flush)(void *arg, struct task *t, char *err, size_t errlen);
	void (*free)(void *arg);
	void *arg;
};

/* t is NULL when the operator is only opened to validate its config. The
 * ctx copies op (a full table of this API version), borrows cfg, and owns dl's arg (dl may be NULL: none). */
struct weir_ctx *opctx_new(const weir_operator_t *op,
                           const struct job_op_cfg *cfg, int op_index,
                           struct task *t, const struct opctx_dead_letters *dl);
/* Calls open; on failure adds its message, prefixed with the operator's
 * JSON path, to errs. */
int opctx_open(struct weir_ctx *ctx, struct errlist *errs);
/* Makes t run the operator. */
void opctx_bind(struct weir_ctx *ctx, struct task_body *body);
/* How the operator's managed keyed state is checkpointed (the job's
 * checkpoint section): incremental, and the materialize_delta_pct that
 * makes a new base due. Before the task starts. */
void opctx_set_checkpoints(struct weir_ctx *ctx, bool incremental,
                           int materialize_pct);
/* The managed keyed state, or NULL (restore applies chains to it). */
struct keyed_state *opctx_keyed_state(struct weir_ctx *ctx);

/* Restores from one state file of the operator's stage. own: the file this
 * task wrote (same index and parallelism); rescaled: the checkpoint was
 * taken with another parallelism. Managed keyed state is taken from every
 * file, for the key groups this task owns; the operator's own bytes only
 * from its own file, and refused when rescaled. *chained (NULL: the task
 * is not keyed) tells whether the keyed state is in a chain of files
 * instead (incremental checkpoints), for kstate_apply. */
int opctx_restore_part(struct weir_ctx *ctx, struct weir_reader *r,
                       uint32_t version, bool own, bool rescaled,
                       bool *chained);

/* The input record's value read as JSON, tokenized the first time the
 * operator, its keyed state or its routing asks, then shared. Borrowed;
 * valid until the next input record. Only while process runs. */
struct jrec *opctx_input_json(struct weir_ctx *ctx);

/* rec's value read as JSON, for the built-in operators. For the input
 * record being processed it is the view that routing and keyed state
 * share, so the record is tokenized once in its stage. Borrowed; valid
 * until process returns, or for another record until the next call. */
struct jrec *opctx_json(weir_ctx_t *ctx, const weir_record_t *rec);

/* The token of the field at p that a built-in keyed operator (count,
 * dedup) keys by, in rec's value (*jp when jp is not NULL: opctx_json's
 * view). When the value is
 * not JSON, or the field is missing or not a scalar, reports the record
 * (weir_record_error, whose verdict goes to *rc for process to return)
 * and returns -1. */
int opctx_key_field(weir_ctx_t *ctx, const weir_record_t *rec,
                    const struct fpath *p, struct jrec **jp, int *rc);

/* Records emitted by on_timer or end_input fail the job, with why (a
 * sentence naming the sink) in the message: an exactly-once sink that
 * de-duplicates replayed outputs by their source record cannot recognise
 * them. Before the task starts. */
void opctx_forbid_timer_emit(struct weir_ctx *ctx, const char *why);

/* Calls close if open succeeded, then frees. NULL is fine. */
void opctx_free(struct weir_ctx *ctx);

/* For `weir state`, outside a job: reads the payload of an operator
 * task's state file (as its snapshot wrote it, the operator's own bytes
 * skipped) and puts its managed keyed state into ks when it is there
 * (every key group). *chained: it is in the task's chain of files
 * instead, which the caller applies (kstate_apply); *keyed: there is
 * keyed state at all. Returns 0, or -1 with a message. */
int opctx_payload_keyed(const void *payload, size_t len, struct keyed_state *ks,
                        bool *keyed, bool *chained, char *err, size_t errlen);
/* What a state name means when it is the runtime's (it starts with the
 * byte 0): OPCTX_NAME_TIMER (*domain, WEIR_TIME_*, and *time_ms),
 * OPCTX_NAME_EXPIRY (*time_ms, from value), else OPCTX_NAME_USER. */
enum { OPCTX_NAME_USER, OPCTX_NAME_TIMER, OPCTX_NAME_EXPIRY };
int opctx_name_kind(const void *name, size_t name_len, const void *value,
                    size_t value_len, int *domain, int64_t *time_ms);

#endif
