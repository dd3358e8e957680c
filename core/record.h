/*
 * record.h - records and the batches that carry them between tasks.
 *
 * A batch is one allocation: a header, an array of records and an arena
 * that holds their bytes. Records point into the arena, so moving a batch
 * from task to task moves only a pointer and nothing is allocated per
 * record. A record too large for a standard arena gets a batch of its own.
 */
#ifndef WEIR_RECORD_H
#define WEIR_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct weir_record {
	const char *key; /* NULL: no key */
	const char *value;
	const char *hdrs;  /* encoded headers, see record.c */
	const char *topic; /* lineage: source topic, job lifetime */
	uint32_t key_len, value_len, hdrs_len;
	uint16_t nhdrs;
	uint32_t seq;      /* lineage: n-th output of one input */
	int32_t partition; /* lineage: source partition */
	int64_t offset;    /* lineage: source offset */
	int64_t timestamp; /* ms since the epoch, -1 unknown */
};

#define BATCH_RECORDS 512
#define BATCH_ARENA (64 * 1024)

struct batch {
	uint32_t n, cap;
	size_t used, size;
	struct weir_record *recs;
	char *arena;
};

struct batch *batch_new(uint32_t cap, size_t arena);
void batch_free(struct batch *b);

/* Bytes a record needs in the arena. */
size_t record_bytes(size_t key_len, size_t value_len, size_t hdrs_len);

/* Appends a copy of the record built from its parts, or returns NULL when
 * the batch has no room (a new batch is needed). key NULL means no key;
 * hdrs is already encoded (record_hdrs_*). Lineage and timestamp are copied
 * from `like`, which may be NULL. */
struct weir_record *batch_add(struct batch *b, const void *key, size_t key_len,
                              const void *value, size_t value_len,
                              const void *hdrs, size_t hdrs_len, uint16_t nhdrs,
                              const struct weir_record *like);

/* Encoded headers: for each one, u16 name length, name, NUL, u32 value
 * length, value (lengths little-endian). */
size_t record_hdr_encoded_size(size_t name_len, size_t value_len);
size_t record_hdr_encode(char *dst, const char *name, size_t name_len,
                         const void *value, size_t value_len);
/* Header idx of rec (0-based): 0 with its NUL-terminated name and its
 * value, or -1 past the last. */
int record_header_at(const struct weir_record *rec, size_t idx,
                     const char **name, const void **value, size_t *len);

/* A printable sample of rec's value for messages, in buf: at most len - 4
 * bytes of it, control bytes as '.', "..." when cut. */
void record_sample(const struct weir_record *rec, char *buf, size_t len);

#endif
