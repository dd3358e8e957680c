#!/usr/bin/env python3
"""The window operator against an oracle computed here from the input.

kafka-python writes records with an event time in their "ts" field over 3
partitions, each key in one partition, in time order per partition unless
a case says otherwise. The expected results are computed in Python and
compared with what kafka-python reads from the output. One broker:

- tumbling, in order and out of order within max_out_of_orderness_ms,
  bounded run: every window once, aggregates exact (count, sum, avg, min,
  max; integers stay integers, one double makes a double), RFC 3339 times;
- hopping windows (each record in 3 windows), bounded;
- a window without key: one stream over all records, "key" null;
- session windows: a record overlapping one session and touching another
  merges the three; sessions apart stay apart;
- lateness, on an unbounded run whose third partition stays empty (so the
  watermark moves only because of idle_timeout_ms): windows fire while the
  job runs, a late record within allowed_lateness_ms emits an update at
  once ("update": n), one beyond it goes to the dead-letter topic with the
  too-late count in its weir.error header, and nothing else is emitted;
- SIGKILL with open windows and pending timers, restore with the window at
  another parallelism (2 -> 3), transactions: every window's result
  exactly once and right;
- `weir validate`: de-duplication refused for a window job, the
  "delivery:" paragraph, window config errors.
"""
import json
import os
import re
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (Harness, check, check_eq, consume_all,  # noqa: E402
                      kafka_job, main, new_producer, parse_restore,
                      produce, tail, wait_caught_up)

T0 = 1_700_000_040_000  # a whole minute
MIN = 60_000
KEYS = ["api", "auth", "billing", "db", "cache", "mail", "search"]
PART = {k: i % 3 for i, k in enumerate(KEYS)}
AGGS = [{"fn": "count"}, {"fn": "sum", "field": "ms"},
        {"fn": "avg", "field": "ms"}, {"fn": "min", "field": "ms"},
        {"fn": "max", "field": "ms"}]


def rec(key, ts, ms, part=None):
    v = {"service": key, "ts": ts, "ms": ms}
    return {"partition": PART[key] if part is None else part,
            "key": key.encode(), "value": json.dumps(v).encode(),
            "headers": [], "ts": ts, "ms": ms, "svc": key}


def rfc3339(ms):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def aggregate(vals):
    """One double among the inputs makes sum, min and max doubles."""
    num = float if any(isinstance(v, float) for v in vals) else int
    s = sum(vals)
    return {"count": len(vals), "sum_ms": num(s), "avg_ms": s / len(vals),
            "min_ms": num(min(vals)), "max_ms": num(max(vals))}


def starts_of(ts, size, slide):
    s = ts - ts % slide
    out = []
    while s > ts - size:
        out.append(s)
        s -= slide
    return out


def oracle(records, size, slide):
    """{(key, start): aggregates} of tumbling/hopping windows."""
    vals = defaultdict(list)
    for r in records:
        for s in starts_of(r["ts"], size, slide):
            vals[(r["svc"], s)].append(r["ms"])
    return {k: aggregate(v) for k, v in vals.items()}


def check_result(v, key, start, end, want, what):
    check_eq((v["key"], v["window_start_ms"], v["window_end_ms"],
              v["window_start"], v["window_end"]),
             (key, start, end, rfc3339(start), rfc3339(end)),
             what + ": window fields")
    for name, x in want.items():
        got = v.get(name)
        if name == "avg_ms" or isinstance(x, float):
            check(isinstance(got, float) and abs(got - x) < 1e-9,
                  "%s: %s is %r, expected the double %r" % (what, name, got,
                                                            x))
        else:
            check(type(got) is int and got == x,
                  "%s: %s is %r, expected the integer %r" % (what, name, got,
                                                             x))


def results(brokers, topic):
    return [(m.key.decode() if m.key else None, json.loads(m.value))
            for m in consume_all(brokers, topic)]


