/*
 * test_predicate.c - the filter's where expressions: every operator on the
 * value types it meets, nested fields, the three-valued all/any/not rules,
 * raw matching on non-JSON values, and every compile error with its path.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "predicate.h"

static char last_err[256];

static struct pred *compile_ok(const char *where)
{
	struct errlist errs = {0};
	json_error_t jerr;
	json_t *w = json_loads(where, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	struct pred *p;

	ck_assert_msg(w != NULL, "test JSON %s: %s", where, jerr.text);
	p = pred_compile(w, "where", &errs);
	ck_assert_msg(p != NULL, "%s did not compile: %s", where,
	              errs.n ? errs.msgs[0] : "(no message)");
	ck_assert_uint_eq(errs.n, 0);
	json_decref(w);
	return p;
}

/* Evaluates where on a record of len bytes; the reason goes to last_err. */
static enum pred_result evaln(const char *where, const char *rec, size_t len)
{
	struct pred *p = compile_ok(where);
	struct jrec j;
	enum pred_result r;

	last_err[0] = '\0';
	jrec_init(&j, rec, len);
	r = pred_eval(p, &j, last_err, sizeof(last_err));
	jrec_clear(&j);
	pred_free(p);
	return r;
}

static enum pred_result eval(const char *where, const char *rec)
{
	return evaln(where, rec, rec ? strlen(rec) : 0);
}

/* The compile errors of where, one per line; fails if it compiled. */
static char *compile_errors(const char *where, size_t *n)
{
	struct errlist errs = {0};
	json_error_t jerr;
	json_t *w = json_loads(where, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	struct pred *p;
	char *all = NULL;
	size_t len = 1;

	ck_assert_msg(w != NULL, "test JSON %s: %s", where, jerr.text);
	p = pred_compile(w, "where", &errs);
	ck_assert_msg(p == NULL, "%s compiled but should not", where);
	ck_assert_uint_gt(errs.n, 0);
	for (size_t i = 0; i < errs.n; i++)
		len += strlen(errs.msgs[i]) + 1;
	all = calloc(1, len);
	for (size_t i = 0; i < errs.n; i++) {
		strcat(all, errs.msgs[i]);
		strcat(all, "\n");
	}
	if (n)
		*n = errs.n;
	errlist_clear(&errs);
	json_decref(w);
	return all;
}

#define assert_has(hay, needle)                                                \
	ck_assert_msg(strstr((hay), (needle)) != NULL,                         \
	              "expected \"%s\" in:\n%s", (needle), (hay))

/* One compile error, expected to hold each of the given fragments. */
static void expect_compile_error(const char *where, const char *frag1,
                                 const char *frag2)
{
	char *e = compile_errors(where, NULL);
	assert_has(e, frag1);
	if (frag2)
		assert_has(e, frag2);
	free(e);
}

#define M PRED_MATCH
#define N PRED_NO_MATCH
#define E PRED_ERROR

/* --- eq / ne ------------------------------------------------------------ */

START_TEST(eq_numbers)
{
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":1}", "{\"n\":1}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":1}", "{\"n\":1.0}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":1.0}", "{\"n\":1}"),
	    M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":2.5}",
	                      "{\"n\":2.5}"),
	                 M);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":1}", "{\"n\":2}"),
	    N);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":1}", "{\"n\":1.5}"),
	    N);
	/* Large integers compare exactly, not through double. */
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\","
	                      "\"value\":9007199254740993}",
	                      "{\"n\":9007199254740992}"),
	                 N);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"ne\",\"value\":1}", "{\"n\":1.0}"),
	    N);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"ne\",\"value\":1}", "{\"n\":3}"),
	    M);
}
END_TEST

START_TEST(eq_strings_bools_null)
{
	const char *lvl =
	    "{\"field\":\"level\",\"op\":\"eq\",\"value\":\"ERROR\"}";
	ck_assert_int_eq(eval(lvl, "{\"level\":\"ERROR\"}"), M);
	ck_assert_int_eq(eval(lvl, "{\"level\":\"error\"}"), N);
	ck_assert_int_eq(eval(lvl, "{\"level\":\"ERRORS\"}"), N);
	ck_assert_int_eq(eval(lvl, "{\"level\":\"ERR\"}"), N);
	/* Strings compare as bytes, NULs included. */
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"eq\","
	                      "\"value\":\"a\\u0000b\"}",
	                      "{\"s\":\"a\\u0000b\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"eq\","
	                      "\"value\":\"a\\u0000b\"}",
	                      "{\"s\":\"a\\u0000c\"}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"b\",\"op\":\"eq\",\"value\":true}",
	                      "{\"b\":true}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"b\",\"op\":\"eq\",\"value\":true}",
	                      "{\"b\":false}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"b\",\"op\":\"eq\",\"value\":false}",
	                      "{\"b\":false}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"b\",\"op\":\"ne\",\"value\":false}",
	                      "{\"b\":true}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"x\",\"op\":\"eq\",\"value\":null}",
	                      "{\"x\":null}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"x\",\"op\":\"ne\",\"value\":null}",
	                      "{\"x\":null}"),
	                 N);
	ck_assert_int_eq(
	    eval("{\"field\":\"x\",\"op\":\"eq\",\"value\":null}", "{\"x\":0}"),
	    N);
}
END_TEST

