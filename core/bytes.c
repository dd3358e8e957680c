/*
 * bytes.c - the snapshot byte writer and reader (see bytes.h).
 */
#include "bytes.h"

#include <string.h>

#include "util.h"

void bytes_reserve(struct weir_writer *w, size_t more)
{
	if (w->cap - w->len >= more)
		return;
	while (w->cap - w->len < more)
		w->cap = w->cap ? w->cap * 2 : 4096;
	w->p = xrealloc(w->p, w->cap);
}

void bytes_put(struct weir_writer *w, const void *buf, size_t len)
{
	bytes_reserve(w, len);
	if (len)
		memcpy(w->p + w->len, buf, len);
	w->len += len;
}

void bytes_put_u64(struct weir_writer *w, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	bytes_put(w, b, 8);
}

void bytes_put_str(struct weir_writer *w, const void *buf, size_t len)
{
	bytes_put_u64(w, len);
	bytes_put(w, buf, len);
}

int bytes_get(struct weir_reader *r, void *buf, size_t len)
{
	if (r->len - r->pos < len)
		return -1;
	if (len)
		memcpy(buf, r->p + r->pos, len);
	r->pos += len;
	return 0;
}

int bytes_get_u64(struct weir_reader *r, uint64_t *v)
{
	unsigned char b[8];

	if (bytes_get(r, b, 8) < 0)
		return -1;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v |= (uint64_t)b[i] << (8 * i);
	return 0;
}

int bytes_get_str(struct weir_reader *r, const void **buf, size_t *len)
{
	size_t at = r->pos;
	uint64_t n;

	if (bytes_get_u64(r, &n) < 0 || r->len - r->pos < n) {
		r->pos = at;
		return -1;
	}
	*buf = r->p + r->pos;
	*len = (size_t)n;
	r->pos += (size_t)n;
	return 0;
}

size_t bytes_left(const struct weir_reader *r)
{
	return r->len - r->pos;
}
