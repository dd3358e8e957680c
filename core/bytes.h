/*
 * bytes.h - the byte writer and reader that snapshots are made of: a
 * growing buffer to append to, and a bounded view to read from, with
 * little-endian u64 and length-prefixed byte strings. The public API's
 * weir_writer_t and weir_reader_t are these (api/ wraps them as
 * weir_write_* and weir_read_*).
 *
 * Reading is bounds-checked: bytes from disk are untrusted, so every read
 * returns -1 rather than pass the end.
 */
#ifndef WEIR_BYTES_H
#define WEIR_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* The bytes of a snapshot being written. p is malloc()ed (NULL at first). */
struct weir_writer {
	char *p;
	size_t len, cap;
};

/* The bytes of a snapshot being restored, borrowed. */
struct weir_reader {
	const char *p;
	size_t len, pos;
};

/* Room for `more` bytes after len; aborts when memory runs out. */
void bytes_reserve(struct weir_writer *w, size_t more);
void bytes_put(struct weir_writer *w, const void *buf, size_t len);
void bytes_put_u64(struct weir_writer *w, uint64_t v);
/* u64 length, then the bytes. */
void bytes_put_str(struct weir_writer *w, const void *buf, size_t len);

/* 0, or -1 (nothing consumed) when fewer bytes are left than asked. */
int bytes_get(struct weir_reader *r, void *buf, size_t len);
int bytes_get_u64(struct weir_reader *r, uint64_t *v);
/* A length-prefixed string, borrowed from the reader's bytes. */
int bytes_get_str(struct weir_reader *r, const void **buf, size_t *len);
size_t bytes_left(const struct weir_reader *r);

#endif
