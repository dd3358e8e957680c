/*
 * wmprobe.c - a test plugin that shows what an operator sees of event
 * time: for each record it emits {"p": partition, "o": offset, "ts": its
 * timestamp, "wm": the watermark at that moment}, keyed like the input.
 * At close it logs the last watermark, so a test sees the end of a
 * bounded input (WEIR_WATERMARK_END) arrive. Written against weir.h
 * version 2.
 */
#include <inttypes.h>
#include <stdio.h>
#include <weir/weir.h>

const weir_operator_t *weir_plugin_operator(void);

static int probe(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	const char *topic;
	int32_t part;
	int64_t off;
	uint32_t seq;
	const void *key;
	size_t klen;
	char out[160];
	int n;

	(void)state;
	weir_record_lineage(rec, &topic, &part, &off, &seq);
	key = weir_record_key(rec, &klen);
	n = snprintf(out, sizeof(out),
	             "{\"p\":%" PRId32 ",\"o\":%" PRId64 ",\"ts\":%" PRId64
	             ",\"wm\":%" PRId64 "}",
	             part, off, weir_record_timestamp(rec),
	             weir_current_watermark(ctx));
	return weir_emit(ctx, key, klen, out, (size_t)n);
}

static void close_probe(weir_ctx_t *ctx, void *state)
{
	(void)state;
	weir_log(ctx, "wmprobe closes at watermark %" PRId64,
	         weir_current_watermark(ctx));
}

static const weir_operator_t wmprobe_op = {
    .api_version = WEIR_API_VERSION,
    .name = "wmprobe",
    .process = probe,
    .close = close_probe,
    .struct_size = WEIR_OPERATOR_SIZE,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &wmprobe_op;
}
