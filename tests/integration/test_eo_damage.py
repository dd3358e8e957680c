#!/usr/bin/env python3
"""Exactly-once survives a damaged newest checkpoint.

Three rounds, one per kind of damage: while input arrives, the job
(exactly-once, checkpoint every 200 ms) is SIGKILLed after a few
checkpoints, and the newest complete checkpoint is then damaged: a state
file truncated, a bit flipped in a state file, or its _metadata removed.
On restart weir must say that checkpoint is not used and why, restore the
one before it, replay the longer stretch since then, and still write each
record exactly once (kafka-python reads the output).
"""
import glob
import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (ERROR_FILTER, BackgroundProducer, Harness, check,  # noqa: E402
                      check_eq, consume_all, is_error, kafka_job, lineage,
                      list_checkpoints, log_records, main, note,
                      parse_restore, wait_caught_up)

GROUP = "eo-damage"


def damage(ck, cid, kind):
    d = os.path.join(ck, "chk-%d" % cid)
    if kind == "metadata removed":
        os.unlink(os.path.join(d, "_metadata"))
        return
    states = sorted(glob.glob(os.path.join(d, "*.state")))
    check(states, "chk-%d has no state files" % cid)
    path = states[0]
    size = os.path.getsize(path)
    if kind == "truncated":
        os.truncate(path, size // 2)
    else:
        with open(path, "r+b") as f:
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0x10]))


def round_(kind, seed):
    with Harness("eo-damage") as h:
        h.broker({"logs": 4, "out": 4})
        ck = h.path("ck")
        job = h.write_job("job.json", kafka_job(
            "eo-damage", ck, "logs", "out", [ERROR_FILTER],
            source={"group_id": GROUP},
            sink={"delivery": "exactly-once"},
            checkpoint={"interval_ms": 200, "retain": 5}))
        records = log_records(30_000, seed, 4)
        producer = BackgroundProducer(h.brokers, "logs", records, seconds=6)
        producer.start()

        w = h.weir_run(job)
        w.wait_for_log(r"checkpoint 4 complete", timeout=60)
        time.sleep(0.1)
        w.kill()
        rows = list_checkpoints(h, ck)
        complete = [r.id for r in rows if r.status == "complete"]
        check(len(complete) >= 2, "need two complete checkpoints, have "
              "%r" % rows)
        newest, older = complete[0], complete[1]
        damage(ck, newest, kind)
        status = {r.id: r.status for r in list_checkpoints(h, ck)}
        check(status[newest].startswith("damaged") or
              status[newest].startswith("incomplete"),
              "`weir checkpoints` shows chk-%d as %r after it was %s"
              % (newest, status[newest], kind))

        w = h.weir_run(job)
        cid, _ = parse_restore(w)
        check_eq(cid, older, "checkpoint restored after chk-%d was %s"
                 % (newest, kind))
        check(w.count_log(r"checkpoint %d in \S+ is not used: " % newest)
              == 1, "the restart does not say why chk-%d is not used"
              % newest)
        producer.finish()
        wait_caught_up(h.brokers, "logs", GROUP, proc=w, timeout=90)
        check_eq(w.stop(), 0, "exit code of the graceful stop")

        expected = {(r["partition"], r["offset"]) for r in records
                    if is_error(r)}
        seen = Counter(lineage(m)[1:3] for m in consume_all(h.brokers,
                                                             "out"))
        lost = expected - set(seen)
        dups = {k: n for k, n in seen.items() if n > 1}
        check(not lost, "%s: %d records lost" % (kind, len(lost)))
        check(not dups, "%s: %d records written more than once, e.g. %s"
              % (kind, len(dups), list(dups)[:5]))
        check_eq(set(seen), expected, "output lineages")
        note("%s: chk-%d rejected, chk-%d restored, %d records exactly "
             "once" % (kind, newest, older, len(expected)))
        return newest, older


def run():
    out = []
    for i, kind in enumerate(("truncated", "bit flipped",
                              "metadata removed")):
        newest, older = round_(kind, 100 + i)
        out.append("%s chk-%d -> chk-%d" % (kind, newest, older))
    return "exactly-once after fallback: " + "; ".join(out)


if __name__ == "__main__":
    main(run)
