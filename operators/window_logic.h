/*
 * window_logic.h - the arithmetic of the "window" operator, apart from the
 * runtime so that it can be tested alone: which windows a time falls in
 * (tumbling and hopping, aligned to the epoch, negative times included),
 * how session windows merge, the aggregates of one window and their
 * compact binary form (the value kept in managed keyed state), and the
 * result record's JSON text with RFC 3339 times.
 *
 * Nothing here allocates except win_out_*, which grows its own buffer.
 */
#ifndef WEIR_WINDOW_LOGIC_H
#define WEIR_WINDOW_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Event times the operator accepts: the years 0000 to 9999 (so every
 * window bound is far from overflowing and prints as RFC 3339). */
#define WIN_TIME_MIN (-62167219200000LL) /* 0000-01-01T00:00:00Z */
#define WIN_TIME_MAX 253402300799999LL   /* 9999-12-31T23:59:59.999Z */
/* Longest size, slide, gap and allowed lateness: 1000 days. */
#define WIN_SPAN_MAX 86400000000LL

enum win_type { WIN_TUMBLING, WIN_HOPPING, WIN_SESSION };

struct win_spec {
	enum win_type type;
	int64_t size_ms;  /* tumbling, hopping */
	int64_t slide_ms; /* hopping; tumbling: size_ms */
	int64_t gap_ms;   /* session */
};

/* The largest multiple of step at or below t (step > 0), for negative t
 * too: win_floor(-1, 10) is -10. */
int64_t win_floor(int64_t t, int64_t step);

/* Starts of the tumbling or hopping windows [start, start + size) that
 * hold t, newest first, into starts (at most cap); returns how many hold
 * it (may exceed cap: then only cap are written). A hopping window of
 * size 60000 sliding by 10000 puts every time in 6 windows. */
size_t win_assign(const struct win_spec *s, int64_t t, int64_t *starts,
                  size_t cap);

/* Session windows [start, end). Two sessions merge when they overlap or
 * touch (one's end is the other's start). */
struct win_span {
	int64_t start, end;
};
bool win_touches(struct win_span a, struct win_span b);

/* Merges the new session nw into the existing ones (which neither overlap
 * nor touch each other): sets merged[i] for each of have[0..n) that joins
 * it and returns the union. Touching only nw is enough, since the
 * existing ones are apart: a session that touched the union without
 * touching nw would touch one of the others. */
struct win_span win_session_merge(struct win_span nw,
                                  const struct win_span *have, size_t n,
                                  bool *merged);

/* --- aggregates ----------------------------------------------------------- */

enum win_fn { WIN_COUNT, WIN_SUM, WIN_AVG, WIN_MIN, WIN_MAX };
#define WIN_MAX_AGGS 16

/* A number of a record or of a running aggregate: an exact integer while
 * every input was one (is_int), and always as a double (d). */
struct win_num {
	bool is_int;
	int64_t i;
	double d;
};

/* The aggregates of one window. fns[k] != WIN_COUNT read one number per
 * record, in the order of the aggregates (count reads none and uses
 * count). */
struct win_aggs {
	size_t n;
	enum win_fn fns[WIN_MAX_AGGS];
};

/* What a window holds. EMITTED: its result as it is now went out;
 * FIRED: some result of it went out, so the next is an update; updates:
 * how many updates went out. */
#define WIN_EMITTED 1u
#define WIN_FIRED 2u
struct win_acc {
	uint8_t flags;
	uint32_t updates;
	int64_t count;
	struct win_num v[WIN_MAX_AGGS];
};

/* A window of one record whose numbers (one per aggregate; those of count
 * are ignored) are nums. */
void win_acc_first(struct win_acc *a, const struct win_aggs *g,
                   const struct win_num *nums);
/* Adds one record. */
void win_acc_add(struct win_acc *a, const struct win_aggs *g,
                 const struct win_num *nums);
/* Adds window b into a (sessions that merge): counts add up, flags are
 * or-ed, updates is the larger. The union's result did not go out:
 * EMITTED is cleared. */
void win_acc_merge(struct win_acc *a, const struct win_aggs *g,
                   const struct win_acc *b);

/* Bytes win_acc_encode writes for g and a key of key_len bytes. */
size_t win_acc_size(const struct win_aggs *g, size_t key_len);
/* Writes a and the key's JSON text (kept so that a timer can write the key
 * as the record had it) into buf, which holds win_acc_size bytes. */
void win_acc_encode(const struct win_acc *a, const struct win_aggs *g,
                    const char *key_json, size_t key_len, unsigned char *buf);
/* Reads what win_acc_encode wrote; *key_json points into buf. -1, with
 * *a untouched, when the bytes are not such a value for g (too short, or
 * written for other aggregates). */
int win_acc_decode(const unsigned char *buf, size_t len,
                   const struct win_aggs *g, struct win_acc *a,
                   const char **key_json, size_t *key_len);

/* 8 bytes little-endian, as state values and names hold numbers. */
void win_put_u64(unsigned char *b, uint64_t v);
uint64_t win_get_u64(const unsigned char *b);

/* --- output ----------------------------------------------------------------- */

/* t as "1970-01-01T00:00:00.000Z" (24 bytes and a NUL for the years
 * 0000 to 9999, which keep 4 digits). out holds WIN_RFC3339_SIZE bytes. */
#define WIN_RFC3339_SIZE 48
void win_rfc3339(int64_t t, char *out);

/* A growing text buffer. */
struct win_out {
	char *buf;
	size_t len, cap;
};
/* Makes o hold the n bytes at s (and a NUL after them). */
void win_out_set(struct win_out *o, const void *s, size_t n);
void win_out_free(struct win_out *o);

/* The result of one window in o (replacing what it held):
 * {"key":<key_json>,"window_start":"<RFC 3339>","window_end":"...",
 *  "window_start_ms":N,"window_end_ms":N,<name>:<value>...[,"update":n]}
 * names[k] is the k-th aggregate's output name as JSON text (quoted).
 * avg is a double; sum, min and max are integers when every input was
 * one, else doubles; a double that is not finite is null. update 0 leaves
 * "update" out. */
void win_format(struct win_out *o, const char *key_json, size_t key_len,
                struct win_span w, const struct win_aggs *g,
                const char *const *names, const struct win_acc *a,
                uint32_t update);

#endif