START_TEST(eq_different_types)
{
	/* Never an error: eq is false, ne is true. */
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":\"1\"}",
	                      "{\"n\":1}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"ne\",\"value\":\"1\"}",
	                      "{\"n\":1}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":0}",
	                      "{\"n\":false}"),
	                 N);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"ne\",\"value\":0}", "{\"n\":null}"),
	    M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":true}",
	                      "{\"n\":\"true\"}"),
	                 N);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":1}", "{\"n\":[1]}"),
	    N);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"ne\",\"value\":1}",
	                      "{\"n\":{\"a\":1}}"),
	                 M);
}
END_TEST

START_TEST(eq_arrays_objects)
{
	ck_assert_int_eq(
	    eval("{\"field\":\"a\",\"op\":\"eq\",\"value\":[1,\"x\"]}",
	         "{\"a\":[1.0,\"x\"]}"),
	    M);
	ck_assert_int_eq(eval("{\"field\":\"a\",\"op\":\"eq\",\"value\":[1,2]}",
	                      "{\"a\":[2,1]}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"a\",\"op\":\"eq\",\"value\":[1]}",
	                      "{\"a\":[1,1]}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"o\",\"op\":\"eq\","
	                      "\"value\":{\"x\":1,\"y\":[true]}}",
	                      "{\"o\":{\"y\":[true],\"x\":1.0}}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"o\",\"op\":\"eq\","
	                      "\"value\":{\"x\":1}}",
	                      "{\"o\":{\"x\":1,\"z\":2}}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"o\",\"op\":\"eq\","
	                      "\"value\":{\"x\":1,\"z\":3}}",
	                      "{\"o\":{\"x\":1,\"y\":3}}"),
	                 N);
}
END_TEST

/* --- lt le gt ge -------------------------------------------------------- */

START_TEST(order_numbers)
{
	const char *r = "{\"n\":5}";
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"lt\",\"value\":6}", r),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"lt\",\"value\":5}", r),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"le\",\"value\":5}", r),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"le\",\"value\":4}", r),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"gt\",\"value\":4}", r),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"gt\",\"value\":5}", r),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"ge\",\"value\":5}", r),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"ge\",\"value\":6}", r),
	                 N);
	/* Integers and reals mix. */
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"lt\",\"value\":5.5}", r), M);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"ge\",\"value\":5.0}", r), M);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"gt\",\"value\":4}", "{\"n\":4.01}"),
	    M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"lt\",\"value\":-1}",
	                      "{\"n\":-2.5}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"gt\","
	                      "\"value\":9007199254740992}",
	                      "{\"n\":9007199254740993}"),
	                 M);
}
END_TEST

START_TEST(order_strings)
{
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"lt\",\"value\":\"abd\"}",
	         "{\"s\":\"abc\"}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"lt\",\"value\":\"abc\"}",
	         "{\"s\":\"ab\"}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"gt\",\"value\":\"ab\"}",
	         "{\"s\":\"abc\"}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"le\",\"value\":\"abc\"}",
	         "{\"s\":\"abc\"}"),
	    M);
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"ge\",\"value\":\"b\"}",
	                      "{\"s\":\"abc\"}"),
	                 N);
	/* Byte order: uppercase before lowercase, UTF-8 after ASCII. */
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"lt\",\"value\":\"a\"}",
	                      "{\"s\":\"Z\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"gt\",\"value\":\"z\"}",
	                      "{\"s\":\"\xc3\xa9\"}"),
	                 M);
	/* A date in ISO form compares as text. */
	ck_assert_int_eq(eval("{\"field\":\"t\",\"op\":\"ge\","
	                      "\"value\":\"2026-01-01\"}",
	                      "{\"t\":\"2026-03-04T00:00:00Z\"}"),
	                 M);
}
END_TEST

START_TEST(order_mixed_types)
{
	/* Other combinations are NO_MATCH, for every order op. */
	const char *ops[] = {"lt", "le", "gt", "ge"};
	char w[128];

	for (size_t i = 0; i < 4; i++) {
		snprintf(w, sizeof(w),
		         "{\"field\":\"v\",\"op\":\"%s\",\"value\":5}", ops[i]);
		ck_assert_int_eq(eval(w, "{\"v\":\"5\"}"), N);
		ck_assert_int_eq(eval(w, "{\"v\":true}"), N);
		ck_assert_int_eq(eval(w, "{\"v\":null}"), N);
		ck_assert_int_eq(eval(w, "{\"v\":[5]}"), N);
		ck_assert_int_eq(eval(w, "{\"v\":{}}"), N);
		snprintf(w, sizeof(w),
		         "{\"field\":\"v\",\"op\":\"%s\",\"value\":\"5\"}",
		         ops[i]);
		ck_assert_int_eq(eval(w, "{\"v\":5}"), N);
		ck_assert_int_eq(eval(w, "{\"v\":false}"), N);
	}
}
END_TEST

/* --- contains prefix exists matches ------------------------------------- */

