/*
 * jobfile.c - reads a job file into struct job_cfg (see jobfile.h). The JSON
 * is parsed with jansson, every string value gets ${ENV} substitution, then
 * each section is checked field by field. Problems do not stop the check:
 * each goes to the error list with its JSON path, so a user fixes a file in
 * one round.
 */
#include "jobfile.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_NAME_LEN 100
#define MAX_FILE_BYTES (16u << 20)

/* --- Small string helpers ----------------------------------------------- */

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* "a, b, c" */
static char *join(const char *const *names, size_t n)
{
	struct sbuf b = {0};

	sbuf_add(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		if (i)
			sbuf_add(&b, ", ", 2);
		sbuf_add(&b, names[i], strlen(names[i]));
	}
	return b.s;
}

static bool in_set(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* A JSON value as it appears in messages: string "2", 42, true, an array. */
static const char *describe(const json_t *v, char *buf, size_t len)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (json_string_length(v) > 40)
			snprintf(buf, len, "string \"%.40s...\"",
			         json_string_value(v));
		else
			snprintf(buf, len, "string \"%s\"",
			         json_string_value(v));
		return buf;
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		         json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		return buf;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	}
	return "an unknown value";
}

/* Adds "path.key: message"; key NULL means the path itself. */
static void err_at(struct errlist *errs, const char *path, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void err_at(struct errlist *errs, const char *path, const char *key,
                   const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	errlist_add(errs, "%s%s%s: %s", path, key && *path ? "." : "",
	            key ? key : "", msg ? msg : fmt);
	free(msg);
}

static char *child_path(const char *path, const char *key)
{
	return *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
}

/* --- ${} substitution --------------------------------------------------- */

static bool is_var_name(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') ||
	                (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* How deep a default may hold references within references. */
#define MAX_ENV_NESTING 8

/* The "}" that closes the reference whose name starts at p, past any
 * ${...} nested in its default ("$$" is text); NULL when there is none. */
static const char *ref_end(const char *p)
{
	int open = 0;

	for (; *p; p++) {
		if (p[0] == '$' && (p[1] == '$' || p[1] == '{')) {
			open += p[1] == '{';
			p++;
		} else if (*p == '}' && open-- == 0) {
			return p;
		}
	}
	return NULL;
}

/*
 * Expands s[0, n) into b. ${NAME} is the variable's value;
 * ${NAME:-default} is the default when NAME is unset or empty (as in sh),
 * and the default may hold references of its own, expanded only when it
 * is used (its syntax is checked either way). "$$" and a "$" not followed
 * by "{" are copied unchanged, so "$${X}" stays "$${X}". With b NULL only
 * the syntax is checked. whole is the whole string, for positions in
 * messages.
 */
static bool expand_env(struct sbuf *b, const char *s, size_t n,
                       const char *whole, int depth, const char *path,
                       struct errlist *errs)
{
	const char *p = s, *stop = s + n;

	while (p < stop) {
		const char *start, *end, *name_end, *val;
		char *name;
		bool ok;

		if (p[0] == '$' && p + 1 < stop && p[1] == '$') {
			if (b)
				sbuf_add(b, p, 2);
			p += 2;
			continue;
		}
		if (p[0] != '$' || p + 1 == stop || p[1] != '{') {
			if (b)
				sbuf_add(b, p, 1);
			p++;
			continue;
		}
		start = p + 2;
		end = ref_end(start);
		if (!end || end >= stop) {
			err_at(errs, path, NULL,
			       "unterminated \"${\" at character "
			       "%zu; close it with \"}\", or write \"$${\" to "
			       "keep it literally",
			       (size_t)(p - whole));
			return false;
		}
		for (name_end = start; name_end < end && *name_end != ':';
		     name_end++)
			;
		if (!is_var_name(start, (size_t)(name_end - start)) ||
		    (name_end < end && name_end[1] != '-')) {
			err_at(errs, path, NULL,
			       "invalid variable reference "
			       "\"%.*s\"; expected ${NAME} or ${NAME:-default} "
			       "with NAME made of letters, digits and _",
			       (int)(end + 1 - p), p);
			return false;
		}
		if (name_end < end && depth == MAX_ENV_NESTING) {
			err_at(errs, path, NULL,
			       "a default nests ${...} deeper "
			       "than %d levels at character %zu; use fewer "
			       "levels",
			       MAX_ENV_NESTING, (size_t)(p - whole));
			return false;
		}
		name = xstrndup(start, (size_t)(name_end - start));
		val = b ? getenv(name) : NULL;
		ok = true;
		if (val && (*val || name_end == end)) {
			sbuf_add(b, val, strlen(val));
			if (name_end < end)
				ok = expand_env(NULL, name_end + 2,
				                (size_t)(end - name_end - 2),
				                whole, depth + 1, path, errs);
		} else if (name_end < end) {
			ok = expand_env(b, name_end + 2,
			                (size_t)(end - name_end - 2), whole,
			                depth + 1, path, errs);
		} else if (b) {
			err_at(errs, path, NULL,
			       "environment variable %s is not "
			       "set; set it or write ${%s:-default}",
			       name, name);
			ok = false;
		}
		free(name);
		if (!ok)
			return false;
		p = end + 1;
	}
	return true;
}

char *jobfile_expand_env(const char *s, const char *path, struct errlist *errs)
{
	struct sbuf b = {0};

	sbuf_add(&b, "", 0);
	if (!expand_env(&b, s, strlen(s), s, 0, path, errs)) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* Substitutes in every string value of the tree, in place. */
static void expand_tree(json_t *v, const char *path, struct errlist *errs)
{
	const char *key;
	json_t *c;
	char *sub;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (strchr(json_string_value(v), '$')) {
			char *x = jobfile_expand_env(json_string_value(v), path,
			                             errs);
			if (x && json_string_set(v, x) != 0)
				err_at(
				    errs, path, NULL,
				    "not valid UTF-8 after "
				    "${} substitution; check the environment "
				    "variables it uses");
			free(x);
		}
		break;
	case JSON_OBJECT:
		json_object_foreach(v, key, c) {
			sub = child_path(path, key);
			expand_tree(c, sub, errs);
			free(sub);
		}
		break;
	case JSON_ARRAY:
		for (size_t i = 0; i < json_array_size(v); i++) {
			sub = xasprintf("%s[%zu]", path, i);
			expand_tree(json_array_get(v, i), sub, errs);
			free(sub);
		}
		break;
	default:
		break;
	}
}

/* --- Field getters ------------------------------------------------------ */
/*
 * Each getter leaves *out alone when the field is absent, so the caller
 * sets the default first, and reports a present but wrong value.
 */

static void unknown_field(struct errlist *errs, const char *path,
                          const char *key, const char *const *names, size_t n)
{
	const char *hint = closest_name(key, names, n);
	char *list = join(names, n);

	err_at(errs, path, key, "unknown field; expected one of %s%s%s%s", list,
	       hint ? "; did you mean " : "", hint ? hint : "",
	       hint ? "?" : "");
	free(list);
}

static void check_known(const json_t *obj, const char *path,
                        const char *const *names, size_t n,
                        struct errlist *errs)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		if (!in_set(key, names, n))
			unknown_field(errs, path, key, names, n);
	}
}

static void get_int(const json_t *obj, const char *path, const char *key,
                    int64_t min, int64_t max, int64_t *out,
                    struct errlist *errs)
{
	const json_t *v = json_object_get(obj, key);
	char want[96], got[64];

	if (!v)
		return;
	snprintf(want, sizeof(want), "an integer from %lld to %lld",
	         (long long)min, (long long)max);
	if (!json_is_integer(v)) {
		err_at(errs, path, key, "expected %s, got %s", want,
		       describe(v, got, sizeof(got)));
		return;
	}
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		err_at(errs, path, key, "out of range; expected %s, got %s",
		       want, describe(v, got, sizeof(got)));
		return;
	}
	*out = json_integer_value(v);
}

