/*
 * coordinator.c - the checkpoint coordinator (see coordinator.h).
 *
 * One thread runs this state machine; everything it reads or writes is
 * under c->mu. Tasks and the snapshot persister only post events (ack,
 * decline) and signal c->cv.
 *
 *   IDLE      No checkpoint in flight. The next one is due at
 *             max(last trigger + interval_ms, last end + min_pause_ms);
 *             a job that restored nothing takes its first one at once
 *             (its sources read nothing until it completes).
 *             trigger() moves to PENDING: it picks the next id, then tells
 *             every source task to inject barrier(id). When a final
 *             checkpoint was requested (graceful stop, or every bounded
 *             source ended) the next trigger is the final one, at once.
 *             So is a savepoint asked for (coord_savepoint): sp.to set,
 *             sp.id 0; its trigger sets sp.id and flow->savepoint_id.
 *
 *   PENDING   Checkpoint p.id in flight. True here: p.acked[i] for each
 *             task that acknowledged; nothing is in DIR/chk-<id>/_metadata.
 *             All acked: complete() writes _metadata (the commit point),
 *             notifies every task, applies `retain`, and moves to IDLE (or
 *             DONE after the final one). A decline, a failed _metadata
 *             write, or timeout_ms passing: fail() discards chk-<id>,
 *             counts a consecutive failure and moves to IDLE (DONE after
 *             the final one); more than tolerable_failures consecutive
 *             failures fail the job.
 *
 *             A savepoint's complete() also copies the checkpoint into
 *             sp.to; its end (complete, fail, DONE) sets sp.done and
 *             signals sp_cv, where coord_savepoint waits.
 *
 *   DONE      The final checkpoint completed or failed, or the job failed
 *             (coord_shutdown). flow->finished is set; the thread ends.
 *
 * Only one checkpoint is ever in flight, and ids only grow, so every task
 * sees barriers in id order and a late acknowledgement of a failed
 * checkpoint is recognised by its id and dropped.
 */
#include "coordinator.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt_stats.h"
#include "flow.h"
#include "log.h"
#include "store.h"
#include "task.h"
#include "util.h"
#include "persister.h"

enum coord_state { CS_IDLE, CS_PENDING, CS_DONE };

struct pending {
	uint64_t id;
	bool final, savepoint;
	int64_t trig_mono_ms, trig_wall_ms;
	int nacked;
	bool *acked;
	struct ckpt_file_info *files; /* per task */
	struct ckpt_chain *chains;    /* per task; n 0: none */
	bool *has_file;
	char **offsets; /* per task, JSON object text */
	char *failure;  /* first decline */
};

struct coord {
	struct flow *flow;
	const struct job_ckpt_cfg *cfg;
	char *job_name, *fingerprint; /* copies, for every _metadata */
	struct ckpt_store *st;
	struct ckpt_persister *persister;
	struct ckpt_stats *stats; /* NULL: none kept */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;

	enum coord_state state;
	uint64_t next_id, first_id;
	struct pending p;
	int64_t last_trigger_ms, last_end_ms; /* monotonic */
	int consecutive_failures;
	bool final_requested, shutdown, final_ok;
	uint64_t completed;
	uint64_t last_complete_id; /* this run's, or the restored one */
	/* Per task, the chain the last completed checkpoint of this run
	 * listed: a chain file not in it was written for the next one. */
	struct ckpt_chain *prev_chains;
	/* The savepoint asked for; to is NULL when none. */
	struct {
		struct ckpt_store *to;
		bool stop, done;
		uint64_t id;    /* 0 until triggered */
		char msg[1024]; /* why it failed, "" when it did not */
	} sp;
	pthread_cond_t sp_cv;
};

struct coord *coord_new(struct flow *flow, const struct job_ckpt_cfg *cfg,
                        const char *job_name, const char *fingerprint,
                        struct ckpt_store *st, uint64_t next_id)
{
	struct coord *c = xcalloc(1, sizeof(*c));
	size_t n = (size_t)flow->ntasks;

