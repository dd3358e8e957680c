/*
 * jrec.c - record values read as JSON through tokens (see jrec.h). jsmn
 * splits the value into tokens without allocating; jsmn is lenient, so a
 * check over the tokens then holds them to what jansson accepts (the
 * punctuation between tokens, string bytes and escapes, number syntax and
 * range, nesting depth). Whatever the check refuses goes to jansson, which
 * gives the verdict and the message: the check may be stricter than
 * jansson, never looser.
 */
#include "jrec.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The one file that includes jsmn: its functions are static here, and the
 * parent links make closing brackets and commas O(1) instead of a scan
 * back over the tokens. */
#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

/* jansson refuses nesting deeper than this (JSON_PARSER_MAX_DEPTH). */
#define MAX_DEPTH 2048
/* A token buffer grown past this many tokens by one large record is let go
 * when the next record comes, so one outlier does not pin the memory. */
#define KEEP_TOKENS 16384
#define FIRST_TOKENS 64

_Static_assert(sizeof(json_int_t) == 8, "json_int_t is 64-bit");

static const jsmntok_t *toks(const struct jrec *j)
{
	return j->toks;
}

/* jansson, given bytes the check passed, fails only when memory runs out;
 * like xmalloc, weir stops then. */
static void *jansson_made(void *p)
{
	if (!p) {
		fprintf(stderr, "weir: out of memory in jansson\n");
		abort();
	}
	return p;
}

/* --- A jrec's life ------------------------------------------------------ */

void jrec_reset(struct jrec *j, const void *raw, size_t len)
{
	json_decref(j->doc);
	json_decref(j->scratch);
	free(j->norm);
	if (j->cap > KEEP_TOKENS) {
		free(j->toks);
		j->toks = NULL;
		j->cap = 0;
	}
	j->raw = raw ? raw : "";
	j->len = raw ? len : 0;
	j->text = j->raw;
	j->text_len = j->len;
	j->norm = NULL;
	j->doc = NULL;
	j->scratch = NULL;
	j->ntok = 0;
	j->escapes = false;
	j->state = 0;
	j->err[0] = '\0';
}

void jrec_init(struct jrec *j, const void *raw, size_t len)
{
	memset(j, 0, sizeof(*j));
	jrec_reset(j, raw, len);
}

void jrec_clear(struct jrec *j)
{
	jrec_reset(j, NULL, 0);
	free(j->toks);
	j->toks = NULL;
	j->cap = 0;
}

/* --- The check ---------------------------------------------------------- */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Whether s[from, to) is white space, around exactly one sep when sep is
 * not 0. */
static inline bool gap_ok(const char *s, size_t from, size_t to, char sep)
{
	/* Compact JSON, the common case: nothing, or the separator alone. */
	if (to - from == (sep != 0) && (!sep || s[from] == sep))
		return true;
	if (from > to)
		return false;
	while (from < to && is_ws(s[from]))
		from++;
	if (sep) {
		if (from == to || s[from] != sep)
			return false;
		from++;
		while (from < to && is_ws(s[from]))
			from++;
	}
	return from == to;
}

/* The value of the 4 hex digits at s[at], or -1. */
static long hex4(const char *s, size_t at, size_t n)
{
	long v = 0;

	if (n < at + 4)
		return -1;
	for (size_t i = at; i < at + 4; i++) {
		char c = s[i];
		int d = is_digit(c)            ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The length of the well-formed UTF-8 sequence at s (its first byte is
 * 0x80 or more), or 0: no overlong forms, no surrogates, nothing past
 * U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		cp = s[0] & 0x1Fu;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		cp = s[0] & 0x0Fu;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3Fu);
	}
	if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
		return 0;
	if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
		return 0;
	return len;
}

#define ONES ((uint64_t)0x0101010101010101u)
#define HIGHS ((uint64_t)0x8080808080808080u)

/* Whether all 8 bytes of w are printable ASCII other than the backslash,
 * the bytes a string holds as they are: no byte at or above 0x80, none
 * below 0x20 (subtracting 0x20 borrows into the high bit of those), none
 * equal to '\\' (xor makes those 0, and 0 - 1 borrows). */
static inline bool plain8(uint64_t w)
{
	uint64_t bs = w ^ (ONES * '\\');

	return ((w | (w - ONES * 0x20) | ((bs - ONES) & ~bs)) & HIGHS) == 0;
}