static void get_int32(const json_t *obj, const char *path, const char *key,
                      int min, int max, int *out, struct errlist *errs)
{
	int64_t v = *out;

	get_int(obj, path, key, min, max, &v, errs);
	*out = (int)v;
}

static void get_bool(const json_t *obj, const char *path, const char *key,
                     bool *out, struct errlist *errs)
{
	const json_t *v = json_object_get(obj, key);
	char got[64];

	if (!v)
		return;
	if (!json_is_boolean(v))
		err_at(errs, path, key, "expected true or false, got %s",
		       describe(v, got, sizeof(got)));
	else
		*out = json_is_true(v);
}

/* A non-empty string, copied into *out. */
static void get_str(const json_t *obj, const char *path, const char *key,
                    char **out, struct errlist *errs)
{
	const json_t *v = json_object_get(obj, key);
	char got[64];

	if (!v)
		return;
	if (!json_is_string(v) || json_string_length(v) == 0)
		err_at(errs, path, key, "expected a non-empty string, got %s",
		       json_is_string(v) ? "an empty string"
		                         : describe(v, got, sizeof(got)));
	else
		*out = xstrdup(json_string_value(v));
}

static void get_enum(const json_t *obj, const char *path, const char *key,
                     const char *const *names, size_t n, int *out,
                     struct errlist *errs)
{
	const json_t *v = json_object_get(obj, key);
	char got[64], *list;
	const char *hint;

