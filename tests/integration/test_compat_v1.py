"""A checkpoint directory written by the weir before incremental checkpoints
(commit d9e6f38: state files and _metadata of format 1, keyed state inside
each count task's own file) restores with this weir.

The fixture (tests/fixtures/compat-count-v1, made as tests/fixtures/
README.md says) is a generator -> count keyed by service (parallelism 2)
-> Kafka job stopped after 400 records per partition. The test runs the
same job, bounded at 1000 and then at 1500 records per partition, on a copy
of it, and reads the output with kafka-python.

Checks:
- the fixture is of the old format (so the test tests what it says);
- the first run restores its final checkpoint (chk-2, offsets 400/400),
  and for every key the counts written are exactly restored+1 .. total,
  each once, computed from the generator's records (the same formula as
  connectors/generator.c);
- every checkpoint this weir writes lists a "chain" for both count tasks,
  the first one a base;
- a second run restores the chain the first one wrote and continues the
  counts as exactly.
"""

import json
import os
import shutil
import struct

from weirtest import (Harness, check, check_eq, consume_all, count_outputs,
                      main, note, parse_restore, tail)

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "fixtures", "compat-count-v1")
PARTS = 2
OLD = 400  # records per partition in the fixture's final checkpoint
COUNT_TASKS = ("op0-count-0", "op0-count-1")


def service(partition, seq):
    """The generator's "service" of record seq of a partition."""
    h = (seq * 2654435761 + partition) & ((1 << 64) - 1)
    return "svc-%d" % (h % 13)


def counts_upto(n):
    """{service: records among seq < n of every partition}."""
    out = {}
    for p in range(PARTS):
        for seq in range(n):
            k = service(p, seq)
            out[k] = out.get(k, 0) + 1
    return out


def job(ck, count):
    # As the fixture's job (name and graph must match), with more input.
    return {
        "name": "compat-count",
        "checkpoint": {"dir": ck, "interval_ms": 0, "retain": 10},
        "source": {"type": "generator", "partitions": PARTS,
                   "count": count},
        "operators": [{"type": "count", "key": "service",
                       "parallelism": 2}],
        "sink": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                 "topic": "counts"},
    }


def meta_of(ck, cid):
    with open(os.path.join(ck, "chk-%d" % cid, "_metadata")) as f:
        return json.load(f)


def chk_ids(ck):
    return sorted(int(d[4:]) for d in os.listdir(ck)
                  if d.startswith("chk-"))


def check_fixture_is_v1(ck):
    m = meta_of(ck, 2)
    check_eq(m["format"], 1, "the fixture's _metadata format")
    for t in m["tasks"]:
        check("chain" not in t, "the fixture lists a chain: %r" % t)
        with open(os.path.join(ck, "chk-2", t["file"]), "rb") as f:
            head = f.read(12)
        check_eq(head[:8], b"WEIRSTAT", "magic of fixture's %s" % t["file"])
        check_eq(struct.unpack("<I", head[8:12])[0], 1,
                 "format version of fixture's %s" % t["file"])


def run_to(h, ck, count, want_restored):
    w = h.weir_run(h.write_job("job-%d.json" % count, job(ck, count)))
    cid, offsets = parse_restore(w)
    check_eq(cid, want_restored, "checkpoint restored (log:\n%s\n)"
             % tail(w.log()))
    rc = w.wait()
    check(rc == 0, "bounded run to %d exited %d; log:\n%s"
          % (count, rc, tail(w.log())))
    return offsets


def check_counts(msgs, start, end, what):
    """Per service the counts written are exactly those of its records
    with start <= seq < end: restored+1 .. total, each once."""
    before, after = counts_upto(start), counts_upto(end)
    per_key = count_outputs(msgs)
    for k in sorted(after):
        want = list(range(before.get(k, 0) + 1, after[k] + 1))
        got = sorted(per_key.get(k, []))
        check(got == want, "%s: counts of %s are %s ... %s (%d), expected "
              "%d .. %d (%d)" % (what, k, got[:3], got[-3:], len(got),
                                 want[0] if want else 0,
                                 want[-1] if want else 0, len(want)))
    check(set(per_key) <= set(after), "%s: unknown keys %r"
          % (what, sorted(set(per_key) - set(after))))


def test():
    with Harness("compat-v1") as h:
        h.broker({"counts": 2})
        ck = h.path("ck")
        shutil.copytree(FIXTURE, ck)
        check_fixture_is_v1(ck)

        offsets = run_to(h, ck, 1000, 2)
        check_eq(offsets, {"generator": {0: OLD, 1: OLD}},
                 "offsets restored from the fixture")
        first = consume_all(h.brokers, "counts")
        check_counts(first, OLD, 1000, "after the old checkpoint")

        new = [i for i in chk_ids(ck) if i > 2]
        check(new, "the run wrote no checkpoint: %r" % chk_ids(ck))
        for cid in new:
            m = meta_of(ck, cid)
            check_eq(m["format"], 2, "chk-%d's _metadata format" % cid)
            chains = {t["task"]: [c["file"] for c in t.get("chain", [])]
                      for t in m["tasks"]}
            for task in COUNT_TASKS:
                check(chains.get(task), "chk-%d lists no chain for %s: %r"
                      % (cid, task, m["tasks"]))
                if cid == new[0]:
                    check_eq(chains[task], ["%s.b%d" % (task, cid)],
                             "chain of %s in the first new checkpoint"
                             % task)

        run_to(h, ck, 1500, new[-1])
        msgs = consume_all(h.brokers, "counts")
        seen = {(m.partition, m.offset) for m in first}
        check_counts([m for m in msgs if (m.partition, m.offset) not in seen],
                     1000, 1500, "after the chain")
        check_counts(msgs, OLD, 1500, "both runs")
        note("restored format 1 chk-2, wrote chk-%s with chains, then "
             "restored chk-%d" % ("/".join(map(str, new)), new[-1]))
        return ("a format-1 checkpoint of weir d9e6f38 restored: %d then "
                "%d count records exact from the restored counts; new "
                "checkpoints are chains (first one a base), restored "
                "again exactly" % (len(first), len(msgs) - len(first)))


if __name__ == "__main__":
    main(test)
