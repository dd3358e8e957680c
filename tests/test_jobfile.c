/*
 * test_jobfile.c - the job file reader: the spec's example, defaults,
 * ${ENV} substitution, and that every kind of mistake is reported with its
 * JSON path, all of them in one pass.
 *
 * Test documents are written with single quotes for readability; q() turns
 * them into JSON.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobfile.h"

/* The text with every ' replaced by "; static storage, one at a time. */
static const char *q(const char *s)
{
	static char buf[8192];
	size_t i;

	ck_assert_uint_lt(strlen(s), sizeof(buf));
	for (i = 0; s[i]; i++)
		buf[i] = s[i] == '\'' ? '"' : s[i];
	buf[i] = '\0';
	return buf;
}

static struct job_cfg *parse_ok(const char *json)
{
	struct errlist errs = {0};
	const char *text = q(json);
	struct job_cfg *cfg = jobfile_parse(text, strlen(text), NULL, &errs);

	ck_assert_msg(cfg != NULL, "did not parse: %s\n%s",
	              errs.n ? errs.msgs[0] : "(no message)", text);
	ck_assert_uint_eq(errs.n, 0);
	return cfg;
}

/* All messages, one per line; fails if the document parsed. */
static char *parse_errors(const char *json, size_t *n)
{
	struct errlist errs = {0};
	const char *text = q(json);
	struct job_cfg *cfg =
	    jobfile_parse(text, strlen(text), "job.json", &errs);
	size_t len = 1;
	char *all;

	ck_assert_msg(cfg == NULL, "parsed but should not: %s", text);
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
	return all;
}

#define assert_has(hay, needle)                                                \
	ck_assert_msg(strstr((hay), (needle)) != NULL,                         \
	              "expected \"%s\" in:\n%s", (needle), (hay))

static void expect_error(const char *json, const char *frag1, const char *frag2)
{
	char *e = parse_errors(json, NULL);
	assert_has(e, frag1);
	if (frag2)
		assert_has(e, frag2);
	free(e);
}

/* Pieces of valid documents. */
#define CKPT "'checkpoint':{'dir':'/tmp/c'}"
#define GEN "'source':{'type':'generator'}"
#define DISCARD "'sink':{'type':'discard'}"
#define KSRC "'source':{'type':'kafka','brokers':'b:9092','topic':'in'}"
#define KSINK "'sink':{'type':'kafka','brokers':'b:9092','topic':'out'}"
#define JOB(...) "{'name':'j'," __VA_ARGS__ "}"
/* A valid job around one operator. */
#define WITH_OP(op) JOB(CKPT "," GEN ",'operators':[" op "]," DISCARD)

static const char *example =
    "{\n"
    "  'name': 'errors-per-service',\n"
    "  'checkpoint': { 'dir': '/var/tmp/weir/errors', 'interval_ms': 1000,"
    " 'timeout_ms': 10000,\n"
    "                  'min_pause_ms': 0, 'retain': 3,"
    " 'tolerable_failures': 3 },\n"
    "  'source': { 'type': 'kafka', 'brokers':"
    " '${KAFKA_BROKERS:-127.0.0.1:9092}', 'topic': 'logs',\n"
    "              'parallelism': 2, 'start': 'earliest', 'bounded': false,"
    " 'group_id': 'errors',\n"
    "              'on_offset_out_of_range': 'fail',\n"
    "              'properties': { 'fetch.wait.max.ms': '20' } },\n"
    "  'operators': [\n"
    "    { 'type': 'filter', 'where': { 'field': 'level', 'op': 'eq',"
    " 'value': 'ERROR' } },\n"
    "    { 'type': 'count', 'key': 'service' }\n"
    "  ],\n"
    "  'sink': { 'type': 'kafka', 'brokers':"
    " '${KAFKA_BROKERS:-127.0.0.1:9092}', 'topic': 'errors',\n"
    "            'parallelism': 1, 'delivery': 'at-least-once',"
    " 'partitioner': 'key',\n"
    "            'properties': { 'linger.ms': '5' } }\n"
    "}\n";

/* --- Valid files -------------------------------------------------------- */

START_TEST(full_example)
{
	struct job_cfg *c;

	unsetenv("KAFKA_BROKERS");
	c = parse_ok(example);
	ck_assert_str_eq(c->path, "<string>");
	ck_assert_str_eq(c->name, "errors-per-service");
	ck_assert_str_eq(c->checkpoint.dir, "/var/tmp/weir/errors");
	ck_assert_int_eq(c->checkpoint.interval_ms, 1000);
	ck_assert_int_eq(c->checkpoint.timeout_ms, 10000);
	ck_assert_int_eq(c->checkpoint.min_pause_ms, 0);
	ck_assert_int_eq(c->checkpoint.retain, 3);
	ck_assert_int_eq(c->checkpoint.tolerable_failures, 3);

	ck_assert_int_eq(c->source.type, SOURCE_KAFKA);
	ck_assert_str_eq(c->source.brokers, "127.0.0.1:9092");
	ck_assert_str_eq(c->source.topic, "logs");
	ck_assert_int_eq(c->source.parallelism, 2);
	ck_assert_int_eq(c->source.start, START_EARLIEST);
	ck_assert(!c->source.bounded);
	ck_assert_str_eq(c->source.group_id, "errors");
	ck_assert_int_eq(c->source.on_offset_out_of_range, OOR_FAIL);
	ck_assert_uint_eq(c->source.properties.n, 1);
	ck_assert_str_eq(c->source.properties.items[0].key,
	                 "fetch.wait.max.ms");
	ck_assert_str_eq(c->source.properties.items[0].value, "20");

	ck_assert_uint_eq(c->nops, 2);
	ck_assert_str_eq(c->ops[0].type, "filter");
	ck_assert_str_eq(c->ops[0].config_json,
	                 "{\"type\":\"filter\",\"where\":{\"field\":\"level\","
	                 "\"op\":\"eq\",\"value\":\"ERROR\"}}");
	ck_assert_ptr_null(c->ops[0].key_field);
	ck_assert_int_eq(c->ops[0].parallelism, 1);
	ck_assert_int_eq(c->ops[0].on_error, ON_ERROR_SKIP);
	ck_assert_str_eq(c->ops[1].type, "count");
	ck_assert_str_eq(c->ops[1].key_field, "service");
	ck_assert_str_eq(c->ops[1].config_json,
	                 "{\"type\":\"count\",\"key\":\"service\"}");

	ck_assert_int_eq(c->sink.type, SINK_KAFKA);
	ck_assert_str_eq(c->sink.brokers, "127.0.0.1:9092");
	ck_assert_str_eq(c->sink.topic, "errors");
	ck_assert_int_eq(c->sink.parallelism, 1);
	ck_assert_int_eq(c->sink.delivery, DELIVERY_AT_LEAST_ONCE);
	ck_assert_int_eq(c->sink.partitioner, PARTITIONER_KEY);
	ck_assert_uint_eq(c->sink.properties.n, 1);
	ck_assert_str_eq(c->sink.properties.items[0].key, "linger.ms");
	ck_assert_str_eq(c->sink.properties.items[0].value, "5");
	jobfile_free(c);
}
END_TEST

