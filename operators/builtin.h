/*
 * builtin.h - the operator tables built into weir. They are written against
 * weir/weir.h only, exactly like plugins; the registry maps the job file's
 * operator "type" to one of these.
 */
#ifndef WEIR_BUILTIN_H
#define WEIR_BUILTIN_H

#include "weir/weir.h"

/* "filter": forwards the records that match its "where" predicate. */
const weir_operator_t *weir_builtin_filter(void);

/* "count": a running count per key (operators/count.c). */
const weir_operator_t *weir_builtin_count(void);

/* "map": keeps, renames and adds fields of JSON records (operators/map.c). */
const weir_operator_t *weir_builtin_map(void);

/* "dedup": drops records whose key was seen before (operators/dedup.c). */
const weir_operator_t *weir_builtin_dedup(void);

/* "window": aggregates per event-time window and key (operators/window.c). */
const weir_operator_t *weir_builtin_window(void);

#endif