START_TEST(contains_op)
{
	const char *w =
	    "{\"field\":\"msg\",\"op\":\"contains\",\"value\":\"time\"}";
	ck_assert_int_eq(eval(w, "{\"msg\":\"connection timeout\"}"), M);
	ck_assert_int_eq(eval(w, "{\"msg\":\"time\"}"), M);
	ck_assert_int_eq(eval(w, "{\"msg\":\"tim\"}"), N);
	ck_assert_int_eq(eval(w, "{\"msg\":\"TIME\"}"), N);
	ck_assert_int_eq(eval(w, "{\"msg\":\"\"}"), N);
	ck_assert_int_eq(eval(w, "{\"msg\":42}"), N);
	ck_assert_int_eq(eval(w, "{\"msg\":[\"time\"]}"), N);
	ck_assert_int_eq(eval(w, "{\"msg\":null}"), N);
	/* Past an embedded NUL. */
	ck_assert_int_eq(eval(w, "{\"msg\":\"a\\u0000time\"}"), M);
	ck_assert_int_eq(eval("{\"field\":\"msg\",\"op\":\"contains\","
	                      "\"value\":\"\"}",
	                      "{\"msg\":\"x\"}"),
	                 M);
}
END_TEST

START_TEST(prefix_op)
{
	const char *w =
	    "{\"field\":\"path\",\"op\":\"prefix\",\"value\":\"/api/\"}";
	ck_assert_int_eq(eval(w, "{\"path\":\"/api/users\"}"), M);
	ck_assert_int_eq(eval(w, "{\"path\":\"/api/\"}"), M);
	ck_assert_int_eq(eval(w, "{\"path\":\"/api\"}"), N);
	ck_assert_int_eq(eval(w, "{\"path\":\"/v1/api/\"}"), N);
	ck_assert_int_eq(eval(w, "{\"path\":7}"), N);
	ck_assert_int_eq(eval(w, "{\"path\":true}"), N);
}
END_TEST

START_TEST(exists_op)
{
	const char *w = "{\"field\":\"a.b\",\"op\":\"exists\"}";
	ck_assert_int_eq(eval(w, "{\"a\":{\"b\":1}}"), M);
	ck_assert_int_eq(eval(w, "{\"a\":{\"b\":null}}"), M);
	ck_assert_int_eq(eval(w, "{\"a\":{\"c\":1}}"), N);
	ck_assert_int_eq(eval(w, "{\"a\":5}"), N);
	ck_assert_int_eq(eval(w, "{}"), N);
	ck_assert_int_eq(eval(w, "[1,2]"), N);
	ck_assert_int_eq(eval("{\"field\":\"a\",\"op\":\"exists\","
	                      "\"value\":true}",
	                      "{\"a\":0}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"a\",\"op\":\"exists\","
	                      "\"value\":false}",
	                      "{\"a\":0}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"a\",\"op\":\"exists\","
	                      "\"value\":false}",
	                      "{\"b\":0}"),
	                 M);
	/* A missing field is never an error for exists, but a value that is
	 * not JSON still is. */
	ck_assert_int_eq(eval(w, "not json"), E);
	assert_has(last_err, "value is not JSON");
}
END_TEST

START_TEST(matches_op)
{
	const char *w = "{\"field\":\"host\",\"op\":\"matches\","
	                "\"value\":\"^web-[0-9]+\\\\.prod$\"}";
	ck_assert_int_eq(eval(w, "{\"host\":\"web-12.prod\"}"), M);
	ck_assert_int_eq(eval(w, "{\"host\":\"web-12.prod2\"}"), N);
	ck_assert_int_eq(eval(w, "{\"host\":\"web-x.prod\"}"), N);
	ck_assert_int_eq(eval(w, "{\"host\":\"xweb-1.prod\"}"), N);
	ck_assert_int_eq(eval(w, "{\"host\":12}"), N);
	ck_assert_int_eq(eval(w, "{\"host\":null}"), N);
	/* Unanchored finds a match anywhere; extended syntax. */
	ck_assert_int_eq(eval("{\"field\":\"m\",\"op\":\"matches\","
	                      "\"value\":\"(err|warn)(or|ing)?\"}",
	                      "{\"m\":\"a warning here\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"m\",\"op\":\"matches\","
	                      "\"value\":\"a{2,}\"}",
	                      "{\"m\":\"baab\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"m\",\"op\":\"matches\","
	                      "\"value\":\"a{3,}\"}",
	                      "{\"m\":\"baab\"}"),
	                 N);
	/* The whole string is searched, past an embedded NUL. */
	ck_assert_int_eq(eval("{\"field\":\"m\",\"op\":\"matches\","
	                      "\"value\":\"end$\"}",
	                      "{\"m\":\"x\\u0000the end\"}"),
	                 M);
}
END_TEST

/* --- fields and records ------------------------------------------------- */

START_TEST(nested_fields)
{
	const char *w = "{\"field\":\"http.req.method\",\"op\":\"eq\","
	                "\"value\":\"GET\"}";
	ck_assert_int_eq(eval(w, "{\"http\":{\"req\":{\"method\":\"GET\"}}}"),
	                 M);
	ck_assert_int_eq(eval(w, "{\"http\":{\"req\":{\"method\":\"PUT\"}}}"),
	                 N);
	ck_assert_int_eq(eval(w, "{\"http\":{\"req\":{}}}"), E);
	assert_has(last_err, "field \"http.req.method\" is missing");
	/* A parent that is not an object: the field is missing. */
	ck_assert_int_eq(eval(w, "{\"http\":{\"req\":\"GET\"}}"), E);
	assert_has(last_err, "field \"http.req.method\" is missing");
	ck_assert_int_eq(eval(w, "{\"http\":[{\"req\":{}}]}"), E);
	/* A key with no dot is one level only. */
	ck_assert_int_eq(eval(w, "{\"http.req.method\":\"GET\"}"), E);
}
END_TEST

