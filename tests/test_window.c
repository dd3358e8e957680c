/*
 * test_window.c - the window operator's arithmetic (operators/
 * window_logic.c): which windows a time falls in, for negative times and
 * overlapping hopping windows too; session merging, a bridging session
 * included; aggregates, their encoding and merging; the result's JSON and
 * its RFC 3339 times.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window_logic.h"

START_TEST(floor_negative)
{
	ck_assert_int_eq(win_floor(0, 10), 0);
	ck_assert_int_eq(win_floor(9, 10), 0);
	ck_assert_int_eq(win_floor(10, 10), 10);
	ck_assert_int_eq(win_floor(-1, 10), -10);
	ck_assert_int_eq(win_floor(-10, 10), -10);
	ck_assert_int_eq(win_floor(-11, 10), -20);
}
END_TEST

START_TEST(tumbling)
{
	struct win_spec s = {WIN_TUMBLING, 60000, 60000, 0};
	int64_t st[4];

	ck_assert_uint_eq(win_assign(&s, 59999, st, 4), 1);
	ck_assert_int_eq(st[0], 0);
	ck_assert_uint_eq(win_assign(&s, 60000, st, 4), 1);
	ck_assert_int_eq(st[0], 60000);
	/* Before the epoch: [-60000, 0) holds -1 and -60000. */
	ck_assert_uint_eq(win_assign(&s, -1, st, 4), 1);
	ck_assert_int_eq(st[0], -60000);
	ck_assert_uint_eq(win_assign(&s, -60000, st, 4), 1);
	ck_assert_int_eq(st[0], -60000);
	ck_assert_uint_eq(win_assign(&s, -60001, st, 4), 1);
	ck_assert_int_eq(st[0], -120000);
}
END_TEST

START_TEST(hopping)
{
	struct win_spec s = {WIN_HOPPING, 60000, 20000, 0};
	struct win_spec odd = {WIN_HOPPING, 25, 10, 0};
	int64_t st[8];

	/* 65000 is in [60000,120000), [40000,100000), [20000,80000). */
	ck_assert_uint_eq(win_assign(&s, 65000, st, 8), 3);
	ck_assert_int_eq(st[0], 60000);
	ck_assert_int_eq(st[1], 40000);
	ck_assert_int_eq(st[2], 20000);
	/* A window's last millisecond: 79999 is still in [20000, 80000). */
	ck_assert_uint_eq(win_assign(&s, 79999, st, 8), 3);
	ck_assert_int_eq(st[2], 20000);
	ck_assert_uint_eq(win_assign(&s, -5000, st, 8), 3);
	ck_assert_int_eq(st[0], -20000);
	ck_assert_int_eq(st[1], -40000);
	ck_assert_int_eq(st[2], -60000);
	/* A size that is not a multiple of the slide: 2 or 3 windows. */
	ck_assert_uint_eq(win_assign(&odd, 24, st, 8), 3); /* 20 10 0 */
	ck_assert_uint_eq(win_assign(&odd, 25, st, 8), 2); /* 20 10 */
	ck_assert_int_eq(st[1], 10);
	/* cap limits what is written, not what is counted. */
	ck_assert_uint_eq(win_assign(&s, 65000, st, 1), 3);
}
END_TEST

START_TEST(sessions)
{
	struct win_span have[3] = {{0, 10}, {20, 30}, {50, 60}};
	bool m[3];
	struct win_span u;

	/* Alone. */
	u = win_session_merge((struct win_span){35, 45}, have, 3, m);
	ck_assert(!m[0] && !m[1] && !m[2]);
	ck_assert_int_eq(u.start, 35);
	ck_assert_int_eq(u.end, 45);
	/* Overlapping one. */
	u = win_session_merge((struct win_span){25, 35}, have, 3, m);
	ck_assert(!m[0] && m[1] && !m[2]);
	ck_assert_int_eq(u.start, 20);
	ck_assert_int_eq(u.end, 35);
	/* Touching counts: [10, 20) joins both neighbours (a bridge). */
	u = win_session_merge((struct win_span){10, 20}, have, 3, m);
	ck_assert(m[0] && m[1] && !m[2]);
	ck_assert_int_eq(u.start, 0);
	ck_assert_int_eq(u.end, 30);
	/* Inside one. */
	u = win_session_merge((struct win_span){52, 55}, have, 3, m);
	ck_assert(!m[0] && !m[1] && m[2]);
	ck_assert_int_eq(u.start, 50);
	ck_assert_int_eq(u.end, 60);
	/* Negative times. */
	have[0] = (struct win_span){-30, -20};
	u = win_session_merge((struct win_span){-21, -11}, have, 1, m);
	ck_assert(m[0]);
	ck_assert_int_eq(u.start, -30);
	ck_assert_int_eq(u.end, -11);
	ck_assert(
	    !win_touches((struct win_span){0, 10}, (struct win_span){11, 20}));
}
END_TEST