/* Whether all n bytes at s are printable ASCII other than the backslash.
 * Then every string in them is well-formed as it stands, which spares
 * the check string by string for most records. */
static bool text_plain(const char *s, size_t n)
{
	size_t i = 0;
	uint64_t w;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		if (!plain8(w))
			return false;
	}
	for (; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x80 ||
		    s[i] == '\\')
			return false;
	return true;
}

/* A string token's bytes (between the quotes): no control bytes, valid
 * UTF-8, known escapes, \u surrogates in pairs, and no \u0000 in a key
 * (jansson allows NUL in values only). Sets *escapes at a backslash. */
static bool string_ok(const char *s, size_t n, bool key, bool *escapes)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		long u, lo;
		uint64_t w;

		if (n - i >= 8) {
			memcpy(&w, s + i, 8);
			if (plain8(w)) {
				i += 8;
				continue;
			}
		}
		if (c >= 0x20 && c < 0x80 && c != '\\') {
			i++;
			continue;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			size_t k =
			    utf8_len((const unsigned char *)s + i, n - i);

			if (k == 0)
				return false;
			i += k;
			continue;
		}
		*escapes = true;
		if (i + 1 >= n)
			return false;
		switch (s[i + 1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			i += 2;
			continue;
		case 'u':
			break;
		default:
			return false;
		}
		u = hex4(s, i + 2, n);
		i += 6;
		if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF) || (u == 0 && key))
			return false;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (i + 1 >= n || s[i] != '\\' || s[i + 1] != 'u')
				return false;
			lo = hex4(s, i + 2, n);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return false;
			i += 6;
		}
	}
	return true;
}

/* strtod of n bytes that are not NUL-terminated. */
static double read_real(const char *s, size_t n, int *err)
{
	char buf[512], *copy = n < sizeof(buf) ? buf : xmalloc(n + 1);
	double d;

	memcpy(copy, s, n);
	copy[n] = '\0';
	errno = 0;
	d = strtod(copy, NULL);
	*err = errno;
	if (copy != buf)
		free(copy);
	return d;
}

/* JSON's number syntax, and a value jansson can hold: an integer within
 * json_int_t, a real that does not overflow (underflow is fine). */
static bool number_ok(const char *s, size_t n)
{
	size_t i = 0, digits;
	bool neg = false, real = false, expo = false;
	int err;
	double d;

	if (i < n && s[i] == '-') {
		neg = true;
		i++;
	}
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && is_digit(s[i]))
			i++;
	else
		return false;
	digits = i - neg;
	if (i < n && s[i] == '.') {
		real = true;
		if (++i == n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		real = expo = true;
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i != n)
		return false;
	if (!real)
		return digits < 19 ||
		       (digits == 19 && memcmp(s + neg,
		                               neg ? "9223372036854775808"
		                                   : "9223372036854775807",
		                               19) <= 0);
	/* Without an exponent, only 309 digits or more reach DBL_MAX. */
	if (!expo && digits < 300)
		return true;
	d = read_real(s, n, &err);
	return !(err == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL));
}

static bool primitive_ok(const char *s, size_t n)
{
	switch (s[0]) {
	case 't':
		return n == 4 && memcmp(s, "true", 4) == 0;
	case 'f':
		return n == 5 && memcmp(s, "false", 5) == 0;
	case 'n':
		return n == 4 && memcmp(s, "null", 4) == 0;
	}
	return number_ok(s, n);
}

/* Where a token's text starts, its quote included. */
static size_t tok_start(const jsmntok_t *t)
{
	return (size_t)t->start - (t->type == JSMN_STRING);
}

/* The object or array a token is directly in: its parent, or, for a value
 * in an object, the object that holds its key. -1 at the top; -2 when jsmn
 * hung it under something that holds no values. */
static inline int holder(const jsmntok_t *t, int i)
{
	int p = t[i].parent;

	if (p < 0)
		return p;
	if (t[p].type == JSMN_STRING) {
		p = t[p].parent;
		return p >= 0 && t[p].type == JSMN_OBJECT ? p : -2;
	}
	return t[p].type == JSMN_PRIMITIVE ? -2 : p;
}

/* Holds jsmn's tokens to JSON: one value at the top; in an object, string
 * keys each with one value after ':'; ',' between members and elements
 * and nowhere else; white space only around them; every token's own bytes
 * well-formed; nesting no deeper than jansson's limit. */