def check_once(got, want, size, what):
    """Every window of want exactly once, no "update", nothing else."""
    seen = defaultdict(int)
    for key, v in got:
        start = v["window_start_ms"]
        k = (v["key"], start)
        check(k in want, "%s: unexpected result %r" % (what, v))
        check("update" not in v, "%s: an update without late input: %r"
              % (what, v))
        check_eq(key, v["key"], what + ": record key")
        seen[k] += 1
        check_result(v, k[0], start, start + (size or v["window_end_ms"] -
                                              start), want[k],
                     "%s %s" % (what, k))
    check_eq(sorted(k for k, n in seen.items() if n > 1), [],
             what + ": windows emitted more than once")
    check_eq(sorted(set(want) - set(seen)), [], what + ": windows lost")


def window_job(h, name, topic, out, window, source=None, op=None, **kw):
    o = {"type": "window", "key": "service", "window": window,
         "aggregates": AGGS}
    o.update(op or {})
    src = {"timestamp": {"field": "ts", "format": "epoch_ms"},
           "watermarks": {"max_out_of_orderness_ms": 0}}
    src.update(source or {})
    return h.write_job(name + ".json",
                       kafka_job(name, h.path("ck-" + name), topic, out, [o],
                                 source=src, **kw))


def run_bounded(h, path):
    p = h.weir_run(path)
    rc = p.wait(60)
    check_eq(rc, 0, "bounded run of %s; log:\n%s" % (path, tail(p.log())))
    return p


def case_tumbling_hopping(h, b, producer):
    recs = []
    for i in range(140):
        k = KEYS[i % len(KEYS)]
        ts = T0 + i * 1500 + 7
        # Out of order within 3 s, never on a window's last millisecond.
        if i % 5 == 3:
            ts -= 2500
        ms = i % 17 + (0.5 if k == "db" else 0)
        recs.append(rec(k, ts, ms))
    produce(b, "in", recs, producer)
    run_bounded(h, window_job(
        h, "tumbling", "in", "out-t", {"type": "tumbling", "size_ms": MIN},
        source={"bounded": True,
                "watermarks": {"max_out_of_orderness_ms": 3000}}))
    want = oracle(recs, MIN, MIN)
    check_once(results(b, "out-t"), want, MIN, "tumbling")
    run_bounded(h, window_job(
        h, "hopping", "in", "out-h",
        {"type": "hopping", "size_ms": 3 * MIN, "slide_ms": MIN},
        source={"bounded": True,
                "watermarks": {"max_out_of_orderness_ms": 3000}}))
    want_h = oracle(recs, 3 * MIN, MIN)
    check_once(results(b, "out-h"), want_h, 3 * MIN, "hopping")
    # Without "key": one window stream, "key" null, no record key.
    o = {"type": "window", "window": {"type": "tumbling", "size_ms": MIN},
         "aggregates": AGGS}
    run_bounded(h, h.write_job("nokey.json", kafka_job(
        "nokey", h.path("ck-nokey"), "in", "out-n", [o],
        source={"bounded": True, "timestamp": {"field": "ts",
                                               "format": "epoch_ms"},
                "watermarks": {"max_out_of_orderness_ms": 3000}})))
    want_n = oracle([dict(r, svc=None) for r in recs], MIN, MIN)
    check_once(results(b, "out-n"), want_n, MIN, "without key")
    return len(want), len(want_h)


def case_sessions(h, b, producer):
    g = 10_000
    # api: [0,14s) from 0 and 4s, [22s,32s) from 22s, then 12s overlaps
    # the first and touches the second: one session [0, 32s). auth: two
    # sessions 50 s apart. The bridge comes 10 s out of order, within the
    # bound, so neither session fired before it.
    recs = [rec("api", T0, 1), rec("api", T0 + 4000, 2),
            rec("api", T0 + 22000, 3), rec("api", T0 + 12000, 4),
            rec("auth", T0, 5), rec("auth", T0 + 50000, 6),
            rec("billing", T0 + 1000, 7)]
    produce(b, "sess", recs, producer)
    run_bounded(h, window_job(
        h, "session", "sess", "out-s", {"type": "session", "gap_ms": g},
        source={"bounded": True,
                "watermarks": {"max_out_of_orderness_ms": 10000}}))
    want = {("api", T0): aggregate([1, 2, 3, 4]),
            ("auth", T0): aggregate([5]),
            ("auth", T0 + 50000): aggregate([6]),
            ("billing", T0 + 1000): aggregate([7])}
    ends = {("api", T0): T0 + 32000, ("auth", T0): T0 + g,
            ("auth", T0 + 50000): T0 + 50000 + g,
            ("billing", T0 + 1000): T0 + 1000 + g}
    got = results(b, "out-s")
    for _, v in got:
        k = (v["key"], v["window_start_ms"])
        check(k in ends and v["window_end_ms"] == ends[k],
              "session: unexpected session %r (expected %r)" % (v, ends))
    check_once(got, want, None, "session")


