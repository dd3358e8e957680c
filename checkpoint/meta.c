/*
 * meta.c - the _metadata codec (see meta.h). Encoding writes what restore
 * needs and a readable completion time; decoding trusts nothing: every
 * field is checked for presence, type and range, and a message names the
 * JSON path of the first one that is wrong.
 */
#include "meta.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_limits.h"
#include "log.h"
#include "retain.h"
#include "util.h"

/* 2 adds "raw" sizes and keyed chains; 1 is read too. */
#define META_FORMAT 2
#define META_FORMAT_MIN 1

/* NULL when file is the right file name for task, else what is wrong. */
static const char *task_file_problem(const char *task, const char *file)
{
	size_t n = strlen(task);

	if (strchr(file, '/'))
		return "contains '/'; task files must be inside the checkpoint "
		       "directory";
	if (strstr(file, ".."))
		return "contains \"..\"; task files must be inside the "
		       "checkpoint directory";
	if (strncmp(file, task, n) != 0 || strcmp(file + n, ".state") != 0)
		return "is not <task>.state";
	return NULL;
}

void ckpt_chain_file_name(char *out, size_t outlen, const char *task, bool base,
                          uint64_t id)
{
	snprintf(out, outlen, "%s.%c%" PRIu64, task, base ? 'b' : 'd', id);
}

void ckpt_chain_clear(struct ckpt_chain *chain)
{
	for (size_t i = 0; i < chain->n; i++)
		free(chain->f[i].payload);
	free(chain->f);
	chain->f = NULL;
	chain->n = 0;
}

void ckpt_chain_copy(struct ckpt_chain *dst, const struct ckpt_chain *src)
{
	dst->n = src->n;
	dst->f = src->n ? xcalloc(src->n, sizeof(*dst->f)) : NULL;
	for (size_t i = 0; i < src->n; i++) {
		dst->f[i] = src->f[i];
		dst->f[i].payload = NULL;
		dst->f[i].payload_len = 0;
	}
}

/* The chain of a task entry as JSON: [{"file", "size", "checksum",
 * "raw"}, ...], base first. */
