/*
 * test_jrec.c - record values read through tokens: the verdict "JSON or
 * not", and jansson's message when not, must be jansson's own for every
 * input (fixed cases, then thousands of mutations of valid documents); a
 * field read from the tokens must equal what jansson's tree holds (types,
 * escapes, numbers, duplicate keys, nesting); key text; token buffers.
 */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jrec.h"
#include "keyfield.h"
#include "keyroute.h"

/* The message jrec must give for a value jansson refuses. */
static void jansson_verdict(const char *v, size_t n, json_t **doc, char *msg,
                            size_t msglen)
{
	json_error_t e;

	*doc =
	    n ? json_loadb(v, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e) : NULL;
	if (n == 0)
		snprintf(msg, msglen, "value is not JSON: the value is empty");
	else if (!*doc)
		snprintf(msg, msglen, "value is not JSON: %.110s at byte %d",
		         e.text, e.position);
}

static void show(const char *v, size_t n, char *out, size_t outlen)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 5 < outlen; i++) {
		unsigned char c = (unsigned char)v[i];
		k += (size_t)snprintf(out + k, outlen - k,
		                      c >= 32 && c < 127 ? "%c" : "\\x%02x", c);
	}
	out[k] = '\0';
}

static void same_field(struct jrec *j, const char *path, json_t *want,
                       const char *what);

/* Every field of the object want, found through the tokens by its dotted
 * path, equals jansson's (names holding a dot or a NUL cannot be a
 * path). */
static void same_members(struct jrec *j, const char *prefix, json_t *want,
                         const char *what)
{
	const char *key;
	json_t *v;

	json_object_foreach(want, key, v) {
		char *path;

		if (strchr(key, '.') || !*key)
			continue;
		if (asprintf(&path, "%s%s%s", prefix, *prefix ? "." : "", key) <
		    0)
			abort();
		same_field(j, path, v, what);
		free(path);
	}
}

/* A scalar's compact text written without jansson is jansson's dump,
 * byte for byte; integers, literals and strings without a backslash are
 * always written that way. */
static void same_text(struct jrec *j, int tok, json_t *want, const char *path,
                      const char *what)
{
	char buf[512], *dump;
	size_t n = jrec_scalar_text(j, tok, buf, sizeof(buf));
	const char *s;
	size_t sl;
	bool plain = false;

	switch (json_typeof(want)) {
	case JSON_INTEGER:
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		plain = true;
		break;
	case JSON_STRING:
		/* Without an escape, the bytes are handed out in place. */
		jrec_string(j, tok, &s, &sl);
		plain = sl + 2 <= sizeof(buf) && s >= j->text &&
		        s < j->text + j->text_len;
		break;
	default:
		break;
	}
	if (plain)
		ck_assert_msg(n > 0, "%s: field %s: no text without jansson",
		              what, path);
	if (n == 0)
		return;
	dump = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
	ck_assert_msg(strlen(dump) == n && memcmp(dump, buf, n) == 0,
	              "%s: field %s: text %.*s, jansson's %s", what, path,
	              (int)n, buf, dump);
	free(dump);
}

static void same_field(struct jrec *j, const char *path, json_t *want,
                       const char *what)
{
	struct fpath *fp = fpath_new(path);
	int tok = jrec_find(j, fp);
	struct jnum num;
	const char *s;
	size_t n;
	json_t *got;

	ck_assert_msg(tok >= 0, "%s: field %s not found", what, path);
	ck_assert_msg(jrec_type(j, tok) == json_typeof(want),
	              "%s: field %s: type %d, jansson %d", what, path,
	              jrec_type(j, tok), json_typeof(want));
	switch (json_typeof(want)) {
	case JSON_STRING:
		jrec_string(j, tok, &s, &n);
		ck_assert_msg(n == json_string_length(want) &&
		                  memcmp(s, json_string_value(want), n) == 0,
		              "%s: field %s: string differs", what, path);
		break;
	case JSON_INTEGER:
		num = jrec_number(j, tok);
		ck_assert_msg(num.is_int && num.i == json_integer_value(want),
		              "%s: field %s: integer differs", what, path);
		break;
	case JSON_REAL:
		num = jrec_number(j, tok);
		ck_assert_msg(!num.is_int && num.d == json_real_value(want),
		              "%s: field %s: real differs", what, path);
		break;
	case JSON_OBJECT:
		same_members(j, path, want, what);
		break;
	default:
		break;
	}
	got = jrec_value(j, tok);
	ck_assert_msg(json_equal(got, want), "%s: field %s: value differs",
	              what, path);
	json_decref(got);
	same_text(j, tok, want, path, what);
	fpath_free(fp);
}

