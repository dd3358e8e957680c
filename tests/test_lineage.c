/*
 * test_lineage.c - lineage and exactly-once de-duplication.
 *
 * The weir.lineage header text: what the Kafka sink writes
 * ("topic/partition/offset/seq", formatted by hand on the hot path) is what
 * printf's "%s/%d/%lld/%llu" writes, for edge values and random ones, and
 * what the exactly-once restore parses back; malformed ones are refused.
 *
 * The numbering, as a property: random chains of operators (random depth,
 * random outputs per input, several source partitions interleaved at the
 * sink) give every output a lineage unique and growing per source
 * partition, and a crash at any point (a prefix of each output partition
 * written, a replay from a checkpoint cut) followed by de-duplication
 * writes every output exactly once, in order. The marks a checkpoint
 * taken during a replay carries keep dropping after a second crash.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_eo.h"
#include "kafka_sink.h"
#include "lineage.h"
#include "record.h"

static void same(const char *topic, int32_t part, int64_t off, uint64_t seq)
{
	struct weir_record r = {
	    .topic = topic, .partition = part, .offset = off};
	char got[320], want[320];
	int n = ksink_lineage(got, sizeof(got), &r, seq);
	int wn = snprintf(want, sizeof(want), "%s/%d/%" PRId64 "/%" PRIu64,
	                  topic, (int)part, off, seq);
	const char *t;
	size_t tl;
	int32_t p;
	int64_t o;
	uint64_t s;

	ck_assert_int_eq(n, wn);
	ck_assert_str_eq(got, want);
	if (part < 0 || off < 0)
		return; /* records a Kafka sink never gets */
	ck_assert_int_eq(lineage_parse(got, (size_t)n, &t, &tl, &p, &o, &s), 0);
	ck_assert_uint_eq(tl, strlen(topic));
	ck_assert_int_eq(memcmp(t, topic, tl), 0);
	ck_assert_int_eq(p, part);
	ck_assert_int_eq(o, off);
	ck_assert_uint_eq(s, seq);
}

START_TEST(edges)
{
	char longest[250];

	same("logs", 0, 0, 0);
	same("logs", 3, 17048, 2);
	same("t", 2147483647, INT64_MAX, UINT64_MAX);
	same("t", -1, -1, 0);
	same("t", INT32_MIN, INT64_MIN, 1);
	same("a.b_c-9", 10, 1000000000000, 4294967296u);
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	same(longest, 127, 9999999999, 7);
}
END_TEST

START_TEST(random_values)
{
	uint64_t x = 0x2545F4914F6CDD1Dull;

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		same("logs", (int32_t)(x >> 40) % 5000,
		     (int64_t)(x >> (x % 64)), x >> (x % 64));
	}
}
END_TEST

START_TEST(malformed)
{
	static const char *const bad[] = {"",
	                                  "logs",
	                                  "logs/1/2",
	                                  "/1/2/3",
	                                  "logs/1/2/",
	                                  "logs//2/3",
	                                  "logs/1/2/3x",
	                                  "logs/-1/2/3",
	                                  "logs/1/-2/3",
	                                  "logs/1/2/-3",
	                                  "logs/ 1/2/3",
	                                  "logs/+1/2/3",
	                                  "logs/2147483648/2/3",
	                                  "logs/1/9223372036854775808/3",
	                                  "logs/1/2/18446744073709551616",
	                                  "logs/1/2/3/",
	                                  "logs/1/2/99999999999999999999999"};
	const char *t;
	size_t tl;
	int32_t p;
	int64_t o;
	uint64_t sq;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lineage_parse(bad[i], strlen(bad[i]), &t, &tl, &p,
		                            &o, &sq) < 0,
		              "accepted \"%s\"", bad[i]);
	/* The topic may hold '/': the last three fields are the numbers. */
	ck_assert_int_eq(lineage_parse("a/b/3/4/5", 9, &t, &tl, &p, &o, &sq),
	                 0);
	ck_assert_uint_eq(tl, 3);
	ck_assert_int_eq(p, 3);
	ck_assert_int_eq(o, 4);
	ck_assert_uint_eq(sq, 5);
}
END_TEST

/* --- the numbering, as a property ----------------------------------------- */

#define MAX_OUT 65536

struct rng {
	uint64_t x;
};

static uint64_t rnd(struct rng *g)
{
	g->x ^= g->x << 13;
	g->x ^= g->x >> 7;
	g->x ^= g->x << 17;
	return g->x;
}

/* One output as the sink gets it: where it came from, where it goes, and
 * an id that tells outputs apart (its place in the run without a crash). */
struct out {
	int32_t src;
	int64_t offset;
	int32_t dst;
	uint64_t seq; /* what the sink numbered it */
	uint32_t id;
};

/* How many records a chain of `depth` operators makes of one input: each
 * stage turns each record into 0..3 records, now and then 40. The tree's
 * shape is a pure function of (seed, partition, offset), as a replay
 * needs. */