static json_t *chain_encode(const struct ckpt_chain *c)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < c->n; i++) {
		const struct ckpt_file_info *f = &c->f[i].file;
		char sum[20];
		json_t *o;

		snprintf(sum, sizeof(sum), "%016" PRIx64, f->checksum);
		o = json_pack("{s:s, s:I, s:s, s:I}", "file", f->name, "size",
		              (json_int_t)f->size, "checksum", sum, "raw",
		              (json_int_t)f->raw);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int meta_add(json_t *obj, const char *key, json_t *v)
{
	return v ? json_object_set_new(obj, key, v) : -1;
}

int ckpt_meta_encode(const struct ckpt_meta *meta, const char *dir_rel,
                     char **text, char *errstr, size_t errlen)
{
	json_t *root = json_object(), *tasks = json_array(), *offsets = NULL;
	char *json, when[40];
	int rc = -1;

	if (meta->id > INT64_MAX) {
		ckpt_seterr(errstr, errlen,
		            "checkpoint id %" PRIu64 " is too large", meta->id);
		goto out;
	}
	for (size_t i = 0; i < meta->ntasks; i++) {
		const struct ckpt_task_entry *t = &meta->tasks[i];
		const char *why = ckpt_task_name_problem(t->task);
		char sum[20];
		json_t *o;
		if (why) {
			ckpt_seterr(
			    errstr, errlen,
			    "%s/_metadata: invalid task name \"%s\": it %s",
			    dir_rel, t->task, why);
			goto out;
		}
		why = task_file_problem(t->task, t->file.name);
		if (why) {
			ckpt_seterr(errstr, errlen,
			            "%s/_metadata: file \"%s\" of task %s %s",
			            dir_rel, t->file.name, t->task, why);
			goto out;
		}
		snprintf(sum, sizeof(sum), "%016" PRIx64, t->file.checksum);
		o = json_pack(
		    "{s:s, s:s, s:I, s:s, s:I}", "task", t->task, "file",
		    t->file.name, "size", (json_int_t)t->file.size, "checksum",
		    sum, "state_version", (json_int_t)t->file.state_version);
		if (o && t->parallelism &&
		    json_object_set_new(o, "parallelism",
		                        json_integer(t->parallelism)) < 0) {
			json_decref(o);
			o = NULL;
		}
		if (o &&
		    json_object_set_new(
		        o, "raw", json_integer((json_int_t)t->file.raw)) < 0) {
			json_decref(o);
			o = NULL;
		}
		if (o && t->chain.n &&
		    meta_add(o, "chain", chain_encode(&t->chain)) < 0) {
			json_decref(o);
			o = NULL;
		}
		if (!o || json_array_append_new(tasks, o) < 0) {
			ckpt_seterr(errstr, errlen,
			            "%s/_metadata: cannot encode task %s",
			            dir_rel, t->task);
			goto out;
		}
	}
	if (meta->offsets_json) {
		offsets = json_loads(meta->offsets_json, 0, NULL);
		if (!json_is_object(offsets)) {
			log_warn("checkpoint",
			         "checkpoint %" PRIu64
			         ": source offsets are not a "
			         "JSON object; writing {} to _metadata",
			         meta->id);
			json_decref(offsets);
			offsets = NULL;
		}
	}
	if (!offsets)
		offsets = json_object();
	fmt_wall_ms(meta->completed_ms, when, sizeof(when));
	if (meta_add(root, "format", json_integer(META_FORMAT)) < 0 ||
	    meta_add(root, "job", json_string(meta->job ? meta->job : "")) <
	        0 ||
	    meta_add(root, "fingerprint",
	             json_string(meta->fingerprint ? meta->fingerprint : "")) <
	        0 ||
	    meta_add(root, "id", json_integer((json_int_t)meta->id)) < 0 ||
	    meta_add(root, "triggered_at", json_integer(meta->triggered_ms)) <
	        0 ||
	    meta_add(root, "completed_at", json_integer(meta->completed_ms)) <
	        0 ||
	    meta_add(root, "completed_at_utc", json_string(when)) < 0 ||
	    meta_add(root, "tasks", json_incref(tasks)) < 0 ||
	    meta_add(root, "offsets", json_incref(offsets)) < 0 ||
	    (meta->instance_count > 1 &&
	     meta_add(root, "instance",
	              json_pack("{s:i, s:i}", "index", meta->instance_index,
	                        "count", meta->instance_count)) < 0) ||
	    (meta->savepoint && meta_add(root, "savepoint", json_true()) < 0)) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s/_metadata: cannot encode (job name or fingerprint "
		    "not valid UTF-8?)",
		    dir_rel);
		goto out;
	}
	json = json_dumps(root, JSON_INDENT(2));
	if (!json) {
		ckpt_seterr(errstr, errlen, "%s/_metadata: cannot encode",
		            dir_rel);
		goto out;
	}
	*text = xasprintf("%s\n", json);
	free(json);
	rc = 0;
out:
	json_decref(offsets);
	json_decref(tasks);
	json_decref(root);
	return rc;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something unknown";
}

/* obj[key] if it has the type; else a message "rel: <where><key> ...". */
static json_t *meta_need(const char *rel, json_t *obj, const char *where,
                         const char *key, json_type type, const char *tname,
                         char *errstr, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		ckpt_seterr(errstr, errlen,
		            "%s: %s%s is missing: the file is damaged", rel,
		            where, key);
		return NULL;
	}
	if (json_typeof(v) != type) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: %s%s should be %s, found %s: the file is damaged", rel,
		    where, key, tname, json_type_name(v));
		return NULL;
	}
	return v;
}

#define NEED(obj, where, key, T, tname)                                        \
	meta_need(rel, obj, where, key, T, tname, errstr, errlen)

static int meta_checksum(const char *rel, const char *where, json_t *sum,
                         uint64_t *out, char *errstr, size_t errlen)
{
	const char *s = json_string_value(sum);

	if (strlen(s) != 16 || strspn(s, "0123456789abcdefABCDEF") != 16) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: %schecksum \"%s\" is not 16 hex digits: the file is "
		    "damaged",
		    rel, where, s);
		return -1;
	}
	*out = strtoull(s, NULL, 16);
	return 0;
}

