/*
 * named.c - a test plugin whose operator name is whatever the environment
 * variable WEIR_TEST_OP_NAME says, so that a test can offer weir names
 * unfit for its state files (too long, a space, a slash). weir must refuse
 * those at load, naming the library and the rule; with a good name it is
 * a pass-through that snapshots its task index, so that each instance has
 * a state file of its own.
 */
#include <stdlib.h>
#include <weir/weir.h>

const weir_operator_t *weir_plugin_operator(void);

static int pass(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	(void)state;
	return weir_forward(ctx, rec);
}

static int snapshot(weir_ctx_t *ctx, void *state, weir_writer_t *w)
{
	(void)state;
	return weir_write_u64(w, (uint64_t)weir_task_index(ctx));
}

static weir_operator_t named_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "named",
    .state_version = 1,
    .process = pass,
    .snapshot = snapshot,
};

const weir_operator_t *weir_plugin_operator(void)
{
	const char *name = getenv("WEIR_TEST_OP_NAME");

	if (name)
		named_op.name = name;
	return &named_op;
}
