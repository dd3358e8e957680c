/*
 * keyroute.c - key groups and key text (see keyroute.h).
 */
#include "keyroute.h"

#include <stdio.h>
#include <xxhash.h>

#include "task.h"

int key_group(const void *key, size_t len)
{
	return (int)(XXH64(key, len, 0) % KEY_GROUPS);
}

int key_group_owner(int group, int parallelism)
{
	return group * parallelism / KEY_GROUPS;
}

const char *key_text(struct jrec *j, const struct fpath *path, char *buf,
                     size_t buflen, size_t *len)
{
	int tok = jrec_find(j, path);
	const char *s;
	int n;

	*len = 0;
	if (tok < 0)
		return "";
	switch (jrec_type(j, tok)) {
	case JSON_STRING:
		jrec_string(j, tok, &s, len);
		return s;
	case JSON_INTEGER:
		n = snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT,
		             jrec_number(j, tok).i);
		break;
	case JSON_REAL:
		n = snprintf(buf, buflen, "%.17g", jrec_number(j, tok).d);
		break;
	case JSON_TRUE:
		n = snprintf(buf, buflen, "true");
		break;
	case JSON_FALSE:
		n = snprintf(buf, buflen, "false");
		break;
	case JSON_NULL:
		n = snprintf(buf, buflen, "null");
		break;
	default:
		return "";
	}
	*len = n < 0 ? 0 : (size_t)n < buflen ? (size_t)n : buflen - 1;
	return buf;
}
