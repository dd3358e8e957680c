/*
 * window.c - the built-in "window" operator: aggregates of the records of
 * each event-time window per key, emitted once when the watermark passes
 * the window's end.
 *
 *   { "type": "window", "key": "service",
 *     "window": {"type": "tumbling", "size_ms": 60000},
 *     "aggregates": [{"fn": "count"}, {"fn": "avg", "field": "ms"}],
 *     "allowed_lateness_ms": 0 }
 *
 * Without "key" all records are one window stream: the job file gives
 * such a window keyed state under one key, the empty one, and open
 * refuses parallelism > 1.
 *
 * Every window is one name in managed keyed state ("w", its start, and
 * for sessions its end, 8 bytes each) whose value is the window's
 * aggregates (window_logic.h), and two event-time timers: at end - 1 it
 * fires (emits its result), at end - 1 + allowed_lateness_ms it is
 * deleted. When allowed_lateness_ms is 0 they are one timer. So windows
 * checkpoint, restore and rescale with the keyed state; there is no
 * snapshot code here. A timer at time T finds its windows from T alone
 * (tumbling and hopping windows are named by their start, end - size),
 * or by looking through the key's sessions.
 *
 * A record whose window fired already, but which is within the allowed
 * lateness, updates the window and emits the new result at once with
 * "update": n (1 for the first). A record whose every window is past its
 * lateness is too late: counted and handed to weir_record_error, so
 * on_error decides (skip, fail, dead-letter).
 *
 * Hot path (tumbling): one state get and one put per record; timers are
 * set only when a window is new.
 */
#include "builtin.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrec.h"
#include "opconfig.h"
#include "opctx.h"
#include "window_logic.h"

/* A hopping window's records each land in size_ms / slide_ms windows:
 * more would make every record cost that many state updates. */
#define MAX_HOPS 100

struct window {
	struct fpath *key_path; /* NULL: one window stream */
	struct win_spec spec;
	int64_t lateness;
	struct win_aggs g;
	struct fpath *fields[WIN_MAX_AGGS]; /* NULL for count */
	char *names[WIN_MAX_AGGS];          /* output names, JSON text */
	uint64_t too_late;
	struct win_out out; /* the result being emitted */
	struct win_out key; /* the current record's key as JSON text */
	unsigned char *val; /* a window's value being written */
	size_t val_cap;
};

#define NAME_LEN 9
#define SESSION_NAME_LEN 17

/* --- configuration ---------------------------------------------------------- */

static const char *const fn_names[] = {"count", "sum", "avg", "min", "max"};

