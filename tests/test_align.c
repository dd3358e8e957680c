/*
 * test_align.c - barrier alignment and the checkpoint protocol, end to end
 * through the real task threads, channels, coordinator, snapshot persister
 * and store, with test bodies.
 *
 * Two sources (one slow, one fast) each emit two partitions of numbered
 * records. Two checkers receive every partition from both sources over
 * all-to-all channels, so each checker has two inputs and aligns barriers.
 * A checker's state is how many records of each partition it saw. If
 * alignment is right, then in every completed checkpoint the checkers'
 * counts for partition p add up to exactly the source's position for p:
 * a record processed after its barrier, or one left behind, breaks the
 * equality. Checkers also assert per-partition order and no gaps.
 *
 * Checkers also count their records per block of BLOCK offsets in managed
 * keyed state, captured at the barrier and serialised later by the
 * snapshot persister while the checker goes on: in every checkpoint those
 * counts must be exactly what the checker's own counts say it had seen,
 * so a view that missed or caught a change across the barrier, or a tail
 * lost on an abort or a write fault, shows.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_stats.h"
#include "job.h"
#include "keyed_state.h"
#include "store.h"
#include "task.h"
#include "util.h"
#include "weir/weir.h"

#define NPARTS 4
#define PER_PART 3000
#define BLOCK 100

struct src {
	int parts[2];
	int64_t next[2];
	int per_poll;
	useconds_t pause_us;
};

struct chk {
	int64_t seen[NPARTS];
	int64_t expect[NPARTS];
	atomic_int errors;
	int flush_sleep_ms;     /* sleep in flush of every checkpoint */
	uint64_t slow_id;       /* ... or only of this one */
	uint64_t slow_from;     /* ... or of this one and every later one */
	const char *waiting;    /* what the sleep says it waits for */
	struct keyed_state *ks; /* key "p/block" -> "n": records */
	/* Checkpoints keyed state as opctx.c does in incremental mode: a
	 * base first, then deltas, and every third checkpoint a new base
	 * materialized in the background. */
	bool incremental;
	int taken;
};

/* rig_build makes incremental checkers when this is set. */
static bool incremental_rig;

static int src_poll(struct task *t, void *st, bool *progress)
{
	struct src *s = st;

	for (int k = 0; k < s->per_poll; k++) {
		int i = k % 2;
		struct weir_record like = {.topic = "t",
		                           .partition = s->parts[i],
		                           .offset = s->next[i]};
		char val[32];
		int n;

		if (s->next[i] >= PER_PART)
			continue;
		n = snprintf(val, sizeof(val), "{\"p\":%d,\"n\":%lld}",
		             s->parts[i], (long long)s->next[i]);
		if (task_emit(t, NULL, 0, val, (size_t)n, NULL, 0, 0, &like) <
		    0)
			return -1;
		s->next[i]++;
		*progress = true;
	}
	if (s->pause_us)
		usleep(s->pause_us);
	return 0;
}

static bool src_at_end(struct task *t, void *st)
{
	struct src *s = st;

	(void)t;
	return s->next[0] >= PER_PART && s->next[1] >= PER_PART;
}

static int src_snapshot(struct task *t, void *st, uint64_t id,
                        struct weir_writer *w, char **offsets)
{
	struct src *s = st;

	(void)t;
	(void)id;
	(void)offsets;
	for (int i = 0; i < 2; i++) {
		weir_write_u64(w, (uint64_t)s->parts[i]);
		weir_write_u64(w, (uint64_t)s->next[i]);
	}
	return 0;
}

static int src_restore(struct task *t, void *st, struct weir_reader *r,
                       uint32_t version)
{
	struct src *s = st;

	(void)t;
	ck_assert_uint_eq(version, 1);
	for (int i = 0; i < 2; i++) {
		uint64_t part, next;

		ck_assert_int_eq(weir_read_u64(r, &part), WEIR_OK);
		ck_assert_int_eq(weir_read_u64(r, &next), WEIR_OK);
		ck_assert_int_eq((int)part, s->parts[i]);
		s->next[i] = (int64_t)next;
	}
	return 0;
}