START_TEST(defaults)
{
	struct job_cfg *c = parse_ok(JOB(CKPT "," GEN "," DISCARD));

	ck_assert_str_eq(c->name, "j");
	ck_assert_int_eq(c->progress_interval_ms, 10000);
	ck_assert(c->sink.lineage_headers);
	jobfile_free(c);
	c = parse_ok(JOB(CKPT
	                 "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	                 "'topic':'t','delivery':'exactly-once','exactly_once':"
	                 "'transactions','lineage_headers':false}"));
	ck_assert(!c->sink.lineage_headers);
	jobfile_free(c);
	c = parse_ok(JOB(CKPT "," GEN "," DISCARD));
	ck_assert_int_eq(c->checkpoint.interval_ms, 1000);
	ck_assert_int_eq(c->checkpoint.timeout_ms, 10000);
	ck_assert_int_eq(c->checkpoint.min_pause_ms, 0);
	ck_assert_int_eq(c->checkpoint.retain, 3);
	ck_assert_int_eq(c->checkpoint.tolerable_failures, 3);
	ck_assert(c->checkpoint.incremental);
	ck_assert_int_eq(c->checkpoint.materialize_delta_pct, 100);
	ck_assert_int_eq(c->source.type, SOURCE_GENERATOR);
	ck_assert_int_eq(c->source.parallelism, 1);
	ck_assert_int_eq(c->source.count, 1000);
	ck_assert_int_eq(c->source.partitions, 1);
	ck_assert_int_eq(c->source.rate, 0);
	ck_assert_ptr_null(c->source.brokers);
	ck_assert_uint_eq(c->nops, 0);
	ck_assert_int_eq(c->sink.type, SINK_DISCARD);
	ck_assert_int_eq(c->sink.parallelism, 1);
	jobfile_free(c);

	c = parse_ok(JOB(CKPT "," KSRC ",'operators':[]," KSINK));
	ck_assert_int_eq(c->source.type, SOURCE_KAFKA);
	ck_assert_int_eq(c->source.start, START_EARLIEST);
	ck_assert(!c->source.bounded);
	ck_assert_ptr_null(c->source.group_id);
	ck_assert_int_eq(c->source.on_offset_out_of_range, OOR_FAIL);
	ck_assert_uint_eq(c->source.properties.n, 0);
	ck_assert_uint_eq(c->nops, 0);
	ck_assert_int_eq(c->sink.delivery, DELIVERY_AT_LEAST_ONCE);
	ck_assert_int_eq(c->sink.partitioner, PARTITIONER_KEY);
	ck_assert_uint_eq(c->sink.properties.n, 0);
	jobfile_free(c);

	c = parse_ok(WITH_OP("{'type':'count'}"));
	ck_assert_uint_eq(c->nops, 1);
	ck_assert_str_eq(c->ops[0].type, "count");
	ck_assert_str_eq(c->ops[0].config_json, "{\"type\":\"count\"}");
	ck_assert_int_eq(c->ops[0].parallelism, 1);
	ck_assert_int_eq(c->ops[0].on_error, ON_ERROR_SKIP);
	ck_assert_ptr_null(c->ops[0].key_field);
	ck_assert_ptr_null(c->ops[0].dead_letter_topic);
	ck_assert_ptr_null(c->ops[0].library);
	jobfile_free(c);
}
END_TEST

START_TEST(other_values)
{
	struct job_cfg *c = parse_ok(
	    "{'name':'A.b_c-9','progress_interval_ms':0,"
	    "'checkpoint':{'dir':'/d','interval_ms':0,'timeout_ms':1,"
	    "'min_pause_ms':250,'retain':1,'tolerable_failures':0,"
	    "'incremental':false,'materialize_delta_pct':100000},"
	    "'source':{'type':'kafka','brokers':'h1:1,h2:2','topic':'t',"
	    "'parallelism':256,'start':'latest','bounded':true,"
	    "'on_offset_out_of_range':'latest',"
	    "'properties':{'a':5,'b':true,'c':0.5,'d':'x','e':false}},"
	    "'operators':["
	    "{'type':'filter','name':'only-errors','parallelism':3,"
	    "'on_error':'dead-letter','dead_letter_topic':'dlq',"
	    "'where':{'value_contains':'x'}},"
	    "{'type':'plugin','library':'./libx.so','on_error':'fail',"
	    "'key':'k','ttl_ms':31536000000,'window_ms':500}],"
	    "'sink':{'type':'kafka','brokers':'b','topic':'o',"
	    "'delivery':'exactly-once','partitioner':'source'}}");

	ck_assert_str_eq(c->name, "A.b_c-9");
	ck_assert_int_eq(c->progress_interval_ms, 0);
	ck_assert_int_eq(c->checkpoint.interval_ms, 0);
	ck_assert_int_eq(c->checkpoint.timeout_ms, 1);
	ck_assert_int_eq(c->checkpoint.min_pause_ms, 250);
	ck_assert_int_eq(c->checkpoint.retain, 1);
	ck_assert_int_eq(c->checkpoint.tolerable_failures, 0);
	ck_assert(!c->checkpoint.incremental);
	ck_assert_int_eq(c->checkpoint.materialize_delta_pct, 100000);
	ck_assert_int_eq(c->source.parallelism, 256);
	ck_assert_int_eq(c->source.start, START_LATEST);
	ck_assert(c->source.bounded);
	ck_assert_int_eq(c->source.on_offset_out_of_range, OOR_LATEST);
	/* Numbers and booleans become their text, in file order. */
	ck_assert_uint_eq(c->source.properties.n, 5);
	ck_assert_str_eq(c->source.properties.items[0].value, "5");
	ck_assert_str_eq(c->source.properties.items[1].value, "true");
	ck_assert_str_eq(c->source.properties.items[2].value, "0.5");
	ck_assert_str_eq(c->source.properties.items[3].value, "x");
	ck_assert_str_eq(c->source.properties.items[4].key, "e");
	ck_assert_str_eq(c->source.properties.items[4].value, "false");

	ck_assert_int_eq(c->ops[0].parallelism, 3);
	ck_assert_int_eq(c->ops[0].on_error, ON_ERROR_DEAD_LETTER);
	ck_assert_str_eq(c->ops[0].dead_letter_topic, "dlq");
	ck_assert_str_eq(c->ops[1].type, "plugin");
	ck_assert_str_eq(c->ops[1].library, "./libx.so");
	ck_assert_int_eq(c->ops[1].on_error, ON_ERROR_FAIL);
	ck_assert_int_eq(c->ops[0].ttl_ms, 0);
	ck_assert_int_eq(c->ops[1].ttl_ms, 31536000000LL);
	/* Operator-specific fields pass through untouched. */
	assert_has(c->ops[1].config_json, "\"window_ms\":500");

	ck_assert_int_eq(c->sink.delivery, DELIVERY_EXACTLY_ONCE);
	ck_assert_int_eq(c->sink.partitioner, PARTITIONER_SOURCE);
	jobfile_free(c);

	c = parse_ok(
	    JOB(CKPT ",'source':{'type':'generator','count':0,"
	             "'partitions':4,'rate':100,'parallelism':2}," DISCARD));
	ck_assert_int_eq(c->source.count, 0);
	ck_assert_int_eq(c->source.partitions, 4);
	ck_assert_int_eq(c->source.rate, 100);
	ck_assert_int_eq(c->source.parallelism, 2);
	jobfile_free(c);

	c = parse_ok(JOB(CKPT "," GEN "," DISCARD ",'operators':[{'type':"
	                      "'count','on_error':'skip'}]"));
	ck_assert_int_eq(c->ops[0].on_error, ON_ERROR_SKIP);
	jobfile_free(c);
}
END_TEST

/* --- ${} substitution --------------------------------------------------- */