def wait_results(b, topic, n, proc, what, timeout=20, tick=None):
    """Waits until topic holds n records; calls tick() between looks."""
    deadline = time.monotonic() + timeout
    while True:
        got = results(b, topic)
        if len(got) >= n:
            return got
        check(proc.running(), "%s: the job exited; log:\n%s"
              % (what, tail(proc.log())))
        check(time.monotonic() < deadline,
              "%s: %d results after %d s, expected %d: %r\nlog:\n%s"
              % (what, len(got), timeout, n, got, tail(proc.log())))
        if tick:
            tick()
        time.sleep(0.2)


def case_lateness(h, b, producer):
    """Partition 2 of "late" never gets a record: without idle_timeout_ms
    the watermark would stay at its minimum and nothing would fire while
    the job runs. Partitions 0 and 1 get W0 and W1, then a record at
    T0+150s every 200 ms, so they stay active while partition 2 turns
    idle; the watermark is then T0+150s - 1 s - 1 ms."""
    part = {"api": 0, "auth": 1}
    phase1 = [rec(k, T0 + i * 9000 + 11, i, part[k])
              for i in range(13) for k in part]  # W0 and W1
    produce(b, "late", phase1, producer)
    p = h.weir_run(window_job(
        h, "late", "late", "out-l", {"type": "tumbling", "size_ms": MIN},
        source={"watermarks": {"max_out_of_orderness_ms": 1000,
                               "idle_timeout_ms": 1000}},
        op={"allowed_lateness_ms": 89_000, "on_error": "dead-letter",
            "dead_letter_topic": "dlq"}))

    def tick():
        produce(b, "late", [rec(k, T0 + 150_000, 100, part[k])
                            for k in part], producer)

    # Watermark T0+148999. W0 [T0, T0+60s) fired, and closed at
    # T0+59999+89000: exactly the watermark, the edge of too late. W1
    # fired and takes late records until T0+208999. W2 (the ticks) open.
    due = {k: v for k, v in oracle(phase1, MIN, MIN).items()}
    check_once(wait_results(b, "out-l", len(due), p, "lateness, on time",
                            tick=tick),
               due, MIN, "lateness, on time")
    # Late within the lateness (W1) and too late (W0), per key in order.
    late_ok = [rec("api", T0 + MIN + 5, 50, 0),
               rec("api", T0 + MIN + 6, 51, 0),
               rec("auth", T0 + MIN + 7, 52, 1)]
    too_late = [rec("api", T0 + 10, 60, 0), rec("auth", T0 + 20, 61, 1)]
    produce(b, "late", [late_ok[0], too_late[0], late_ok[1], too_late[1],
                        late_ok[2]], producer)
    wait_results(b, "out-l", len(due) + len(late_ok), p, "lateness, updates")
    p.signal(15)
    check_eq(p.wait(30), 0, "lateness: graceful stop")
    got = results(b, "out-l")
    check_once([g for g in got if "update" not in g[1]], due, MIN,
               "lateness, on time")
    ups = sorted((v for _, v in got if "update" in v),
                 key=lambda v: (v["key"], v["update"]))
    expect = []
    for k in sorted(part):
        vals = [r["ms"] for r in phase1 if r["svc"] == k and
                T0 + MIN <= r["ts"] < T0 + 2 * MIN]
        for n, r in enumerate([r for r in late_ok if r["svc"] == k], 1):
            vals.append(r["ms"])
            expect.append((k, n, aggregate(vals)))
    check_eq(len(ups), len(expect), "lateness: update records: %r" % ups)
    for (k, n, agg), v in zip(expect, ups):
        check_eq(v["update"], n, "lateness: update number of %s" % k)
        check_result(v, k, T0 + MIN, T0 + 2 * MIN, agg,
                     "lateness: update %d of %s" % (n, k))
    dl = consume_all(b, "dlq")
    check_eq(sorted(json.loads(m.value)["ms"] for m in dl),
             sorted(r["ms"] for r in too_late),
             "lateness: the too-late records in the dead-letter topic")
    errs = sorted(dict(m.headers).get("weir.error", b"").decode()
                  for m in dl)
    check(all("too late" in e for e in errs) and
          any("1 too-late records so far" in e for e in errs) and
          any("2 too-late records so far" in e for e in errs),
          "lateness: dead letters do not say too late with a count: %r"
          % errs)
    return len(ups)


