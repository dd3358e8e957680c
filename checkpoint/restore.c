/*
 * restore.c - restore at start (see restore.h): the newest checkpoint that
 * covers every stateful task and verifies is applied task by task; a
 * keyed stage takes its key groups from every file of its stage, at any
 * parallelism; leftovers of checkpoints that never completed are removed.
 */
#include "restore.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "keyed_state.h"
#include "log.h"
#include "opctx.h"
#include "task.h"
#include "util.h"

/* Says what restore is doing, for a signal that interrupts it. */
static void say_step(const struct ckpt_restore *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say_step(const struct ckpt_restore *rs, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (!rs->step)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	rs->step(rs->arg, what);
}

/* The search for the checkpoint to restore (the arg of report_skipped
 * and check_coverage): what the skipped ones had in common, so that a
 * refusal can name the one chain file that every complete checkpoint
 * needs and lost. Checkpoints share chain files, so one damaged base
 * takes them all. */
struct search {
	const struct ckpt_restore *rs;
	size_t skipped; /* complete checkpoints (with _metadata) skipped */
	bool one_file;  /* each of them for the chain file in file */
	char file[160]; /* "shared/<name>" */
};

static void report_skipped(void *arg, uint64_t id, const char *why)
{
	static const char pre[] = "damaged: " CKPT_SHARED_DIR "/";
	struct search *s = arg;
	const char *name = NULL;
	size_t n = 0;

	log_warn("restore", "checkpoint %llu in %s is not used: %s",
	         (unsigned long long)id, s->rs->dir, why);
	/* Without _metadata it never counted: nothing it needs is lost. */
	if (!strncmp(why, "incomplete", 10))
		return;
	if (!strncmp(why, pre, sizeof(pre) - 1)) {
		name = why + strlen("damaged: ");
		n = strcspn(name, ":");
	}
	if (s->skipped++ == 0) {
		s->one_file = name && n < sizeof(s->file);
		snprintf(s->file, sizeof(s->file), "%.*s", (int)n,
		         name ? name : "");
	} else if (!name || strlen(s->file) != n ||
	           strncmp(s->file, name, n) != 0) {
		s->one_file = false;
	}
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
	            (unsigned long long)meta->id, e->file.name, r->len - r->pos,
	            who, r->pos);
	return -1;
}

/* e's payload, decoded and verified once by ckpt_load_latest: borrowed
 * from meta, which frees it (or drop_payload, after its last reader). */
static void read_entry(const struct ckpt_task_entry *e, void **payload,
                       size_t *len, uint32_t *version)
{
	assert(e->payload || e->payload_len == 0);
	*payload = e->payload;
	*len = e->payload_len;
	*version = e->file.state_version;
}

/* Frees a payload nobody reads any more, so that restore holds at most
 * what the tasks still to restore need, not the whole checkpoint. */
static void drop_payload(struct ckpt_task_entry *e)
{
	free(e->payload);
	e->payload = NULL;
	e->payload_len = 0;
	for (size_t i = 0; i < e->chain.n; i++) {
		free(e->chain.f[i].payload);
		e->chain.f[i].payload = NULL;
		e->chain.f[i].payload_len = 0;
	}
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
static bool stage_files_ours(const struct task *t, const struct ckpt_meta *meta,
                             int *ours, struct errlist *errs)
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
		errlist_add(
		    errs,
		    "checkpoint %llu holds state %s for operators[%d], "
		    "but this job's operator there writes %s.state: the "
		    "operator changed. Run the job with the operator it "
		    "had, or use a new checkpoint.dir",
		    (unsigned long long)meta->id, f, t->stage - 1, t->name);
		return false;
	}
	return true;
}

static bool task_keyed(const struct ckpt_restore *rs, const struct task *t)
{
	(void)rs;
	return t->keyed;
}

/* Operator stages of the flow: the sink is stage nops + 1. */
static size_t flow_nops(const struct flow *f)
{
	return f->ntasks ? (size_t)f->tasks[f->ntasks - 1]->stage - 1 : 0;
}

/* The operator stage a state file's name says ("op<n>-..." is stage
 * n + 1, as task names are made), or 0 when it names none of this job. */
