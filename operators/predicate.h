/*
 * predicate.h - the "where" expressions of the filter operator, compiled
 * once from JSON and evaluated per record.
 *
 *   {"field": "a.b", "op": OP, "value": V}   OP: eq ne lt le gt ge contains
 *                                                prefix exists matches
 *   {"all": [P...]}  {"any": [P...]}  {"not": P}
 *   {"value_contains": "text"}               raw bytes, no JSON needed
 *
 * Evaluation is three-valued: a record that is not JSON, or lacks a field
 * that a comparison needs, gives PRED_ERROR with a reason (the operator's
 * on_error policy then decides). "all" is NO_MATCH as soon as one child is
 * NO_MATCH, "any" is MATCH as soon as one child is MATCH; otherwise an
 * error in a child is the result. "not" keeps errors.
 */
#ifndef WEIR_PREDICATE_H
#define WEIR_PREDICATE_H

#include <jansson.h>
#include <stddef.h>

#include "jrec.h"
#include "util.h"

enum pred_result { PRED_NO_MATCH = 0, PRED_MATCH = 1, PRED_ERROR = -1 };

struct pred;

/* Compiles a where expression. path is the JSON path of `where` in the job
 * file, used in messages ("where.any[1].op: unknown operator ..."). Returns
 * NULL with messages in errs. */
struct pred *pred_compile(const json_t *where, const char *path,
                          struct errlist *errs);
void pred_free(struct pred *p);

/* Evaluates p on the record, reading it through j (tokenized at most once
 * however many conditions look at it); on PRED_ERROR writes the reason to
 * err. Allocates nothing unless a string holds an escape or a value is
 * compared with an array or object. */
enum pred_result pred_eval(const struct pred *p, struct jrec *j, char *err,
                           size_t errlen);

#endif