	if (!v)
		return;
	list = join(names, n);
	if (!json_is_string(v)) {
		err_at(errs, path, key, "expected one of %s, got %s", list,
		       describe(v, got, sizeof(got)));
		free(list);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*out = (int)i;
			free(list);
			return;
		}
	}
	hint = closest_name(json_string_value(v), names, n);
	err_at(errs, path, key,
	       "unknown value \"%s\"; expected one of %s%s%s%s",
	       json_string_value(v), list, hint ? "; did you mean " : "",
	       hint ? hint : "", hint ? "?" : "");
	free(list);
}

static void require(const json_t *obj, const char *path, const char *key,
                    const char *what, struct errlist *errs)
{
	if (!json_object_get(obj, key))
		err_at(errs, path, key, "required; expected %s", what);
}

/* librdkafka properties: strings, or numbers and booleans as their text. */
static void get_props(const json_t *obj, const char *path, const char *key,
                      struct kv_list *out, struct errlist *errs)
{
	const json_t *v = json_object_get(obj, key);
	const char *name;
	char *ppath, got[64], num[64];
	json_t *pv;

	if (!v)
		return;
	if (!json_is_object(v)) {
		err_at(errs, path, key,
		       "expected an object of librdkafka "
		       "settings like {\"linger.ms\": \"5\"}, got %s",
		       describe(v, got, sizeof(got)));
		return;
	}
	ppath = child_path(path, key);
	out->items = xcalloc(json_object_size(v), sizeof(*out->items));
	json_object_foreach((json_t *)v, name, pv) {
		const char *text = NULL;

		switch (json_typeof(pv)) {
		case JSON_STRING:
			text = json_string_value(pv);
			break;
		case JSON_INTEGER:
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			         json_integer_value(pv));
			text = num;
			break;
		case JSON_REAL:
			snprintf(num, sizeof(num), "%.15g",
			         json_real_value(pv));
			if (strtod(num, NULL) != json_real_value(pv))
				snprintf(num, sizeof(num), "%.17g",
				         json_real_value(pv));
			text = num;
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			text = json_is_true(pv) ? "true" : "false";
			break;
		default:
			err_at(errs, ppath, name,
			       "expected a string (or a number "
			       "or boolean), got %s",
			       describe(pv, got, sizeof(got)));
			continue;
		}
		out->items[out->n].key = xstrdup(name);
		out->items[out->n].value = xstrdup(text);
		out->n++;
	}
	free(ppath);
}

/* Checks that obj[key] is an object; reports it missing or wrong. */
static const json_t *get_section(const json_t *obj, const char *key,
                                 bool required, const char *what,
                                 struct errlist *errs)
{
	const json_t *v = json_object_get(obj, key);
	char got[64];

	if (!v) {
		if (required)
			err_at(errs, "", key, "required; expected %s", what);
		return NULL;
	}
	if (!json_is_object(v)) {
		err_at(errs, "", key, "expected %s, got %s", what,
		       describe(v, got, sizeof(got)));
		return NULL;
	}
	return v;
}

/* --- Sections ----------------------------------------------------------- */

static const char *const top_fields[] = {
    "name", "checkpoint",           "source", "operators",
    "sink", "progress_interval_ms", "http",   "instance",
};
static const char *const http_fields[] = {"listen"};

static const char *const instance_fields[] = {"index", "count"};

static const char *const ckpt_fields[] = {
    "dir",    "interval_ms",        "timeout_ms",  "min_pause_ms",
    "retain", "tolerable_failures", "incremental", "materialize_delta_pct",
};

static const char *const source_fields[] = {
    "type",       "brokers",        "topic",      "parallelism",
    "start",      "bounded",        "group_id",   "on_offset_out_of_range",
    "properties", "partitioned_by", "count",      "partitions",
    "rate",       "timestamp",      "watermarks", "on_error",
};
static const char *const source_kafka_only[] = {
    "brokers",    "topic",          "start",
    "bounded",    "group_id",       "on_offset_out_of_range",
    "properties", "partitioned_by",
};
static const char *const source_gen_only[] = {"count", "partitions", "rate"};
static const char *const timestamp_fields[] = {"field", "format"};
static const char *const ts_format_names[] = {"epoch_ms", "epoch_s", "rfc3339"};
static const char *const watermark_fields[] = {
    "max_out_of_orderness_ms", "idle_timeout_ms", "interval_ms"};
static const char *const source_on_error_names[] = {"skip", "fail"};
static const char *const source_types[] = {"kafka", "generator"};
static const char *const start_names[] = {"earliest", "latest"};
static const char *const oor_names[] = {"fail", "earliest", "latest"};