static char *expand(const char *s, struct errlist *errs)
{
	return jobfile_expand_env(s, "x.y", errs);
}

/* in, with errs and r in scope, expands to out. */
#define EXPECT(in, out)                                                        \
	do {                                                                   \
		r = expand(in, &errs);                                         \
		ck_assert_msg(r != NULL, "%s: %s", in,                         \
		              errs.n ? errs.msgs[0] : "");                     \
		ck_assert_str_eq(r, out);                                      \
		free(r);                                                       \
	} while (0)

START_TEST(expand_env)
{
	struct errlist errs = {0};
	char *r;

	setenv("WEIR_T_A", "alpha", 1);
	setenv("WEIR_T_EMPTY", "", 1);
	unsetenv("WEIR_T_UNSET");

	EXPECT("plain", "plain");
	EXPECT("", "");
	EXPECT("${WEIR_T_A}", "alpha");
	EXPECT("<${WEIR_T_A}>", "<alpha>");
	EXPECT("${WEIR_T_A}${WEIR_T_A}", "alphaalpha");
	EXPECT("${WEIR_T_A:-dflt}", "alpha");
	EXPECT("${WEIR_T_UNSET:-dflt}", "dflt");
	EXPECT("${WEIR_T_UNSET:-}", "");
	EXPECT("${WEIR_T_UNSET:-127.0.0.1:9092}", "127.0.0.1:9092");
	EXPECT("${WEIR_T_UNSET:-a-b:-c}", "a-b:-c");
	/* As in sh, :- also replaces an empty value; plain ${} keeps it. */
	EXPECT("${WEIR_T_EMPTY:-dflt}", "dflt");
	EXPECT("[${WEIR_T_EMPTY}]", "[]");
	/* Literal dollars. */
	EXPECT("cost $5", "cost $5");
	EXPECT("$", "$");
	EXPECT("a$", "a$");
	EXPECT("$$", "$$");
	EXPECT("pa$$word", "pa$$word");
	EXPECT("$${WEIR_T_A}", "$${WEIR_T_A}");
	EXPECT("$$$${WEIR_T_A}", "$$$${WEIR_T_A}");
	EXPECT("$x {WEIR_T_A}", "$x {WEIR_T_A}");
	ck_assert_uint_eq(errs.n, 0);

	ck_assert_ptr_null(expand("${WEIR_T_UNSET}", &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(
	    errs.msgs[0],
	    "x.y: environment variable WEIR_T_UNSET "
	    "is not set; set it or write ${WEIR_T_UNSET:-default}");
	errlist_clear(&errs);

	ck_assert_ptr_null(expand("abc ${WEIR_T_A", &errs));
	ck_assert_uint_eq(errs.n, 1);
	assert_has(errs.msgs[0], "x.y: unterminated \"${\" at character 4");
	errlist_clear(&errs);

	ck_assert_ptr_null(expand("${}", &errs));
	assert_has(errs.msgs[0], "x.y: invalid variable reference \"${}\"");
	errlist_clear(&errs);
	ck_assert_ptr_null(expand("${1A}", &errs));
	assert_has(errs.msgs[0], "x.y: invalid variable reference \"${1A}\"");
	errlist_clear(&errs);
	ck_assert_ptr_null(expand("${A-b}", &errs));
	assert_has(errs.msgs[0], "${NAME:-default}");
	errlist_clear(&errs);
}
END_TEST

/* A default may hold references of its own, expanded as sh does: only when
 * the default is used, to a bounded depth. */
START_TEST(expand_nested_defaults)
{
	struct errlist errs = {0};
	char deep[256] = "", *r;

	setenv("WEIR_T_A", "alpha", 1);
	setenv("WEIR_T_EMPTY", "", 1);
	unsetenv("WEIR_T_UNSET");
	unsetenv("WEIR_T_UNSET2");

	EXPECT("${WEIR_T_UNSET:-${WEIR_T_A}}", "alpha");
	EXPECT("nested-${WEIR_T_UNSET:-${WEIR_T_A}}-x", "nested-alpha-x");
	EXPECT("${WEIR_T_UNSET:-<${WEIR_T_A}>/${WEIR_T_EMPTY:-e}}",
	       "<alpha>/e");
	EXPECT("${WEIR_T_UNSET:-${WEIR_T_UNSET2:-${WEIR_T_A}}}", "alpha");
	EXPECT("${WEIR_T_UNSET:-${WEIR_T_UNSET2:-last}}", "last");
	/* A default not used is not looked into: its variables may be
	 * unset. */
	EXPECT("${WEIR_T_A:-${WEIR_T_UNSET}}", "alpha");
	/* A brace after the reference is text; $$ stays literal inside. */
	EXPECT("${WEIR_T_UNSET:-a}b}", "ab}");
	EXPECT("${WEIR_T_UNSET:-$${WEIR_T_A}}", "$${WEIR_T_A}");
	ck_assert_uint_eq(errs.n, 0);

	ck_assert_ptr_null(expand("${WEIR_T_UNSET:-${WEIR_T_UNSET2}}", &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0],
	                 "x.y: environment variable "
	                 "WEIR_T_UNSET2 is not set; set it or write "
	                 "${WEIR_T_UNSET2:-default}");
	errlist_clear(&errs);
	/* Broken syntax is an error even in a default not used. */
	ck_assert_ptr_null(expand("${WEIR_T_A:-${1x}}", &errs));
	assert_has(errs.msgs[0], "x.y: invalid variable reference \"${1x}\"");
	errlist_clear(&errs);
	ck_assert_ptr_null(expand("${WEIR_T_UNSET:-${WEIR_T_A}", &errs));
	ck_assert_str_eq(errs.msgs[0],
	                 "x.y: unterminated \"${\" at character "
	                 "0; close it with \"}\", or write \"$${\" to keep it "
	                 "literally");
	errlist_clear(&errs);
	/* Eight levels are enough for anyone; nine are refused. */
	for (int i = 0; i < 8; i++)
		strcat(deep, "${WEIR_T_UNSET:-");
	strcat(deep, "end");
	for (int i = 0; i < 8; i++)
		strcat(deep, "}");
	EXPECT(deep, "end");
	memmove(deep + 16, deep, strlen(deep) + 1);
	memcpy(deep, "${WEIR_T_UNSET:-", 16);
	strcat(deep, "}");
	ck_assert_ptr_null(expand(deep, &errs));
	ck_assert_str_eq(errs.msgs[0],
	                 "x.y: a default nests ${...} deeper "
	                 "than 8 levels at character 128; use fewer levels");
	errlist_clear(&errs);
}
END_TEST

#undef EXPECT

START_TEST(env_in_job)
{
	struct job_cfg *c;

	setenv("KAFKA_BROKERS", "k1:9092,k2:9092", 1);
	setenv("WEIR_T_WAIT", "50", 1);
	setenv("WEIR_T_LEVEL", "WARN", 1);
	unsetenv("WEIR_T_UNSET");
	c = parse_ok(
	    "{'name':'${WEIR_T_UNSET:-envjob}',"
	    "'checkpoint':{'dir':'/tmp/${WEIR_T_UNSET:-ck}'},"
	    "'source':{'type':'kafka','brokers':'${KAFKA_BROKERS}','topic':'t',"
	    "'properties':{'fetch.wait.max.ms':'${WEIR_T_WAIT}'}},"
	    "'operators':[{'type':'filter','where':{'field':'level','op':'eq',"
	    "'value':'${WEIR_T_LEVEL}'}}],"
	    "'sink':{'type':'kafka','brokers':'${KAFKA_BROKERS:-x}',"
	    "'topic':'o'}}");
	ck_assert_str_eq(c->name, "envjob");
	ck_assert_str_eq(c->checkpoint.dir, "/tmp/ck");
	ck_assert_str_eq(c->source.brokers, "k1:9092,k2:9092");
	ck_assert_str_eq(c->source.properties.items[0].value, "50");
	ck_assert_str_eq(c->sink.brokers, "k1:9092,k2:9092");
	/* The operator's config text is substituted too. */
	assert_has(c->ops[0].config_json, "\"value\":\"WARN\"");
	ck_assert_ptr_null(strstr(c->ops[0].config_json, "${"));
	jobfile_free(c);

	/* The example with the variable set. */
	c = parse_ok(example);
	ck_assert_str_eq(c->source.brokers, "k1:9092,k2:9092");
	jobfile_free(c);
}
END_TEST

START_TEST(env_errors_have_paths)
{
	size_t n;
	char *e;

	unsetenv("KAFKA_BROKERS");
	unsetenv("WEIR_T_UNSET");
	e = parse_errors(
	    "{'name':'j','checkpoint':{'dir':'/d'},"
	    "'source':{'type':'kafka','brokers':'${KAFKA_BROKERS}','topic':'t',"
	    "'properties':{'fetch.wait.max.ms':'${WEIR_T_UNSET}'}},"
	    "'operators':[{'type':'filter','where':{'any':[{'field':'a',"
	    "'op':'eq','value':'${WEIR_T_UNSET}'}]}}],"
	    "'sink':{'type':'discard'}}",
	    &n);
	assert_has(e, "source.brokers: environment variable KAFKA_BROKERS is "
	              "not set; set it or write ${KAFKA_BROKERS:-default}");
	assert_has(e, "source.properties.fetch.wait.max.ms: environment "
	              "variable WEIR_T_UNSET is not set");
	assert_has(e, "operators[0].where.any[0].value: environment variable "
	              "WEIR_T_UNSET is not set");
	ck_assert_uint_eq(n, 3);
	free(e);

	expect_error(JOB("'checkpoint':{'dir':'/d/${oops'}," GEN "," DISCARD),
	             "checkpoint.dir: unterminated \"${\"", NULL);
}
END_TEST

/* --- Errors ------------------------------------------------------------- */

START_TEST(err_name)
{
	char doc[512], longname[102];

	expect_error("{" CKPT "," GEN "," DISCARD "}", "name: required", NULL);
	expect_error(
	    "{'name':'my job'," CKPT "," GEN "," DISCARD "}",
	    "name: expected 1 to 100 characters from A-Z a-z 0-9 . _ -",
	    "got string \"my job\"");
	expect_error("{'name':''," CKPT "," GEN "," DISCARD "}",
	             "name: expected 1 to 100 characters", NULL);
	expect_error("{'name':7," CKPT "," GEN "," DISCARD "}",
	             "name: expected 1 to 100 characters", "got 7");
	memset(longname, 'a', 101);
	longname[101] = '\0';
	snprintf(doc, sizeof(doc), "{'name':'%s'," CKPT "," GEN "," DISCARD "}",
	         longname);
	expect_error(doc, "name: expected 1 to 100 characters", NULL);
	longname[100] = '\0';
	snprintf(doc, sizeof(doc), "{'name':'%s'," CKPT "," GEN "," DISCARD "}",
	         longname);
	jobfile_free(parse_ok(doc));
}
END_TEST

START_TEST(err_top_level)
{
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'sinks':{}"),
	             "sinks: unknown field; expected one of name, checkpoint, "
	             "source, operators, sink",
	             "did you mean sink?");
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'parallelism':4"),
	             "parallelism: unknown field", NULL);
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'progress_interval_ms':-1"),
	             "progress_interval_ms: out of range; expected an integer "
	             "from 0 to 86400000",
	             "got -1");
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'progress_interval_ms':5"),
	             "progress_interval_ms: expected 0 (no progress lines) or "
	             "at least 100",
	             "got 5");
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'progress_intervl_ms':5"),
	             "progress_intervl_ms: unknown field",
	             "did you mean "
	             "progress_interval_ms?");
	expect_error(JOB(GEN "," DISCARD), "checkpoint: required", "dir");
	expect_error(JOB(CKPT "," DISCARD), "source: required", "type");
	expect_error(JOB(CKPT "," GEN), "sink: required", "type");
	expect_error(JOB("'checkpoint':'/tmp'," GEN "," DISCARD),
	             "checkpoint: expected an object", "got string \"/tmp\"");
	expect_error(JOB(CKPT ",'source':[]," DISCARD),
	             "source: expected an object", "got an array");
	expect_error(JOB(CKPT "," GEN ",'sink':null"),
	             "sink: expected an object", "got null");
	expect_error("[1,2]",
	             "job.json: expected a JSON object at the top level",
	             "got an array");
	expect_error("42", "job.json: expected a JSON object at the top level",
	             "got 42");
}
END_TEST

