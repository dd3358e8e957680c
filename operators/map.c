/*
 * map.c - the built-in "map" operator: reshapes each JSON object record.
 * In this fixed order it keeps only the "project" fields (nesting kept),
 * moves the "rename" fields, and sets the "add" fields; the record key and
 * headers stay as they were. Stateless; uses only weir/weir.h like a plugin.
 *
 *   { "type": "map", "project": ["level", "http.status"],
 *     "rename": {"http.status": "status"}, "add": {"env": "prod"} }
 *
 * A value that is not a JSON object goes to the on_error policy.
 */
#include "builtin.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrec.h"
#include "opconfig.h"

/* A dotted field path split into its names. Names cannot contain dots. */
struct mpath {
	char *dotted; /* as written, for messages */
	size_t n;
	char **parts;
};

struct map_rename {
	struct mpath from, to;
};

struct map_add {
	struct mpath to;
	json_t *value; /* our own reference; deep-copied into each output */
};

struct map {
	struct mpath *project; /* NULL: keep every field */
	size_t nproject;
	struct map_rename *rename;
	size_t nrename;
	struct map_add *add;
	size_t nadd;
};

/* --- Field paths -------------------------------------------------------- */

/* Splits dotted into p; false (with p untouched) when a name is empty. */
static bool mpath_init(struct mpath *p, const char *dotted)
{
	size_t n = 1;
	const char *c;

	if (!*dotted || dotted[0] == '.' || dotted[strlen(dotted) - 1] == '.' ||
	    strstr(dotted, ".."))
		return false;
	for (c = dotted; *c; c++)
		n += *c == '.';
	p->dotted = xstrdup(dotted);
	p->n = 0;
	p->parts = xcalloc(n, sizeof(*p->parts));
	for (c = dotted;; c++) {
		const char *dot = strchr(c, '.');
		size_t len = dot ? (size_t)(dot - c) : strlen(c);

		p->parts[p->n++] = xstrndup(c, len);
		if (!dot)
			break;
		c = dot;
	}
	return true;
}

static void mpath_clear(struct mpath *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->parts[i]);
	free(p->parts);
	free(p->dotted);
	memset(p, 0, sizeof(*p));
}

/* The value at p inside root, borrowed, or NULL when a name on the way is
 * missing or not an object. */
static json_t *mpath_get(json_t *root, const struct mpath *p)
{
	json_t *cur = root;

	for (size_t i = 0; cur && i < p->n; i++)
		cur = json_is_object(cur) ? json_object_get(cur, p->parts[i])
		                          : NULL;
	return cur;
}

/* The object that holds the last name of p, or NULL. With create, missing
 * objects on the way are made; a name on the way that holds something else
 * is an error described in why. */
static json_t *mpath_parent(json_t *root, const struct mpath *p, bool create,
                            char *why, size_t whylen)
{
	json_t *cur = root;

	for (size_t i = 0; i + 1 < p->n; i++) {
		json_t *next = json_object_get(cur, p->parts[i]);

		if (!next && create) {
			next = json_object();
			json_object_set_new(cur, p->parts[i], next);
		}
		if (!next)
			return NULL;
		if (!json_is_object(next)) {
			if (create)
				snprintf(
				    why, whylen,
				    "cannot set field \"%s\": \"%s\" on the "
				    "way is not an object",
				    p->dotted, p->parts[i]);
			return NULL;
		}
		cur = next;
	}
	return cur;
}

/* Sets p in root to value (takes ownership of value). */
static bool mpath_set(json_t *root, const struct mpath *p, json_t *value,
                      char *why, size_t whylen)
{
	json_t *parent = mpath_parent(root, p, true, why, whylen);

	if (!parent) {
		json_decref(value);
		return false;
	}
	json_object_set_new(parent, p->parts[p->n - 1], value);
	return true;
}

/* Removes p from root and returns its value (a new reference), or NULL
 * when it is missing. */
static json_t *mpath_take(json_t *root, const struct mpath *p)
{
	json_t *parent = mpath_parent(root, p, false, NULL, 0);
	json_t *v;

	if (!parent)
		return NULL;
	v = json_incref(json_object_get(parent, p->parts[p->n - 1]));
	if (v)
		json_object_del(parent, p->parts[p->n - 1]);
	return v;
}

/* --- Config ------------------------------------------------------------- */

