#!/usr/bin/env python3
"""Windows through a SIGKILL loop.

A producer writes log records live over 3 partitions (each service in one
partition, event time in a "ts" field, in time order per partition) while
a job with a tumbling 500 ms window per service (count and sum) runs with a
100 ms checkpoint interval. The test SIGKILLs weir several times, right
after a checkpoint completes, up to 100 ms after one did, or at a random
moment, restarting it each time (the window's parallelism changes between
runs: 2, 3, 1, ...), and ends with a bounded run that fires every window
left. kafka-python then reads the output and compares it with an oracle
computed here from the input:

- transactions: every window of the input has a result and every result
  is right. The embedded broker shows records of aborted transactions to
  every reader (KAFKA.md), so a window emitted in a transaction a kill
  aborted can appear twice; each copy must be identical.
- at-least-once, fewer kills: the same.

A window whose timer was pending in a checkpoint must come back from it,
and one that fired before the barrier must not fire again from restored
state: with the window's state lost or doubled, counts would be wrong.
"""
import json
import os
import random
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (BackgroundProducer, Harness, check, check_eq,  # noqa
                      consume_all, kafka_job, main, parse_restore, tail)

T0 = 1_700_000_000_000
SIZE = 500
KEYS = ["api", "auth", "billing", "db", "cache", "mail"]
PART = {k: i % 3 for i, k in enumerate(KEYS)}


def records(n, seed):
    """n records, 2 ms of event time apart, round robin over the keys."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        k = KEYS[i % len(KEYS)]
        ts = T0 + 2 * i
        ms = rnd.randrange(1000)
        out.append({"partition": PART[k], "key": k.encode(),
                    "value": json.dumps({"service": k, "ts": ts,
                                         "ms": ms}).encode(),
                    "headers": [], "svc": k, "ts": ts, "ms": ms})
    return out


def oracle(recs):
    want = defaultdict(lambda: [0, 0])
    for r in recs:
        w = want[(r["svc"], r["ts"] - r["ts"] % SIZE)]
        w[0] += 1
        w[1] += r["ms"]
    return {k: tuple(v) for k, v in want.items()}


def job(h, name, topic, out, par, bounded, sink):
    return h.write_job("%s-%d-%s.json" % (name, par, bounded), kafka_job(
        name, h.path("ck-" + name), topic, out,
        [{"type": "window", "key": "service", "parallelism": par,
          "window": {"type": "tumbling", "size_ms": SIZE},
          "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "ms"}]}],
        source={"bounded": bounded,
                "timestamp": {"field": "ts", "format": "epoch_ms"},
                "watermarks": {"max_out_of_orderness_ms": 0}},
        sink=sink, checkpoint={"interval_ms": 100}))


def kill_loop(h, name, topic, out, sink, kills, n, seed):
    recs = records(n, seed)
    rnd = random.Random(seed)
    prod = BackgroundProducer(h.brokers, topic, recs, seconds=kills * 0.6,
                              chunk=300)
    prod.start()
    pars = [2, 3, 1]
    for k in range(kills):
        p = h.weir_run(job(h, name, topic, out, pars[k % 3], False, sink))
        if k > 0:
            check(parse_restore(p)[0] > 0,
                  "%s: run %d restored nothing; log:\n%s"
                  % (name, k, tail(p.log())))
        how = k % 3
        if how == 0:
            p.wait_for_log(r"checkpoint \d+ complete", timeout=30)
        elif how == 1:
            p.wait_for_log(r"checkpoint \d+ complete", timeout=30)
            time.sleep(rnd.uniform(0.0, 0.1))
        else:
            time.sleep(rnd.uniform(0.2, 0.6))
        p.kill()
    prod.finish()
    p = h.weir_run(job(h, name, topic, out, 2, True, sink))
    check_eq(p.wait(60), 0, "%s: the final bounded run; log:\n%s"
             % (name, tail(p.log())))
    want = oracle(recs)
    got = defaultdict(set)
    for m in consume_all(h.brokers, out):
        v = json.loads(m.value)
        got[(v["key"], v["window_start_ms"])].add((v["count"], v["sum_ms"]))
    wrong = {w: r for w, r in got.items()
             if w not in want or r != {want[w]}}
    check(not wrong, "%s: %d windows with a wrong result, e.g. %r (want %r)"
          % (name, len(wrong), sorted(wrong.items())[:3],
             [want.get(w) for w in sorted(wrong)[:3]]))
    lost = set(want) - set(got)
    check(not lost, "%s: %d windows without a result, e.g. %r"
          % (name, len(lost), sorted(lost)[:3]))
    return "%s: %d kills, %d windows right" % (name, kills, len(want))


def test():
    with Harness("window-crash") as h:
        h.broker({"in-t": 3, "out-t": 2, "in-a": 3, "out-a": 2})
        return "; ".join([
            kill_loop(h, "txn", "in-t", "out-t",
                      {"delivery": "exactly-once",
                       "exactly_once": "transactions"}, 7, 6000, 1),
            kill_loop(h, "alo", "in-a", "out-a", {}, 3, 3000, 2)])


if __name__ == "__main__":
    main(test)