static bool get_span(json_t *o, const char *path, const char *field,
                     int64_t min, int64_t *out, struct errlist *errs)
{
	json_t *v = json_object_get(o, field);

	if (!v) {
		errlist_add(errs,
		            "%s.%s: required: milliseconds from %lld to "
		            "%lld (1000 days)",
		            path, field, (long long)min,
		            (long long)WIN_SPAN_MAX);
		return false;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > WIN_SPAN_MAX) {
		errlist_add(errs,
		            "%s.%s: expected whole milliseconds from %lld to "
		            "%lld (1000 days), got %s",
		            path, field, (long long)min,
		            (long long)WIN_SPAN_MAX,
		            json_is_integer(v) ? "a number out of range"
		                               : opconfig_kind(v));
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static void only_fields(json_t *o, const char *path, const char *const *allowed,
                        size_t n, const char *expected, struct errlist *errs)
{
	const char *name;
	json_t *v;

	json_object_foreach(o, name, v) {
		size_t i = 0;

		while (i < n && strcmp(name, allowed[i]) != 0)
			i++;
		if (i == n)
			errlist_add(errs, "%s.%s: unknown field; expected %s",
			            path, name, expected);
	}
}

static void read_spec(json_t *w, struct win_spec *s, struct errlist *errs)
{
	static const char *const tumbling[] = {"type", "size_ms"};
	static const char *const hopping[] = {"type", "size_ms", "slide_ms"};
	static const char *const session[] = {"type", "gap_ms"};
	json_t *t = json_object_get(w, "type");
	const char *type = json_string_value(t);

	if (!json_is_object(w)) {
		errlist_add(errs,
		            "window: required: an object such as {\"type\": "
		            "\"tumbling\", \"size_ms\": 60000}%s%s",
		            w ? ", got " : "", w ? opconfig_kind(w) : "");
		return;
	}
	if (type && !strcmp(type, "tumbling")) {
		s->type = WIN_TUMBLING;
		only_fields(w, "window", tumbling, 2, "type, size_ms", errs);
		if (get_span(w, "window", "size_ms", 1, &s->size_ms, errs))
			s->slide_ms = s->size_ms;
	} else if (type && !strcmp(type, "hopping")) {
		s->type = WIN_HOPPING;
		only_fields(w, "window", hopping, 3, "type, size_ms, slide_ms",
		            errs);
		if (get_span(w, "window", "size_ms", 1, &s->size_ms, errs) &&
		    get_span(w, "window", "slide_ms", 1, &s->slide_ms, errs) &&
		    (s->slide_ms > s->size_ms ||
		     /* Rounded up: size 201 by 2 puts a time in 101. */
		     (s->size_ms + s->slide_ms - 1) / s->slide_ms > MAX_HOPS))
			errlist_add(errs,
			            "window.slide_ms: %lld with size_ms %lld: "
			            "expected from size_ms / %d to size_ms, so "
			            "that every time is in 1 to %d windows",
			            (long long)s->slide_ms,
			            (long long)s->size_ms, MAX_HOPS, MAX_HOPS);
	} else if (type && !strcmp(type, "session")) {
		s->type = WIN_SESSION;
		only_fields(w, "window", session, 2, "type, gap_ms", errs);
		get_span(w, "window", "gap_ms", 1, &s->gap_ms, errs);
	} else {
		errlist_add(errs,
		            "window.type: expected \"tumbling\", \"hopping\" "
		            "or \"session\", got %s",
		            type ? type
		            : t  ? opconfig_kind(t)
		                 : "nothing");
	}
}

/* Names the runtime's fields of a result take. */
static bool reserved_name(const char *n)
{
	static const char *const r[] = {"key",           "window_start",
	                                "window_end",    "window_start_ms",
	                                "window_end_ms", "update"};

	for (size_t i = 0; i < sizeof(r) / sizeof(*r); i++)
		if (!strcmp(n, r[i]))
			return true;
	return false;
}

static void read_agg(struct window *w, size_t k, json_t *a,
                     struct errlist *errs)
{
	static const char *const allowed[] = {"fn", "field", "as"};
	const char *fn = json_string_value(json_object_get(a, "fn"));
	json_t *field = json_object_get(a, "field"), *as;
	char path[48], *name;
	size_t f = 0;

	snprintf(path, sizeof(path), "aggregates[%zu]", k);
	if (!json_is_object(a)) {
		errlist_add(errs,
		            "%s: expected an object such as {\"fn\": \"sum\", "
		            "\"field\": \"bytes\"}, got %s",
		            path, opconfig_kind(a));
		return;
	}
	only_fields(a, path, allowed, 3, "fn, field, as", errs);
	while (fn && f < 5 && strcmp(fn, fn_names[f]) != 0)
		f++;
	if (!fn || f == 5) {
		errlist_add(errs,
		            "%s.fn: expected \"count\", \"sum\", \"avg\", "
		            "\"min\" or \"max\"%s%s%s",
		            path, fn ? ", got \"" : "", fn ? fn : "",
		            fn ? "\"" : "");
		return;
	}
	w->g.fns[k] = (enum win_fn)f;
	if (f == WIN_COUNT && field)
		errlist_add(errs,
		            "%s.field: count counts records and reads no "
		            "field; remove it",
		            path);
	if (f != WIN_COUNT &&
	    (!json_is_string(field) || json_string_length(field) == 0)) {
		errlist_add(errs,
		            "%s.field: required: the numeric field %s "
		            "aggregates, e.g. \"field\": \"latency_ms\"",
		            path, fn);
		return;
	}
	if (f != WIN_COUNT)
		w->fields[k] = fpath_new(json_string_value(field));
	as = json_object_get(a, "as");
	if (as && (!json_is_string(as) || json_string_length(as) == 0)) {
		errlist_add(errs, "%s.as: expected a non-empty string", path);
		return;
	}
	if (as) {
		name = xstrdup(json_string_value(as));
	} else if (f == WIN_COUNT) {
		name = xstrdup("count");
	} else {
		name = xmalloc(strlen(fn) + json_string_length(field) + 2);
		sprintf(name, "%s_%s", fn, json_string_value(field));
	}
	if (reserved_name(name)) {
		errlist_add(errs,
		            "%s: the output name \"%s\" is one of the result's "
		            "own fields (key, window_start, window_end, "
		            "window_start_ms, window_end_ms, update); name it "
		            "otherwise with \"as\"",
		            path, name);
		free(name);
		return;
	}
	for (size_t i = 0; i < k; i++) {
		json_t *prev = json_loads(w->names[i] ? w->names[i] : "null",
		                          JSON_DECODE_ANY, NULL);

		if (json_is_string(prev) &&
		    !strcmp(json_string_value(prev), name))
			errlist_add(errs,
			            "%s: the output name \"%s\" is taken by "
			            "aggregates[%zu]; give one of them another "
			            "with \"as\"",
			            path, name, i);
		json_decref(prev);
	}
	{
		json_t *s = json_string(name);

		w->names[k] = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		json_decref(s);
		if (!w->names[k])
			errlist_add(errs, "%s: the output name is not UTF-8",
			            path);
	}
	free(name);
}

static void read_aggs(struct window *w, json_t *aggs, struct errlist *errs)
{
	json_t *a;
	size_t k;

	if (!aggs) {
		w->g.n = 1;
		w->g.fns[0] = WIN_COUNT;
		w->names[0] = xstrdup("\"count\"");
		return;
	}
	if (!json_is_array(aggs) || json_array_size(aggs) == 0 ||
	    json_array_size(aggs) > WIN_MAX_AGGS) {
		errlist_add(errs,
		            "aggregates: expected an array of 1 to %d objects "
		            "such as {\"fn\": \"count\"}, got %s",
		            WIN_MAX_AGGS,
		            json_is_array(aggs)
		                ? (json_array_size(aggs) ? "too many" : "[]")
		                : opconfig_kind(aggs));
		return;
	}
	w->g.n = json_array_size(aggs);
	json_array_foreach(aggs, k, a)
		read_agg(w, k, a, errs);
}

static void window_free(struct window *w)
{
	fpath_free(w->key_path);
	for (size_t k = 0; k < WIN_MAX_AGGS; k++) {
		fpath_free(w->fields[k]);
		free(w->names[k]);
	}
	win_out_free(&w->out);
	win_out_free(&w->key);
	free(w->val);
	free(w);
}

static int window_open(weir_ctx_t *ctx, const char *config, void **state)
{
	static const char *const own[] = {"window", "aggregates",
	                                  "allowed_lateness_ms"};
	struct errlist errs = {0};
	json_error_t jerr;
	json_t *cfg = json_loads(config, 0, &jerr), *v;
	struct window *w;
	const char *name;
	int rc = WEIR_OK;

	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "expected an object: %s", jerr.text);
	}
	w = xcalloc(1, sizeof(*w));
	json_object_foreach(cfg, name, v) {
		size_t i = 0;

		if (!strcmp(name, "ttl_ms")) {
			errlist_add(
			    &errs,
			    "ttl_ms: not for window: a window's state is "
			    "deleted when it closes, allowed_lateness_ms "
			    "after its end; remove ttl_ms");
			continue;
		}
		while (i < 3 && strcmp(name, own[i]) != 0)
			i++;
		if (i == 3 && !opconfig_is_common(name))
			errlist_add(
			    &errs,
			    "%s: unknown field for window; expected key, "
			    "window, aggregates, allowed_lateness_ms",
			    name);
	}
	v = json_object_get(cfg, "key");
	if (v && (!json_is_string(v) || json_string_length(v) == 0))
		errlist_add(&errs,
		            "key: expected the name of the field to window "
		            "by, e.g. \"key\": \"service\"; leave it out for "
		            "one window stream over all records");
	else if (v)
		w->key_path = fpath_new(json_string_value(v));
	else if (weir_task_parallelism(ctx) > 1)
		errlist_add(&errs,
		            "parallelism: a window without \"key\" sees every "
		            "record in one stream, which one task holds; set "
		            "parallelism 1, or window by a \"key\"");
	read_spec(json_object_get(cfg, "window"), &w->spec, &errs);
	read_aggs(w, json_object_get(cfg, "aggregates"), &errs);
	if (json_object_get(cfg, "allowed_lateness_ms"))
		get_span(cfg, "", "allowed_lateness_ms", 0, &w->lateness,
		         &errs);
	json_decref(cfg);
	if (errs.n) {
		/* get_span's path "" leaves a leading '.'. */
		for (size_t i = 0; i < errs.n; i++)
			if (errs.msgs[i][0] == '.')
				memmove(errs.msgs[i], errs.msgs[i] + 1,
				        strlen(errs.msgs[i]));
		rc = opconfig_fail(ctx, &errs);
		errlist_clear(&errs);
		window_free(w);
		return rc;
	}
	*state = w;
	return WEIR_OK;
}