START_TEST(err_checkpoint)
{
	expect_error(JOB("'checkpoint':{}," GEN "," DISCARD),
	             "checkpoint.dir: required", NULL);
	expect_error(JOB("'checkpoint':{'dir':''}," GEN "," DISCARD),
	             "checkpoint.dir: expected a non-empty string", NULL);
	expect_error(JOB("'checkpoint':{'dir':5}," GEN "," DISCARD),
	             "checkpoint.dir: expected a non-empty string", "got 5");
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','interval_ms':'2'}," GEN "," DISCARD),
	    "checkpoint.interval_ms: expected an integer from 0 to "
	    "86400000, got string \"2\"",
	    NULL);
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','interval_ms':-1}," GEN "," DISCARD),
	    "checkpoint.interval_ms: out of range; expected an integer "
	    "from 0 to 86400000, got -1",
	    NULL);
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','interval_ms':1.5}," GEN "," DISCARD),
	    "checkpoint.interval_ms: expected an integer", "got 1.5");
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','timeout_ms':0}," GEN "," DISCARD),
	    "checkpoint.timeout_ms: out of range; expected an integer "
	    "from 1 to 86400000, got 0",
	    NULL);
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','min_pause_ms':-5}," GEN "," DISCARD),
	    "checkpoint.min_pause_ms: out of range", "from 0 to");
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','retain':0}," GEN "," DISCARD),
	    "checkpoint.retain: out of range; expected an integer from "
	    "1 to",
	    NULL);
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','retain':true}," GEN "," DISCARD),
	    "checkpoint.retain: expected an integer", "got true");
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','tolerable_failures':-1}," GEN
	        "," DISCARD),
	    "checkpoint.tolerable_failures: out of range", "from 0 to");
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','incremental':1}," GEN "," DISCARD),
	    "checkpoint.incremental: expected true or false", "got 1");
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','materialize_delta_pct':0}," GEN
	        "," DISCARD),
	    "checkpoint.materialize_delta_pct: out of range",
	    "from 1 to 100000");
	expect_error(JOB("'checkpoint':{'dir':'/d','materialize_delta_pct':"
	                 "100001}," GEN "," DISCARD),
	             "checkpoint.materialize_delta_pct: out of range",
	             "from 1 to 100000");
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','intervall_ms':5}," GEN "," DISCARD),
	    "checkpoint.intervall_ms: unknown field; expected one of "
	    "dir, interval_ms, timeout_ms, min_pause_ms, retain, "
	    "tolerable_failures, incremental, materialize_delta_pct",
	    "did you mean interval_ms?");
}
END_TEST

