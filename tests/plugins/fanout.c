/*
 * fanout.c - a test plugin that turns each input record into several
 * outputs, to check that exactly-once output numbers every output of one
 * source record apart, through chains of such operators. Configuration:
 *
 *   "tag": "a"            names this stage in the outputs' values
 *   "copies": N           emits N records per input (default 1): value
 *                         "<input value>|<tag><i>" for i = 0..N-1
 *   "forward_first": true calls weir_forward(input) before the copies
 *   "delay_us": D         sleeps D microseconds per input record, so that
 *                         a test can stop the job in the middle of a run
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weir/weir.h>

struct fanout {
	char tag[16];
	long copies;
	int forward_first;
	long delay_us;
	char *buf;
	size_t cap;
};

static int fanout_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	json_error_t jerr;
	json_t *cfg = json_loads(config_json, 0, &jerr);
	struct fanout *f;
	const char *tag;

	if (!cfg)
		return weir_error(ctx, "config: %s", jerr.text);
	f = calloc(1, sizeof(*f));
	if (!f) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	tag = json_string_value(json_object_get(cfg, "tag"));
	snprintf(f->tag, sizeof(f->tag), "%s", tag ? tag : "x");
	f->copies =
	    json_object_get(cfg, "copies")
	        ? (long)json_integer_value(json_object_get(cfg, "copies"))
	        : 1;
	f->forward_first = json_is_true(json_object_get(cfg, "forward_first"));
	f->delay_us =
	    (long)json_integer_value(json_object_get(cfg, "delay_us"));
	json_decref(cfg);
	if (f->copies < 0 || f->copies > 100000) {
		free(f);
		return weir_error(ctx, "copies: 0 to 100000");
	}
	*state = f;
	return WEIR_OK;
}

static int fanout_process(weir_ctx_t *ctx, void *state,
                          const weir_record_t *rec)
{
	struct fanout *f = state;
	size_t vlen, klen;
	const void *v = weir_record_value(rec, &vlen);
	const void *k = weir_record_key(rec, &klen);
	size_t need = vlen + 1 + sizeof(f->tag) + 24;

	if (f->delay_us > 0)
		usleep((useconds_t)f->delay_us);
	if (f->forward_first && weir_forward(ctx, rec) != WEIR_OK)
		return WEIR_ERR;
	if (need > f->cap) {
		char *nb = realloc(f->buf, need);

		if (!nb)
			return weir_error(ctx, "out of memory");
		f->buf = nb;
		f->cap = need;
	}
	for (long i = 0; i < f->copies; i++) {
		int n;

		if (vlen)
			memcpy(f->buf, v, vlen);
		n = snprintf(f->buf + vlen, f->cap - vlen, "|%s%ld", f->tag, i);
		if (weir_emit(ctx, k, klen, f->buf, vlen + (size_t)n) !=
		    WEIR_OK)
			return WEIR_ERR;
	}
	return WEIR_OK;
}

static void fanout_close(weir_ctx_t *ctx, void *state)
{
	struct fanout *f = state;

	if (f)
		free(f->buf);
	free(f);
}

static const weir_operator_t fanout = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "fanout",
    .state_version = 1,
    .open = fanout_open,
    .process = fanout_process,
    .close = fanout_close,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &fanout;
}