static int file_stage(const struct ckpt_restore *rs, const char *file)
{
	const char *p = file + 2;
	size_t n = 0;

	if (strncmp(file, "op", 2) != 0 || *p < '0' || *p > '9' ||
	    (p[0] == '0' && p[1] != '-'))
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (size_t)(*p - '0');
		if (n >= flow_nops(rs->flow))
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

/* Whether meta was taken by the instance rs restores (an older _metadata,
 * without one, by the only instance). */
static bool same_instance(const struct ckpt_restore *rs,
                          const struct ckpt_meta *meta)
{
	return meta->instance_index == job_instance_index(rs->instance) &&
	       meta->instance_count == job_instance_count(rs->instance);
}

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
	const struct ckpt_restore *rs = ((const struct search *)arg)->rs;
	size_t nst = flow_nops(rs->flow) + 1;
	const struct task **by =
	    xcalloc((size_t)rs->flow->ntasks + 1, sizeof(*by));
	struct stage_cover *sc = xcalloc(nst, sizeof(*sc));
	bool *seen = xcalloc((size_t)rs->flow->ntasks + 1, sizeof(*seen));
	int rc = -1;

	if (strcmp(meta->job, rs->job_name) != 0 ||
	    strcmp(meta->fingerprint, rs->fingerprint) != 0 ||
	    !same_instance(rs, meta)) {
		rc = 0;
		goto out;
	}
	for (int k = 0; k < rs->flow->ntasks; k++) {
		const struct task *t = rs->flow->tasks[k];

		by[k] = t;
		if (t->stage >= 1 && (size_t)t->stage < nst &&
		    !sc[t->stage].first)
			sc[t->stage].first = t;
	}
	qsort(by, (size_t)rs->flow->ntasks, sizeof(*by), cmp_task_name);
	for (size_t i = 0; i < meta->ntasks; i++) {
		const char *f = meta->tasks[i].task;
		const struct task *const *hit =
		    bsearch(f, by, (size_t)rs->flow->ntasks, sizeof(*by),
		            find_task_name);
		struct stage_cover *c = &sc[file_stage(rs, f)];
		const struct task *t0 = c->first;

		if (hit && (*hit)->body.snapshot && !task_keyed(rs, *hit)) {
			seen[(*hit)->index] = true;
		} else if (t0 && own_file(t0, f) && task_keyed(rs, t0)) {
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
	for (int k = 0; k < rs->flow->ntasks; k++) {
		const struct task *t = rs->flow->tasks[k];
		const struct stage_cover *c =
		    t->stage >= 1 && (size_t)t->stage < nst ? &sc[t->stage]
		                                            : NULL;

		if (!t->body.snapshot || (c && c->foreign))
			continue;
		if (task_keyed(rs, t) ? c->files == 0 : !seen[t->index]) {
			snprintf(why, len,
			         "_metadata lists no state for %s (%s), which "
			         "keeps state%s",
			         t->name, t->who, advice);
			goto out;
		}
		if (task_keyed(rs, t) && c->writers &&
		    (c->files != c->writers || c->top != c->writers)) {
			snprintf(
			    why, len,
			    "_metadata lists %zu state file(s) of %s's "
			    "stage, written by %u task(s): some key groups "
			    "have no state%s",
			    c->files, t->who, c->writers, advice);
			goto out;
		}
		if (task_keyed(rs, t) && c->top != c->files) {
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

/* Chains are applied by APPLY_THREADS threads, each to its own share of
 * the task's key groups (g % APPLY_THREADS), so that a restore uses more
 * than one core even for a task of parallelism 1. */
#define APPLY_THREADS 2

struct apply {
	struct task *t;
	struct keyed_state *ks;
	const struct ckpt_meta *meta;
	int share;
	char err[1024]; /* "" when it went well */
};

/* Applies every chain of t's stage (base, then deltas in order) to the
 * groups of a's share that t owns. */
static void *apply_share(void *arg)
{
	struct apply *a = arg;
	bool want[KEY_GROUPS];

	for (int g = 0; g < KEY_GROUPS; g++)
		want[g] = g % APPLY_THREADS == a->share;
	for (size_t i = 0; i < a->meta->ntasks && !a->err[0]; i++) {
		const struct ckpt_task_entry *e = &a->meta->tasks[i];

		if (!own_file(a->t, e->task))
			continue;
		for (size_t j = 0; j < e->chain.n; j++) {
			const struct ckpt_chain_file *f = &e->chain.f[j];
			struct weir_reader r = {.p = f->payload,
			                        .len = f->payload_len};
			char err[400];

			if (kstate_apply(a->ks, &r, a->t->sub,
			                 a->t->parallelism, want, err,
			                 sizeof(err)) < 0) {
				snprintf(a->err, sizeof(a->err),
				         "%s/%s: %s: the file is damaged",
				         CKPT_SHARED_DIR, f->file.name, err);
				break;
			}
			if (r.pos != r.len) {
				snprintf(a->err, sizeof(a->err),
				         "%s/%s: %zu byte(s) after the end of "
				         "its keyed state: the file is damaged",
				         CKPT_SHARED_DIR, f->file.name,
				         r.len - r.pos);
				break;
			}
		}
	}
	return NULL;
}

/* Rebuilds t's keyed state from the chains its stage's files list. */
static int apply_chains(struct task *t, const struct ckpt_meta *meta,
                        struct errlist *errs)
{
	struct keyed_state *ks = opctx_keyed_state(t->body.st);
	struct apply a[APPLY_THREADS];
	pthread_t th[APPLY_THREADS];
	bool started[APPLY_THREADS] = {false};
	size_t chains = 0;
	int rc = 0;

	for (size_t i = 0; i < meta->ntasks; i++)
		if (own_file(t, meta->tasks[i].task))
			chains += meta->tasks[i].chain.n;
	if (chains == 0 || !ks)
		return 0;
	for (int k = 0; k < APPLY_THREADS; k++) {
		a[k] = (struct apply){
		    .t = t, .ks = ks, .meta = meta, .share = k, .err = ""};
		/* The last share runs here; so does any a thread could
		 * not be started for. */
		started[k] =
		    k < APPLY_THREADS - 1 &&
		    pthread_create(&th[k], NULL, apply_share, &a[k]) == 0;
		if (!started[k])
			apply_share(&a[k]);
	}
	for (int k = 0; k < APPLY_THREADS; k++) {
		if (started[k])
			pthread_join(th[k], NULL);
		if (a[k].err[0] && rc == 0) {
			errlist_add(
			    errs,
			    "%s: restoring checkpoint %llu: %s. Move the "
			    "checkpoint directory aside to start fresh",
			    t->who, (unsigned long long)meta->id, a[k].err);
			rc = -1;
		}
	}
	kstate_restored(ks);
	return rc;
}

/* A keyed operator's task takes the key groups it owns from every state
 * file of its stage, whatever parallelism wrote them. */
static int restore_keyed(const struct ckpt_restore *rs, struct task *t,
                         struct ckpt_meta *meta, struct errlist *errs)
{
	int old_par;
	bool rescaled;

	if (!stage_files_ours(t, meta, &old_par, errs))
		return -1;
	if (old_par == 0)
		return 0;
	rescaled = old_par != t->parallelism;
	if (rescaled && t->sub == 0)
		log_info("restore",
		         "%s: moving keyed state from %d task(s) to "
		         "%d",
		         t->who, old_par, t->parallelism);
	for (size_t i = 0; i < meta->ntasks; i++) {
		const struct ckpt_task_entry *e = &meta->tasks[i];
		struct weir_reader r = {0};
		void *payload;
		size_t len;
		uint32_t version;
		int rc;

		if (!own_file(t, e->task))
			continue;
		bool chained = false;

		read_entry(e, &payload, &len, &version);
		r.p = payload;
		r.len = len;
		rc = opctx_restore_part(t->body.st, &r, version,
		                        !rescaled && !strcmp(e->task, t->name),
		                        rescaled, &chained);
		if (rc < 0) {
			errlist_add(errs, "%s",
			            rs->flow->fail_msg ? rs->flow->fail_msg
			                               : "restore failed");
			return -1;
		}
		if (check_consumed(meta, e, &r, t->who, errs) < 0)
			return -1;
		if (chained != (e->chain.n > 0)) {
			errlist_add(
			    errs,
			    "chk-%llu/%s: %s, but _metadata %s: the "
			    "checkpoint is damaged. Move the checkpoint "
			    "directory aside to start fresh",
			    (unsigned long long)meta->id, e->file.name,
			    chained ? "the keyed state is in a chain of "
			              "files"
			            : "the keyed state is in the file",
			    chained ? "lists no chain for it"
			            : "lists a chain for it too");
			return -1;
		}
	}
	if (apply_chains(t, meta, errs) < 0)
		return -1;
	if (rs->chains && !rescaled)
		for (size_t i = 0; i < meta->ntasks; i++)
			if (!strcmp(meta->tasks[i].task, t->name))
				ckpt_chain_copy(&rs->chains[t->index],
				                &meta->tasks[i].chain);
	/* Every task of the stage reads every file of it (each keeps its
	 * own key groups); after the last one they are no longer needed. */
	if (t->sub == t->parallelism - 1)
		for (size_t i = 0; i < meta->ntasks; i++)
			if (own_file(t, meta->tasks[i].task))
				drop_payload(&meta->tasks[i]);
	return 0;
}

static int restore_task(const struct ckpt_restore *rs, struct task *t,
                        struct ckpt_meta *meta, struct errlist *errs)
{
	struct ckpt_task_entry *e = NULL;
	struct weir_reader r = {0};
	void *payload = NULL;
	size_t len = 0;
	uint32_t version;
	int rc;

	if (task_keyed(rs, t))
		return restore_keyed(rs, t, meta, errs);
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
		errlist_add(errs,
		            "checkpoint %llu has state for %s, which "
		            "keeps none",
		            (unsigned long long)meta->id, t->who);
		return -1;
	}
	read_entry(e, &payload, &len, &version);
	r.p = payload;
	r.len = len;
	rc = t->body.restore(t, t->body.st, &r, version);
	if (rc < 0) {
		errlist_add(errs, "%s",
		            rs->flow->fail_msg ? rs->flow->fail_msg
		                               : "restore failed");
		return -1;
	}
	rc = check_consumed(meta, e, &r, t->who, errs);
	drop_payload(e);
	return rc;
}

struct strays {
	const struct ckpt_restore *rs;
	uint64_t top; /* largest id of a stray, 0 if none */
};

/* An entry of checkpoint.dir that is no checkpoint: said once, left
 * alone, and its id (if any) never reused. */
static void report_stray(void *arg, const char *name, uint64_t id,
                         const char *why)
{
	struct strays *sr = arg;

	log_warn("restore", "%s in %s is not used: %s", name, sr->rs->dir, why);
	if (id > sr->top)
		sr->top = id;
}

/* Removes directories of checkpoints newer than `newest` that never got
 * their _metadata: leftovers of a crash mid-checkpoint. Sets *next_id past
 * every chk-<id> name in use; -1 when no id is left for it. */
static int remove_leftovers(const struct ckpt_restore *rs, uint64_t newest,
                            uint64_t *next_id, struct errlist *errs)
{
	struct strays sr = {rs, 0};
	uint64_t *ids = NULL;
	size_t n = 0;

	*next_id = newest + 1;
	if (ckpt_list_report(rs->store, &ids, &n, report_stray, &sr) < 0)
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
		            (unsigned long long)(*next_id - 1), rs->dir,
		            (unsigned long long)CKPT_ID_MAX);
		free(ids);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (ids[i] <= newest || ckpt_has_meta(rs->store, ids[i]))
			continue;
		log_info("restore", "removing chk-%llu: it never completed",
		         (unsigned long long)ids[i]);
		ckpt_remove(rs->store, ids[i]);
	}
	free(ids);
	/* Chain files no checkpoint lists: of checkpoints that never
	 * completed, of writes a crash cut short. */
	if (ckpt_collect_shared(rs->store, NULL, 0, true) < 0)
		log_warn("restore",
		         "could not clean up %s/%s (the reason is above); "
		         "nothing was removed, and the next checkpoint tries "
		         "again",
		         rs->dir, CKPT_SHARED_DIR);
	return 0;
}

/* --from: loads checkpoint from_id of rs->from, verified and checked
 * like the newest of a directory. Returns 1, or -1 with errs. Says when
 * it passes over the checkpoints of checkpoint.dir. */
static int load_from(const struct ckpt_restore *rs, struct ckpt_meta *meta,
                     struct errlist *errs)
{
	struct search search = {.rs = rs};
	char err[1024];
	uint64_t *ids = NULL;
	size_t n = 0;

	if (ckpt_load(rs->from, rs->from_id, meta, err, sizeof(err)) < 0) {
		errlist_add(errs,
		            "cannot start from %s: %s. Nothing was restored; "
		            "name an intact savepoint or checkpoint",
		            rs->from_path, err);
		return -1;
	}
	if (check_coverage(&search, meta, err, sizeof(err)) < 0) {
		errlist_add(errs, "cannot start from %s: %s", rs->from_path,
		            err);
		ckpt_meta_clear(meta);
		return -1;
	}
	if (ckpt_list(rs->store, &ids, &n) == 0 && n > 0)
		log_info("restore",
		         "%s holds checkpoints (the newest chk-%llu), but "
		         "--from wins: starting from checkpoint %llu of %s",
		         rs->dir, (unsigned long long)ids[n - 1],
		         (unsigned long long)meta->id, rs->from_path);
	free(ids);
	return 1;
}

int ckpt_restore(const struct ckpt_restore *rs, uint64_t *next_id,
                 struct errlist *errs)
{
	struct ckpt_meta meta = {0};
	struct search search = {.rs = rs};
	const char *dir = rs->from ? rs->from_path : rs->dir;
	int found = rs->from
	                ? load_from(rs, &meta, errs)
	                : ckpt_load_latest(rs->store, &meta, check_coverage,
	                                   report_skipped, &search);
	int rc = -1;

	if (found < 0 && rs->from)
		return -1;
	if (found < 0 && search.one_file) {
		errlist_add(errs,
		            "no checkpoint in %s can be restored: every "
		            "complete one needs %s, which is damaged (see "
		            "above). Put back an intact copy of that file if "
		            "a backup has one, and start again; or, to start "
		            "from scratch, move the directory aside (the "
		            "source then starts at source.start)",
		            dir, search.file);
		return -1;
	}
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
		if (remove_leftovers(rs, 0, next_id, errs) < 0)
			return -1;
		log_info("restore", "no checkpoint in %s: starting fresh", dir);
		return 0;
	}
	if (strcmp(meta.job, rs->job_name) != 0) {
		errlist_add(
		    errs,
		    "checkpoint %llu in %s belongs to job \"%s\", not "
		    "\"%s\". %s",
		    (unsigned long long)meta.id, dir, meta.job, rs->job_name,
		    rs->from ? "Start from a savepoint of this job (a job "
		               "keeps its name across savepoints)"
		             : "Use a checkpoint.dir of its own for each job");
		goto out;
	}
	if (!same_instance(rs, &meta)) {
		errlist_add(
		    errs,
		    "checkpoint %llu in %s was taken by instance %d of %d, "
		    "and this is instance %d of %d. Each instance owns the "
		    "source partitions p with p %% count == index, and its "
		    "state and offsets are of those partitions only; moving "
		    "partitions between instances would need rescaling "
		    "across processes, which weir does not do. Run it as "
		    "--instance %d/%d, or start this instance fresh (an "
		    "empty checkpoint directory; the source then starts at "
		    "source.start)",
		    (unsigned long long)meta.id, dir, meta.instance_index,
		    meta.instance_count, job_instance_index(rs->instance),
		    job_instance_count(rs->instance), meta.instance_index,
		    meta.instance_count);
		goto out;
	}
	if (strcmp(meta.fingerprint, rs->fingerprint) != 0) {
		errlist_add(
		    errs,
		    "checkpoint %llu in %s was taken by a different job "
		    "graph and cannot be restored.\n  checkpoint: %s\n  "
		    "this job:   %s\nRun the job as it was, or %s",
		    (unsigned long long)meta.id, dir, meta.fingerprint,
		    rs->fingerprint,
		    rs->from ? "start it without --from"
		             : "point checkpoint.dir at a new directory to "
		               "start fresh");
		goto out;
	}
	say_step(rs, "restoring checkpoint %llu of %s",
	         (unsigned long long)meta.id, dir);
	for (int i = 0; i < rs->flow->ntasks; i++)
		if (restore_task(rs, rs->flow->tasks[i], &meta, errs) < 0)
			goto out;
	rs->flow->restored_id = meta.id;
	say_step(rs, "cleaning up after restoring checkpoint %llu of %s",
	         (unsigned long long)meta.id, dir);
	if (remove_leftovers(rs, rs->from ? 0 : meta.id, next_id, errs) < 0)
		goto out;
	if (*next_id <= meta.id)
		*next_id = meta.id + 1;
	{
		char when[40];

		fmt_wall_ms(meta.completed_ms, when, sizeof(when));
		log_info("restore",
		         "restored checkpoint %llu of %s (taken %s); "
		         "offsets %s",
		         (unsigned long long)meta.id, dir, when,
		         meta.offsets_json ? meta.offsets_json : "{}");
	}
	rc = 0;
out:
	ckpt_meta_clear(&meta);
	return rc;
}
