/*
 * filter.c - the built-in "filter" operator: forwards each record whose
 * value matches the "where" predicate and drops the others. A record the
 * predicate cannot judge (not JSON, missing field) goes to the on_error
 * policy. Stateless, so no snapshot; uses only weir/weir.h like a plugin.
 */
#include "builtin.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "predicate.h"

/* Fields of the operator object that the job file reader handles. */
static const char *const common_fields[] = {
	"type", "name", "parallelism", "key", "on_error", "dead_letter_topic",
};

static bool is_common(const char *key)
{
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(*common_fields);
	     i++)
		if (strcmp(key, common_fields[i]) == 0)
			return true;
	return false;
}

/* Every message of errs in one weir_error, one per line. */
static int fail_with(weir_ctx_t *ctx, const struct errlist *errs)
{
	size_t len = 1;
	char *all;
	int rc;

	for (size_t i = 0; i < errs->n; i++)
		len += strlen(errs->msgs[i]) + 1;
	all = xmalloc(len);
	all[0] = '\0';
	for (size_t i = 0; i < errs->n; i++) {
		if (i)
			strcat(all, "\n");
		strcat(all, errs->msgs[i]);
	}
	rc = weir_error(ctx, "%s", all);
	free(all);
	return rc;
}

static int filter_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	struct errlist errs = { 0 };
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
		if (!is_common(key) && strcmp(key, "where") != 0)
			errlist_add(&errs, "%s: unknown field for filter; "
			            "expected where", key);
	}
	v = json_object_get(cfg, "where");
	if (!v)
		errlist_add(&errs, "where: required; expected a condition "
		            "like {\"field\": \"level\", \"op\": \"eq\", "
		            "\"value\": \"ERROR\"}");
	else
		pred = pred_compile(v, "where", &errs);
	json_decref(cfg);

	if (errs.n) {
		pred_free(pred);
		rc = fail_with(ctx, &errs);
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
	enum pred_result r;
	struct jrec j;
	char why[200];
	size_t len;
	const void *val = weir_record_value(rec, &len);

	jrec_init(&j, val, len);
	r = pred_eval(pred, &j, why, sizeof(why));
	jrec_clear(&j);
	switch (r) {
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
