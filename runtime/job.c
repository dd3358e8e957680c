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

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors.h"
#include "coordinator.h"
#include "dead_letter.h"
#include "log.h"
#include "opctx.h"
#include "predicate.h"
#include "progress.h"
#include "registry.h"
#include "store.h"
#include "task.h"
#include "writer.h"

#define CHAN_CAPACITY 8

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
static void validate_exactly_once(const struct job_cfg *cfg,
                                  struct errlist *errs)
{
	const char *pb = cfg->source.partitioned_by;

	/* Transactions need no determinism, only checkpoints to commit at. */
	if (cfg->sink.exactly_once == EXACTLY_ONCE_TRANSACTIONS) {
		if (cfg->checkpoint.interval_ms == 0)
			errlist_add(errs,
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

		if (!oc->key_field)
			continue;
		if (oc->parallelism > 1)
			errlist_add(errs,
			            "sink.delivery: exactly-once needs each "
			            "source partition's records to reach the "
			            "sink in order, but operators[%zu] (%s) is "
			            "keyed with parallelism %d, which spreads one "
			            "partition over %d tasks. Give it parallelism "
			            "1, or use \"delivery\": \"at-least-once\"",
			            i, oc->type, oc->parallelism, oc->parallelism);
		else if (!pb || strcmp(pb, oc->key_field) != 0)
			errlist_add(errs,
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
	}
}

int job_validate(const struct job_cfg *cfg, struct errlist *errs)
{
	size_t before = errs->n;

	if (cfg->sink.type == SINK_KAFKA &&
	    cfg->sink.delivery == DELIVERY_EXACTLY_ONCE)
		validate_exactly_once(cfg, errs);
	for (size_t i = 0; i < cfg->nops; i++) {
		const struct job_op_cfg *oc = &cfg->ops[i];
		char path[32];
		const weir_operator_t *op;
		struct weir_ctx *ctx;

		snprintf(path, sizeof(path), "operators[%zu]", i);
		/* A partly read job file: what did not parse was reported. */
		if (!oc->type || !oc->config_json ||
		    (!strcmp(oc->type, "plugin") && !oc->library))
			continue;
		if (oc->on_error == ON_ERROR_DEAD_LETTER &&
		    !dead_letter_brokers(cfg))
			errlist_add(errs,
			            "%s.on_error: \"dead-letter\" writes to Kafka, "
			            "but neither the source nor the sink is Kafka, "
			            "so there is no broker to write to",
			            path);
		op = registry_find(oc, path, errs);
		if (!op)
			continue;
		ctx = opctx_new(op, oc, (int)i, NULL, NULL);
		opctx_open(ctx, errs);
		opctx_free(ctx);
	}
	return errs->n > before ? -1 : 0;
}

char *job_fingerprint(const struct job_cfg *cfg)
{
	size_t cap = 256, len = 0;
	char *s = xmalloc(cap);

#define APPEND(...)                                                          \
	do {                                                                 \
		int n_ = snprintf(s + len, cap - len, __VA_ARGS__);          \
		if ((size_t)n_ >= cap - len) {                               \
			cap = (len + (size_t)n_) * 2;                        \
			s = xrealloc(s, cap);                                \
			n_ = snprintf(s + len, cap - len, __VA_ARGS__);      \
		}                                                            \
		len += (size_t)n_;                                           \
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
	pthread_mutex_lock(&job->mu);
	if (!job->fail_msg) {
		job->fail_msg = xstrdup(msg);
		log_error("job", "%s", msg);
	}
	pthread_mutex_unlock(&job->mu);
	atomic_store(&job->hard_stop, 1);
	for (int i = 0; i < job->ntasks; i++)
		wake_signal(&job->tasks[i]->wake);
	if (job->coord)
		coord_wake(job->coord);
}

bool job_stopping(const struct job *job)
{
	return atomic_load(&job->hard_stop) != 0;
}

void job_source_ended(struct job *job)
{
	if (atomic_fetch_add(&job->sources_ended, 1) + 1 == job->nsources) {
		log_info("job", "the bounded input is consumed; taking the "
		         "final checkpoint");
		coord_request_final(job->coord);
	}
}

void job_task_exited(struct job *job)
{
	pthread_mutex_lock(&job->mu);
	job->running--;
	pthread_cond_broadcast(&job->done_cv);
	pthread_mutex_unlock(&job->mu);
}

const char *job_error(struct job *job)
{
	return job->fail_msg;
}

/* --- building ----------------------------------------------------------------- */

struct stage {
	int first;        /* index of its first task in job->tasks */
	int parallelism;
	bool keyed;
	const char *key_field;
};

static void add_chan(struct job *job, struct chan *c)
{
	job->chans = xrealloc(job->chans,
	                      (size_t)(job->nchans + 1) * sizeof(*job->chans));
	job->chans[job->nchans++] = c;
}

static void connect_stages(struct job *job, const struct stage *a,
                           const struct stage *b);

void job_connect(struct job *job, int first_a, int par_a, int first_b,
                 int par_b, const char *key_field)
{
	struct stage a = {.first = first_a, .parallelism = par_a};
	struct stage b = {.first = first_b, .parallelism = par_b,
	                  .keyed = key_field != NULL, .key_field = key_field};

	connect_stages(job, &a, &b);
}

/* Joins stage a to stage b (b = a + 1). */
static void connect_stages(struct job *job, const struct stage *a,
                           const struct stage *b)
{
	bool forward = a->parallelism == b->parallelism && !b->keyed;

	for (int i = 0; i < a->parallelism; i++) {
		struct task *up = job->tasks[a->first + i];

		up->nout = forward ? 1 : b->parallelism;
		up->out = xcalloc((size_t)up->nout, sizeof(*up->out));
		if (up->nout == 1)
			up->route = ROUTE_FORWARD;
		else if (b->keyed) {
			up->route = ROUTE_KEY;
			up->route_key = fpath_new(b->key_field);
		} else {
			up->route = ROUTE_PARTITION;
		}
	}
	for (int j = 0; j < b->parallelism; j++) {
		struct task *down = job->tasks[b->first + j];

		down->nin = forward ? 1 : a->parallelism;
		down->in = xcalloc((size_t)down->nin, sizeof(*down->in));
		down->in_blocked = xcalloc((size_t)down->nin, sizeof(bool));
		down->in_eos = xcalloc((size_t)down->nin, sizeof(bool));
	}
	for (int i = 0; i < a->parallelism; i++) {
		struct task *up = job->tasks[a->first + i];

		for (int j = 0; j < b->parallelism; j++) {
			struct task *down = job->tasks[b->first + j];
			struct chan *c;

			if (forward && i != j)
				continue;
			c = chan_new(CHAN_CAPACITY, &up->wake, &down->wake);
			add_chan(job, c);
			up->out[forward ? 0 : j] = c;
			down->in[forward ? 0 : i] = c;
		}
	}
}

struct task *job_add_task(struct job *job, int stage, int sub, int par,
                          const char *name, const char *who)
{
	struct task *t = task_new(job, job->ntasks, stage, sub, par, name, who);

	job->tasks = xrealloc(job->tasks,
	                      (size_t)(job->ntasks + 1) * sizeof(*job->tasks));
	job->tasks[job->ntasks++] = t;
	return t;
}

static int build_graph(struct job *job, struct errlist *errs)
{
	struct job_cfg *cfg = job->cfg;
	int nstages = (int)cfg->nops + 2;
	struct stage *stages = xcalloc((size_t)nstages, sizeof(*stages));
	char name[64], who[96], err[1024];
	int src_parts = 0, rc = -1;

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
		         : generator_source_open(t, &cfg->source, &t->body,
		                                 err, sizeof(err))) < 0) {
			errlist_add(errs, "%s", err);
			goto out;
		}
	}
	job->nsources = cfg->source.parallelism;
	if (src_parts < cfg->source.parallelism)
		log_warn("job",
		         "source.parallelism is %d but %s has %d partition(s): "
		         "%d source task(s) will have nothing to read",
		         cfg->source.parallelism,
		         cfg->source.topic ? cfg->source.topic : "the generator",
		         src_parts, cfg->source.parallelism - src_parts);

