"""End to end: a bounded filter + count job (count keyed by service, with
parallelism 2, so records cross a keyed exchange).

Checks, reading Kafka with kafka-python: the final count per service equals
the true number of ERROR records of that service; the counts seen per key
are exactly {1..N}, each once; each output value is {"key","count"} with the
Kafka key = the service; the "key" partitioner puts each key where Java
clients would (murmur2); counts of a key rise in output order and in input
order within each source partition; every output's lineage is an ERROR
input record of that service, each input record used once; each output
carries its input's headers plus weir.job and weir.lineage.
"""

from kafka.partitioner.default import murmur2

from weirtest import (ERROR_FILTER, Harness, check, check_counts_exact,
                      check_eq, consume_all, count_outputs, is_error,
                      kafka_job, lineage, log_records, main, note, produce)

N = 15000
IN_PARTS = 4
OUT_PARTS = 3


def java_partition(key, n):
    return (murmur2(key) & 0x7fffffff) % n


def test():
    with Harness("e2e-count") as h:
        h.broker({"logs": IN_PARTS, "counts": OUT_PARTS})
        recs = produce(h.brokers, "logs",
                       log_records(N, seed=2, partitions=IN_PARTS))
        errors = {(r["partition"], r["offset"]): r for r in recs
                  if is_error(r)}
        expected = {}
        for r in errors.values():
            s = r["obj"]["service"]
            expected[s] = expected.get(s, 0) + 1
        note("produced %d records, %d ERROR: %r"
             % (N, len(errors), expected))

        job = h.write_job("job.json", kafka_job(
            "e2e-count", h.path("ck"), "logs", "counts",
            [ERROR_FILTER,
             {"type": "count", "key": "service", "parallelism": 2}],
            source={"bounded": True, "parallelism": 2},
            sink={"partitioner": "key", "parallelism": 2}))
        w = h.weir_run(job)
        rc = w.wait()
        check(rc == 0, "bounded run exited %d, expected 0; log:\n%s"
              % (rc, w.log()[-4000:]))

        out = consume_all(h.brokers, "counts")
        note("output: %d records" % len(out))
        per_key = count_outputs(out)  # also checks value shape and key
        check_counts_exact(per_key, expected)
        for k, counts in per_key.items():
            check_eq(len(counts), expected[k],
                     "number of output records for key %r (a clean run "
                     "writes no duplicates)" % k)
            check_eq(max(counts), expected[k], "final count of %r" % k)

        used = set()
        last_in_out_part = {}   # (out partition, key) -> last count
        last_in_src_part = {}   # (source partition, key) -> (offset, count)
        for m in out:
            topic, p, o, _ = lineage(m)
            where = "counts[%d]@%d (lineage %s/%d/%d)" % (
                m.partition, m.offset, topic, p, o)
            r = errors.get((p, o)) if topic == "logs" else None
            check(r is not None, where + ": lineage is not an ERROR input "
                  "record")
            check((p, o) not in used, where + ": input record counted twice")
            used.add((p, o))
            check_eq(m.headers, list(r["headers"]) + [
                ("weir.job", b"e2e-count"),
                ("weir.lineage", ("logs/%d/%d/0" % (p, o)).encode())],
                where + ": headers (the input's, then weir.job and "
                "weir.lineage)")
            key = m.key.decode()
            check_eq(key, r["obj"]["service"], where + ": key vs the "
                     "service of the input record")
            check_eq(m.partition, java_partition(m.key, OUT_PARTS),
                     where + ": partition of key %r (murmur2, as the Java "
                     "client)" % key)
            count = int(m.value.split(b'"count":')[1].rstrip(b"}"))
            prev = last_in_out_part.get((m.partition, key), 0)
            check(count > prev, where + ": count %d of %r after %d in the "
                  "same output partition" % (count, key, prev))
            last_in_out_part[(m.partition, key)] = count
            po, pc = last_in_src_part.get((p, key), (-1, 0))
            check(o > po and count > pc, where + ": count %d of %r for "
                  "logs[%d]@%d comes after count %d for logs[%d]@%d: the "
                  "records of one key and source partition must stay in "
                  "input order" % (count, key, p, o, pc, p, po))
            last_in_src_part[(p, key)] = (o, count)
        check_eq(len(used), len(errors), "ERROR input records in the output")
        return ("%d records, %d ERROR over %d services: counts exactly "
                "{1..N} once each, final counts right, keys murmur2-"
                "partitioned, per-key order kept"
                % (N, len(errors), len(expected)))


if __name__ == "__main__":
    main(test)
