#!/usr/bin/env python3
"""The SIGKILL loop: the proof of weir's delivery guarantees.

At least 100,000 sequence-numbered JSON records of 4,000 users over 4
partitions arrive while a job with keyed state runs (keyed_chain.py: a
filter, dedup with ttl_ms, count, and the windows test plugin, which
deletes a key's state whenever a window closes), with a checkpoint every
150 ms, incremental: a base and deltas, and a new base materialized in
the background whenever the deltas since the last one outweigh 20% of it
(and weir's floor of 64 KiB). weir is SIGKILLed 22 times, in turn: right
after the first to fourth checkpoint of the run completes (a run's first
writes a base, the next ones deltas), right after the first to fourth one
is triggered (barriers in flight, snapshots being written), right after a
materialization starts (one takes a few ms, so only some of these land
inside it; the test counts the kills that did), and at a random moment.
After each kill it is started again. Finally it catches up and stops
gracefully. kafka-python (not weir) then reads the output, where each
record that passed dedup has one output whose value depends on the state
of dedup, count and windows for its user:

  exactly-once:  every expected output exactly once with its expected
                 value, and for each output partition the records of
                 each source partition in source order; a restart after
                 the graceful stop writes nothing.
  at-least-once: every expected output at least once, each with its
                 expected value, and nothing else.
  transactions:  exactly-once by Kafka transactions. The embedded broker
                 shows aborted transactions and keeps no transaction
                 markers, so on it this is checked like at-least-once,
                 and every restart that restored an open transaction says
                 whether it wrote it again.

The keyed operators have parallelism 1 for exactly-once (it needs that)
and 2 otherwise. The test fails when fewer than MIN_MATERIALIZED
materializations were adopted in all: then the loop no longer tests what
it is for.

usage: test_crash_loop.py [exactly-once|at-least-once|transactions] [SEED]
"""
import os
import random
import re
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keyed_chain  # noqa: E402
from plugintest import plugin  # noqa: E402
from weirtest import (BackgroundProducer, Harness, check,  # noqa: E402
                      check_eq, consume_all, end_offsets, kafka_job, main,
                      note, wait_caught_up)

RECORDS = 100_000
PARTITIONS = 4
USERS = 4000
KILLS = 22
GROUP = "crash-loop"
KINDS = ("after-complete", "mid-checkpoint", "random", "materializing")
MIN_MATERIALIZED = 10

MAT_START = re.compile(r"(\S+): materializing keyed state of checkpoint "
                       r"(\d+)$", re.M)


def wait_materializing(w, start, timeout=30):
    """Waits until a materialization starts after byte `start` of the
    log, polling it every millisecond (wait_for_log polls every 50: a
    materialization can be over by then); False if weir exits or the time
    is up first."""
    deadline = time.monotonic() + timeout
    with open(w.log_path, "rb") as f:
        f.seek(start)
        text = ""
        while time.monotonic() < deadline and w.running():
            text += f.read().decode("utf-8", "replace")
            if MAT_START.search(text):
                return True
            time.sleep(0.001)
    return False


def unfinished_materializations(log):
    """The (task, checkpoint) materializations a log shows started but
    neither adopted, dropped nor failed: where the kill landed."""
    out = []
    for m in MAT_START.finditer(log):
        task, cid = m.group(1), m.group(2)
        done = re.compile(r"%s: materializ(ed|ing) keyed state of checkpoint "
                          r"%s(:| is not used| failed)" % (re.escape(task),
                                                          cid))
        if not done.search(log, m.end()):
            out.append((task, int(cid)))
    return out


