/*
 * state_cmd.c - `weir state DIR|PATH [--operator NAME]`: the managed keyed
 * state of a checkpoint as JSON lines, one per (key, name), for debugging
 * and audits. The checkpoint is read and verified the way a restore reads
 * it (checkpoint/store.c), its operator payloads decoded by api/opctx.c
 * and the keyed state rebuilt by state/keyed_state.c, base and deltas in
 * order; this file only chooses what to print and prints it.
 */
#include "state_cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keyed_state.h"
#include "keyroute.h"
#include "opctx.h"
#include "store.h"
#include "util.h"

/* Text when bytes are UTF-8 without control bytes, else NULL. */
static json_t *as_text(const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] < 0x20 || b[i] == 0x7f)
			return NULL;
	return json_stringn(p, len); /* NULL when not UTF-8 */
}

static json_t *as_b64(const void *p, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *b = p;
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	json_t *j;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)b[i + 1] << 8;
		if (i + 2 < len)
			v |= b[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	j = json_string(out);
	free(out);
	return j;
}

/* Sets field (text) or field_b64 of o to the bytes. */
static void set_bytes(json_t *o, const char *field, const void *p, size_t len)
{
	json_t *t = as_text(p, len);
	char b64[32];

	if (t) {
		json_object_set_new(o, field, t);
		return;
	}
	snprintf(b64, sizeof(b64), "%s_b64", field);
	json_object_set_new(o, b64, as_b64(p, len));
}

struct printer {
	const char *op, *task;
	FILE *out;
	size_t lines;
};

static int print_entry(void *arg, const void *key, size_t klen,
                       const void *name, size_t name_len, const void *value,
                       size_t value_len)
{
	struct printer *pr = arg;
	json_t *o = json_object(), *timer;
	int domain = 0;
	int64_t time_ms = 0;
	char *line;

	json_object_set_new(o, "operator", json_string(pr->op));
	json_object_set_new(o, "task", json_string(pr->task));
	json_object_set_new(o, "key_group", json_integer(key_group(key, klen)));
	set_bytes(o, "key", key, klen);
	switch (opctx_name_kind(name, name_len, value, value_len, &domain,
	                        &time_ms)) {
	case OPCTX_NAME_TIMER:
		timer = json_object();
		json_object_set_new(timer, "domain",
		                    json_string(domain == WEIR_TIME_EVENT
		                                    ? "event"
		                                    : "processing"));
		json_object_set_new(timer, "time_ms", json_integer(time_ms));
		json_object_set_new(o, "timer", timer);
		break;
	case OPCTX_NAME_EXPIRY:
		json_object_set_new(o, "expires_ms", json_integer(time_ms));
		break;
	default:
		set_bytes(o, "name", name, name_len);
		set_bytes(o, "value", value, value_len);
	}
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fprintf(pr->out, "%s\n", line);
	free(line);
	json_decref(o);
	pr->lines++;
	return 0;
}

/* "op1-count-0" -> operator "op1-count" and its index in operators, 1;
 * false for a task that is no operator's (sources, sinks). */
static bool operator_of(const char *task, char *op, size_t oplen, int *index)
{
	const char *dash = strrchr(task, '-');
	char *end;
	long st;

	if (strncmp(task, "op", 2) || !dash || dash == task)
		return false;
	st = strtol(task + 2, &end, 10);
	if (end == task + 2 || *end != '-' || st < 0)
		return false;
	snprintf(op, oplen, "%.*s", (int)(dash - task), task);
	*index = (int)st;
	return true;
}

/* Whether --operator NAME (NULL: all) picks op, operators[index]: its
 * name ("op1-count"), its type ("count") or its index ("1"). */
static bool picked(const char *want, const char *op, int index)
{
	const char *type = strchr(op, '-');
	char num[16];

	if (!want)
		return true;
	snprintf(num, sizeof(num), "%d", index);
	return !strcmp(want, op) || (type && !strcmp(want, type + 1)) ||
	       !strcmp(want, num);
}

