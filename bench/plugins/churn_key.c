/*
 * churn_key.c - a bench-only plugin that gives each generator record a key
 * in [0, keys), so that a keyed operator after it holds a fixed number of
 * keys and the generator's rate sets how many of them change a second.
 * Records seq 0 .. keys-1 take key seq, so a run of `keys` records fills
 * every key once; every later record takes a key hashed from its seq
 * (uniform over the keys). bench/bench.py fills the state with a fast
 * run, then restarts the job from its checkpoint with a rate.
 *
 *   {"type": "plugin", "library": "build/bench/libchurn_key.so",
 *    "keys": 10000000}
 *
 * Output value {"k":<key>,"seq":<seq>}; the record key is left as it was.
 * bench.py computes the same keys (churn_key() there) to know how many
 * distinct keys an interval changed.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weir/weir.h>

#define SEQ_AT "{\"seq\":"

struct churn_key {
	uint64_t keys;
};

static int churn_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	json_error_t jerr;
	json_t *cfg = json_loads(config_json, 0, &jerr);
	json_t *keys = json_object_get(cfg, "keys");
	struct churn_key *c;

	if (!cfg)
		return weir_error(ctx, "config: %s", jerr.text);
	if (!json_is_integer(keys) || json_integer_value(keys) < 1) {
		json_decref(cfg);
		return weir_error(ctx, "keys: required, a whole number >= 1 "
		                       "(how many distinct keys to produce)");
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	c->keys = (uint64_t)json_integer_value(keys);
	json_decref(cfg);
	*state = c;
	return WEIR_OK;
}

/* splitmix64's finaliser: bench.py's churn_key() is the same. */
static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static int churn_process(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	struct churn_key *c = state;
	size_t vlen, at = sizeof(SEQ_AT) - 1;
	const char *v = weir_record_value(rec, &vlen);
	uint64_t seq = 0, key;
	char out[64];
	int n;

	if (!v || vlen <= at || memcmp(v, SEQ_AT, at) != 0 || v[at] < '0' ||
	    v[at] > '9')
		return weir_record_error(ctx, rec,
		                         "expected a generator record, "
		                         "{\"seq\":N,...}");
	for (; at < vlen && v[at] >= '0' && v[at] <= '9'; at++)
		seq = seq * 10 + (uint64_t)(v[at] - '0');
	key = seq < c->keys ? seq : mix(seq) % c->keys;
	n = snprintf(out, sizeof(out), "{\"k\":%llu,\"seq\":%llu}",
	             (unsigned long long)key, (unsigned long long)seq);
	return weir_emit(ctx, NULL, 0, out, (size_t)n);
}

static void churn_close(weir_ctx_t *ctx, void *state)
{
	(void)ctx;
	free(state);
}

static const weir_operator_t churn_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "churn_key",
    .state_version = 1,
    .open = churn_open,
    .process = churn_process,
    .close = churn_close,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &churn_op;
}