def run(delivery, seed):
    rnd = random.Random(seed)
    sink = {"delivery": delivery, "parallelism": 2}
    if delivery == "transactions":
        sink.update(delivery="exactly-once", exactly_once="transactions")
    exactly_once = delivery == "exactly-once"
    note("delivery %s, seed %d (rerun with: %s %s %d)"
         % (delivery, seed, sys.argv[0], delivery, seed))
    with Harness("crash-loop") as h:
        h.broker({"logs": PARTITIONS, "out": PARTITIONS})
        ck = h.path("ck")
        lib = plugin(h, "WINDOWS_PLUGIN")
        source = {"group_id": GROUP, "watermarks": keyed_chain.WATERMARKS}
        if exactly_once:
            source["partitioned_by"] = "key"
        job = h.write_job("job.json", kafka_job(
            "crash-loop", ck, "logs", "out",
            keyed_chain.operators(lib, 1 if exactly_once else 2),
            source=source, sink=sink,
            checkpoint={"interval_ms": 150, "retain": 2,
                        "materialize_delta_pct": 20}))
        records = keyed_chain.records(RECORDS, seed, PARTITIONS, USERS)
        producer = BackgroundProducer(h.brokers, "logs", records,
                                      seconds=20, chunk=2000)
        producer.start()

        debug = {"WEIR_LOG": "debug"}
        kinds = Counter()
        landed = []
        for k in range(KILLS):
            w = h.weir_run(job, extra_env=debug)
            # Let it restore and start.
            w.wait_for_log(r"job: .* tasks: ", timeout=60)
            kind = KINDS[k % len(KINDS)]
            start = len(w.log())
            if kind in ("after-complete", "mid-checkpoint"):
                # The first checkpoint of a run writes a base; later ones
                # write deltas.
                for _ in range(rnd.randint(1, 4)):
                    start = w.wait_for_log(
                        r"checkpoint \d+ %s" % ("complete"
                                                if kind == "after-complete"
                                                else "triggered"),
                        timeout=60, start=start).end()
            elif kind == "materializing":
                if not wait_materializing(w, os.path.getsize(w.log_path)):
                    kind = "materializing (none started)"
            else:
                time.sleep(rnd.uniform(0.05, 0.8))
            check(w.running(), "weir exited before the kill (rc %s); log "
                  "tail:\n%s" % (w.p.returncode, w.log()[-3000:]))
            w.kill()
            kinds[kind] += 1
            landed += unfinished_materializations(w.log())

        producer.finish()
        w = h.weir_run(job)
        wait_caught_up(h.brokers, "logs", GROUP, proc=w, timeout=120)
        check_eq(w.stop(), 0, "exit code of the final graceful stop")

        logs = [open(h.path("weir-run-%d.log" % i)).read()
                for i in range(1, KILLS + 2)]
        materialized = sum(len(re.findall(
            r": materialized keyed state of checkpoint \d+:", t))
            for t in logs)
        note("%d materializations adopted; %d kills landed during one "
             "(%s)" % (materialized, len(landed), landed))
        check(materialized >= MIN_MATERIALIZED, "only %d materializations "
              "were adopted over the loop, fewer than %d: the loop no "
              "longer tests checkpoints during materializations"
              % (materialized, MIN_MATERIALIZED))

        out = consume_all(h.brokers, "out")
        want = keyed_chain.expected(records)
        dups = keyed_chain.check_outputs(out, want, "logs", exactly_once)
        if exactly_once:
            # After a graceful stop nothing is replayed.
            w = h.weir_run(job)
            w.wait_for_log(r"checkpoint \d+ complete", timeout=60)
            check_eq(w.stop(), 0, "exit code after the idle restart")
            check_eq(sum(end_offsets(h.brokers, "out").values()),
                     len(out), "output records after a restart that had "
                     "nothing to do")
        if delivery == "transactions":
            recovered = 0
            for i in range(2, KILLS + 2):
                text = logs[i - 1]
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
        scans = [l for l in logs[-1].split("\n")
                 if "exactly-once: read" in l]
        return ("%d records in, %d expected, %d out, 0 lost, %d duplicates "
                "after %d SIGKILLs (%s), %d of them during a "
                "materialization; %d materializations adopted%s"
                % (len(records), len(want), len(out), dups, KILLS,
                   ", ".join("%d %s" % (n, k) for k, n in kinds.items()),
                   len(landed), materialized,
                   "; " + scans[0].split(": ", 2)[2].strip() if scans
                   else ""))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "exactly-once"
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else random.randrange(1 << 30)
    main(lambda: run(mode, seed))