static void window_close(weir_ctx_t *ctx, void *state)
{
	(void)ctx;
	window_free(state);
}

/* --- results ---------------------------------------------------------------- */

static int emit_result(weir_ctx_t *ctx, struct window *w, struct win_span s,
                       const struct win_acc *a, const char *key_json,
                       size_t key_len, uint32_t update)
{
	const void *k = NULL;
	size_t klen = 0;

	if (w->key_path && weir_state_key(ctx, &k, &klen) != WEIR_OK)
		return WEIR_ERR;
	win_format(&w->out, key_json, key_len, s, &w->g,
	           (const char *const *)w->names, a, update);
	return weir_emit(ctx, k, klen, w->out.buf, w->out.len);
}

/* Writes a window's value a under name, with the current record's key
 * (the last record's key is the one a result shows: "42" and 42 are one
 * key). */
static int put_window(weir_ctx_t *ctx, struct window *w, const void *name,
                      size_t name_len, const struct win_acc *a)
{
	size_t n = win_acc_size(&w->g, w->key.len);

	if (n > w->val_cap) {
		w->val_cap = n * 2;
		w->val = xrealloc(w->val, w->val_cap);
	}
	win_acc_encode(a, &w->g, w->key.buf, w->key.len, w->val);
	return weir_state_put(ctx, name, name_len, w->val, n);
}