static int chk_restore(struct task *t, void *st, struct weir_reader *r,
                       uint32_t version)
{
	struct chk *c = st;

	(void)t;
	char err[256];

	ck_assert_uint_eq(version, 1);
	for (int q = 0; q < NPARTS; q++) {
		uint64_t v;

		ck_assert_int_eq(weir_read_u64(r, &v), WEIR_OK);
		c->seen[q] = (int64_t)v;
		/* Each partition goes to one checker: what it saw is the
		 * next offset it expects. */
		if (v)
			c->expect[q] = (int64_t)v;
	}
	ck_assert_msg(kstate_restore(c->ks, r, 0, 1, err, sizeof(err)) == 0,
	              "restore: %s", err);
	return 0;
}

static int chk_process(struct task *t, void *st, struct batch *b)
{
	struct chk *c = st;

	(void)t;
	for (uint32_t i = 0; i < b->n; i++) {
		const struct weir_record *r = &b->recs[i];

		char key[32];
		const void *v;
		size_t vlen;
		uint64_t n = 1;

		if (r->partition < 0 || r->partition >= NPARTS ||
		    r->offset != c->expect[r->partition])
			atomic_fetch_add(&c->errors, 1);
		else
			c->expect[r->partition]++;
		c->seen[r->partition]++;
		kstate_set_key(c->ks, key,
		               (size_t)snprintf(key, sizeof(key), "%d/%lld",
		                                r->partition,
		                                (long long)r->offset / BLOCK));
		if (kstate_get(c->ks, "n", 1, &v, &vlen) == WEIR_OK) {
			memcpy(&n, v, sizeof(n));
			n++;
		}
		kstate_put(c->ks, "n", 1, &n, sizeof(n));
	}
	return 0;
}

static int chk_flush(struct task *t, void *st, uint64_t id)
{
	struct chk *c = st;

	if (!c->flush_sleep_ms || (c->slow_id && c->slow_id != id) ||
	    id < c->slow_from)
		return 0;
	if (c->waiting)
		task_set_waiting(t, "%s", c->waiting);
	usleep((useconds_t)c->flush_sleep_ms * 1000);
	task_clear_waiting(t);
	return 0;
}

static int chk_snapshot(struct task *t, void *st, uint64_t id,
                        struct weir_writer *w, char **offsets)
{
	struct chk *c = st;

	(void)t;
	(void)id;
	(void)offsets;
	for (int p = 0; p < NPARTS; p++)
		weir_write_u64(w, (uint64_t)c->seen[p]);
	return 0;
}

static int chk_snapshot_tail(struct task *t, void *st, uint64_t id,
                             struct snap_tail *tail)
{
	struct chk *c = st;

	(void)id;
	if (!c->incremental) {
		kstate_capture(c->ks, tail);
		return 0;
	}
	if (atomic_exchange(&t->chain.need_base, false)) {
		kstate_capture_base(c->ks, tail);
		return 0;
	}
	{
		struct weir_writer w = {0};

		if (kstate_delta(c->ks, &w) > 0) {
			tail->delta = w.p;
			tail->delta_len = w.len;
		} else {
			free(w.p);
		}
	}
	tail->kind = SNAP_DELTA;
	if (++c->taken % 3 == 0 && !atomic_load(&t->chain.materializing)) {
		atomic_store(&t->chain.materializing, true);
		kstate_capture_base(c->ks, tail);
		tail->kind = SNAP_DELTA;
		tail->materialize = true;
	}
	return 0;
}

static void chk_close(struct task *t, void *st)
{
	struct chk *c = st;

	(void)t;
	kstate_free(c->ks);
	c->ks = NULL;
}

struct rig {
	char dir[64];
	struct job *job;
	struct src src[2];
	struct chk chk[2];
};

static struct job_cfg *make_cfg(const char *dir, int interval_ms,
                                int timeout_ms, int tolerable)
{
	char text[512];
	struct errlist errs = {0};
	struct job_cfg *cfg;

	snprintf(text, sizeof(text),
	         "{\"name\":\"align\",\"checkpoint\":{\"dir\":\"%s\","
	         "\"interval_ms\":%d,\"timeout_ms\":%d,\"retain\":1000,"
	         "\"tolerable_failures\":%d},"
	         "\"source\":{\"type\":\"generator\"},"
	         "\"sink\":{\"type\":\"discard\"}}",
	         dir, interval_ms, timeout_ms, tolerable);
	cfg = jobfile_parse(text, strlen(text), "<test>", &errs);
	ck_assert_msg(cfg, "job config: %s", errs.n ? errs.msgs[0] : "?");
	errlist_clear(&errs);
	return cfg;
}

