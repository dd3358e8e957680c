"""Operator error policies.

on_error "fail": a bounded filter job meets a non-JSON record; it exits 1
with a message naming the operator and the record's partition@offset;
nothing after that record of its partition reaches the output; no
checkpoint covers the record; a restart fails on the same record again.

on_error "dead-letter" (filter and count both sending to one dead-letter
topic): the bad records land in the dead-letter topic unchanged (value,
key, headers) plus weir.error and weir.operator headers naming the right
operator; the good records are all in the output (counts exact). Among
the bad records is one nested 250,000 deep: it is refused at once as a
record error, never stalls the job into checkpoint timeouts.
"""

import json
import re
import time
from collections import Counter

from weirtest import (Harness, check, check_counts_exact, check_eq,
                      consume_all, count_outputs, headers_dict, is_error,
                      kafka_job, lineage, list_checkpoints, log_records, main,
                      note, produce)

PARTS = 2


def bad(partition, value, key=None, headers=()):
    return {"partition": partition, "key": key, "value": value,
            "headers": list(headers), "obj": None}


def on_error_fail(h):
    recs = log_records(3000, seed=7, partitions=PARTS)
    b = bad(1, b"\x00\x01 not json", key=b"k-bad")
    recs = recs[:1500] + [b] + recs[1500:]
    produce(h.brokers, "logs", recs)
    where = "logs[%d]@%d" % (b["partition"], b["offset"])
    ck = h.path("ck-fail")
    job = h.write_job("fail.json", kafka_job(
        "on-error-fail", ck, "logs", "out",
        [{"type": "filter", "on_error": "fail",
          "where": {"field": "level", "op": "eq", "value": "ERROR"}}],
        source={"bounded": True, "parallelism": 2},
        sink={"partitioner": "source"},
        checkpoint={"interval_ms": 50}))
    for attempt in (1, 2):
        w = h.weir_run(job)
        rc = w.wait()
        log = w.log()
        check_eq(rc, 1, "on_error fail, run %d: exit code; log:\n%s"
                 % (attempt, log[-3000:]))
        check(re.search(r"filter\S*: record %s\b" % re.escape(where), log),
              "run %d: no message naming the filter and %s; log:\n%s"
              % (attempt, where, log[-3000:]))
        m = re.search(r"^weir: job on-error-fail failed: (.*)$", log, re.M)
        check(m and where in m.group(1),
              "run %d: the final failure line does not name %s: %r"
              % (attempt, where, m.group(0) if m else None))
    note("on_error fail: exit 1 naming %s, twice" % where)

    out = consume_all(h.brokers, "out")
    errors = {(r["partition"], r["offset"]) for r in recs if is_error(r)}
    for m in out:
        _, p, o, _ = lineage(m)
        check((p, o) in errors, "out[%d]@%d: lineage logs/%d/%d is not an "
              "ERROR record" % (m.partition, m.offset, p, o))
        check(not (p == b["partition"] and o > b["offset"]),
              "out[%d]@%d: logs[%d]@%d comes after the failed record %s but "
              "was written" % (m.partition, m.offset, p, o, where))
    for row in list_checkpoints(h, ck):
        off = row.offsets.get(("logs", b["partition"]))
        check(off is None or off <= b["offset"],
              "checkpoint %d (%s) covers the failed record %s: offset %s"
              % (row.id, row.status, where, off))
    return where


# What weir.error must say for the records count cannot key.
WHY = {
    b'{"seq":-3,"level":"ERROR","msg":"no service"}':
        'field "service" is missing',
    b'{"seq":-4,"level":"ERROR","service":{"x":1}}':
        'field "service" is an object or an array; a key is a string, '
        'number, boolean or null',
}
DEEP = b"[" * 250000 + b"]" * 250000
WHY[DEEP] = "maximum parsing depth reached near '[' at byte 2049"