START_TEST(missing_field_is_error)
{
	const char *ops[] = {"eq", "ne",       "lt",     "le",     "gt",
	                     "ge", "contains", "prefix", "matches"};
	char w[128];

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		snprintf(w, sizeof(w),
		         "{\"field\":\"a.b\",\"op\":\"%s\","
		         "\"value\":\"x\"}",
		         ops[i]);
		ck_assert_int_eq(eval(w, "{\"a\":{}}"), E);
		ck_assert_str_eq(last_err, "field \"a.b\" is missing");
	}
}
END_TEST

START_TEST(non_object_records)
{
	const char *w = "{\"field\":\"a\",\"op\":\"eq\",\"value\":1}";
	ck_assert_int_eq(eval(w, "[1,2,3]"), E);
	assert_has(last_err, "field \"a\" is missing");
	ck_assert_int_eq(eval(w, "42"), E);
	assert_has(last_err, "is missing");
	ck_assert_int_eq(eval(w, "\"a\""), E);
	ck_assert_int_eq(eval(w, "null"), E);
}
END_TEST

START_TEST(non_json_records)
{
	const char *w = "{\"field\":\"a\",\"op\":\"eq\",\"value\":1}";
	ck_assert_int_eq(eval(w, "hello"), E);
	assert_has(last_err, "value is not JSON: ");
	assert_has(last_err, "hello");
	assert_has(last_err, "at byte");
	ck_assert_int_eq(eval(w, "{\"a\":1"), E);
	assert_has(last_err, "value is not JSON");
	ck_assert_int_eq(eval(w, "{\"a\":1} trailing"), E);
	assert_has(last_err, "value is not JSON");
	ck_assert_int_eq(eval(w, ""), E);
	assert_has(last_err, "value is not JSON");
	ck_assert_int_eq(evaln(w, NULL, 0), E);
	assert_has(last_err, "value is not JSON");
	/* A raw NUL byte is not JSON. */
	ck_assert_int_eq(evaln(w, "{\"a\":1}\0", 8), E);
}
END_TEST

START_TEST(value_contains_raw)
{
	const char *w = "{\"value_contains\":\"ERROR\"}";
	ck_assert_int_eq(eval(w, "2026-01-01 ERROR disk full"), M);
	ck_assert_int_eq(eval(w, "2026-01-01 INFO fine"), N);
	ck_assert_int_eq(eval(w, "{\"level\":\"ERROR\"}"), M);
	ck_assert_int_eq(eval(w, "ERRO"), N);
	ck_assert_int_eq(eval(w, ""), N);
	ck_assert_int_eq(evaln(w, NULL, 0), N);
	/* Raw bytes: NULs before the needle do not stop the search, and
	 * only len bytes count. */
	ck_assert_int_eq(evaln(w, "\0\0xERROR", 8), M);
	ck_assert_int_eq(evaln(w, "xERROR", 5), N);
}
END_TEST

START_TEST(escaped_strings)
{
	/* Compared by their characters, however the record wrote them. */
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"eq\",\"value\":\"caf\xc3\xa9\"}",
	         "{\"s\":\"caf\\u00e9\"}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"eq\",\"value\":\"caf\\u00e9\"}",
	         "{\"s\":\"caf\xc3\xa9\"}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"eq\",\"value\":\"a\\\"b\"}",
	         "{\"s\":\"a\\\"b\"}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"eq\",\"value\":\"a/b\"}",
	         "{\"s\":\"a\\/b\"}"),
	    M);
	ck_assert_int_eq(
	    eval("{\"field\":\"s\",\"op\":\"eq\",\"value\":\"a\\\\b\"}",
	         "{\"s\":\"a\\\\\\\\b\"}"),
	    N);
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"contains\","
	                      "\"value\":\"\\n\\t\"}",
	                      "{\"s\":\"x\\n\\ty\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"prefix\","
	                      "\"value\":\"\xf0\x9f\x98\x80\"}",
	                      "{\"s\":\"\\ud83d\\ude00!\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"matches\","
	                      "\"value\":\"^\\\"q\\\"$\"}",
	                      "{\"s\":\"\\\"q\\\"\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"s\",\"op\":\"lt\",\"value\":\"b\"}",
	                      "{\"s\":\"\\u0061\"}"),
	                 M);
	/* A field name written with escapes, and one holding a quote. */
	ck_assert_int_eq(eval("{\"field\":\"level\",\"op\":\"eq\","
	                      "\"value\":\"ERROR\"}",
	                      "{\"l\\u0065vel\":\"ERROR\"}"),
	                 M);
	ck_assert_int_eq(
	    eval("{\"field\":\"a\\\"b\",\"op\":\"eq\",\"value\":1}",
	         "{\"a\\\"b\":1}"),
	    M);
}
END_TEST