/* tmpl with its one "%s" replaced by val. */
static void fill_in(char *out, size_t cap, const char *tmpl, const char *val)
{
	const char *at = strstr(tmpl, "%s");

	ck_assert_ptr_nonnull(at);
	ck_assert_uint_lt(strlen(tmpl) + strlen(val), cap);
	memcpy(out, tmpl, (size_t)(at - tmpl));
	strcpy(out + (at - tmpl), val);
	strcat(out, at + 2);
}

/* Every number of the job file has a range that weir's arithmetic is safe
 * in: its largest value is accepted, one more is refused with the path and
 * the range, and so is one less than its smallest. */
START_TEST(numeric_ranges)
{
	static const struct {
		const char *fmt;     /* the job with %s for the value */
		const char *lo, *hi; /* the range's ends */
		const char *below, *above;
		const char *msg; /* "%s": the refused value */
	} cases[] = {
	    {JOB("'checkpoint':{'dir':'/d','interval_ms':%s}," GEN "," DISCARD),
	     "0", "86400000", "-1", "86400001",
	     "checkpoint.interval_ms: out of range; expected an "
	     "integer from 0 to 86400000, got %s"},
	    {JOB("'checkpoint':{'dir':'/d','timeout_ms':%s}," GEN "," DISCARD),
	     "1", "86400000", "0", "86400001",
	     "checkpoint.timeout_ms: out of range; expected an "
	     "integer from 1 to 86400000, got %s"},
	    {JOB("'checkpoint':{'dir':'/d','min_pause_ms':%s}," GEN
	         "," DISCARD),
	     "0", "86400000", "-1", "86400001",
	     "checkpoint.min_pause_ms: out of range; expected an "
	     "integer from 0 to 86400000, got %s"},
	    {JOB("'checkpoint':{'dir':'/d','retain':%s}," GEN "," DISCARD), "1",
	     "10000", "0", "10001",
	     "checkpoint.retain: out of range; expected an integer "
	     "from 1 to 10000, got %s"},
	    {JOB("'checkpoint':{'dir':'/d','tolerable_failures':%s}," GEN
	         "," DISCARD),
	     "0", "10000", "-1", "10001",
	     "checkpoint.tolerable_failures: out of range; "
	     "expected an integer from 0 to 10000, got %s"},
	    {JOB(CKPT "," GEN "," DISCARD ",'progress_interval_ms':%s"), "0",
	     "86400000", "-1", "86400001",
	     "progress_interval_ms: out of range; expected an "
	     "integer from 0 to 86400000, got %s"},
	    {JOB(CKPT ",'source':{'type':'generator','count':%s}," DISCARD),
	     "0", "1000000000000000", "-1", "1000000000000001",
	     "source.count: out of range; expected an integer from "
	     "0 to 1000000000000000, got %s"},
	    {JOB(CKPT
	         ",'source':{'type':'generator','partitions':%s}," DISCARD),
	     "1", "10000", "0", "10001",
	     "source.partitions: out of range; expected an integer "
	     "from 1 to 10000, got %s"},
	    {JOB(CKPT ",'source':{'type':'generator','rate':%s}," DISCARD), "0",
	     "1000000000", "-1", "1000000001",
	     "source.rate: out of range; expected an integer from "
	     "0 to 1000000000, got %s"},
	    {JOB(CKPT
	         ",'source':{'type':'generator','parallelism':%s}," DISCARD),
	     "1", "256", "0", "257",
	     "source.parallelism: out of range; expected an "
	     "integer from 1 to 256, got %s"},
	    {JOB(CKPT "," GEN ",'sink':{'type':'discard','parallelism':%s}"),
	     "1", "256", "0", "257",
	     "sink.parallelism: out of range; expected an integer "
	     "from 1 to 256, got %s"},
	    {WITH_OP("{'type':'filter','parallelism':%s,"
	             "'where':{'value_contains':'x'}}"),
	     "1", "256", "0", "257",
	     "operators[0].parallelism: out of range; expected an "
	     "integer from 1 to 256, got %s"},
	};
	static const char *const huge[] = {"9223372036854775807",
	                                   "-9223372036854775808"};
	char doc[512], msg[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *bad[] = {cases[i].below, cases[i].above, huge[0],
		                     huge[1]};

		fill_in(doc, sizeof(doc), cases[i].fmt, cases[i].lo);
		jobfile_free(parse_ok(doc));
		fill_in(doc, sizeof(doc), cases[i].fmt, cases[i].hi);
		jobfile_free(parse_ok(doc));
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			size_t n;
			char *e;

			fill_in(doc, sizeof(doc), cases[i].fmt, bad[k]);
			fill_in(msg, sizeof(msg), cases[i].msg, bad[k]);
			e = parse_errors(doc, &n);
			ck_assert_uint_eq(n, 1);
			e[strlen(e) - 1] = '\0';
			ck_assert_str_eq(e, msg);
			free(e);
		}
	}
	/* Between 0 (no periodic checkpoints) and 10 ms, none. */
	expect_error(
	    JOB("'checkpoint':{'dir':'/d','interval_ms':9}," GEN "," DISCARD),
	    "checkpoint.interval_ms: expected 0 (only the "
	    "final checkpoint, at stop) or at least 10, got 9",
	    NULL);
	jobfile_free(parse_ok(JOB(
	    "'checkpoint':{'dir':'/d','interval_ms':10}," GEN "," DISCARD)));
}
END_TEST

START_TEST(err_source)
{
	expect_error(JOB(CKPT ",'source':{}," DISCARD),
	             "source.type: required; expected one of kafka, generator",
	             NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'file'}," DISCARD),
	    "source.type: unknown value \"file\"; expected one of kafka, "
	    "generator",
	    NULL);
	expect_error(JOB(CKPT ",'source':{'type':'kafak'}," DISCARD),
	             "source.type: unknown value", "did you mean kafka?");
	expect_error(JOB(CKPT ",'source':{'type':'kafka'}," DISCARD),
	             "source.brokers: required", "source.topic: required");
	expect_error(JOB(CKPT ",'source':{'type':'kafka','brokers':'','topic':"
	                      "'t'}," DISCARD),
	             "source.brokers: expected a non-empty string", NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'generator','parallelism':0}," DISCARD),
	    "source.parallelism: out of range; expected an integer from "
	    "1 to 256, got 0",
	    NULL);
	expect_error(
	    JOB(CKPT
	        ",'source':{'type':'generator','parallelism':257}," DISCARD),
	    "source.parallelism: out of range", "got 257");
	expect_error(
	    JOB(CKPT
	        ",'source':{'type':'generator','parallelism':'2'}," DISCARD),
	    "source.parallelism: expected an integer from 1 to 256, "
	    "got string \"2\"",
	    NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'kafka','brokers':'b','topic':"
	             "'t','start':'beginning'}," DISCARD),
	    "source.start: unknown value \"beginning\"; expected one of "
	    "earliest, latest",
	    NULL);
	expect_error(JOB(CKPT ",'source':{'type':'kafka','brokers':'b','topic':"
	                      "'t','on_offset_out_of_range':'skip'}," DISCARD),
	             "source.on_offset_out_of_range: unknown value \"skip\"; "
	             "expected one of fail, earliest, latest",
	             NULL);
	expect_error(JOB(CKPT ",'source':{'type':'kafka','brokers':'b','topic':"
	                      "'t','bounded':'yes'}," DISCARD),
	             "source.bounded: expected true or false",
	             "string \"yes\"");
	expect_error(JOB(CKPT ",'source':{'type':'kafka','brokers':'b','topic':"
	                      "'t','group_id':5}," DISCARD),
	             "source.group_id: expected a non-empty string", NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'kafka','brokers':'b','topic':"
	             "'t','topics':['a']}," DISCARD),
	    "source.topics: unknown field; expected one of type, brokers,"
	    " topic, parallelism, start, bounded, group_id, "
	    "on_offset_out_of_range, properties, partitioned_by, count, "
	    "partitions, rate",
	    "did you mean topic?");
}
END_TEST

