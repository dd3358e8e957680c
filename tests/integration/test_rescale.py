#!/usr/bin/env python3
"""Keyed state follows its keys to another parallelism, from a chain of
incremental checkpoint files.

The job is keyed_chain.py's (filter, dedup with ttl_ms, count and the
windows test plugin, which deletes a key's state whenever a window
closes), its keyed operators with parallelism A, while input arrives. It
is SIGKILLed after a few checkpoints, and started again with parallelism
A: that run's first checkpoint writes a base of what it restored, and its
next ones deltas. It is SIGKILLed after three more, and the test checks
in _metadata that the newest checkpoint lists, for every keyed task, a
base that holds state and at least 3 deltas, and that the input between
the base and it deleted keys (windows that closed with their user's last
record in that span), so that the deltas carry tombstones. Then the job
is restored from that checkpoint with parallelism B, catches up and
stops. Done for 3 -> 2 and 2 -> 3. The output (at-least-once) must hold
every expected output, each with the value a straight run computes, and
nothing else: which only holds if every key's state, and every deletion,
moved to the task that owns the key now.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keyed_chain  # noqa: E402
from plugintest import plugin  # noqa: E402
from weirtest import (BackgroundProducer, Harness, check,  # noqa: E402
                      check_eq, consume_all, kafka_job, main, parse_restore,
                      wait_caught_up)

GROUP = "rescale"
KEYED = ("dedup", "count", "windows")


def read_meta(ck, cid):
    with open(os.path.join(ck, "chk-%d" % cid, "_metadata")) as f:
        return json.load(f)


def check_chains(ck, cid, par, restored):
    """Every keyed task of checkpoint cid lists a base and at least 3
    deltas holding state, some of them written by the run that restored
    checkpoint `restored` (it went on from the restored chain). Returns
    the base's checkpoint id and the fewest deltas of a task."""
    tasks = [t for t in read_meta(ck, cid)["tasks"]
             if any("-%s-" % op in t["task"] for op in KEYED)]
    check_eq(len(tasks), len(KEYED) * par, "keyed tasks in chk-%d/_metadata"
             % cid)
    bases, fewest = set(), None
    for t in tasks:
        files = [f["file"] for f in t.get("chain", [])]
        where = "chk-%d/_metadata, task %s: chain %s" % (cid, t["task"],
                                                         files)
        m = re.match(r"^%s\.b(\d+)$" % re.escape(t["task"]),
                     files[0] if files else "")
        check(m, where + ": no base first")
        check(sum(f["raw"] for f in t["chain"]) > 1000, where + ": the "
              "chain holds %d bytes, not the state restored"
              % sum(f["raw"] for f in t["chain"]))
        deltas = [int(f.rsplit(".d", 1)[1]) for f in files[1:]
                  if re.match(r"^%s\.d\d+$" % re.escape(t["task"]), f)]
        check(int(m.group(1)) > restored or
              any(d > restored for d in deltas),
              where + ": nothing written after checkpoint %d was restored"
              % restored)
        check(len(deltas) == len(files) - 1 and len(deltas) >= 3 and
              deltas == sorted(deltas) and deltas[0] > int(m.group(1)),
              where + ": expected at least 3 deltas after the base, in "
              "order")
        bases.add(int(m.group(1)))
        fewest = len(deltas) if fewest is None else min(fewest, len(deltas))
    check_eq(len(bases), 1, "checkpoints of the keyed tasks' bases")
    return bases.pop(), fewest


def chains_ready(ck, cid, par, restored):
    """Whether checkpoint cid's keyed tasks all have a chain of a base
    and at least 3 deltas, one written after `restored`."""
    try:
        tasks = [t for t in read_meta(ck, cid)["tasks"]
                 if any("-%s-" % op in t["task"] for op in KEYED)]
    except OSError:
        return False
    if len(tasks) != len(KEYED) * par:
        return False
    for t in tasks:
        chain = t.get("chain", [])
        if len(chain) < 4 or not any(
                int(f["file"].rsplit(".", 1)[1][1:]) > restored
                for f in chain):
            return False
    return True


def rescale(a, b, seed):
    with Harness("rescale") as h:
        h.broker({"logs": 4, "out": 4})
        ck = h.path("ck")
        lib = plugin(h, "WINDOWS_PLUGIN")

        def job(par):
            # No materialization: the chain grows by a delta per
            # checkpoint. Retention keeps the base's _metadata.
            return h.write_job("job-%d.json" % par, kafka_job(
                "rescale", ck, "logs", "out",
                keyed_chain.operators(lib, par),
                source={"group_id": GROUP,
                        "watermarks": keyed_chain.WATERMARKS},
                checkpoint={"interval_ms": 150, "retain": 10,
                            "materialize_delta_pct": 100000}))

        records = keyed_chain.records(20_000, seed, 4, users=500)
        producer = BackgroundProducer(h.brokers, "logs", records, seconds=4)
        producer.start()
        w = h.weir_run(job(a))
        w.wait_for_log(r"checkpoint 3 complete", timeout=60)
        w.kill()

        w = h.weir_run(job(a))
        first, _ = parse_restore(w)
        check(first >= 3, "the restart with parallelism %d restored "
              "checkpoint %d, not 3 or later" % (a, first))
        # Checkpoints until every keyed task's chain has 3 deltas after
        # its base (an early materialization may start one anew).
        start, cid = 0, None
        for _ in range(40):
            m = w.wait_for_log(r"checkpoint (\d+) complete", timeout=60,
                               start=start)
            start = m.end()
            if chains_ready(ck, int(m.group(1)), a, first):
                cid = int(m.group(1))
                break
        check(cid, "no checkpoint whose keyed chains have 3 deltas")
        w.kill()
        # The newest checkpoint, which the next run restores (one may have
        # completed before the kill), read before the next run's
        # retention takes its base's _metadata.
        cid = max(int(d[4:]) for d in os.listdir(ck) if d.startswith("chk-")
                  and os.path.exists(os.path.join(ck, d, "_metadata")))
        base, fewest = check_chains(ck, cid, a, first)
        offsets = [{int(p): o for p, o in
                    read_meta(ck, c)["offsets"]["logs"].items()}
                   for c in (base, cid)]

        w = h.weir_run(job(b))
        check_eq(parse_restore(w)[0], cid, "checkpoint restored with "
                 "parallelism %d" % b)
        w.wait_for_log(r"moving keyed state from %d task\(s\) to %d"
                       % (a, b))
        producer.finish()
        wait_caught_up(h.brokers, "logs", GROUP, proc=w, timeout=90)
        check_eq(w.stop(), 0, "exit code of the graceful stop")

        want = keyed_chain.expected(records)
        deleted = keyed_chain.deletions(want, *offsets)
        check(deleted, "no window closed between checkpoints %d and %d: "
              "the deltas hold no tombstones" % (base, cid))
        dups = keyed_chain.check_outputs(consume_all(h.brokers, "out"),
                                         want, "logs", False)
        return ("%d -> %d from checkpoint %d (base %d + at least %d deltas "
                "per task, %d keys deleted in them): %d outputs exact, %d "
                "replayed" % (a, b, cid, base, fewest, len(deleted),
                              len(want), dups))


def run():
    return "; ".join([rescale(3, 2, 11), rescale(2, 3, 12)])


if __name__ == "__main__":
    main(run)
