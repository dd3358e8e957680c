/*
 * op_cfg.h - an entry of the job file's "operators", as the operator
 * adapter and the operators read it (job/jobfile.c fills it in).
 */
#ifndef WEIR_OP_CFG_H
#define WEIR_OP_CFG_H

#include <stdbool.h>
#include <stdint.h>

/* The longest "ttl_ms": a year; longer is "forever", which leaving it
 * out says. */
#define JOB_MAX_TTL_MS 31536000000LL

enum on_error_policy { ON_ERROR_SKIP, ON_ERROR_FAIL, ON_ERROR_DEAD_LETTER };

struct job_op_cfg {
	char *type;        /* required: "filter", "count", "map", "dedup",
	                               "plugin" */
	char *config_json; /* the whole object after ${} substitution */
	char *key_field;   /* "key": routes by this field; NULL if none */
	int parallelism;   /* default 1 */
	enum on_error_policy on_error; /* default skip */
	char *dead_letter_topic; /* required iff on_error is dead-letter */
	char *library;           /* "plugin" only: path of the .so */
	int64_t ttl_ms; /* "ttl_ms" of a keyed operator: the runtime expires
	                 * a key's state ttl_ms after the record time of its
	                 * last change (weir_state_expire_at); 0 none */
	bool one_key;   /* no "key", but managed keyed state (and timers) under
	               * one key, the empty one: a "window" over all records;
	               * parallelism 1 */
};

#endif
