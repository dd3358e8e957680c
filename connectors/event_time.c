/*
 * event_time.c - record times and source watermarks (see event_time.h).
 */
#include "event_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

void et_init(struct event_time *et, const struct job_time_cfg *cfg,
             const char *topic, int nparts)
{
	memset(et, 0, sizeof(*et));
	et->cfg = cfg;
	et->topic = topic;
	et->nparts = nparts;
	et->parts = xcalloc((size_t)(nparts ? nparts : 1), sizeof(*et->parts));
	for (int i = 0; i < nparts; i++)
		et->parts[i].high = WM_MIN;
	et->restored = WM_MIN;
	if (cfg->field)
		et->field = fpath_new(cfg->field);
	jrec_init(&et->jr, NULL, 0);
}

void et_free(struct event_time *et)
{
	free(et->parts);
	et->parts = NULL;
	fpath_free(et->field);
	et->field = NULL;
	jrec_clear(&et->jr);
}

/* --- RFC 3339 ----------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30,
	                         31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* n decimal digits at s[*i] into *out. */
static bool digits(const char *s, size_t len, size_t *i, int n, int *out)
{
	int v = 0;

	for (int k = 0; k < n; k++, (*i)++) {
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return false;
		v = v * 10 + (s[*i] - '0');
	}
	*out = v;
	return true;
}

static bool expect_char(const char *s, size_t len, size_t *i, const char *any)
{
	if (*i >= len || !strchr(any, s[*i]) || s[*i] == '\0')
		return false;
	(*i)++;
	return true;
}

