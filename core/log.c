/*
 * log.c - the stderr logger (see log.h). Each line is formatted whole and
 * written with one call, so lines from several threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static atomic_int min_level = LOG_INFO;
/* log_set_prefix fills prefix_buf once, then publishes it. */
static char prefix_buf[64];
static _Atomic(const char *) line_prefix = "";

void log_init(void)
{
	const char *s = getenv("WEIR_LOG");

	if (!s)
		return;
	if (!strcmp(s, "debug"))
		atomic_store(&min_level, LOG_DEBUG);
	else if (!strcmp(s, "info"))
		atomic_store(&min_level, LOG_INFO);
	else if (!strcmp(s, "warn"))
		atomic_store(&min_level, LOG_WARN);
	else if (!strcmp(s, "error"))
		atomic_store(&min_level, LOG_ERROR);
}

void log_set_prefix(const char *prefix)
{
	snprintf(prefix_buf, sizeof(prefix_buf), "%s%s", prefix,
	         prefix[0] ? " " : "");
	atomic_store_explicit(&line_prefix, prefix_buf, memory_order_release);
}

void log_msg(enum log_level lvl, const char *who, const char *fmt, ...)
{
	static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	char ts[40], msg[2048], line[2400];
	va_list ap;
	int n;

	if ((int)lvl < atomic_load(&min_level))
		return;
	fmt_wall_ms(now_wall_ms(), ts, sizeof(ts));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = snprintf(line, sizeof(line), "%s %-5s %s%s: %s\n", ts, names[lvl],
	             atomic_load_explicit(&line_prefix, memory_order_acquire),
	             who, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