static int damaged(weir_ctx_t *ctx, const unsigned char *start, size_t len)
{
	return weir_error(ctx,
	                  "the state of the window starting at %" PRId64
	                  " (%zu bytes) is not a value of these aggregates: "
	                  "the checkpoint it came from is damaged or was "
	                  "written with other aggregates; restore one "
	                  "written with these, or start without one",
	                  (int64_t)win_get_u64(start), len);
}

/* When a window ending at end is gone. */
static int64_t close_time(const struct window *w, int64_t end)
{
	return end - 1 + w->lateness;
}

/* --- records ---------------------------------------------------------------- */

/* The record's numbers for the aggregates, or -1 after weir_record_error
 * (its verdict in *rc). */
static int read_numbers(weir_ctx_t *ctx, struct window *w,
                        const weir_record_t *rec, struct jrec *j,
                        struct win_num *nums, int *rc)
{
	for (size_t k = 0; k < w->g.n; k++) {
		int tok;
		json_type t;
		struct jnum x;

		if (!w->fields[k])
			continue;
		tok = jrec_find(j, w->fields[k]);
		if (tok < 0) {
			*rc = weir_record_error(ctx, rec,
			                        "field \"%s\" is missing (%s "
			                        "aggregates it)",
			                        fpath_str(w->fields[k]),
			                        fn_names[w->g.fns[k]]);
			return -1;
		}
		t = jrec_type(j, tok);
		if (t != JSON_INTEGER && t != JSON_REAL) {
			*rc = weir_record_error(
			    ctx, rec,
			    "field \"%s\" is not a number (%s "
			    "aggregates it)",
			    fpath_str(w->fields[k]), fn_names[w->g.fns[k]]);
			return -1;
		}
		x = jrec_number(j, tok);
		nums[k].is_int = x.is_int;
		nums[k].i = x.is_int ? x.i : 0;
		nums[k].d = x.d;
	}
	return 0;
}

/* The current record's key as JSON text (the field token tok), into
 * w->key; nothing without a key. */
static void read_key_json(struct window *w, struct jrec *j, int tok)
{
	char buf[256];
	size_t n;

	w->key.len = 0;
	if (!w->key_path)
		return;
	n = jrec_scalar_text(j, tok, buf, sizeof(buf));
	if (n == 0) {
		json_t *v = jrec_value(j, tok);
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		if (text)
			win_out_set(&w->key, text, strlen(text));
		free(text);
		json_decref(v);
		return;
	}
	win_out_set(&w->key, buf, n);
}

