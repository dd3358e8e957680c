/*
 * job.c - builds a job from its configuration and runs it (see job.h).
 *
 * The graph is a line of stages: the source, each operator, the sink. Two
 * neighbouring stages of equal parallelism are joined task to task when the
 * downstream stage is not keyed; otherwise every upstream task has a
 * channel to every downstream task, and picks one per record by key group
 * (keyed stage) or by source partition (so that each source partition's
 * records stay in order on one path).
 */
#include "job.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_stats.h"
#include "connectors.h"
#include "coordinator.h"
#include "dead_letter.h"
#include "instance_dir.h"
#include "keyfield.h"
#include "log.h"
#include "opctx.h"
#include "progress.h"
#include "registry.h"
#include "restore.h"
#include "store.h"
#include "task.h"
#include "persister.h"

/* --- validation ------------------------------------------------------------ */

static const char *dead_letter_brokers(const struct job_cfg *cfg)
{
	if (cfg->sink.type == SINK_KAFKA)
		return cfg->sink.brokers;
	if (cfg->source.type == SOURCE_KAFKA)
		return cfg->source.brokers;
	return NULL;
}

/* Replay with de-duplication is exact when, for every source partition,
 * the records reach the sink in lineage order and a replay computes the
 * same records: per-record operators, and keyed ones only when their key
 * never mixes source partitions and a single task sees each partition. */
/* What keeps operators[i] from exactly-once by de-duplication, which
 * needs a replay to compute the same records from each source partition
 * as the first run did, in the same order. */
enum dedup_blocker {
	DEDUP_OK,
	DEDUP_KEYED_PARALLEL, /* one partition spread over several tasks */
	DEDUP_KEYED_MIXED,    /* a key combines several partitions */
	DEDUP_WINDOW,         /* results come when the watermark moves */
};

static enum dedup_blocker dedup_blocker(const struct job_cfg *cfg, size_t i)
{
	const struct job_op_cfg *oc = &cfg->ops[i];
	const char *pb = cfg->source.partitioned_by;

	if (oc->type && !strcmp(oc->type, "window"))
		return DEDUP_WINDOW;
	if (!oc->key_field)
		return DEDUP_OK;
	if (oc->parallelism > 1)
		return DEDUP_KEYED_PARALLEL;
	if (!pb || strcmp(pb, oc->key_field) != 0)
		return DEDUP_KEYED_MIXED;
	return DEDUP_OK;
}

static void validate_exactly_once(const struct job_cfg *cfg,
                                  struct errlist *errs)
{
	/* Transactions need no determinism, only checkpoints to commit at. */
	if (cfg->sink.exactly_once == EXACTLY_ONCE_TRANSACTIONS) {
		if (cfg->checkpoint.interval_ms == 0)
			errlist_add(
			    errs,
			    "sink.exactly_once: \"transactions\" commits "
			    "the output when a checkpoint completes, but "
			    "checkpoint.interval_ms is 0, so nothing would "
			    "be visible to read_committed readers before "
			    "the job stops. Set checkpoint.interval_ms "
			    "(e.g. 1000)");
		return;
	}
	for (size_t i = 0; i < cfg->nops; i++) {
		const struct job_op_cfg *oc = &cfg->ops[i];

		switch (dedup_blocker(cfg, i)) {
		case DEDUP_OK:
			break;
		case DEDUP_WINDOW:
			errlist_add(
			    errs,
			    "sink.delivery: exactly-once by de-duplication "
			    "needs a replay after a crash to compute the "
			    "same records from each source partition, but "
			    "operators[%zu] (window) emits its results when "
			    "the watermark passes a window's end, not as "
			    "outputs of one source record, and the "
			    "watermark combines every source partition, "
			    "whose interleaving differs from run to run. "
			    "Use \"exactly_once\": \"transactions\" in "
			    "the sink (always possible, with "
			    "checkpoint.interval_ms > 0), or \"delivery\": "
			    "\"at-least-once\"",
			    i);
			break;
		case DEDUP_KEYED_PARALLEL:
			errlist_add(
			    errs,
			    "sink.delivery: exactly-once needs each "
			    "source partition's records to reach the "
			    "sink in order, but operators[%zu] (%s) is "
			    "keyed with parallelism %d, which spreads one "
			    "partition over %d tasks. Give it parallelism "
			    "1, or use \"delivery\": \"at-least-once\"",
			    i, oc->type, oc->parallelism, oc->parallelism);
			break;
		case DEDUP_KEYED_MIXED:
			errlist_add(
			    errs,
			    "sink.delivery: exactly-once needs a replay "
			    "after a crash to compute the same records, "
			    "but operators[%zu] (%s, key \"%s\") combines "
			    "records of different source partitions, whose "
			    "interleaving differs from run to run. If all "
			    "records with one \"%s\" are in one partition "
			    "of the source topic (the producer keys by it), "
			    "declare it: \"source\": {\"partitioned_by\": "
			    "\"%s\"}. Otherwise use \"delivery\": "
			    "\"at-least-once\"",
			    i, oc->type, oc->key_field, oc->key_field,
			    oc->key_field);
			break;
		}
	}
}