/* source.timestamp, source.watermarks, source.on_error: defaults, values,
 * and an error with its path for each wrong field. */
START_TEST(event_time_fields)
{
	struct job_cfg *c = parse_ok(JOB(CKPT "," KSRC "," DISCARD));

	ck_assert_ptr_null(c->source.time.field);
	ck_assert_int_eq(c->source.time.format, TS_EPOCH_MS);
	ck_assert_int_eq(c->source.time.max_ooo_ms, 0);
	ck_assert_int_eq(c->source.time.idle_timeout_ms, 0);
	ck_assert_int_eq(c->source.time.interval_ms,
	                 JOB_DEFAULT_WM_INTERVAL_MS);
	ck_assert_int_eq(c->source.time.on_error, ON_ERROR_SKIP);
	jobfile_free(c);

	c = parse_ok(JOB(CKPT ",'source':{'type':'generator','timestamp':"
	                      "{'field':'a.ts','format':'rfc3339'},"
	                      "'watermarks':{'max_out_of_orderness_ms':5000,"
	                      "'idle_timeout_ms':30000,'interval_ms':0},"
	                      "'on_error':'fail'}," DISCARD));
	ck_assert_str_eq(c->source.time.field, "a.ts");
	ck_assert_int_eq(c->source.time.format, TS_RFC3339);
	ck_assert_int_eq(c->source.time.max_ooo_ms, 5000);
	ck_assert_int_eq(c->source.time.idle_timeout_ms, 30000);
	ck_assert_int_eq(c->source.time.interval_ms, 0);
	ck_assert_int_eq(c->source.time.on_error, ON_ERROR_FAIL);
	jobfile_free(c);
	c = parse_ok(JOB(CKPT ",'source':{'type':'generator','timestamp':"
	                      "{'field':'t','format':'epoch_s'}}," DISCARD));
	ck_assert_int_eq(c->source.time.format, TS_EPOCH_S);
	jobfile_free(c);

	expect_error(
	    JOB(CKPT
	        ",'source':{'type':'generator','timestamp':'ts'}," DISCARD),
	    "source.timestamp: expected an object like {\"field\": "
	    "\"ts\", \"format\": \"epoch_ms\"}, got string \"ts\"",
	    NULL);
	expect_error(JOB(CKPT ",'source':{'type':'generator','timestamp':"
	                      "{'format':'epoch_s'}}," DISCARD),
	             "source.timestamp.field: required; expected the record "
	             "field that holds the event time",
	             NULL);
	expect_error(JOB(CKPT ",'source':{'type':'generator','timestamp':"
	                      "{'field':'ts','format':'iso'}}," DISCARD),
	             "source.timestamp.format: unknown value \"iso\"; expected "
	             "one of epoch_ms, epoch_s, rfc3339",
	             NULL);
	expect_error(JOB(CKPT ",'source':{'type':'generator','timestamp':"
	                      "{'field':'ts','unit':'s'}}," DISCARD),
	             "source.timestamp.unit: unknown field; expected one of "
	             "field, format",
	             NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'generator','watermarks':5}," DISCARD),
	    "source.watermarks: expected an object", NULL);
	expect_error(JOB(CKPT ",'source':{'type':'generator','watermarks':"
	                      "{'max_out_of_orderness_ms':-1}}," DISCARD),
	             "source.watermarks.max_out_of_orderness_ms: out of range; "
	             "expected an integer from 0 to 86400000, got -1",
	             NULL);
	expect_error(JOB(CKPT ",'source':{'type':'generator','watermarks':"
	                      "{'idle_timeout_ms':'1s'}}," DISCARD),
	             "source.watermarks.idle_timeout_ms: expected an integer",
	             NULL);
	expect_error(JOB(CKPT ",'source':{'type':'generator','watermarks':"
	                      "{'interval_ms':86400001}}," DISCARD),
	             "source.watermarks.interval_ms: out of range", NULL);
	expect_error(JOB(CKPT ",'source':{'type':'generator','watermarks':"
	                      "{'max_out_of_ordernes_ms':5}}," DISCARD),
	             "source.watermarks.max_out_of_ordernes_ms: unknown field",
	             "did you mean max_out_of_orderness_ms?");
	expect_error(JOB(CKPT ",'source':{'type':'generator','on_error':"
	                      "'dead-letter'}," DISCARD),
	             "source.on_error: unknown value \"dead-letter\"; expected "
	             "one of skip, fail",
	             NULL);
}
END_TEST

START_TEST(err_source_type_fields)
{
	expect_error(
	    JOB(CKPT ",'source':{'type':'generator','brokers':'b',"
	             "'topic':'t'}," DISCARD),
	    "source.brokers: only for kafka sources, not for generator",
	    "source.topic: only for kafka sources");
	expect_error(JOB(CKPT ",'source':{'type':'kafka','brokers':'b','topic':"
	                      "'t','count':5}," DISCARD),
	             "source.count: only for generator sources, not for kafka",
	             NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'generator','count':-1}," DISCARD),
	    "source.count: out of range; expected an integer from 0 to", NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'generator','partitions':0}," DISCARD),
	    "source.partitions: out of range", NULL);
	expect_error(
	    JOB(CKPT ",'source':{'type':'generator','rate':-1}," DISCARD),
	    "source.rate: out of range", NULL);
}
END_TEST

START_TEST(err_properties)
{
	expect_error(
	    JOB(CKPT ",'source':{'type':'kafka','brokers':'b','topic':"
	             "'t','properties':{'fetch.wait.max.ms':null}}," DISCARD),
	    "source.properties.fetch.wait.max.ms: expected a string (or a "
	    "number or boolean), got null",
	    NULL);
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	                      "'topic':'t','properties':{'linger.ms':[5]}}"),
	             "sink.properties.linger.ms: expected a string",
	             "an array");
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	                      "'topic':'t','properties':'linger.ms=5'}"),
	             "sink.properties: expected an object", NULL);
}
END_TEST