	/* Operators. */
	for (size_t k = 0; k < cfg->nops; k++) {
		struct job_op_cfg *oc = &cfg->ops[k];
		struct stage *st = &stages[k + 1];
		const weir_operator_t *op;
		char path[32];

		snprintf(path, sizeof(path), "operators[%zu]", k);
		op = registry_find(oc, path, errs);
		if (!op)
			goto out;
		st->first = job->ntasks;
		st->parallelism = oc->parallelism;
		st->keyed = oc->key_field != NULL;
		st->key_field = oc->key_field;
		for (int i = 0; i < oc->parallelism; i++) {
			struct dead_letter *dlq = NULL;
			struct weir_ctx *ctx;
			struct task *t;

			snprintf(name, sizeof(name), "op%zu-%s-%d", k, op->name,
			         i);
			snprintf(who, sizeof(who), "%s %s#%d", path, op->name,
			         i);
			t = job_add_task(job, (int)k + 1, i, oc->parallelism, name,
			             who);
			if (oc->on_error == ON_ERROR_DEAD_LETTER) {
				char what[64];

				snprintf(what, sizeof(what),
				         "%s.dead_letter_topic", path);
				dlq = dlq_new(what, dead_letter_brokers(cfg),
				              oc->dead_letter_topic, NULL, err,
				              sizeof(err));
				if (!dlq) {
					errlist_add(errs, "%s", err);
					goto out;
				}
			}
			ctx = opctx_new(op, oc, (int)k, t, dlq);
			if (opctx_open(ctx, errs) < 0) {
				opctx_free(ctx);
				dlq_free(dlq);
				goto out;
			}
			opctx_bind(ctx, &t->body);
			t->dlq = dlq;
		}
	}

