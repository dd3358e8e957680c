/*
 * opconfig.c - shared config reading of the built-in operators (see
 * opconfig.h).
 */
#include "opconfig.h"

#include <stdlib.h>
#include <string.h>

static const char *const common_fields[] = {
    "type",   "name", "parallelism", "key", "on_error", "dead_letter_topic",
    "ttl_ms",
};

bool opconfig_is_common(const char *field)
{
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(*common_fields);
	     i++)
		if (strcmp(field, common_fields[i]) == 0)
			return true;
	return false;
}

int opconfig_fail(weir_ctx_t *ctx, const struct errlist *errs)
{
	size_t len = 1;
	char *all;
	int rc;

	for (size_t i = 0; i < errs->n; i++)
		len += strlen(errs->msgs[i]) + 1;
	all = xmalloc(len);
	all[0] = '\0';
	for (size_t i = 0; i < errs->n; i++) {
		if (i)
			strcat(all, "\n");
		strcat(all, errs->msgs[i]);
	}
	rc = weir_error(ctx, "%s", all);
	free(all);
	return rc;
}

const char *opconfig_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}