static const struct win_aggs aggs = {
    5, {WIN_COUNT, WIN_SUM, WIN_AVG, WIN_MIN, WIN_MAX}};
static const char *const names[] = {"\"count\"", "\"sum_x\"", "\"avg_x\"",
                                    "\"min_x\"", "\"max_x\""};

static void nums_of(struct win_num *n, struct win_num x)
{
	for (int k = 1; k < 5; k++)
		n[k] = x;
}

static struct win_num i(int64_t v)
{
	return (struct win_num){true, v, (double)v};
}

static struct win_num d(double v)
{
	return (struct win_num){false, 0, v};
}

static const char *format(const struct win_acc *a, const char *key,
                          uint32_t update)
{
	static struct win_out o;

	win_format(&o, key, strlen(key), (struct win_span){0, 60000}, &aggs,
	           names, a, update);
	return o.buf;
}

START_TEST(aggregates_int_then_double)
{
	struct win_num n[5];
	struct win_acc a;

	nums_of(n, i(4));
	win_acc_first(&a, &aggs, n);
	nums_of(n, i(-2));
	win_acc_add(&a, &aggs, n);
	nums_of(n, i(7));
	win_acc_add(&a, &aggs, n);
	ck_assert_str_eq(format(&a, "\"api\"", 0),
	                 "{\"key\":\"api\",\"window_start\":"
	                 "\"1970-01-01T00:00:00.000Z\",\"window_end\":"
	                 "\"1970-01-01T00:01:00.000Z\",\"window_start_ms\":0,"
	                 "\"window_end_ms\":60000,\"count\":3,\"sum_x\":9,"
	                 "\"avg_x\":3.0,\"min_x\":-2,\"max_x\":7}");
	/* One double makes sum, min and max doubles. */
	nums_of(n, d(0.5));
	win_acc_add(&a, &aggs, n);
	ck_assert_str_eq(format(&a, "7", 2),
	                 "{\"key\":7,\"window_start\":"
	                 "\"1970-01-01T00:00:00.000Z\",\"window_end\":"
	                 "\"1970-01-01T00:01:00.000Z\",\"window_start_ms\":0,"
	                 "\"window_end_ms\":60000,\"count\":4,\"sum_x\":9.5,"
	                 "\"avg_x\":2.375,\"min_x\":-2.0,\"max_x\":7.0,"
	                 "\"update\":2}");
}
END_TEST

START_TEST(aggregates_overflow_and_key_null)
{
	struct win_num n[5];
	struct win_acc a;
	const char *out;

	nums_of(n, i(INT64_MAX));
	win_acc_first(&a, &aggs, n);
	win_acc_add(&a, &aggs, n);
	out = format(&a, "", 0);
	/* The sum outgrew 64 bits: a double, never a wrapped integer. */
	ck_assert_msg(strstr(out, "\"sum_x\":1.8446744073709552e+19"), "%s",
	              out);
	ck_assert_msg(strstr(out, "\"max_x\":9223372036854775807}"), "%s", out);
	ck_assert_msg(!strncmp(out, "{\"key\":null,", 12), "%s", out);
}
END_TEST

