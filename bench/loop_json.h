/*
 * loop_json.h - the reference loops' filter: is the top-level field "level"
 * of a JSON record the string "ERROR"? Read through jsmn tokens as weir's
 * filter does, but without its checks that the record is valid JSON, so the
 * references are a floor.
 */
#ifndef WEIR_BENCH_LOOP_JSON_H
#define WEIR_BENCH_LOOP_JSON_H

#include <string.h>

#define JSMN_STATIC
#include <jsmn.h>

static int is_error(const char *val, size_t len)
{
	jsmntok_t tok[64];
	jsmn_parser p;
	int n;

	jsmn_init(&p);
	n = jsmn_parse(&p, val, len, tok, 64);
	if (n < 1 || tok[0].type != JSMN_OBJECT)
		return 0;
	for (int i = 1; i + 1 < n;) {
		const jsmntok_t *k = &tok[i], *v = &tok[i + 1];
		int next = i + 2;

		if (k->end - k->start == 5 &&
		    memcmp(val + k->start, "level", 5) == 0)
			return v->type == JSMN_STRING &&
			       v->end - v->start == 5 &&
			       memcmp(val + v->start, "ERROR", 5) == 0;
		while (next < n && tok[next].start < v->end)
			next++; /* the tokens inside a nested value */
		i = next;
	}
	return 0;
}

#endif