static void rig_build_full(struct rig *r, const char *dir, int interval_ms,
                           int timeout_ms, int tolerable,
                           const struct ckpt_io *io);

/* dir NULL: a new temporary directory. */
static void rig_build(struct rig *r, const char *dir, int interval_ms,
                      int timeout_ms, int tolerable)
{
	rig_build_full(r, dir, interval_ms, timeout_ms, tolerable, NULL);
}

/* 20 ms checkpoints, 1 s timeout, up to 100 tolerated failures. */
static void rig_build_io(struct rig *r, const char *dir,
                         const struct ckpt_io *io)
{
	rig_build_full(r, dir, 20, 1000, 100, io);
}

static void rig_build_full(struct rig *r, const char *dir, int interval_ms,
                           int timeout_ms, int tolerable,
                           const struct ckpt_io *io)
{
	struct errlist errs = {0};
	char name[32];

	memset(r, 0, sizeof(*r));
	if (dir) {
		snprintf(r->dir, sizeof(r->dir), "%s", dir);
	} else {
		snprintf(r->dir, sizeof(r->dir), "/tmp/weir-test-align-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(r->dir));
	}
	r->job =
	    job_alloc(make_cfg(r->dir, interval_ms, timeout_ms, tolerable));
	for (int i = 0; i < 2; i++) {
		struct task *t;

		snprintf(name, sizeof(name), "source-%d", i);
		t = job_add_task(r->job, 0, i, 2, name, name);
		r->src[i].parts[0] = 2 * i;
		r->src[i].parts[1] = 2 * i + 1;
		/* Source 0 is slow, source 1 fast. */
		r->src[i].per_poll = i == 0 ? 6 : 256;
		r->src[i].pause_us = i == 0 ? 1500 : 0;
		t->body.st = &r->src[i];
		t->body.state_version = 1;
		t->body.poll = src_poll;
		t->body.at_end = src_at_end;
		t->body.snapshot = src_snapshot;
		t->body.restore = src_restore;
	}
	r->job->flow.nsources = 2;
	for (int i = 0; i < 2; i++) {
		struct task *t;

		snprintf(name, sizeof(name), "checker-%d", i);
		t = job_add_task(r->job, 1, i, 2, name, name);
		r->chk[i].ks = kstate_new();
		r->chk[i].incremental = incremental_rig;
		kstate_track(r->chk[i].ks, incremental_rig);
		t->body.st = &r->chk[i];
		t->body.state_version = 1;
		t->body.process = chk_process;
		t->body.flush = chk_flush;
		t->body.snapshot = chk_snapshot;
		t->body.snapshot_tail = chk_snapshot_tail;
		t->body.restore = chk_restore;
		t->body.close = chk_close;
	}
	/* Not keyed and equal parallelism would be forward; a key field
	 * makes it all-to-all. Routing by the partition field keeps each
	 * partition on one path, so its order can be checked. */
	job_connect(r->job, 0, 2, 2, 2, "p");
	r->job->io = io;
	ck_assert_int_eq(job_prepare(r->job, &errs), 0);
	errlist_clear(&errs);
}

static uint64_t read_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A checker's file: its counts, then a keyed section that must hold, for
 * each partition p it saw, the number of records in each block of BLOCK
 * offsets below its count of p, nothing else. */
static void check_keyed(const unsigned char *p, size_t len, const char *who)
{
	struct weir_reader r = {.p = (const char *)p, .len = len};
	uint64_t seen[NPARTS], nkeys, total = 0, counted[NPARTS] = {0};

	for (int q = 0; q < NPARTS; q++) {
		ck_assert_int_eq(weir_read_u64(&r, &seen[q]), WEIR_OK);
		total += (seen[q] + BLOCK - 1) / BLOCK;
	}
	ck_assert_int_eq(weir_read_u64(&r, &nkeys), WEIR_OK);
	ck_assert_msg(nkeys == total, "%s: %llu keys, %llu blocks seen", who,
	              (unsigned long long)nkeys, (unsigned long long)total);
	for (uint64_t i = 0; i < nkeys; i++) {
		uint64_t group, nnames, n, want;
		const void *k, *name, *v;
		size_t kl, nl, vl;
		char key[32];
		int part;
		unsigned long long block;

		ck_assert(weir_read_u64(&r, &group) == WEIR_OK &&
		          weir_read_bytes(&r, &k, &kl) == WEIR_OK &&
		          weir_read_u64(&r, &nnames) == WEIR_OK &&
		          nnames == 1 &&
		          weir_read_bytes(&r, &name, &nl) == WEIR_OK &&
		          weir_read_bytes(&r, &v, &vl) == WEIR_OK && vl == 8 &&
		          kl < sizeof(key));
		memcpy(key, k, kl);
		key[kl] = '\0';
		memcpy(&n, v, 8);
		ck_assert_int_eq(sscanf(key, "%d/%llu", &part, &block), 2);
		ck_assert(part >= 0 && part < NPARTS);
		want =
		    seen[part] > block * BLOCK ? seen[part] - block * BLOCK : 0;
		want = want > BLOCK ? BLOCK : want;
		ck_assert_msg(n == want,
		              "%s: block %s holds %llu records, but "
		              "%llu of partition %d were seen",
		              who, key, (unsigned long long)n,
		              (unsigned long long)seen[part], part);
		counted[part] += n;
	}
	ck_assert_uint_eq(weir_read_remaining(&r), 0);
	for (int q = 0; q < NPARTS; q++)
		ck_assert_uint_eq(counted[q], seen[q]);
}

/* An incremental checker's keyed state, rebuilt from the chain its
 * _metadata entry lists, holds what check_keyed wants of it. Returns the
 * deltas in the chain. */
static size_t check_chain(const char *dir, const struct ckpt_task_entry *e,
                          const unsigned char *p, const char *who)
{
	struct keyed_state *ks = kstate_new();
	uint64_t total = 0;
	char err[512];

	for (size_t j = 0; j < e->chain.n; j++) {
		const struct ckpt_chain_file *f = &e->chain.f[j];
		char *path = xasprintf("%s/shared/%s", dir, f->file.name);
		unsigned char *payload = NULL;
		uint64_t len = 0;
		uint32_t sv;
		struct weir_reader r;

		ck_assert_msg(ckpt_statefile_read(
		                  &ckpt_io_posix, path, f->file.name,
		                  f->base ? CKPT_KEYED_BASE : CKPT_KEYED_DELTA,
		                  &f->file, &payload, &len, &sv, err,
		                  sizeof(err)) == 0,
		              "%s: %s", who, err);
		r = (struct weir_reader){.p = (const char *)payload,
		                         .len = (size_t)len};
		ck_assert_msg(
		    kstate_apply(ks, &r, 0, 1, NULL, err, sizeof(err)) == 0,
		    "%s: %s: %s", who, f->file.name, err);
		ck_assert_uint_eq(r.pos, r.len);
		free(payload);
		free(path);
	}
	kstate_restored(ks);
	for (int q = 0; q < NPARTS; q++) {
		uint64_t seen = read_u64(p + 8 * q);

		for (uint64_t b = 0; b * BLOCK < seen; b++) {
			char key[32];
			const void *v;
			size_t vl;
			uint64_t n, want = seen - b * BLOCK > BLOCK
			                       ? BLOCK
			                       : seen - b * BLOCK;

			kstate_set_key(ks, key,
			               (size_t)snprintf(key, sizeof(key),
			                                "%d/%llu", q,
			                                (unsigned long long)b));
			ck_assert_msg(kstate_get(ks, "n", 1, &v, &vl) == 0 &&
			                  vl == 8,
			              "%s: block %s is missing", who, key);
			memcpy(&n, v, 8);
			ck_assert_msg(n == want,
			              "%s: block %s holds %llu records, but "
			              "%llu of partition %d were seen",
			              who, key, (unsigned long long)n,
			              (unsigned long long)seen, q);
			total++;
		}
	}
	ck_assert_uint_eq(kstate_keys(ks), total);
	kstate_free(ks);
	return e->chain.n - 1;
}

static uint64_t newest_complete(const char *dir);

/* Deltas in the chains of the checkpoints verify_checkpoints read. */
static size_t chain_deltas;

/* Checks every complete checkpoint in the directory; returns how many. */
static int verify_checkpoints(const char *dir)
{
	char err[512];
	struct ckpt_store *st = ckpt_store_open(dir, NULL, err, sizeof(err));
	uint64_t *ids = NULL;
	size_t n = 0;
	int complete = 0;

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct ckpt_meta meta = {0};
		int64_t pos[NPARTS] = {0}, seen[NPARTS] = {0};

		ck_assert_msg(
		    ckpt_verify(st, ids[i], &meta, err, sizeof(err)) == 0,
		    "checkpoint %llu: %s", (unsigned long long)ids[i], err);
		for (size_t k = 0; k < meta.ntasks; k++) {
			const struct ckpt_task_entry *e = &meta.tasks[k];
			void *buf;
			size_t len;
			uint32_t ver;
			const unsigned char *p;

			ck_assert_int_eq(
			    ckpt_read_state(st, ids[i], e->task, &e->file, &buf,
			                    &len, &ver, err, sizeof(err)),
			    0);
			p = buf;
			if (!strncmp(e->task, "source-", 7)) {
				ck_assert_uint_eq(len, 32);
				for (int j = 0; j < 2; j++)
					pos[read_u64(p + 16 * j)] =
					    (int64_t)read_u64(p + 16 * j + 8);
			} else {
				ck_assert_uint_ge(len, 8 * NPARTS);
				for (int q = 0; q < NPARTS; q++)
					seen[q] += (int64_t)read_u64(p + 8 * q);
				if (e->chain.n)
					chain_deltas +=
					    check_chain(dir, e, p, e->task);
				else
					check_keyed(p, len, e->task);
			}
			free(buf);
		}
		ck_assert_uint_eq(meta.ntasks, 4);
		for (int q = 0; q < NPARTS; q++)
			ck_assert_msg(seen[q] == pos[q],
			              "checkpoint %llu, partition %d: checkers "
			              "saw %lld records, source position %lld",
			              (unsigned long long)ids[i], q,
			              (long long)seen[q], (long long)pos[q]);
		ckpt_meta_clear(&meta);
		complete++;
	}
	free(ids);
	ckpt_store_close(st);
	return complete;
}

