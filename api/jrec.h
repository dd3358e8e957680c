/*
 * jrec.h - a record value read as JSON without building a tree. The value
 * is tokenized once in place (jsmn), checked to be JSON exactly where
 * jansson would accept it, and fields are then found by walking the
 * tokens: reading one field of a record allocates nothing once the token
 * buffer has grown to the records' size. A value that is not JSON keeps
 * jansson's own message, so errors read as they always did.
 *
 * A token is an int index into the record's tokens; -1 is "no such
 * field". Strings are handed out as bytes (raw when they hold no escape,
 * otherwise decoded by jansson, the rare slow path). A whole jansson tree
 * is built only for jrec_doc() and jrec_value(), for the operators that
 * make new JSON.
 *
 * One thread uses a jrec at a time. Pointers it hands out stay valid until
 * the next call on the same jrec that decodes a string, or until it is
 * reset or cleared.
 */
#ifndef WEIR_JREC_H
#define WEIR_JREC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct jrec {
	const char *raw; /* the value as given, borrowed */
	size_t len;
	int state;     /* 0 not read yet, 1 tokens ready, -1 not JSON */
	char err[160]; /* why it is not JSON */
	/* What the tokens index: raw, or in the rare case that jansson
	 * accepts what the check refused, jansson's compact rewrite of it
	 * (owned, in norm). */
	const char *text;
	size_t text_len;
	char *norm;
	void *toks; /* jsmn tokens, kept from record to record */
	int ntok;
	unsigned int cap;
	bool escapes;    /* some string token holds a backslash */
	json_t *doc;     /* the whole tree, once jrec_doc asked for it */
	json_t *scratch; /* the last string decoded from an escape */
};

/* Points j at a value (raw may be NULL when len is 0); nothing is read
 * yet. jrec_init starts from nothing; jrec_reset moves a jrec that was
 * used to another value, keeping its token buffer. */
void jrec_init(struct jrec *j, const void *raw, size_t len);
void jrec_reset(struct jrec *j, const void *raw, size_t len);
/* Frees what j holds; jrec_init makes it usable again. */
void jrec_clear(struct jrec *j);

/* Reads the value once: true when it is JSON, false with j->err saying
 * why ("value is not JSON: ..."). Later calls return the first answer. */
bool jrec_ok(struct jrec *j);
/* The whole value as a jansson tree (borrowed from j; the caller may
 * change it), or NULL when it is not JSON (j->err says why). */
json_t *jrec_doc(struct jrec *j);

/* A dotted field path ("a.b.c") split once. */
struct fpath;
struct fpath *fpath_new(const char *dotted);
void fpath_free(struct fpath *p);
const char *fpath_str(const struct fpath *p);

/* The token of the field at p, or -1 when the value is not JSON or the
 * field is missing (a name on the way is not an object, or lacks the
 * name). A name that an object holds twice means its last value, as in
 * jansson. */
int jrec_find(struct jrec *j, const struct fpath *p);

/* jrec_find for a field that must be a string, number, boolean or null
 * (a key): its token, or JREC_MISSING, or JREC_NOT_SCALAR for an object or
 * array. */
#define JREC_MISSING (-1)
#define JREC_NOT_SCALAR (-2)
int jrec_find_scalar(struct jrec *j, const struct fpath *p);

/* The JSON type of a token (JSON_INTEGER and JSON_REAL as jansson tells
 * them apart: a number with '.', 'e' or 'E' is a real). */
json_type jrec_type(const struct jrec *j, int tok);
/* A string token's bytes (NULs possible); see the validity rule above. */
void jrec_string(struct jrec *j, int tok, const char **s, size_t *len);
/* A number as jansson holds it: an integer exactly (and as a double, like
 * json_number_value), or a real. */
struct jnum {
	bool is_int;
	json_int_t i;
	double d;
};
/* A number token (JSON_INTEGER or JSON_REAL) read as jansson reads it. */
struct jnum jrec_number(const struct jrec *j, int tok);
/* The token's value as a new jansson value (the caller's reference). */
json_t *jrec_value(struct jrec *j, int tok);
/* The token's value as jansson's compact dump would write it, into buf,
 * without building it: for strings without escapes, integers, true, false
 * and null. Returns the length, or 0 when it takes jansson after all
 * (escapes, reals, objects, arrays) or does not fit in cap. */
size_t jrec_scalar_text(struct jrec *j, int tok, char *buf, size_t cap);

#endif