static const char *const sink_fields[] = {
    "type",     "brokers",      "topic",       "parallelism",
    "delivery", "exactly_once", "partitioner", "lineage_headers",
    "on_error", "properties",
};
static const char *const sink_kafka_only[] = {
    "brokers",     "topic",           "delivery", "exactly_once",
    "partitioner", "lineage_headers", "on_error", "properties",
};
static const char *const eo_names[] = {"dedup", "transactions"};
static const char *const sink_types[] = {"kafka", "discard"};
static const char *const delivery_names[] = {"at-least-once", "exactly-once"};
static const char *const partitioner_names[] = {"key", "source"};

static const char *const op_types[] = {"filter", "count",  "map",
                                       "dedup",  "window", "plugin"};
static const char *const on_error_names[] = {"skip", "fail", "dead-letter"};

static void parse_name(const json_t *root, struct job_cfg *cfg,
                       struct errlist *errs)
{
	const json_t *v = json_object_get(root, "name");
	char got[64];
	const char *s;
	size_t n;

	if (!v) {
		err_at(errs, "", "name",
		       "required; expected a job name of 1 "
		       "to %d characters from A-Z a-z 0-9 . _ -",
		       MAX_NAME_LEN);
		return;
	}
	s = json_is_string(v) ? json_string_value(v) : NULL;
	n = s ? strlen(s) : 0;
	if (s && n >= 1 && n <= MAX_NAME_LEN &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	              "0123456789._-") == n) {
		cfg->name = xstrdup(s);
		return;
	}
	err_at(errs, "", "name",
	       "expected 1 to %d characters from A-Z a-z "
	       "0-9 . _ -, got %s",
	       MAX_NAME_LEN, describe(v, got, sizeof(got)));
}

/* "http": {"listen": "HOST:PORT"}: the HTTP endpoint (job/http.c). */
static void parse_http(const json_t *root, struct job_cfg *cfg,
                       struct errlist *errs)
{
	const json_t *o =
	    get_section(root, "http", false, "an object with \"listen\"", errs);
	char err[256];

	if (!o)
		return;
	check_known(o, "http", http_fields, NELEM(http_fields), errs);
	require(o, "http", "listen",
	        "the address to serve metrics on, e.g. \"127.0.0.1:9249\"",
	        errs);
	get_str(o, "http", "listen", &cfg->http_listen, errs);
	if (cfg->http_listen && http_parse_listen(cfg->http_listen, NULL, 0,
	                                          NULL, err, sizeof(err)) < 0)
		err_at(errs, "http", "listen", "%s", err);
}

/* "instance": {"index": I, "count": N}, the process's share of the job
 * (`weir run --instance I/N` overrides it). */
static void parse_instance(const json_t *root, struct job_instance *in,
                           struct errlist *errs)
{
	const json_t *o = get_section(root, "instance", false,
	                              "an object like {\"index\": 0, "
	                              "\"count\": 3}",
	                              errs);
	const char *p = "instance";
	size_t before = errs->n;
	int count = 1, index = 0;

	in->index = 0;
	in->count = 1;
	if (!o)
		return;
	check_known(o, p, instance_fields, NELEM(instance_fields), errs);
	require(o, p, "count", "the number of instances, 1 to 256", errs);
	require(o, p, "index", "this instance's number, 0 to count - 1", errs);
	get_int32(o, p, "count", 1, JOB_MAX_INSTANCES, &count, errs);
	get_int32(o, p, "index", 0, JOB_MAX_INSTANCES - 1, &index, errs);
	if (errs->n != before)
		return;
	if (index >= count) {
		err_at(errs, p, "index",
		       "is %d but count is %d; instances are numbered 0 to "
		       "count - 1",
		       index, count);
		return;
	}
	in->index = index;
	in->count = count;
}

static void parse_checkpoint(const json_t *root, struct job_ckpt_cfg *c,
                             struct errlist *errs)
{
	const json_t *o = get_section(root, "checkpoint", true,
	                              "an object with at least \"dir\"", errs);
	const char *p = "checkpoint";

