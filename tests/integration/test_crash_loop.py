#!/usr/bin/env python3
"""The SIGKILL loop: the proof of weir's delivery guarantees.

At least 100,000 sequence-numbered JSON records over 4 partitions arrive
while a filter job (checkpoint every 150 ms) runs; weir is SIGKILLed 22
times: some right after a checkpoint completes, some right after one is
triggered (barriers in flight, snapshots being written), the rest at
random moments; after each kill it is started again. Finally it catches up
and stops gracefully. kafka-python (not weir) then reads the output:

  exactly-once:  every expected record exactly once, and for each output
                 partition the records of each source partition in source
                 order; a restart after the graceful stop writes nothing.
  at-least-once: every expected record at least once.
  transactions:  exactly-once by Kafka transactions. The embedded broker
                 shows aborted transactions and keeps no transaction
                 markers, so on it this is checked like at-least-once:
                 every expected record at least once, nothing else, and
                 every restart that restored an open transaction says
                 whether it wrote it again.

usage: test_crash_loop.py [exactly-once|at-least-once|transactions] [SEED]
"""
import os
import random
import re
import signal
import sys
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (ERROR_FILTER, BackgroundProducer, Harness, check,  # noqa: E402
                      check_eq, consume_all, is_error, kafka_job, lineage,
                      log_records, main, note, wait_caught_up)

RECORDS = 100_000
PARTITIONS = 4
KILLS = 22
GROUP = "crash-loop"


def run(delivery, seed):
    rnd = random.Random(seed)
    sink = {"delivery": delivery, "parallelism": 2}
    if delivery == "transactions":
        sink.update(delivery="exactly-once", exactly_once="transactions")
    note("delivery %s, seed %d (rerun with: %s %s %d)"
         % (delivery, seed, sys.argv[0], delivery, seed))
    with Harness("crash-loop") as h:
        h.broker({"logs": PARTITIONS, "out": PARTITIONS})
        ck = h.path("ck")
        job = h.write_job("job.json", kafka_job(
            "crash-loop", ck, "logs", "out", [ERROR_FILTER],
            source={"group_id": GROUP},
            sink=sink,
            checkpoint={"interval_ms": 150, "retain": 2}))
        records = log_records(RECORDS, seed, PARTITIONS)
        producer = BackgroundProducer(h.brokers, "logs", records,
                                      seconds=20, chunk=2000)
        producer.start()

        debug = {"WEIR_LOG": "debug"}
        kinds = Counter()
        for k in range(KILLS):
            w = h.weir_run(job, extra_env=debug)
            # Let it restore and start.
            w.wait_for_log(r"job: .* tasks: ", timeout=60)
            kind = ("after-complete", "mid-checkpoint", "random")[k % 3]
            start = len(w.log())
            if kind == "after-complete":
                w.wait_for_log(r"checkpoint \d+ complete", timeout=60,
                               start=start)
            elif kind == "mid-checkpoint":
                w.wait_for_log(r"checkpoint \d+ triggered", timeout=60,
                               start=start)
            else:
                time.sleep(rnd.uniform(0.05, 0.8))
            check(w.running(), "weir exited before the kill (rc %s); log "
                  "tail:\n%s" % (w.p.returncode, w.log()[-3000:]))
            w.kill()
            kinds[kind] += 1

        producer.finish()
        w = h.weir_run(job)
        wait_caught_up(h.brokers, "logs", GROUP, proc=w, timeout=120)
        check_eq(w.stop(), 0, "exit code of the final graceful stop")

        out = consume_all(h.brokers, "out")
        expected = {(r["partition"], r["offset"]) for r in records
                    if is_error(r)}
        seen = Counter()
        order = defaultdict(lambda: -1)
        for m in out:
            _, sp, off, _ = lineage(m)
            seen[(sp, off)] += 1
            if delivery == "exactly-once":
                key = (m.partition, sp)
                check(off > order[key],
                      "output partition %d: source partition %d offset %d "
                      "comes after offset %d (order broken)"
                      % (m.partition, sp, off, order[key]))
                order[key] = off
        lost = expected - set(seen)
        extra = set(seen) - expected
        dups = sum(n - 1 for n in seen.values() if n > 1)
        check(not lost, "%d expected records are missing, e.g. %s"
              % (len(lost), sorted(lost)[:5]))
        check(not extra, "%d output records match no expected input, "
              "e.g. %s" % (len(extra), sorted(extra)[:5]))
        if delivery == "exactly-once":
            check(dups == 0, "%d duplicates, e.g. %s" % (dups, [
                k for k, n in seen.items() if n > 1][:5]))
            # After a graceful stop nothing is replayed.
            w = h.weir_run(job)
            w.wait_for_log(r"checkpoint \d+ complete", timeout=60)
            check_eq(w.stop(), 0, "exit code after the idle restart")
            check_eq(len(consume_all(h.brokers, "out")), len(out),
                     "output records after a restart that had nothing "
                     "to do")
        if delivery == "transactions":
            recovered = 0
            for i in range(2, KILLS + 2):
                text = open(h.path("weir-run-%d.log" % i)).read()
                kept = [int(n) for n in re.findall(
                    r"restored checkpoint \d+ with (\d+) record", text)]
                opened = sum(1 for n in kept if n > 0)
                said = len(re.findall(r"transaction (?:was not committed"
                                      r"|\(\d+ record\(s\)\) was "
                                      r"committed)", text))
                # A kill may land between restoring a transaction and
                # resolving it; the run that went on to the end must have
                # resolved every one.
                if i == KILLS + 1:
                    check_eq(said, opened, "final run: open transactions "
                             "restored vs. resolved")
                else:
                    check(said <= opened, "run %d resolved %d transactions "
                          "but restored only %d" % (i, said, opened))
                recovered += said
            note("%d open transactions restored and resolved over %d "
                 "restarts" % (recovered, KILLS))
        scans = [l for l in open(h.path("weir-run-%d.log" % (KILLS + 1)))
                 if "exactly-once: read" in l]
        return ("%d records in, %d expected, %d out, 0 lost, %d duplicates "
                "after %d SIGKILLs (%s)%s"
                % (len(records), len(expected), len(out), dups, KILLS,
                   ", ".join("%d %s" % (n, k) for k, n in kinds.items()),
                   "; " + scans[0].split(": ", 2)[2].strip() if scans
                   else ""))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "exactly-once"
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else random.randrange(1 << 30)
    main(lambda: run(mode, seed))