	/* Sink. */
	stages[nstages - 1].first = job->ntasks;
	stages[nstages - 1].parallelism = cfg->sink.parallelism;
	for (int i = 0; i < cfg->sink.parallelism; i++) {
		struct task *t;

		snprintf(name, sizeof(name), "sink-%d", i);
		snprintf(who, sizeof(who), "sink#%d", i);
		t = job_add_task(job, nstages - 1, i, cfg->sink.parallelism, name,
		             who);
		if ((cfg->sink.type == SINK_KAFKA
		         ? kafka_sink_open(t, &cfg->sink, cfg->name,
		                           cfg->source.topic ? cfg->source.topic
		                                             : "generator",
		                           src_parts, &t->body, err,
		                           sizeof(err))
		         : discard_sink_open(t, &cfg->sink, &t->body, err,
		                             sizeof(err))) < 0) {
			errlist_add(errs, "%s", err);
			goto out;
		}
	}
	for (int s = 0; s + 1 < nstages; s++)
		connect_stages(job, &stages[s], &stages[s + 1]);
	rc = 0;
out:
	free(stages);
	return rc;
}

/* --- restore ------------------------------------------------------------------ */

static void report_skipped(void *arg, uint64_t id, const char *why)
{
	struct job *job = arg;

	log_warn("restore", "checkpoint %llu in %s is not used: %s",
	         (unsigned long long)id, job->cfg->checkpoint.dir, why);
}

/* A restore must take the state to its last byte: bytes left over mean
 * the file holds more than the task wrote (a payload padded to a
 * gigabyte decodes and checksums fine), so nothing of it is trusted. */
static int check_consumed(const struct ckpt_meta *meta,
                          const struct ckpt_task_entry *e,
                          const struct weir_reader *r, const char *who,
                          struct errlist *errs)
{
	if (r->pos == r->len)
		return 0;
	errlist_add(errs,
	            "chk-%llu/%s: %zu byte(s) after the end of %s's state "
	            "(%zu bytes): the file is damaged. Move the checkpoint "
	            "directory aside to start fresh",
	            (unsigned long long)meta->id, e->file.name,
	            r->len - r->pos, who, r->pos);
	return -1;
}

/* e's payload, decoded and verified once by ckpt_load_latest: borrowed
 * from meta, which frees it. */
