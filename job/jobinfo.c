/*
 * jobinfo.c - the JSON of GET /job and stage names (see jobinfo.h).
 */
#include "jobinfo.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_stats.h"
#include "job.h"
#include "task.h"
#include "util.h"

bool jobinfo_graph_ready(const struct job *job)
{
	return atomic_load_explicit(&job->phase, memory_order_acquire) >=
	       JOB_RESTORING;
}

int jobinfo_nstages(const struct job *job)
{
	return (int)job->cfg->nops + 2;
}

const char *jobinfo_stage_kind(const struct job *job, int stage)
{
	if (stage == 0)
		return "source";
	return stage == jobinfo_nstages(job) - 1 ? "sink" : "operator";
}

/* The first task of stage, or NULL. */
static const struct task *first_task(const struct job *job, int stage)
{
	for (int i = 0; i < job->flow.ntasks; i++)
		if (job->flow.tasks[i]->stage == stage)
			return job->flow.tasks[i];
	return NULL;
}

void jobinfo_stage_type(const struct job *job, int stage, char *buf, size_t len)
{
	const struct job_cfg *cfg = job->cfg;
	const struct task *t;
	const char *name, *end;

	if (stage == 0) {
		snprintf(buf, len, "%s",
		         cfg->source.type == SOURCE_KAFKA ? "kafka"
		                                          : "generator");
		return;
	}
	if (stage == jobinfo_nstages(job) - 1) {
		snprintf(buf, len, "%s",
		         cfg->sink.type == SINK_KAFKA ? "kafka" : "discard");
		return;
	}
	if (strcmp(cfg->ops[stage - 1].type, "plugin") != 0) {
		snprintf(buf, len, "%s", cfg->ops[stage - 1].type);
		return;
	}
	/* A plugin's task is named "op<k>-NAME-<i>" after the name its
	 * table gives (job.c). */
	t = jobinfo_graph_ready(job) ? first_task(job, stage) : NULL;
	name = t ? strchr(t->name, '-') : NULL;
	end = name ? strrchr(t->name, '-') : NULL;
	if (!name || end <= name) {
		snprintf(buf, len, "plugin");
		return;
	}
	snprintf(buf, len, "plugin:%.*s", (int)(end - name - 1), name + 1);
}

bool jobinfo_stage_watermark(const struct job *job, int stage, int64_t *ms)
{
	int64_t min = WM_END;
	bool any = false;

	for (int i = 0; i < job->flow.ntasks; i++) {
		const struct task *t = job->flow.tasks[i];
		int64_t wm;

		if (t->stage != stage)
			continue;
		wm = atomic_load_explicit(&t->stats.wm, memory_order_relaxed);
		if (wm == WM_MIN)
			return false;
		any = true;
		if (wm < min)
			min = wm;
	}
	if (!any || min == WM_END)
		return false;
	*ms = min;
	return true;
}

static json_t *stage_json(const struct job *job, int stage)
{
	uint64_t in = 0, out = 0, skipped = 0, bp_us = 0, idle_us = 0;
	char type[96];
	int par = 0;
	int64_t wm;

	for (int i = 0; i < job->flow.ntasks; i++) {
		struct task *t = job->flow.tasks[i];

		if (t->stage != stage)
			continue;
		par++;
		in += atomic_load_explicit(&t->n_in, memory_order_relaxed);
		out += atomic_load_explicit(&t->n_out, memory_order_relaxed);
		skipped +=
		    atomic_load_explicit(&t->n_skipped, memory_order_relaxed);
		bp_us += atomic_load_explicit(&t->stats.backpressure_us,
		                              memory_order_relaxed);
		idle_us += atomic_load_explicit(&t->stats.idle_us,
		                                memory_order_relaxed);
	}
	jobinfo_stage_type(job, stage, type, sizeof(type));
	return json_pack(
	    "{s:i, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:o}", "stage",
	    stage, "kind", jobinfo_stage_kind(job, stage), "type", type,
	    "parallelism", par, "records_in", (json_int_t)in, "records_out",
	    (json_int_t)out, "records_skipped", (json_int_t)skipped,
	    "backpressure_ms", (json_int_t)(bp_us / 1000), "idle_ms",
	    (json_int_t)(idle_us / 1000), "watermark_ms",
	    jobinfo_stage_watermark(job, stage, &wm)
	        ? json_integer((json_int_t)wm)
	        : json_null());
}

static json_t *lag_json(const struct job *job)
{
	json_t *lag = json_array();

	for (int i = 0; i < job->flow.ntasks; i++) {
		const struct task *t = job->flow.tasks[i];

		for (int p = 0; p < t->stats.nlag; p++) {
			int64_t n = atomic_load_explicit(
			    &t->stats.lag[p].records, memory_order_relaxed);

			json_array_append_new(
			    lag,
			    json_pack("{s:s, s:i, s:o}", "topic",
			              job->cfg->source.topic, "partition",
			              (int)t->stats.lag[p].partition, "lag",
			              n < 0 ? json_null()
			                    : json_integer((json_int_t)n)));
		}
	}
	return lag;
}

char *jobinfo_json(struct job *job)
{
	json_t *stages = json_array(), *edges = json_array(), *lag, *root,
	       *restored;
	char *text, *rtext;

	if (jobinfo_graph_ready(job)) {
		for (int s = 0; s < jobinfo_nstages(job); s++) {
			json_array_append_new(stages, stage_json(job, s));
			if (s > 0)
				json_array_append_new(
				    edges, json_pack("[i, i]", s - 1, s));
		}
		lag = lag_json(job);
	} else {
		lag = json_array();
	}
	rtext = ckpt_stats_restored_json(job->stats);
	restored = json_loads(rtext, JSON_DECODE_ANY, NULL);
	free(rtext);
	root = json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o}", "job",
	                 job->cfg->name, "status", job_status(job), "uptime_ms",
	                 (json_int_t)(now_mono_ms() - job->begin_mono_ms),
	                 "now_ms", (json_int_t)now_wall_ms(), "stages", stages,
	                 "edges", edges, "lag", lag, "restored",
	                 restored ? restored : json_null());
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}