static void rig_cleanup(struct rig *r)
{
	char *cmd = xasprintf("rm -rf '%s'", r->dir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

START_TEST(test_alignment_slow_and_fast_inputs)
{
	struct rig r;
	int complete;

	struct ckpt_summary sum;

	rig_build(&r, NULL, 10, 10000, 3);
	ck_assert_int_eq(job_start(r.job), 0);
	ck_assert_int_eq(job_wait(r.job), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(atomic_load(&r.chk[i].errors), 0);
	/* The statistics the HTTP endpoint serves saw every checkpoint
	 * complete, each in the duration histogram, the last with its id. */
	ckpt_stats_summary(r.job->stats, &sum);
	ck_assert_uint_eq(sum.failed + sum.aborted, 0);
	ck_assert_uint_eq(sum.duration.count, sum.completed);
	ck_assert_uint_eq(sum.last_id, newest_complete(r.dir));
	ck_assert_uint_gt(sum.last_size, 0);
	for (int i = 0; i < r.job->flow.ntasks; i++)
		ck_assert_uint_eq(
		    atomic_load(&r.job->flow.tasks[i]->stats.snap_id),
		    sum.last_id);
	for (int q = 0; q < NPARTS; q++)
		ck_assert_int_eq(r.chk[0].seen[q] + r.chk[1].seen[q], PER_PART);
	job_free(r.job);
	complete = verify_checkpoints(r.dir);
	/* The slow source alone runs for ~1.5 s: many checkpoints. */
	ck_assert_int_ge(complete, 5);
	rig_cleanup(&r);
}
END_TEST

START_TEST(test_timeout_aborts_and_job_goes_on)
{
	struct rig r;
	char path[128], *stats;

	rig_build(&r, NULL, 10, 100, 10);
	/* Checkpoint 2 takes longer than the 100 ms timeout (and so do those
	 * triggered while checker-0 is still stuck in it). */
	r.chk[0].flush_sleep_ms = 400;
	r.chk[0].slow_id = 2;
	ck_assert_int_eq(job_start(r.job), 0);
	ck_assert_int_eq(job_wait(r.job), 0);
	stats = ckpt_stats_json(r.job->stats);
	ck_assert_int_eq(atomic_load(&r.chk[0].errors), 0);
	ck_assert_int_eq(atomic_load(&r.chk[1].errors), 0);
	job_free(r.job);
	/* The aborted checkpoint left nothing behind, even though its late
	 * acknowledgement and state files arrived after the abort. */
	snprintf(path, sizeof(path), "%s/chk-2", r.dir);
	/* The statistics say so: the latest failure is a timeout. */
	if (!strstr(stats, "\"status\":\"failed\"") ||
	    !strstr(stats, "timed out after 100 ms"))
		fprintf(stderr, "/checkpoints: %s\n", stats);
	ck_assert_msg(strstr(stats, "\"status\":\"failed\"") &&
	                  strstr(stats, "timed out after 100 ms"),
	              "/checkpoints has no checkpoint failed by its timeout "
	              "(on stderr)");
	free(stats);
	ck_assert_msg(access(path, F_OK) != 0, "chk-2 should be removed");
	ck_assert_int_ge(verify_checkpoints(r.dir), 3);
	rig_cleanup(&r);
}
END_TEST

START_TEST(test_too_many_failures_fail_the_job)
{
	struct rig r;

	rig_build(&r, NULL, 10, 50, 2);
	r.chk[1].flush_sleep_ms = 120; /* every checkpoint times out */
	ck_assert_int_eq(job_start(r.job), 0);
	ck_assert_int_eq(job_wait(r.job), 1);
	ck_assert_ptr_nonnull(job_error(r.job));
	ck_assert_msg(strstr(job_error(r.job), "tolerable_failures"),
	              "message: %s", job_error(r.job));
	ck_assert_msg(strstr(job_error(r.job), "no checkpoint is complete "
	                                       "yet, so it starts fresh"),
	              "message: %s", job_error(r.job));
	job_free(r.job);
	ck_assert_int_eq(verify_checkpoints(r.dir), 0);
	rig_cleanup(&r);
}
END_TEST

/* The newest checkpoint in dir that verifies; 0 none. */
static uint64_t newest_complete(const char *dir)
{
	char err[512];
	struct ckpt_store *st = ckpt_store_open(dir, NULL, err, sizeof(err));
	uint64_t *ids = NULL, newest = 0;
	size_t n = 0;

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct ckpt_meta meta = {0};

		if (ckpt_verify(st, ids[i], &meta, err, sizeof(err)) == 0 &&
		    ids[i] > newest)
			newest = ids[i];
		ckpt_meta_clear(&meta);
	}
	free(ids);
	ckpt_store_close(st);
	return newest;
}

/* The job's error says what the late task waits for (what its body said
 * with task_set_waiting), to start the job again, from which checkpoint,
 * and which settings tolerate longer stalls. */
START_TEST(test_too_many_failures_say_why_and_what_to_do)
{
	struct rig r;
	char *msg;
	uint64_t newest;
	char want[96];

	rig_build(&r, NULL, 10, 100, 2);
	r.chk[1].flush_sleep_ms = 250;
	r.chk[1].slow_from = 3; /* 1 and 2 complete, then all time out */
	r.chk[1].waiting = "12 record(s) not yet delivered";
	ck_assert_int_eq(job_start(r.job), 0);
	ck_assert_int_eq(job_wait(r.job), 1);
	ck_assert_ptr_nonnull(job_error(r.job));
	msg = xstrdup(job_error(r.job)); /* job_free frees it */
	ck_assert_msg(strstr(msg, "waiting for checker-1 (12 record(s) not "
	                          "yet delivered)") ||
	                  strstr(msg, ", checker-1 (12 record(s) not yet "
	                              "delivered)"),
	              "message: %s", msg);
	ck_assert_msg(strstr(msg, "start it again"), "message: %s", msg);
	ck_assert_msg(strstr(msg, "raise checkpoint.timeout_ms or "
	                          "checkpoint.tolerable_failures"),
	              "message: %s", msg);
	job_free(r.job);
	newest = newest_complete(r.dir);
	/* 1 and 2 are meant to complete, but on a loaded machine (the
	 * sanitizer build beside other work) 2 can take longer than the
	 * 100 ms timeout too: the message must name whichever is newest. */
	ck_assert_uint_ge(newest, 1);
	snprintf(want, sizeof(want),
	         "it resumes from checkpoint %llu, the "
	         "last complete one",
	         (unsigned long long)newest);
	ck_assert_msg(strstr(msg, want), "expected \"%s\" in: %s", want, msg);
	free(msg);
	rig_cleanup(&r);
}
END_TEST

START_TEST(test_stop_and_restore_resume_exactly)
{
	struct rig r;
	char dir[64];
	int64_t first_run = 0;

	/* Stop mid-stream with a final checkpoint... */
	rig_build(&r, NULL, 20, 10000, 3);
	ck_assert_int_eq(job_start(r.job), 0);
	usleep(300 * 1000);
	job_request_stop(r.job);
	ck_assert_int_eq(job_wait(r.job), 0);
	for (int i = 0; i < 2; i++)
		for (int q = 0; q < NPARTS; q++)
			first_run += r.chk[i].seen[q];
	job_free(r.job);
	ck_assert_int_lt(first_run, NPARTS * PER_PART);
	memcpy(dir, r.dir, sizeof(dir));

	/* ... then a new job on the same directory restores positions and
	 * counts and goes on exactly where the first stopped: the checkers'
	 * per-partition sequence check runs across the two runs. */
	rig_build(&r, dir, 20, 10000, 3);
	ck_assert_int_eq(job_start(r.job), 0);
	ck_assert_int_eq(job_wait(r.job), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(atomic_load(&r.chk[i].errors), 0);
	for (int q = 0; q < NPARTS; q++)
		ck_assert_int_eq(r.chk[0].seen[q] + r.chk[1].seen[q], PER_PART);
	job_free(r.job);
	verify_checkpoints(r.dir);
	rig_cleanup(&r);
}
END_TEST

/* --- checkpoint write faults ------------------------------------------- */

/* Which call fails, and how, once `armed` is set: the seam in the store's
 * file system table. */
static atomic_int armed;
static int fail_errno;
static int fail_which; /* 0 write, 1 fsync, 2 rename */
static atomic_int injected;

static ssize_t faulty_write(int fd, const void *buf, size_t len)
{
	if (atomic_load(&armed) && fail_which == 0) {
		atomic_fetch_add(&injected, 1);
		errno = fail_errno;
		return -1;
	}
	return ckpt_io_posix.write(fd, buf, len);
}

static int faulty_fsync(int fd)
{
	if (atomic_load(&armed) && fail_which == 1) {
		atomic_fetch_add(&injected, 1);
		errno = fail_errno;
		return -1;
	}
	return ckpt_io_posix.fsync(fd);
}

static int faulty_rename(int fa, const char *a, int fb, const char *b)
{
	if (atomic_load(&armed) && fail_which == 2) {
		atomic_fetch_add(&injected, 1);
		errno = fail_errno;
		return -1;
	}
	return ckpt_io_posix.renameat(fa, a, fb, b);
}

static struct ckpt_io faulty_io;

/* A fault in the middle of a run: the checkpoints it hits fail and are
 * cleaned up, the job goes on, and those before and after verify. */
static void run_with_fault(int which, int err)
{
	struct rig r;
	uint64_t *ids = NULL;
	size_t n = 0;
	char msg[512];
	struct ckpt_store *st;
	int complete;

	faulty_io = ckpt_io_posix;
	faulty_io.write = faulty_write;
	faulty_io.fsync = faulty_fsync;
	faulty_io.renameat = faulty_rename;
	fail_which = which;
	fail_errno = err;
	atomic_store(&armed, 0);
	atomic_store(&injected, 0);

	memset(&r, 0, sizeof(r));
	snprintf(r.dir, sizeof(r.dir), "/tmp/weir-test-align-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r.dir));
	{
		/* rig_build with the faulty table set before job_prepare. */
		char dir[64];

		memcpy(dir, r.dir, sizeof(dir));
		rig_build_io(&r, dir, &faulty_io);
	}
	ck_assert_int_eq(job_start(r.job), 0);
	usleep(300 * 1000);
	/* Armed until the fault hit at least once (for 200 ms at least,
	 * at most 10 s: a loaded machine may take a while to get there). */
	atomic_store(&armed, 1);
	usleep(200 * 1000);
	for (int i = 0; i < 1000 && atomic_load(&injected) == 0; i++)
		usleep(10 * 1000);
	atomic_store(&armed, 0);
	ck_assert_int_eq(job_wait(r.job), 0);
	ck_assert_int_gt(atomic_load(&injected), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(atomic_load(&r.chk[i].errors), 0);
	for (int q = 0; q < NPARTS; q++)
		ck_assert_int_eq(r.chk[0].seen[q] + r.chk[1].seen[q], PER_PART);
	job_free(r.job);

	/* No temporary or half-written file, and every remaining checkpoint
	 * verifies (the final one included). */
	st = ckpt_store_open(r.dir, NULL, msg, sizeof(msg));
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_gt(n, 0);
	free(ids);
	ckpt_store_close(st);
	complete = verify_checkpoints(r.dir);
	ck_assert_int_ge(complete, 1);
	{
		char *cmd =
		    xasprintf("find '%s' -name '*.tmp' | grep -q .", r.dir);
		ck_assert_int_ne(system(cmd), 0);
		free(cmd);
	}
	rig_cleanup(&r);
}

/* The same with incremental checkers: deltas, bases materialized on the
 * materializer thread while checkpoints go on, chains in _metadata, and
 * every checkpoint's chain rebuilding exactly the state its barrier saw;
 * under ThreadSanitizer with the persister, materializer and
 * coordinator's collection of shared files all running. */
START_TEST(test_incremental_slow_and_fast_inputs)
{
	struct rig r;
	int complete;

	incremental_rig = true;
	chain_deltas = 0;
	rig_build(&r, NULL, 10, 10000, 3);
	ck_assert_int_eq(job_start(r.job), 0);
	ck_assert_int_eq(job_wait(r.job), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(atomic_load(&r.chk[i].errors), 0);
	job_free(r.job);
	complete = verify_checkpoints(r.dir);
	ck_assert_int_ge(complete, 1);
	ck_assert_uint_gt(chain_deltas, 0);
	rig_cleanup(&r);
	incremental_rig = false;
}
END_TEST

START_TEST(test_incremental_enospc_and_eio)
{
	incremental_rig = true;
	run_with_fault(0, ENOSPC);
	run_with_fault(1, EIO);
	incremental_rig = false;
}
END_TEST

START_TEST(test_enospc_fails_checkpoint_job_goes_on)
{
	run_with_fault(0, ENOSPC);
}
END_TEST

START_TEST(test_fsync_eio_fails_checkpoint_job_goes_on)
{
	run_with_fault(1, EIO);
}
END_TEST

START_TEST(test_rename_fails_checkpoint_job_goes_on)
{
	run_with_fault(2, EIO);
}
END_TEST

static Suite *align_suite(void)
{
	Suite *s = suite_create("align");
	TCase *tc = tcase_create("protocol");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_alignment_slow_and_fast_inputs);
	tcase_add_test(tc, test_timeout_aborts_and_job_goes_on);
	tcase_add_test(tc, test_too_many_failures_fail_the_job);
	tcase_add_test(tc, test_too_many_failures_say_why_and_what_to_do);
	tcase_add_test(tc, test_stop_and_restore_resume_exactly);
	tcase_add_test(tc, test_enospc_fails_checkpoint_job_goes_on);
	tcase_add_test(tc, test_fsync_eio_fails_checkpoint_job_goes_on);
	tcase_add_test(tc, test_rename_fails_checkpoint_job_goes_on);
	tcase_add_test(tc, test_incremental_slow_and_fast_inputs);
	tcase_add_test(tc, test_incremental_enospc_and_eio);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(align_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
