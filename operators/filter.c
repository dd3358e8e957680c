/*
 * filter.c - the built-in "filter" operator: forwards each record whose
 * value matches the "where" predicate and drops the others. A record the
 * predicate cannot judge (not JSON, missing field) goes to the on_error
 * policy. Stateless, so no snapshot. Written against weir/weir.h like a
 * plugin, except that it reads values through the runtime's token view of
 * the current record (opctx_json), which plugins cannot reach yet.
 */
#include "builtin.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "opconfig.h"
#include "opctx.h"
#include "predicate.h"

static int filter_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	struct errlist errs = {0};
	struct pred *pred = NULL;
	json_error_t jerr;
	const char *key;
	json_t *cfg, *v;
	int rc;

	cfg = json_loads(config_json, 0, &jerr);
	if (!cfg)
		return weir_error(ctx, "filter config is not JSON: %s",
		                  jerr.text);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "filter config: expected a JSON object");
	}
	json_object_foreach(cfg, key, v) {
		if (!opconfig_is_common(key) && strcmp(key, "where") != 0)
			errlist_add(&errs,
			            "%s: unknown field for filter; "
			            "expected where",
			            key);
	}
	v = json_object_get(cfg, "where");
	if (!v)
		errlist_add(&errs,
		            "where: required; expected a condition "
		            "like {\"field\": \"level\", \"op\": \"eq\", "
		            "\"value\": \"ERROR\"}");
	else
		pred = pred_compile(v, "where", &errs);
	json_decref(cfg);

	if (errs.n) {
		pred_free(pred);
		rc = opconfig_fail(ctx, &errs);
		errlist_clear(&errs);
		return rc;
	}
	*state = pred;
	return WEIR_OK;
}

static int filter_process(weir_ctx_t *ctx, void *state,
                          const weir_record_t *rec)
{
	const struct pred *pred = state;
	char why[200];

	switch (pred_eval(pred, opctx_json(ctx, rec), why, sizeof(why))) {
	case PRED_MATCH:
		return weir_forward(ctx, rec);
	case PRED_NO_MATCH:
		return WEIR_OK;
	case PRED_ERROR:
		break;
	}
	return weir_record_error(ctx, rec, "%s", why);
}

static void filter_close(weir_ctx_t *ctx, void *state)
{
	pred_free(state);
}

static const weir_operator_t filter_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "filter",
    .state_version = 1,
    .open = filter_open,
    .process = filter_process,
    .close = filter_close,
};

const weir_operator_t *weir_builtin_filter(void)
{
	return &filter_op;
}