	c->interval_ms = 1000;
	c->timeout_ms = 10000;
	c->min_pause_ms = 0;
	c->retain = 3;
	c->tolerable_failures = 3;
	c->incremental = true;
	c->materialize_delta_pct = 100;
	if (!o)
		return;
	check_known(o, p, ckpt_fields, NELEM(ckpt_fields), errs);
	require(o, p, "dir", "the directory that holds checkpoints", errs);
	get_str(o, p, "dir", &c->dir, errs);
	get_int(o, p, "interval_ms", 0, JOB_MAX_MS, &c->interval_ms, errs);
	if (c->interval_ms > 0 && c->interval_ms < JOB_MIN_INTERVAL_MS)
		err_at(errs, p, "interval_ms",
		       "expected 0 (only the final checkpoint, at stop) or at "
		       "least %d, got %lld",
		       JOB_MIN_INTERVAL_MS, (long long)c->interval_ms);
	get_int(o, p, "timeout_ms", 1, JOB_MAX_MS, &c->timeout_ms, errs);
	get_int(o, p, "min_pause_ms", 0, JOB_MAX_MS, &c->min_pause_ms, errs);
	get_int32(o, p, "retain", 1, JOB_MAX_RETAIN, &c->retain, errs);
	get_int32(o, p, "tolerable_failures", 0, JOB_MAX_TOLERABLE,
	          &c->tolerable_failures, errs);
	get_bool(o, p, "incremental", &c->incremental, errs);
	get_int32(o, p, "materialize_delta_pct", 1, JOB_MAX_MATERIALIZE_PCT,
	          &c->materialize_delta_pct, errs);
}

/* Reports fields of obj in `only` as belonging to the other type. */
static void check_other_type(const json_t *obj, const char *path,
                             const char *const *only, size_t n, const char *msg,
                             struct errlist *errs)
{
	for (size_t i = 0; i < n; i++)
		if (json_object_get(obj, only[i]))
			err_at(errs, path, only[i], "%s", msg);
}

/* obj[key] as an object (NULL when absent or reported wrong). */
static const json_t *get_object(const json_t *obj, const char *path,
                                const char *key, const char *what,
                                struct errlist *errs)
{
	const json_t *v = json_object_get(obj, key);
	char got[64];

	if (v && !json_is_object(v)) {
		err_at(errs, path, key, "expected %s, got %s", what,
		       describe(v, got, sizeof(got)));
		return NULL;
	}
	return v;
}

/* source.timestamp, source.watermarks and source.on_error. */
static void parse_event_time(const json_t *o, struct job_time_cfg *c,
                             struct errlist *errs)
{
	const json_t *ts, *wm;
	int v;

	c->format = TS_EPOCH_MS;
	c->interval_ms = JOB_DEFAULT_WM_INTERVAL_MS;
	c->on_error = ON_ERROR_SKIP;
	ts = get_object(o, "source", "timestamp",
	                "an object like {\"field\": \"ts\", \"format\": "
	                "\"epoch_ms\"}",
	                errs);
	if (ts) {
		const char *p = "source.timestamp";

		check_known(ts, p, timestamp_fields, NELEM(timestamp_fields),
		            errs);
		require(ts, p, "field",
		        "the record field that holds the event time (leave "
		        "out \"timestamp\" to use the Kafka record timestamp)",
		        errs);
		get_str(ts, p, "field", &c->field, errs);
		v = TS_EPOCH_MS;
		get_enum(ts, p, "format", ts_format_names,
		         NELEM(ts_format_names), &v, errs);
		c->format = (enum ts_format)v;
	}
	wm = get_object(o, "source", "watermarks",
	                "an object like {\"max_out_of_orderness_ms\": 5000}",
	                errs);
	if (wm) {
		const char *p = "source.watermarks";

		check_known(wm, p, watermark_fields, NELEM(watermark_fields),
		            errs);
		get_int(wm, p, "max_out_of_orderness_ms", 0, JOB_MAX_MS,
		        &c->max_ooo_ms, errs);
		get_int(wm, p, "idle_timeout_ms", 0, JOB_MAX_MS,
		        &c->idle_timeout_ms, errs);
		get_int(wm, p, "interval_ms", 0, JOB_MAX_MS, &c->interval_ms,
		        errs);
	}
	v = ON_ERROR_SKIP;
	get_enum(o, "source", "on_error", source_on_error_names,
	         NELEM(source_on_error_names), &v, errs);
	c->on_error = v == 1 ? ON_ERROR_FAIL : ON_ERROR_SKIP;
}

static void parse_source(const json_t *root, struct job_source_cfg *s,
                         struct errlist *errs)
{
	const json_t *o = get_section(root, "source", true,
	                              "an object with at least \"type\"", errs);
	const char *p = "source";
	int type = -1, v;

	s->parallelism = 1;
	s->count = 1000;
	s->partitions = 1;
	if (!o)
		return;
	check_known(o, p, source_fields, NELEM(source_fields), errs);
	require(o, p, "type", "one of kafka, generator", errs);
	get_enum(o, p, "type", source_types, NELEM(source_types), &type, errs);
	s->type = type == 1 ? SOURCE_GENERATOR : SOURCE_KAFKA;
	get_int32(o, p, "parallelism", 1, JOB_MAX_PARALLELISM, &s->parallelism,
	          errs);

