/*
 * progress.c - the job's progress line (see progress.h). It reads only the
 * tasks' atomic counters, so it never stops or slows a task.
 */
#include "progress.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "job.h"
#include "task.h"
#include "util.h"

struct stage_sum {
	uint64_t in, out, skipped;
	int64_t lag; /* -1 when unknown or not a Kafka source */
};

static struct stage_sum sum_stage(const struct job *job, int stage)
{
	struct stage_sum s = {0, 0, 0, 0};
	bool lag_known = true, any = false;

	for (int i = 0; i < job->flow.ntasks; i++) {
		struct task *t = job->flow.tasks[i];
		int64_t lag;

		if (t->stage != stage)
			continue;
		any = true;
		s.in += atomic_load_explicit(&t->n_in, memory_order_relaxed);
		s.out += atomic_load_explicit(&t->n_out, memory_order_relaxed);
		s.skipped +=
		    atomic_load_explicit(&t->n_skipped, memory_order_relaxed);
		lag = atomic_load_explicit(&t->lag, memory_order_relaxed);
		if (lag < 0)
			lag_known = false;
		else
			s.lag += lag;
	}
	if (!any || !lag_known)
		s.lag = -1;
	return s;
}

static void append(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at += (size_t)n;
}

void progress_start(struct progress *p, const struct job *job)
{
	p->at_ms = now_mono_ms();
	p->read = sum_stage(job, 0).out;
	p->sunk = sum_stage(job, (int)job->cfg->nops + 1).in;
}

/* Records per second from `before` to `now` over ms. */
static uint64_t rate(uint64_t now, uint64_t before, int64_t ms)
{
	if (ms <= 0 || now < before)
		return 0;
	return (now - before) * 1000 / (uint64_t)ms;
}

void progress_format(struct progress *p, const struct job *job, char *buf,
                     size_t len)
{
	int sink = (int)job->cfg->nops + 1;
	int64_t now = now_mono_ms(), ms = now - p->at_ms;
	struct stage_sum *sums = xcalloc((size_t)sink + 1, sizeof(*sums));
	struct stage_sum src, snk;
	size_t at = 0;

	/* Sink first, source last: a stage never counts more than the one
	 * before it passed on, and each count only grows, so read in this
	 * order the line always adds up. */
	for (int s = sink; s >= 0; s--)
		sums[s] = sum_stage(job, s);
	src = sums[0];
	snk = sums[sink];
	buf[0] = '\0';
	append(buf, len, &at, "source %" PRIu64 " read (%" PRIu64 "/s)",
	       src.out, rate(src.out, p->read, ms));
	if (src.lag >= 0)
		append(buf, len, &at, ", lag %" PRId64, src.lag);
	if (src.skipped) /* records without a usable event time */
		append(buf, len, &at, ", %" PRIu64 " skipped", src.skipped);
	for (int s = 1; s < sink; s++) {
		struct stage_sum op = sums[s];

		append(buf, len, &at, " | %s %" PRIu64 " in, %" PRIu64 " out",
		       job->cfg->ops[s - 1].type, op.in, op.out);
		if (op.skipped)
			append(buf, len, &at, ", %" PRIu64 " skipped",
			       op.skipped);
	}
	append(buf, len, &at, " | sink %" PRIu64 " in (%" PRIu64 "/s)", snk.in,
	       rate(snk.in, p->sunk, ms));
	if (snk.skipped)
		append(buf, len, &at, ", %" PRIu64 " skipped", snk.skipped);
	p->at_ms = now;
	p->read = src.out;
	p->sunk = snk.in;
	free(sums);
}
