/*
 * dedup.c - the built-in "dedup" operator: forwards the first record of
 * each key unchanged and drops the records whose key was seen before. With
 * "ttl_ms", a key lets one record through and then drops its repeats for
 * ttl_ms milliseconds of record time, after which the next one goes through
 * and starts a new period (Flink's "first seen, expires ttl after").
 *
 *   { "type": "dedup", "key": "request_id", "ttl_ms": 60000 }
 *
 * Per key it keeps one value in managed keyed state: the record time at
 * which the key last went through. The runtime checkpoints it and moves it
 * with its key on a rescale, so dedup writes no snapshot code. With ttl_ms
 * the key's state expires when its period ends (weir_state_expire_at), so
 * the runtime frees it once the watermark passes.
 *
 * Record time is the record's timestamp, so a replay after a crash decides
 * as the first run did. A record without one (-1) takes the latest
 * timestamp this task has seen; that one is not checkpointed, so after a
 * restart it is relearned from the next record that has a timestamp.
 */
#include "builtin.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrec.h"
#include "opconfig.h"
#include "opctx.h"

struct dedup {
	struct fpath *key;
	int64_t ttl_ms;  /* 0: a key is never seen as new again */
	int64_t last_ts; /* latest record timestamp seen here, -1 if none */
};

/* The state name of "when the key went through", an 8-byte little-endian
 * signed millisecond timestamp (-1: no record time was known). */
#define SEEN_NAME "t"
#define SEEN_LEN 8

static int dedup_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	json_error_t jerr;
	json_t *cfg, *v, *key, *ttl;
	struct dedup *d;
	const char *name;

	cfg = json_loads(config_json, 0, &jerr);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "dedup config: expected a JSON object");
	}
	json_object_foreach(cfg, name, v) {
		if (!opconfig_is_common(name)) {
			weir_error(ctx,
			           "%s: unknown field for dedup; expected "
			           "key, ttl_ms",
			           name);
			json_decref(cfg);
			return WEIR_ERR;
		}
	}
	key = json_object_get(cfg, "key");
	if (!json_is_string(key) || json_string_length(key) == 0) {
		json_decref(cfg);
		return weir_error(ctx,
		                  "key: required: dedup drops records whose "
		                  "key was already seen; name the field, e.g. "
		                  "\"key\": \"request_id\"");
	}
	/* The job file checked it (a common field of keyed operators). */
	ttl = json_object_get(cfg, "ttl_ms");
	d = xcalloc(1, sizeof(*d));
	d->key = fpath_new(json_string_value(key));
	d->ttl_ms = json_is_integer(ttl) ? json_integer_value(ttl) : 0;
	d->last_ts = -1;
	json_decref(cfg);
	*state = d;
	return WEIR_OK;
}

static void put_i64(unsigned char *b, int64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static int64_t get_i64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return (int64_t)v;
}

/* Whether a key that went through at `seen` is new again at `now`. */
static bool expired(const struct dedup *d, int64_t seen, int64_t now)
{
	if (d->ttl_ms == 0 || now < 0 || now <= seen)
		return false;
	/* Unsigned: seen may be -1 and now any timestamp from Kafka. */
	return (uint64_t)now - (uint64_t)seen > (uint64_t)d->ttl_ms;
}

static int dedup_process(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	struct dedup *d = state;
	int64_t ts = weir_record_timestamp(rec), now;
	const void *seen;
	unsigned char b[SEEN_LEN];
	size_t seen_len;
	int rc;

	/* The runtime takes the state key from the same field (and the same
	 * reading of the record), but gives a missing field the empty key;
	 * that must not be deduplicated. */
	if (opctx_key_field(ctx, rec, d->key, NULL, &rc) < 0)
		return rc;

	if (ts >= 0 && ts > d->last_ts)
		d->last_ts = ts;
	now = ts >= 0 ? ts : d->last_ts;

	rc = weir_state_get(ctx, SEEN_NAME, 1, &seen, &seen_len);
	if (rc == WEIR_OK) {
		if (seen_len != SEEN_LEN)
			return weir_error(
			    ctx,
			    "keyed state of dedup holds %zu "
			    "bytes for a key, expected %d: the "
			    "restored checkpoint was not written by "
			    "this dedup. Restore from a checkpoint "
			    "it wrote, or move the checkpoint "
			    "directory aside to start fresh",
			    seen_len, SEEN_LEN);
		if (!expired(d, get_i64(seen), now))
			return WEIR_OK; /* a repeat: dropped */
	} else if (rc != WEIR_EEOF) {
		return WEIR_ERR; /* weir_state_get said why */
	}
	put_i64(b, now);
	if (weir_state_put(ctx, SEEN_NAME, 1, b, sizeof(b)) != WEIR_OK)
		return WEIR_ERR;
	/* The key's state goes when the period ends: by the watermark, or
	 * at the next record of the key timed past it (the runtime clears
	 * the key before process sees it, which is what expired() says). */
	if (d->ttl_ms > 0 &&
	    weir_state_expire_at(ctx, now + d->ttl_ms) != WEIR_OK)
		return WEIR_ERR;
	return weir_forward(ctx, rec);
}

static void dedup_close(weir_ctx_t *ctx, void *state)
{
	struct dedup *d = state;

	(void)ctx;
	fpath_free(d->key);
	free(d);
}

static const weir_operator_t dedup_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "dedup",
    .state_version = 1,
    .open = dedup_open,
    .process = dedup_process,
    .close = dedup_close,
};

const weir_operator_t *weir_builtin_dedup(void)
{
	return &dedup_op;
}
