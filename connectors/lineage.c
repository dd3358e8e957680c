/*
 * lineage.c - numbers the outputs of each source record as they reach the
 * sink (see lineage.h). One counter per source partition: the offset it
 * counts for and the next number. Source partitions are small numbers
 * given by Kafka's metadata, so the counters are an array indexed by
 * partition, grown on demand; the sink's hot path pays one bounds check
 * and one compare per record.
 */
#include "lineage.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct counter {
	int64_t offset; /* the source record being counted */
	uint64_t next;  /* its next output's number */
};

struct lineage_seq {
	struct counter *c; /* [0] for partition < 0, [p + 1] for p */
	size_t n;
};

struct lineage_seq *lineage_seq_new(void)
{
	return xcalloc(1, sizeof(struct lineage_seq));
}

void lineage_seq_free(struct lineage_seq *ls)
{
	if (!ls)
		return;
	free(ls->c);
	free(ls);
}

static struct counter *counter_of(struct lineage_seq *ls, int32_t partition)
{
	size_t i = partition < 0 ? 0 : (size_t)partition + 1;

	if (i >= ls->n) {
		size_t n = ls->n ? ls->n : 8;

		while (n <= i)
			n *= 2;
		ls->c = xrealloc(ls->c, n * sizeof(*ls->c));
		for (size_t k = ls->n; k < n; k++)
			ls->c[k] = (struct counter){-1, 0};
		ls->n = n;
	}
	return &ls->c[i];
}

uint64_t lineage_seq_next(struct lineage_seq *ls, int32_t partition,
                          int64_t offset)
{
	struct counter *c = counter_of(ls, partition);

	if (c->offset != offset) {
		c->offset = offset;
		c->next = 0;
	}
	return c->next++;
}

int lineage_parse(const char *s, size_t len, const char **topic,
                  size_t *topic_len, int32_t *part, int64_t *offset,
                  uint64_t *seq)
{
	/* Each field's largest value: partition, offset, seq. */
	static const uint64_t max[3] = {INT32_MAX, INT64_MAX, UINT64_MAX};
	uint64_t v[3];
	size_t i, slashes = 0, pos;

	/* The last three fields are numbers; the topic is what precedes. */
	for (i = len; i > 0 && slashes < 3; i--)
		if (s[i - 1] == '/')
			slashes++;
	if (slashes < 3 || i == 0)
		return -1;
	*topic = s;
	*topic_len = i;
	pos = i + 1;
	for (int k = 0; k < 3; k++) {
		size_t start = pos;

		v[k] = 0;
		for (; pos < len && s[pos] >= '0' && s[pos] <= '9'; pos++) {
			unsigned d = (unsigned)(s[pos] - '0');

			if (v[k] > (max[k] - d) / 10)
				return -1;
			v[k] = v[k] * 10 + d;
		}
		if (pos == start ||
		    (k < 2 ? pos >= len || s[pos] != '/' : pos != len))
			return -1;
		pos++;
	}
	*part = (int32_t)v[0];
	*offset = (int64_t)v[1];
	*seq = v[2];
	return 0;
}
