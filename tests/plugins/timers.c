/*
 * timers.c - a test plugin of operator API version 2: counts records per
 * key and minute of event time, and emits each count once the watermark
 * has passed its minute. Keyed (needs "key"). For a record of time ts in
 * minute m = ts / 60000 it adds one to the key's count of m (state name
 * "n" and m) and sets an event-time timer at the minute's last
 * millisecond; when that fires it emits
 *
 *   {"key": "<key>", "minute": m, "n": <count>}
 *
 * with the key as record key, and deletes the count. It also sets, on a
 * key's first record, a processing-time timer "processing_ms" (default
 * 100) ahead, which logs "processing timer of <key> fired"; end_input
 * emits {"end": <task index>, "fired": <event timers this instance
 * fired>}; checkpoint_aborted logs "checkpoint <id> aborted".
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weir/weir.h>

#define MINUTE_MS 60000

const weir_operator_t *weir_plugin_operator(void);

struct tm_state {
	int64_t processing_ms;
	uint64_t fired;
};

static int tm_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	json_t *cfg = json_loads(config_json, 0, NULL), *v;
	struct tm_state *s;

	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "expected a JSON object");
	}
	if (!json_object_get(cfg, "key")) {
		json_decref(cfg);
		return weir_error(ctx, "key: required: timers belong to keys");
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	v = json_object_get(cfg, "processing_ms");
	s->processing_ms = json_is_integer(v) ? json_integer_value(v) : 100;
	json_decref(cfg);
	*state = s;
	return WEIR_OK;
}

/* "n" and the minute, 8 bytes little-endian. */
static void count_name(char *name, int64_t minute)
{
	name[0] = 'n';
	for (int i = 0; i < 8; i++)
		name[1 + i] = (char)((uint64_t)minute >> (8 * i));
}

static int tm_process(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	struct tm_state *s = state;
	int64_t ts = weir_record_timestamp(rec), minute;
	const void *v;
	size_t vl;
	uint64_t n = 0;
	char name[9];

	if (ts < 0)
		return weir_record_error(ctx, rec, "no timestamp");
	minute = ts / MINUTE_MS;
	count_name(name, minute);
	if (weir_state_get(ctx, name, sizeof(name), &v, &vl) == WEIR_OK &&
	    vl == sizeof(n))
		memcpy(&n, v, sizeof(n));
	n++;
	if (weir_state_get(ctx, "p", 1, &v, &vl) != WEIR_OK) {
		if (weir_state_put(ctx, "p", 1, "", 0) != WEIR_OK ||
		    weir_timer_set(ctx, WEIR_TIME_PROCESSING,
		                   weir_current_processing_time(ctx) +
		                       s->processing_ms) != WEIR_OK)
			return WEIR_ERR;
	}
	if (weir_state_put(ctx, name, sizeof(name), &n, sizeof(n)) != WEIR_OK)
		return WEIR_ERR;
	return weir_timer_set(ctx, WEIR_TIME_EVENT,
	                      (minute + 1) * MINUTE_MS - 1);
}

static int tm_timer(weir_ctx_t *ctx, void *state, int domain, int64_t time)
{
	struct tm_state *s = state;
	const void *key, *v;
	size_t klen, vl;
	uint64_t n = 0;
	int64_t minute = (time + 1) / MINUTE_MS - 1;
	char name[9], out[256];
	int len;

	if (weir_state_key(ctx, &key, &klen) != WEIR_OK)
		return WEIR_ERR;
	if (domain == WEIR_TIME_PROCESSING) {
		weir_log(ctx, "processing timer of %.*s fired", (int)klen,
		         (const char *)key);
		return WEIR_OK;
	}
	count_name(name, minute);
	if (weir_state_get(ctx, name, sizeof(name), &v, &vl) != WEIR_OK ||
	    vl != sizeof(n))
		return weir_error(ctx,
		                  "timer of minute %" PRId64
		                  " fired, but the key has no count",
		                  minute);
	memcpy(&n, v, sizeof(n));
	if (weir_state_delete(ctx, name, sizeof(name)) != WEIR_OK)
		return WEIR_ERR;
	s->fired++;
	len = snprintf(
	    out, sizeof(out),
	    "{\"key\":\"%.*s\",\"minute\":%" PRId64 ",\"n\":%" PRIu64 "}",
	    (int)(klen < 100 ? klen : 100), (const char *)key, minute, n);
	return weir_emit(ctx, key, klen, out, (size_t)len);
}

static int tm_end(weir_ctx_t *ctx, void *state)
{
	struct tm_state *s = state;
	char out[96];
	int len =
	    snprintf(out, sizeof(out), "{\"end\":%d,\"fired\":%" PRIu64 "}",
	             weir_task_index(ctx), s->fired);

	return weir_emit(ctx, NULL, 0, out, (size_t)len);
}

static int tm_aborted(weir_ctx_t *ctx, void *state, uint64_t id)
{
	(void)state;
	weir_log(ctx, "checkpoint %llu aborted", (unsigned long long)id);
	return WEIR_OK;
}

static void tm_close(weir_ctx_t *ctx, void *state)
{
	(void)ctx;
	free(state);
}

static const weir_operator_t timers_op = {
    .api_version = WEIR_API_VERSION,
    .name = "timers",
    .state_version = 1,
    .open = tm_open,
    .process = tm_process,
    .close = tm_close,
    .struct_size = WEIR_OPERATOR_SIZE,
    .on_timer = tm_timer,
    .end_input = tm_end,
    .checkpoint_aborted = tm_aborted,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &timers_op;
}
