/*
 * keyfield.h - a record's key, when "key" names a field of its JSON value:
 * the text that stands for the field (what key groups hash and keyed
 * state is filed under), and the keyer that lets a task route its output
 * by it (core/task.h).
 */
#ifndef WEIR_KEYFIELD_H
#define WEIR_KEYFIELD_H

#include <stddef.h>

#include "jrec.h"

struct task;
struct weir_ctx;

/* The bytes that stand for the field at path of a record as a key: a
 * string's characters (borrowed from j), a number's or literal's text (in
 * buf). A record that is not JSON, a missing field, an object or an array
 * gives the empty key. */
const char *key_text(struct jrec *j, const struct fpath *path, char *buf,
                     size_t buflen, size_t *len);

/* Makes t route its output by the key field `field`. ctx is t's operator
 * (NULL for a source): an output that is its input as it came
 * (weir_forward) is then read once for the operator and for routing. */
void keyfield_route(struct task *t, const char *field, struct weir_ctx *ctx);

#endif