char *job_delivery_text(const struct job_cfg *cfg)
{
	static const char *const why[] = {
	    [DEDUP_KEYED_PARALLEL] = "is keyed with parallelism > 1, which "
	                             "spreads one source partition over "
	                             "several tasks",
	    [DEDUP_KEYED_MIXED] = "combines records of several source "
	                          "partitions by its key (declare "
	                          "source.partitioned_by if the topic is "
	                          "partitioned by it)",
	    [DEDUP_WINDOW] = "emits when the watermark, which combines every "
	                     "source partition, passes a window's end",
	};
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	bool dedup = true;

	if (!f)
		return xstrdup("delivery: (out of memory)");

	if (cfg->sink.type != SINK_KAFKA) {
		fprintf(f,
		        "delivery: the sink discards its records, so delivery "
		        "modes do not apply.");
		fclose(f);
		return s;
	}
	fprintf(f,
	        "delivery: at-least-once is always possible. Exactly-once by "
	        "transactions is always possible too (it needs "
	        "checkpoint.interval_ms > 0%s). Exactly-once by "
	        "de-duplication ",
	        cfg->checkpoint.interval_ms > 0 ? ", which this job has"
	                                        : ", which this job lacks");
	for (size_t i = 0; i < cfg->nops; i++) {
		enum dedup_blocker b = dedup_blocker(cfg, i);

		if (b == DEDUP_OK)
			continue;
		fprintf(f, "%s operators[%zu] (%s) %s", dedup ? "is not:" : ";",
		        i, cfg->ops[i].type, why[b]);
		dedup = false;
	}
	if (dedup)
		fprintf(f, "is possible: each source partition's records reach "
		           "the sink in an order a replay repeats.");
	else
		fprintf(f, ", so a replay after a crash could compute other "
		           "records.");
	fprintf(f, " This job asks for %s.",
	        cfg->sink.delivery == DELIVERY_AT_LEAST_ONCE ? "at-least-once"
	        : cfg->sink.exactly_once == EXACTLY_ONCE_TRANSACTIONS
	            ? "exactly-once by transactions"
	            : "exactly-once by de-duplication");
	fclose(f);
	return s;
}

/* With several instances each sees only its own source partitions: a
 * keyed operator's state is whole only when every record of a key is in
 * one partition, hence in one instance. */
static void validate_instances(const struct job_cfg *cfg, struct errlist *errs)
{
	const char *pb = cfg->source.partitioned_by;
	int n = cfg->instance.count;

	if (n <= 1)
		return;
	for (size_t i = 0; i < cfg->nops; i++) {
		const struct job_op_cfg *oc = &cfg->ops[i];

		if (oc->one_key)
			errlist_add(
			    errs,
			    "instance: operators[%zu] (%s) has no key, so it "
			    "keeps one state over all records, which %d "
			    "instances would split into %d partial ones. "
			    "Give it a \"key\" that the source topic is "
			    "partitioned by (and declare it as "
			    "source.partitioned_by), or run the job as one "
			    "instance",
			    i, oc->type, n, n);
		else if (oc->key_field &&
		         (!pb || strcmp(pb, oc->key_field) != 0))
			errlist_add(
			    errs,
			    "instance: %d instances each read only their own "
			    "source partitions (p %% %d == index), but "
			    "operators[%zu] (%s, key \"%s\") keeps state "
			    "per key, which is whole only if all records of "
			    "a key are in one partition. If all records with "
			    "one \"%s\" are in one partition of the source "
			    "topic (the producer keys by it), declare it: "
			    "\"source\": {\"partitioned_by\": \"%s\"}. "
			    "Otherwise run the job as one instance",
			    n, n, i, oc->type, oc->key_field, oc->key_field,
			    oc->key_field);
	}
}

