/*
 * test_lineage.c - the weir.lineage header text: what the Kafka sink
 * writes ("topic/partition/offset/seq", formatted by hand on the hot path)
 * is what printf's "%s/%d/%lld/%u" writes, for edge values and random
 * ones, and what the exactly-once restore parses back.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "kafka_sink.h"
#include "record.h"

static void same(const char *topic, int32_t part, int64_t off, uint32_t seq)
{
	struct weir_record r = {.topic = topic, .partition = part,
	                        .offset = off, .seq = seq};
	char got[320], want[320];
	int n = ksink_lineage(got, sizeof(got), &r);
	int wn = snprintf(want, sizeof(want), "%s/%d/%" PRId64 "/%u", topic,
	                  (int)part, off, seq);
	const char *t;
	size_t tl;
	int32_t p;
	int64_t o;
	uint32_t s;

	ck_assert_int_eq(n, wn);
	ck_assert_str_eq(got, want);
	if (part < 0 || off < 0)
		return; /* records a Kafka sink never gets */
	ck_assert_int_eq(dedup_parse_lineage(got, (size_t)n, &t, &tl, &p, &o,
	                                     &s),
	                 0);
	ck_assert_uint_eq(tl, strlen(topic));
	ck_assert_int_eq(memcmp(t, topic, tl), 0);
	ck_assert_int_eq(p, part);
	ck_assert_int_eq(o, off);
	ck_assert_uint_eq(s, seq);
}

START_TEST(edges)
{
	char longest[250];

	same("logs", 0, 0, 0);
	same("logs", 3, 17048, 2);
	same("t", 2147483647, INT64_MAX, UINT32_MAX);
	same("t", -1, -1, 0);
	same("t", INT32_MIN, INT64_MIN, 1);
	same("a.b_c-9", 10, 1000000000000, 4294967295u);
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	same(longest, 127, 9999999999, 7);
}
END_TEST

START_TEST(random_values)
{
	uint64_t x = 0x2545F4914F6CDD1Dull;

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		same("logs", (int32_t)(x >> 40) % 5000, (int64_t)(x >> (x % 64)),
		     (uint32_t)x % 1000);
	}
}
END_TEST

static Suite *lineage_suite(void)
{
	Suite *s = suite_create("lineage");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, edges);
	tcase_add_test(tc, random_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lineage_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