static bool tokens_ok(struct jrec *j)
{
	const jsmntok_t *t = toks(j);
	const char *s = j->text;
	size_t at = 0; /* every byte before this one is checked */
	int open = -1, depth = 0;
	bool plain = text_plain(s, j->text_len);

	if (j->ntok < 1)
		return false;
	for (int i = 0; i < j->ntok; i++) {
		int up = t[i].parent, box = up;
		bool key = false;
		char sep = 0;

		/* What token i is in (box, as holder() tells) and what must
		 * come before it (sep), from its parent in one look. */
		if (up < 0) {
			if (i > 0)
				return false;
		} else {
			switch (t[up].type) {
			case JSMN_STRING: /* the value of a key */
				box = t[up].parent;
				if (box < 0 || t[box].type != JSMN_OBJECT)
					return false;
				sep = ':';
				break;
			case JSMN_PRIMITIVE:
				return false;
			case JSMN_OBJECT:
				key = true;
				/* fall through */
			default:
				sep = i == up + 1 ? 0 : ',';
				break;
			}
		}
		/* Close what ended before token i, up to its container. */
		while (open != box) {
			if (open < 0 ||
			    !gap_ok(s, at, (size_t)t[open].end - 1, 0))
				return false;
			at = (size_t)t[open].end;
			open = holder(t, open);
			depth--;
		}
		if (!gap_ok(s, at, tok_start(&t[i]), sep))
			return false;
		switch (t[i].type) {
		case JSMN_OBJECT:
		case JSMN_ARRAY:
			if (key || ++depth > MAX_DEPTH)
				return false;
			open = i;
			at = (size_t)t[i].start + 1;
			break;
		case JSMN_STRING:
			if (t[i].size != (key ? 1 : 0) ||
			    (!plain &&
			     !string_ok(s + t[i].start,
			                (size_t)(t[i].end - t[i].start), key,
			                &j->escapes)))
				return false;
			at = (size_t)t[i].end + 1;
			break;
		case JSMN_PRIMITIVE:
			if (key || t[i].size != 0 ||
			    !primitive_ok(s + t[i].start,
			                  (size_t)(t[i].end - t[i].start)))
				return false;
			at = (size_t)t[i].end;
			break;
		default:
			return false;
		}
	}
	for (; open >= 0; open = holder(t, open)) {
		if (!gap_ok(s, at, (size_t)t[open].end - 1, 0))
			return false;
		at = (size_t)t[open].end;
	}
	return gap_ok(s, at, j->text_len, 0);
}

/* --- Reading a value ---------------------------------------------------- */

/* Runs jsmn over the text, growing the token buffer while it is short
 * (jsmn resumes where it stopped). The count of tokens, or a jsmn error. */
static int tokenize(struct jrec *j)
{
	jsmn_parser p;
	int n;

	if (!j->toks) {
		j->cap = FIRST_TOKENS;
		j->toks = xmalloc(j->cap * sizeof(jsmntok_t));
	}
	jsmn_init(&p);
	while ((n = jsmn_parse(&p, j->text, j->text_len, j->toks, j->cap)) ==
	       JSMN_ERROR_NOMEM) {
		j->cap *= 2;
		j->toks = xrealloc(j->toks, j->cap * sizeof(jsmntok_t));
	}
	j->ntok = n < 0 ? 0 : n;
	return n;
}

/* Whether the text nests no deeper than MAX_DEPTH, brackets in strings
 * not counted, so that jsmn may read it. jsmn finds the container a
 * closing bracket ends by walking up from its newest token, a walk as
 * long as the nesting: a 1 MB record of 500,000 '[' took minutes there,
 * before the depth check over the tokens could refuse it. This pass is
 * linear and stops at the limit; jansson, which stops there too, then
 * gives the verdict. A quote glued to a word ("[x\"[[") starts a string
 * here but not in jsmn, which reads the word on through it; JSON has no
 * such quote, so the text goes to jansson then as well. */
