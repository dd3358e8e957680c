"""Damaged chain files of incremental checkpoints.

A Kafka job counting records per user (count keyed by "user", the source
partitioned by it, exactly-once output by de-duplication) runs with a
checkpoint every 100 ms, "materialize_delta_pct" so high that every
checkpoint of the run builds on one base, and retain 5; input arrives in
small chunks, and the job is SIGKILLed while it does, once several
checkpoints with new records have completed. The retained checkpoints then
share one base and differ in their deltas.

Each case copies that directory and damages one file, truncated to half or
with one bit flipped in the middle of its payload (nothing resealed):
- a delta the newest checkpoint lists but an older retained one does not:
  the run logs "checkpoint N in DIR is not used: damaged: shared/<file>:
  ..." for each checkpoint listing it and restores the newest one that
  does not;
- a delta every retained checkpoint lists, and the base: every checkpoint
  is reported so, and the run refuses (exit 1) naming the file and saying
  what to do, and leaves the directory as it was;
- the newest checkpoint's _metadata: the one before it is restored (a flip
  that lands in a field restore does not use, such as a time, restores the
  newest).
`weir checkpoints` shows each checkpoint that lists the damaged file as
damaged with that file's name, the others complete.

Where the job runs, it runs on a broker of its own holding the input and
the killed run's output exactly as they were (same partitions, offsets and
headers), bounded to the end of the input. kafka-python then reads the
whole output: one record per input record, never two, and each count is
the number of that user's records up to it (all of a user's records are in
one partition), i.e. exact output through the fallback.
"""

import json
import os
import re
import shutil
import time

from kafka import TopicPartition

from weirtest import (Harness, check, check_eq, consume_all, consumer,
                      end_offsets,
                      kafka_job, lineage, list_checkpoints, main,
                      new_producer, note, parse_restore, produce, tail,
                      START_TIMEOUT)

PARTS = 2
USERS = 40
CHUNK = 40
TOTAL = 2400
GROUP = "chain-damage"
TASK = "op0-count-0"
HDR, TRAILER = 32, 16  # a state file's header and trailer (format 2)