#define PATH_RULE "names joined by dots, none of them empty"

static void parse_project(struct map *m, json_t *v, struct errlist *errs)
{
	size_t i;
	json_t *f;

	if (!json_is_array(v) || json_array_size(v) == 0) {
		errlist_add(errs,
		            "project: expected a non-empty array of field "
		            "names like [\"level\", \"http.status\"], got %s; "
		            "leave project out to keep every field",
		            json_is_array(v) ? "an empty array"
		                             : opconfig_kind(v));
		return;
	}
	m->project = xcalloc(json_array_size(v), sizeof(*m->project));
	json_array_foreach(v, i, f) {
		if (!json_is_string(f))
			errlist_add(errs,
			            "project[%zu]: expected a field name "
			            "(a string), got %s",
			            i, opconfig_kind(f));
		else if (!mpath_init(&m->project[m->nproject],
		                     json_string_value(f)))
			errlist_add(errs,
			            "project[%zu]: \"%s\" is not a field "
			            "path; expected " PATH_RULE,
			            i, json_string_value(f));
		else
			m->nproject++;
	}
}

static void parse_rename(struct map *m, json_t *v, struct errlist *errs)
{
	const char *old;
	json_t *to;

	if (!json_is_object(v) || json_object_size(v) == 0) {
		errlist_add(errs,
		            "rename: expected a non-empty object of "
		            "{\"old\": \"new\"} field names, got %s",
		            json_is_object(v) ? "an empty object"
		                              : opconfig_kind(v));
		return;
	}
	m->rename = xcalloc(json_object_size(v), sizeof(*m->rename));
	json_object_foreach(v, old, to) {
		struct map_rename *r = &m->rename[m->nrename];

		if (!json_is_string(to)) {
			errlist_add(errs,
			            "rename.%s: expected a string (the new "
			            "field name), got %s",
			            old, opconfig_kind(to));
			continue;
		}
		if (!mpath_init(&r->from, old)) {
			errlist_add(errs,
			            "rename.%s: \"%s\" is not a field path; "
			            "expected " PATH_RULE,
			            old, old);
			continue;
		}
		if (!mpath_init(&r->to, json_string_value(to))) {
			errlist_add(errs,
			            "rename.%s: \"%s\" is not a field path; "
			            "expected " PATH_RULE,
			            old, json_string_value(to));
			mpath_clear(&r->from);
			continue;
		}
		for (size_t i = 0; i < m->nrename; i++)
			if (!strcmp(m->rename[i].to.dotted, r->to.dotted))
				errlist_add(
				    errs,
				    "rename.%s: \"%s\" is also the "
				    "new name of \"%s\"; each field can "
				    "receive one rename only",
				    old, r->to.dotted,
				    m->rename[i].from.dotted);
		m->nrename++;
	}
}

static void parse_add(struct map *m, json_t *v, struct errlist *errs)
{
	const char *name;
	json_t *val;

	if (!json_is_object(v) || json_object_size(v) == 0) {
		errlist_add(errs,
		            "add: expected a non-empty object of "
		            "{\"field\": value}, got %s",
		            json_is_object(v) ? "an empty object"
		                              : opconfig_kind(v));
		return;
	}
	m->add = xcalloc(json_object_size(v), sizeof(*m->add));
	json_object_foreach(v, name, val) {
		struct map_add *a = &m->add[m->nadd];

		if (!mpath_init(&a->to, name)) {
			errlist_add(errs,
			            "add.%s: \"%s\" is not a field path; "
			            "expected " PATH_RULE,
			            name, name);
			continue;
		}
		a->value = json_incref(val);
		m->nadd++;
	}
}

static void map_free(struct map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nproject; i++)
		mpath_clear(&m->project[i]);
	for (size_t i = 0; i < m->nrename; i++) {
		mpath_clear(&m->rename[i].from);
		mpath_clear(&m->rename[i].to);
	}
	for (size_t i = 0; i < m->nadd; i++) {
		mpath_clear(&m->add[i].to);
		json_decref(m->add[i].value);
	}
	free(m->project);
	free(m->rename);
	free(m->add);
	free(m);
}