static bool depth_ok(const char *s, size_t n)
{
	size_t depth = 0;
	char prev = '['; /* the last byte outside strings, not white space */

	/* Each level takes a byte: short text cannot pass the limit. */
	if (n <= MAX_DEPTH)
		return true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		switch (c) {
		case '"':
			if (prev != '[' && prev != '{' && prev != ',' &&
			    prev != ':')
				return false;
			for (i++; i < n && s[i] != '"'; i++)
				i += s[i] == '\\';
			prev = c;
			continue;
		case '[':
		case '{':
			if (++depth > MAX_DEPTH)
				return false;
			break;
		case ']':
		case '}':
			depth -= depth > 0;
			break;
		default:
			if (is_ws(c))
				continue;
			break;
		}
		prev = c;
	}
	return true;
}

static bool text_ok(struct jrec *j)
{
	return j->text_len <= INT_MAX && depth_ok(j->text, j->text_len) &&
	       tokenize(j) > 0 && tokens_ok(j);
}

/* jansson's tree of the value into j->doc, or its message in j->err. */
static bool load_doc(struct jrec *j)
{
	json_error_t e;

	if (j->len == 0) {
		snprintf(j->err, sizeof(j->err),
		         "value is not JSON: the value is empty");
		return false;
	}
	j->doc =
	    json_loadb(j->raw, j->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (!j->doc)
		snprintf(j->err, sizeof(j->err),
		         "value is not JSON: %.110s at byte %d", e.text,
		         e.position);
	return j->doc != NULL;
}

/* The value the tokens did not pass goes to jansson. When jansson does
 * accept it after all, its compact rewrite (which the check passes) is
 * tokenized in its place. */
static bool read_value(struct jrec *j)
{
	if (j->len > 0 && text_ok(j))
		return true;
	if (!load_doc(j))
		return false;
	j->norm =
	    jansson_made(json_dumps(j->doc, JSON_COMPACT | JSON_ENCODE_ANY));
	j->text = j->norm;
	j->text_len = strlen(j->norm);
	if (text_ok(j))
		return true;
	snprintf(j->err, sizeof(j->err),
	         "value is too large to read as JSON (%zu bytes)", j->len);
	return false;
}

bool jrec_ok(struct jrec *j)
{
	if (j->state == 0)
		j->state = read_value(j) ? 1 : -1;
	return j->state == 1;
}

json_t *jrec_doc(struct jrec *j)
{
	if (!j->doc && j->state != -1 && !load_doc(j))
		j->state = -1;
	return j->doc;
}

/* --- Field paths -------------------------------------------------------- */

struct fpath {
	char *dotted; /* as written */
	char *buf;    /* a copy with the dots replaced by NULs */
	size_t n;
	struct {
		const char *name; /* into buf */
		size_t len;
	} parts[];
};

struct fpath *fpath_new(const char *dotted)
{
	size_t n = 1;
	struct fpath *p;
	char *s, *part;

	for (const char *c = dotted; *c; c++)
		n += *c == '.';
	p = xmalloc(sizeof(*p) + n * sizeof(p->parts[0]));
	p->dotted = xstrdup(dotted);
	p->buf = xstrdup(dotted);
	p->n = 0;
	for (s = part = p->buf;; s++) {
		if (*s == '.' || *s == '\0') {
			p->parts[p->n].name = part;
			p->parts[p->n++].len = (size_t)(s - part);
			if (*s == '\0')
				break;
			*s = '\0';
			part = s + 1;
		}
	}
	return p;
}

void fpath_free(struct fpath *p)
{
	if (!p)
		return;
	free(p->dotted);
	free(p->buf);
	free(p);
}

const char *fpath_str(const struct fpath *p)
{
	return p->dotted;
}

/* --- Tokens ------------------------------------------------------------- */

/* The token after i and everything inside it. */
static inline int skip(const jsmntok_t *t, int i)
{
	int pending = 1;

	if (t[i].size == 0)
		return i + 1; /* a scalar, the common case */

	do
		pending += t[i++].size - 1;
	while (pending > 0);
	return i;
}

/* The value of name in the object at obj, the last one if it is there
 * twice; -1 when obj is not an object or lacks it. */
static int member(struct jrec *j, int obj, const char *name, size_t len)
{
	const jsmntok_t *t = toks(j);
	int found = -1, i = obj + 1;
	const char *s;
	size_t n;

	if (t[obj].type != JSMN_OBJECT)
		return -1;
	for (int k = 0; k < t[obj].size; k++) {
		if (!j->escapes) {
			s = j->text + t[i].start;
			n = (size_t)(t[i].end - t[i].start);
		} else {
			jrec_string(j, i, &s, &n);
		}
		if (n == len && memcmp(s, name, n) == 0)
			found = i + 1;
		i = skip(t, i + 1);
	}
	return found;
}

int jrec_find(struct jrec *j, const struct fpath *p)
{
	int cur = 0;

	if (!jrec_ok(j))
		return -1;
	for (size_t k = 0; k < p->n && cur >= 0; k++)
		cur = member(j, cur, p->parts[k].name, p->parts[k].len);
	return cur;
}

int jrec_find_scalar(struct jrec *j, const struct fpath *p)
{
	int tok = jrec_find(j, p);
	jsmntype_t type = tok < 0 ? JSMN_PRIMITIVE : toks(j)[tok].type;

	if (type == JSMN_OBJECT || type == JSMN_ARRAY)
		return JREC_NOT_SCALAR;
	return tok < 0 ? JREC_MISSING : tok;
}

json_type jrec_type(const struct jrec *j, int tok)
{
	const jsmntok_t *t = &toks(j)[tok];
	const char *s = j->text + t->start;

	switch (t->type) {
	case JSMN_OBJECT:
		return JSON_OBJECT;
	case JSMN_ARRAY:
		return JSON_ARRAY;
	case JSMN_STRING:
		return JSON_STRING;
	default:
		break;
	}
	switch (s[0]) {
	case 't':
		return JSON_TRUE;
	case 'f':
		return JSON_FALSE;
	case 'n':
		return JSON_NULL;
	}
	for (int i = 0; i < t->end - t->start; i++)
		if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
			return JSON_REAL;
	return JSON_INTEGER;
}

json_t *jrec_value(struct jrec *j, int tok)
{
	const jsmntok_t *t = &toks(j)[tok];
	size_t from = tok_start(t);
	size_t to = (size_t)t->end + (t->type == JSMN_STRING);

	return jansson_made(json_loadb(j->text + from, to - from,
	                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL));
}

size_t jrec_scalar_text(struct jrec *j, int tok, char *buf, size_t cap)
{
	const jsmntok_t *t = &toks(j)[tok];
	const char *raw = j->text + t->start;
	size_t n = (size_t)(t->end - t->start);
	struct jnum v;
	int len;

	switch (jrec_type(j, tok)) {
	case JSON_STRING:
		/* The check let through no control byte, so a string without
		 * a backslash is written back as it is, quotes around. */
		if (n + 2 > cap || (j->escapes && memchr(raw, '\\', n)))
			return 0;
		buf[0] = '"';
		memcpy(buf + 1, raw, n);
		buf[n + 1] = '"';
		return n + 2;
	case JSON_INTEGER:
		/* Printed from the value: "-0" is written "0". */
		v = jrec_number(j, tok);
		len = snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, v.i);
		return len > 0 && (size_t)len < cap ? (size_t)len : 0;
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		if (n > cap)
			return 0;
		memcpy(buf, raw, n);
		return n;
	default:
		return 0;
	}
}

