/*
 * discard.c - a sink that counts records and drops them: the end of jobs
 * in tests and benchmarks that measure everything but the output.
 */
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "log.h"
#include "util.h"

struct discard {
	uint64_t records, bytes;
};

static int discard_process(struct task *t, void *st, struct batch *b)
{
	struct discard *d = st;

	(void)t;
	d->records += b->n;
	for (uint32_t i = 0; i < b->n; i++)
		d->bytes += b->recs[i].value_len;
	return 0;
}

static void discard_close(struct task *t, void *st)
{
	struct discard *d = st;

	log_info(t->who, "discarded %llu records, %llu value bytes",
	         (unsigned long long)d->records, (unsigned long long)d->bytes);
	free(d);
}

int discard_sink_open(struct task *t, const struct job_sink_cfg *cfg,
                      struct task_body *body, char *err, size_t errlen)
{
	(void)t;
	(void)cfg;
	(void)err;
	(void)errlen;
	memset(body, 0, sizeof(*body));
	body->st = xcalloc(1, sizeof(struct discard));
	body->process = discard_process;
	body->close = discard_close;
	return 0;
}