static int too_late(weir_ctx_t *ctx, struct window *w, const weir_record_t *rec,
                    int64_t ts, int64_t wm)
{
	char t[WIN_RFC3339_SIZE], m[WIN_RFC3339_SIZE];

	w->too_late++;
	win_rfc3339(ts, t);
	win_rfc3339(wm, m);
	return weir_record_error(
	    ctx, rec,
	    "too late: event time %s is in windows that closed when the "
	    "watermark passed their end + allowed_lateness_ms (%" PRId64
	    "; watermark now %s); %" PRIu64 " too-late records so far. "
	    "Raise allowed_lateness_ms or the source's "
	    "max_out_of_orderness_ms to take such records",
	    t, w->lateness, m, w->too_late);
}

/* Adds the record to the tumbling or hopping window starting at start. */
static int add_to_window(weir_ctx_t *ctx, struct window *w, int64_t start,
                         const struct win_num *nums, int64_t wm)
{
	struct win_span s = {start, start + w->spec.size_ms};
	unsigned char name[NAME_LEN] = {'w'};
	const void *cur;
	size_t len, klen;
	const char *kj;
	struct win_acc a;
	bool late = wm >= s.end - 1;
	int rc;

	win_put_u64(name + 1, (uint64_t)start);
	rc = weir_state_get(ctx, name, NAME_LEN, &cur, &len);
	if (rc == WEIR_OK) {
		if (win_acc_decode(cur, len, &w->g, &a, &kj, &klen) < 0)
			return damaged(ctx, name + 1, len);
		win_acc_add(&a, &w->g, nums);
	} else if (rc == WEIR_EEOF) {
		win_acc_first(&a, &w->g, nums);
		if ((!late && weir_timer_set(ctx, WEIR_TIME_EVENT, s.end - 1) !=
		                  WEIR_OK) ||
		    (w->lateness &&
		     weir_timer_set(ctx, WEIR_TIME_EVENT,
		                    close_time(w, s.end)) != WEIR_OK))
			return WEIR_ERR;
	} else {
		return rc;
	}
	if (late) {
		a.updates++;
		a.flags |= WIN_EMITTED | WIN_FIRED;
	}
	if (put_window(ctx, w, name, NAME_LEN, &a) != WEIR_OK)
		return WEIR_ERR;
	if (!late)
		return WEIR_OK;
	return emit_result(ctx, w, s, &a, w->key.buf, w->key.len, a.updates);
}

/* The sessions of the current key, as weir_state_iterate finds them. */
struct sessions {
	const struct win_aggs *g;
	struct win_span *span;
	struct win_acc *acc;
	size_t n, cap;
	bool bad;
};

static int collect_session(void *arg, const void *name, size_t name_len,
                           const void *value, size_t value_len)
{
	struct sessions *ss = arg;
	const unsigned char *nm = name;
	const char *kj;
	size_t kl;

	if (name_len != SESSION_NAME_LEN || nm[0] != 'w')
		return 0;
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? ss->cap * 2 : 8;
		ss->span = xrealloc(ss->span, ss->cap * sizeof(*ss->span));
		ss->acc = xrealloc(ss->acc, ss->cap * sizeof(*ss->acc));
	}
	if (win_acc_decode(value, value_len, ss->g, &ss->acc[ss->n], &kj, &kl) <
	    0) {
		ss->bad = true;
		return 1;
	}
	ss->span[ss->n].start = (int64_t)win_get_u64(nm + 1);
	ss->span[ss->n].end = (int64_t)win_get_u64(nm + 9);
	ss->n++;
	return 0;
}

static int get_sessions(weir_ctx_t *ctx, struct window *w, struct sessions *ss)
{
	int rc;

	memset(ss, 0, sizeof(*ss));
	ss->g = &w->g;
	rc = weir_state_iterate(ctx, collect_session, ss);
	if (ss->bad)
		return weir_error(ctx, "a session window's state is not a "
		                       "value of these aggregates: the "
		                       "checkpoint it came from is damaged or "
		                       "was written with other aggregates; "
		                       "restore one written with these, or "
		                       "start without one");
	return rc < 0 ? rc : WEIR_OK;
}

static void free_sessions(struct sessions *ss)
{
	free(ss->span);
	free(ss->acc);
}

static void session_name(unsigned char *name, struct win_span s)
{
	name[0] = 'w';
	win_put_u64(name + 1, (uint64_t)s.start);
	win_put_u64(name + 9, (uint64_t)s.end);
}