	get_str(o, p, "brokers", &s->brokers, errs);
	get_str(o, p, "topic", &s->topic, errs);
	v = START_EARLIEST;
	get_enum(o, p, "start", start_names, NELEM(start_names), &v, errs);
	s->start = (enum start_pos)v;
	get_bool(o, p, "bounded", &s->bounded, errs);
	get_str(o, p, "group_id", &s->group_id, errs);
	get_str(o, p, "partitioned_by", &s->partitioned_by, errs);
	v = OOR_FAIL;
	get_enum(o, p, "on_offset_out_of_range", oor_names, NELEM(oor_names),
	         &v, errs);
	s->on_offset_out_of_range = (enum oor_policy)v;
	get_props(o, p, "properties", &s->properties, errs);

	get_int(o, p, "count", 0, JOB_MAX_GEN_COUNT, &s->count, errs);
	get_int32(o, p, "partitions", 1, JOB_MAX_GEN_PARTITIONS, &s->partitions,
	          errs);
	get_int(o, p, "rate", 0, JOB_MAX_GEN_RATE, &s->rate, errs);
	parse_event_time(o, &s->time, errs);

	if (type == 0) {
		require(o, p, "brokers", "a broker list like \"host:9092\"",
		        errs);
		require(o, p, "topic", "the topic to read", errs);
		check_other_type(o, p, source_gen_only, NELEM(source_gen_only),
		                 "only for generator sources, not for kafka; "
		                 "remove it",
		                 errs);
	} else if (type == 1) {
		check_other_type(o, p, source_kafka_only,
		                 NELEM(source_kafka_only),
		                 "only for kafka sources, not for generator "
		                 "(which takes count, partitions, rate); "
		                 "remove it",
		                 errs);
	}
}

static void parse_sink(const json_t *root, struct job_sink_cfg *s,
                       struct errlist *errs)
{
	const json_t *o = get_section(root, "sink", true,
	                              "an object with at least \"type\"", errs);
	const char *p = "sink";
	int type = -1, v;

	s->parallelism = 1;
	if (!o)
		return;
	check_known(o, p, sink_fields, NELEM(sink_fields), errs);
	require(o, p, "type", "one of kafka, discard", errs);
	get_enum(o, p, "type", sink_types, NELEM(sink_types), &type, errs);
	s->type = type == 1 ? SINK_DISCARD : SINK_KAFKA;
	get_int32(o, p, "parallelism", 1, JOB_MAX_PARALLELISM, &s->parallelism,
	          errs);
	get_str(o, p, "brokers", &s->brokers, errs);
	get_str(o, p, "topic", &s->topic, errs);
	v = DELIVERY_AT_LEAST_ONCE;
	get_enum(o, p, "delivery", delivery_names, NELEM(delivery_names), &v,
	         errs);
	s->delivery = (enum delivery)v;
	v = EXACTLY_ONCE_DEDUP;
	get_enum(o, p, "exactly_once", eo_names, NELEM(eo_names), &v, errs);
	s->exactly_once = (enum eo_method)v;
	if (json_object_get(o, "exactly_once") &&
	    s->delivery != DELIVERY_EXACTLY_ONCE)
		err_at(errs, p, "exactly_once",
		       "only applies with "
		       "\"delivery\": \"exactly-once\"; remove it or set "
		       "delivery");
	v = PARTITIONER_KEY;
	get_enum(o, p, "partitioner", partitioner_names,
	         NELEM(partitioner_names), &v, errs);
	s->partitioner = (enum partitioner)v;
	s->lineage_headers = true;
	get_bool(o, p, "lineage_headers", &s->lineage_headers, errs);
	if (!s->lineage_headers && s->delivery == DELIVERY_EXACTLY_ONCE &&
	    s->exactly_once == EXACTLY_ONCE_DEDUP)
		err_at(errs, p, "lineage_headers",
		       "exactly-once by de-duplication finds what was already "
		       "written by these headers; keep them (true), or use "
		       "\"exactly_once\": \"transactions\"");
	v = ON_ERROR_FAIL;
	if (json_is_string(json_object_get(o, "on_error")) &&
	    strcmp(json_string_value(json_object_get(o, "on_error")),
	           "dead-letter") == 0)
		err_at(errs, p, "on_error",
		       "the sink sends no dead letters (a record too large "
		       "for the sink's topic is as large for another); use "
		       "\"fail\" or \"skip\"");
	else
		get_enum(o, p, "on_error", on_error_names,
		         NELEM(on_error_names) - 1, &v, errs);
	s->on_error = (enum on_error_policy)v;
	get_props(o, p, "properties", &s->properties, errs);

