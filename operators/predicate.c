/*
 * predicate.c - compiles the filter operator's "where" expressions from JSON
 * into a small tree and evaluates it per record (see predicate.h for the
 * language and its three-valued rules). Compiling allocates and reports
 * every problem with its JSON path; evaluation reads the record through
 * its tokens (jrec.h) and allocates nothing in the common case.
 */
#include "predicate.h"
#include "opconfig.h"
#include "util.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- The compiled tree -------------------------------------------------- */

enum pred_kind { P_CMP, P_ALL, P_ANY, P_NOT, P_RAW };

enum cmp_op {
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_CONTAINS,
	OP_PREFIX,
	OP_EXISTS,
	OP_MATCHES,
};

static const char *const op_names[] = {
    "eq", "ne",       "lt",     "le",     "gt",
    "ge", "contains", "prefix", "exists", "matches",
};
#define N_OPS (sizeof(op_names) / sizeof(op_names[0]))
#define OP_LIST "eq, ne, lt, le, gt, ge, contains, prefix, exists, matches"

struct pred {
	enum pred_kind kind;
	/* P_CMP */
	enum cmp_op op;
	struct fpath *field;
	json_t *value; /* our own reference; NULL for exists */
	bool exists_want;
	bool has_re;
	regex_t re;
	/* P_ALL, P_ANY: n children; P_NOT: one */
	struct pred **kids;
	size_t nkids;
	/* P_RAW */
	char *needle;
	size_t needle_len;
};

void pred_free(struct pred *p)
{
	if (!p)
		return;
	fpath_free(p->field);
	json_decref(p->value);
	if (p->has_re)
		regfree(&p->re);
	for (size_t i = 0; i < p->nkids; i++)
		pred_free(p->kids[i]);
	free(p->kids);
	free(p->needle);
	free(p);
}

/* --- Compiling ---------------------------------------------------------- */

static const char *const cond_keys[] = {
    "field", "op", "value", "all", "any", "not", "value_contains",
};
#define N_COND_KEYS (sizeof(cond_keys) / sizeof(cond_keys[0]))
#define FORMS "field/op/value, all, any, not, value_contains"

static struct pred *compile_at(const json_t *w, const char *path,
                               struct errlist *errs);

static struct pred *pred_new(enum pred_kind kind)
{
	struct pred *p = xcalloc(1, sizeof(*p));
	p->kind = kind;
	return p;
}

static bool check_value(struct pred *p, const json_t *v, const char *path,
                        struct errlist *errs)
{
	const char *op = op_names[p->op];
	int rc;

	if (!v) {
		if (p->op == OP_EXISTS) {
			p->exists_want = true;
			return true;
		}
		errlist_add(errs, "%s.value: required for op \"%s\"", path, op);
		return false;
	}
	switch (p->op) {
	case OP_EQ:
	case OP_NE:
		return true;
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE:
		if (json_is_number(v) || json_is_string(v))
			return true;
		errlist_add(errs,
		            "%s.value: expected a number or a string for "
		            "op \"%s\", got %s",
		            path, op, opconfig_kind(v));
		return false;
	case OP_CONTAINS:
	case OP_PREFIX:
		if (json_is_string(v))
			return true;
		errlist_add(errs,
		            "%s.value: expected a string for op \"%s\", "
		            "got %s",
		            path, op, opconfig_kind(v));
		return false;
	case OP_EXISTS:
		if (json_is_boolean(v)) {
			p->exists_want = json_is_true(v);
			return true;
		}
		errlist_add(errs,
		            "%s.value: expected true or false for op "
		            "\"exists\", got %s",
		            path, opconfig_kind(v));
		return false;
	case OP_MATCHES:
		if (!json_is_string(v)) {
			errlist_add(errs,
			            "%s.value: expected a string holding a "
			            "POSIX extended regular expression for op "
			            "\"matches\", got %s",
			            path, opconfig_kind(v));
			return false;
		}
		rc = regcomp(&p->re, json_string_value(v),
		             REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &p->re, msg, sizeof(msg));
			errlist_add(errs,
			            "%s.value: invalid regular expression "
			            "\"%s\": %s",
			            path, json_string_value(v), msg);
			return false;
		}
		p->has_re = true;
		return true;
	}
	return false;
}

static struct pred *compile_cmp(const json_t *w, const char *path,
                                struct errlist *errs)
{
	const json_t *field = json_object_get(w, "field");
	const json_t *op = json_object_get(w, "op");
	const json_t *value = json_object_get(w, "value");
	struct pred *p = pred_new(P_CMP);
	bool ok = true, op_ok = false;

