/*
 * ckpt_stats.c - checkpoint statistics (see ckpt_stats.h).
 *
 * The history is kept as jansson objects, newest first, at most
 * CKPT_HISTORY of them; the latest completed, failed and savepoint are
 * extra references to objects of it (kept when the history drops them).
 * The checkpoint in flight is `cur`, also in the history, and changes as
 * acknowledgements come. Under mu, always.
 */
#include "ckpt_stats.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

#include "util.h"

struct ckpt_stats {
	pthread_mutex_t mu;
	json_t *history; /* array, newest first */
	json_t *cur;     /* in flight, or NULL */
	uint64_t cur_id;
	int64_t cur_align_us;
	json_t *latest_completed, *latest_failed, *latest_savepoint;
	json_t *restored; /* {"id","path","restore_ms","time_ms"} or NULL */
	uint64_t completed, failed, aborted;
	uint64_t last_id, last_size;
	int64_t last_wall_ms, last_align_us;
	uint64_t restored_id;
	int64_t restore_ms;
	struct hist duration; /* written under mu, read lock-free */
};

struct ckpt_stats *ckpt_stats_new(void)
{
	struct ckpt_stats *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	s->history = json_array();
	s->restore_ms = -1;
	hist_init(&s->duration, hist_duration_us, hist_duration_n);
	return s;
}