static int read_entry(struct job *job, const struct ckpt_meta *meta,
                      const struct ckpt_task_entry *e, void **payload,
                      size_t *len, uint32_t *version, struct errlist *errs)
{
	assert(e->payload);
	*payload = e->payload;
	*len = e->payload_len;
	*version = e->file.state_version;
	return 0;
}

/* Is `file` a state file of t's operator: "op<stage>-<name>-<sub>", the
 * same as t->name up to its task index? */
static bool own_file(const struct task *t, const char *file)
{
	const char *dash = strrchr(t->name, '-');
	size_t n = dash ? (size_t)(dash - t->name) + 1 : strlen(t->name);

	return !strncmp(file, t->name, n) && file[n] &&
	       strspn(file + n, "0123456789") == strlen(file + n);
}

/* Counts in *ours the state files meta holds for t's operator stage. A
 * file of that stage under another operator name (a plugin swapped or
 * renamed) would be lost or, worse, fed to the wrong operator: that is an
 * error, reported in errs, and the result is false. */
static bool stage_files_ours(const struct task *t,
                             const struct ckpt_meta *meta, int *ours,
                             struct errlist *errs)
{
	char stage[32];

	*ours = 0;
	snprintf(stage, sizeof(stage), "op%d-", t->stage - 1);
	for (size_t i = 0; i < meta->ntasks; i++) {
		const char *f = meta->tasks[i].task;

		if (strncmp(f, stage, strlen(stage)) != 0)
			continue;
		if (own_file(t, f)) {
			(*ours)++;
			continue;
		}
		errlist_add(errs,
		            "checkpoint %llu holds state %s for operators[%d], "
		            "but this job's operator there writes %s.state: the "
		            "operator changed. Run the job with the operator it "
		            "had, or use a new checkpoint.dir",
		            (unsigned long long)meta->id, f, t->stage - 1,
		            t->name);
		return false;
	}
	return true;
}

static bool task_keyed(const struct job *job, const struct task *t)
{
	return t->stage >= 1 && t->stage <= (int)job->cfg->nops &&
	       job->cfg->ops[t->stage - 1].key_field;
}

/* The operator stage a state file's name says ("op<n>-..." is stage
 * n + 1, as task names are made), or 0 when it names none of this job. */
static int file_stage(const struct job *job, const char *file)
{
	const char *p = file + 2;
	size_t n = 0;

	if (strncmp(file, "op", 2) != 0 || *p < '0' || *p > '9' ||
	    (p[0] == '0' && p[1] != '-'))
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (size_t)(*p - '0');
		if (n >= job->cfg->nops)
			return 0;
	}
	return *p == '-' ? (int)n + 1 : 0;
}