START_TEST(err_sink)
{
	expect_error(
	    JOB(CKPT "," GEN ",'sink':{'type':'discard','delivry':'x'}"),
	    "sink.delivry: unknown field; expected one of type, brokers, "
	    "topic, parallelism, delivery, exactly_once, partitioner, "
	    "lineage_headers, on_error, properties",
	    "did you mean delivery?");
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	                      "'topic':'t','on_error':'dead-letter'}"),
	             "sink.on_error: the sink sends no dead letters",
	             "use \"fail\" or \"skip\"");
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	                      "'topic':'t','on_error':'ignore'}"),
	             "sink.on_error: unknown value \"ignore\"; expected one of "
	             "skip, fail",
	             NULL);
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'discard',"
	                      "'on_error':'skip'}"),
	             "sink.on_error: only for kafka sinks", NULL);
	expect_error(
	    JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	             "'topic':'t','delivery':'exactly-once',"
	             "'lineage_headers':false}"),
	    "sink.lineage_headers: exactly-once by de-duplication finds "
	    "what was already written by these headers",
	    "\"exactly_once\": \"transactions\"");
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	                      "'topic':'t','lineage_headers':'no'}"),
	             "sink.lineage_headers: expected true or false", NULL);
	expect_error(JOB(CKPT "," GEN ",'sink':{}"),
	             "sink.type: required; expected one of kafka, discard",
	             NULL);
	expect_error(
	    JOB(CKPT "," GEN ",'sink':{'type':'stdout'}"),
	    "sink.type: unknown value \"stdout\"; expected one of kafka, "
	    "discard",
	    NULL);
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'kafka'}"),
	             "sink.brokers: required", "sink.topic: required");
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'discard','topic':'t'}"),
	             "sink.topic: only for kafka sinks", NULL);
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'discard',"
	                      "'lineage_headers':true}"),
	             "sink.lineage_headers: only for kafka sinks", NULL);
	expect_error(
	    JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	             "'topic':'t','delivery':'exactly_once'}"),
	    "sink.delivery: unknown value \"exactly_once\"; expected one "
	    "of at-least-once, exactly-once",
	    "did you mean exactly-once?");
	expect_error(
	    JOB(CKPT "," GEN ",'sink':{'type':'kafka','brokers':'b',"
	             "'topic':'t','partitioner':'random'}"),
	    "sink.partitioner: unknown value \"random\"; expected one of "
	    "key, source",
	    NULL);
	expect_error(JOB(CKPT "," GEN ",'sink':{'type':'discard',"
	                      "'parallelism':1000}"),
	             "sink.parallelism: out of range", NULL);
}
END_TEST

START_TEST(err_operators)
{
	expect_error(JOB(CKPT "," GEN ",'operators':{}," DISCARD),
	             "operators: expected an array of operator objects", NULL);
	expect_error(WITH_OP("'filter'"),
	             "operators[0]: expected an operator object",
	             "got string \"filter\"");
	expect_error(
	    WITH_OP("{'parallelism':2}"),
	    "operators[0].type: required; expected one of filter, count, "
	    "map, dedup, window, plugin",
	    NULL);
	expect_error(WITH_OP("{'type':'count'},{'type':'bogus'}"),
	             "operators[1].type: unknown operator type \"bogus\"; "
	             "expected one of filter, count, map, dedup, window, "
	             "plugin",
	             NULL);
	expect_error(WITH_OP("{'type':'filtr'}"), "operators[0].type: unknown",
	             "did you mean filter?");
	expect_error(WITH_OP("{'type':3}"),
	             "operators[0].type: expected one of filter, count, map, "
	             "dedup, window, plugin",
	             "got 3");
	expect_error(
	    WITH_OP("{'type':'count','parallelism':0}"),
	    "operators[0].parallelism: out of range; expected an integer "
	    "from 1 to 256",
	    NULL);
	expect_error(WITH_OP("{'type':'count','key':''}"),
	             "operators[0].key: expected a non-empty string", NULL);
	expect_error(WITH_OP("{'type':'count','name':5}"),
	             "operators[0].name: expected a non-empty string", NULL);
	expect_error(
	    WITH_OP("{'type':'count','on_error':'ignore'}"),
	    "operators[0].on_error: unknown value \"ignore\"; expected "
	    "one of skip, fail, dead-letter",
	    NULL);
	expect_error(WITH_OP("{'type':'count','on_error':'dead-letter'}"),
	             "operators[0].dead_letter_topic: required", "dead-letter");
	expect_error(WITH_OP("{'type':'count','dead_letter_topic':'dlq'}"),
	             "operators[0].dead_letter_topic: only used with "
	             "\"on_error\": \"dead-letter\"",
	             NULL);
	expect_error(WITH_OP("{'type':'count','on_error':'fail',"
	                     "'dead_letter_topic':'dlq'}"),
	             "operators[0].dead_letter_topic: only used with", NULL);
	expect_error(WITH_OP("{'type':'plugin'}"),
	             "operators[0].library: required", ".so");
	expect_error(WITH_OP("{'type':'plugin','library':false}"),
	             "operators[0].library: expected a non-empty string", NULL);
	/* ttl_ms: a common field of keyed operators. */
	expect_error(WITH_OP("{'type':'count','ttl_ms':1000}"),
	             "operators[0].ttl_ms: expires each key's state, so the "
	             "operator needs a \"key\"",
	             NULL);
	expect_error(WITH_OP("{'type':'count','key':'k','ttl_ms':0}"),
	             "operators[0].ttl_ms: expected a whole number of "
	             "milliseconds from 1 to 31536000000 (365 days), got 0",
	             NULL);
	expect_error(WITH_OP("{'type':'count','key':'k','ttl_ms':'5'}"),
	             "operators[0].ttl_ms: expected", "got \"5\"");
	expect_error(WITH_OP("{'type':'count','key':'k','ttl_ms':31536000001}"),
	             "operators[0].ttl_ms: expected", "got 31536000001");
}
END_TEST

START_TEST(err_syntax)
{
	struct errlist errs = {0};
	const char *text = "{\n  \"name\": \"x\",\n  \"checkpoint\": {,\n}\n";

	ck_assert_ptr_null(
	    jobfile_parse(text, strlen(text), "job.json", &errs));
	ck_assert_uint_eq(errs.n, 1);
	assert_has(errs.msgs[0], "job.json:3:");
	ck_assert_str_eq(errs.msgs[0],
	                 "job.json:3:18: string or '}' expected near ','");
	errlist_clear(&errs);

	text = "{\"name\": \"x\", \"name\": \"y\"}";
	ck_assert_ptr_null(jobfile_parse(text, strlen(text), "j.json", &errs));
	assert_has(errs.msgs[0], "j.json:1:");
	assert_has(errs.msgs[0], "duplicate object key");
	errlist_clear(&errs);

	ck_assert_ptr_null(jobfile_parse("", 0, NULL, &errs));
	assert_has(errs.msgs[0], "<string>:1:0: ");
	errlist_clear(&errs);
}
END_TEST

START_TEST(collects_all_errors)
{
	size_t n;
	char *e = parse_errors(
	    "{'name':'bad name','nme':1,"
	    "'checkpoint':{'interval_ms':'2','retain':0},"
	    "'source':{'type':'kafka','parallelism':300,'count':1},"
	    "'operators':[{'type':'bogus'},{'type':'count','on_error':'x'}],"
	    "'sink':{'type':'kafka','brokers':'b','topic':'t','delivry':1}}",
	    &n);

	assert_has(e, "nme: unknown field");
	assert_has(e, "name: expected 1 to 100");
	assert_has(e, "checkpoint.dir: required");
	assert_has(e, "checkpoint.interval_ms: expected an integer from 0 to "
	              "86400000, got string \"2\"");
	assert_has(e, "checkpoint.retain: out of range");
	assert_has(e, "source.parallelism: out of range");
	assert_has(e, "source.brokers: required");
	assert_has(e, "source.topic: required");
	assert_has(e, "source.count: only for generator sources");
	assert_has(e, "operators[0].type: unknown operator type \"bogus\"");
	assert_has(e, "operators[1].on_error: unknown value \"x\"");
	assert_has(e, "sink.delivry: unknown field");
	ck_assert_uint_eq(n, 12);
	free(e);
}
END_TEST

/* --- Files -------------------------------------------------------------- */

