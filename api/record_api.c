/*
 * record_api.c - the record accessors of the public API (weir.h) over the
 * runtime's records (core/record.h).
 */
#include "record.h"
#include "weir/weir.h"

const void *weir_record_key(const weir_record_t *rec, size_t *len)
{
	*len = rec->key_len;
	return rec->key;
}

const void *weir_record_value(const weir_record_t *rec, size_t *len)
{
	*len = rec->value_len;
	return rec->value;
}

int64_t weir_record_timestamp(const weir_record_t *rec)
{
	return rec->timestamp;
}

size_t weir_record_header_count(const weir_record_t *rec)
{
	return rec->nhdrs;
}

int weir_record_header_at(const weir_record_t *rec, size_t idx,
                          const char **name, const void **value, size_t *len)
{
	return record_header_at(rec, idx, name, value, len) < 0 ? WEIR_EEOF
	                                                        : WEIR_OK;
}

void weir_record_lineage(const weir_record_t *rec, const char **topic,
                         int32_t *partition, int64_t *offset, uint32_t *seq)
{
	if (topic)
		*topic = rec->topic;
	if (partition)
		*partition = rec->partition;
	if (offset)
		*offset = rec->offset;
	if (seq)
		*seq = rec->seq;
}