/* obj[key], an optional integer >= 0, into *out (0 when missing). */
static int meta_size(const char *rel, const char *where, json_t *obj,
                     const char *key, uint64_t *out, char *errstr,
                     size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		ckpt_seterr(errstr, errlen,
		            "%s: %s%s should be an integer >= 0: the file is "
		            "damaged",
		            rel, where, key);
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* NULL when name is task's chain file `base` ? <task>.b<id> : .d<id>,
 * with *id set, else what is wrong. */
static const char *chain_name_problem(const char *task, const char *name,
                                      bool base, uint64_t *id)
{
	size_t n = strlen(task);
	const char *p = name + n + 2;
	char *end;

	if (strncmp(name, task, n) != 0 || name[n] != '.' ||
	    name[n + 1] != (base ? 'b' : 'd'))
		return base
		           ? "is not <task>.b<id> (a chain starts with a base)"
		           : "is not <task>.d<id> (after the base come deltas)";
	if (*p < '1' || *p > '9' || strspn(p, "0123456789") != strlen(p) ||
	    strlen(p) > 16)
		return "does not end in a checkpoint id";
	*id = strtoull(p, &end, 10);
	return *id > CKPT_ID_MAX ? "ends in an id out of range" : NULL;
}

/* The "chain" of task entry `where` (task, of checkpoint id). */
static int meta_chain(const char *rel, const char *where, json_t *a,
                      const char *task, uint64_t id, struct ckpt_chain *c,
                      char *errstr, size_t errlen)
{
	c->n = json_array_size(a);
	c->f = c->n ? xcalloc(c->n, sizeof(*c->f)) : NULL;
	if (c->n == 0) {
		ckpt_seterr(errstr, errlen,
		            "%s: %schain is empty: the file is damaged", rel,
		            where);
		return -1;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct ckpt_chain_file *f = &c->f[i];
		json_t *o = json_array_get(a, i), *file, *size, *sum;
		char at[96];
		const char *why;

		snprintf(at, sizeof(at), "%schain[%zu].", where, i);
		if (!json_is_object(o)) {
			ckpt_seterr(errstr, errlen,
			            "%s: %.*s should be an object: the file is "
			            "damaged",
			            rel, (int)strlen(at) - 1, at);
			return -1;
		}
		if (!(file = meta_need(rel, o, at, "file", JSON_STRING,
		                       "a string", errstr, errlen)) ||
		    !(size = meta_need(rel, o, at, "size", JSON_INTEGER,
		                       "an integer", errstr, errlen)) ||
		    !(sum = meta_need(rel, o, at, "checksum", JSON_STRING,
		                      "a string", errstr, errlen)) ||
		    !meta_need(rel, o, at, "raw", JSON_INTEGER, "an integer",
		               errstr, errlen))
			return -1;
		f->base = i == 0;
		why = chain_name_problem(task, json_string_value(file), f->base,
		                         &f->id);
		if (!why && (f->id > id || (i > 0 && f->id <= f[-1].id)))
			why = i > 0 && f->id <= f[-1].id
			          ? "is not newer than the file before it"
			          : "is newer than the checkpoint";
		if (why) {
			ckpt_seterr(errstr, errlen,
			            "%s: %sfile \"%s\" %s: the file is damaged",
			            rel, at, json_string_value(file), why);
			return -1;
		}
		snprintf(f->file.name, sizeof(f->file.name), "%s",
		         json_string_value(file));
		if (json_integer_value(size) < 0) {
			ckpt_seterr(
			    errstr, errlen,
			    "%s: %ssize is negative: the file is damaged", rel,
			    at);
			return -1;
		}
		f->file.size = (uint64_t)json_integer_value(size);
		if (meta_checksum(rel, at, sum, &f->file.checksum, errstr,
		                  errlen) < 0 ||
		    meta_size(rel, at, o, "raw", &f->file.raw, errstr, errlen) <
		        0)
			return -1;
	}
	return 0;
}

static int meta_task(const char *rel, json_t *o, size_t i, uint64_t id,
                     struct ckpt_task_entry *t, char *errstr, size_t errlen)
{
	char where[48];
	json_t *task, *file, *size, *sum, *sv, *par, *chain;
	const char *s, *why;
	json_int_t n;

	snprintf(where, sizeof(where), "tasks[%zu]", i);
	if (!json_is_object(o)) {
		ckpt_seterr(errstr, errlen,
		            "%s: %s should be an object, found %s: the file is "
		            "damaged",
		            rel, where, json_type_name(o));
		return -1;
	}
	strcat(where, ".");
	if (!(task = NEED(o, where, "task", JSON_STRING, "a string")) ||
	    !(file = NEED(o, where, "file", JSON_STRING, "a string")) ||
	    !(size = NEED(o, where, "size", JSON_INTEGER, "an integer")) ||
	    !(sum = NEED(o, where, "checksum", JSON_STRING, "a string")) ||
	    !(sv = NEED(o, where, "state_version", JSON_INTEGER, "an integer")))
		return -1;
	s = json_string_value(task);
	if ((why = ckpt_task_name_problem(s))) {
		ckpt_seterr(errstr, errlen,
		            "%s: %stask \"%s\" is not a valid task name: it %s",
		            rel, where, s, why);
		return -1;
	}
	if ((why = task_file_problem(s, json_string_value(file)))) {
		ckpt_seterr(errstr, errlen,
		            "%s: %sfile \"%s\" %s: the file is damaged", rel,
		            where, json_string_value(file), why);
		return -1;
	}
	if ((n = json_integer_value(size)) < 0) {
		ckpt_seterr(errstr, errlen,
		            "%s: %ssize is negative: the file is damaged", rel,
		            where);
		return -1;
	}
	t->file.size = (uint64_t)n;
	if (meta_checksum(rel, where, sum, &t->file.checksum, errstr, errlen) <
	    0)
		return -1;
	n = json_integer_value(sv);
	if (n < 0 || n > UINT32_MAX) {
		ckpt_seterr(errstr, errlen,
		            "%s: %sstate_version %" JSON_INTEGER_FORMAT
		            " is out of range: the file is damaged",
		            rel, where, n);
		return -1;
	}
	t->file.state_version = (uint32_t)n;
	/* Optional: _metadata before it was recorded lacks it. */
	par = json_object_get(o, "parallelism");
	if (par && (!json_is_integer(par) || json_integer_value(par) < 1 ||
	            json_integer_value(par) > UINT16_MAX)) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: %sparallelism should be an integer from 1 to %d: "
		    "the file is damaged",
		    rel, where, UINT16_MAX);
		return -1;
	}
	t->parallelism = par ? (uint32_t)json_integer_value(par) : 0;
	if (meta_size(rel, where, o, "raw", &t->file.raw, errstr, errlen) < 0)
		return -1;
	chain = json_object_get(o, "chain");
	if (chain && !json_is_array(chain)) {
		ckpt_seterr(errstr, errlen,
		            "%s: %schain should be an array, found %s: the "
		            "file is damaged",
		            rel, where, json_type_name(chain));
		return -1;
	}
	if (chain && meta_chain(rel, where, chain, json_string_value(task), id,
	                        &t->chain, errstr, errlen) < 0)
		return -1;
	snprintf(t->file.name, sizeof(t->file.name), "%s",
	         json_string_value(file));
	t->task = xstrdup(json_string_value(task));
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct ckpt_task_entry *const *x = a, *const *y = b;
	int c = strcmp((*x)->task, (*y)->task);

	return c ? c : (*x > *y) - (*x < *y);
}

