/*
 * window_logic.c - window assignment, session merging, aggregates, their
 * encoding and the result's JSON text (see window_logic.h).
 */
#include "window_logic.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int64_t win_floor(int64_t t, int64_t step)
{
	int64_t r = t % step;

	return r < 0 ? t - r - step : t - r;
}

size_t win_assign(const struct win_spec *s, int64_t t, int64_t *starts,
                  size_t cap)
{
	int64_t slide = s->type == WIN_HOPPING ? s->slide_ms : s->size_ms;
	size_t n = 0;

	for (int64_t st = win_floor(t, slide); st > t - s->size_ms;
	     st -= slide) {
		if (n < cap)
			starts[n] = st;
		n++;
	}
	return n;
}

bool win_touches(struct win_span a, struct win_span b)
{
	return a.start <= b.end && b.start <= a.end;
}

struct win_span win_session_merge(struct win_span nw,
                                  const struct win_span *have, size_t n,
                                  bool *merged)
{
	struct win_span u = nw;

	for (size_t i = 0; i < n; i++) {
		merged[i] = win_touches(nw, have[i]);
		if (!merged[i])
			continue;
		if (have[i].start < u.start)
			u.start = have[i].start;
		if (have[i].end > u.end)
			u.end = have[i].end;
	}
	return u;
}

/* --- aggregates ----------------------------------------------------------- */

static void num_add(struct win_num *a, const struct win_num *x)
{
	a->d += x->d;
	if (a->is_int && x->is_int &&
	    !__builtin_add_overflow(a->i, x->i, &a->i))
		return;
	/* A double, or an integer sum past 64 bits: a double from now on. */
	a->is_int = false;
}

static void num_min_max(struct win_num *a, const struct win_num *x, bool max)
{
	if (max ? x->d > a->d : x->d < a->d)
		a->d = x->d;
	if (a->is_int && x->is_int) {
		if (max ? x->i > a->i : x->i < a->i)
			a->i = x->i;
		a->d = (double)a->i;
	} else {
		a->is_int = false;
	}
}

static void agg_add(enum win_fn fn, struct win_num *a, const struct win_num *x)
{
	switch (fn) {
	case WIN_COUNT:
		break;
	case WIN_SUM:
	case WIN_AVG:
		num_add(a, x);
		break;
	case WIN_MIN:
	case WIN_MAX:
		num_min_max(a, x, fn == WIN_MAX);
		break;
	}
}

void win_acc_first(struct win_acc *a, const struct win_aggs *g,
                   const struct win_num *nums)
{
	memset(a, 0, sizeof(*a));
	a->count = 1;
	for (size_t k = 0; k < g->n; k++)
		if (g->fns[k] != WIN_COUNT)
			a->v[k] = nums[k];
}

void win_acc_add(struct win_acc *a, const struct win_aggs *g,
                 const struct win_num *nums)
{
	/* Saturating: a count read back from a hostile (re-checksummed)
	 * state file may be anything; it must not overflow. */
	if (a->count < INT64_MAX)
		a->count++;
	for (size_t k = 0; k < g->n; k++)
		agg_add(g->fns[k], &a->v[k], &nums[k]);
}

void win_acc_merge(struct win_acc *a, const struct win_aggs *g,
                   const struct win_acc *b)
{
	if (__builtin_add_overflow(a->count, b->count, &a->count))
		a->count = INT64_MAX;
	a->flags = (uint8_t)((a->flags | b->flags) & ~WIN_EMITTED);
	if (b->updates > a->updates)
		a->updates = b->updates;
	for (size_t k = 0; k < g->n; k++)
		agg_add(g->fns[k], &a->v[k], &b->v[k]);
}

/* The value in state: flags (1 byte), updates (4), count (8), then per
 * aggregate but count: its fn and is_int (1 byte, fn * 2 + is_int), the
 * integer (8), the double's bits (8); then the key's JSON text.
 * Little-endian. The flags byte's high bits hold the number of those
 * aggregates: with the fns they tell a value of other aggregates (the
 * job file changed before a restore) from one of these. */
#define HEAD_BYTES 13
#define NUM_BYTES 17
#define SLOTS_SHIFT 2

static size_t num_slots(const struct win_aggs *g)
{
	size_t n = 0;

	for (size_t k = 0; k < g->n; k++)
		n += g->fns[k] != WIN_COUNT;
	return n;
}

size_t win_acc_size(const struct win_aggs *g, size_t key_len)
{
	return HEAD_BYTES + NUM_BYTES * num_slots(g) + key_len;
}

