/*
 * v1_tally.c - a test plugin built against the version-1 weir.h alone
 * (tests/v1/weir.h, the header as it was before version 2), as a plugin
 * compiled years ago would be. weir must load it and run it unchanged:
 * for each record of a keyed job it emits the record's value upper-cased,
 * prefixed with the key's count so far and a space ("3 {"LEVEL":...}"),
 * keeping the count in managed keyed state.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir.h"

#if WEIR_API_VERSION != 1
#error "v1_tally must be built against the version-1 header"
#endif

const weir_operator_t *weir_plugin_operator(void);

static int tally(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	const void *old, *key, *value;
	size_t old_len, key_len, value_len, n_len;
	unsigned long long n = 0;
	char *out;
	int rc;

	(void)state;
	rc = weir_state_get(ctx, "n", 1, &old, &old_len);
	if (rc == WEIR_ENOTSUP)
		return weir_error(ctx, "v1_tally needs a \"key\"");
	if (rc == WEIR_OK && old_len == sizeof(n))
		memcpy(&n, old, sizeof(n));
	n++;
	if (weir_state_put(ctx, "n", 1, &n, sizeof(n)) != WEIR_OK)
		return WEIR_ERR;
	key = weir_record_key(rec, &key_len);
	value = weir_record_value(rec, &value_len);
	out = malloc(value_len + 24);
	if (!out)
		return weir_error(ctx, "out of memory");
	n_len = (size_t)snprintf(out, 24, "%llu ", n);
	for (size_t i = 0; i < value_len; i++)
		out[n_len + i] =
		    (char)toupper((unsigned char)((const char *)value)[i]);
	rc = weir_emit(ctx, key, key_len, out, n_len + value_len);
	free(out);
	return rc;
}

static const weir_operator_t v1_tally_op = {
    .api_version = WEIR_API_VERSION,
    .name = "v1_tally",
    .state_version = 1,
    .process = tally,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &v1_tally_op;
}
