/*
 * fuzz_jrec.c - a record value read as JSON through tokens (jrec.c), held
 * to jansson: the verdict and the message for a value that is not JSON,
 * and for one that is, every field found by its dotted path has jansson's
 * type, value and compact text. Then the filter's predicates evaluate on
 * it (predicate.c), and count's and dedup's scalar key lookups.
 *
 * Input: a record value. When its first line compiles as a "where"
 * expression, the rest is the record and that expression is evaluated
 * too, so the fuzzer also explores predicates.
 */
#include "fuzz.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrec.h"
#include "predicate.h"
#include "util.h"

/* Fields compared with jansson per input, so one wide record does not
 * slow the fuzzer down to a crawl. */
#define MAX_FIELDS 256

static const char *const default_where[] = {
    "{\"field\": \"level\", \"op\": \"eq\", \"value\": \"ERROR\"}",
    "{\"any\": [{\"field\": \"a.b\", \"op\": \"gt\", \"value\": 3},"
    " {\"field\": \"s\", \"op\": \"prefix\", \"value\": \"x\"},"
    " {\"field\": \"s\", \"op\": \"matches\", \"value\": \"^a.*b$\"}]}",
    "{\"not\": {\"value_contains\": \"err\"}}",
    "{\"all\": [{\"field\": \"n\", \"op\": \"exists\"},"
    " {\"field\": \"x\", \"op\": \"le\", \"value\": 1.5},"
    " {\"field\": \"y\", \"op\": \"ne\", \"value\": null}]}",
    "{\"field\": \"a\", \"op\": \"contains\", \"value\": \"x\"}",
    "{\"field\": \"o\", \"op\": \"eq\", \"value\": {\"k\": [1, 2]}}",
    "{\"field\": \"n\", \"op\": \"lt\", \"value\": -9007199254740993}",
};
#define N_DEFAULT (sizeof(default_where) / sizeof(default_where[0]))
static const char *const key_paths[] = {"service", "id", "a.b", "user.id"};
#define N_KEYS (sizeof(key_paths) / sizeof(key_paths[0]))

/* The default predicates, compiled once: read-only after that. */
static struct pred *defaults[N_DEFAULT];

static struct pred *compile(const char *text, size_t len)
{
	struct errlist errs = {0};
	json_t *where = json_loadb(text, len, 0, NULL);
	struct pred *p = NULL;

	if (where)
		p = pred_compile(where, "where", &errs);
	assert(p ? errs.n == 0 : !where || errs.n > 0);
	json_decref(where);
	errlist_clear(&errs);
	return p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (size_t i = 0; i < N_DEFAULT; i++) {
		defaults[i] =
		    compile(default_where[i], strlen(default_where[i]));
		assert(defaults[i]);
	}
	return 0;
}

static void same_field(struct jrec *j, const char *path, json_t *want,
                       int *budget);

static void same_members(struct jrec *j, const char *prefix, json_t *want,
                         int *budget)
{
	const char *key;
	json_t *v;

	json_object_foreach(want, key, v) {
		char *path;

		if (*budget <= 0)
			return;
		/* A name with a dot cannot be addressed by a dotted path. */
		if (strchr(key, '.') || !*key)
			continue;
		path = xasprintf("%s%s%s", prefix, *prefix ? "." : "", key);
		same_field(j, path, v, budget);
		free(path);
	}
}

static void same_field(struct jrec *j, const char *path, json_t *want,
                       int *budget)
{
	struct fpath *fp = fpath_new(path);
	int tok = jrec_find(j, fp);
	char buf[512];
	size_t n;
	json_t *got;

	(*budget)--;
	assert(tok >= 0);
	assert(jrec_type(j, tok) == json_typeof(want));
	got = jrec_value(j, tok);
	assert(json_equal(got, want));
	json_decref(got);
	n = jrec_scalar_text(j, tok, buf, sizeof(buf));
	if (n > 0) {
		char *dump = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
		assert(dump && strlen(dump) == n && !memcmp(dump, buf, n));
		free(dump);
	}
	if (json_is_string(want)) {
		const char *s;
		size_t sl;

		jrec_string(j, tok, &s, &sl);
		assert(sl == json_string_length(want) &&
		       !memcmp(s, json_string_value(want), sl));
	} else if (json_is_integer(want)) {
		struct jnum num = jrec_number(j, tok);
		assert(num.is_int && num.i == json_integer_value(want));
	} else if (json_is_object(want)) {
		same_members(j, path, want, budget);
	}
	fpath_free(fp);
}

/* jrec and jansson agree on the value: verdict, message, fields. */
static void agree(struct jrec *j, const char *v, size_t n)
{
	json_error_t e;
	json_t *doc =
	    n ? json_loadb(v, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e) : NULL;
	bool ok = jrec_ok(j);
	int budget = MAX_FIELDS;
	char msg[200];

	assert(ok == (doc != NULL));
	if (!ok) {
		if (n == 0)
			snprintf(msg, sizeof(msg),
			         "value is not JSON: the value is empty");
		else
			snprintf(msg, sizeof(msg),
			         "value is not JSON: %.110s at byte %d", e.text,
			         e.position);
		assert(!strcmp(j->err, msg));
		return;
	}
	if (json_is_object(doc))
		same_members(j, "", doc, &budget);
	assert(json_equal(jrec_doc(j), doc));
	json_decref(doc);
}

static void eval(const struct pred *p, struct jrec *j)
{
	char err[256];
	enum pred_result r;

	err[0] = '\0';
	r = pred_eval(p, j, err, sizeof(err));
	assert(r == PRED_MATCH || r == PRED_NO_MATCH || r == PRED_ERROR);
	assert(r != PRED_ERROR || err[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nl = memchr(text, '\n', size);
	struct pred *own = nl ? compile(text, (size_t)(nl - text)) : NULL;
	const char *rec = own ? nl + 1 : text;
	size_t len = own ? size - (size_t)(nl + 1 - text) : size;
	struct jrec j;
	char *z;

	/* The reader on exactly the bytes, so a read past them shows. */
	jrec_init(&j, rec, len);
	agree(&j, rec, len);
	/* A used jrec moved to the same value reads it the same way. */
	jrec_reset(&j, rec, len);
	agree(&j, rec, len);

	/* The predicates on exactly the bytes too, as a filter sees a
	 * record in its batch: "matches" must not let regexec (or the
	 * sanitizers' regexec interceptor, which runs strlen first) read
	 * past an unterminated field. */
	z = xmalloc(len ? len : 1);
	memcpy(z, rec, len);
	jrec_reset(&j, z, len);
	if (own)
		eval(own, &j);
	for (size_t i = 0; i < N_DEFAULT; i++)
		eval(defaults[i], &j);
	for (size_t i = 0; i < N_KEYS; i++) {
		struct fpath *fp = fpath_new(key_paths[i]);
		int tok = jrec_find_scalar(&j, fp);
		char buf[256];

		if (tok >= 0)
			(void)jrec_scalar_text(&j, tok, buf, sizeof(buf));
		fpath_free(fp);
	}
	jrec_clear(&j);
	free(z);
	pred_free(own);
	return 0;
}