/* jrec and jansson agree on v: the verdict, the message, the fields. */
static void agree(struct jrec *j, const char *v, size_t n)
{
	char msg[200], what[160];
	json_t *doc;
	bool ok;

	show(v, n, what, sizeof(what));
	jansson_verdict(v, n, &doc, msg, sizeof(msg));
	jrec_reset(j, v, n);
	ok = jrec_ok(j);
	ck_assert_msg(ok == (doc != NULL), "%s: jrec says %s, jansson %s", what,
	              ok ? "JSON" : "not JSON", doc ? "JSON" : "not JSON");
	if (!doc) {
		ck_assert_msg(strcmp(j->err, msg) == 0,
		              "%s: message \"%s\", jansson's \"%s\"", what,
		              j->err, msg);
		return;
	}
	/* The check refuses what jansson accepts in one case only: jansson
	 * 2.14 drops a NUL byte that directly follows a number or a literal
	 * ("[1\0,2]" is [1,2]). Such a value is read through jansson's
	 * rewrite of it; any other value must pass the check itself. */
	ck_assert_msg(j->norm == NULL || memchr(v, '\0', n),
	              "%s: the check refused valid JSON", what);
	if (json_is_object(doc))
		same_members(j, "", doc, what);
	json_decref(doc);
}

#define AGREE(j, lit) agree((j), (lit), sizeof(lit) - 1)