	c->flow = flow;
	c->cfg = cfg;
	c->job_name = xstrdup(job_name);
	c->fingerprint = xstrdup(fingerprint);
	/* The job file held them to a day each: the deadlines below add
	 * them to a monotonic clock in ms without overflow. */
	assert(c->cfg->interval_ms >= 0 && c->cfg->interval_ms <= JOB_MAX_MS);
	assert(c->cfg->timeout_ms >= 1 && c->cfg->timeout_ms <= JOB_MAX_MS);
	assert(c->cfg->min_pause_ms >= 0 && c->cfg->min_pause_ms <= JOB_MAX_MS);
	c->st = st;
	/* ckpt_restore refuses to start when the directory leaves no id. */
	assert(next_id >= 1 && next_id <= CKPT_ID_MAX);
	c->next_id = c->first_id = next_id;
	c->last_complete_id = flow->restored_id;
	c->p.acked = xcalloc(n, sizeof(bool));
	c->p.has_file = xcalloc(n, sizeof(bool));
	c->p.files = xcalloc(n, sizeof(struct ckpt_file_info));
	c->p.chains = xcalloc(n, sizeof(struct ckpt_chain));
	c->prev_chains = xcalloc(n, sizeof(struct ckpt_chain));
	c->p.offsets = xcalloc(n, sizeof(char *));
	pthread_mutex_init(&c->mu, NULL);
	cond_init_mono(&c->cv);
	pthread_cond_init(&c->sp_cv, NULL);
	c->last_trigger_ms = c->last_end_ms = now_mono_ms();
	return c;
}

void coord_set_persister(struct coord *c, struct ckpt_persister *w)
{
	c->persister = w;
}

void coord_set_stats(struct coord *c, struct ckpt_stats *stats)
{
	c->stats = stats;
}

/* The bytes a restore reads of a task's part: its file and its chain. */
static uint64_t part_size(const struct ckpt_file_info *file,
                          const struct ckpt_chain *chain)
{
	uint64_t n = file ? file->size : 0;

	for (size_t j = 0; chain && j < chain->n; j++)
		n += chain->f[j].file.size;
	return n;
}

static void pending_reset(struct coord *c)
{
	struct pending *p = &c->p;
	size_t n = (size_t)c->flow->ntasks;

	for (size_t i = 0; i < n; i++) {
		free(p->offsets[i]);
		p->offsets[i] = NULL;
		ckpt_chain_clear(&p->chains[i]);
	}
	memset(p->acked, 0, n * sizeof(bool));
	memset(p->has_file, 0, n * sizeof(bool));
	free(p->failure);
	p->failure = NULL;
	p->nacked = 0;
}

void coord_free(struct coord *c)
{
	if (!c)
		return;
	pending_reset(c);
	free(c->p.acked);
	free(c->p.has_file);
	free(c->p.files);
	free(c->p.chains);
	for (int i = 0; i < c->flow->ntasks; i++)
		ckpt_chain_clear(&c->prev_chains[i]);
	free(c->prev_chains);
	free(c->p.offsets);
	free(c->job_name);
	free(c->fingerprint);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_cond_destroy(&c->sp_cv);
	free(c);
}

/* --- events from other threads -------------------------------------------- */