int et_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
	size_t i = 0;
	int64_t t;

	if (!digits(s, len, &i, 4, &y) || !expect_char(s, len, &i, "-") ||
	    !digits(s, len, &i, 2, &mo) || !expect_char(s, len, &i, "-") ||
	    !digits(s, len, &i, 2, &d) || !expect_char(s, len, &i, "Tt ") ||
	    !digits(s, len, &i, 2, &h) || !expect_char(s, len, &i, ":") ||
	    !digits(s, len, &i, 2, &mi) || !expect_char(s, len, &i, ":") ||
	    !digits(s, len, &i, 2, &sec))
		return -1;
	if (i < len && s[i] == '.') {
		int n = 0;

		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
			if (n < 3)
				frac = frac * 10 + (s[i] - '0');
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			frac *= 10;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		sign = s[i++] == '-' ? -1 : 1;
		if (!digits(s, len, &i, 2, &oh) ||
		    !expect_char(s, len, &i, ":") ||
		    !digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	/* Seconds up to 60: a leap second counts as the next one. */
	if (i != len || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
		return -1;
	t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 +
	    (int64_t)sec * 1000 + frac - (int64_t)sign * (oh * 60 + om) * 60000;
	/* A time before 1970 would reach the record as a negative Kafka
	 * timestamp (-1 is "none"). */
	if (t < 0 || t > ET_MAX_TIME_MS)
		return -1;
	*ms = t;
	return 0;
}

/* --- record times ------------------------------------------------------- */

/* The time in the field the job file names; 0, or -1 with why. */
static int field_time(struct event_time *et, const struct weir_record *rec,
                      int64_t *ms, char *why, size_t len)
{
	const char *name = fpath_str(et->field);
	struct jrec *j = &et->jr;
	char text[64];
	size_t n;
	int tok;
	json_type type;

	jrec_reset(j, rec->value, rec->value_len);
	if (!jrec_ok(j)) {
		snprintf(why, len, "%s", j->err);
		return -1;
	}
	tok = jrec_find(j, et->field);
	if (tok < 0) {
		snprintf(why, len, "field \"%s\" is missing", name);
		return -1;
	}
	type = jrec_type(j, tok);
	n = jrec_scalar_text(j, tok, text, sizeof(text) - 1);
	text[n] = '\0';
	if (n == 0)
		snprintf(text, sizeof(text), "(%s)",
		         type == JSON_OBJECT  ? "an object"
		         : type == JSON_ARRAY ? "an array"
		                              : "a long value");
	if (et->cfg->format == TS_RFC3339) {
		const char *s;

		if (type == JSON_STRING) {
			jrec_string(j, tok, &s, &n);
			if (et_parse_rfc3339(s, n, ms) == 0)
				return 0;
		}
		snprintf(why, len,
		         "field \"%s\" is %s, not an RFC 3339 time from 1970 "
		         "to 9999 like \"2026-12-07T09:15:13.123Z\" "
		         "(source.timestamp.format)",
		         name, text);
		return -1;
	}
	if (type == JSON_INTEGER || type == JSON_REAL) {
		struct jnum v = jrec_number(j, tok);
		double scale = et->cfg->format == TS_EPOCH_S ? 1000.0 : 1.0;
		double x = (v.is_int ? (double)v.i : v.d) * scale;

		if (x >= 0 && x <= (double)ET_MAX_TIME_MS) {
			/* x >= 0: the cast rounds down. */
			*ms = v.is_int ? (int64_t)v.i * (int64_t)scale
			               : (int64_t)x;
			return 0;
		}
		snprintf(why, len,
		         "field \"%s\" is %s, out of range: times go from "
		         "1970 to 9999",
		         name, text);
		return -1;
	}
	snprintf(why, len,
	         "field \"%s\" is %s, not a number of %s since 1970 "
	         "(source.timestamp.format)",
	         name, text,
	         et->cfg->format == TS_EPOCH_S ? "seconds" : "milliseconds");
	return -1;
}

/* After a restore, the watermark of the checkpoint goes out before any
 * record. */
static int announce(struct task *t, struct event_time *et)
{
	if (!et->announce)
		return 0;
	et->announce = false;
	et->sent_ms = now_mono_ms();
	return task_emit_watermark(t, et->restored, false);
}

int et_record(struct task *t, struct event_time *et, int i,
              const struct weir_record *rec, int64_t *out)
{
	struct et_part *p = &et->parts[i];
	char why[512], smp[128];
	int64_t ms = rec->timestamp;

	if (announce(t, et) < 0)
		return -1;
	p->last_ms = -1; /* active: et_check reads the clock */
	if (et->field) {
		if (field_time(et, rec, &ms, why, sizeof(why)) < 0)
			goto bad;
	} else if (ms < 0 || ms > ET_MAX_TIME_MS) {
		snprintf(why, sizeof(why),
		         "the Kafka record timestamp is %lld, not a time "
		         "(name a field with source.timestamp)",
		         (long long)ms);
		goto bad;
	}
	if (ms > p->high)
		p->high = ms;
	*out = ms;
	return 1;
bad:
	if (et->cfg->on_error == ON_ERROR_FAIL) {
		record_sample(rec, smp, sizeof(smp));
		return task_fail(
		    t,
		    "%s: record %s[%d]@%lld has no usable event time: %s "
		    "(value: %s). source.on_error is \"fail\", so the job "
		    "stops; no checkpoint includes this record. Fix the "
		    "input, or set source.on_error to \"skip\", and start "
		    "the job again",
		    t->who, rec->topic, rec->partition, (long long)rec->offset,
		    why, smp);
	}
	task_skipped(t, rec, why,
	             "source.on_error \"skip\"; use \"fail\" to stop at such "
	             "a record");
	return 0;
}

/* --- watermarks ----------------------------------------------------------- */

static int send(struct task *t, struct event_time *et, int64_t wm, bool idle,
                int64_t now)
{
	et->sent_ms = now;
	return task_emit_watermark(t, wm, idle);
}

int et_check(struct task *t, struct event_time *et)
{
	const struct job_time_cfg *cfg = et->cfg;
	int64_t now = now_mono_ms(), wm = WM_END, hint = -1;
	bool active = false;

	if (!et->started) {
		for (int i = 0; i < et->nparts; i++)
			et->parts[i].last_ms = now;
		et->started = true;
	}
	if (announce(t, et) < 0)
		return -1;
	for (int i = 0; i < et->nparts; i++) {
		struct et_part *p = &et->parts[i];

		if (p->last_ms < 0) { /* records since the last check */
			p->last_ms = now;
			p->idle = false;
		}
		if (cfg->idle_timeout_ms > 0 && !p->idle) {
			int64_t left = p->last_ms + cfg->idle_timeout_ms - now;

			if (left <= 0)
				p->idle = true;
			else if (hint < 0 || left < hint)
				hint = left;
		}
		if (p->idle)
			continue;
		active = true;
		if (p->high == WM_MIN)
			wm = WM_MIN;
		else if (p->high - cfg->max_ooo_ms - 1 < wm)
			wm = p->high - cfg->max_ooo_ms - 1;
	}
	if (!active) {
		if (!t->wm_idle) {
			log_debug(t->who, "every partition is idle");
			return send(t, et, t->wm, true, now);
		}
		return 0;
	}
	if (t->wm_idle) {
		if (send(t, et, wm, false, now) < 0)
			return -1;
	} else if (wm > t->wm) {
		int64_t left = et->sent_ms + cfg->interval_ms - now;

		if (left <= 0) {
			if (send(t, et, wm, false, now) < 0)
				return -1;
		} else if (hint < 0 || left < hint) {
			hint = left;
		}
	}
	if (hint >= 0 && hint < t->wait_hint_ms)
		t->wait_hint_ms = hint;
	return 0;
}

/* --- state ------------------------------------------------------------------ */

void et_write_part(const struct event_time *et, int i, struct weir_writer *w)
{
	weir_write_u64(w, (uint64_t)et->parts[i].high);
}

void et_write_sent(const struct event_time *et, const struct task *t,
                   struct weir_writer *w)
{
	/* A checkpoint taken after a restore but before the first poll sent
	 * the restored watermark still holds it: else the restore after it
	 * would start from nothing and let replayed records reopen windows
	 * that had closed. */
	int64_t wm = t->wm;

	if (et->announce && et->restored > wm)
		wm = et->restored;
	weir_write_u64(w, (uint64_t)wm);
}

int et_read_part(struct event_time *et, int i, struct weir_reader *r)
{
	uint64_t v;

	if (weir_read_u64(r, &v) != WEIR_OK)
		return -1;
	et->parts[i].high = (int64_t)v;
	return 0;
}

int et_read_sent(struct event_time *et, struct weir_reader *r)
{
	uint64_t v;

	if (weir_read_u64(r, &v) != WEIR_OK)
		return -1;
	et->restored = (int64_t)v;
	et->announce = et->restored != WM_MIN;
	return 0;
}