START_TEST(load_file)
{
	char path[] = "/tmp/weir-test-jobXXXXXX", want[128];
	struct errlist errs = {0};
	struct job_cfg *c;
	const char *text = q(JOB(CKPT "," GEN "," DISCARD));
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	c = jobfile_load(path, &errs);
	ck_assert_msg(c != NULL, "%s", errs.n ? errs.msgs[0] : "");
	ck_assert_str_eq(c->path, path);
	ck_assert_str_eq(c->name, "j");
	jobfile_free(c);

	/* A syntax error names the file. */
	f = fopen(path, "w");
	fputs("{\n\"name\": }", f);
	fclose(f);
	ck_assert_ptr_null(jobfile_load(path, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_int_eq(strncmp(errs.msgs[0], path, strlen(path)), 0);
	assert_has(errs.msgs[0], ":2:");
	errlist_clear(&errs);
	unlink(path);

	ck_assert_ptr_null(jobfile_load(path, &errs));
	ck_assert_uint_eq(errs.n, 1);
	snprintf(want, sizeof(want),
	         "cannot read job file %s: No such file "
	         "or directory",
	         path);
	ck_assert_str_eq(errs.msgs[0], want);
	errlist_clear(&errs);

	ck_assert_ptr_null(jobfile_load("/nonexistent/x.json", &errs));
	ck_assert_str_eq(errs.msgs[0],
	                 "cannot read job file /nonexistent/x.json: "
	                 "No such file or directory");
	errlist_clear(&errs);

	ck_assert_ptr_null(jobfile_load("/tmp", &errs));
	ck_assert_str_eq(errs.msgs[0],
	                 "cannot read job file /tmp: Is a directory");
	errlist_clear(&errs);

	jobfile_free(NULL);
}
END_TEST

/* "http": {"listen": "HOST:PORT"}: off by default, each address form
 * accepted, every bad one refused with its path and what to write. */
START_TEST(http_listen)
{
	static const char *const good[] = {"127.0.0.1:9249", "0.0.0.0:0",
	                                   "localhost:65535", "[::1]:80"};
	static const char *const bad[][2] = {
	    {"127.0.0.1", "is not HOST:PORT; expected e.g. \"127.0.0.1:9249\""},
	    {":9249", "is not HOST:PORT"},
	    {"127.0.0.1:99999", "the port \"99999\" is not a number from 0 "
	                        "to 65535"},
	    {"127.0.0.1:-1", "is not a number from 0 to 65535"},
	    {"127.0.0.1:", "is not a number from 0 to 65535"},
	    {"::1:80", "an IPv6 address goes in brackets"},
	};
	struct job_cfg *c = parse_ok(JOB(CKPT "," GEN "," DISCARD));
	char doc[256], want[256];

	ck_assert_ptr_null(c->http_listen);
	jobfile_free(c);
	for (size_t i = 0; i < NELEM(good); i++) {
		snprintf(
		    doc, sizeof(doc),
		    JOB(CKPT "," GEN "," DISCARD ",'http':{'listen':'%s'}"),
		    good[i]);
		c = parse_ok(doc);
		ck_assert_str_eq(c->http_listen, good[i]);
		jobfile_free(c);
	}
	for (size_t i = 0; i < NELEM(bad); i++) {
		snprintf(
		    doc, sizeof(doc),
		    JOB(CKPT "," GEN "," DISCARD ",'http':{'listen':'%s'}"),
		    bad[i][0]);
		snprintf(want, sizeof(want), "http.listen: \"%s\"", bad[i][0]);
		expect_error(doc, want, bad[i][1]);
	}
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'http':{}"),
	             "http.listen: required", "127.0.0.1:9249");
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'http':'127.0.0.1:1'"),
	             "http: expected an object with \"listen\"", NULL);
	expect_error(JOB(CKPT "," GEN "," DISCARD
	                      ",'http':{'listen':'127.0.0.1:1','lisen':2}"),
	             "http.lisen: unknown field", "did you mean listen?");
}
END_TEST

/* "instance": the default is the only instance; every section points at
 * the job's; each mistake is named with its path. */
START_TEST(instance_field)
{
	struct job_cfg *c = parse_ok(JOB(CKPT "," GEN "," DISCARD));

	ck_assert_int_eq(c->instance.index, 0);
	ck_assert_int_eq(c->instance.count, 1);
	ck_assert_ptr_eq(c->checkpoint.instance, &c->instance);
	ck_assert_ptr_eq(c->source.instance, &c->instance);
	ck_assert_ptr_eq(c->sink.instance, &c->instance);
	jobfile_free(c);
	c = parse_ok(
	    JOB(CKPT "," GEN "," DISCARD ",'instance':{'index':2,'count':3}"));
	ck_assert_int_eq(job_instance_index(c->source.instance), 2);
	ck_assert_int_eq(job_instance_count(c->sink.instance), 3);
	jobfile_free(c);
	c = parse_ok(JOB(CKPT "," GEN "," DISCARD
	                      ",'instance':{'index':255,'count':256}"));
	ck_assert_int_eq(c->instance.index, 255);
	jobfile_free(c);

	expect_error(
	    JOB(CKPT "," GEN "," DISCARD ",'instance':{'index':3,'count':3}"),
	    "instance.index: is 3 but count is 3", "0 to count - 1");
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'instance':{'index':0}"),
	             "instance.count: required", NULL);
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'instance':{'count':2}"),
	             "instance.index: required", NULL);
	expect_error(
	    JOB(CKPT "," GEN "," DISCARD ",'instance':{'index':0,'count':257}"),
	    "instance.count: out of range", "1 to 256");
	expect_error(
	    JOB(CKPT "," GEN "," DISCARD ",'instance':{'index':-1,'count':2}"),
	    "instance.index: out of range", NULL);
	expect_error(JOB(CKPT "," GEN "," DISCARD
	                      ",'instance':{'index':0,'count':2,'idx':1}"),
	             "instance", "idx");
	expect_error(JOB(CKPT "," GEN "," DISCARD ",'instance':'0/3'"),
	             "instance: expected an object like", NULL);
}
END_TEST

static Suite *jobfile_suite(void)
{
	Suite *s = suite_create("jobfile");
	TCase *ok = tcase_create("valid");
	TCase *env = tcase_create("env");
	TCase *err = tcase_create("errors");
	TCase *files = tcase_create("files");

	tcase_add_test(ok, full_example);
	tcase_add_test(ok, defaults);
	tcase_add_test(ok, other_values);
	suite_add_tcase(s, ok);

	tcase_add_test(env, expand_env);
	tcase_add_test(env, expand_nested_defaults);
	tcase_add_test(env, env_in_job);
	tcase_add_test(env, env_errors_have_paths);
	suite_add_tcase(s, env);

	tcase_add_test(err, err_name);
	tcase_add_test(err, err_top_level);
	tcase_add_test(err, err_checkpoint);
	tcase_add_test(err, numeric_ranges);
	tcase_add_test(err, err_source);
	tcase_add_test(err, err_source_type_fields);
	tcase_add_test(err, event_time_fields);
	tcase_add_test(err, err_properties);
	tcase_add_test(err, err_sink);
	tcase_add_test(err, err_operators);
	tcase_add_test(err, err_syntax);
	tcase_add_test(err, collects_all_errors);
	tcase_add_test(err, http_listen);
	tcase_add_test(err, instance_field);
	suite_add_tcase(s, err);

	tcase_add_test(files, load_file);
	suite_add_tcase(s, files);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jobfile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