	if (!field) {
		errlist_add(
		    errs,
		    "%s.field: required; expected a non-empty "
		    "string (a field name or a dotted path like \"a.b\")",
		    path);
		ok = false;
	} else if (!json_is_string(field) || json_string_length(field) == 0) {
		errlist_add(
		    errs, "%s.field: expected a non-empty string, got %s", path,
		    json_is_string(field) ? "\"\"" : opconfig_kind(field));
		ok = false;
	} else {
		p->field = fpath_new(json_string_value(field));
	}

	if (!op) {
		errlist_add(errs, "%s.op: required; expected one of " OP_LIST,
		            path);
		ok = false;
	} else if (!json_is_string(op)) {
		errlist_add(errs,
		            "%s.op: expected a string, one of " OP_LIST
		            ", got %s",
		            path, opconfig_kind(op));
		ok = false;
	} else {
		const char *s = json_string_value(op);
		for (size_t i = 0; i < N_OPS; i++) {
			if (strcmp(s, op_names[i]) == 0) {
				p->op = (enum cmp_op)i;
				op_ok = true;
			}
		}
		if (!op_ok) {
			const char *hint = closest_name(s, op_names, N_OPS);
			errlist_add(errs,
			            "%s.op: unknown operator \"%s\"; "
			            "expected one of " OP_LIST "%s%s%s",
			            path, s, hint ? "; did you mean " : "",
			            hint ? hint : "", hint ? "?" : "");
			ok = false;
		}
	}

	if (op_ok && !check_value(p, value, path, errs))
		ok = false;
	if (!ok) {
		pred_free(p);
		return NULL;
	}
	if (value && p->op != OP_EXISTS)
		p->value = json_deep_copy(value);
	return p;
}

static struct pred *compile_list(const json_t *w, const char *key,
                                 const char *path, struct errlist *errs)
{
	const json_t *arr = json_object_get(w, key);
	struct pred *p;
	bool ok = true;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		errlist_add(errs,
		            "%s.%s: expected a non-empty array of "
		            "conditions, got %s",
		            path, key,
		            json_is_array(arr) ? "an empty array"
		                               : opconfig_kind(arr));
		return NULL;
	}
	p = pred_new(strcmp(key, "all") == 0 ? P_ALL : P_ANY);
	p->kids = xcalloc(json_array_size(arr), sizeof(*p->kids));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char *sub = xasprintf("%s.%s[%zu]", path, key, i);
		struct pred *kid =
		    compile_at(json_array_get(arr, i), sub, errs);
		free(sub);
		if (kid)
			p->kids[p->nkids++] = kid;
		else
			ok = false;
	}
	if (!ok) {
		pred_free(p);
		return NULL;
	}
	return p;
}

static struct pred *compile_not(const json_t *w, const char *path,
                                struct errlist *errs)
{
	char *sub = xasprintf("%s.not", path);
	struct pred *kid = compile_at(json_object_get(w, "not"), sub, errs);
	struct pred *p;

	free(sub);
	if (!kid)
		return NULL;
	p = pred_new(P_NOT);
	p->kids = xmalloc(sizeof(*p->kids));
	p->kids[0] = kid;
	p->nkids = 1;
	return p;
}

static struct pred *compile_raw(const json_t *w, const char *path,
                                struct errlist *errs)
{
	const json_t *v = json_object_get(w, "value_contains");
	struct pred *p;

	if (!json_is_string(v) || json_string_length(v) == 0) {
		errlist_add(errs,
		            "%s.value_contains: expected a non-empty "
		            "string, got %s",
		            path,
		            json_is_string(v) ? "\"\"" : opconfig_kind(v));
		return NULL;
	}
	p = pred_new(P_RAW);
	p->needle_len = json_string_length(v);
	p->needle = xmalloc(p->needle_len);
	memcpy(p->needle, json_string_value(v), p->needle_len);
	return p;
}

static struct pred *compile_at(const json_t *w, const char *path,
                               struct errlist *errs)
{
	const char *key, *forms[5];
	size_t nforms = 0;
	bool unknown = false;
	struct pred *p;
	json_t *v;