START_TEST(nested_paths_and_duplicates)
{
	const char *rec = "{\"a\":{\"b\":{\"c\":[1,{\"d\":2}],\"e\":\"x\"},"
	                  "\"f\":null},\"g\":[{\"a\":1}],\"h\":{}}";

	ck_assert_int_eq(
	    eval("{\"field\":\"a.b.e\",\"op\":\"eq\",\"value\":\"x\"}", rec),
	    M);
	ck_assert_int_eq(eval("{\"field\":\"a.b.c\",\"op\":\"eq\","
	                      "\"value\":[1,{\"d\":2.0}]}",
	                      rec),
	                 M);
	ck_assert_int_eq(
	    eval("{\"field\":\"a.f\",\"op\":\"eq\",\"value\":null}", rec), M);
	ck_assert_int_eq(eval("{\"field\":\"a.b\",\"op\":\"eq\","
	                      "\"value\":{\"e\":\"x\",\"c\":[1,{\"d\":2}]}}",
	                      rec),
	                 M);
	ck_assert_int_eq(
	    eval("{\"field\":\"h\",\"op\":\"eq\",\"value\":{}}", rec), M);
	/* Fields after a nested value are found past it. */
	ck_assert_int_eq(eval("{\"field\":\"h\",\"op\":\"exists\"}", rec), M);
	ck_assert_int_eq(eval("{\"field\":\"g.a\",\"op\":\"exists\"}", rec), N);
	ck_assert_int_eq(eval("{\"field\":\"a.b.c.d\",\"op\":\"exists\"}", rec),
	                 N);
	/* A name given twice: the last value counts, as in jansson, whole
	 * (objects are not merged). */
	ck_assert_int_eq(eval("{\"field\":\"level\",\"op\":\"eq\","
	                      "\"value\":\"ERROR\"}",
	                      "{\"level\":\"INFO\",\"level\":\"ERROR\"}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"level\",\"op\":\"eq\","
	                      "\"value\":\"INFO\"}",
	                      "{\"level\":\"INFO\",\"level\":\"ERROR\"}"),
	                 N);
	ck_assert_int_eq(eval("{\"field\":\"a.b\",\"op\":\"eq\",\"value\":1}",
	                      "{\"a\":{\"b\":1},\"a\":{\"c\":1}}"),
	                 E);
	ck_assert_str_eq(last_err, "field \"a.b\" is missing");
	ck_assert_int_eq(eval("{\"field\":\"o\",\"op\":\"eq\","
	                      "\"value\":{\"x\":2}}",
	                      "{\"o\":{\"x\":1,\"x\":2}}"),
	                 M);
}
END_TEST

START_TEST(number_forms)
{
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":100}",
	                      "{\"n\":1e2}"),
	                 M);
	ck_assert_int_eq(
	    eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":0}", "{\"n\":-0}"),
	    M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"lt\",\"value\":0}",
	                      "{\"n\":-1.5E-3}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\","
	                      "\"value\":-9223372036854775808}",
	                      "{\"n\":-9223372036854775808}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"gt\","
	                      "\"value\":9223372036854775806}",
	                      "{\"n\":9223372036854775807}"),
	                 M);
	ck_assert_int_eq(eval("{\"field\":\"n\",\"op\":\"eq\",\"value\":0}",
	                      "{\"n\":1e-400}"),
	                 M);
}
END_TEST

/* Records a tokenizer alone would take, but jansson refuses: each is an
 * error with jansson's own message, never a silent match or skip. */
START_TEST(malformed_records)
{
	static const char *const bad[] = {
	    "{\"level\":\"ERROR\",}",
	    "{\"level\":\"ERROR\" \"x\":1}",
	    "{\"level\":\"ERROR\",\"n\":01}",
	    "{\"level\":\"ERROR\",\"n\":1.}",
	    "{\"level\":\"ERROR\",\"n\":9223372036854775808}",
	    "{\"level\":\"ERROR\",\"n\":1e999}",
	    "{\"level\":\"ERROR\",\"s\":\"\\ud800\"}",
	    "{\"level\":\"ERROR\",\"s\":\"\xc0\xaf\"}",
	    "{\"level\":\"ERROR\",\"s\":\"tab\there\"}",
	    "{\"level\":\"ERROR\",\"k\\u0000\":1}",
	    "{\"level\":\"ERROR\",\"t\":tru}",
	    "{\"level\":\"ERROR\"}]",
	    "{\"level\":\"ERROR\"} {}",
	    "[\"level\":\"ERROR\"]",
	};
	const char *w =
	    "{\"field\":\"level\",\"op\":\"eq\",\"value\":\"ERROR\"}";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t e;
		char want[200];

		ck_assert_ptr_null(
		    json_loads(bad[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &e));
		snprintf(want, sizeof(want),
		         "value is not JSON: %.110s at byte %d", e.text,
		         e.position);
		ck_assert_msg(eval(w, bad[i]) == E, "%s was judged", bad[i]);
		ck_assert_str_eq(last_err, want);
		/* Also where no field is needed. */
		ck_assert_int_eq(eval("{\"field\":\"x\",\"op\":\"exists\","
		                      "\"value\":false}",
		                      bad[i]),
		                 E);
	}
	/* jansson drops a NUL byte right after a number; so does weir. */
	ck_assert_int_eq(evaln("{\"field\":\"n\",\"op\":\"eq\",\"value\":1}",
	                       "{\"n\":1\0}", 8),
	                 M);
}
END_TEST