START_TEST(verdicts_match_jansson)
{
	struct jrec j;

	jrec_init(&j, NULL, 0);
	agree(&j, NULL, 0);
	AGREE(&j, "");
	AGREE(&j, "   ");
	AGREE(&j, "{}");
	AGREE(&j, " \t\r\n{ } \n");
	AGREE(&j, "[]");
	AGREE(&j, "\"top\"");
	AGREE(&j, "42");
	AGREE(&j, "-0");
	AGREE(&j, "true");
	AGREE(&j, "nul");
	AGREE(&j, "nulll");
	AGREE(&j, "True");
	/* Punctuation. */
	AGREE(&j, "{\"a\":1,}");
	AGREE(&j, "[1,]");
	AGREE(&j, "[,1]");
	AGREE(&j, "[1,,2]");
	AGREE(&j, "[1 2]");
	AGREE(&j, "{,}");
	AGREE(&j, "{\"a\" 1}");
	AGREE(&j, "{\"a\"::1}");
	AGREE(&j, "{\"a\":}");
	AGREE(&j, "{\"a\":1 \"b\":2}");
	AGREE(&j, "{\"a\":1:2}");
	AGREE(&j, "{\"a\":\"b\":\"c\"}");
	AGREE(&j, "[\"a\":1]");
	AGREE(&j, "{1:2}");
	AGREE(&j, "{a:1}");
	AGREE(&j, "{\"a\":[}");
	AGREE(&j, "{\"a\":1]");
	AGREE(&j, "[1]]");
	AGREE(&j, "{} {}");
	AGREE(&j, "1 2");
	AGREE(&j, "{\"a\":1} trailing");
	AGREE(&j, "{\"a\":1}\0");
	AGREE(&j, "{\"a\":1\0}");
	AGREE(&j, "[1\0,true\0,null\0,2.5\0]");
	AGREE(&j, "[1\0\0,2]");
	AGREE(&j, "[\"a\"\0]");
	AGREE(&j, "[{}\0]");
	AGREE(&j, "\0");
	AGREE(&j, "{\"a\":\"x\0y\"}");
	AGREE(&j, "\x01{}");
	/* Numbers. */
	AGREE(&j, "[01]");
	AGREE(&j, "[1.]");
	AGREE(&j, "[.5]");
	AGREE(&j, "[-]");
	AGREE(&j, "[1e]");
	AGREE(&j, "[1e+]");
	AGREE(&j, "[+1]");
	AGREE(&j, "[1.5x]");
	AGREE(&j, "[0x10]");
	AGREE(&j, "[9223372036854775807,-9223372036854775808]");
	AGREE(&j, "[9223372036854775808]");
	AGREE(&j, "[-9223372036854775809]");
	AGREE(&j, "[10000000000000000000]");
	AGREE(&j, "[1e309]");
	AGREE(&j, "[-1e309]");
	AGREE(&j, "[1e-400]");
	AGREE(&j, "[1.5E+2,2e-3]");
	/* Strings. */
	AGREE(&j, "[\"\\ud800\"]");
	AGREE(&j, "[\"\\udc00\"]");
	AGREE(&j, "[\"\\ud800\\udc00\"]");
	AGREE(&j, "[\"\\ud800x\"]");
	AGREE(&j, "[\"\\ud800\\u0041\"]");
	AGREE(&j, "[\"\\u12\"]");
	AGREE(&j, "[\"\\x\"]");
	AGREE(&j, "[\"\\u0000\"]");
	AGREE(&j, "{\"a\\u0000b\":1}");
	AGREE(&j, "[\"\x01\"]");
	AGREE(&j, "[\"\x7f\"]");
	AGREE(&j, "[\"\xc0\x80\"]");
	AGREE(&j, "[\"\xc3\"]");
	AGREE(&j, "[\"\xed\xa0\x80\"]");
	AGREE(&j, "[\"\xf4\x90\x80\x80\"]");
	AGREE(&j, "[\"\xf0\x9f\x98\x80\"]");
	AGREE(&j, "[\"\xff\"]");
	AGREE(&j, "[\"unterminated]");
	jrec_clear(&j);
}
END_TEST

START_TEST(depth_limit)
{
	static char v[2 * 2050 + 8];
	struct jrec j;

	jrec_init(&j, NULL, 0);
	for (size_t d = 2047; d <= 2050; d++) {
		memset(v, '[', d);
		memset(v + d, ']', d);
		agree(&j, v, 2 * d);
	}
	jrec_clear(&j);
}
END_TEST

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A megabyte value: head once, then unit repeated, then tail once. */
static size_t fill(char *v, size_t cap, const char *head, const char *unit,
                   const char *close, const char *tail)
{
	size_t n = strlen(head), u = strlen(unit), c = strlen(close), k = 0;

	memcpy(v, head, n);
	while (n + (k + 1) * (u + c) + strlen(tail) <= cap) {
		memcpy(v + n + k * u, unit, u);
		k++;
	}
	n += k * u;
	for (size_t i = 0; i < k; i++, n += c)
		memcpy(v + n, close, c);
	memcpy(v + n, tail, strlen(tail));
	return n + strlen(tail);
}

/* A record nested far past the limit is refused at once, with jansson's
 * message, instead of after a walk quadratic in its depth; brackets in
 * strings are text and nest nothing. */
