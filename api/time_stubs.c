/*
 * time_stubs.c - TEMPORARY: the version-2 time functions of weir.h until
 * they are implemented (issue 13). Each helper deletes the stubs it
 * replaces; the file goes when it is empty.
 */
#include "opctx.h"

int64_t weir_current_watermark(const weir_ctx_t *ctx)
{
	(void)ctx;
	return WEIR_WATERMARK_MIN;
}

int64_t weir_current_processing_time(const weir_ctx_t *ctx)
{
	(void)ctx;
	return 0;
}