void win_put_u64(unsigned char *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

uint64_t win_get_u64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

void win_acc_encode(const struct win_acc *a, const struct win_aggs *g,
                    const char *key_json, size_t key_len, unsigned char *buf)
{
	unsigned char *p = buf + HEAD_BYTES;

	buf[0] = (unsigned char)(a->flags | num_slots(g) << SLOTS_SHIFT);
	for (int i = 0; i < 4; i++)
		buf[1 + i] = (unsigned char)(a->updates >> (8 * i));
	win_put_u64(buf + 5, (uint64_t)a->count);
	for (size_t k = 0; k < g->n; k++) {
		uint64_t bits;

		if (g->fns[k] == WIN_COUNT)
			continue;
		memcpy(&bits, &a->v[k].d, sizeof(bits));
		p[0] = (unsigned char)(g->fns[k] * 2 + a->v[k].is_int);
		win_put_u64(p + 1, (uint64_t)a->v[k].i);
		win_put_u64(p + 9, bits);
		p += NUM_BYTES;
	}
	if (key_len)
		memcpy(p, key_json, key_len);
}

int win_acc_decode(const unsigned char *buf, size_t len,
                   const struct win_aggs *g, struct win_acc *a,
                   const char **key_json, size_t *key_len)
{
	size_t need = win_acc_size(g, 0);
	const unsigned char *p = buf + HEAD_BYTES;

	if (len < need || buf[0] >> SLOTS_SHIFT != num_slots(g))
		return -1;
	for (size_t k = 0, s = 0; k < g->n; k++)
		if (g->fns[k] != WIN_COUNT &&
		    p[NUM_BYTES * s++] >> 1 != g->fns[k])
			return -1;
	memset(a, 0, sizeof(*a));
	a->flags = buf[0] & (WIN_EMITTED | WIN_FIRED);
	for (int i = 0; i < 4; i++)
		a->updates |= (uint32_t)buf[1 + i] << (8 * i);
	a->count = (int64_t)win_get_u64(buf + 5);
	if (a->count < 1) /* a stored window holds a record at least */
		return -1;
	for (size_t k = 0; k < g->n; k++) {
		uint64_t bits;

		if (g->fns[k] == WIN_COUNT)
			continue;
		a->v[k].is_int = p[0] & 1;
		a->v[k].i = (int64_t)win_get_u64(p + 1);
		bits = win_get_u64(p + 9);
		memcpy(&a->v[k].d, &bits, sizeof(bits));
		p += NUM_BYTES;
	}
	*key_json = (const char *)p;
	*key_len = len - need;
	return 0;
}

/* --- output ----------------------------------------------------------------- */

/* Days since 1970-01-01 to a civil date, for any day (proleptic
 * Gregorian; after Howard Hinnant's description of the algorithm). */
static void civil(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

void win_rfc3339(int64_t t, char *out)
{
	int64_t days = win_floor(t, 86400000) / 86400000;
	int64_t ms = t - days * 86400000, y;
	int m, d;

	civil(days, &y, &m, &d);
	snprintf(out, WIN_RFC3339_SIZE,
	         "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
	         (int)(ms / 3600000), (int)(ms / 60000 % 60),
	         (int)(ms / 1000 % 60), (int)(ms % 1000));
}

void win_out_free(struct win_out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}

static void out_mem(struct win_out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->buf = xrealloc(o->buf, o->cap);
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

void win_out_set(struct win_out *o, const void *s, size_t n)
{
	o->len = 0;
	out_mem(o, s, n);
}

static void out_str(struct win_out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

/* A double as the shortest text that reads back as it, always with a
 * '.' or an exponent so that a reader sees a double. */
static void out_double(struct win_out *o, double v)
{
	char b[40];

	if (!isfinite(v)) {
		out_str(o, "null");
		return;
	}
	snprintf(b, sizeof(b), "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, sizeof(b), "%.17g", v);
	if (!strpbrk(b, ".e"))
		strcat(b, ".0");
	out_str(o, b);
}

static void out_i64(struct win_out *o, int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRId64, v);
	out_str(o, b);
}

void win_format(struct win_out *o, const char *key_json, size_t key_len,
                struct win_span w, const struct win_aggs *g,
                const char *const *names, const struct win_acc *a,
                uint32_t update)
{
	char t[WIN_RFC3339_SIZE];

	o->len = 0;
	out_str(o, "{\"key\":");
	if (key_len)
		out_mem(o, key_json, key_len);
	else
		out_str(o, "null");
	win_rfc3339(w.start, t);
	out_str(o, ",\"window_start\":\"");
	out_str(o, t);
	win_rfc3339(w.end, t);
	out_str(o, "\",\"window_end\":\"");
	out_str(o, t);
	out_str(o, "\",\"window_start_ms\":");
	out_i64(o, w.start);
	out_str(o, ",\"window_end_ms\":");
	out_i64(o, w.end);
	for (size_t k = 0; k < g->n; k++) {
		const struct win_num *v = &a->v[k];

		out_str(o, ",");
		out_str(o, names[k]);
		out_str(o, ":");
		if (g->fns[k] == WIN_COUNT)
			out_i64(o, a->count);
		else if (g->fns[k] == WIN_AVG)
			out_double(o, (v->is_int ? (double)v->i : v->d) /
			                  (double)a->count);
		else if (v->is_int)
			out_i64(o, v->i);
		else
			out_double(o, v->d);
	}
	if (update) {
		out_str(o, ",\"update\":");
		out_i64(o, update);
	}
	out_str(o, "}");
}