void coord_ack(struct coord *c, uint64_t id, int task,
               const struct ckpt_file_info *file, char *offsets,
               struct ckpt_chain *chain)
{
	pthread_mutex_lock(&c->mu);
	if (c->state == CS_PENDING && c->p.id == id && !c->p.acked[task]) {
		struct task *t = c->flow->tasks[task];
		bool own = atomic_load(&t->stats.snap_id) == id;

		ckpt_stats_acked(
		    c->stats, id, t->name, now_mono_ms() - c->p.trig_mono_ms,
		    part_size(file, chain),
		    own ? (int64_t)atomic_load(&t->stats.align_us) : 0);
		c->p.acked[task] = true;
		c->p.nacked++;
		if (file) {
			c->p.files[task] = *file;
			c->p.has_file[task] = true;
		}
		c->p.offsets[task] = offsets;
		offsets = NULL;
		if (chain) {
			c->p.chains[task] = *chain;
			memset(chain, 0, sizeof(*chain));
		}
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	free(offsets);
	if (chain)
		ckpt_chain_clear(chain);
}

void coord_decline(struct coord *c, uint64_t id, int task, const char *why)
{
	pthread_mutex_lock(&c->mu);
	if (c->state == CS_PENDING && c->p.id == id && !c->p.failure) {
		c->p.failure =
		    xasprintf("%s: %s", c->flow->tasks[task]->who, why);
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

void coord_request_final(struct coord *c)
{
	pthread_mutex_lock(&c->mu);
	c->final_requested = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

int coord_savepoint(struct coord *c, struct ckpt_store *to, bool stop,
                    uint64_t *id, char *msg, size_t msglen)
{
	int rc = -1;

	pthread_mutex_lock(&c->mu);
	if (c->state == CS_DONE || c->final_requested ||
	    flow_stopping(c->flow)) {
		snprintf(msg, msglen, "the job is stopping");
		goto out;
	}
	if (c->sp.to) {
		snprintf(msg, msglen,
		         "another savepoint is being taken; try again when "
		         "it is done");
		rc = -2;
		goto out;
	}
	c->sp.to = to;
	c->sp.stop = stop;
	c->sp.done = false;
	c->sp.id = 0;
	c->sp.msg[0] = '\0';
	pthread_cond_signal(&c->cv);
	while (!c->sp.done)
		pthread_cond_wait(&c->sp_cv, &c->mu);
	*id = c->sp.id;
	if (c->sp.msg[0])
		snprintf(msg, msglen, "%s", c->sp.msg);
	else
		rc = 0;
	c->sp.to = NULL;
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* The savepoint asked for ended: why is NULL when it is written. */
static void savepoint_done(struct coord *c, const char *why)
{
	if (!c->sp.to || c->sp.done)
		return;
	if (why)
		snprintf(c->sp.msg, sizeof(c->sp.msg), "%s", why);
	c->sp.done = true;
	pthread_cond_broadcast(&c->sp_cv);
}

void coord_wake(struct coord *c)
{
	pthread_mutex_lock(&c->mu);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void coord_shutdown(struct coord *c)
{
	pthread_mutex_lock(&c->mu);
	c->shutdown = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* --- transitions (called with c->mu held) --------------------------------- */

static void finish_job(struct coord *c, bool ok)
{
	c->state = CS_DONE;
	c->final_ok = ok;
	flow_finish(c->flow);
}

/* flow_fail() wakes the coordinator (coord_wake), which takes c->mu: call
 * it without holding that. Nothing here depends on what other threads post
 * meanwhile. */
static void fail_job(struct coord *c, const char *msg)
{
	pthread_mutex_unlock(&c->mu);
	flow_fail(c->flow, msg);
	pthread_mutex_lock(&c->mu);
}

static void trigger(struct coord *c, bool final, bool savepoint)
{
	struct pending *p = &c->p;

	pending_reset(c);
	/* From a valid start, 2^53 ids last 285,000 years at one per ms. */
	assert(c->next_id <= CKPT_ID_MAX);
	p->id = c->next_id++;
	p->final = final;
	p->savepoint = savepoint;
	if (savepoint)
		c->sp.id = p->id;
	atomic_store(&c->flow->savepoint_id, savepoint ? p->id : 0);
	p->trig_mono_ms = c->last_trigger_ms = now_mono_ms();
	p->trig_wall_ms = now_wall_ms();
	c->state = CS_PENDING;
	ckpt_stats_triggered(c->stats, p->id, savepoint, p->trig_wall_ms);
	log_debug("coordinator", "checkpoint %llu triggered%s%s",
	          (unsigned long long)p->id, final ? " (final)" : "",
	          savepoint ? " (savepoint)" : "");
	for (int i = 0; i < c->flow->nsources; i++)
		task_trigger(c->flow->tasks[i], p->id, final);
}

/* Tells every task that checkpoint id will never complete. */
static void notify_aborted(struct coord *c, uint64_t id)
{
	for (int i = 0; i < c->flow->ntasks; i++)
		task_notify_aborted(c->flow->tasks[i], id);
}

static void fail(struct coord *c, const char *why)
{
	struct pending *p = &c->p;
	int tol = c->cfg->tolerable_failures;

	c->consecutive_failures++;
	ckpt_persister_discard(c->persister, p->id);
	notify_aborted(c, p->id);
	c->last_end_ms = now_mono_ms();
	ckpt_stats_ended(c->stats, p->id, false, why, now_wall_ms(),
	                 c->last_end_ms - p->trig_mono_ms);
	if (p->savepoint) {
		char *msg = xasprintf("checkpoint %llu failed: %s",
		                      (unsigned long long)p->id, why);
		savepoint_done(c, msg);
		free(msg);
	}
	if (p->final) {
		log_error(
		    "coordinator",
		    "final checkpoint %llu failed: %s. Output is flushed, "
		    "but the next start resumes from the previous "
		    "checkpoint and may write part of it again",
		    (unsigned long long)p->id, why);
		if (!flow_stopping(c->flow)) {
			char *msg =
			    xasprintf("final checkpoint %llu failed: %s",
			              (unsigned long long)p->id, why);
			fail_job(c, msg);
			free(msg);
		}
		finish_job(c, false);
		return;
	}
	log_warn("coordinator",
	         "checkpoint %llu failed: %s (%d in a row; tolerable_failures "
	         "is %d)",
	         (unsigned long long)p->id, why, c->consecutive_failures, tol);
	c->state = CS_IDLE;
	if (c->consecutive_failures > tol) {
		char resume[96];
		char *msg;

		if (c->last_complete_id)
			snprintf(resume, sizeof(resume),
			         "it resumes from checkpoint %llu, the last "
			         "complete one",
			         (unsigned long long)c->last_complete_id);
		else
			snprintf(resume, sizeof(resume),
			         "no checkpoint is complete yet, so it starts "
			         "fresh");
		msg = xasprintf(
		    "%d checkpoints failed in a row, more than "
		    "checkpoint.tolerable_failures (%d); the last one: %s. "
		    "The job stops; once that is resolved, start it again: "
		    "%s. To ride out longer stalls, raise "
		    "checkpoint.timeout_ms or checkpoint.tolerable_failures",
		    c->consecutive_failures, tol, why, resume);
		fail_job(c, msg);
		free(msg);
	}
}

static char *merge_offsets(struct coord *c)
{
	json_t *all = json_object();
	char *text;

	for (int i = 0; i < c->flow->ntasks; i++) {
		json_t *o;

		if (!c->p.offsets[i])
			continue;
		o = json_loads(c->p.offsets[i], 0, NULL);
		if (json_is_object(o))
			json_object_update_recursive(all, o);
		json_decref(o);
	}
	text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	return text;
}

static bool chain_has(const struct ckpt_chain *chain, const char *name)
{
	for (size_t i = 0; i < chain->n; i++)
		if (!strcmp(chain->f[i].file.name, name))
			return true;
	return false;
}

/* Whether task i's chain file f was written for this checkpoint: it is
 * not in the chain of the task's previous checkpoint in this run, or,
 * before the first one, not in the restored chain (whose files are all
 * from checkpoints up to the restored one). */
static bool chain_file_new(const struct coord *c, int i,
                           const struct ckpt_chain_file *f)
{
	if (c->prev_chains[i].n)
		return !chain_has(&c->prev_chains[i], f->file.name);
	return f->id > c->flow->restored_id;
}

/* Copies savepoint meta (complete in DIR) into sp.to; a failure is
 * kept in sp.msg. Without c->mu. */
static void copy_savepoint(struct coord *c, const struct ckpt_meta *meta)
{
	char err[768];
	int64_t t0 = now_mono_ms();

	if (ckpt_copy(c->st, meta, c->sp.to, err, sizeof(err)) < 0) {
		log_error("coordinator",
		          "savepoint %llu: checkpoint %llu is complete in %s, "
		          "but copying it failed: %s",
		          (unsigned long long)meta->id,
		          (unsigned long long)meta->id, ckpt_store_dir(c->st),
		          err);
		pthread_mutex_lock(&c->mu);
		snprintf(c->sp.msg, sizeof(c->sp.msg),
		         "checkpoint %llu is complete, but copying it failed: "
		         "%s",
		         (unsigned long long)meta->id, err);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	log_info("coordinator", "savepoint %llu written to %s/%s in %lld ms",
	         (unsigned long long)meta->id, ckpt_store_dir(c->sp.to),
	         ckpt_store_one(c->sp.to), (long long)(now_mono_ms() - t0));
}

static void complete(struct coord *c)
{
	struct pending *p = &c->p;
	struct ckpt_meta meta = {0};
	char err[1024], sizes[96] = "";
	uint64_t bytes = 0, full = 0;
	size_t n = 0, chained = 0;
	int rc;

	meta.tasks = xcalloc((size_t)c->flow->ntasks, sizeof(*meta.tasks));
	for (int i = 0; i < c->flow->ntasks; i++) {
		if (!p->has_file[i])
			continue;
		meta.tasks[n].task = c->flow->tasks[i]->name;
		meta.tasks[n].file = p->files[i];
		meta.tasks[n].chain = p->chains[i];
		meta.tasks[n].parallelism =
		    (uint32_t)c->flow->tasks[i]->parallelism;
		bytes += p->files[i].size;
		full += p->files[i].size;
		for (size_t j = 0; j < p->chains[i].n; j++) {
			const struct ckpt_file_info *f =
			    &p->chains[i].f[j].file;

			full += f->size;
			if (chain_file_new(c, i, &p->chains[i].f[j]))
				bytes += f->size;
		}
		chained += p->chains[i].n > 0;
		n++;
	}
	meta.ntasks = n;
	meta.job = c->job_name;
	meta.fingerprint = c->fingerprint;
	meta.id = p->id;
	meta.triggered_ms = p->trig_wall_ms;
	meta.completed_ms = now_wall_ms();
	meta.offsets_json = merge_offsets(c);
	meta.instance_index = job_instance_index(c->cfg->instance);
	meta.instance_count = job_instance_count(c->cfg->instance);
	meta.savepoint = p->savepoint;

	/* Writing _metadata is slow (fsync); acks for this id cannot come any
	 * more, so other threads may post events meanwhile. sp.to stays:
	 * its requester waits for sp.done. */
	pthread_mutex_unlock(&c->mu);
	rc = ckpt_write_meta(c->st, &meta, err, sizeof(err));
	if (rc == 0 && p->savepoint)
		copy_savepoint(c, &meta);
	pthread_mutex_lock(&c->mu);
	free(meta.offsets_json);
	free(meta.tasks);
	if (rc < 0) {
		ckpt_write_hint(c->st, err, sizeof(err));
		fail(c, err);
		return;
	}
	c->completed++;
	c->last_complete_id = p->id;
	c->consecutive_failures = 0;
	c->last_end_ms = now_mono_ms();
	ckpt_stats_completed(c->stats, p->id, meta.completed_ms,
	                     c->last_end_ms - p->trig_mono_ms, full, bytes);
	for (int i = 0; i < c->flow->ntasks; i++)
		if (p->has_file[i])
			atomic_store_explicit(
			    &c->flow->tasks[i]->stats.state_bytes,
			    part_size(&p->files[i], &p->chains[i]),
			    memory_order_relaxed);
	if (chained)
		snprintf(sizes, sizeof(sizes),
		         ", %llu bytes written, %llu bytes in all",
		         (unsigned long long)bytes, (unsigned long long)full);
	log_info("coordinator",
	         "checkpoint %llu complete in %lld ms: %zu state files, %llu "
	         "bytes%s%s",
	         (unsigned long long)p->id,
	         (long long)(c->last_end_ms - p->trig_mono_ms), n,
	         (unsigned long long)full, sizes,
	         p->final ? (p->savepoint ? " (final, savepoint)" : " (final)")
	                  : (p->savepoint ? " (savepoint)" : ""));
	/* A savepoint's keyed state is in its files: the chains go on from
	 * the checkpoint before. */
	for (int i = 0; i < c->flow->ntasks && !p->savepoint; i++) {
		ckpt_chain_clear(&c->prev_chains[i]);
		c->prev_chains[i] = p->chains[i];
		memset(&p->chains[i], 0, sizeof(p->chains[i]));
	}
	if (p->savepoint)
		savepoint_done(c, NULL); /* sp.msg says if the copy failed */
	for (int i = 0; i < c->flow->ntasks; i++)
		task_notify_complete(c->flow->tasks[i], p->id);
	if (ckpt_retain(c->st, p->id, c->cfg->retain) < 0)
		log_warn("coordinator",
		         "could not remove old checkpoints in %s",
		         ckpt_store_dir(c->st));
	if (chained)
		ckpt_persister_collect(c->persister);
	if (p->final)
		finish_job(c, true);
	else
		c->state = CS_IDLE;
}

/* The tasks that have not acknowledged, each with what it is waiting for
 * outside the job when it said (task_set_waiting): "sink#0 (12 record(s)
 * ...)". */
static char *missing_acks(struct coord *c)
{
	size_t len = 0, cap = 256;
	char *s = xmalloc(cap);
	char waiting[sizeof(c->flow->tasks[0]->waiting)];

	s[0] = '\0';
	for (int i = 0; i < c->flow->ntasks; i++) {
		const char *who = c->flow->tasks[i]->who;
		size_t need;

		if (c->p.acked[i])
			continue;
		task_waiting(c->flow->tasks[i], waiting, sizeof(waiting));
		need = strlen(who) + strlen(waiting) + 6;
		if (len + need >= cap) {
			cap = (len + need) * 2;
			s = xrealloc(s, cap);
		}
		len += (size_t)snprintf(
		    s + len, cap - len, "%s%s%s%s%s", len ? ", " : "", who,
		    waiting[0] ? " (" : "", waiting, waiting[0] ? ")" : "");
	}
	return s;
}

/* Sleeps until mono_ms (-1: no deadline) or an event. Every event is
 * signalled on c->cv: acks, declines, a final checkpoint requested, the
 * shutdown, and a job failure (flow_fail calls coord_wake). */
static void wait_until(struct coord *c, int64_t mono_ms)
{
	struct timespec ts;

	if (mono_ms < 0) {
		pthread_cond_wait(&c->cv, &c->mu);
		return;
	}
	ts = mono_deadline(mono_ms);
	pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

static void *coord_main(void *arg)
{
	struct coord *c = arg;

	pthread_mutex_lock(&c->mu);
	while (c->state != CS_DONE) {
		int64_t now = now_mono_ms();

		if (c->shutdown || flow_stopping(c->flow)) {
			if (c->state == CS_PENDING) {
				ckpt_persister_discard(c->persister, c->p.id);
				notify_aborted(c, c->p.id);
				ckpt_stats_ended(c->stats, c->p.id, true,
				                 "the job stopped before it "
				                 "completed",
				                 now_wall_ms(),
				                 now - c->p.trig_mono_ms);
			}
			finish_job(c, false);
			break;
		}
		if (c->state == CS_IDLE) {
			int64_t due = -1;

			if (c->sp.to && !c->sp.done) {
				trigger(c, c->sp.stop || c->final_requested,
				        true);
				continue;
			}
			if (c->final_requested) {
				trigger(c, true, false);
				continue;
			}
			/* A fresh job's first checkpoint is taken at once; its
			 * sources wait for it (see run_source). */
			if (c->completed == 0 && c->flow->restored_id == 0 &&
			    c->next_id == c->first_id) {
				trigger(c, false, false);
				continue;
			}
			if (c->cfg->interval_ms > 0) {
				due = c->last_trigger_ms + c->cfg->interval_ms;
				if (c->last_end_ms + c->cfg->min_pause_ms > due)
					due = c->last_end_ms +
					      c->cfg->min_pause_ms;
				if (now >= due) {
					trigger(c, false, false);
					continue;
				}
			}
			wait_until(c, due);
			continue;
		}
		/* CS_PENDING */
		if (c->p.failure) {
			char *why = xstrdup(c->p.failure);
			fail(c, why);
			free(why);
		} else if (c->p.nacked == c->flow->ntasks) {
			complete(c);
		} else if (now >= c->p.trig_mono_ms + c->cfg->timeout_ms) {
			char *missing = missing_acks(c);
			char *why = xasprintf(
			    "timed out after %lld ms (checkpoint.timeout_ms) "
			    "waiting for %s",
			    (long long)c->cfg->timeout_ms, missing);
			fail(c, why);
			free(why);
			free(missing);
		} else {
			wait_until(c, c->p.trig_mono_ms + c->cfg->timeout_ms);
		}
	}
	savepoint_done(c, "the job stopped before the savepoint was taken");
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int coord_start(struct coord *c)
{
	if (pthread_create(&c->thread, NULL, coord_main, c) != 0)
		return -1;
	c->started = true;
	return 0;
}

void coord_join(struct coord *c)
{
	if (c && c->started)
		pthread_join(c->thread, NULL);
	if (c)
		c->started = false;
}

bool coord_final_ok(const struct coord *c)
{
	return c->final_ok;
}