/* Prints the keyed state of one task entry. */
static int print_task(const struct ckpt_task_entry *e, const char *op,
                      FILE *out, size_t *lines, char *err, size_t errlen)
{
	struct keyed_state *ks = kstate_new();
	struct printer pr = {op, e->task, out, 0};
	bool keyed, chained;
	int rc = opctx_payload_keyed(e->payload, e->payload_len, ks, &keyed,
	                             &chained, err, errlen);

	for (size_t i = 0; rc == 0 && chained && i < e->chain.n; i++) {
		struct weir_reader r = {.p = e->chain.f[i].payload,
		                        .len = e->chain.f[i].payload_len};

		rc = kstate_apply(ks, &r, 0, 1, NULL, err, errlen);
	}
	if (rc == 0 && keyed) {
		kstate_restored(ks);
		kstate_visit_all(ks, print_entry, &pr);
	}
	kstate_free(ks);
	*lines += pr.lines;
	return rc;
}

/* Loads the checkpoint at path: one with a _metadata there, else the
 * newest complete one of the checkpoint directory path. */
static int load(const char *path, struct ckpt_meta *meta, char *err,
                size_t errlen)
{
	char *mp = xasprintf("%s/" CKPT_META_NAME, path);
	struct ckpt_store *st;
	struct stat sb;
	uint64_t id = 0;
	int rc = -1;

	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen,
		         "%s is not a directory: name a checkpoint directory, "
		         "a chk-<n> in one, or a savepoint",
		         path);
	} else if (stat(mp, &sb) == 0) {
		st = ckpt_store_open_one(path, false, NULL, &id, err, errlen);
		if (st)
			rc = ckpt_load(st, id, meta, err, errlen);
		ckpt_store_close(st);
	} else if ((st = ckpt_store_open(path, NULL, err, errlen))) {
		rc = ckpt_load_latest(st, meta, NULL, NULL, NULL);
		if (rc == 0)
			snprintf(err, errlen,
			         "%s holds no complete checkpoint (nor is it "
			         "one: it has no %s)",
			         path, CKPT_META_NAME);
		else if (rc < 0)
			snprintf(err, errlen,
			         "no checkpoint in %s verifies (`weir "
			         "checkpoints %s` says why)",
			         path, path);
		rc = rc == 1 ? 0 : -1;
		ckpt_store_close(st);
	}
	free(mp);
	return rc;
}

int state_cmd(const char *path, const char *want, FILE *out)
{
	struct ckpt_meta meta = {0};
	char err[1024], op[64], ops[1024] = "";
	size_t lines = 0, oplen = 0;
	bool any = false;
	int index, rc = 1;

	if (load(path, &meta, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir state: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < meta.ntasks; i++) {
		const struct ckpt_task_entry *e = &meta.tasks[i];

		if (!operator_of(e->task, op, sizeof(op), &index))
			continue;
		if (!strstr(ops, op) && oplen + strlen(op) + 3 < sizeof(ops))
			oplen +=
			    (size_t)snprintf(ops + oplen, sizeof(ops) - oplen,
			                     "%s%s", oplen ? ", " : "", op);
		if (!picked(want, op, index))
			continue;
		any = true;
		if (print_task(e, op, out, &lines, err, sizeof(err)) < 0) {
			fprintf(stderr, "weir state: %s: task %s: %s\n", path,
			        e->task, err);
			goto out;
		}
	}
	if (want && !any) {
		fprintf(stderr,
		        "weir state: checkpoint %llu has no operator \"%s\"; "
		        "it has: %s (pass a name, a type or an index "
		        "number)\n",
		        (unsigned long long)meta.id, want,
		        oplen ? ops : "no operator with state");
		rc = 2;
		goto out;
	}
	fprintf(stderr, "weir state: checkpoint %llu%s: %zu entries\n",
	        (unsigned long long)meta.id,
	        meta.savepoint ? " (savepoint)" : "", lines);
	rc = 0;
out:
	ckpt_meta_clear(&meta);
	return rc;
}
