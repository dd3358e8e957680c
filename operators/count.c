/*
 * count.c - the built-in "count" operator: a running count per key. For
 * every input record it emits {"key": <field value>, "count": <count so
 * far>} with the record key set to the field's text. The counts are its
 * state, checkpointed and restored.
 *
 *   { "type": "count", "key": "service" }
 *
 * A record that is not JSON, or lacks the key field, goes to on_error.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "keyroute.h"
#include "kvmap.h"
#include "predicate.h"

struct count {
	struct fpath *key;
	struct kvmap *counts;   /* key text -> uint64_t */
};

static const char *const common_fields[] = {
    "type", "name", "parallelism", "key", "on_error", "dead_letter_topic",
    NULL};

static int count_open(weir_ctx_t *ctx, const char *config, void **state)
{
	json_error_t jerr;
	json_t *cfg = json_loads(config, 0, &jerr), *key;
	struct count *c;
	const char *name;
	json_t *v;

	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "expected an object: %s", jerr.text);
	}
	json_object_foreach(cfg, name, v) {
		bool known = false;

		for (int i = 0; common_fields[i]; i++)
			known = known || !strcmp(name, common_fields[i]);
		if (!known) {
			weir_error(ctx, "%s: unknown field for count; expected "
			           "key", name);
			json_decref(cfg);
			return WEIR_ERR;
		}
	}
	key = json_object_get(cfg, "key");
	if (!json_is_string(key) || json_string_length(key) == 0) {
		json_decref(cfg);
		return weir_error(ctx, "key: required: the name of the field to "
		                  "count by, e.g. \"key\": \"service\"");
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	c->key = fpath_new(json_string_value(key));
	c->counts = kvmap_new();
	json_decref(cfg);
	*state = c;
	return WEIR_OK;
}

static int count_process(weir_ctx_t *ctx, void *state,
                         const weir_record_t *rec)
{
	struct count *c = state;
	struct jrec j;
	json_t *v, *out;
	const void *raw;
	size_t len, klen;
	char buf[64], *text;
	const char *k;
	uint64_t n = 1, *slot;
	int rc;

	raw = weir_record_value(rec, &len);
	jrec_init(&j, raw, len);
	if (!jrec_doc(&j)) {
		rc = weir_record_error(ctx, rec, "value is not JSON: %s",
		                       j.err);
		jrec_clear(&j);
		return rc;
	}
	v = jrec_field(&j, c->key);
	if (!v || json_is_object(v) || json_is_array(v)) {
		rc = weir_record_error(ctx, rec,
		                       v ? "field \"%s\" is not a string, "
		                           "number or boolean"
		                         : "field \"%s\" is missing",
		                       fpath_str(c->key));
		jrec_clear(&j);
		return rc;
	}
	k = key_text(v, buf, sizeof(buf), &klen);
	slot = kvmap_get(c->counts, k, klen, NULL);
	if (slot)
		n = ++*slot;
	else
		kvmap_put(c->counts, k, klen, &n, sizeof(n));

	out = json_pack("{s:O,s:I}", "key", v, "count", (json_int_t)n);
	text = json_dumps(out, JSON_COMPACT);
	rc = weir_emit(ctx, k, klen, text, strlen(text));
	free(text);
	json_decref(out);
	jrec_clear(&j);
	return rc;
}

static int count_snapshot(weir_ctx_t *ctx, void *state, weir_writer_t *w)
{
	struct count *c = state;
	const void *k, *v;
	size_t kl, vl, pos = 0;

	(void)ctx;
	weir_write_u64(w, kvmap_count(c->counts));
	while (kvmap_next(c->counts, &pos, &k, &kl, &v, &vl)) {
		uint64_t n;

		memcpy(&n, v, sizeof(n));
		weir_write_bytes(w, k, kl);
		weir_write_u64(w, n);
	}
	return WEIR_OK;
}

static int count_restore(weir_ctx_t *ctx, void *state, weir_reader_t *r,
                         uint32_t version)
{
	struct count *c = state;
	uint64_t n;

	if (version != 1)
		return weir_error(ctx, "unknown state version %u (this weir "
		                  "writes version 1)", version);
	if (weir_read_u64(r, &n) != WEIR_OK)
		return weir_error(ctx, "state is truncated");
	for (uint64_t i = 0; i < n; i++) {
		const void *k;
		size_t kl;
		uint64_t cnt;

		if (weir_read_bytes(r, &k, &kl) != WEIR_OK ||
		    weir_read_u64(r, &cnt) != WEIR_OK)
			return weir_error(ctx, "state is truncated after %llu "
			                  "of %llu keys", (unsigned long long)i,
			                  (unsigned long long)n);
		kvmap_put(c->counts, k, kl, &cnt, sizeof(cnt));
	}
	return WEIR_OK;
}

static void count_close(weir_ctx_t *ctx, void *state)
{
	struct count *c = state;

	(void)ctx;
	fpath_free(c->key);
	kvmap_free(c->counts);
	free(c);
}

static const weir_operator_t count_op = {
    .api_version = WEIR_API_VERSION,
    .name = "count",
    .state_version = 1,
    .open = count_open,
    .process = count_process,
    .snapshot = count_snapshot,
    .restore = count_restore,
    .close = count_close,
};

const weir_operator_t *weir_builtin_count(void)
{
	return &count_op;
}
