"""End to end: a bounded filter job from a 4-partition topic to a
4-partition topic with the "source" partitioner.

Checks, reading Kafka with kafka-python: the output is exactly the ERROR
input records (value bytes, keys, headers), each once, each in the partition
it was read from, in input order; every output record carries weir.job and
weir.lineage; a non-JSON record and one without "level" are skipped and
counted; `weir checkpoints` lists the final checkpoint as complete with the
end offsets of the input.
"""

import json
import re

from weirtest import (ERROR_FILTER, Harness, check, check_eq, consume_all,
                      end_offsets, is_error, kafka_job, lineage,
                      list_checkpoints, log_records, main, note, produce)

N = 20000
PARTS = 4


def test():
    with Harness("e2e-filter") as h:
        h.broker({"logs": PARTS, "out": PARTS, "out2": PARTS})
        recs = log_records(N, seed=1, partitions=PARTS)
        # Two records the filter cannot judge, in the middle of the input.
        bad = [
            {"partition": 1, "key": b"bad-1", "value": b"this is not JSON {",
             "headers": [], "obj": None},
            {"partition": 2, "key": None,
             "value": b'{"seq":-1,"service":"api","msg":"no level"}',
             "headers": [("trace", b"t-bad")], "obj": None},
        ]
        recs = recs[:N // 2] + bad + recs[N // 2:]
        produce(h.brokers, "logs", recs)
        ends = end_offsets(h.brokers, "logs")
        check_eq(sum(ends.values()), N + 2, "records in logs")
        note("produced %d records, end offsets %r" % (N + 2, ends))

        ck = h.path("ck")
        job = h.write_job("job.json", kafka_job(
            "e2e-filter", ck, "logs", "out", [ERROR_FILTER],
            source={"bounded": True, "parallelism": 2},
            sink={"partitioner": "source"}))
        w = h.weir_run(job, extra_env={"WEIR_LOG": "debug"})
        rc = w.wait()
        log = w.log()
        check(rc == 0, "bounded run exited %d, expected 0; log:\n%s"
              % (rc, log[-4000:]))

        out = consume_all(h.brokers, "out")
        want = {(r["partition"], r["offset"]): r for r in recs if is_error(r)}
        note("output: %d records, expected %d" % (len(out), len(want)))

        seen = {}
        last = {}
        for m in out:
            topic, p, o, _ = lineage(m)
            where = "out[%d]@%d (lineage %s/%d/%d)" % (m.partition, m.offset,
                                                       topic, p, o)
            check_eq(topic, "logs", where + ": lineage topic")
            check((p, o) not in seen, "%s: duplicate of out[%d]@%d"
                  % (where, *seen.get((p, o), (0, 0))))
            seen[(p, o)] = (m.partition, m.offset)
            r = want.get((p, o))
            check(r is not None, "%s: not an ERROR input record; value %r"
                  % (where, m.value[:200]))
            check_eq(m.partition, p, where + ": partitioner \"source\" "
                     "output partition")
            check_eq(m.value, r["value"], where + ": value bytes")
            check_eq(m.key, r["key"], where + ": key")
            check_eq(m.headers, list(r["headers"]) + [
                ("weir.job", b"e2e-filter"),
                ("weir.lineage", ("logs/%d/%d/0" % (p, o)).encode())],
                where + ": headers")
            check(o > last.get(m.partition, -1),
                  "%s: out of order: lineage offset %d after %d in the same "
                  "output partition" % (where, o, last.get(m.partition, -1)))
            last[m.partition] = o
        missing = sorted(set(want) - set(seen))
        check(not missing, "%d ERROR records missing from the output, e.g. "
              "logs[%d]@%d" % ((len(missing),) + (missing[0] if missing
                                                   else (0, 0))))

        # The two bad records: skipped (not in the output, checked above),
        # logged, and counted.
        bad_offs = ["logs[%d]@%d" % (b["partition"], b["offset"]) for b in bad]
        check(re.search(r"skipped record logs\[\d+\]@\d+", log),
              "stderr does not mention a skipped record; log:\n%s"
              % log[-3000:])
        m = re.search(r"skipped record (logs\[\d+\]@\d+)", log)
        check(m.group(1) in bad_offs, "the skipped record logged is %s, "
              "not one of the bad records %s" % (m.group(1), bad_offs))
        skipped = sum(int(x) for x in re.findall(
            r"operators\[0\] filter#\d+: exits: \d+ in, \d+ out, (\d+) "
            r"skipped", log))
        check_eq(skipped, 2, "records the filter counted as skipped "
                 "(its exit summary at WEIR_LOG=debug)")

        # The final checkpoint: complete, with the end offsets.
        fm = re.findall(r"coordinator: checkpoint (\d+) complete .*\(final\)",
                        log)
        check(len(fm) == 1, "expected one final checkpoint in the log, "
              "found %d" % len(fm))
        final_id = int(fm[0])
        rows = list_checkpoints(h, ck)
        check(rows, "`weir checkpoints` lists no checkpoint")
        check_eq(rows[0].id, final_id, "newest checkpoint listed")
        check_eq(rows[0].status, "complete", "status of checkpoint %d"
                 % final_id)
        check_eq(rows[0].offsets, {("logs", p): e for p, e in ends.items()},
                 "offsets of the final checkpoint")
        check(all(r.status == "complete" for r in rows),
              "not every checkpoint is complete: %r" % (rows,))

        # The same job with "lineage_headers": false: the input's own
        # headers and nothing else (none at all for most records).
        job2 = h.write_job("job2.json", kafka_job(
            "e2e-filter-nolin", h.path("ck2"), "logs", "out2",
            [ERROR_FILTER], source={"bounded": True, "parallelism": 2},
            sink={"partitioner": "source", "lineage_headers": False}))
        w2 = h.weir_run(job2)
        rc = w2.wait()
        check(rc == 0, "lineage_headers false: bounded run exited %d; "
              "log:\n%s" % (rc, w2.log()[-3000:]))
        out2 = consume_all(h.brokers, "out2")
        check_eq(len(out2), len(want), "lineage_headers false: records out")
        by_value = {}
        for r in want.values():
            by_value.setdefault((r["partition"], r["value"]), r)
        plain = 0
        for m in out2:
            r = by_value.get((m.partition, m.value))
            check(r is not None, "lineage_headers false: out2[%d]@%d is "
                  "not an ERROR input record: %r"
                  % (m.partition, m.offset, m.value[:200]))
            check_eq(m.headers, list(r["headers"]), "lineage_headers "
                     "false: headers of out2[%d]@%d" % (m.partition,
                                                       m.offset))
            plain += not m.headers
        check(plain > 0 and plain < len(out2), "expected both records "
              "with and without input headers in out2 (%d of %d without)"
              % (plain, len(out2)))
        return ("%d input records (2 bad), %d ERROR records out exactly "
                "once, in order, same partition/key/value/headers; 2 "
                "skipped; final checkpoint %d complete at the end offsets; "
                "with lineage_headers false only the input's headers "
                "(%d records with none)"
                % (len(recs), len(want), final_id, plain))


if __name__ == "__main__":
    main(test)