static int cmp_task_name(const void *a, const void *b)
{
	const struct task *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int find_task_name(const void *key, const void *elem)
{
	const struct task *const *t = elem;

	return strcmp(key, (*t)->name);
}

/* What a checkpoint holds per operator stage, for check_coverage. */
struct stage_cover {
	const struct task *first; /* the stage's task 0 */
	size_t files, top;        /* keyed: files, highest task index + 1 */
	uint32_t writers;         /* keyed: the parallelism that wrote them,
	                           * as _metadata records it (0: unknown) */
	bool foreign;             /* files under another operator's name */
};

/* ckpt_check_fn: a checkpoint is usable only when its _metadata lists
 * state for every task of this job that keeps state (t->body.snapshot:
 * sources, exactly-once sinks, keyed operators, operators with snapshot),
 * for a keyed stage the files of task indexes 0..k-1, and nothing else.
 * A missing entry would restore that task as if it had no state: sources
 * from `start`, counts from zero, and duplicates in exactly-once output.
 * A checkpoint of another job or graph, and a stage holding another
 * operator's files, are left to restore() and restore_task, which refuse
 * them with both graphs or "the operator changed". O(n log n): _metadata
 * may list up to ~150,000 entries. */
static int check_coverage(void *arg, const struct ckpt_meta *meta, char *why,
                          size_t len)
{
	static const char advice[] =
	    ": the file was edited or damaged, or the job changed (a sink's "
	    "delivery, an operator)";
	struct job *job = arg;
	size_t nst = job->cfg->nops + 1;
	const struct task **by = xcalloc((size_t)job->ntasks + 1, sizeof(*by));
	struct stage_cover *sc = xcalloc(nst, sizeof(*sc));
	bool *seen = xcalloc((size_t)job->ntasks + 1, sizeof(*seen));
	int rc = -1;

	if (strcmp(meta->job, job->cfg->name) != 0 ||
	    strcmp(meta->fingerprint, job->fingerprint) != 0) {
		rc = 0;
		goto out;
	}
	for (int k = 0; k < job->ntasks; k++) {
		const struct task *t = job->tasks[k];

		by[k] = t;
		if (t->stage >= 1 && (size_t)t->stage < nst &&
		    !sc[t->stage].first)
			sc[t->stage].first = t;
	}
	qsort(by, (size_t)job->ntasks, sizeof(*by), cmp_task_name);
	for (size_t i = 0; i < meta->ntasks; i++) {
		const char *f = meta->tasks[i].task;
		const struct task *const *hit =
		    bsearch(f, by, (size_t)job->ntasks, sizeof(*by),
		            find_task_name);
		struct stage_cover *c = &sc[file_stage(job, f)];
		const struct task *t0 = c->first;

		if (hit && (*hit)->body.snapshot && !task_keyed(job, *hit)) {
			seen[(*hit)->index] = true;
		} else if (t0 && own_file(t0, f) && task_keyed(job, t0)) {
			size_t sub = strtoul(strrchr(f, '-') + 1, NULL, 10);

			c->files++;
			c->top = sub + 1 > c->top ? sub + 1 : c->top;
			if (meta->tasks[i].parallelism > c->writers)
				c->writers = meta->tasks[i].parallelism;
		} else if (t0 && !own_file(t0, f)) {
			c->foreign = true;
		} else {
			snprintf(why, len,
			         "_metadata lists state for %s, which is no "
			         "task of this job that keeps state%s",
			         f, advice);
			goto out;
		}
	}
	for (int k = 0; k < job->ntasks; k++) {
		const struct task *t = job->tasks[k];
		const struct stage_cover *c =
		    t->stage >= 1 && (size_t)t->stage < nst ? &sc[t->stage]
		                                            : NULL;

		if (!t->body.snapshot || (c && c->foreign))
			continue;
		if (task_keyed(job, t) ? c->files == 0 : !seen[t->index]) {
			snprintf(why, len,
			         "_metadata lists no state for %s (%s), which "
			         "keeps state%s",
			         t->name, t->who, advice);
			goto out;
		}
		if (task_keyed(job, t) && c->writers &&
		    (c->files != c->writers || c->top != c->writers)) {
			snprintf(why, len,
			         "_metadata lists %zu state file(s) of %s's "
			         "stage, written by %u task(s): some key groups "
			         "have no state%s",
			         c->files, t->who, c->writers, advice);
			goto out;
		}
		if (task_keyed(job, t) && c->top != c->files) {
			snprintf(why, len,
			         "_metadata lists %zu state file(s) of %s's "
			         "stage, but its task indexes go up to %zu: "
			         "some key groups have no state%s",
			         c->files, t->who, c->top - 1, advice);
			goto out;
		}
	}
	rc = 0;
out:
	free(by);
	free(sc);
	free(seen);
	return rc;
}

/* A keyed operator's task takes the key groups it owns from every state
 * file of its stage, whatever parallelism wrote them. */
static int restore_keyed(struct job *job, struct task *t,
                         const struct ckpt_meta *meta, struct errlist *errs)
{
	int old_par;
	bool rescaled;

	if (!stage_files_ours(t, meta, &old_par, errs))
		return -1;
	if (old_par == 0)
		return 0;
	rescaled = old_par != t->parallelism;
	if (rescaled && t->sub == 0)
		log_info("restore", "%s: moving keyed state from %d task(s) to "
		         "%d", t->who, old_par, t->parallelism);
	for (size_t i = 0; i < meta->ntasks; i++) {
		const struct ckpt_task_entry *e = &meta->tasks[i];
		struct weir_reader r = {0};
		void *payload;
		size_t len;
		uint32_t version;
		int rc;

		if (!own_file(t, e->task))
			continue;
		if (read_entry(job, meta, e, &payload, &len, &version, errs) < 0)
			return -1;
		r.p = payload;
		r.len = len;
		rc = opctx_restore_part(t->body.st, &r, version,
		                        !rescaled && !strcmp(e->task, t->name),
		                        rescaled);
		if (rc < 0) {
			errlist_add(errs, "%s", job->fail_msg ? job->fail_msg
			                                      : "restore failed");
			return -1;
		}
		if (check_consumed(meta, e, &r, t->who, errs) < 0)
			return -1;
	}
	return 0;
}

static int restore_task(struct job *job, struct task *t,
                        const struct ckpt_meta *meta, struct errlist *errs)
{
	const struct ckpt_task_entry *e = NULL;
	struct weir_reader r = {0};
	void *payload = NULL;
	size_t len = 0;
	uint32_t version;
	int rc;

	if (task_keyed(job, t))
		return restore_keyed(job, t, meta, errs);
	for (size_t i = 0; i < meta->ntasks; i++)
		if (!strcmp(meta->tasks[i].task, t->name))
			e = &meta->tasks[i];
	if (!e) {
		/* No file of this name: the task had no state (unless the
		 * operator changed, which stage_files_ours reports). */
		int n;

		if (t->stage >= 1 && !stage_files_ours(t, meta, &n, errs))
			return -1;
		return 0;
	}
	if (!t->body.restore) {
		errlist_add(errs, "checkpoint %llu has state for %s, which "
		            "keeps none", (unsigned long long)meta->id,
		            t->who);
		return -1;
	}
	if (read_entry(job, meta, e, &payload, &len, &version, errs) < 0)
		return -1;
	r.p = payload;
	r.len = len;
	rc = t->body.restore(t, t->body.st, &r, version);
	if (rc < 0) {
		errlist_add(errs, "%s", job->fail_msg ? job->fail_msg
		                                      : "restore failed");
		return -1;
	}
	return check_consumed(meta, e, &r, t->who, errs);
}

struct strays {
	struct job *job;
	uint64_t top; /* largest id of a stray, 0 if none */
};

/* An entry of checkpoint.dir that is no checkpoint: said once, left
 * alone, and its id (if any) never reused. */
static void report_stray(void *arg, const char *name, uint64_t id,
                         const char *why)
{
	struct strays *sr = arg;

	log_warn("restore", "%s in %s is not used: %s", name,
	         sr->job->cfg->checkpoint.dir, why);
	if (id > sr->top)
		sr->top = id;
}

/* Removes directories of checkpoints newer than `newest` that never got
 * their _metadata: leftovers of a crash mid-checkpoint. Sets *next_id past
 * every chk-<id> name in use; -1 when no id is left for it. */
static int remove_leftovers(struct job *job, uint64_t newest, uint64_t *next_id,
                            struct errlist *errs)
{
	struct strays sr = {job, 0};
	uint64_t *ids = NULL;
	size_t n = 0;

	*next_id = newest + 1;
	if (ckpt_list_report(job->store, &ids, &n, report_stray, &sr) < 0)
		return 0;
	if (n > 0 && ids[n - 1] > sr.top)
		sr.top = ids[n - 1];
	if (sr.top >= *next_id)
		*next_id = sr.top + 1;
	/* Refused before anything is removed: the directory stays as it
	 * was for whoever looks at it. */
	if (*next_id > CKPT_ID_MAX) {
		errlist_add(errs,
		            "chk-%llu in %s has the largest checkpoint id weir "
		            "uses (%llu): no later checkpoint can be numbered. "
		            "Move the directory aside to start fresh (the "
		            "source then starts at source.start)",
		            (unsigned long long)(*next_id - 1),
		            job->cfg->checkpoint.dir,
		            (unsigned long long)CKPT_ID_MAX);
		free(ids);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char *meta;

		if (ids[i] <= newest)
			continue;
		meta = xasprintf("%s/chk-%llu/_metadata", job->cfg->checkpoint.dir,
		                 (unsigned long long)ids[i]);
		if (access(meta, F_OK) != 0) {
			log_info("restore", "removing chk-%llu: it never "
			         "completed", (unsigned long long)ids[i]);
			ckpt_remove(job->store, ids[i]);
		}
		free(meta);
	}
	free(ids);
	return 0;
}

static int restore(struct job *job, uint64_t *next_id, struct errlist *errs)
{
	struct ckpt_meta meta = {0};
	int found = ckpt_load_latest(job->store, &meta, check_coverage,
	                             report_skipped, job);
	const char *dir = job->cfg->checkpoint.dir;
	int rc = -1;

	if (found < 0) {
		errlist_add(errs,
		            "no checkpoint in %s can be restored (see the "
		            "reasons above). To start from scratch anyway, "
		            "move the directory aside; the source then starts "
		            "at source.start",
		            dir);
		return -1;
	}
	if (found == 0) {
		if (remove_leftovers(job, 0, next_id, errs) < 0)
			return -1;
		log_info("restore", "no checkpoint in %s: starting fresh", dir);
		return 0;
	}
	if (strcmp(meta.job, job->cfg->name) != 0) {
		errlist_add(errs,
		            "checkpoint %llu in %s belongs to job \"%s\", not "
		            "\"%s\". Use a checkpoint.dir of its own for each job",
		            (unsigned long long)meta.id, dir, meta.job,
		            job->cfg->name);
		goto out;
	}
	if (strcmp(meta.fingerprint, job->fingerprint) != 0) {
		errlist_add(errs,
		            "checkpoint %llu in %s was taken by a different job "
		            "graph and cannot be restored.\n  checkpoint: %s\n  "
		            "this job:   %s\nRun the job as it was, or point "
		            "checkpoint.dir at a new directory to start fresh",
		            (unsigned long long)meta.id, dir, meta.fingerprint,
		            job->fingerprint);
		goto out;
	}
	set_step(job, "restoring checkpoint %llu of %s",
	         (unsigned long long)meta.id, dir);
	for (int i = 0; i < job->ntasks; i++)
		if (restore_task(job, job->tasks[i], &meta, errs) < 0)
			goto out;
	job->restored_id = meta.id;
	set_step(job, "cleaning up after restoring checkpoint %llu of %s",
	         (unsigned long long)meta.id, dir);
	if (remove_leftovers(job, meta.id, next_id, errs) < 0)
		goto out;
	{
		char when[40];

		fmt_wall_ms(meta.completed_ms, when, sizeof(when));
		log_info("restore", "restored checkpoint %llu of %s (taken %s); "
		         "offsets %s", (unsigned long long)meta.id, dir, when,
		         meta.offsets_json ? meta.offsets_json : "{}");
	}
	rc = 0;
out:
	ckpt_meta_clear(&meta);
	return rc;
}

/* --- public ---------------------------------------------------------------- */

struct job *job_alloc(struct job_cfg *cfg)
{
	struct job *job = xcalloc(1, sizeof(*job));

	job->cfg = cfg;
	pthread_mutex_init(&job->mu, NULL);
	cond_init_mono(&job->done_cv);
	atomic_init(&job->hard_stop, 0);
	atomic_init(&job->finished, 0);
	atomic_init(&job->sources_ended, 0);
	job->fingerprint = job_fingerprint(cfg);
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

int job_prepare(struct job *job, struct errlist *errs)
{
	uint64_t next_id = 1;

	if (!job->store && open_store(job, errs) < 0)
		return -1;
	set_step(job, "looking for a checkpoint to restore in %s",
	         job->cfg->checkpoint.dir);
	if (restore(job, &next_id, errs) < 0)
		return -1;
	job->coord = coord_new(job, job->store, next_id);
	job->writer = ckpt_writer_new(job->store, job->coord);
	coord_set_writer(job->coord, job->writer);
	return 0;
}

int job_build(struct job *job, struct errlist *errs)
{
	if (job_validate(job->cfg, errs) < 0)
		return -1;
	/* The lock first: a second run on the same directory fails before
	 * it reaches out to Kafka. */
	set_step(job, "opening checkpoint.dir %s", job->cfg->checkpoint.dir);
	if (open_store(job, errs) < 0)
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
	log_info("job", "%s: %d tasks: %s; checkpoints every %lld ms in %s",
	         job->cfg->name, job->ntasks, job->fingerprint,
	         (long long)job->cfg->checkpoint.interval_ms,
	         job->cfg->checkpoint.dir);
	set_step(job, "starting the tasks");
	for (int i = 0; i < job->ntasks; i++) {
		struct task *t = job->tasks[i];

		if (t->body.start && t->body.start(t, t->body.st) < 0)
			return -1;
	}
	/* From here a signal stops the job gracefully. */
	pthread_mutex_lock(&job->mu);
	job->starting = false;
	pthread_mutex_unlock(&job->mu);
	/* Downstream first, so that nothing waits on a task not yet
	 * running. */
	for (int i = job->ntasks - 1; i >= 0; i--) {
		pthread_mutex_lock(&job->mu);
		job->running++;
		pthread_mutex_unlock(&job->mu);
		if (task_start(job->tasks[i]) < 0) {
			job_task_exited(job);
			job_fail(job, "cannot start a task thread");
			return -1;
		}
	}
	if (coord_start(job->coord) < 0) {
		job_fail(job, "cannot start the checkpoint coordinator");
		return -1;
	}
	return 0;
}

void job_request_stop(struct job *job)
{
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
	int64_t every = job->cfg->progress_interval_ms;
	struct progress pr;
	struct timespec due;
	char line[1024];
	int rc;

	progress_start(&pr, job);
	pthread_mutex_lock(&job->mu);
	while (job->running > 0) {
		if (every <= 0) {
			pthread_cond_wait(&job->done_cv, &job->mu);
			continue;
		}
		/* From now, not from the last due time: a late line (a busy
		 * machine) is not followed by a burst. */
		due = mono_deadline(now_mono_ms() + every);
		rc = 0;
		while (job->running > 0 && rc == 0)
			rc = pthread_cond_timedwait(&job->done_cv, &job->mu,
			                            &due);
		if (rc != ETIMEDOUT && job->running > 0) {
			/* Cannot happen with a valid deadline; never spin. */
			pthread_cond_wait(&job->done_cv, &job->mu);
			continue;
		}
		if (job->running == 0 || job_stopping(job))
			continue;
		pthread_mutex_unlock(&job->mu);
		progress_format(&pr, job, line, sizeof(line));
		log_info("job", "progress: %s", line);
		pthread_mutex_lock(&job->mu);
	}
	pthread_mutex_unlock(&job->mu);
	for (int i = 0; i < job->ntasks; i++)
		task_join(job->tasks[i]);
	coord_shutdown(job->coord);
	coord_join(job->coord);
	ckpt_writer_free(job->writer);
	job->writer = NULL;
	if (job_stopping(job))
		return 1;
	return coord_final_ok(job->coord) ? 0 : 1;
}

void job_free(struct job *job)
{
	if (!job)
		return;
	for (int i = 0; i < job->ntasks; i++) {
		struct task *t = job->tasks[i];

		task_join(t);
		if (t->body.close)
			t->body.close(t, t->body.st);
		t->body.close = NULL;
		dlq_free(t->dlq);
		t->dlq = NULL;
	}
	for (int i = 0; i < job->nchans; i++)
		chan_free(job->chans[i]);
	free(job->chans);
	for (int i = 0; i < job->ntasks; i++)
		task_free(job->tasks[i]);
	free(job->tasks);
	ckpt_writer_free(job->writer);
	coord_free(job->coord);
	ckpt_store_close(job->store);
	jobfile_free(job->cfg);
	free(job->fingerprint);
	free(job->fail_msg);
	pthread_mutex_destroy(&job->mu);
	pthread_cond_destroy(&job->done_cv);
	free(job);
}
