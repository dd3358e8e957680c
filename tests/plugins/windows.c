/*
 * windows.c - a test plugin whose managed keyed state is deleted as often
 * as it is written: tumbling count windows per key. The records of a key
 * are cut into windows of `size` records; a window keeps the values of an
 * integer field of its records, and when its last record arrives the key's
 * state is deleted (weir_state_delete), so that checkpoints carry
 * tombstones and a restore must apply them. Configuration:
 *
 *   "key": "user"    the key (required: the operator is keyed)
 *   "size": N        records per window, 2 to 1000 (default 5)
 *   "field": "count" the integer field a window keeps (default "count")
 *
 * For every record it emits, with the key as record key,
 *
 *   {"<key>": k, "value": v, "n": 3, "first": 7, "sum": 24, "closed": false}
 *
 * v the record's field, n its place in the window (from 1), first the
 * window's first value and sum the sum of its values so far; "closed" is
 * true on the window's last record. The state has two names, "items" (the
 * values, 8 bytes each) and "sum", so that closing a window first removes
 * one name of the key and then its last one.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weir/weir.h>

#define MAX_SIZE 1000

struct windows {
	json_t *cfg; /* kept: the two names below point into it */
	const char *key_field;
	const char *field;
	long size;
	/* The open window's values. Stored as they are in memory: only this
	 * build of the plugin reads them back. */
	int64_t items[MAX_SIZE];
};

static void windows_free(struct windows *w)
{
	if (!w)
		return;
	json_decref(w->cfg);
	free(w);
}

static int windows_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	static const char *const known[] = {
	    "type",     "library",           "name", "parallelism", "key",
	    "on_error", "dead_letter_topic", "size", "field"};
	json_error_t jerr;
	json_t *cfg = json_loads(config_json, 0, &jerr), *v;
	struct windows *w;
	const char *name, *key, *field;

	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "expected a JSON object: %s", jerr.text);
	}
	json_object_foreach(cfg, name, v) {
		size_t i = 0;

		while (i < sizeof(known) / sizeof(*known) &&
		       strcmp(name, known[i]))
			i++;
		if (i == sizeof(known) / sizeof(*known)) {
			weir_error(ctx,
			           "%s: unknown field for windows; expected "
			           "size or field",
			           name);
			json_decref(cfg);
			return WEIR_ERR;
		}
	}
	key = json_string_value(json_object_get(cfg, "key"));
	field = json_string_value(json_object_get(cfg, "field"));
	v = json_object_get(cfg, "size");
	if (!key || !*key) {
		json_decref(cfg);
		return weir_error(ctx, "key: required: windows are kept per "
		                       "key, e.g. \"key\": \"user\"");
	}
	if (v && (!json_is_integer(v) || json_integer_value(v) < 2 ||
	          json_integer_value(v) > MAX_SIZE)) {
		json_decref(cfg);
		return weir_error(ctx,
		                  "size: expected records per window, "
		                  "an integer from 2 to %d",
		                  MAX_SIZE);
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	w->cfg = cfg;
	w->size = v ? (long)json_integer_value(v) : 5;
	w->key_field = key;
	w->field = field && *field ? field : "count";
	*state = w;
	return WEIR_OK;
}

/* The open window's values (*n of them, into w->items) and sum; *n is 0
 * when the key has none. */
static int load(weir_ctx_t *ctx, struct windows *w, size_t *n, int64_t *sum)
{
	const void *items, *s;
	size_t ilen, slen;
	int rc = weir_state_get(ctx, "items", 5, &items, &ilen);

	*n = 0;
	*sum = 0;
	if (rc == WEIR_EEOF)
		return WEIR_OK;
	if (rc != WEIR_OK)
		return rc == WEIR_ENOTSUP
		           ? weir_error(ctx, "windows must be keyed: add "
		                             "\"key\" to its job file entry")
		           : rc;
	if (ilen == 0 || ilen % 8 || ilen / 8 >= (size_t)w->size)
		return weir_error(ctx,
		                  "state of a key holds %zu bytes of items, "
		                  "not a multiple of 8 below %ld",
		                  ilen, w->size * 8);
	memcpy(w->items, items, ilen);
	*n = ilen / 8;
	if (weir_state_get(ctx, "sum", 3, &s, &slen) != WEIR_OK || slen != 8)
		return weir_error(ctx, "state of a key has items but no sum");
	memcpy(sum, s, 8);
	return WEIR_OK;
}

static int emit(weir_ctx_t *ctx, const struct windows *w, int64_t value,
                size_t n, int64_t sum)
{
	const void *key;
	size_t key_len;
	json_t *out;
	char *text;
	int rc = weir_state_key(ctx, &key, &key_len);

	if (rc != WEIR_OK)
		return rc;
	out = json_pack("{s:s%,s:I,s:I,s:I,s:I,s:b}", w->key_field,
	                (const char *)key, key_len, "value", (json_int_t)value,
	                "n", (json_int_t)n, "first", (json_int_t)w->items[0],
	                "sum", (json_int_t)sum, "closed", n == (size_t)w->size);
	text = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	if (!text)
		return weir_error(ctx, "cannot write the output as JSON (is "
		                       "the key valid UTF-8?)");
	rc = weir_emit(ctx, key, key_len, text, strlen(text));
	free(text);
	return rc;
}

static int windows_process(weir_ctx_t *ctx, void *state,
                           const weir_record_t *rec)
{
	struct windows *w = state;
	size_t len, n;
	const void *value = weir_record_value(rec, &len);
	json_t *doc = json_loadb(value, len, 0, NULL);
	json_t *f = json_object_get(doc, w->field);
	int64_t v, sum;
	int rc;

	if (!json_is_integer(f)) {
		json_decref(doc);
		return weir_record_error(ctx, rec,
		                         "field \"%s\" is missing or not an "
		                         "integer",
		                         w->field);
	}
	v = json_integer_value(f);
	json_decref(doc);
	if ((rc = load(ctx, w, &n, &sum)) != WEIR_OK)
		return rc;
	if (__builtin_add_overflow(sum, v, &sum))
		return weir_record_error(ctx, rec,
		                         "the window's sum overflows 64 bits");
	w->items[n++] = v;
	if ((rc = emit(ctx, w, v, n, sum)) != WEIR_OK)
		return rc;
	if (n == (size_t)w->size) {
		/* The window is closed: the key has no state until its next
		 * record. */
		if ((rc = weir_state_delete(ctx, "items", 5)) != WEIR_OK)
			return rc;
		return weir_state_delete(ctx, "sum", 3);
	}
	if ((rc = weir_state_put(ctx, "items", 5, w->items, 8 * n)) != WEIR_OK)
		return rc;
	return weir_state_put(ctx, "sum", 3, &sum, sizeof(sum));
}

static void windows_close(weir_ctx_t *ctx, void *state)
{
	(void)ctx;
	windows_free(state);
}

static const weir_operator_t windows_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "windows",
    .state_version = 1,
    .open = windows_open,
    .process = windows_process,
    .close = windows_close,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &windows_op;
}
