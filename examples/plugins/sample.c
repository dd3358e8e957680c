/*
 * sample.c - an example operator plugin with raw state: a deterministic
 * sampler. Each instance forwards, unchanged, every Nth record it sees
 * (the Nth, the 2Nth, ...) and drops the others:
 *
 *   {"type": "plugin", "library": "build/examples/plugins/libsample.so",
 *    "every": 10}
 *
 * Its counters are state of its own: snapshot writes them with a
 * weir_writer_t, restore reads them back with a weir_reader_t, so after a
 * crash or a stop each instance goes on counting where the checkpoint
 * left it. Raw state belongs to one instance; such a job is restored with
 * the parallelism it had (managed keyed state, see sessions.c, has no
 * such limit).
 *
 * The snapshot format has a version, the table's state_version, which
 * weir stores with the bytes and hands back to restore:
 *
 *   version 1: u64 seen
 *   version 2: u64 seen, u64 sampled
 *
 * This file builds either (-DSTATE_VERSION=1 writes the old format). A
 * version 2 build restores both: from version 1 it derives sampled as
 * seen / every. A state newer than the build is refused with a message.
 *
 * Build out of tree, against an installed weir (meson install):
 *
 *   cc -std=c11 -Wall -Wextra -O2 -shared -fPIC -o libsample.so sample.c $(pkg-config --cflags --libs weir jansson)
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weir/weir.h>

#ifndef STATE_VERSION
#define STATE_VERSION 2
#endif
#if STATE_VERSION < 1 || STATE_VERSION > 2
#error "STATE_VERSION must be 1 or 2"
#endif

struct sample {
	uint64_t every;
	uint64_t seen;    /* records seen by this instance */
	uint64_t sampled; /* records forwarded */
};

static const char *const common_fields[] = {
    "type",     "library",           "name", "parallelism", "key",
    "on_error", "dead_letter_topic",
};

static int sample_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	struct sample *s;
	json_error_t jerr;
	const char *name;
	json_t *cfg, *v;

	cfg = json_loads(config_json, 0, &jerr);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "expected a JSON object: %s", jerr.text);
	}
	json_object_foreach(cfg, name, v) {
		size_t i = 0;

		while (i < sizeof(common_fields) / sizeof(*common_fields) &&
		       strcmp(name, common_fields[i]))
			i++;
		if (i == sizeof(common_fields) / sizeof(*common_fields) &&
		    strcmp(name, "every")) {
			json_decref(cfg);
			return weir_error(ctx,
			                  "%s: unknown field for sample; "
			                  "expected every",
			                  name);
		}
	}
	v = json_object_get(cfg, "every");
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		json_decref(cfg);
		return weir_error(ctx,
		                  "every: %s: forward every Nth record, "
		                  "e.g. \"every\": 10",
		                  v ? "expected an integer >= 1" : "required");
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	s->every = (uint64_t)json_integer_value(v);
	json_decref(cfg);
	*state = s;
	return WEIR_OK;
}

static int sample_process(weir_ctx_t *ctx, void *state,
                          const weir_record_t *rec)
{
	struct sample *s = state;

	if (++s->seen % s->every != 0)
		return WEIR_OK;
	s->sampled++;
	return weir_forward(ctx, rec);
}

/* Runs on the task thread at a barrier: write the counters. */
static int sample_snapshot(weir_ctx_t *ctx, void *state, weir_writer_t *w)
{
	struct sample *s = state;

	(void)ctx;
	if (weir_write_u64(w, s->seen) != WEIR_OK)
		return WEIR_ERR;
#if STATE_VERSION >= 2
	if (weir_write_u64(w, s->sampled) != WEIR_OK)
		return WEIR_ERR;
#endif
	return WEIR_OK;
}

/* After open, before any record. The bytes come from disk: every read is
 * checked and leftovers are an error. */
static int sample_restore(weir_ctx_t *ctx, void *state, weir_reader_t *r,
                          uint32_t version)
{
	struct sample *s = state;

	if (version < 1 || version > STATE_VERSION)
		return weir_error(ctx,
		                  "the checkpoint holds sample state "
		                  "version %u, this build of sample reads "
		                  "versions 1 to %d; run a newer build",
		                  version, STATE_VERSION);
	if (weir_read_u64(r, &s->seen) != WEIR_OK)
		return weir_error(ctx, "state version %u is truncated",
		                  version);
	if (version >= 2) {
		if (weir_read_u64(r, &s->sampled) != WEIR_OK)
			return weir_error(ctx, "state version %u is truncated",
			                  version);
	} else {
		s->sampled = s->seen / s->every;
	}
	if (weir_read_remaining(r) != 0)
		return weir_error(ctx,
		                  "state version %u has %zu bytes too many",
		                  version, weir_read_remaining(r));
	weir_log(ctx, "restored state version %u: seen %llu, sampled %llu",
	         version, (unsigned long long)s->seen,
	         (unsigned long long)s->sampled);
	return WEIR_OK;
}

static void sample_close(weir_ctx_t *ctx, void *state)
{
	struct sample *s = state;

	if (s->seen) /* not after open for `weir validate` alone */
		weir_log(ctx, "closing: seen %llu, sampled %llu (every %llu)",
		         (unsigned long long)s->seen,
		         (unsigned long long)s->sampled,
		         (unsigned long long)s->every);
	free(s);
}

static const weir_operator_t sample_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "sample",
    .state_version = STATE_VERSION,
    .open = sample_open,
    .process = sample_process,
    .snapshot = sample_snapshot,
    .restore = sample_restore,
    .close = sample_close,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &sample_op;
}
