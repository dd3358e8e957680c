/*
 * metrics.c - the Prometheus exposition of a job (see metrics.h).
 *
 * Each family is written whole (HELP, TYPE, then its samples) by one
 * function, so a family's samples are never interleaved with another's,
 * which the format requires. A family with no sample yet (no Kafka sink,
 * no checkpoint restored) still has its HELP and TYPE lines, so the set
 * of names does not depend on the job's state.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_stats.h"
#include "job.h"
#include "jobinfo.h"
#include "task.h"
#include "util.h"
#include "weir/weir.h"

struct out {
	FILE *f;
	struct job *job;
	const char *name; /* the job name, every sample's first label */
};

static void family(struct out *o, const char *name, const char *type,
                   const char *help)
{
	fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped as the format asks. */
static void put_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

/* name{job="..",stage="..",task=".."} for a task's samples; suffix goes
 * after the name (_bucket and the like), extra inside the braces. */
static void task_series(struct out *o, const char *name, const char *suffix,
                        const struct task *t, const char *extra)
{
	char type[96];

	jobinfo_stage_type(o->job, t->stage, type, sizeof(type));
	fprintf(o->f, "%s%s{job=\"%s\",stage=\"%d-", name, suffix, o->name,
	        t->stage);
	put_value(o->f, type);
	fprintf(o->f, "\",task=\"%s\"%s}", t->name, extra ? extra : "");
}

/* Each task's value of a counter (relaxed atomic) per task, scaled. */
enum pick {
	PICK_IN,
	PICK_OUT,
	PICK_SKIPPED,
	PICK_BACKPRESSURE,
	PICK_IDLE,
	PICK_IN_FLIGHT,
	PICK_STATE_KEYS,
	PICK_STATE_BYTES,
};

static uint64_t pick(const struct task *t, enum pick p)
{
	switch (p) {
	case PICK_IN:
		return atomic_load_explicit(&t->n_in, memory_order_relaxed);
	case PICK_OUT:
		return atomic_load_explicit(&t->n_out, memory_order_relaxed);
	case PICK_SKIPPED:
		return atomic_load_explicit(&t->n_skipped,
		                            memory_order_relaxed);
	case PICK_BACKPRESSURE:
		return atomic_load_explicit(&t->stats.backpressure_us,
		                            memory_order_relaxed);
	case PICK_IDLE:
		return atomic_load_explicit(&t->stats.idle_us,
		                            memory_order_relaxed);
	case PICK_IN_FLIGHT: {
		int64_t n = atomic_load_explicit(&t->stats.in_flight,
		                                 memory_order_relaxed);
		return n > 0 ? (uint64_t)n : 0;
	}
	case PICK_STATE_KEYS:
		return atomic_load_explicit(&t->stats.state_keys,
		                            memory_order_relaxed);
	case PICK_STATE_BYTES:
		return atomic_load_explicit(&t->stats.state_bytes,
		                            memory_order_relaxed);
	}
	return 0;
}

/* Which tasks a per-task family covers. */
enum which { ALL_TASKS, SINKS_DELIVERING, KEYED_TASKS };

static bool covers(const struct task *t, enum which w)
{
	switch (w) {
	case ALL_TASKS:
		return true;
	case SINKS_DELIVERING:
		return t->stats.delivers;
	case KEYED_TASKS:
		return t->stats.keyed_state;
	}
	return false;
}

/* A family with one sample per task of those it covers. */
struct task_family {
	const char *name, *type, *help;
	enum pick pick;
	enum which which;
	bool us; /* the value is in microseconds, written as seconds */
};

static const struct task_family task_families_tab[] = {
    {"weir_records_in_total", "counter",
     "Records a task took in (a source: read from outside).", PICK_IN,
     ALL_TASKS, false},
    {"weir_records_out_total", "counter",
     "Records a task passed on to the next stage.", PICK_OUT, ALL_TASKS, false},
    {"weir_records_skipped_total", "counter",
     "Records a task skipped (on_error \"skip\", no usable event time, "
     "too late for a window).",
     PICK_SKIPPED, ALL_TASKS, false},
    {"weir_task_backpressure_seconds_total", "counter",
     "Time a task was blocked on a full output channel.", PICK_BACKPRESSURE,
     ALL_TASKS, true},
    {"weir_task_idle_seconds_total", "counter",
     "Time a task slept with nothing to do.", PICK_IDLE, ALL_TASKS, true},
    {"weir_sink_in_flight_records", "gauge",
     "Records a Kafka sink task produced that Kafka has not acknowledged "
     "yet.",
     PICK_IN_FLIGHT, SINKS_DELIVERING, false},
    {"weir_keyed_state_entries", "gauge",
     "Keys an operator task holds managed keyed state for (at its last "
     "checkpoint or idle moment).",
     PICK_STATE_KEYS, KEYED_TASKS, false},
    {"weir_keyed_state_bytes", "gauge",
     "Bytes of an operator task's state in the last completed checkpoint "
     "(what a restore reads).",
     PICK_STATE_BYTES, KEYED_TASKS, false},
};

static void per_task(struct out *o, const struct task_family *fam)
{
	family(o, fam->name, fam->type, fam->help);
	if (!jobinfo_graph_ready(o->job))
		return;
	for (int i = 0; i < o->job->flow.ntasks; i++) {
		const struct task *t = o->job->flow.tasks[i];
		uint64_t v;

		if (!covers(t, fam->which))
			continue;
		v = pick(t, fam->pick);
		task_series(o, fam->name, "", t, NULL);
		if (fam->us)
			fprintf(o->f, " %.6f\n", (double)v / 1e6);
		else
			fprintf(o->f, " %" PRIu64 "\n", v);
	}
}

/* The _bucket, _sum and _count samples of h; labels: before "}" of each
 * (a task's) or, with t NULL, the job's alone. */
static void hist_samples(struct out *o, const char *name, const struct task *t,
                         const struct hist_snap *h)
{
	char le[64];

	for (size_t i = 0; i <= h->n; i++) {
		if (i < h->n)
			snprintf(le, sizeof(le), ",le=\"%g\"",
			         (double)h->le_us[i] / 1e6);
		else
			snprintf(le, sizeof(le), ",le=\"+Inf\"");
		if (t)
			task_series(o, name, "_bucket", t, le);
		else
			fprintf(o->f, "%s_bucket{job=\"%s\"%s}", name, o->name,
			        le);
		fprintf(o->f, " %" PRIu64 "\n", h->cum[i]);
	}
	if (t)
		task_series(o, name, "_sum", t, NULL);
	else
		fprintf(o->f, "%s_sum{job=\"%s\"}", name, o->name);
	fprintf(o->f, " %.6f\n", (double)h->sum_us / 1e6);
	if (t)
		task_series(o, name, "_count", t, NULL);
	else
		fprintf(o->f, "%s_count{job=\"%s\"}", name, o->name);
	fprintf(o->f, " %" PRIu64 "\n", h->count);
}

static void task_families(struct out *o)
{
	for (size_t i = 0; i < NELEM(task_families_tab); i++)
		per_task(o, &task_families_tab[i]);
	family(o, "weir_sink_delivery_latency_seconds", "histogram",
	       "Time from producing a record to Kafka's acknowledgement.");
	for (int i = 0; jobinfo_graph_ready(o->job) && i < o->job->flow.ntasks;
	     i++) {
		const struct task *t = o->job->flow.tasks[i];
		struct hist_snap h;

		if (!t->stats.delivers)
			continue;
		hist_read(&t->stats.delivery, &h);
		hist_samples(o, "weir_sink_delivery_latency_seconds", t, &h);
	}
}

static void stage_families(struct out *o)
{
	family(o, "weir_event_time_watermark_seconds", "gauge",
	       "A stage's event-time watermark (the minimum over its tasks), "
	       "once every task has one.");
	for (int s = 0;
	     jobinfo_graph_ready(o->job) && s < jobinfo_nstages(o->job); s++) {
		char type[96];
		int64_t wm;

		if (!jobinfo_stage_watermark(o->job, s, &wm))
			continue;
		jobinfo_stage_type(o->job, s, type, sizeof(type));
		fprintf(o->f,
		        "weir_event_time_watermark_seconds{job=\"%s\","
		        "stage=\"%d-",
		        o->name, s);
		put_value(o->f, type);
		fprintf(o->f, "\"} %.3f\n", (double)wm / 1e3);
	}
	family(o, "weir_source_lag_records", "gauge",
	       "Records of a source partition not read yet (to the high "
	       "watermark Kafka last reported).");
	for (int i = 0; jobinfo_graph_ready(o->job) && i < o->job->flow.ntasks;
	     i++) {
		const struct task *t = o->job->flow.tasks[i];

		for (int p = 0; p < t->stats.nlag; p++) {
			int64_t n = atomic_load_explicit(
			    &t->stats.lag[p].records, memory_order_relaxed);

			if (n < 0)
				continue;
			fprintf(o->f,
			        "weir_source_lag_records{job=\"%s\",topic=\"",
			        o->name);
			put_value(o->f, o->job->cfg->source.topic);
			fprintf(o->f, "\",partition=\"%d\"} %" PRId64 "\n",
			        (int)t->stats.lag[p].partition, n);
		}
	}
}

static void checkpoint_families(struct out *o)
{
	struct ckpt_summary c;
	static const char *const results[] = {"completed", "failed", "aborted"};
	uint64_t counts[3];

	ckpt_stats_summary(o->job->stats, &c);
	counts[0] = c.completed;
	counts[1] = c.failed;
	counts[2] = c.aborted;
	family(o, "weir_checkpoints_total", "counter",
	       "Checkpoints by result: completed, failed (declined, timed "
	       "out, not written) or aborted (the job stopped first).");
	for (size_t i = 0; i < NELEM(results); i++)
		fprintf(o->f,
		        "weir_checkpoints_total{job=\"%s\",result=\"%s\"} "
		        "%" PRIu64 "\n",
		        o->name, results[i], counts[i]);
	family(o, "weir_checkpoint_duration_seconds", "histogram",
	       "Time from a checkpoint's trigger to its completion.");
	hist_samples(o, "weir_checkpoint_duration_seconds", NULL, &c.duration);
	family(o, "weir_checkpoint_size_bytes", "gauge",
	       "Bytes of the last completed checkpoint (what a restore "
	       "reads).");
	fprintf(o->f, "weir_checkpoint_size_bytes{job=\"%s\"} %" PRIu64 "\n",
	        o->name, c.last_size);
	family(o, "weir_checkpoint_alignment_seconds", "gauge",
	       "Barrier alignment of the last completed checkpoint, the "
	       "longest over its tasks.");
	fprintf(o->f, "weir_checkpoint_alignment_seconds{job=\"%s\"} %.6f\n",
	        o->name, (double)c.last_align_us / 1e6);
	family(o, "weir_checkpoint_last_completed_id", "gauge",
	       "Id of the last completed checkpoint (0: none yet).");
	fprintf(o->f,
	        "weir_checkpoint_last_completed_id{job=\"%s\"} %" PRIu64 "\n",
	        o->name, c.last_id);
	family(o, "weir_checkpoint_last_completed_timestamp_seconds", "gauge",
	       "When the last completed checkpoint completed, in seconds "
	       "since the epoch (0: none yet).");
	fprintf(o->f,
	        "weir_checkpoint_last_completed_timestamp_seconds{job=\"%s\"} "
	        "%.3f\n",
	        o->name, (double)c.last_wall_ms / 1e3);
	family(o, "weir_restore_duration_seconds", "gauge",
	       "Time the start took to find and restore a checkpoint.");
	if (c.restore_ms >= 0)
		fprintf(o->f,
		        "weir_restore_duration_seconds{job=\"%s\"} %.3f\n",
		        o->name, (double)c.restore_ms / 1e3);
	family(o, "weir_restored_checkpoint_id", "gauge",
	       "Id of the checkpoint the job restored at start (0: it "
	       "started fresh).");
	if (c.restore_ms >= 0)
		fprintf(o->f,
		        "weir_restored_checkpoint_id{job=\"%s\"} %" PRIu64 "\n",
		        o->name, c.restored_id);
}

char *metrics_format(struct job *job, const char *version, size_t *len)
{
	struct out o = {.job = job, .name = job->cfg->name};
	char *text = NULL;

	o.f = open_memstream(&text, len);
	if (!o.f)
		return NULL;
	family(&o, "weir_up", "gauge", "1 while the job's process runs.");
	fprintf(o.f, "weir_up{job=\"%s\"} 1\n", o.name);
	family(&o, "weir_build_info", "gauge",
	       "weir's version and operator API version; always 1.");
	fprintf(o.f,
	        "weir_build_info{job=\"%s\",version=\"%s\",api_version=\"%d\"}"
	        " 1\n",
	        o.name, version, WEIR_API_VERSION);
	task_families(&o);
	stage_families(&o);
	checkpoint_families(&o);
	fclose(o.f);
	return text;
}