	if (type == 0) {
		require(o, p, "brokers", "a broker list like \"host:9092\"",
		        errs);
		require(o, p, "topic", "the topic to write", errs);
	} else if (type == 1) {
		check_other_type(o, p, sink_kafka_only, NELEM(sink_kafka_only),
		                 "only for kafka sinks; a discard sink takes "
		                 "only type and parallelism; remove it",
		                 errs);
	}
}

/* "ttl_ms" of a keyed operator: the runtime expires a key's state that
 * long after the record time of its last change. */
static void parse_ttl(const json_t *o, const char *p, struct job_op_cfg *op,
                      struct errlist *errs)
{
	const json_t *v = json_object_get(o, "ttl_ms");

	if (!v)
		return;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > JOB_MAX_TTL_MS) {
		char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		err_at(errs, p, "ttl_ms",
		       "expected a whole number of milliseconds from 1 to "
		       "%lld (365 days), got %.40s; leave ttl_ms out to keep "
		       "state until the operator deletes it",
		       (long long)JOB_MAX_TTL_MS, got ? got : "?");
		free(got);
		return;
	}
	if (!json_object_get(o, "key")) {
		err_at(errs, p, "ttl_ms",
		       "expires each key's state, so the operator needs a "
		       "\"key\"; add one or remove ttl_ms");
		return;
	}
	op->ttl_ms = json_integer_value(v);
}

/* The common fields of one operator; the rest belongs to the operator,
 * which gets the whole object as config_json and checks it at open. */
static void parse_op(json_t *o, const char *p, struct job_op_cfg *op,
                     struct errlist *errs)
{
	const json_t *t = json_object_get(o, "type");
	int on_error = ON_ERROR_SKIP;
	char *name = NULL;
	char got[64];

	op->parallelism = 1;
	op->on_error = ON_ERROR_SKIP;
	if (!json_is_object(o)) {
		err_at(errs, p, NULL,
		       "expected an operator object with at least "
		       "\"type\", got %s",
		       describe(o, got, sizeof(got)));
		return;
	}
	op->config_json = json_dumps(o, JSON_COMPACT);

	require(o, p, "type",
	        "one of filter, count, map, dedup, window, plugin", errs);
	if (t && !json_is_string(t)) {
		err_at(errs, p, "type",
		       "expected one of filter, count, map, "
		       "dedup, window, plugin, got %s",
		       describe(t, got, sizeof(got)));
	} else if (t &&
	           !in_set(json_string_value(t), op_types, NELEM(op_types))) {
		const char *hint = closest_name(json_string_value(t), op_types,
		                                NELEM(op_types));
		err_at(errs, p, "type",
		       "unknown operator type \"%s\"; expected "
		       "one of filter, count, map, dedup, window, plugin%s%s%s",
		       json_string_value(t), hint ? "; did you mean " : "",
		       hint ? hint : "", hint ? "?" : "");
	} else if (t) {
		op->type = xstrdup(json_string_value(t));
	}

	get_int32(o, p, "parallelism", 1, JOB_MAX_PARALLELISM, &op->parallelism,
	          errs);
	get_str(o, p, "key", &op->key_field, errs);
	/* A window without a key is one window stream: its windows and
	 * timers live in keyed state under one key. */
	op->one_key = !op->key_field && op->type && !strcmp(op->type, "window");
	get_enum(o, p, "on_error", on_error_names, NELEM(on_error_names),
	         &on_error, errs);
	op->on_error = (enum on_error_policy)on_error;
	get_str(o, p, "dead_letter_topic", &op->dead_letter_topic, errs);
	get_str(o, p, "name", &name, errs);
	free(name);
	parse_ttl(o, p, op, errs);

	if (op->on_error == ON_ERROR_DEAD_LETTER)
		require(o, p, "dead_letter_topic",
		        "the topic that receives "
		        "failed records, since on_error is \"dead-letter\"",
		        errs);
	else if (json_object_get(o, "dead_letter_topic"))
		err_at(errs, p, "dead_letter_topic",
		       "only used with "
		       "\"on_error\": \"dead-letter\"; remove it or set "
		       "on_error");

	if (op->type && strcmp(op->type, "plugin") == 0) {
		require(o, p, "library", "the path of the plugin's .so", errs);
		get_str(o, p, "library", &op->library, errs);
	}
}