	if (!json_is_object(w)) {
		errlist_add(errs,
		            "%s: expected a condition object with one of " FORMS
		            ", got %s",
		            path, opconfig_kind(w));
		return NULL;
	}
	json_object_foreach((json_t *)w, key, v) {
		size_t i;
		for (i = 0; i < N_COND_KEYS; i++)
			if (strcmp(key, cond_keys[i]) == 0)
				break;
		if (i == N_COND_KEYS) {
			const char *hint =
			    closest_name(key, cond_keys, N_COND_KEYS);
			errlist_add(errs,
			            "%s.%s: unknown field; expected one of "
			            "field, op, value, all, any, not, "
			            "value_contains%s%s%s",
			            path, key, hint ? "; did you mean " : "",
			            hint ? hint : "", hint ? "?" : "");
			unknown = true;
		} else if (i >= 3) {
			forms[nforms++] = key;
		}
	}
	if (json_object_get(w, "field") || json_object_get(w, "op") ||
	    json_object_get(w, "value"))
		forms[nforms++] = "field/op/value";
	if (nforms == 0) {
		if (!unknown)
			errlist_add(errs, "%s: expected one of " FORMS, path);
		return NULL;
	}
	if (nforms > 1) {
		errlist_add(errs,
		            "%s: expected only one of " FORMS "; found "
		            "both %s and %s (nest them in \"all\" or \"any\")",
		            path, forms[0], forms[1]);
		return NULL;
	}
	/* With unknown keys the form is still checked, to report everything
	 * in one pass. */
	if (strcmp(forms[0], "all") == 0 || strcmp(forms[0], "any") == 0)
		p = compile_list(w, forms[0], path, errs);
	else if (strcmp(forms[0], "not") == 0)
		p = compile_not(w, path, errs);
	else if (strcmp(forms[0], "value_contains") == 0)
		p = compile_raw(w, path, errs);
	else
		p = compile_cmp(w, path, errs);
	if (unknown) {
		pred_free(p);
		return NULL;
	}
	return p;
}

struct pred *pred_compile(const json_t *where, const char *path,
                          struct errlist *errs)
{
	size_t before = errs->n;
	struct pred *p = compile_at(where, path, errs);

	/* Children report their own errors; a tree is only returned whole. */
	if (p && errs->n != before) {
		pred_free(p);
		p = NULL;
	}
	return p;
}

/* --- Evaluating --------------------------------------------------------- */

static enum pred_result eval_error(char *err, size_t errlen, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

static enum pred_result eval_error(char *err, size_t errlen, const char *fmt,
                                   ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return PRED_ERROR;
}

static struct jnum json_num(const json_t *v)
{
	struct jnum n = {json_is_integer(v), 0, json_number_value(v)};

	if (n.is_int)
		n.i = json_integer_value(v);
	return n;
}

static bool is_number(json_type t)
{
	return t == JSON_INTEGER || t == JSON_REAL;
}

/* Numbers compare numerically whether integer or real; two integers
 * compare exactly, without going through double. */
static int num_cmp(struct jnum a, struct jnum b)
{
	if (a.is_int && b.is_int)
		return (a.i > b.i) - (a.i < b.i);
	return (a.d > b.d) - (a.d < b.d);
}

/* Byte-wise, like memcmp, a prefix sorting first. */
static int str_cmp(const char *a, size_t la, const char *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);

	if (c != 0)
		return c < 0 ? -1 : 1;
	return (la > lb) - (la < lb);
}

static int json_str_cmp(const char *s, size_t n, const json_t *v)
{
	return str_cmp(s, n, json_string_value(v), json_string_length(v));
}

/* JSON equality with numbers compared by value (1 == 1.0), also inside
 * arrays and objects. */
static bool values_equal(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *va;

	if (json_is_number(a) && json_is_number(b))
		return num_cmp(json_num(a), json_num(b)) == 0;
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_str_cmp(json_string_value(a), json_string_length(a),
		                    b) == 0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i),
			                  json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, va) {
			const json_t *vb = json_object_get(b, key);
			if (!vb || !values_equal(va, vb))
				return false;
		}
		return true;
	default:
		return true; /* true, false, null: the type is the value */
	}
}

/* values_equal between the record's field at tok and v. */
static bool field_equal(struct jrec *j, int tok, const json_t *v)
{
	json_type t = jrec_type(j, tok);
	const char *s;
	json_t *f;
	size_t n;
	bool eq;

	if (is_number(t) && json_is_number(v))
		return num_cmp(jrec_number(j, tok), json_num(v)) == 0;
	if (t != json_typeof(v))
		return false;
	switch (t) {
	case JSON_STRING:
		jrec_string(j, tok, &s, &n);
		return json_str_cmp(s, n, v) == 0;
	case JSON_ARRAY:
	case JSON_OBJECT:
		/* Rare (the where compares with an array or object): the
		 * field becomes a jansson tree for the comparison. */
		f = jrec_value(j, tok);
		eq = values_equal(f, v);
		json_decref(f);
		return eq;
	default:
		return true;
	}
}

