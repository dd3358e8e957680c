/*
 * util.h - small helpers shared by every module: allocation that aborts on
 * out-of-memory, monotonic and wall clocks, and an error list that collects
 * every problem of a job file instead of stopping at the first.
 */
#ifndef WEIR_UTIL_H
#define WEIR_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The number of elements of an array (not a pointer). */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int64_t now_mono_ms(void);
int64_t now_mono_us(void);
int64_t now_wall_ms(void);

/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines,
 * and such a deadline for a now_mono_ms() time. */
void cond_init_mono(pthread_cond_t *cv);
struct timespec mono_deadline(int64_t mono_ms);

/* Formats milliseconds since the epoch as 2026-11-25T04:13:21.123Z. */
void fmt_wall_ms(int64_t ms, char *buf, size_t len);

/* The name among names[0..n) closest to s by edit distance, if within 2
 * edits; NULL otherwise. For "did you mean ...?" hints. */
const char *closest_name(const char *s, const char *const *names, size_t n);

/* A list of key/value strings, in order (settings passed through). */
struct kv {
	char *key, *value;
};

struct kv_list {
	struct kv *items;
	size_t n;
};

/* A growing list of messages, each "path: what was wrong; what to do". */
struct errlist {
	char **msgs;
	size_t n, cap;
};

void errlist_add(struct errlist *el, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void errlist_vadd(struct errlist *el, const char *fmt, va_list ap);
void errlist_clear(struct errlist *el);

#endif