/* Whether a timer at t is still wanted by a session that stays. */
static bool time_wanted(const struct window *w, const struct sessions *ss,
                        const bool *merged, struct win_span u, int64_t t)
{
	if (t == u.end - 1 || t == close_time(w, u.end))
		return true;
	for (size_t i = 0; i < ss->n; i++)
		if (!merged[i] && (t == ss->span[i].end - 1 ||
		                   t == close_time(w, ss->span[i].end)))
			return true;
	return false;
}

/* Opens the session [ts, ts + gap) and merges every session of the key
 * that it overlaps or touches into it; their timers go unless another
 * session needs them. */
static int add_to_session(weir_ctx_t *ctx, struct window *w,
                          const weir_record_t *rec, int64_t ts,
                          const struct win_num *nums, int64_t wm)
{
	struct win_span nw = {ts, ts + w->spec.gap_ms}, u;
	unsigned char name[SESSION_NAME_LEN];
	struct sessions ss;
	struct win_acc a;
	bool *merged;
	bool late, any = false;
	int rc = WEIR_OK;

	if ((rc = get_sessions(ctx, w, &ss)) != WEIR_OK)
		return rc;
	merged = xcalloc(ss.n ? ss.n : 1, sizeof(*merged));
	u = win_session_merge(nw, ss.span, ss.n, merged);
	for (size_t i = 0; i < ss.n; i++)
		any |= merged[i];
	/* Live sessions are before their close time, and a union is never
	 * earlier than its parts: only a session of its own can be late. */
	if (!any && wm >= close_time(w, nw.end)) {
		rc = too_late(ctx, w, rec, ts, wm);
		goto out;
	}
	win_acc_first(&a, &w->g, nums);
	for (size_t i = 0; i < ss.n; i++) {
		int64_t fire = ss.span[i].end - 1,
		        gone = close_time(w, ss.span[i].end);

		if (!merged[i])
			continue;
		win_acc_merge(&a, &w->g, &ss.acc[i]);
		session_name(name, ss.span[i]);
		if (weir_state_delete(ctx, name, sizeof(name)) != WEIR_OK ||
		    (!time_wanted(w, &ss, merged, u, fire) &&
		     weir_timer_delete(ctx, WEIR_TIME_EVENT, fire) !=
		         WEIR_OK) ||
		    (!time_wanted(w, &ss, merged, u, gone) &&
		     weir_timer_delete(ctx, WEIR_TIME_EVENT, gone) !=
		         WEIR_OK)) {
			rc = WEIR_ERR;
			goto out;
		}
	}
	late = wm >= u.end - 1;
	if (late) {
		a.updates++;
		a.flags |= WIN_EMITTED | WIN_FIRED;
	}
	session_name(name, u);
	if (put_window(ctx, w, name, sizeof(name), &a) != WEIR_OK ||
	    (!late &&
	     weir_timer_set(ctx, WEIR_TIME_EVENT, u.end - 1) != WEIR_OK) ||
	    (w->lateness && weir_timer_set(ctx, WEIR_TIME_EVENT,
	                                   close_time(w, u.end)) != WEIR_OK)) {
		rc = WEIR_ERR;
		goto out;
	}
	if (late)
		rc = emit_result(ctx, w, u, &a, w->key.buf, w->key.len,
		                 a.updates);
out:
	free(merged);
	free_sessions(&ss);
	return rc;
}