/* contains, prefix and matches on a string field's bytes. */
static bool text_op(const struct pred *p, const char *s, size_t n)
{
	const char *want = json_string_value(p->value);
	size_t wlen = json_string_length(p->value);
	regmatch_t m[1];

	switch (p->op) {
	case OP_CONTAINS:
		return wlen == 0 || memmem(s, n, want, wlen) != NULL;
	case OP_PREFIX:
		return n >= wlen && memcmp(s, want, wlen) == 0;
	default: {
		/* REG_STARTEND: strings may hold NUL bytes (\u0000). The bytes
		 * of a field are not NUL-terminated, and glibc stays within
		 * rm_eo, but sanitizers' regexec interceptors run strlen on
		 * the string first: match a terminated copy. */
		char small[256],
		    *copy = n < sizeof(small) ? small : xmalloc(n + 1);
		bool hit;

		memcpy(copy, s, n);
		copy[n] = '\0';
		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)n;
		hit = regexec(&p->re, copy, 1, m, REG_STARTEND) == 0;
		if (copy != small)
			free(copy);
		return hit;
	}
	}
}

static enum pred_result yes(bool b)
{
	return b ? PRED_MATCH : PRED_NO_MATCH;
}

static enum pred_result eval_cmp(const struct pred *p, struct jrec *j,
                                 char *err, size_t errlen)
{
	const char *s;
	json_type t;
	size_t n;
	int f, c;

	if (!jrec_ok(j))
		return eval_error(err, errlen, "%s", j->err);
	f = jrec_find(j, p->field);
	if (p->op == OP_EXISTS)
		return yes((f >= 0) == p->exists_want);
	if (f < 0)
		return eval_error(err, errlen, "field \"%s\" is missing",
		                  fpath_str(p->field));
	t = jrec_type(j, f);

	switch (p->op) {
	case OP_EQ:
		return yes(field_equal(j, f, p->value));
	case OP_NE:
		return yes(!field_equal(j, f, p->value));
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE:
		if (is_number(t) && json_is_number(p->value)) {
			c = num_cmp(jrec_number(j, f), json_num(p->value));
		} else if (t == JSON_STRING && json_is_string(p->value)) {
			jrec_string(j, f, &s, &n);
			c = json_str_cmp(s, n, p->value);
		} else {
			return PRED_NO_MATCH;
		}
		switch (p->op) {
		case OP_LT:
			return yes(c < 0);
		case OP_LE:
			return yes(c <= 0);
		case OP_GT:
			return yes(c > 0);
		default:
			return yes(c >= 0);
		}
	case OP_CONTAINS:
	case OP_PREFIX:
	case OP_MATCHES:
		if (t != JSON_STRING)
			return PRED_NO_MATCH;
		jrec_string(j, f, &s, &n);
		return yes(text_op(p, s, n));
	case OP_EXISTS:
		break;
	}
	return PRED_NO_MATCH;
}

enum pred_result pred_eval(const struct pred *p, struct jrec *j, char *err,
                           size_t errlen)
{
	enum pred_result r, stop, res;
	bool have_err = false;

	switch (p->kind) {
	case P_CMP:
		return eval_cmp(p, j, err, errlen);
	case P_RAW:
		return yes(j->len >= p->needle_len &&
		           memmem(j->raw, j->len, p->needle, p->needle_len));
	case P_NOT:
		r = pred_eval(p->kids[0], j, err, errlen);
		return r == PRED_ERROR ? r : yes(r == PRED_NO_MATCH);
	case P_ALL:
	case P_ANY:
		/* "all" stops at the first NO_MATCH, "any" at the first MATCH;
		 * otherwise the first error (its reason kept in err) wins. */
		stop = p->kind == P_ALL ? PRED_NO_MATCH : PRED_MATCH;
		res = p->kind == P_ALL ? PRED_MATCH : PRED_NO_MATCH;
		for (size_t i = 0; i < p->nkids; i++) {
			r = pred_eval(p->kids[i], j, have_err ? NULL : err,
			              have_err ? 0 : errlen);
			if (r == stop)
				return r;
			if (r == PRED_ERROR)
				have_err = true;
		}
		return have_err ? PRED_ERROR : res;
	}
	return PRED_ERROR;
}