static int map_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	struct errlist errs = {0};
	struct map *m = xcalloc(1, sizeof(*m));
	json_error_t jerr;
	const char *key;
	json_t *cfg, *v;
	int rc;

	cfg = json_loads(config_json, 0, &jerr);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		map_free(m);
		return weir_error(ctx, "map config: expected a JSON object");
	}
	json_object_foreach(cfg, key, v) {
		if (!strcmp(key, "project"))
			parse_project(m, v, &errs);
		else if (!strcmp(key, "rename"))
			parse_rename(m, v, &errs);
		else if (!strcmp(key, "add"))
			parse_add(m, v, &errs);
		else if (!opconfig_is_common(key))
			errlist_add(&errs,
			            "%s: unknown field for map; expected "
			            "project, rename, add",
			            key);
	}
	if (!json_object_get(cfg, "project") &&
	    !json_object_get(cfg, "rename") && !json_object_get(cfg, "add"))
		errlist_add(&errs,
		            "map needs at least one of project, rename, "
		            "add, e.g. \"project\": [\"level\", \"service\"]");
	json_decref(cfg);

	if (errs.n) {
		map_free(m);
		rc = opconfig_fail(ctx, &errs);
		errlist_clear(&errs);
		return rc;
	}
	*state = m;
	return WEIR_OK;
}

/* --- Records ------------------------------------------------------------ */

/* Builds the output object from doc (which it may change); NULL with the
 * reason in why when a field cannot be set. */
static json_t *map_apply(const struct map *m, json_t *doc, char *why,
                         size_t whylen)
{
	json_t *out, **moved = NULL;

	if (m->project) {
		out = json_object();
		for (size_t i = 0; i < m->nproject; i++) {
			json_t *v = mpath_get(doc, &m->project[i]);

			/* A copy, so that no value is shared between the
			 * input and the output that rename and add change. */
			if (v && !mpath_set(out, &m->project[i],
			                    json_deep_copy(v), why, whylen))
				goto err;
		}
	} else {
		out = json_incref(doc);
	}

	/* Renames happen at once: every old field is taken out before any new
	 * one is set, so {"a": "b", "b": "a"} swaps. */
	if (m->nrename)
		moved = xcalloc(m->nrename, sizeof(*moved));
	for (size_t i = 0; i < m->nrename; i++)
		moved[i] = mpath_take(out, &m->rename[i].from);
	for (size_t i = 0; i < m->nrename; i++) {
		json_t *v = moved[i];

		moved[i] = NULL;
		if (v && !mpath_set(out, &m->rename[i].to, v, why, whylen)) {
			for (size_t k = i + 1; k < m->nrename; k++)
				json_decref(moved[k]);
			free(moved);
			goto err;
		}
	}
	free(moved);

	for (size_t i = 0; i < m->nadd; i++)
		if (!mpath_set(out, &m->add[i].to,
		               json_deep_copy(m->add[i].value), why, whylen))
			goto err;
	return out;
err:
	json_decref(out);
	return NULL;
}

static int map_process(weir_ctx_t *ctx, void *state, const weir_record_t *rec)
{
	const struct map *m = state;
	const void *val, *key;
	size_t len, key_len;
	char why[256];
	struct jrec j;
	json_t *doc, *out;
	char *text;
	int rc;

	val = weir_record_value(rec, &len);
	jrec_init(&j, val, len);
	doc = jrec_doc(&j);
	if (!doc || !json_is_object(doc)) {
		if (doc)
			rc = weir_record_error(ctx, rec,
			                       "value is %s, not a "
			                       "JSON object",
			                       opconfig_kind(doc));
		else
			rc = weir_record_error(ctx, rec, "%s", j.err);
		jrec_clear(&j);
		return rc;
	}
	out = map_apply(m, doc, why, sizeof(why));
	jrec_clear(&j);
	if (!out)
		return weir_record_error(ctx, rec, "%s", why);
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	if (!text)
		return weir_error(ctx, "cannot serialize the output record");
	key = weir_record_key(rec, &key_len);
	rc = weir_emit(ctx, key, key_len, text, strlen(text));
	free(text);
	return rc;
}

static void map_close(weir_ctx_t *ctx, void *state)
{
	(void)ctx;
	map_free(state);
}

static const weir_operator_t map_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "map",
    .state_version = 1,
    .open = map_open,
    .process = map_process,
    .close = map_close,
};

const weir_operator_t *weir_builtin_map(void)
{
	return &map_op;
}