START_TEST(deep_nesting_is_quick)
{
	static const struct {
		const char *head, *unit, *close, *tail;
		bool json;
	} cases[] = {
	    {"", "[", "]", "", false},
	    {"", "{\"a\":", "}", "", false},
	    {"", "[{\"k\":", "}]", "", false},
	    {"", "[", "", "", false},
	    {"[x\"", "[", "]", "]", false}, /* a quote glued to a word */
	    {"[1,\"a\"", "[", "]", "]", false},
	    {"[\"", "[", "{", "\"]", true},    /* all inside a string */
	    {"[\"\\\"", "[", "", "\"]", true}, /* after an escaped quote */
	    {"{\"", "{", "", "\":1}", true},   /* all inside a key */
	};
	size_t cap = 1 << 20, n;
	char *v = malloc(cap), msg[200];
	struct jrec j;

	jrec_init(&j, NULL, 0);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double t0 = now_ms(), took;
		json_t *doc;
		bool ok;

		n = fill(v, cap, cases[c].head, cases[c].unit, cases[c].close,
		         cases[c].tail);
		jrec_reset(&j, v, n);
		ok = jrec_ok(&j);
		took = now_ms() - t0;
		ck_assert_msg(ok == cases[c].json, "case %zu: jrec says %s", c,
		              ok ? "JSON" : "not JSON");
		ck_assert_msg(took < 250, "case %zu: %zu bytes took %.0f ms", c,
		              n, took);
		if (ok)
			continue;
		jansson_verdict(v, n, &doc, msg, sizeof(msg));
		ck_assert_ptr_null(doc);
		ck_assert_str_eq(j.err, msg);
	}
	/* and the message names the limit, where the value passes it */
	n = fill(v, cap, "", "[", "]", "");
	jrec_reset(&j, v, n);
	ck_assert(!jrec_ok(&j));
	ck_assert_str_eq(j.err, "value is not JSON: maximum parsing depth "
	                        "reached near '[' at byte 2049");
	jrec_clear(&j);
	free(v);
}
END_TEST

static const char *const seeds[] = {
    "{\"seq\":1,\"level\":\"ERROR\",\"service\":\"svc-3\","
    "\"msg\":\"request 1 done\"}",
    "{\"a\":[1,-2.5e3,true,false,null,{\"b\":\"x\\u00e9\\ud83d\\ude00\"}],"
    "\"c\":{\"d\":{}},\"e\":[]}",
    "[0,-0,1e-400,1234567890123456789,\"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
    "{\"k\":\"v\",\"k\":\"w\"}]",
    " {\"x\" : 1 , \"y\" : [ 1 , 2 ] , \"n\\u00e9\":\"caf\xc3\xa9\"} ",
    "{\"k\":{\"a\":1},\"k\":{\"b\":[2.0]},\"s\":\"\\u0000z\"}",
    "\"top\"",
    "-12.5e-1",
    "{\"a\":\"x\x7fy/\xc3\xa9 \",\"b\":-0,\"c\":-9223372036854775808,"
    "\"d\":true,\"e\":null,\"f\":\"\",\"g\":1e2,\"h\":\"a\\\"b\"}",
};

/* A byte to put in: mostly JSON's own, some that break it. */
static char pick(uint64_t r)
{
	static const char alphabet[] = "{}[],:\"\\ 0123456789eE.-+tfnrlsu"
	                               "aAbBx\x00\x01\x7f\xc3\xa9\xed\xf4\xff";

	return alphabet[r % (sizeof(alphabet) - 1)];
}