static uint32_t chain_outputs(uint64_t seed, int32_t src, int64_t off,
                              int depth)
{
	struct rng g = {seed ^ ((uint64_t)src << 40) ^
	                (uint64_t)off * 2654435761u};
	uint32_t n = 1;

	for (int d = 0; d < depth && n; d++) {
		uint32_t next = 0;

		for (uint32_t i = 0; i < n && next < 200; i++) {
			uint64_t r = rnd(&g) % 16;

			next += r < 3    ? 0
			        : r < 9  ? 1
			        : r < 12 ? 2
			        : r < 15 ? 3
			                 : 40;
		}
		n = next;
	}
	return n;
}

/* The sink's input: every partition's outputs in order, partitions
 * interleaved at random (as from several upstream tasks), starting at
 * from[src]. Numbers them with a fresh lineage_seq as the sink does. */
static size_t sink_input(struct out *o, uint64_t seed, struct rng *g, int nsrc,
                         int64_t nrec, const int64_t *from, int ndst, int depth)
{
	int64_t next[4];
	uint32_t left[4] = {0}, id_at[4] = {0};
	struct lineage_seq *ls = lineage_seq_new();
	size_t n = 0;

	/* ids are places in the full run: count the outputs before from. */
	for (int s = 0; s < nsrc; s++) {
		next[s] = from[s];
		for (int64_t k = 0; k < from[s]; k++)
			id_at[s] += chain_outputs(seed, s, k, depth);
	}
	for (;;) {
		int s = (int)(rnd(g) % (uint64_t)nsrc), tries = 0;

		while (next[s] >= nrec && left[s] == 0 && tries++ < nsrc)
			s = (s + 1) % nsrc;
		if (next[s] >= nrec && left[s] == 0)
			break;
		if (left[s] == 0) {
			left[s] = chain_outputs(seed, s, next[s], depth);
			next[s]++;
			continue;
		}
		ck_assert_uint_lt(n, MAX_OUT);
		o[n].src = s;
		o[n].offset = next[s] - 1;
		o[n].seq = lineage_seq_next(ls, s, o[n].offset);
		/* ids: partition in the top bits, place within it below */
		o[n].id = ((uint32_t)s << 24) | id_at[s]++;
		o[n].dst = (int32_t)((o[n].id * 2654435761u) >> 7) % ndst;
		left[s]--;
		n++;
	}
	lineage_seq_free(ls);
	return n;
}

START_TEST(numbering_property)
{
	static struct out full[MAX_OUT], replay[MAX_OUT], got[MAX_OUT];
	struct rng g = {0x9E3779B97F4A7C15ull + (uint64_t)_i};

	for (int round = 0; round < 40; round++) {
		uint64_t seed = rnd(&g);
		int nsrc = 1 + (int)(rnd(&g) % 4),
		    ndst = 1 + (int)(rnd(&g) % 3);
		int depth = 1 + (int)(rnd(&g) % 6);
		int64_t nrec = 5 + (int64_t)(rnd(&g) % 30), zero[4] = {0};
		int64_t cut[4];
		size_t n =
		    sink_input(full, seed, &g, nsrc, nrec, zero, ndst, depth);
		size_t written[3] = {0}, nw = 0, nr, ngot = 0;
		struct eo_table *dd = eo_table_new();

		/* Unique and growing per source partition. */
		{
			int64_t lo[4];
			uint64_t ls[4];

			for (int k = 0; k < nsrc; k++)
				lo[k] = -1, ls[k] = 0;
			for (size_t i = 0; i < n; i++) {
				struct out *o = &full[i];

				ck_assert_msg(
				    o->offset > lo[o->src] ||
				        (o->offset == lo[o->src] &&
				         o->seq > ls[o->src]),
				    "depth %d: lineage %d/%lld/%llu after "
				    "%d/%lld/%llu",
				    depth, o->src, (long long)o->offset,
				    (unsigned long long)o->seq, o->src,
				    (long long)lo[o->src],
				    (unsigned long long)ls[o->src]);
				lo[o->src] = o->offset;
				ls[o->src] = o->seq;
			}
		}

		/* The crash: each output partition holds a prefix of what
		 * went to it; a checkpoint cut per source partition at or
		 * before its first output that is not written. */
		for (int d = 0; d < ndst; d++) {
			size_t total = 0;

			for (size_t i = 0; i < n; i++)
				total += full[i].dst == d;
			written[d] =
			    total ? (size_t)(rnd(&g) % (total + 1)) : 0;
		}
		for (int s = 0; s < nsrc; s++)
			cut[s] = nrec;
		{
			size_t seen[3] = {0};

			for (size_t i = 0; i < n; i++) {
				struct out *o = &full[i];

				if (seen[o->dst]++ < written[o->dst])
					continue;
				if (o->offset < cut[o->src])
					cut[o->src] = o->offset;
			}
		}
		for (int s = 0; s < nsrc; s++)
			if (cut[s] > 0)
				cut[s] =
				    (int64_t)(rnd(&g) % (uint64_t)(cut[s] + 1));

		/* The output as it stands, and the restore's scan of it from
		 * the cut: note every written record at or after the cut. */
		{
			size_t seen[3] = {0};

			for (size_t i = 0; i < n; i++) {
				struct out *o = &full[i];

				if (seen[o->dst]++ >= written[o->dst])
					continue;
				got[ngot++] = *o;
				nw++;
				if (o->offset >= cut[o->src])
					eo_table_note(dd, o->src, o->dst,
					              o->offset, o->seq);
			}
		}
		/* The replay, through the sink's numbering and dedup. */
		nr = sink_input(replay, seed, &g, nsrc, nrec, cut, ndst, depth);
		for (size_t i = 0; i < nr; i++) {
			struct out *o = &replay[i];

			if (!eo_table_written(dd, o->src, o->dst, o->offset,
			                      o->seq))
				got[ngot++] = *o;
		}
		eo_table_free(dd);

		/* Every output exactly once, and per output partition in the
		 * order the run without a crash wrote each source partition's
		 * records (partitions interleave differently on a replay). */
		ck_assert_msg(ngot == n,
		              "round %d (depth %d, %d source, %d output "
		              "partitions): %zu outputs after the crash, %zu "
		              "without (%zu written before it)",
		              round, depth, nsrc, ndst, ngot, n, nw);
		for (int d = 0; d < ndst; d++)
			for (int sp = 0; sp < nsrc; sp++) {
				size_t a = 0, b = 0;

				for (;;) {
					while (a < n && (full[a].dst != d ||
					                 full[a].src != sp))
						a++;
					while (b < ngot && (got[b].dst != d ||
					                    got[b].src != sp))
						b++;
					if (a == n || b == ngot)
						break;
					ck_assert_uint_eq(full[a].id,
					                  got[b].id);
					a++, b++;
				}
				ck_assert(a == n && b == ngot);
			}
	}
}
END_TEST

