/*
 * opconfig.h - what the built-in operators share when they read their
 * configuration: the fields of an operator's job file object that belong
 * to the runtime (which an operator accepts and ignores), reporting every
 * config problem at once through weir_error, and naming a JSON value's
 * kind in those messages.
 */
#ifndef WEIR_OPCONFIG_H
#define WEIR_OPCONFIG_H

#include <jansson.h>
#include <stdbool.h>

#include "util.h"
#include "weir/weir.h"

/* type, name, parallelism, key, on_error, dead_letter_topic. */
bool opconfig_is_common(const char *field);

/* Every message of errs in one weir_error, one per line; returns
 * WEIR_ERR. */
int opconfig_fail(weir_ctx_t *ctx, const struct errlist *errs);

/* What v is, for "expected ..., got %s": "an object", "a number", ... */
const char *opconfig_kind(const json_t *v);

#endif