START_TEST(mutations_match_jansson)
{
	uint64_t x = 88172645463325252u;
	char buf[512];
	struct jrec j;

	jrec_init(&j, NULL, 0);
	for (int round = 0; round < 40000; round++) {
		const char *seed =
		    seeds[round % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t n = strlen(seed);
		int edits;

		memcpy(buf, seed, n);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		edits = 1 + (int)(x % 3);
		for (int e = 0; e < edits && n > 0; e++) {
			size_t at;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			at = (size_t)(x >> 8) % n;
			switch (x % 4) {
			case 0: /* replace */
				buf[at] = pick(x >> 32);
				break;
			case 1: /* insert */
				if (n + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = pick(x >> 32);
					n++;
				}
				break;
			case 2: /* delete */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			default: /* cut */
				n = at;
				break;
			}
		}
		agree(&j, buf, n);
	}
	jrec_clear(&j);
}
END_TEST

/* The check reads plain text 8 bytes at a time: every byte position of a
 * record, inside words and in the tail, must still see a control byte, a
 * backslash or a byte above 0x7F there, as jansson does. */
START_TEST(every_position)
{
	static const char bytes[] = {0x01,       0x1f,       '\\',
	                             (char)0x80, (char)0xc3, (char)0xff,
	                             0x7f,       '"',        'u'};
	const char *seed = seeds[0];
	size_t n = strlen(seed);
	char buf[256];
	struct jrec j;

	jrec_init(&j, NULL, 0);
	for (size_t at = 0; at < n; at++) {
		for (size_t b = 0; b < sizeof(bytes); b++) {
			memcpy(buf, seed, n);
			buf[at] = bytes[b];
			agree(&j, buf, n);
			/* and with the text cut just after it */
			agree(&j, buf, at + 1);
		}
	}
	jrec_clear(&j);
}
END_TEST

/* --- Fields ------------------------------------------------------------- */

static int find(struct jrec *j, const char *path)
{
	struct fpath *fp = fpath_new(path);
	int tok = jrec_find(j, fp);

	fpath_free(fp);
	return tok;
}

static void expect_string(struct jrec *j, const char *path, const char *want,
                          size_t wlen)
{
	int tok = find(j, path);
	const char *s;
	size_t n;

	ck_assert_msg(tok >= 0, "%s missing", path);
	ck_assert_int_eq(jrec_type(j, tok), JSON_STRING);
	jrec_string(j, tok, &s, &n);
	ck_assert_uint_eq(n, wlen);
	ck_assert_mem_eq(s, want, n);
}

START_TEST(fields_escapes_nesting_duplicates)
{
	static const char v[] =
	    "{\"plain\":\"abc\",\"esc\":\"a\\\"b\\\\c\\/d\\n\\u00e9\","
	    "\"pair\":\"\\ud83d\\ude00\",\"nul\":\"x\\u0000y\","
	    "\"k\\u0065y\":1,\"a\":{\"b\":{\"c\":\"deep\"},\"n\":[1]},"
	    "\"d\":1,\"d\":\"last\",\"o\":{\"x\":1},\"o\":{\"y\":2},"
	    "\"a.b\":\"dotted\",\"\":\"empty name\"}";
	struct jrec j;

	jrec_init(&j, "{\"plain\":\"abc\",\"x\":1}", 21);
	expect_string(&j, "plain", "abc", 3);
	ck_assert_ptr_null(j.scratch); /* raw bytes, nothing decoded */
	jrec_reset(&j, v, sizeof(v) - 1);
	ck_assert(jrec_ok(&j));
	expect_string(&j, "plain", "abc", 3);
	expect_string(&j, "esc", "a\"b\\c/d\n\xc3\xa9", 10);
	expect_string(&j, "pair", "\xf0\x9f\x98\x80", 4);
	expect_string(&j, "nul", "x\0y", 3);
	/* A name written with an escape is found by its characters. */
	ck_assert_int_ge(find(&j, "key"), 0);
	expect_string(&j, "a.b.c", "deep", 4);
	ck_assert_int_eq(jrec_type(&j, find(&j, "a.n")), JSON_ARRAY);
	ck_assert_int_eq(find(&j, "a.n.0"), -1); /* arrays are not paths */
	ck_assert_int_eq(find(&j, "a.b.c.d"), -1);
	ck_assert_int_eq(find(&j, "a.x"), -1);
	ck_assert_int_eq(find(&j, "nope"), -1);
	/* The last of two equal names wins, as in jansson: whole values,
	 * not merged. */
	expect_string(&j, "d", "last", 4);
	ck_assert_int_eq(find(&j, "o.x"), -1);
	ck_assert_int_ge(find(&j, "o.y"), 0);
	/* Keys are scalars. */
	{
		struct fpath *a = fpath_new("a"), *an = fpath_new("a.n"),
		             *d = fpath_new("d"), *no = fpath_new("nope");

		ck_assert_int_eq(jrec_find_scalar(&j, a), JREC_NOT_SCALAR);
		ck_assert_int_eq(jrec_find_scalar(&j, an), JREC_NOT_SCALAR);
		ck_assert_int_eq(jrec_find_scalar(&j, d), find(&j, "d"));
		ck_assert_int_eq(jrec_find_scalar(&j, no), JREC_MISSING);
		fpath_free(a);
		fpath_free(an);
		fpath_free(d);
		fpath_free(no);
	}
	jrec_clear(&j);

	/* A value that is not an object has no fields. */
	jrec_init(&j, "[{\"a\":1}]", 9);
	ck_assert(jrec_ok(&j));
	ck_assert_int_eq(find(&j, "a"), -1);
	jrec_clear(&j);
}
END_TEST

START_TEST(key_texts)
{
	static const char v[] =
	    "{\"s\":\"r\\u00e9q\",\"i\":-42,\"z\":-0,\"r\":1.5,\"e\":1e2,"
	    "\"t\":true,\"f\":false,\"n\":null,\"o\":{},\"a\":[1],"
	    "\"big\":-9223372036854775808}";
	static const struct {
		const char *path, *want;
	} cases[] = {
	    {"s", "r\xc3\xa9q"}, {"i", "-42"},  {"z", "0"},
	    {"r", "1.5"},        {"e", "100"},  {"t", "true"},
	    {"f", "false"},      {"n", "null"}, {"o", ""},
	    {"a", ""},           {"gone", ""},  {"big", "-9223372036854775808"},
	};
	struct jrec j;
	char buf[64];

	jrec_init(&j, v, sizeof(v) - 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fpath *fp = fpath_new(cases[i].path);
		size_t len;
		const char *k = key_text(&j, fp, buf, sizeof(buf), &len);

		ck_assert_uint_eq(len, strlen(cases[i].want));
		ck_assert_mem_eq(k, cases[i].want, len);
		fpath_free(fp);
	}
	/* A value that is not JSON has the empty key. */
	jrec_reset(&j, "nope", 4);
	{
		struct fpath *fp = fpath_new("s");
		size_t len = 9;

		key_text(&j, fp, buf, sizeof(buf), &len);
		ck_assert_uint_eq(len, 0);
		fpath_free(fp);
	}
	jrec_clear(&j);
}
END_TEST

START_TEST(token_buffer)
{
	/* 50,000 elements: the buffer grows while jsmn resumes, and is let
	 * go when the next, small record comes. */
	size_t n = 50000, len = 0;
	char *big = malloc(n * 2 + 16);
	struct jrec j;

	big[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		big[len++] = (char)('0' + i % 10);
		big[len++] = i + 1 < n ? ',' : ']';
	}
	jrec_init(&j, big, len);
	ck_assert(jrec_ok(&j));
	ck_assert_int_eq(j.ntok, (int)n + 1);
	jrec_reset(&j, "{\"a\":1}", 7);
	ck_assert_ptr_null(j.toks);
	ck_assert(jrec_ok(&j));
	ck_assert_int_eq(j.ntok, 3);
	jrec_clear(&j);
	free(big);
}
END_TEST

static Suite *jrec_suite(void)
{
	Suite *s = suite_create("jrec");
	TCase *check = tcase_create("check");
	TCase *fields = tcase_create("fields");

	tcase_add_test(check, verdicts_match_jansson);
	tcase_add_test(check, depth_limit);
	tcase_add_test(check, deep_nesting_is_quick);
	tcase_add_test(check, mutations_match_jansson);
	tcase_add_test(check, every_position);
	suite_add_tcase(s, check);

	tcase_add_test(fields, fields_escapes_nesting_duplicates);
	tcase_add_test(fields, key_texts);
	tcase_add_test(fields, token_buffer);
	suite_add_tcase(s, fields);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jrec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
