/*
 * count.c - the built-in "count" operator: a running count per key. For
 * every input record it emits {"key": <field value>, "count": <count so
 * far>} with the record key set to the field's text. The counts live in
 * managed keyed state (weir_state_*), so the runtime checkpoints them and
 * moves them between tasks when the parallelism changes; count itself
 * writes no snapshot code.
 *
 *   { "type": "count", "key": "service" }
 *
 * A record that is not JSON, or lacks the key field, goes to on_error.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "jrec.h"
#include "opconfig.h"
#include "opctx.h"

struct count {
	struct fpath *key;
};

#define COUNT_NAME "n"
#define KEY_AT (sizeof("{\"key\":") - 1)

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
		if (!opconfig_is_common(name)) {
			weir_error(ctx,
			           "%s: unknown field for count; expected "
			           "key",
			           name);
			json_decref(cfg);
			return WEIR_ERR;
		}
	}
	key = json_object_get(cfg, "key");
	if (!json_is_string(key) || json_string_length(key) == 0) {
		json_decref(cfg);
		return weir_error(ctx,
		                  "key: required: the name of the field to "
		                  "count by, e.g. \"key\": \"service\"");
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	c->key = fpath_new(json_string_value(key));
	json_decref(cfg);
	*state = c;
	return WEIR_OK;
}

static int count_process(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	struct count *c = state;
	struct jrec *j;
	json_t *v, *out;
	size_t klen, clen = 0;
	const void *k, *cur = NULL;
	char *text, buf[512];
	size_t vlen;
	uint64_t n = 1;
	int f, rc;

	if ((f = opctx_key_field(ctx, rec, c->key, &j, &rc)) < 0)
		return rc;
	if (weir_state_key(ctx, &k, &klen) != WEIR_OK ||
	    weir_state_get(ctx, COUNT_NAME, 1, &cur, &clen) == WEIR_ERR)
		return WEIR_ERR;
	if (cur && clen == sizeof(n)) {
		memcpy(&n, cur, sizeof(n));
		n++;
	}
	if (weir_state_put(ctx, COUNT_NAME, 1, &n, sizeof(n)) != WEIR_OK)
		return WEIR_ERR;

	/* {"key":<the field as jansson writes it>,"count":<n>}, written
	 * straight from the tokens when they allow it (plain strings,
	 * integers, literals), else through a jansson tree. */
	vlen = jrec_scalar_text(j, f, buf + KEY_AT, sizeof(buf) - KEY_AT - 32);
	if (vlen > 0) {
		memcpy(buf, "{\"key\":", KEY_AT);
		vlen += KEY_AT;
		vlen += (size_t)snprintf(buf + vlen, sizeof(buf) - vlen,
		                         ",\"count\":%" JSON_INTEGER_FORMAT "}",
		                         (json_int_t)n);
		return weir_emit(ctx, k, klen, buf, vlen);
	}
	v = jrec_value(j, f);
	out = json_pack("{s:o,s:I}", "key", v, "count", (json_int_t)n);
	text = json_dumps(out, JSON_COMPACT);
	rc = weir_emit(ctx, k, klen, text, strlen(text));
	free(text);
	json_decref(out);
	return rc;
}

static void count_close(weir_ctx_t *ctx, void *state)
{
	struct count *c = state;

	(void)ctx;
	fpath_free(c->key);
	free(c);
}

static const weir_operator_t count_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "count",
    .state_version = 1,
    .open = count_open,
    .process = count_process,
    .close = count_close,
};

const weir_operator_t *weir_builtin_count(void)
{
	return &count_op;
}