def case_crash_rescale(h, b, producer):
    """Open windows and pending timers through a SIGKILL: phase A is all in
    W0, below its end; the job is killed once a checkpoint covers A1 and
    while it reads A2 (replayed after the restore). The restore runs the
    window with 3 tasks instead of 2; phase B adds to W0 (so its timers
    must come back from the checkpoint: a window that exists sets none)
    and fills W1 and W2, and the bounded run ends them all."""
    keys = KEYS * 2
    phase_a = [rec(k, T0 + i * 100 + 1, i) for i, k in
               enumerate(keys * 20)]
    a1, a2 = phase_a[:200], phase_a[200:]
    phase_b = [rec(k, T0 + 30_000 + i * 1000 + 3, i) for i, k in
               enumerate(keys * 10)]
    produce(b, "crash", a1, producer)

    def job(par, bounded):
        return window_job(
            h, "crash", "crash", "out-c",
            {"type": "tumbling", "size_ms": MIN},
            source={"bounded": bounded, "group_id": "wcrash"},
            op={"parallelism": par},
            sink={"delivery": "exactly-once",
                  "exactly_once": "transactions"},
            checkpoint={"dir": h.path("ck-crash")})
    p = h.weir_run(job(2, False))
    wait_caught_up(b, "crash", "wcrash", p, timeout=30)
    produce(b, "crash", a2, producer)
    p.kill()
    check_eq(results(b, "out-c"), [], "crash: results before any window "
             "was due")
    produce(b, "crash", phase_b, producer)
    p = h.weir_run(job(3, True))
    check(parse_restore(p)[0] > 0, "crash: the second run did not restore")
    check_eq(p.wait(60), 0, "crash: bounded run after the restore; log:\n%s"
             % tail(p.log()))
    want = oracle(phase_a + phase_b, MIN, MIN)
    check_once(results(b, "out-c"), want, MIN, "crash + rescale 2 -> 3")
    return len(want)