/* Two entries for one task: the first such pair in file order is named.
 * Sorting keeps this O(n log n): comparing every pair took 35 s for
 * 100,000 entries. */
static int meta_duplicate(const char *rel, const struct ckpt_meta *m,
                          char *errstr, size_t errlen)
{
	const struct ckpt_task_entry **by = xcalloc(m->ntasks + 1, sizeof(*by));
	size_t first = 0, second = SIZE_MAX;

	for (size_t i = 0; i < m->ntasks; i++)
		by[i] = &m->tasks[i];
	if (m->ntasks > 1)
		qsort(by, m->ntasks, sizeof(*by), cmp_entry);
	/* Equal names sort by position, so the pair with the smallest
	 * second position is adjacent. */
	for (size_t i = 1; i < m->ntasks; i++) {
		size_t b = (size_t)(by[i] - m->tasks);

		if (strcmp(by[i - 1]->task, by[i]->task) != 0 || b >= second)
			continue;
		first = (size_t)(by[i - 1] - m->tasks);
		second = b;
	}
	free(by);
	if (second == SIZE_MAX)
		return 0;
	ckpt_seterr(
	    errstr, errlen,
	    "%s: tasks[%zu] and tasks[%zu] are both task %s: the file is "
	    "damaged",
	    rel, first, second, m->tasks[second].task);
	return -1;
}

/* The optional "instance": {"index": I, "count": N}, 0 <= I < N <= 256;
 * absent: the only instance. */
