/*
 * keyfield.c - keys from a field of a record's JSON value (see keyfield.h).
 */
#include "keyfield.h"

#include <stdio.h>
#include <stdlib.h>

#include "opctx.h"
#include "task.h"
#include "util.h"

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

/* A routing task's keyer: the field, and a token buffer kept from record
 * to record for values that are not the operator's input. */
struct keyer {
	struct fpath *path;
	struct jrec json;
	struct weir_ctx *ctx;
};

static size_t keyer_key(void *st, struct task *t, const void *value,
                        size_t value_len, char *buf, size_t buflen,
                        const char **key)
{
	struct keyer *k = st;
	const struct weir_record *in = t->cur_in;
	struct jrec *j = &k->json;
	size_t len;

	if (k->ctx && in && value == in->value && value_len == in->value_len)
		j = opctx_input_json(k->ctx);
	else
		jrec_reset(j, value, value_len);
	*key = key_text(j, k->path, buf, buflen, &len);
	return len;
}

static void keyer_free(void *st)
{
	struct keyer *k = st;

	fpath_free(k->path);
	jrec_clear(&k->json);
	free(k);
}

void keyfield_route(struct task *t, const char *field, struct weir_ctx *ctx)
{
	struct keyer *k = xcalloc(1, sizeof(*k));

	k->path = fpath_new(field);
	jrec_init(&k->json, NULL, 0);
	k->ctx = ctx;
	if (t->keyer.free)
		t->keyer.free(t->keyer.st);
	t->keyer = (struct task_keyer){keyer_key, keyer_free, k};
}