int job_validate(const struct job_cfg *cfg, struct errlist *errs)
{
	size_t before = errs->n;

	validate_instances(cfg, errs);
	if (cfg->sink.type == SINK_KAFKA &&
	    cfg->sink.delivery == DELIVERY_EXACTLY_ONCE)
		validate_exactly_once(cfg, errs);
	for (size_t i = 0; i < cfg->nops; i++) {
		const struct job_op_cfg *oc = &cfg->ops[i];
		char path[32];
		weir_operator_t op;
		struct weir_ctx *ctx;

		snprintf(path, sizeof(path), "operators[%zu]", i);
		/* A partly read job file: what did not parse was reported. */
		if (!oc->type || !oc->config_json ||
		    (!strcmp(oc->type, "plugin") && !oc->library))
			continue;
		if (oc->on_error == ON_ERROR_DEAD_LETTER &&
		    !dead_letter_brokers(cfg))
			errlist_add(
			    errs,
			    "%s.on_error: \"dead-letter\" writes to Kafka, "
			    "but neither the source nor the sink is Kafka, "
			    "so there is no broker to write to",
			    path);
		if (registry_find(oc, path, errs, &op) < 0)
			continue;
		ctx = opctx_new(&op, oc, (int)i, NULL, NULL);
		opctx_open(ctx, errs);
		opctx_free(ctx);
	}
	return errs->n > before ? -1 : 0;
}

/* What a window's state depends on: its windows, allowed lateness and
 * aggregates (fn and field; not the output names). State kept under one
 * of these read under another would be wrong results and windows never
 * deleted, so it is part of the fingerprint. Compact JSON, keys sorted. */