static int window_process(weir_ctx_t *ctx, void *state,
                          const weir_record_t *rec)
{
	struct window *w = state;
	struct win_num nums[WIN_MAX_AGGS];
	int64_t ts = weir_record_timestamp(rec), wm, starts[MAX_HOPS];
	struct jrec *j;
	size_t n, live = 0;
	int tok = -1, rc = WEIR_OK;

	if (ts == -1)
		return weir_record_error(
		    ctx, rec,
		    "the record has no event time; give the source a "
		    "\"timestamp\" field of the records, or produce them "
		    "with Kafka timestamps");
	if (ts < WIN_TIME_MIN || ts > WIN_TIME_MAX)
		return weir_record_error(ctx, rec,
		                         "event time %" PRId64 " ms is outside "
		                         "the years 0000 to 9999",
		                         ts);
	if (w->key_path) {
		if ((tok = opctx_key_field(ctx, rec, w->key_path, &j, &rc)) < 0)
			return rc;
	} else {
		j = opctx_json(ctx, rec);
		if (!jrec_ok(j))
			return weir_record_error(ctx, rec, "%s", j->err);
	}
	if (read_numbers(ctx, w, rec, j, nums, &rc) < 0)
		return rc;
	read_key_json(w, j, tok);
	wm = weir_current_watermark(ctx);
	if (w->spec.type == WIN_SESSION)
		return add_to_session(ctx, w, rec, ts, nums, wm);
	n = win_assign(&w->spec, ts, starts, MAX_HOPS);
	assert(n <= MAX_HOPS); /* window_open checked size and slide */
	for (size_t i = 0; i < n && rc == WEIR_OK; i++) {
		if (wm >= close_time(w, starts[i] + w->spec.size_ms))
			continue;
		live++;
		rc = add_to_window(ctx, w, starts[i], nums, wm);
	}
	if (rc == WEIR_OK && live == 0)
		rc = too_late(ctx, w, rec, ts, wm);
	return rc;
}

/* --- timers ------------------------------------------------------------------ */

/* Emits window s's result if it has not gone out as it is; then deletes
 * the window (gone) or keeps it marked as emitted. */
static int fire(weir_ctx_t *ctx, struct window *w, const unsigned char *name,
                size_t name_len, struct win_span s, bool gone)
{
	const void *cur;
	size_t len, klen;
	const char *kj;
	struct win_acc a;
	uint32_t update = 0;
	int rc = weir_state_get(ctx, name, name_len, &cur, &len);

	if (rc == WEIR_EEOF)
		return WEIR_OK; /* a timer another window left */
	if (rc != WEIR_OK)
		return rc;
	if (win_acc_decode(cur, len, &w->g, &a, &kj, &klen) < 0)
		return damaged(ctx, name + 1, len);
	if (!(a.flags & WIN_EMITTED)) {
		if (a.flags & WIN_FIRED)
			update = ++a.updates;
		a.flags |= WIN_EMITTED | WIN_FIRED;
		/* kj points into the state, which the put below replaces. */
		win_out_set(&w->key, kj, klen);
		if (emit_result(ctx, w, s, &a, w->key.buf, w->key.len,
		                update) != WEIR_OK)
			return WEIR_ERR;
		if (!gone)
			return put_window(ctx, w, name, name_len, &a);
	}
	return gone ? weir_state_delete(ctx, name, name_len) : WEIR_OK;
}

static int window_on_timer(weir_ctx_t *ctx, void *state, int domain, int64_t t)
{
	struct window *w = state;
	unsigned char name[SESSION_NAME_LEN] = {'w'};
	struct sessions ss;
	int rc = WEIR_OK;

	if (domain != WEIR_TIME_EVENT)
		return WEIR_OK;
	if (w->spec.type != WIN_SESSION) {
		/* t is the end - 1 of the window that fires and the close
		 * time of the one that goes (one window when lateness is 0). */
		int64_t end = t + 1, size = w->spec.size_ms;

		win_put_u64(name + 1, (uint64_t)(end - size));
		rc = fire(ctx, w, name, NAME_LEN,
		          (struct win_span){end - size, end}, w->lateness == 0);
		if (rc != WEIR_OK || w->lateness == 0)
			return rc;
		end -= w->lateness;
		win_put_u64(name + 1, (uint64_t)(end - size));
		return fire(ctx, w, name, NAME_LEN,
		            (struct win_span){end - size, end}, true);
	}
	if ((rc = get_sessions(ctx, w, &ss)) != WEIR_OK)
		return rc;
	for (size_t i = 0; i < ss.n && rc == WEIR_OK; i++) {
		struct win_span s = ss.span[i];
		bool gone = t == close_time(w, s.end);

		if (t != s.end - 1 && !gone)
			continue;
		session_name(name, s);
		rc = fire(ctx, w, name, sizeof(name), s, gone);
	}
	free_sessions(&ss);
	return rc;
}

static const weir_operator_t window_op = {
    .api_version = WEIR_API_VERSION,
    .name = "window",
    .state_version = 1,
    .open = window_open,
    .process = window_process,
    .close = window_close,
    .struct_size = WEIR_OPERATOR_SIZE,
    .on_timer = window_on_timer,
};

const weir_operator_t *weir_builtin_window(void)
{
	return &window_op;
}