static void parse_ops(json_t *root, struct job_cfg *cfg, struct errlist *errs)
{
	json_t *arr = json_object_get(root, "operators");
	char got[64];

	if (!arr)
		return;
	if (!json_is_array(arr)) {
		err_at(errs, "", "operators",
		       "expected an array of operator "
		       "objects, got %s",
		       describe(arr, got, sizeof(got)));
		return;
	}
	cfg->ops = xcalloc(json_array_size(arr), sizeof(*cfg->ops));
	cfg->nops = json_array_size(arr);
	for (size_t i = 0; i < cfg->nops; i++) {
		char *p = xasprintf("operators[%zu]", i);
		parse_op(json_array_get(arr, i), p, &cfg->ops[i], errs);
		free(p);
	}
}

/* --- Entry points ------------------------------------------------------- */

static struct job_cfg *parse(const char *text, size_t len, const char *origin,
                             struct errlist *errs, bool partial)
{
	size_t before = errs->n;
	struct job_cfg *cfg;
	json_error_t jerr;
	json_t *root;
	char got[64];

	if (!origin)
		origin = "<string>";
	root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	                  &jerr);
	if (!root) {
		errlist_add(errs, "%s:%d:%d: %s", origin, jerr.line,
		            jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		errlist_add(errs,
		            "%s: expected a JSON object at the top level, "
		            "got %s",
		            origin, describe(root, got, sizeof(got)));
		json_decref(root);
		return NULL;
	}
	expand_tree(root, "", errs);

	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(origin);
	check_known(root, "", top_fields, NELEM(top_fields), errs);
	parse_name(root, cfg, errs);
	parse_checkpoint(root, &cfg->checkpoint, errs);
	parse_source(root, &cfg->source, errs);
	parse_ops(root, cfg, errs);
	parse_sink(root, &cfg->sink, errs);
	parse_http(root, cfg, errs);
	parse_instance(root, &cfg->instance, errs);
	cfg->checkpoint.instance = &cfg->instance;
	cfg->source.instance = &cfg->instance;
	cfg->sink.instance = &cfg->instance;
	cfg->progress_interval_ms = 10000;
	get_int(root, "", "progress_interval_ms", 0, JOB_MAX_MS,
	        &cfg->progress_interval_ms, errs);
	if (cfg->progress_interval_ms > 0 && cfg->progress_interval_ms < 100)
		err_at(errs, "", "progress_interval_ms",
		       "expected 0 (no progress lines) or at least 100, got "
		       "%lld",
		       (long long)cfg->progress_interval_ms);
	json_decref(root);

	if (errs->n != before && !partial) {
		jobfile_free(cfg);
		return NULL;
	}
	return cfg;
}

struct job_cfg *jobfile_parse(const char *text, size_t len, const char *origin,
                              struct errlist *errs)
{
	return parse(text, len, origin, errs, false);
}

static struct job_cfg *load(const char *path, struct errlist *errs,
                            bool partial)
{
	struct job_cfg *cfg;
	size_t n = 0, cap = 4096;
	char *buf;
	FILE *f;
	int err;

	f = fopen(path, "rb");
	if (!f) {
		errlist_add(errs, "cannot read job file %s: %s", path,
		            strerror(errno));
		return NULL;
	}
	buf = xmalloc(cap);
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
		if (n > MAX_FILE_BYTES)
			break;
		if (n == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	err = ferror(f) ? errno : 0;
	fclose(f);
	if (err) {
		errlist_add(errs, "cannot read job file %s: %s", path,
		            strerror(err));
		free(buf);
		return NULL;
	}
	if (n > MAX_FILE_BYTES) {
		errlist_add(errs,
		            "cannot read job file %s: larger than %u MiB; "
		            "a job file is a few kilobytes of JSON",
		            path, MAX_FILE_BYTES >> 20);
		free(buf);
		return NULL;
	}
	cfg = parse(buf, n, path, errs, partial);
	free(buf);
	return cfg;
}

struct job_cfg *jobfile_load(const char *path, struct errlist *errs)
{
	return load(path, errs, false);
}

struct job_cfg *jobfile_load_partial(const char *path, struct errlist *errs)
{
	return load(path, errs, true);
}

static void kv_list_free(struct kv_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
}

void jobfile_free(struct job_cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->name);
	free(cfg->http_listen);
	free(cfg->checkpoint.dir);
	free(cfg->source.brokers);
	free(cfg->source.topic);
	free(cfg->source.group_id);
	free(cfg->source.partitioned_by);
	free(cfg->source.time.field);
	kv_list_free(&cfg->source.properties);
	for (size_t i = 0; i < cfg->nops; i++) {
		struct job_op_cfg *op = &cfg->ops[i];
		free(op->type);
		free(op->config_json);
		free(op->key_field);
		free(op->dead_letter_topic);
		free(op->library);
	}
	free(cfg->ops);
	free(cfg->sink.brokers);
	free(cfg->sink.topic);
	kv_list_free(&cfg->sink.properties);
	free(cfg);
}