/* A checkpoint taken during a replay settles the output past the outputs
 * a replay still drops; the marks it carries must drop them after the
 * next crash. Source partitions A (0) and B (1) into output partition 0:
 * A0..A4 then B0..B9 written, crash, restore with both at offset 0. */
START_TEST(marks_carry_over)
{
	struct eo_table *dd = eo_table_new(), *next = eo_table_new();
	size_t pos = 0, n = 0;
	int32_t src, out;
	int64_t off;
	uint64_t seq;

	for (int64_t o = 0; o < 5; o++)
		eo_table_note(dd, 0, 0, o, 0);
	for (int64_t o = 0; o < 10; o++)
		eo_table_note(dd, 1, 0, o, 0);
	ck_assert_uint_eq(eo_table_entries(dd), 2);
	/* The replay: A passes its mark and writes A5; B is at B2. */
	for (int64_t o = 0; o < 5; o++)
		ck_assert(eo_table_written(dd, 0, 0, o, 0));
	ck_assert(!eo_table_written(dd, 0, 0, 5, 0));
	for (int64_t o = 0; o < 3; o++)
		ck_assert(eo_table_written(dd, 1, 0, o, 0));
	/* The checkpoint (B at 3) takes what is left: B's mark only. */
	while (eo_table_next(dd, &pos, &src, &out, &off, &seq)) {
		ck_assert_int_eq(src, 1);
		ck_assert_int_eq(out, 0);
		ck_assert_int_eq(off, 9);
		ck_assert_uint_eq(seq, 0);
		eo_table_note(next, src, out, off, seq);
		n++;
	}
	ck_assert_uint_eq(n, 1);
	/* The next restore: the scan from the settled offset finds A5. */
	eo_table_note(next, 0, 0, 5, 0);
	for (int64_t o = 3; o < 10; o++)
		ck_assert_msg(eo_table_written(next, 1, 0, o, 0),
		              "B%lld is written a second time", (long long)o);
	ck_assert(!eo_table_written(next, 1, 0, 10, 0));
	ck_assert(eo_table_written(next, 0, 0, 5, 0));
	ck_assert(!eo_table_written(next, 0, 0, 6, 0));
	ck_assert_uint_eq(eo_table_entries(next), 0);
	eo_table_free(dd);
	eo_table_free(next);
}
END_TEST

static Suite *lineage_suite(void)
{
	Suite *s = suite_create("lineage");
	TCase *tc = tcase_create("format");

	TCase *tn = tcase_create("numbering");

	tcase_add_test(tc, edges);
	tcase_add_test(tc, random_values);
	tcase_add_test(tc, malformed);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(tn, numbering_property, 0, 10);
	tcase_add_test(tn, marks_carry_over);
	suite_add_tcase(s, tn);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lineage_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
