#!/usr/bin/env python3
"""Timers end to end, with the timers test plugin (tests/plugins/timers.c:
per key and minute of event time a count, emitted by an event-time timer
once the watermark passes the minute). Needs the sources' watermarks.

One broker for all cases:

1. oracle: a bounded job (parallelism 2) over records with Kafka
   timestamps spread over six minutes, each partition in time order.
   Every (key, minute) comes out exactly once with the count kafka-python
   computes from the input; end_input emits one summary per task, after
   the watermark's end fired every timer, and their "fired" add up.
2. SIGKILL with pending timers, restored at another parallelism: the
   first half of the input is read by an unbounded job (parallelism 2)
   until a checkpoint covers it, which cannot have fired the timers of
   the half's last minute (the watermark has not passed it), then the job
   is killed. The second half is written and a bounded job at
   parallelism 3 restores the checkpoint and runs to the end. Each
   (key, minute) is out with the oracle's count (at-least-once delivery:
   a replayed output is identical), none is missing or wrong.
3. processing time: the plugin's processing-time timer fires by the
   clock and logs; a job whose sink is exactly-once by de-duplication
   stops with an error naming on_timer and what to use instead.
"""
import json
import random

from plugintest import plugin
from weirtest import (Harness, check, check_eq, consume_all, kafka_job,
                      main, produce, wait_caught_up)

MINUTE = 60000
T0 = 28333334 * MINUTE  # a whole minute
USERS = ["u%d" % i for i in range(7)]


def records(n, seed, partitions, first_ms, span_ms):
    """n records over the partitions, each partition's timestamps in
    order between first_ms and first_ms + span_ms."""
    rnd = random.Random(seed)
    per = [sorted(rnd.randrange(span_ms) for _ in range(n // partitions))
           for _ in range(partitions)]
    out = []
    for p, times in enumerate(per):
        for t in times:
            user = rnd.choice(USERS)
            out.append({"partition": p, "key": None, "headers": [],
                        "timestamp": T0 + first_ms + t,
                        "value": json.dumps({"user": user}).encode()})
    return out


def oracle(recs):
    want = {}
    for r in recs:
        k = (json.loads(r["value"])["user"], r["timestamp"] // MINUTE)
        want[k] = want.get(k, 0) + 1
    return want


def outputs(h, topic):
    counts, ends = {}, []
    for m in consume_all(h.brokers, topic):
        v = json.loads(m.value)
        if "end" in v:
            ends.append(v)
            continue
        counts.setdefault((v["key"], v["minute"]), []).append(v["n"])
    return counts, ends


def timers_job(h, name, src, out, parallelism, source=None, sink=None,
               processing_ms=100):
    src_cfg = {"watermarks": {"max_out_of_orderness_ms": 0}}
    src_cfg.update(source or {})
    return h.write_job(name + ".json", kafka_job(
        name, h.path("ck-" + name), src, out,
        [{"type": "plugin", "library": plugin(h, "TIMERS_PLUGIN"),
          "key": "user", "parallelism": parallelism,
          "processing_ms": processing_ms}],
        source=src_cfg, sink=sink, checkpoint={"interval_ms": 100}))


def case_oracle(h):
    recs = produce(h.brokers, "in1", records(4000, 1, 4, 0, 6 * MINUTE))
    w = h.weir_run(timers_job(h, "oracle", "in1", "out1", 2,
                              source={"bounded": True}))
    check_eq(w.wait(), 0, "exit code of the bounded job; log:\n%s"
             % w.log()[-3000:])
    want = oracle(recs)
    counts, ends = outputs(h, "out1")
    check_eq({k: v for k, v in counts.items()},
             {k: [n] for k, n in want.items()},
             "per key and minute counts (each once)")
    check_eq(sorted(e["end"] for e in ends), [0, 1],
             "end_input summaries, one per task")
    check_eq(sum(e["fired"] for e in ends), len(want),
             "event timers fired before end_input")
    return "oracle: %d (key, minute) counts exact, end_input after them" \
        % len(want)


def case_kill_rescale(h):
    first = produce(h.brokers, "in2", records(3000, 2, 4, 0,
                                              3 * MINUTE + 30000))
    job = timers_job(h, "kill", "in2", "out2", 2,
                     source={"group_id": "kill"})
    w = h.weir_run(job)
    wait_caught_up(h.brokers, "in2", "kill", proc=w)
    w.kill()
    before, _ = outputs(h, "out2")
    last_minute = max(r["timestamp"] for r in first) // MINUTE
    check(all(m < last_minute for (_, m) in before),
          "a timer of minute %d fired before the watermark passed it"
          % last_minute)
    pending = len({k for k in oracle(first) if k[1] == last_minute})
    second = produce(h.brokers, "in2", records(3000, 3, 4,
                                               3 * MINUTE + 30000,
                                               3 * MINUTE))
    w = h.weir_run(timers_job(h, "kill", "in2", "out2", 3,
                              source={"bounded": True}))
    check_eq(w.wait(), 0, "exit code of the restored bounded job at "
             "parallelism 3; log:\n%s" % w.log()[-3000:])
    check("restored checkpoint" in w.log(), "the second run restored "
          "nothing; log:\n%s" % w.log()[-3000:])
    want = oracle(first + second)
    counts, _ = outputs(h, "out2")
    wrong = {k: v for k, v in counts.items()
             if k not in want or set(v) != {want[k]}}
    check(not wrong, "%d (key, minute) with wrong counts, e.g. %r (want "
          "%r)" % (len(wrong), sorted(wrong.items())[:3],
                   [want.get(k) for k in sorted(wrong)[:3]]))
    missing = set(want) - set(counts)
    check(not missing, "%d (key, minute) never emitted, e.g. %r"
          % (len(missing), sorted(missing)[:3]))
    return ("SIGKILL with %d timers pending, restored at parallelism 3: "
            "%d counts exact" % (pending, len(want)))


def case_processing(h):
    produce(h.brokers, "in3", records(40, 4, 2, 0, MINUTE))
    w = h.weir_run(timers_job(h, "proc", "in3", "out3", 1,
                              processing_ms=50))
    w.wait_for_log(r"processing timer of u\d fired")
    check_eq(w.stop(), 0, "exit code of the processing-time job")
    r = h.weir("run", timers_job(
        h, "eo", "in3", "out3", 1, source={"bounded": True, "partitioned_by": "user"},
        sink={"delivery": "exactly-once"}))
    check_eq(r.rc, 1, "exit code of an exactly-once (dedup) job whose "
             "operator emits from on_timer; stderr:\n%s" % r.err[-3000:])
    check("emitted a record, which has no source record" in r.err and
          "\"exactly_once\": \"transactions\"" in r.err,
          "the failure does not say why and what to use; stderr:\n%s"
          % r.err[-3000:])
    return "processing timer fired; exactly-once dedup refused timer output"


def test():
    with Harness("timers") as h:
        h.broker({"in1": 4, "out1": 2, "in2": 4, "out2": 2, "in3": 2,
                  "out3": 1})
        return "; ".join([case_oracle(h), case_kill_rescale(h),
                          case_processing(h)])


if __name__ == "__main__":
    main(test)