START_TEST(jrec_parses_once)
{
	struct pred *a =
	    compile_ok("{\"field\":\"x\",\"op\":\"eq\",\"value\":1}");
	struct pred *b = compile_ok("{\"field\":\"y\",\"op\":\"exists\"}");
	struct fpath *fp = fpath_new("o.k");
	const char *rec = "{\"x\":1,\"o\":{\"k\":\"v\"}}";
	const char *s;
	struct jrec j;
	void *toks;
	json_t *doc;
	char err[64];
	size_t n;
	int tok;

	jrec_init(&j, rec, strlen(rec));
	ck_assert_int_eq(j.state, 0);
	ck_assert_int_eq(pred_eval(a, &j, err, sizeof(err)), M);
	ck_assert_int_eq(j.state, 1);
	ck_assert_int_eq(j.ntok, 7);
	toks = j.toks;
	ck_assert_int_eq(pred_eval(b, &j, err, sizeof(err)), N);
	ck_assert_ptr_eq(j.toks, toks);
	/* Conditions read tokens; no jansson tree is built for them. */
	ck_assert_ptr_null(j.doc);
	ck_assert_str_eq(fpath_str(fp), "o.k");
	tok = jrec_find(&j, fp);
	ck_assert_int_ge(tok, 0);
	ck_assert_int_eq(jrec_type(&j, tok), JSON_STRING);
	jrec_string(&j, tok, &s, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(s, "v", 1);
	/* The tree, built when asked for, once. */
	doc = jrec_doc(&j);
	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_eq(jrec_doc(&j), doc);
	/* Another record keeps the token buffer. */
	jrec_reset(&j, "{\"x\":2}", 7);
	ck_assert_int_eq(pred_eval(a, &j, err, sizeof(err)), N);
	ck_assert_ptr_eq(j.toks, toks);
	jrec_clear(&j);
	ck_assert_ptr_null(j.doc);
	ck_assert_ptr_null(j.toks);

	/* Not JSON: remembered, reason kept. */
	jrec_init(&j, "nope", 4);
	ck_assert(!jrec_ok(&j));
	ck_assert_int_eq(j.state, -1);
	assert_has(j.err, "value is not JSON");
	ck_assert_int_eq(jrec_find(&j, fp), -1);
	ck_assert_ptr_null(jrec_doc(&j));
	jrec_clear(&j);

	/* The error buffer is optional. */
	jrec_init(&j, "nope", 4);
	ck_assert_int_eq(pred_eval(a, &j, NULL, 0), E);
	jrec_clear(&j);

	fpath_free(fp);
	fpath_free(NULL);
	pred_free(a);
	pred_free(b);
	pred_free(NULL);
}
END_TEST

/* --- all / any / not ---------------------------------------------------- */

#define T "{\"field\":\"x\",\"op\":\"eq\",\"value\":1}"     /* MATCH on rec */
#define F "{\"field\":\"x\",\"op\":\"eq\",\"value\":2}"     /* NO_MATCH */
#define X "{\"field\":\"gone\",\"op\":\"eq\",\"value\":1}"  /* ERROR */
#define X2 "{\"field\":\"nope\",\"op\":\"eq\",\"value\":1}" /* ERROR */
static const char *rec1 = "{\"x\":1}";

START_TEST(all_rules)
{
	ck_assert_int_eq(eval("{\"all\":[" T "]}", rec1), M);
	ck_assert_int_eq(eval("{\"all\":[" T "," T "]}", rec1), M);
	ck_assert_int_eq(eval("{\"all\":[" T "," F "]}", rec1), N);
	/* NO_MATCH wins over an error, in either order. */
	ck_assert_int_eq(eval("{\"all\":[" X "," F "]}", rec1), N);
	ck_assert_int_eq(eval("{\"all\":[" F "," X "]}", rec1), N);
	/* Otherwise an error is the result, with the first reason. */
	ck_assert_int_eq(eval("{\"all\":[" T "," X "]}", rec1), E);
	ck_assert_str_eq(last_err, "field \"gone\" is missing");
	ck_assert_int_eq(eval("{\"all\":[" X "," X2 "," T "]}", rec1), E);
	ck_assert_str_eq(last_err, "field \"gone\" is missing");
}
END_TEST

START_TEST(any_rules)
{
	ck_assert_int_eq(eval("{\"any\":[" F "]}", rec1), N);
	ck_assert_int_eq(eval("{\"any\":[" F "," F "]}", rec1), N);
	ck_assert_int_eq(eval("{\"any\":[" F "," T "]}", rec1), M);
	/* MATCH wins over an error, in either order. */
	ck_assert_int_eq(eval("{\"any\":[" X "," T "]}", rec1), M);
	ck_assert_int_eq(eval("{\"any\":[" T "," X "]}", rec1), M);
	ck_assert_int_eq(eval("{\"any\":[" F "," X "]}", rec1), E);
	ck_assert_str_eq(last_err, "field \"gone\" is missing");
	ck_assert_int_eq(eval("{\"any\":[" X2 "," X "]}", rec1), E);
	ck_assert_str_eq(last_err, "field \"nope\" is missing");
}
END_TEST

START_TEST(not_rules)
{
	ck_assert_int_eq(eval("{\"not\":" T "}", rec1), N);
	ck_assert_int_eq(eval("{\"not\":" F "}", rec1), M);
	ck_assert_int_eq(eval("{\"not\":" X "}", rec1), E);
	ck_assert_str_eq(last_err, "field \"gone\" is missing");
	ck_assert_int_eq(eval("{\"not\":{\"not\":" T "}}", rec1), M);
	/* not keeps the error, so all/any see an error, not a match. */
	ck_assert_int_eq(eval("{\"all\":[" T ",{\"not\":" X "}]}", rec1), E);
	ck_assert_int_eq(
	    eval("{\"any\":[{\"not\":" T "},{\"not\":" X "}]}", rec1), E);
}
END_TEST

START_TEST(nested_logic)
{
	const char *w =
	    "{\"all\":["
	    "{\"field\":\"level\",\"op\":\"eq\",\"value\":\"ERROR\"},"
	    "{\"any\":["
	    "{\"field\":\"svc\",\"op\":\"prefix\",\"value\":\"pay\"},"
	    "{\"field\":\"code\",\"op\":\"ge\",\"value\":500}]},"
	    "{\"not\":{\"value_contains\":\"healthcheck\"}}]}";

	ck_assert_int_eq(eval(w, "{\"level\":\"ERROR\",\"svc\":\"payments\","
	                         "\"code\":200}"),
	                 M);
	ck_assert_int_eq(eval(w, "{\"level\":\"ERROR\",\"svc\":\"auth\","
	                         "\"code\":503}"),
	                 M);
	ck_assert_int_eq(eval(w, "{\"level\":\"ERROR\",\"svc\":\"auth\","
	                         "\"code\":404}"),
	                 N);
	ck_assert_int_eq(eval(w, "{\"level\":\"INFO\",\"svc\":\"payments\"}"),
	                 N);
	ck_assert_int_eq(eval(w, "{\"level\":\"ERROR\",\"svc\":\"payments\","
	                         "\"path\":\"/healthcheck\"}"),
	                 N);
	/* svc is not a prefix match and code is missing: error. */
	ck_assert_int_eq(eval(w, "{\"level\":\"ERROR\",\"svc\":\"auth\"}"), E);
	ck_assert_str_eq(last_err, "field \"code\" is missing");
	/* Not JSON: level cannot be judged, so the error comes through. */
	ck_assert_int_eq(eval(w, "ERROR payments"), E);
	assert_has(last_err, "value is not JSON");
}
END_TEST

/* --- compile errors ----------------------------------------------------- */

START_TEST(err_unknown_op)
{
	expect_compile_error("{\"field\":\"a\",\"op\":\"bogus\",\"value\":1}",
	                     "where.op: unknown operator \"bogus\"; expected "
	                     "one of eq, ne, lt, le, gt, ge, contains, prefix, "
	                     "exists, matches",
	                     NULL);
	expect_compile_error("{\"field\":\"a\",\"op\":\"exist\"}",
	                     "where.op: unknown operator \"exist\"",
	                     "did you mean exists?");
	expect_compile_error("{\"field\":\"a\",\"op\":7,\"value\":1}",
	                     "where.op: expected a string", "got a number");
	expect_compile_error("{\"field\":\"a\",\"value\":1}",
	                     "where.op: required", "eq, ne");
}
END_TEST

START_TEST(err_field)
{
	expect_compile_error("{\"field\":\"\",\"op\":\"eq\",\"value\":1}",
	                     "where.field: expected a non-empty string", NULL);
	expect_compile_error("{\"field\":3,\"op\":\"eq\",\"value\":1}",
	                     "where.field: expected a non-empty string",
	                     "got a number");
	expect_compile_error("{\"op\":\"eq\",\"value\":1}",
	                     "where.field: required", "non-empty string");
}
END_TEST

START_TEST(err_value)
{
	const char *need[] = {"eq", "ne",       "lt",     "le",     "gt",
	                      "ge", "contains", "prefix", "matches"};
	char w[128], want[64];

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		snprintf(w, sizeof(w), "{\"field\":\"a\",\"op\":\"%s\"}",
		         need[i]);
		snprintf(want, sizeof(want),
		         "where.value: required for op \"%s\"", need[i]);
		expect_compile_error(w, want, NULL);
	}
	expect_compile_error(
	    "{\"field\":\"a\",\"op\":\"contains\",\"value\":1}",
	    "where.value: expected a string for op "
	    "\"contains\"",
	    "got a number");
	expect_compile_error(
	    "{\"field\":\"a\",\"op\":\"prefix\",\"value\":null}",
	    "where.value: expected a string for op \"prefix\"", "got null");
	expect_compile_error("{\"field\":\"a\",\"op\":\"lt\",\"value\":true}",
	                     "where.value: expected a number or a string",
	                     "\"lt\"");
	expect_compile_error("{\"field\":\"a\",\"op\":\"ge\",\"value\":[1]}",
	                     "where.value: expected a number or a string",
	                     "got an array");
	expect_compile_error("{\"field\":\"a\",\"op\":\"exists\",\"value\":1}",
	                     "where.value: expected true or false", "exists");
	expect_compile_error(
	    "{\"field\":\"a\",\"op\":\"matches\",\"value\":{}}",
	    "where.value: expected a string", "regular expression");
}
END_TEST