def on_error_dead_letter(h):
    recs = log_records(4000, seed=8, partitions=PARTS)
    bads = [
        # filter cannot judge these
        (bad(0, b"<html>not json</html>", key=b"k1",
             headers=[("trace", b"t-x")]), "filter"),
        (bad(1, b'{"seq":-2,"service":"api","msg":"no level"}'), "filter"),
        (bad(0, DEEP), "filter"),
        # ERROR, so they pass the filter; count cannot key them
        (bad(0, b'{"seq":-3,"level":"ERROR","msg":"no service"}',
             key=b"k3", headers=[("h", b"\x00\xff")]), "count"),
        (bad(1, b'{"seq":-4,"level":"ERROR","service":{"x":1}}'), "count"),
    ]
    step = len(recs) // (len(bads) + 1)
    mixed = []
    for i, (br, _) in enumerate(bads):
        mixed += recs[i * step:(i + 1) * step] + [br]
    mixed += recs[len(bads) * step:]
    produce(h.brokers, "logs", mixed)
    dl = {"on_error": "dead-letter", "dead_letter_topic": "dlq"}
    job = h.write_job("dlq.json", kafka_job(
        "on-error-dlq", h.path("ck-dlq"), "logs", "counts",
        [dict({"type": "filter",
               "where": {"field": "level", "op": "eq", "value": "ERROR"}},
              **dl),
         dict({"type": "count", "key": "service"}, **dl)],
        source={"bounded": True, "parallelism": 2}))
    t0 = time.monotonic()
    w = h.weir_run(job)
    rc = w.wait()
    took = time.monotonic() - t0
    check_eq(rc, 0, "dead-letter job: exit code; log:\n%s" % w.log()[-3000:])
    check(took < 20, "dead-letter job took %.1f s" % took)

    dlq = consume_all(h.brokers, "dlq")
    want = {(br["partition"], br["offset"]): (br, op) for br, op in bads}
    got = {}
    for m in dlq:
        topic, p, o, _ = lineage(m)
        check(topic == "logs" and (p, o) in want,
              "dlq[%d]@%d: lineage %s/%d/%d is not one of the bad records "
              "%r" % (m.partition, m.offset, topic, p, o, sorted(want)))
        check((p, o) not in got, "logs[%d]@%d is in the dead-letter topic "
              "twice" % (p, o))
        got[(p, o)] = m
        br, op = want[(p, o)]
        where = "dead letter of logs[%d]@%d" % (p, o)
        check_eq(m.value, br["value"], where + ": value")
        check_eq(m.key, br["key"], where + ": key")
        check_eq(m.headers[:len(br["headers"])], br["headers"],
                 where + ": original headers")
        hd = headers_dict(m)
        check(hd.get("weir.error"), where + ": no weir.error header: %r"
              % m.headers)
        check(op in hd.get("weir.operator", b"").decode(),
              where + ": weir.operator %r does not name the %s operator"
              % (hd.get("weir.operator"), op))
        why = WHY.get(br["value"])
        check(why is None or why in hd["weir.error"].decode(),
              "%s: weir.error %r does not say %r"
              % (where, hd["weir.error"], why))
    check_eq(sorted(got), sorted(want), "bad records in the dead-letter "
             "topic")

    good = {(r["partition"], r["offset"]): r for r in mixed if is_error(r)}
    out = consume_all(h.brokers, "counts")
    seen = Counter(lineage(m)[1:3] for m in out)
    check_eq(set(seen), set(good), "lineage of the count output vs the good "
             "ERROR records")
    check(max(seen.values()) == 1, "an ERROR record was counted twice")
    check_counts_exact(count_outputs(out),
                       dict(Counter(r["obj"]["service"]
                                    for r in good.values())))
    errs = [headers_dict(got[k]).get("weir.error").decode() for k in
            sorted(got)]
    note("dead letters: %s" % json.dumps(errs))
    return len(bads), len(good)


def test():
    with Harness("on-error") as h:
        h.broker({"logs": PARTS, "out": PARTS})
        where = on_error_fail(h)
    with Harness("on-error") as h:
        h.broker({"logs": PARTS, "counts": 2, "dlq": 1})
        nbad, ngood = on_error_dead_letter(h)
    return ("fail: exit 1 naming filter and %s (twice), nothing after it "
            "written or checkpointed; dead-letter: %d bad records in dlq "
            "unchanged with weir.error/weir.operator, %d good ones counted "
            "exactly" % (where, nbad, ngood))


if __name__ == "__main__":
    main(test)
