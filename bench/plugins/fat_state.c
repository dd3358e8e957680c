/*
 * fat_state.c - a bench-only keyed plugin that keeps one large value per
 * key, to build a given amount of keyed state with few keys (1M keys of
 * 1 KB make 1 GB). For each record it stores, under its key, `bytes` bytes
 * that start with the record's seq and go on with xorshift64 output seeded
 * by it, so that lz4 cannot shrink them and "raw" is about "on disk"; then
 * it forwards the record unchanged. Input: churn_key's {"k":K,"seq":S}.
 *
 *   {"type": "plugin", "library": "build/bench/libfat_state.so",
 *    "key": "k", "bytes": 1000}
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weir/weir.h>

#define SEQ_AT "\"seq\":"
#define MAX_BYTES 65536

struct fat_state {
	size_t bytes;
	uint64_t *buf;
};

static int fat_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	json_error_t jerr;
	json_t *cfg = json_loads(config_json, 0, &jerr);
	json_t *bytes = json_object_get(cfg, "bytes");
	struct fat_state *f;

	if (!cfg)
		return weir_error(ctx, "config: %s", jerr.text);
	if (!json_is_integer(bytes) || json_integer_value(bytes) < 8 ||
	    json_integer_value(bytes) > MAX_BYTES) {
		json_decref(cfg);
		return weir_error(ctx,
		                  "bytes: required, 8 to %d (the size "
		                  "of each key's value)",
		                  MAX_BYTES);
	}
	f = calloc(1, sizeof(*f));
	if (f)
		f->bytes = (size_t)json_integer_value(bytes);
	json_decref(cfg);
	if (f)
		f->buf = malloc((f->bytes + 7) / 8 * 8);
	if (!f || !f->buf) {
		free(f);
		return weir_error(ctx, "out of memory");
	}
	*state = f;
	return WEIR_OK;
}

static int fat_process(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	struct fat_state *f = state;
	size_t vlen;
	const char *v = weir_record_value(rec, &vlen);
	const char *at = v ? memmem(v, vlen, SEQ_AT, sizeof(SEQ_AT) - 1) : NULL;
	uint64_t seq = 0, x;

	if (!at)
		return weir_record_error(ctx, rec, "no \"seq\" field");
	for (at += sizeof(SEQ_AT) - 1;
	     at < v + vlen && *at >= '0' && *at <= '9'; at++)
		seq = seq * 10 + (uint64_t)(*at - '0');
	x = seq * 0x9E3779B97F4A7C15ull | 1;
	f->buf[0] = seq;
	for (size_t i = 1; i < (f->bytes + 7) / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f->buf[i] = x;
	}
	if (weir_state_put(ctx, "v", 1, f->buf, f->bytes) != WEIR_OK)
		return WEIR_ERR;
	return weir_forward(ctx, rec);
}

static void fat_close(weir_ctx_t *ctx, void *state)
{
	struct fat_state *f = state;

	(void)ctx;
	free(f->buf);
	free(f);
}

static const weir_operator_t fat_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "fat_state",
    .state_version = 1,
    .open = fat_open,
    .process = fat_process,
    .close = fat_close,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &fat_op;
}