static int meta_instance(const char *rel, json_t *root, struct ckpt_meta *out,
                         char *errstr, size_t errlen)
{
	json_t *in = json_object_get(root, "instance");
	json_t *i = json_object_get(in, "index"),
	       *n = json_object_get(in, "count");

	out->instance_index = 0;
	out->instance_count = 1;
	if (!in)
		return 0;
	if (!json_is_integer(i) || !json_is_integer(n) ||
	    json_integer_value(n) < 1 ||
	    json_integer_value(n) > JOB_MAX_INSTANCES ||
	    json_integer_value(i) < 0 ||
	    json_integer_value(i) >= json_integer_value(n)) {
		ckpt_seterr(errstr, errlen,
		            "%s: instance should be {\"index\": I, "
		            "\"count\": N} with 0 <= I < N <= %d: the file "
		            "is damaged",
		            rel, JOB_MAX_INSTANCES);
		return -1;
	}
	out->instance_index = (int)json_integer_value(i);
	out->instance_count = (int)json_integer_value(n);
	return 0;
}

int ckpt_meta_decode(const char *rel, uint64_t id, const unsigned char *buf,
                     size_t len, struct ckpt_meta *out, char *errstr,
                     size_t errlen)
{
	json_t *root = NULL, *v, *tasks, *offsets;
	json_error_t jerr;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	root =
	    json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: not valid JSON (line %d, column %d: %s): the file is "
		    "damaged",
		    rel, jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: should hold a JSON object, found %s: the file is "
		    "damaged",
		    rel, json_type_name(root));
		goto out;
	}
	if (!(v = NEED(root, "", "format", JSON_INTEGER, "an integer")))
		goto out;
	if (json_integer_value(v) < META_FORMAT_MIN ||
	    json_integer_value(v) > META_FORMAT) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: format %" JSON_INTEGER_FORMAT
		    " is not supported (this weir reads %d to %d): written "
		    "by another weir version?",
		    rel, json_integer_value(v), META_FORMAT_MIN, META_FORMAT);
		goto out;
	}
	if (!(v = NEED(root, "", "id", JSON_INTEGER, "an integer")))
		goto out;
	if (json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) != id) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: id is %" JSON_INTEGER_FORMAT " but the directory is "
		    "chk-%" PRIu64 ": _metadata belongs to another checkpoint",
		    rel, json_integer_value(v), id);
		goto out;
	}
	out->id = id;
	if (!(v = NEED(root, "", "job", JSON_STRING, "a string")))
		goto out;
	out->job = xstrdup(json_string_value(v));
	if (!(v = NEED(root, "", "fingerprint", JSON_STRING, "a string")))
		goto out;
	out->fingerprint = xstrdup(json_string_value(v));
	if (!(v = NEED(root, "", "triggered_at", JSON_INTEGER, "an integer")))
		goto out;
	out->triggered_ms = json_integer_value(v);
	if (!(v = NEED(root, "", "completed_at", JSON_INTEGER, "an integer")))
		goto out;
	out->completed_ms = json_integer_value(v);
	if (!(tasks = NEED(root, "", "tasks", JSON_ARRAY, "an array")) ||
	    !(offsets = NEED(root, "", "offsets", JSON_OBJECT, "an object")))
		goto out;
	out->ntasks = json_array_size(tasks);
	out->tasks = xcalloc(out->ntasks, sizeof(*out->tasks));
	for (size_t i = 0; i < out->ntasks; i++)
		if (meta_task(rel, json_array_get(tasks, i), i, id,
		              &out->tasks[i], errstr, errlen) < 0)
			goto out;
	if (meta_duplicate(rel, out, errstr, errlen) < 0 ||
	    meta_instance(rel, root, out, errstr, errlen) < 0)
		goto out;
	v = json_object_get(root, "savepoint");
	if (v && !json_is_boolean(v)) {
		ckpt_seterr(errstr, errlen, "%s: savepoint is not a boolean",
		            rel);
		goto out;
	}
	out->savepoint = json_is_true(v);
	out->offsets_json = json_dumps(offsets, JSON_COMPACT);
	if (!out->offsets_json) {
		ckpt_seterr(errstr, errlen, "%s: cannot encode offsets", rel);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		ckpt_meta_clear(out);
	json_decref(root);
	return rc;
}

#undef NEED

void ckpt_meta_clear(struct ckpt_meta *meta)
{
	if (!meta)
		return;
	free(meta->job);
	free(meta->fingerprint);
	for (size_t i = 0; i < meta->ntasks; i++) {
		free(meta->tasks[i].task);
		free(meta->tasks[i].payload);
		ckpt_chain_clear(&meta->tasks[i].chain);
	}
	free(meta->tasks);
	free(meta->offsets_json);
	memset(meta, 0, sizeof(*meta));
}
