/*
 * generator.c - an in-memory source for tests and benchmarks: JSON log
 * records, about 100 bytes each, the same for the same partition and
 * sequence number on every run. Like Kafka partitions, its partitions are
 * spread over the source tasks and its position per partition is state,
 * so it checkpoints and restores exactly like the Kafka source, event
 * time and watermarks included (a record's time is the clock when it was
 * made, unless source.timestamp names a field).
 *
 *   {"seq":42,"level":"ERROR","service":"svc-3","msg":"request 42 done"}
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "event_time.h"
#include "util.h"

struct gpart {
	int32_t id;
	int64_t next;
};

struct gen {
	const struct job_source_cfg *cfg;
	struct gpart *parts;
	int nparts;
	int64_t start_us;
	int64_t emitted_since_start;
	struct event_time et;
};

static const char *const levels[] = {"INFO",  "INFO", "WARN", "ERROR",
                                     "DEBUG", "INFO", "INFO", "ERROR"};

static int gen_poll(struct task *t, void *st, bool *progress)
{
	struct gen *g = st;
	char val[160];
	/* One clock reading a poll: the records of a batch share it, as the
	 * records of one Kafka produce request often do. */
	int64_t stamp = now_wall_ms();

	for (int i = 0; i < g->nparts; i++) {
		struct gpart *p = &g->parts[i];
		int64_t limit = g->cfg->count < 0 ? INT64_MAX : g->cfg->count;
		int64_t room = limit - p->next;

		if (room > BATCH_RECORDS)
			room = BATCH_RECORDS;
		if (g->cfg->rate > 0) {
			/* Seconds and the rest apart: microseconds times
			 * a rate of up to 10^9 would pass INT64_MAX after
			 * 2.5 hours. */
			int64_t us = now_mono_us() - g->start_us;
			int64_t due = us / 1000000 * g->cfg->rate +
			              us % 1000000 * g->cfg->rate / 1000000 + 1;

			if (room > due - g->emitted_since_start)
				room = due - g->emitted_since_start;
			t->wait_hint_ms = 1000 / g->cfg->rate + 1;
		}
		for (int64_t k = 0; k < room; k++) {
			int64_t seq = p->next;
			uint64_t h =
			    (uint64_t)seq * 2654435761u + (uint64_t)p->id;
			struct weir_record like = {.topic = "generator",
			                           .partition = p->id,
			                           .offset = seq,
			                           .value = val,
			                           .timestamp = stamp};
			int n =
			    snprintf(val, sizeof(val),
			             "{\"seq\":%" PRId64 ",\"level\":\"%s\","
			             "\"service\":\"svc-%d\",\"msg\":\"request "
			             "%" PRId64 " done\"}",
			             seq, levels[h % 8], (int)(h % 13), seq);
			int rc;

			like.value_len = (uint32_t)n;
			rc = et_record(t, &g->et, i, &like, &like.timestamp);
			if (rc < 0 ||
			    (rc > 0 && task_emit(t, NULL, 0, val, (size_t)n,
			                         NULL, 0, 0, &like) < 0))
				return -1;
			p->next++;
			g->emitted_since_start++;
			*progress = true;
		}
		/* What it made counts as read, as a Kafka source's records
		 * do (progress line, metrics, status page). */
		if (room > 0)
			atomic_fetch_add_explicit(&t->n_in, (uint64_t)room,
			                          memory_order_relaxed);
	}
	return et_check(t, &g->et);
}

static bool gen_at_end(struct task *t, void *st)
{
	struct gen *g = st;

	(void)t;
	if (g->cfg->count < 0)
		return false;
	for (int i = 0; i < g->nparts; i++)
		if (g->parts[i].next < g->cfg->count)
			return false;
	return true;
}

static int gen_snapshot(struct task *t, void *st, uint64_t id,
                        struct weir_writer *w, char **offsets)
{
	struct gen *g = st;
	size_t len = 0, cap = 32 + (size_t)g->nparts * 32;
	char *js = xmalloc(cap);

