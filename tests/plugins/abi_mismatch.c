/*
 * abi_mismatch.c - a test plugin that claims the next operator API
 * version, as a plugin built against a newer weir.h would. weir must
 * refuse it at load, naming the library and both versions, and call
 * nothing in it but the entry point.
 */
#include <weir/weir.h>

const weir_operator_t *weir_plugin_operator(void);

static int never_process(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	(void)state;
	(void)rec;
	return weir_error(ctx, "process of a refused plugin was called");
}

static const weir_operator_t future_op = {
    .api_version = WEIR_API_VERSION + 1,
    .name = "future",
    .state_version = 1,
    .process = never_process,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &future_op;
}
