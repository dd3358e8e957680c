/*
 * test_event_time.c - the RFC 3339 reader of source.timestamp: offsets,
 * fractions, the calendar (leap years, month lengths), and text that is
 * not a time refused rather than read as something else.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "event_time.h"
#include "task.h"
#include "weir/weir.h"

static int64_t parse(const char *s)
{
	int64_t ms = 0;

	ck_assert_msg(et_parse_rfc3339(s, strlen(s), &ms) == 0,
	              "\"%s\" refused", s);
	return ms;
}

START_TEST(rfc3339_times)
{
	ck_assert_int_eq(parse("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(parse("2026-12-07T09:15:13.123Z"), 1796634913123LL);
	ck_assert_int_eq(parse("2026-12-07T10:15:13.123+01:00"),
	                 1796634913123LL);
	ck_assert_int_eq(parse("2026-12-07T03:45:13.123-05:30"),
	                 1796634913123LL);
	ck_assert_int_eq(parse("2026-12-07t09:15:13.1z"), 1796634913100LL);
	ck_assert_int_eq(parse("2026-12-07 09:15:13.123456789Z"),
	                 1796634913123LL);
	ck_assert_int_eq(parse("2024-02-29T00:00:00Z"), 1709164800000LL);
	ck_assert_int_eq(parse("2000-02-29T00:00:00Z"), 951782400000LL);
	ck_assert_int_eq(parse("9999-12-31T23:59:59.999Z"), ET_MAX_TIME_MS);
	/* A leap second reads as the next second. */
	ck_assert_int_eq(parse("2016-12-31T23:59:60Z"), 1483228800000LL);
}
END_TEST

START_TEST(rfc3339_refused)
{
	static const char *const bad[] = {
	    "",
	    "yesterday",
	    "2026-12-07",
	    "2026-12-07T09:15:13",       /* no zone */
	    "2026-12-07T09:15Z",         /* no seconds */
	    "2026-12-07T09:15:13.Z",     /* empty fraction */
	    "2026-12-07T09:15:13+0100",  /* offset without colon */
	    "2026-12-07T09:15:13+24:00", /* offset hours */
	    "2026-13-07T09:15:13Z",      /* month */
	    "2026-02-29T09:15:13Z",      /* not a leap year */
	    "1900-02-29T00:00:00Z",      /* not a leap year either */
	    "2026-04-31T09:15:13Z",      /* April has 30 days */
	    "2026-12-07T24:00:00Z",      /* hour */
	    "2026-12-07T09:60:13Z",      /* minute */
	    "2026-12-07T09:15:61Z",      /* second */
	    "2026-12-07T09:15:13Zjunk",  /* trailing text */
	    "+2026-12-07T09:15:13Z",
	    /* Outside 1970 to 9999, which record times must be in. */
	    "1969-12-31T23:59:59.999Z",
	    "1970-01-01T00:30:00+01:00",
	    "0000-01-01T00:00:00Z",
	    "9999-12-31T23:59:59.999-00:01",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;

		ck_assert_msg(et_parse_rfc3339(bad[i], strlen(bad[i]), &ms) < 0,
		              "\"%s\" read as %lld", bad[i], (long long)ms);
	}
	/* The length bounds the text: no reading past it. */
	{
		int64_t ms;

		ck_assert_int_lt(
		    et_parse_rfc3339("2026-12-07T09:15:13Z", 19, &ms), 0);
	}
}
END_TEST

/* A checkpoint taken after a restore, before the first poll sent the
 * restored watermark, must still hold it (not the task's WM_MIN): the
 * restore after it would otherwise start from nothing. */
START_TEST(sent_watermark_survives_an_early_checkpoint)
{
	struct job_time_cfg cfg = {0};
	struct event_time et;
	struct task t = {.wm = WM_MIN};
	struct weir_writer w = {0};
	struct weir_reader r;
	uint64_t v;

	et_init(&et, &cfg, "logs", 1);
	weir_write_u64(&w, 1700000000123);
	r = (struct weir_reader){.p = w.p, .len = w.len};
	ck_assert_int_eq(et_read_sent(&et, &r), 0);
	w.len = 0;
	et_write_sent(&et, &t, &w);
	r = (struct weir_reader){.p = w.p, .len = w.len};
	ck_assert_int_eq(weir_read_u64(&r, &v), WEIR_OK);
	ck_assert_int_eq((int64_t)v, 1700000000123);
	/* Once the task is past it, its own watermark is what counts. */
	t.wm = 1700000009999;
	w.len = 0;
	et_write_sent(&et, &t, &w);
	r = (struct weir_reader){.p = w.p, .len = w.len};
	ck_assert_int_eq(weir_read_u64(&r, &v), WEIR_OK);
	ck_assert_int_eq((int64_t)v, 1700000009999);
	free(w.p);
	et_free(&et);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("event_time");
	TCase *tc = tcase_create("rfc3339");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, rfc3339_times);
	tcase_add_test(tc, rfc3339_refused);
	tcase_add_test(tc, sent_watermark_survives_an_early_checkpoint);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
