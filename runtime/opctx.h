/*
 * opctx.h - runs an operator written against the public API (weir.h) as a
 * task body: the weir_ctx_t handed to its callbacks, the record-error
 * policy (skip, fail, dead-letter), and the state reader and writer.
 */
#ifndef WEIR_OPCTX_H
#define WEIR_OPCTX_H

#include <stdbool.h>

#include "jobfile.h"
#include "task.h"
#include "weir/weir.h"

struct dead_letter;
struct fpath;
struct jrec;

/* t is NULL when the operator is only opened to validate its config. The
 * ctx borrows op, cfg and dlq (may be NULL). */
struct weir_ctx *opctx_new(const weir_operator_t *op,
                           const struct job_op_cfg *cfg, int op_index,
                           struct task *t, struct dead_letter *dlq);
/* Calls open; on failure adds its message, prefixed with the operator's
 * JSON path, to errs. */
int opctx_open(struct weir_ctx *ctx, struct errlist *errs);
/* Makes t run the operator. */
void opctx_bind(struct weir_ctx *ctx, struct task_body *body);
/* Restores from one state file of the operator's stage. own: the file this
 * task wrote (same index and parallelism); rescaled: the checkpoint was
 * taken with another parallelism. Managed keyed state is taken from every
 * file, for the key groups this task owns; the operator's own bytes only
 * from its own file, and refused when rescaled. */
int opctx_restore_part(struct weir_ctx *ctx, struct weir_reader *r,
                       uint32_t version, bool own, bool rescaled);

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

/* Calls close if open succeeded, then frees. NULL is fine. */
void opctx_free(struct weir_ctx *ctx);

#endif
