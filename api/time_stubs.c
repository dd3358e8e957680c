/*
 * time_stubs.c - TEMPORARY: the version-2 time functions of weir.h until
 * they are implemented (issue 13). Each helper deletes the stubs it
 * replaces; the file goes when it is empty.
 */
#include "opctx.h"

int weir_timer_set(weir_ctx_t *ctx, int domain, int64_t time_ms)
{
	(void)domain;
	(void)time_ms;
	return weir_error(ctx, "timers are not implemented yet");
}

int weir_timer_delete(weir_ctx_t *ctx, int domain, int64_t time_ms)
{
	(void)domain;
	(void)time_ms;
	return weir_error(ctx, "timers are not implemented yet");
}

int weir_state_expire_at(weir_ctx_t *ctx, int64_t time_ms)
{
	(void)time_ms;
	return weir_error(ctx, "expiry is not implemented yet");
}