START_TEST(encode_decode_merge)
{
	struct win_num n[5];
	struct win_acc a, b, c;
	unsigned char buf[256];
	const char *kj;
	size_t kl, len = win_acc_size(&aggs, 5);

	nums_of(n, i(10));
	win_acc_first(&a, &aggs, n);
	a.flags = WIN_EMITTED | WIN_FIRED;
	a.updates = 3;
	ck_assert_uint_eq(len, 13 + 4 * 17 + 5);
	win_acc_encode(&a, &aggs, "\"web\"", 5, buf);
	ck_assert_int_eq(win_acc_decode(buf, len, &aggs, &b, &kj, &kl), 0);
	ck_assert_uint_eq(kl, 5);
	ck_assert(!memcmp(kj, "\"web\"", 5));
	ck_assert_uint_eq(b.flags, WIN_EMITTED | WIN_FIRED);
	ck_assert_uint_eq(b.updates, 3);
	ck_assert_str_eq(format(&a, "1", 0), format(&b, "1", 0));
	/* Too short for the aggregates. */
	ck_assert_int_eq(win_acc_decode(buf, 13 + 3 * 17, &aggs, &b, &kj, &kl),
	                 -1);
	/* Written for other aggregates (a job file changed between a
	 * checkpoint and its restore): refused, not read with the numbers
	 * as key text or a sum as a max. */
	{
		const struct win_aggs fewer = {2, {WIN_COUNT, WIN_SUM}};
		const struct win_aggs other = {
		    5, {WIN_COUNT, WIN_MAX, WIN_MAX, WIN_MAX, WIN_MAX}};

		ck_assert_int_eq(win_acc_decode(buf, len, &fewer, &b, &kj, &kl),
		                 -1);
		ck_assert_int_eq(win_acc_decode(buf, len, &other, &b, &kj, &kl),
		                 -1);
	}

	/* A count from a hostile state file: 0 is refused, the largest
	 * saturates instead of overflowing (UBSan would stop here). */
	for (int k = 0; k < 8; k++)
		buf[5 + k] = 0;
	ck_assert_int_eq(win_acc_decode(buf, len, &aggs, &b, &kj, &kl), -1);
	for (int k = 0; k < 8; k++)
		buf[5 + k] = k == 7 ? 0x7f : 0xff;
	ck_assert_int_eq(win_acc_decode(buf, len, &aggs, &b, &kj, &kl), 0);
	win_acc_add(&b, &aggs, n);
	ck_assert(b.count == INT64_MAX);
	win_acc_merge(&b, &aggs, &a);
	ck_assert(b.count == INT64_MAX);
	win_acc_encode(&a, &aggs, "\"web\"", 5, buf);
	ck_assert_int_eq(win_acc_decode(buf, len, &aggs, &b, &kj, &kl), 0);

	nums_of(n, d(-1.5));
	win_acc_first(&c, &aggs, n);
	win_acc_merge(&c, &aggs, &b);
	ck_assert_uint_eq(c.count, 2);
	ck_assert_uint_eq(c.updates, 3);
	/* The union is new: its result has not gone out, an earlier did. */
	ck_assert_uint_eq(c.flags, WIN_FIRED);
	ck_assert_msg(strstr(format(&c, "1", 0),
	                     "\"count\":2,\"sum_x\":8.5,\"avg_x\":4.25,"
	                     "\"min_x\":-1.5,\"max_x\":10.0}"),
	              "%s", format(&c, "1", 0));
}
END_TEST

START_TEST(rfc3339)
{
	char t[WIN_RFC3339_SIZE];

	win_rfc3339(0, t);
	ck_assert_str_eq(t, "1970-01-01T00:00:00.000Z");
	win_rfc3339(1765099365123, t);
	ck_assert_str_eq(t, "2025-12-07T09:22:45.123Z");
	win_rfc3339(951782400000, t); /* a leap day */
	ck_assert_str_eq(t, "2000-02-29T00:00:00.000Z");
	win_rfc3339(-1, t);
	ck_assert_str_eq(t, "1969-12-31T23:59:59.999Z");
	win_rfc3339(-86400000, t);
	ck_assert_str_eq(t, "1969-12-31T00:00:00.000Z");
	win_rfc3339(WIN_TIME_MIN, t);
	ck_assert_str_eq(t, "0000-01-01T00:00:00.000Z");
	win_rfc3339(WIN_TIME_MAX, t);
	ck_assert_str_eq(t, "9999-12-31T23:59:59.999Z");
}
END_TEST

/* The result is JSON that jansson reads back with the same numbers. */
START_TEST(output_is_json)
{
	struct win_num n[5];
	struct win_acc a;
	json_t *v;

	nums_of(n, d(0.1));
	win_acc_first(&a, &aggs, n);
	nums_of(n, d(0.2));
	win_acc_add(&a, &aggs, n);
	v = json_loads(format(&a, "{\"a\":[1]}", 1), 0, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert(json_real_value(json_object_get(v, "sum_x")) == 0.1 + 0.2);
	ck_assert(json_real_value(json_object_get(v, "avg_x")) ==
	          (0.1 + 0.2) / 2);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "update")), 1);
	json_decref(v);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("window");
	TCase *tc = tcase_create("logic");

	tcase_add_test(tc, floor_negative);
	tcase_add_test(tc, tumbling);
	tcase_add_test(tc, hopping);
	tcase_add_test(tc, sessions);
	tcase_add_test(tc, aggregates_int_then_double);
	tcase_add_test(tc, aggregates_overflow_and_key_null);
	tcase_add_test(tc, encode_decode_merge);
	tcase_add_test(tc, rfc3339);
	tcase_add_test(tc, output_is_json);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