void ckpt_stats_free(struct ckpt_stats *s)
{
	if (!s)
		return;
	json_decref(s->history);
	json_decref(s->cur);
	json_decref(s->latest_completed);
	json_decref(s->latest_failed);
	json_decref(s->latest_savepoint);
	json_decref(s->restored);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Replaces *slot's reference with one to v. */
static void set_ref(json_t **slot, json_t *v)
{
	json_incref(v);
	json_decref(*slot);
	*slot = v;
}

static json_t *jint(int64_t v)
{
	return json_integer((json_int_t)v);
}

void ckpt_stats_triggered(struct ckpt_stats *s, uint64_t id, bool savepoint,
                          int64_t wall_ms)
{
	json_t *h;

	if (!s)
		return;
	h = json_pack("{s:I, s:s, s:b, s:I, s:n, s:n, s:I, s:I, s:I, s:n, "
	              "s:[]}",
	              "id", (json_int_t)id, "status", "in_progress",
	              "savepoint", savepoint, "trigger_ms", (json_int_t)wall_ms,
	              "complete_ms", "duration_ms", "size_bytes", (json_int_t)0,
	              "written_bytes", (json_int_t)0, "alignment_ms",
	              (json_int_t)0, "failure", "tasks");
	pthread_mutex_lock(&s->mu);
	json_array_insert(s->history, 0, h);
	while (json_array_size(s->history) > CKPT_HISTORY)
		json_array_remove(s->history, CKPT_HISTORY);
	json_decref(s->cur);
	s->cur = h; /* the reference json_pack gave */
	s->cur_id = id;
	s->cur_align_us = 0;
	pthread_mutex_unlock(&s->mu);
}

/* The in-flight record of id, under mu; NULL when id is not it. */
static json_t *current(struct ckpt_stats *s, uint64_t id)
{
	return s->cur && s->cur_id == id ? s->cur : NULL;
}

void ckpt_stats_acked(struct ckpt_stats *s, uint64_t id, const char *task,
                      int64_t ack_ms, uint64_t size, int64_t align_us)
{
	json_t *h;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	h = current(s, id);
	if (h) {
		json_array_append_new(
		    json_object_get(h, "tasks"),
		    json_pack("{s:s, s:I, s:I, s:I}", "task", task, "ack_ms",
		              (json_int_t)ack_ms, "size_bytes",
		              (json_int_t)size, "alignment_ms",
		              (json_int_t)(align_us / 1000)));
		if (align_us > s->cur_align_us) {
			s->cur_align_us = align_us;
			json_object_set_new(h, "alignment_ms",
			                    jint(align_us / 1000));
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* Ends the in-flight record h with status, under mu. */
static void end_record(struct ckpt_stats *s, json_t *h, const char *status,
                       int64_t wall_ms, int64_t duration_ms)
{
	json_object_set_new(h, "status", json_string(status));
	json_object_set_new(h, "complete_ms", jint(wall_ms));
	json_object_set_new(h, "duration_ms", jint(duration_ms));
	if (json_is_true(json_object_get(h, "savepoint")))
		set_ref(&s->latest_savepoint, h);
	json_decref(s->cur);
	s->cur = NULL;
}

void ckpt_stats_completed(struct ckpt_stats *s, uint64_t id, int64_t wall_ms,
                          int64_t duration_ms, uint64_t size, uint64_t written)
{
	json_t *h;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	h = current(s, id);
	if (h) {
		json_object_set_new(h, "size_bytes", jint((int64_t)size));
		json_object_set_new(h, "written_bytes", jint((int64_t)written));
		set_ref(&s->latest_completed, h);
		s->last_align_us = s->cur_align_us;
		end_record(s, h, "completed", wall_ms, duration_ms);
	}
	s->completed++;
	s->last_id = id;
	s->last_size = size;
	s->last_wall_ms = wall_ms;
	hist_observe(&s->duration, duration_ms * 1000);
	pthread_mutex_unlock(&s->mu);
}

void ckpt_stats_ended(struct ckpt_stats *s, uint64_t id, bool aborted,
                      const char *why, int64_t wall_ms, int64_t duration_ms)
{
	json_t *h;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	h = current(s, id);
	if (h) {
		json_object_set_new(h, "failure", json_string(why));
		if (!aborted)
			set_ref(&s->latest_failed, h);
		end_record(s, h, aborted ? "aborted" : "failed", wall_ms,
		           duration_ms);
	}
	if (aborted)
		s->aborted++;
	else
		s->failed++;
	pthread_mutex_unlock(&s->mu);
}

void ckpt_stats_restored(struct ckpt_stats *s, uint64_t id, const char *path,
                         int64_t restore_ms, int64_t wall_ms)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->restored_id = id;
	s->restore_ms = restore_ms;
	json_decref(s->restored);
	s->restored = NULL;
	if (id)
		s->restored = json_pack("{s:I, s:s, s:I, s:I}", "id",
		                        (json_int_t)id, "path", path,
		                        "restore_ms", (json_int_t)restore_ms,
		                        "time_ms", (json_int_t)wall_ms);
	pthread_mutex_unlock(&s->mu);
}

/* A reference to v, or to a copy of it when it is the record in flight,
 * which changes with each acknowledgement; JSON null for NULL. Under
 * mu. */
static json_t *frozen(struct ckpt_stats *s, json_t *v)
{
	if (!v)
		return json_null();
	return v == s->cur ? json_deep_copy(v) : json_incref(v);
}

char *ckpt_stats_json(struct ckpt_stats *s)
{
	json_t *root, *hist = json_array();
	char *text;

	/* Under the lock only references are taken (ended records never
	 * change, jansson counts references atomically); the text is made
	 * after, so an ack posted meanwhile never waits for it. */
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < json_array_size(s->history); i++)
		json_array_append_new(hist,
		                      frozen(s, json_array_get(s->history, i)));
	root = json_pack(
	    "{s:{s:I, s:I, s:I, s:i, s:i}, s:{s:o, s:o, s:o, s:o}, s:o}",
	    "counts", "completed", (json_int_t)s->completed, "failed",
	    (json_int_t)s->failed, "aborted", (json_int_t)s->aborted,
	    "in_progress", s->cur ? 1 : 0, "restored", s->restored ? 1 : 0,
	    "latest", "completed", frozen(s, s->latest_completed), "failed",
	    frozen(s, s->latest_failed), "restored", frozen(s, s->restored),
	    "savepoint", frozen(s, s->latest_savepoint), "history", hist);
	pthread_mutex_unlock(&s->mu);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

char *ckpt_stats_restored_json(struct ckpt_stats *s)
{
	char *text;

	pthread_mutex_lock(&s->mu);
	if (s->restored) {
		json_t *r = json_deep_copy(s->restored);

		json_object_del(r, "time_ms");
		text = json_dumps(r, JSON_COMPACT);
		json_decref(r);
	} else {
		text = xstrdup("null");
	}
	pthread_mutex_unlock(&s->mu);
	return text;
}

void ckpt_stats_summary(struct ckpt_stats *s, struct ckpt_summary *out)
{
	pthread_mutex_lock(&s->mu);
	out->completed = s->completed;
	out->failed = s->failed;
	out->aborted = s->aborted;
	out->last_id = s->last_id;
	out->last_wall_ms = s->last_wall_ms;
	out->last_size = s->last_size;
	out->last_align_us = s->last_align_us;
	out->restored_id = s->restored_id;
	out->restore_ms = s->restore_ms;
	hist_read(&s->duration, &out->duration);
	pthread_mutex_unlock(&s->mu);
}