START_TEST(err_regex)
{
	expect_compile_error("{\"field\":\"a\",\"op\":\"matches\","
	                     "\"value\":\"(unclosed\"}",
	                     "where.value: invalid regular expression "
	                     "\"(unclosed\": ",
	                     NULL);
	expect_compile_error("{\"field\":\"a\",\"op\":\"matches\","
	                     "\"value\":\"[a-\"}",
	                     "where.value: invalid regular expression", NULL);
}
END_TEST

START_TEST(err_lists)
{
	expect_compile_error("{\"any\":[]}",
	                     "where.any: expected a non-empty array of "
	                     "conditions",
	                     NULL);
	expect_compile_error("{\"any\":{}}",
	                     "where.any: expected a non-empty array of "
	                     "conditions",
	                     "got an object");
	expect_compile_error("{\"all\":\"x\"}",
	                     "where.all: expected a non-empty array", NULL);
	expect_compile_error(
	    "{\"any\":[" T ",{\"field\":\"a\",\"op\":\"bogus\","
	    "\"value\":1}]}",
	    "where.any[1].op: unknown operator \"bogus\"", NULL);
	expect_compile_error(
	    "{\"all\":[{\"not\":{\"op\":\"eq\",\"value\":1}}]}",
	    "where.all[0].not.field: required", NULL);
	expect_compile_error("{\"all\":[" T ",5]}",
	                     "where.all[1]: expected a condition object",
	                     "got a number");
	expect_compile_error("{\"not\":[]}",
	                     "where.not: expected a condition "
	                     "object",
	                     "got an array");
}
END_TEST

