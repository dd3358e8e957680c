/*
 * failing.c - a test plugin that fails on request, to check how weir
 * reports a plugin's errors. It forwards every record unchanged, except:
 *
 *   "fail_open": "why"     open fails with weir_error("fail_open: ...")
 *   "fail_running": "why"  open fails only for a running instance, not
 *                          when it only checks the configuration
 *                          (weir_validating)
 *   "fail_on": "text"      process fails on the first record whose value
 *                          contains text, naming the record
 *
 * Without either it is a pass-through, the "fixed" plugin of a restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weir/weir.h>

const weir_operator_t *weir_plugin_operator(void);

struct failing {
	char *fail_on;
	size_t len;
};

/* The string value of "name" in a flat JSON object, without escapes;
 * enough for the test's job files. NULL when absent. */
static char *config_string(const char *json, const char *name)
{
	char pat[64];
	const char *p, *end;
	char *s;

	snprintf(pat, sizeof(pat), "\"%s\":\"", name);
	p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	end = strchr(p, '"');
	if (!end)
		return NULL;
	s = malloc((size_t)(end - p) + 1);
	if (s) {
		memcpy(s, p, (size_t)(end - p));
		s[end - p] = '\0';
	}
	return s;
}

static int failing_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	char *why = config_string(config_json, "fail_open");
	struct failing *f;

	weir_log(ctx, "open: %s, task %d of %d",
	         weir_validating(ctx) ? "validating" : "running",
	         weir_task_index(ctx), weir_task_parallelism(ctx));
	if (!why && !weir_validating(ctx) &&
	    (why = config_string(config_json, "fail_running"))) {
		weir_error(ctx, "fail_running: asked to fail when running: %s",
		           why);
		free(why);
		return WEIR_ERR;
	}
	if (why) {
		weir_error(ctx, "fail_open: asked to fail in open: %s", why);
		free(why);
		return WEIR_ERR;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return weir_error(ctx, "out of memory");
	f->fail_on = config_string(config_json, "fail_on");
	f->len = f->fail_on ? strlen(f->fail_on) : 0;
	*state = f;
	return WEIR_OK;
}

static int failing_process(weir_ctx_t *ctx, void *state,
                           const weir_record_t *rec)
{
	struct failing *f = state;
	const char *topic;
	int32_t partition;
	int64_t offset;
	uint32_t seq;
	size_t len;
	const char *v = weir_record_value(rec, &len);

	if (f->fail_on && f->len && len && memmem(v, len, f->fail_on, f->len)) {
		weir_record_lineage(rec, &topic, &partition, &offset, &seq);
		return weir_error(ctx,
		                  "record %s[%d]@%lld contains \"%s\": "
		                  "failing as asked (fail_on)",
		                  topic, (int)partition, (long long)offset,
		                  f->fail_on);
	}
	return weir_forward(ctx, rec);
}

static void failing_close(weir_ctx_t *ctx, void *state)
{
	struct failing *f = state;

	(void)ctx;
	free(f->fail_on);
	free(f);
}

static const weir_operator_t failing_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "failing",
    .state_version = 1,
    .open = failing_open,
    .process = failing_process,
    .close = failing_close,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &failing_op;
}