def records():
    """TOTAL records; user u<i> is always in partition i % PARTS."""
    out = []
    for i in range(TOTAL):
        u = (i * 7 + i // 13) % USERS
        user = "u%d" % u
        out.append({"partition": u % PARTS, "key": user.encode(),
                    "value": json.dumps({"user": user, "n": i},
                                        separators=(",", ":")).encode(),
                    "headers": [], "user": user})
    return out


def job_for(h, ck, bounded):
    return h.write_job("job-%s.json" % os.path.basename(ck), kafka_job(
        "chain-damage", ck, "in", "out",
        [{"type": "count", "key": "user"}],
        source={"bounded": bounded, "partitioned_by": "user",
                "group_id": GROUP},
        sink={"delivery": "exactly-once"},
        checkpoint={"interval_ms": 100, "retain": 5,
                    "materialize_delta_pct": 100000}))


def meta_of(ck, cid):
    with open(os.path.join(ck, "chk-%d" % cid, "_metadata")) as f:
        return json.load(f)


def chain_of(meta):
    for t in meta["tasks"]:
        if t["task"] == TASK:
            check("chain" in t, "chk-%d lists no chain for %s: %r"
                  % (meta["id"], TASK, t))
            return [c["file"] for c in t["chain"]]
    raise AssertionError("chk-%d has no %s" % (meta["id"], TASK))


def committed(c):
    return sum(c.committed(TopicPartition("in", p)) or 0
               for p in range(PARTS))


def make_checkpoints(h, recs):
    """Runs the job while the input arrives, a chunk at a time, each once
    the checkpoint that took the one before has completed; SIGKILLs it
    after 7 such chunks, once part of an 8th is in the output. Returns the
    directory and the killed run's output."""
    ck = h.path("ck")
    w = h.weir_run(job_for(h, ck, False))
    parse_restore(w)
    prod = new_producer(h.brokers)
    c = consumer(h.brokers, group_id=GROUP)
    try:
        sent = 0
        for _ in range(7):
            produce(h.brokers, "in", recs[sent:sent + CHUNK], producer=prod)
            sent += CHUNK
            deadline = time.monotonic() + START_TIMEOUT
            while committed(c) < sent:
                check(time.monotonic() < deadline and w.running(),
                      "the job did not checkpoint %d records; log:\n%s"
                      % (sent, tail(w.log())))
                time.sleep(0.02)
        # One more chunk: killed once some of its output is written, so
        # the restored run finds output after its checkpoint.
        produce(h.brokers, "in", recs[sent:sent + CHUNK], producer=prod)
        sent += CHUNK
        deadline = time.monotonic() + START_TIMEOUT
        while sum(end_offsets(h.brokers, "out").values()) <= sent - CHUNK:
            check(time.monotonic() < deadline and w.running(),
                  "the job wrote no output for records %d..; log:\n%s"
                  % (sent - CHUNK, tail(w.log())))
            time.sleep(0.01)
        w.kill()
        note("killed after %d of %d records" % (sent, TOTAL))
        produce(h.brokers, "in", recs[sent:], producer=prod)
    finally:
        c.close()
        prod.close(10)
    return ck, consume_all(h.brokers, "out")


def damage(path, how):
    size = os.path.getsize(path)
    if how == "truncated":
        os.truncate(path, size // 2)
        return
    # The middle of the payload: of the lz4 frame in a state file, of the
    # text in _metadata.
    at = size // 2 if path.endswith("_metadata") else \
        HDR + (size - HDR - TRAILER) // 2
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)[0]
        f.seek(at)
        f.write(bytes([b ^ 0x10]))


def harmless_meta_flip(before, path):
    """Whether the flipped _metadata still reads as before but for fields
    restore does not use (times, the readable offsets)."""
    try:
        with open(path) as f:
            after = json.load(f)
    except ValueError:
        return False
    for k in ("triggered_at", "completed_at", "completed_at_utc",
              "offsets"):
        before.pop(k, None)
        after.pop(k, None)
    return before == after


def check_output(msgs, recs, what):
    """Exactly one output per input record, with its exact count."""
    rank, want = {}, {}
    for r in recs:
        rank[r["user"]] = rank.get(r["user"], 0) + 1
        want[(r["partition"], r["offset"])] = (r["user"], rank[r["user"]])
    got = {}
    for m in msgs:
        _, p, o, _ = lineage(m)
        check((p, o) not in got, "%s: in[%d]@%d is in the output twice"
              % (what, p, o))
        v = json.loads(m.value)
        got[(p, o)] = (v["key"], v["count"])
    missing = sorted(set(want) - set(got))
    check(not missing, "%s: %d input records have no output, e.g. %r"
          % (what, len(missing), missing[:5]))
    wrong = [(k, got[k], want[k]) for k in sorted(got) if got[k] != want[k]]
    check(not wrong, "%s: %d counts are wrong, e.g. (in, got, want) %r"
          % (what, len(wrong), wrong[:5]))
    check_eq(len(got), len(want), what + ": output records")


def replay_broker(h, recs, out):
    """A new broker with the input and the killed run's output as they
    were, at the same offsets."""
    h.broker_proc.kill()
    h.broker({"in": PARTS, "out": PARTS})
    copy = [dict(r) for r in recs]
    produce(h.brokers, "in", copy)
    check([r["offset"] for r in copy] == [r["offset"] for r in recs],
          "the input copy landed at other offsets")
    outs = [{"partition": m.partition, "key": m.key, "value": m.value,
             "headers": m.headers} for m in out]
    produce(h.brokers, "out", outs)
    check([o["offset"] for o in outs] == [m.offset for m in out],
          "the output copy landed at other offsets")


def run_case(h, good, retained, chains, recs, out, n, target, how):
    ck = h.path("case-%d" % n)
    # The control socket the killed job left is no file to copy.
    shutil.copytree(good, ck, ignore=shutil.ignore_patterns("weir.sock"))
    newest = retained[-1]
    if target == "meta":
        path = os.path.join(ck, "chk-%d" % newest, "_metadata")
        rel = "chk-%d/_metadata" % newest
        before = meta_of(ck, newest)
    else:
        path = os.path.join(ck, "shared", target)
        rel = "shared/" + target
    damage(path, how)
    what = "%s %s" % (rel, how)

    if target == "meta":
        listing = {} if harmless_meta_flip(before, path) else {newest}
    else:
        listing = {c for c in retained if target in chains[c]}
    usable = [c for c in retained if c not in listing]
    status = {r.id: r.status for r in list_checkpoints(h, ck)}
    for c in retained:
        if c not in listing:
            check_eq(status[c], "complete", "%s: status of chk-%d" % (what, c))
            continue
        check(status[c].startswith("damaged: " + rel + ": "),
              "%s: `weir checkpoints` shows chk-%d as %r" % (what, c,
                                                            status[c]))

    job = job_for(h, ck, True)
    if not usable:
        shared = sorted(os.listdir(os.path.join(ck, "shared")))
        r = h.weir("run", job)
        check_eq(r.rc, 1, "%s: exit code of a run with no usable "
                 "checkpoint; stderr:\n%s" % (what, tail(r.err)))
        for c in retained:
            check(re.search(r"checkpoint %d in \S+ is not used: damaged: "
                            r"%s: " % (c, re.escape(rel)), r.err),
                  "%s: chk-%d is not reported as damaged by %s:\n%s"
                  % (what, c, rel, tail(r.err)))
        # The last line says which file, and what to do about it.
        last = r.err.strip().split("\n")[-1]
        check(re.search(r"no checkpoint in \S+ can be restored: every "
                        r"complete one needs %s, which is damaged"
                        % re.escape(rel), last) and
              "Put back an intact copy" in last and
              "move the directory aside" in last,
              "%s: the refusal does not name the file and what to do:\n%s"
              % (what, tail(r.err)))
        check_eq(sorted(os.listdir(os.path.join(ck, "shared"))), shared,
                 "%s: shared/ after the refused run" % what)
        return "%s: refused" % what, last

    replay_broker(h, recs, out)
    w = h.weir_run(job)
    cid, _ = parse_restore(w)
    check_eq(cid, usable[-1], "%s: checkpoint restored" % what)
    for c in sorted(listing):
        check(w.count_log(r"checkpoint %d in \S+ is not used: damaged: "
                          r"%s: " % (c, re.escape(rel))) == 1,
              "%s: the run does not say chk-%d is damaged by %s:\n%s"
              % (what, c, rel, tail(w.log())))
    check_eq(w.wait(), 0, "%s: exit code of the bounded run; log:\n%s"
             % (what, tail(w.log())))
    check_output(consume_all(h.brokers, "out"), recs, what)
    return "%s: chk-%d restored" % (what, cid), None


def test():
    with Harness("chain-damage") as h:
        h.broker({"in": PARTS, "out": PARTS})
        recs = records()
        good, out = make_checkpoints(h, recs)

        rows = list_checkpoints(h, good)
        retained = sorted(r.id for r in rows if r.status == "complete")
        check(len(retained) >= 3, "need 3 complete checkpoints: %r"
              % (rows,))
        chains = {c: chain_of(meta_of(good, c)) for c in retained}
        newest, oldest = retained[-1], retained[0]
        base = chains[newest][0]
        check(all(chains[c][0] == base for c in retained),
              "the retained checkpoints do not share one base: %r" % chains)
        only_newest = [f for f in chains[newest][1:]
                       if any(f not in chains[c] for c in retained)]
        common = [f for f in chains[oldest][1:]
                  if all(f in chains[c] for c in retained)]
        check(only_newest and common, "the retained chains do not differ "
              "in their deltas as the test needs: %r" % chains)
        note("retained %r, chains %s" % (retained, {
            c: "%s + %d deltas" % (chains[c][0], len(chains[c]) - 1)
            for c in retained}))

        targets = [only_newest[-1], common[-1], base, "meta"]
        done, refusal = [], None
        n = 0
        for target in targets:
            for how in ("truncated", "bit flipped"):
                n += 1
                line, last = run_case(h, good, retained, chains, recs, out,
                                      n, target, how)
                done.append(line)
                refusal = refusal or last
                note(line)
        note("a refusal ends with: %s" % refusal)
        return "; ".join(done)


if __name__ == "__main__":
    main(test)