START_TEST(err_shape)
{
	expect_compile_error("{}",
	                     "where: expected one of field/op/value, all, "
	                     "any, not, value_contains",
	                     NULL);
	expect_compile_error("\"level == ERROR\"",
	                     "where: expected a condition object",
	                     "got a string");
	expect_compile_error("{\"feild\":\"a\",\"op\":\"eq\",\"value\":1}",
	                     "where.feild: unknown field",
	                     "did you mean field?");
	expect_compile_error(
	    "{\"field\":\"a\",\"op\":\"eq\",\"value\":1,"
	    "\"extra\":true}",
	    "where.extra: unknown field; expected one of field, "
	    "op, value, all, any, not, value_contains",
	    NULL);
	expect_compile_error("{\"bogus\":1}", "where.bogus: unknown field",
	                     NULL);
	expect_compile_error("{\"all\":[" T "],\"any\":[" T "]}",
	                     "where: expected only one of", "nest them");
	expect_compile_error("{\"field\":\"a\",\"op\":\"eq\",\"value\":1,"
	                     "\"not\":" T "}",
	                     "where: expected only one of", NULL);
	expect_compile_error(
	    "{\"value_contains\":\"\"}",
	    "where.value_contains: expected a non-empty string", NULL);
	expect_compile_error(
	    "{\"value_contains\":5}",
	    "where.value_contains: expected a non-empty string",
	    "got a number");
}
END_TEST

START_TEST(err_collects_all)
{
	size_t n;
	char *e = compile_errors(
	    "{\"any\":[{\"field\":\"\",\"op\":\"bogus\"},"
	    "{\"field\":\"a\",\"op\":\"matches\",\"value\":\"(\"},"
	    "{\"not\":{\"value_contains\":1}}]}",
	    &n);

	ck_assert_uint_eq(n, 4);
	assert_has(e, "where.any[0].field: ");
	assert_has(e, "where.any[0].op: unknown operator \"bogus\"");
	assert_has(e, "where.any[1].value: invalid regular expression");
	assert_has(e, "where.any[2].not.value_contains: ");
	free(e);
}
END_TEST

START_TEST(custom_path)
{
	struct errlist errs = {0};
	json_t *w = json_loads("{\"field\":\"a\",\"op\":\"nope\"}", 0, NULL);

	ck_assert_ptr_null(pred_compile(w, "operators[2].where", &errs));
	ck_assert_uint_eq(errs.n, 1);
	assert_has(errs.msgs[0], "operators[2].where.op: unknown operator");
	errlist_clear(&errs);
	json_decref(w);
}
END_TEST

static Suite *predicate_suite(void)
{
	Suite *s = suite_create("predicate");
	TCase *ops = tcase_create("ops");
	TCase *rec = tcase_create("records");
	TCase *logic = tcase_create("logic");
	TCase *errs = tcase_create("compile_errors");

	tcase_add_test(ops, eq_numbers);
	tcase_add_test(ops, eq_strings_bools_null);
	tcase_add_test(ops, eq_different_types);
	tcase_add_test(ops, eq_arrays_objects);
	tcase_add_test(ops, order_numbers);
	tcase_add_test(ops, order_strings);
	tcase_add_test(ops, order_mixed_types);
	tcase_add_test(ops, contains_op);
	tcase_add_test(ops, prefix_op);
	tcase_add_test(ops, exists_op);
	tcase_add_test(ops, matches_op);
	suite_add_tcase(s, ops);

	tcase_add_test(rec, nested_fields);
	tcase_add_test(rec, missing_field_is_error);
	tcase_add_test(rec, non_object_records);
	tcase_add_test(rec, non_json_records);
	tcase_add_test(rec, value_contains_raw);
	tcase_add_test(rec, jrec_parses_once);
	tcase_add_test(rec, escaped_strings);
	tcase_add_test(rec, nested_paths_and_duplicates);
	tcase_add_test(rec, number_forms);
	tcase_add_test(rec, malformed_records);
	suite_add_tcase(s, rec);

	tcase_add_test(logic, all_rules);
	tcase_add_test(logic, any_rules);
	tcase_add_test(logic, not_rules);
	tcase_add_test(logic, nested_logic);
	suite_add_tcase(s, logic);

	tcase_add_test(errs, err_unknown_op);
	tcase_add_test(errs, err_field);
	tcase_add_test(errs, err_value);
	tcase_add_test(errs, err_regex);
	tcase_add_test(errs, err_lists);
	tcase_add_test(errs, err_shape);
	tcase_add_test(errs, err_collects_all);
	tcase_add_test(errs, custom_path);
	suite_add_tcase(s, errs);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(predicate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
