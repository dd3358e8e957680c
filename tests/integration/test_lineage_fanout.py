"""Exactly-once output from operators that emit several records per input.

The sink drops a replayed record when its lineage (source partition,
offset, sequence) is at or below the highest one already written to its
output partition, so the lineage of every output must be unique and must
grow in the order the outputs are written. Three shapes of operator chain
(tests/plugins/fanout.c), each through one SIGKILL that lands in the middle
of one input's outputs:

  a. five chained operators, the first emitting 3 records per input
  b. one emitting 2 per input, then one emitting 1,600 per input
  c. weir_forward(input) and then weir_emit() on the same input

The job checkpoints only at its start, so the restart replays everything
and must drop exactly what the first run wrote. The kill is aimed: the
test stops weir (SIGSTOP), lets the broker settle, and kills only when the
output ends inside one input's group of outputs (otherwise it lets weir go
on a little and tries again). Then, reading with kafka-python:
- every expected output value is in the output exactly once;
- per output partition the lineages strictly increase in offset order.

WEIR_TEST_SHAPES=bc runs only shapes b and c.
"""

import os
import signal
import time
from collections import Counter

from kafka import TopicPartition
from weirtest import (Harness, check, check_eq, consume_all, consumer,
                      kafka_job, lineage, main, note, produce)

FANOUT = os.environ.get("FANOUT_PLUGIN")

SHAPES = {
    # name: (stages, inputs); a stage is fanout's config
    "a": ([{"tag": "a", "copies": 3, "delay_us": 2000}] +
          [{"tag": "c%d" % i} for i in range(4)], 1000),
    "b": ([{"tag": "p", "copies": 2, "delay_us": 20000},
           {"tag": "q", "copies": 1600}], 5),
    "c": ([{"tag": "f", "forward_first": True, "delay_us": 2000}], 1000),
}


def outputs_of(value, stages):
    """The values a chain of fanout stages makes of one input value."""
    vals = [value]
    for st in stages:
        nxt = []
        for v in vals:
            if st.get("forward_first"):
                nxt.append(v)
            for i in range(st.get("copies", 1)):
                nxt.append(v + b"|" + st["tag"].encode() + str(i).encode())
        vals = nxt
    return vals


def kill_mid_input(h, w, topic, per_input, total):
    """SIGKILLs w once the output it has written ends inside one input's
    outputs; returns how many outputs were written then."""
    c = consumer(h.brokers)
    tps = [TopicPartition(topic, p) for p in
           sorted(c.partitions_for_topic(topic))]

    def written():
        return sum(c.end_offsets(tps).values())

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = written()
            if n == 0:
                time.sleep(0.005)
                continue
            check(n < total, "the job wrote all %d outputs before it could "
                  "be stopped in the middle" % total)
            w.signal(signal.SIGSTOP)
            # What was in flight lands; then the output is what the kill
            # leaves behind.
            while True:
                time.sleep(0.1)
                m = written()
                if m == n:
                    break
                n = m
            if n % per_input != 0 and n < total:
                w.kill()
                return n
            w.signal(signal.SIGCONT)
            time.sleep(0.001)
        check(False, "could not stop the job inside an input's outputs "
              "within 60 s")
    finally:
        c.close()


def run_shape(h, name, stages, inputs):
    src, out = "in-" + name, "out-" + name
    per_input = len(outputs_of(b"x", stages))
    total = per_input * inputs
    recs = [{"partition": 0, "key": None, "headers": [],
             "value": b"r%d" % i} for i in range(inputs)]
    produce(h.brokers, src, recs)
    ops = [dict({"type": "plugin", "library": FANOUT}, **st)
           for st in stages]
    job = kafka_job("fanout-" + name, h.path("ck-" + name), src, out, ops,
                    source={"parallelism": 1},
                    sink={"delivery": "exactly-once",
                          "properties": {"linger.ms": "0",
                                         "batch.num.messages": "1"}},
                    checkpoint={"interval_ms": 0})
    w = h.weir_run(h.write_job("job-%s.json" % name, job))
    written = kill_mid_input(h, w, out, per_input, total)
    note("%s: killed with %d of %d outputs written (%d per input)"
         % (name, written, total, per_input))

    # The restart writes at full speed.
    job["source"]["bounded"] = True
    job["sink"]["properties"] = {}
    w = h.weir_run(h.write_job("job-%s.json" % name, job))
    rc = w.wait()
    check(rc == 0, "%s: the restart exited %s; log:\n%s"
          % (name, rc, w.log()[-3000:]))

    msgs = consume_all(h.brokers, out)
    want = Counter()
    for r in recs:
        want.update(outputs_of(r["value"], stages))
    got = Counter(m.value for m in msgs)
    lost = want - got
    dups = got - want
    check(not lost, "%s: %d output(s) lost after the restart, e.g. %r"
          % (name, sum(lost.values()), sorted(lost)[:3]))
    check(not dups, "%s: %d output(s) written twice or unexpected, e.g. %r"
          % (name, sum(dups.values()), sorted(dups)[:3]))
    check_eq(len(msgs), total, "%s: output records" % name)

    last = {}
    for m in sorted(msgs, key=lambda m: (m.partition, m.offset)):
        _, p, o, s = lineage(m)
        prev = last.get(m.partition)
        if prev is not None and (o, s) <= prev:
            check(False, "%s: out[%d]@%d has lineage offset %d seq %d, not "
                  "above the record before it (%d, %d): lineages must be "
                  "unique and grow in the order they are written"
                  % ((name, m.partition, m.offset, o, s) + prev))
        last[m.partition] = (o, s)
    return written, total


def test():
    check(FANOUT, "FANOUT_PLUGIN is not set (meson sets it)")
    with Harness("fanout") as h:
        topics = {}
        for name in SHAPES:
            topics["in-" + name] = 1
            topics["out-" + name] = 1
        h.broker(topics)
        res = []
        only = os.environ.get("WEIR_TEST_SHAPES") or "".join(SHAPES)
        for name, (stages, inputs) in SHAPES.items():
            if name not in only:
                continue
            written, total = run_shape(h, name, stages, inputs)
            res.append("%s %d/%d" % (name, written, total))
        return ("3 shapes killed mid-input (%s), every output exactly once, "
                "lineages increasing" % ", ".join(res))


if __name__ == "__main__":
    main(test)
