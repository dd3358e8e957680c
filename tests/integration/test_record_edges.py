"""Records at the edges of what Kafka carries, end to end.

Null values (tombstones): a filter that looks at raw bytes (`not` of
`value_contains`) forwards a record unchanged, and a dead-letter topic gets
the record unchanged: a null value must stay null, not become empty.

A record larger than the sink producer's message.max.bytes: it cannot be
written, so it is a record error of the sink. By default (`on_error`
"fail") the job stops with exit 1 and a message that names the record's
source partition and offset, its size and the setting; nothing after it is
lost to a checkpoint. With "skip" the job writes every other record, counts
the one it skipped and says so.

kafka-python reads every output.
"""

import re

from weirtest import (Harness, check, check_eq, consume_all, kafka_job, main,
                      produce)

BIG = 6000


def tombstones(h):
    recs = []
    for i in range(30):
        val = None if i % 3 == 0 else (b'{"n":%d}' % i)
        recs.append({"partition": 0, "key": b"k%d" % i, "value": val,
                     "headers": []})
    produce(h.brokers, "tomb-in", recs)
    ops = [{"type": "filter", "where": {"not": {"value_contains": "n\":7"}}},
           {"type": "count", "key": "n", "on_error": "dead-letter",
            "dead_letter_topic": "tomb-dlq"}]
    job = kafka_job("tombstones", h.path("ck-tomb"), "tomb-in", "tomb-out",
                    ops[:1], source={"parallelism": 1, "bounded": True})
    w = h.weir_run(h.write_job("tomb.json", job))
    check_eq(w.wait(), 0, "filter job exit code; log:\n%s" % w.log()[-2000:])
    out = consume_all(h.brokers, "tomb-out")
    want = [(r["key"], r["value"]) for r in recs if r["value"] != b'{"n":7}']
    check_eq([(m.key, m.value) for m in out], want,
             "filter output (key, value); tombstones must stay None")

    job = kafka_job("tombstones-dlq", h.path("ck-tomb-dlq"), "tomb-in",
                    "tomb-out2", ops[1:],
                    source={"parallelism": 1, "bounded": True})
    w = h.weir_run(h.write_job("tomb-dlq.json", job))
    check_eq(w.wait(), 0, "dead-letter job exit code; log:\n%s"
             % w.log()[-2000:])
    dl = consume_all(h.brokers, "tomb-dlq")
    want = [(r["key"], None) for r in recs if r["value"] is None]
    check_eq([(m.key, m.value) for m in dl], want,
             "dead-letter topic (key, value); tombstones must stay None")
    return len(want)


def oversize(h):
    recs = [{"partition": 0, "key": None, "headers": [],
             "value": b'{"i":%d,"pad":"%s"}' % (i, b"x" * (BIG if i == 7
                                                        else 10))}
            for i in range(20)]
    produce(h.brokers, "big-in", recs)
    big = recs[7]

    def job(name, sink):
        sink = dict({"properties": {"message.max.bytes": "4000"}}, **sink)
        return h.write_job(name + ".json", kafka_job(
            name, h.path("ck-" + name), "big-in", "big-out-" + name, [],
            source={"parallelism": 1, "bounded": True}, sink=sink))

    w = h.weir_run(job("fail", {}))
    rc = w.wait()
    log = w.log()
    check_eq(rc, 1, "a record over message.max.bytes with on_error fail: "
             "exit code; log:\n%s" % log[-2000:])
    for part in ("big-in[0]@%d" % big["offset"], "message.max.bytes",
                 "%d bytes" % len(big["value"]), "on_error"):
        check(part in log, "the error should name %r; log:\n%s"
              % (part, log[-2000:]))
    out = consume_all(h.brokers, "big-out-fail")
    check(len(out) <= 7, "records after the oversized one were written "
          "(%d records)" % len(out))

    w = h.weir_run(job("skip", {"on_error": "skip"}))
    rc = w.wait()
    log = w.log()
    check_eq(rc, 0, "on_error skip: exit code; log:\n%s" % log[-2000:])
    check("big-in[0]@%d" % big["offset"] in log,
          "the skip warning should name the record; log:\n%s" % log[-2000:])
    check_eq(len(re.findall(r"1 skipped in all \(sink.on_error \"skip\"\)",
                            log)), 1,
             "warnings counting the one skipped record; log:\n%s"
             % log[-2000:])
    out = consume_all(h.brokers, "big-out-skip")
    check_eq([m.value for m in out], [r["value"] for r in recs if r is not big],
             "on_error skip: every other record, in order")
    return len(out)


def test():
    with Harness("edges") as h:
        h.broker({"tomb-in": 1, "tomb-out": 1, "tomb-out2": 1, "tomb-dlq": 1,
                  "big-in": 1, "big-out-fail": 1, "big-out-skip": 1})
        nt = tombstones(h)
        ns = oversize(h)
        return ("tombstones stay null through a raw filter and into a "
                "dead-letter topic (%d); a record over message.max.bytes "
                "fails the job naming it, or is skipped (%d others written)"
                % (nt, ns))


if __name__ == "__main__":
    main(test)