void jrec_string(struct jrec *j, int tok, const char **s, size_t *len)
{
	const jsmntok_t *t = &toks(j)[tok];
	const char *raw = j->text + t->start;
	size_t n = (size_t)(t->end - t->start);

	if (!j->escapes || !memchr(raw, '\\', n)) {
		*s = raw;
		*len = n;
		return;
	}
	json_decref(j->scratch);
	j->scratch = jrec_value(j, tok);
	*s = json_string_value(j->scratch);
	*len = json_string_length(j->scratch);
}

struct jnum jrec_number(const struct jrec *j, int tok)
{
	const jsmntok_t *t = &toks(j)[tok];
	const char *s = j->text + t->start;
	size_t n = (size_t)(t->end - t->start);
	bool neg = s[0] == '-';
	struct jnum v = {0};
	uint64_t u = 0;
	int err;

	if (jrec_type(j, tok) == JSON_REAL) {
		v.d = read_real(s, n, &err);
		return v;
	}
	/* The check kept the digits within json_int_t; -2^63 has no positive
	 * counterpart, hence the detour through u - 1. */
	for (size_t i = neg; i < n; i++)
		u = u * 10 + (uint64_t)(s[i] - '0');
	v.is_int = true;
	v.i = !neg ? (json_int_t)u : u == 0 ? 0 : -(json_int_t)(u - 1) - 1;
	v.d = (double)v.i;
	return v;
}
