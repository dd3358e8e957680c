/*
 * record.c - batches and the record accessors of the public API.
 */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct batch *batch_new(uint32_t cap, size_t arena)
{
	size_t recs = (size_t)cap * sizeof(struct weir_record);
	struct batch *b = xmalloc(sizeof(*b) + recs + arena);

	b->n = 0;
	b->cap = cap;
	b->used = 0;
	b->size = arena;
	b->recs = (struct weir_record *)(b + 1);
	b->arena = (char *)b->recs + recs;
	return b;
}

void batch_free(struct batch *b)
{
	free(b);
}

size_t record_bytes(size_t key_len, size_t value_len, size_t hdrs_len)
{
	return key_len + value_len + hdrs_len;
}

static const char *arena_copy(struct batch *b, const void *p, size_t len)
{
	char *dst = b->arena + b->used;

	if (len)
		memcpy(dst, p, len);
	b->used += len;
	return dst;
}

struct weir_record *batch_add(struct batch *b, const void *key, size_t key_len,
                              const void *value, size_t value_len,
                              const void *hdrs, size_t hdrs_len, uint16_t nhdrs,
                              const struct weir_record *like)
{
	struct weir_record *r;

	if (b->n == b->cap ||
	    b->size - b->used < record_bytes(key ? key_len : 0,
	                                     value ? value_len : 0, hdrs_len))
		return NULL;
	r = &b->recs[b->n++];
	r->key = key ? arena_copy(b, key, key_len) : NULL;
	r->key_len = key ? (uint32_t)key_len : 0;
	/* A null value (a Kafka tombstone) stays null: NULL, not empty. */
	r->value = value ? arena_copy(b, value, value_len) : NULL;
	r->value_len = value ? (uint32_t)value_len : 0;
	r->hdrs = arena_copy(b, hdrs, hdrs_len);
	r->hdrs_len = (uint32_t)hdrs_len;
	r->nhdrs = nhdrs;
	if (like) {
		r->topic = like->topic;
		r->seq = like->seq;
		r->partition = like->partition;
		r->offset = like->offset;
		r->timestamp = like->timestamp;
	} else {
		r->topic = "";
		r->seq = 0;
		r->partition = -1;
		r->offset = -1;
		r->timestamp = -1;
	}
	return r;
}

static void put_le(char *dst, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		dst[i] = (char)(v >> (8 * i));
}

static uint64_t get_le(const char *src, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)(unsigned char)src[i] << (8 * i);
	return v;
}

size_t record_hdr_encoded_size(size_t name_len, size_t value_len)
{
	return 2 + name_len + 1 + 4 + value_len;
}

size_t record_hdr_encode(char *dst, const char *name, size_t name_len,
                         const void *value, size_t value_len)
{
	char *p = dst;

	put_le(p, name_len, 2);
	p += 2;
	memcpy(p, name, name_len);
	p += name_len;
	*p++ = '\0';
	put_le(p, value_len, 4);
	p += 4;
	if (value_len)
		memcpy(p, value, value_len);
	p += value_len;
	return (size_t)(p - dst);
}

int record_header_at(const struct weir_record *rec, size_t idx,
                     const char **name, const void **value, size_t *len)
{
	const char *p = rec->hdrs;

	if (idx >= rec->nhdrs)
		return -1;
	for (size_t i = 0;; i++) {
		size_t nl = (size_t)get_le(p, 2);
		size_t vl = (size_t)get_le(p + 2 + nl + 1, 4);

		if (i == idx) {
			*name = p + 2;
			*value = p + 2 + nl + 1 + 4;
			*len = vl;
			return 0;
		}
		p += 2 + nl + 1 + 4 + vl;
	}
}

void record_sample(const struct weir_record *rec, char *buf, size_t len)
{
	size_t n = rec->value_len < len - 4 ? rec->value_len : len - 4;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rec->value[i];
		buf[i] = c < 32 || c == 127 ? '.' : (char)c;
	}
	if (n < rec->value_len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
}