static char *window_shape(const char *config_json)
{
	json_t *cfg = json_loads(config_json, 0, NULL);
	json_t *aggs = json_object_get(cfg, "aggregates"), *a, *shape;
	json_t *win = json_object_get(cfg, "window");
	json_t *late = json_object_get(cfg, "allowed_lateness_ms");
	json_t *out = json_array();
	size_t k;
	char *s;

	/* Leaving "aggregates" out is [{"fn": "count"}]. */
	if (!aggs)
		json_array_append_new(out, json_pack("[sn]", "count"));
	json_array_foreach(aggs, k, a) {
		json_t *fn = json_object_get(a, "fn");
		json_t *field = json_object_get(a, "field");

		json_array_append_new(out,
		                      json_pack("[OO]", fn ? fn : json_null(),
		                                field ? field : json_null()));
	}
	shape = json_pack("{sOsosO}", "window", win ? win : json_null(),
	                  "allowed_lateness_ms",
	                  late ? json_incref(late) : json_integer(0),
	                  "aggregates", out);
	s = shape ? json_dumps(shape, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(shape);
	json_decref(out);
	json_decref(cfg);
	return s ? s : xstrdup("?");
}

char *job_fingerprint(const struct job_cfg *cfg)
{
	size_t cap = 256, len = 0;
	char *s = xmalloc(cap);

#define APPEND(...)                                                            \
	do {                                                                   \
		int n_ = snprintf(s + len, cap - len, __VA_ARGS__);            \
		if ((size_t)n_ >= cap - len) {                                 \
			cap = (len + (size_t)n_) * 2;                          \
			s = xrealloc(s, cap);                                  \
			n_ = snprintf(s + len, cap - len, __VA_ARGS__);        \
		}                                                              \
		len += (size_t)n_;                                             \
	} while (0)

	if (cfg->source.type == SOURCE_KAFKA)
		APPEND("source=kafka:%s x%d", cfg->source.topic,
		       cfg->source.parallelism);
	else
		APPEND("source=generator x%d", cfg->source.parallelism);
	/* A keyed operator's parallelism is not part of it: its state is
	 * split by key group and follows its keys to any parallelism. */
	for (size_t i = 0; i < cfg->nops; i++) {
		APPEND(" | %s", cfg->ops[i].type);
		if (cfg->ops[i].key_field)
			APPEND("(key=%s)", cfg->ops[i].key_field);
		else
			APPEND(" x%d", cfg->ops[i].parallelism);
		if (cfg->ops[i].config_json && cfg->ops[i].type &&
		    !strcmp(cfg->ops[i].type, "window")) {
			char *w = window_shape(cfg->ops[i].config_json);

			APPEND("%s", w);
			free(w);
		}
	}
	if (cfg->sink.type == SINK_KAFKA)
		APPEND(" | sink=kafka:%s x%d", cfg->sink.topic,
		       cfg->sink.parallelism);
	else
		APPEND(" | sink=discard x%d", cfg->sink.parallelism);
#undef APPEND
	return s;
}

/* --- failure and lifecycle ------------------------------------------------ */

/* Says what starting is doing, for a signal that interrupts it. */
static void set_step(struct job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_step(struct job *job, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&job->mu);
	va_start(ap, fmt);
	vsnprintf(job->step, sizeof(job->step), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&job->mu);
}

void job_fail(struct job *job, const char *msg)
{
	flow_fail(&job->flow, msg);
}

bool job_stopping(const struct job *job)
{
	return flow_stopping(&job->flow);
}

const char *job_status(const struct job *job)
{
	int phase = atomic_load_explicit(&job->phase, memory_order_acquire);

	if (job_stopping(job))
		return "failed";
	/* nsources is read only once the graph is built (phase). */
	if (phase == JOB_STARTING)
		return "starting";
	if (atomic_load(&job->stop_requested) ||
	    (job->flow.nsources > 0 &&
	     atomic_load(&job->flow.sources_ended) >= job->flow.nsources) ||
	    atomic_load(&job->flow.finished))
		return "stopping";
	return phase == JOB_RESTORING ? "restoring" : "running";
}

const char *job_error(struct job *job)
{
	return job->flow.fail_msg;
}

/* --- building ----------------------------------------------------------------- */

struct stage {
	int first; /* index of its first task in the flow */
	int parallelism;
	const char *key_field; /* keyed stage: its key; NULL: not keyed */
};

/* Joins stage a to stage b (b = a + 1); a keyed b makes a's tasks route
 * by its key field, read once with their operator's input (ctx_of). */
static void connect_stages(struct job *job, const struct stage *a,
                           const struct stage *b, bool ctx_of)
{
	flow_connect(&job->flow, a->first, a->parallelism, b->first,
	             b->parallelism, b->key_field != NULL);
	for (int i = 0; i < a->parallelism; i++)
		job->flow.tasks[a->first + i]->part_stride =
		    job->cfg->instance.count;
	for (int i = 0; b->key_field && i < a->parallelism; i++) {
		struct task *up = job->flow.tasks[a->first + i];

		if (up->nout > 1)
			keyfield_route(up, b->key_field,
			               ctx_of ? up->body.st : NULL);
	}
}

void job_connect(struct job *job, int first_a, int par_a, int first_b,
                 int par_b, const char *key_field)
{
	struct stage a = {first_a, par_a, NULL};
	struct stage b = {first_b, par_b, key_field};

	connect_stages(job, &a, &b, false);
}

struct task *job_add_task(struct job *job, int stage, int sub, int par,
                          const char *name, const char *who)
{
	return flow_add_task(&job->flow, stage, sub, par, name, who);
}

/* Dead letters of an operator, through the operator adapter's interface
 * (api/ knows no Kafka). */
static int dl_send(void *arg, const struct weir_record *rec, const char *who,
                   const char *why, char *err, size_t errlen)
{
	return dlq_send(arg, rec, who, why, err, errlen);
}

static int dl_flush(void *arg, struct task *t, char *err, size_t errlen)
{
	return dlq_flush(arg, t, err, errlen);
}

static void dl_free(void *arg)
{
	dlq_free(arg);
}

/* Says which of the source's partitions this instance (of several)
 * reads, and which instances have none. Returns how many it reads. */
static int log_instance_share(const struct job_cfg *cfg, int partitions)
{
	const char *topic =
	    cfg->source.topic ? cfg->source.topic : "the generator";
	int i = cfg->instance.index, n = cfg->instance.count;
	int owned = partitions > i ? (partitions - 1 - i) / n + 1 : 0;

	if (n == 1)
		return partitions;
	if (owned > 0)
		log_info("job",
		         "instance %d of %d: reading %d of the %d partition(s) "
		         "of %s (p %% %d == %d)",
		         i, n, owned, partitions, topic, n, i);
	if (partitions < n)
		log_warn("job",
		         "%s has %d partition(s) for %d instances: instance(s) "
		         "%d to %d own none and stay idle%s. Run at most as "
		         "many instances as the topic has partitions",
		         topic, partitions, n, partitions, n - 1,
		         owned ? ""
		               : ", this one included: it reads nothing, "
		                 "writes nothing and holds no other "
		                 "instance back");
	return owned;
}

static int build_graph(struct job *job, struct errlist *errs)
{
	struct job_cfg *cfg = job->cfg;
	int nstages = (int)cfg->nops + 2;
	struct stage *stages = xcalloc((size_t)nstages, sizeof(*stages));
	char name[64], who[96], err[1024];
	int src_parts = 0, owned, rc = -1;

	/* Source. */
	if (cfg->source.type == SOURCE_KAFKA) {
		if (kafka_probe("source", cfg->source.brokers,
		                &cfg->source.properties, cfg->source.topic,
		                &src_parts, err, sizeof(err)) < 0) {
			errlist_add(errs, "%s", err);
			goto out;
		}
	} else {
		src_parts = cfg->source.partitions;
	}
	stages[0].parallelism = cfg->source.parallelism;
	for (int i = 0; i < cfg->source.parallelism; i++) {
		struct task *t;

		snprintf(name, sizeof(name), "source-%d", i);
		snprintf(who, sizeof(who), "source#%d", i);
		t = job_add_task(job, 0, i, cfg->source.parallelism, name, who);
		if ((cfg->source.type == SOURCE_KAFKA
		         ? kafka_source_open(t, &cfg->source, src_parts,
		                             &t->body, err, sizeof(err))
		         : generator_source_open(t, &cfg->source, &t->body, err,
		                                 sizeof(err))) < 0) {
			errlist_add(errs, "%s", err);
			goto out;
		}
	}
	job->flow.nsources = cfg->source.parallelism;
	owned = log_instance_share(cfg, src_parts);
	if (owned < cfg->source.parallelism)
		log_warn(
		    "job",
		    "source.parallelism is %d but %s has %d partition(s)%s: "
		    "%d source task(s) will have nothing to read",
		    cfg->source.parallelism,
		    cfg->source.topic ? cfg->source.topic : "the generator",
		    owned, cfg->instance.count > 1 ? " for this instance" : "",
		    cfg->source.parallelism - owned);

	/* Operators. */
	for (size_t k = 0; k < cfg->nops; k++) {
		struct job_op_cfg *oc = &cfg->ops[k];
		struct stage *st = &stages[k + 1];
		weir_operator_t op;
		char path[32];

		snprintf(path, sizeof(path), "operators[%zu]", k);
		if (registry_find(oc, path, errs, &op) < 0)
			goto out;
		st->first = job->flow.ntasks;
		st->parallelism = oc->parallelism;
		st->key_field = oc->key_field;
		for (int i = 0; i < oc->parallelism; i++) {
			struct opctx_dead_letters dl = {0};
			struct weir_ctx *ctx;
			struct task *t;

			snprintf(name, sizeof(name), "op%zu-%s-%d", k, op.name,
			         i);
			snprintf(who, sizeof(who), "%s %s#%d", path, op.name,
			         i);
			t = job_add_task(job, (int)k + 1, i, oc->parallelism,
			                 name, who);
			if (oc->on_error == ON_ERROR_DEAD_LETTER) {
				char what[64];

				snprintf(what, sizeof(what),
				         "%s.dead_letter_topic", path);
				dl.arg = dlq_new(what, dead_letter_brokers(cfg),
				                 oc->dead_letter_topic, NULL,
				                 err, sizeof(err));
				if (!dl.arg) {
					errlist_add(errs, "%s", err);
					goto out;
				}
				dl.send = dl_send;
				dl.flush = dl_flush;
				dl.free = dl_free;
			}
			/* Its managed keyed state moves by key group. */
			t->keyed = oc->key_field != NULL || oc->one_key;
			ctx = opctx_new(&op, oc, (int)k, t, &dl);
			if (cfg->sink.type == SINK_KAFKA &&
			    cfg->sink.delivery == DELIVERY_EXACTLY_ONCE &&
			    cfg->sink.exactly_once == EXACTLY_ONCE_DEDUP)
				opctx_forbid_timer_emit(
				    ctx,
				    "the sink's \"delivery\": "
				    "\"exactly-once\" with \"exactly_once\": "
				    "\"dedup\"");
			opctx_set_checkpoints(
			    ctx, job->cfg->checkpoint.incremental,
			    job->cfg->checkpoint.materialize_delta_pct);
			if (opctx_open(ctx, errs) < 0) {
				opctx_free(ctx);
				goto out;
			}
			opctx_bind(ctx, &t->body);
		}
	}

	/* Sink. */
	stages[nstages - 1].first = job->flow.ntasks;
	stages[nstages - 1].parallelism = cfg->sink.parallelism;
	for (int i = 0; i < cfg->sink.parallelism; i++) {
		struct task *t;

		snprintf(name, sizeof(name), "sink-%d", i);
		snprintf(who, sizeof(who), "sink#%d", i);
		t = job_add_task(job, nstages - 1, i, cfg->sink.parallelism,
		                 name, who);
		if ((cfg->sink.type == SINK_KAFKA
		         ? kafka_sink_open(
		               t, &cfg->sink, &cfg->checkpoint, cfg->name,
		               cfg->source.topic ? cfg->source.topic
		                                 : "generator",
		               src_parts, &t->body, err, sizeof(err))
		         : discard_sink_open(t, &cfg->sink, &t->body, err,
		                             sizeof(err))) < 0) {
			errlist_add(errs, "%s", err);
			goto out;
		}
	}
	for (int s = 0; s + 1 < nstages; s++)
		connect_stages(job, &stages[s], &stages[s + 1], s > 0);
	rc = 0;
out:
	free(stages);
	return rc;
}

/* --- checkpoint hooks ------------------------------------------------------- */

/* The flow's hooks (core/flow.h), wired to the snapshot persister and the
 * coordinator. */
static void hook_submit(void *arg, struct task *t, uint64_t id,
                        uint32_t state_version, char *bytes, size_t len,
                        char *offsets, const struct snap_tail *tail)
{
	struct job *job = arg;

	ckpt_persister_submit(job->persister, id, t->index, t->name,
	                      state_version, bytes, len, offsets, tail);
}

static void hook_ack(void *arg, struct task *t, uint64_t id)
{
	struct job *job = arg;

	coord_ack(job->coord, id, t->index, NULL, NULL, NULL);
}

static void hook_failed(void *arg)
{
	struct job *job = arg;

	if (job->coord)
		coord_wake(job->coord);
}

static void hook_sources_ended(void *arg)
{
	struct job *job = arg;

	coord_request_final(job->coord);
}

static void restore_step(void *arg, const char *what)
{
	set_step(arg, "%s", what);
}

/* --- public ---------------------------------------------------------------- */

struct job *job_alloc(struct job_cfg *cfg)
{
	struct job *job = xcalloc(1, sizeof(*job));

	job->cfg = cfg;
	flow_init(&job->flow);
	job->flow.hooks = (struct flow_hooks){
	    hook_submit, hook_ack, hook_failed, hook_sources_ended, job};
	pthread_mutex_init(&job->mu, NULL);
	job->fingerprint = job_fingerprint(cfg);
	job->stats = ckpt_stats_new();
	atomic_init(&job->phase, JOB_STARTING);
	atomic_init(&job->stop_requested, false);
	job->begin_mono_ms = now_mono_ms();
	job->begin_wall_ms = now_wall_ms();
	job->starting = true;
	snprintf(job->step, sizeof(job->step), "checking the job");
	return job;
}

static int open_store(struct job *job, struct errlist *errs)
{
	char err[1024];

	job->store = ckpt_store_open(job->cfg->checkpoint.dir, job->io, err,
	                             sizeof(err));
	if (!job->store) {
		errlist_add(errs, "checkpoint.dir: %s", err);
		return -1;
	}
	if (ckpt_store_lock(job->store, err, sizeof(err)) < 0) {
		errlist_add(errs, "%s", err);
		return -1;
	}
	return 0;
}

/* What the restore at start did, for the HTTP endpoint. */
static void record_restore(struct job *job, int64_t ms)
{
	uint64_t id = job->flow.restored_id;
	/* --from names the checkpoint or savepoint itself. */
	char *path = job->from
	                 ? xstrdup(job->from)
	                 : xasprintf("%s/chk-%llu", job->cfg->checkpoint.dir,
	                             (unsigned long long)id);

	ckpt_stats_restored(job->stats, id, path, ms, now_wall_ms());
	free(path);
}

int job_prepare(struct job *job, struct errlist *errs)
{
	struct ckpt_restore rs = {.flow = &job->flow,
	                          .dir = job->cfg->checkpoint.dir,
	                          .job_name = job->cfg->name,
	                          .fingerprint = job->fingerprint,
	                          .instance = &job->cfg->instance,
	                          .step = restore_step,
	                          .arg = job};
	uint64_t next_id = 1;
	int64_t t0;
	int rc = -1;
	char err[1024];

	if (!job->store && open_store(job, errs) < 0)
		return -1;
	/* The graph is complete: the HTTP thread may read the tasks. */
	atomic_store_explicit(&job->phase, JOB_RESTORING, memory_order_release);
	rs.store = job->store;
	if (job->from) {
		rs.from_path = job->from;
		rs.from = ckpt_store_open_one(job->from, false, job->io,
		                              &rs.from_id, err, sizeof(err));
		if (!rs.from) {
			errlist_add(errs, "--from: %s", err);
			return -1;
		}
	}
	/* Incremental keyed state goes on from the chain it was restored
	 * from, so the first checkpoint after a restart writes a delta, not
	 * the whole state again; after --from it shares nothing with the
	 * checkpoint it started from, and writes a base. */
	if (job->cfg->checkpoint.incremental && !rs.from)
		rs.chains =
		    xcalloc((size_t)job->flow.ntasks + 1, sizeof(*rs.chains));
	if (rs.from)
		set_step(job, "restoring from %s", job->from);
	else
		set_step(job, "looking for a checkpoint to restore in %s",
		         job->cfg->checkpoint.dir);
	t0 = now_mono_ms();
	if (ckpt_restore(&rs, &next_id, errs) < 0)
		goto out;
	record_restore(job, now_mono_ms() - t0);
	job->coord =
	    coord_new(&job->flow, &job->cfg->checkpoint, job->cfg->name,
	              job->fingerprint, job->store, next_id);
	coord_set_stats(job->coord, job->stats);
	job->persister = ckpt_persister_new(job->store, job->coord, &job->flow);
	coord_set_persister(job->coord, job->persister);
	for (int i = 0; rs.chains && job->persister && i < job->flow.ntasks;
	     i++)
		ckpt_persister_adopt(job->persister, i, &rs.chains[i]);
	rc = 0;
out:
	for (int i = 0; rs.chains && i < job->flow.ntasks; i++)
		ckpt_chain_clear(&rs.chains[i]);
	free(rs.chains);
	ckpt_store_close(rs.from);
	return rc;
}

/* An instance of several keeps its checkpoints in a directory of its own
 * inside checkpoint.dir, which from here on names that one. */
static int use_instance_dir(struct job *job, struct errlist *errs)
{
	struct job_ckpt_cfg *c = &job->cfg->checkpoint;
	char err[1024], *dir;

	if (ckpt_instance_check(c->dir, &job->cfg->instance, job->io, err,
	                        sizeof(err)) < 0) {
		errlist_add(errs, "%s", err);
		return -1;
	}
	dir = ckpt_instance_dir(c->dir, &job->cfg->instance);
	free(c->dir);
	c->dir = dir;
	return 0;
}

int job_build(struct job *job, struct errlist *errs)
{
	/* The lock first: a second run on the same directory fails before
	 * it reaches out to Kafka. */
	set_step(job, "opening checkpoint.dir %s", job->cfg->checkpoint.dir);
	if (use_instance_dir(job, errs) < 0 || open_store(job, errs) < 0)
		return -1;
	set_step(job, "opening the source, operators and sink (reaching "
	              "Kafka)");
	if (build_graph(job, errs) < 0)
		return -1;
	return job_prepare(job, errs);
}

struct job *job_new(struct job_cfg *cfg, struct errlist *errs)
{
	struct job *job = job_alloc(cfg);

	if (job_build(job, errs) < 0) {
		job_free(job);
		return NULL;
	}
	return job;
}

int job_start(struct job *job)
{
	struct flow *f = &job->flow;

	log_info("job", "%s: %d tasks: %s; checkpoints every %lld ms in %s",
	         job->cfg->name, f->ntasks, job->fingerprint,
	         (long long)job->cfg->checkpoint.interval_ms,
	         job->cfg->checkpoint.dir);
	set_step(job, "starting the tasks");
	for (int i = 0; i < f->ntasks; i++) {
		struct task *t = f->tasks[i];

		if (t->body.start && t->body.start(t, t->body.st) < 0)
			return -1;
	}
	/* From here a signal stops the job gracefully. */
	pthread_mutex_lock(&job->mu);
	job->starting = false;
	pthread_mutex_unlock(&job->mu);
	/* Downstream first, so that nothing waits on a task not yet
	 * running. */
	for (int i = f->ntasks - 1; i >= 0; i--) {
		pthread_mutex_lock(&f->mu);
		f->running++;
		pthread_mutex_unlock(&f->mu);
		if (task_start(f->tasks[i]) < 0) {
			flow_task_exited(f);
			job_fail(job, "cannot start a task thread");
			return -1;
		}
	}
	if (coord_start(job->coord) < 0) {
		job_fail(job, "cannot start the checkpoint coordinator");
		return -1;
	}
	atomic_store_explicit(&job->phase, JOB_RUNNING, memory_order_release);
	return 0;
}

void job_request_stop(struct job *job)
{
	atomic_store(&job->stop_requested, true);
	coord_request_final(job->coord);
}

void job_signal_stop(struct job *job, const char *signal_name)
{
	pthread_mutex_lock(&job->mu);
	if (job->starting) {
		/* job->mu stays held: the job cannot start its tasks before
		 * the process is gone. */
		log_info("job",
		         "%s while %s: stopped before the job ran; "
		         "nothing was processed and the checkpoints in %s are "
		         "as they were",
		         signal_name, job->step, job->cfg->checkpoint.dir);
		_exit(0);
	}
	pthread_mutex_unlock(&job->mu);
	log_info("job",
	         "%s: stopping with a final checkpoint (send it again "
	         "to exit at once)",
	         signal_name);
	job_request_stop(job);
}

int job_wait(struct job *job)
{
	struct flow *f = &job->flow;
	int64_t every = job->cfg->progress_interval_ms;
	struct progress pr;
	struct timespec due;
	char line[1024];
	int rc;

	progress_start(&pr, job);
	pthread_mutex_lock(&f->mu);
	while (f->running > 0) {
		if (every <= 0) {
			pthread_cond_wait(&f->done_cv, &f->mu);
			continue;
		}
		/* From now, not from the last due time: a late line (a busy
		 * machine) is not followed by a burst. */
		due = mono_deadline(now_mono_ms() + every);
		rc = 0;
		while (f->running > 0 && rc == 0)
			rc = pthread_cond_timedwait(&f->done_cv, &f->mu, &due);
		if (rc != ETIMEDOUT && f->running > 0) {
			/* Cannot happen with a valid deadline; never spin. */
			pthread_cond_wait(&f->done_cv, &f->mu);
			continue;
		}
		if (f->running == 0 || job_stopping(job))
			continue;
		pthread_mutex_unlock(&f->mu);
		progress_format(&pr, job, line, sizeof(line));
		log_info("job", "progress: %s", line);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	for (int i = 0; i < f->ntasks; i++)
		task_join(f->tasks[i]);
	coord_shutdown(job->coord);
	coord_join(job->coord);
	ckpt_persister_free(job->persister);
	job->persister = NULL;
	if (job_stopping(job))
		return 1;
	return coord_final_ok(job->coord) ? 0 : 1;
}

void job_free(struct job *job)
{
	if (!job)
		return;
	for (int i = 0; i < job->flow.ntasks; i++)
		task_join(job->flow.tasks[i]);
	/* The persister before the tasks: a write it still has may read a
	 * body's frozen state, or decline and name its task. */
	ckpt_persister_free(job->persister);
	job->persister = NULL;
	for (int i = 0; i < job->flow.ntasks; i++) {
		struct task *t = job->flow.tasks[i];

		if (t->body.close)
			t->body.close(t, t->body.st);
		t->body.close = NULL;
	}
	flow_destroy(&job->flow);
	coord_free(job->coord);
	ckpt_store_close(job->store);
	jobfile_free(job->cfg);
	free(job->fingerprint);
	ckpt_stats_free(job->stats);
	free(job->from);
	pthread_mutex_destroy(&job->mu);
	free(job);
}