def case_validate(h):
    """De-duplication is refused for a window job with the reason and the
    ways out; validate's delivery paragraph says what each job can have;
    bad window configs are refused with their paths."""
    def job(name, ops, sink=None):
        return h.write_job(name + ".json", kafka_job(
            name, h.path("ck-" + name), "in", "out", ops,
            source={"timestamp": {"field": "ts", "format": "epoch_ms"}},
            sink=sink))
    win = {"type": "window", "key": "service",
           "window": {"type": "tumbling", "size_ms": MIN}}
    eo = {"delivery": "exactly-once"}
    r = h.weir("validate", job("dedup", [win], eo))
    check_eq(r.rc, 2, "validate window + dedup: exit code; stderr:\n%s"
             % r.err)
    check(re.search(r"sink\.delivery: exactly-once by de-duplication .*"
                    r"operators\[0\] \(window\) emits its results when "
                    r"the watermark passes .*\"transactions\".*"
                    r"\"at-least-once\"", r.err),
          "validate window + dedup: the reason and both ways out: %r"
          % r.err)
    r = h.weir("validate", job("txn", [win], dict(
        eo, exactly_once="transactions")))
    check_eq((r.rc, r.err), (0, ""), "validate window + transactions")
    check(re.search(r"^delivery: at-least-once is always possible\. "
                    r"Exactly-once by transactions is always possible too "
                    r".*de-duplication is not: operators\[0\] \(window\)"
                    r".* This job asks for exactly-once by transactions\.$",
                    r.out, re.M),
          "validate's delivery paragraph for a window job: %r" % r.out)
    r = h.weir("validate", job("filter", [{"type": "filter", "where": {
        "field": "level", "op": "eq", "value": "ERROR"}}], eo))
    check(r.rc == 0 and re.search(r"de-duplication is possible", r.out),
          "validate's delivery paragraph for a filter job: %r %r"
          % (r.out, r.err))
    bad = dict(win, window={"type": "hopping", "size_ms": MIN,
                            "slide_ms": 2 * MIN},
               aggregates=[{"fn": "avg"}, {"fn": "count", "as": "update"}],
               ttl_ms=5)
    r = h.weir("validate", job("bad", [bad]))
    for rx in (r"operators\[0\]\.window\.slide_ms: ",
               r"operators\[0\]\.aggregates\[0\]\.field: required",
               r"operators\[0\]\.aggregates\[1\]: the output name "
               r"\"update\"",
               r"operators\[0\]\.ttl_ms: not for window"):
        check(re.search(rx, r.err), "validate bad window: no /%s/ in %r"
              % (rx, r.err))
    check_eq(r.rc, 2, "validate bad window: exit code")
    # A window's state holds what its config made of the records: a
    # checkpoint is restored only by a job with the same fingerprint
    # (printed by validate), so size, lateness and aggregates are in it;
    # the output names are not.
    def fingerprint(name, **over):
        r = h.weir("validate", job(name, [dict(win, **over)]))
        m = re.search(r": ok: job \"%s\": (.*)$" % name, r.out, re.M)
        check(r.rc == 0 and m, "validate %s: %d %r %r"
              % (name, r.rc, r.out, r.err))
        return m.group(1)
    base = fingerprint("fp0", aggregates=[{"fn": "sum", "field": "ms"}])
    for name, over in (
            ("fp1", dict(window={"type": "tumbling", "size_ms": 2 * MIN},
                         aggregates=[{"fn": "sum", "field": "ms"}])),
            ("fp2", dict(allowed_lateness_ms=MIN,
                         aggregates=[{"fn": "sum", "field": "ms"}])),
            ("fp3", dict(aggregates=[{"fn": "max", "field": "ms"}])),
            ("fp4", dict(aggregates=[{"fn": "sum", "field": "bytes"}]))):
        check(fingerprint(name, **over) != base,
              "fingerprint of %s %r is that of %s" % (name, over, base))
    check_eq(fingerprint("fp5", aggregates=[
        {"fn": "sum", "field": "ms", "as": "total"}]), base,
             "fingerprint with another output name")
    # 201 / 2 rounds down to 100, but a time is in 101 such windows (0, 2,
    # ..., 200 hold 200): one more than the operator makes room for.
    r = h.weir("validate", job("hop101", [dict(win, window={
        "type": "hopping", "size_ms": 201, "slide_ms": 2})]))
    check(r.rc == 2 and re.search(
        r"operators\[0\]\.window\.slide_ms: 2 with size_ms 201: .*1 to "
        r"100 windows", r.err),
          "validate hopping 201/2 (101 windows a time): %d %r"
          % (r.rc, r.err))


def test():
    with Harness("window") as h:
        b = h.broker({"in": 3, "out-t": 1, "out-h": 1, "out-n": 1, "sess": 3,
                      "out-s": 1, "late": 3, "out-l": 1, "dlq": 1,
                      "crash": 3, "out-c": 1})
        producer = new_producer(b)
        t = time.monotonic()
        case_validate(h)
        print("ok: validate refuses de-duplication for windows, says the "
              "delivery modes of a job, and refuses bad window configs")
        nt, nh = case_tumbling_hopping(h, b, producer)
        print("ok: tumbling (%d windows) and hopping (%d), in order and "
              "out of order within the bound, and a window without key "
              "match the oracle" % (nt, nh))
        case_sessions(h, b, producer)
        print("ok: sessions merge when they overlap or touch, a bridging "
              "record included")
        nu = case_lateness(h, b, producer)
        print("ok: an idle partition does not hold windows back; %d late "
              "records within allowed_lateness_ms gave updates, 2 too "
              "late ones went to the dead-letter topic" % nu)
        nc = case_crash_rescale(h, b, producer)
        print("ok: SIGKILL with open windows, restore at parallelism 3 "
              "with transactions: %d windows, each once and right" % nc)
        producer.close(10)
        print("took %.1f s" % (time.monotonic() - t))


if __name__ == "__main__":
    main(test)