	(void)id;
	weir_write_u64(w, (uint64_t)g->nparts);
	len += (size_t)snprintf(js, cap, "{\"generator\":{");
	for (int i = 0; i < g->nparts; i++) {
		weir_write_u64(w, (uint64_t)g->parts[i].id);
		weir_write_u64(w, (uint64_t)g->parts[i].next);
		et_write_part(&g->et, i, w);
		len += (size_t)snprintf(js + len, cap - len,
		                        "%s\"%d\":%" PRId64, i ? "," : "",
		                        (int)g->parts[i].id, g->parts[i].next);
	}
	snprintf(js + len, cap - len, "}}");
	et_write_sent(&g->et, t, w);
	*offsets = js;
	return 0;
}

static int gen_restore(struct task *t, void *st, struct weir_reader *r,
                       uint32_t version)
{
	struct gen *g = st;
	uint64_t n, id, next;

	/* Version 1 had no event time: its watermark starts at WM_MIN. */
	if ((version != 1 && version != 2) || weir_read_u64(r, &n) != WEIR_OK)
		return task_fail(t, "%s: bad generator state", t->who);
	for (uint64_t i = 0; i < n; i++) {
		int k = 0;

		if (weir_read_u64(r, &id) != WEIR_OK ||
		    weir_read_u64(r, &next) != WEIR_OK)
			return task_fail(t, "%s: generator state truncated",
			                 t->who);
		if (next > (uint64_t)JOB_MAX_GEN_COUNT)
			return task_fail(t,
			                 "%s: generator state has partition "
			                 "%" PRIu64 " at record %" PRIu64
			                 ", past "
			                 "the largest count, %lld",
			                 t->who, id, next, JOB_MAX_GEN_COUNT);
		while (k < g->nparts && g->parts[k].id != (int32_t)id)
			k++;
		if (k < g->nparts)
			g->parts[k].next = (int64_t)next;
		/* Not ours: its event time is read and dropped. */
		if (version >= 2 &&
		    (k < g->nparts ? et_read_part(&g->et, k, r)
		                   : weir_read_u64(r, &next)) != 0)
			return task_fail(t, "%s: generator state truncated",
			                 t->who);
	}
	if (version >= 2 && et_read_sent(&g->et, r) < 0)
		return task_fail(t, "%s: generator state truncated", t->who);
	return 0;
}

static void gen_close(struct task *t, void *st)
{
	struct gen *g = st;

	(void)t;
	free(g->parts);
	et_free(&g->et);
	free(g);
}

int generator_source_open(struct task *t, const struct job_source_cfg *cfg,
                          struct task_body *body, char *err, size_t errlen)
{
	struct gen *g = xcalloc(1, sizeof(*g));
	int first, step;

	(void)err;
	(void)errlen;
	/* The job file's ranges: p += step below stays an int. */
	assert(cfg->partitions >= 1 &&
	       cfg->partitions <= JOB_MAX_GEN_PARTITIONS);
	assert(cfg->rate >= 0 && cfg->rate <= JOB_MAX_GEN_RATE);
	g->cfg = cfg;
	source_partitions(cfg, t->sub, t->parallelism, &first, &step);
	for (int p = first; p < cfg->partitions; p += step)
		g->nparts++;
	g->parts =
	    xcalloc((size_t)(g->nparts ? g->nparts : 1), sizeof(*g->parts));
	for (int p = first, i = 0; p < cfg->partitions; p += step, i++)
		g->parts[i].id = p;
	g->start_us = now_mono_us();
	et_init(&g->et, &cfg->time, "generator", g->nparts);

	memset(body, 0, sizeof(*body));
	body->st = g;
	body->state_version = 2;
	body->poll = gen_poll;
	body->at_end = gen_at_end;
	body->snapshot = gen_snapshot;
	body->restore = gen_restore;
	body->close = gen_close;
	return 0;
}
