#!/usr/bin/env python3
"""Disk faults under checkpoints, on the real weir binary.

tests/faultfs.so is LD_PRELOADed into weir: it makes the file system
calls of the checkpoint store fail (ENOSPC, EIO) for paths matching a
pattern while an "arm" file exists (see tests/faultfs.c). One keyed count
job (exactly-once, per-user counts) runs through one broker:

- full disk on a state file's write, EIO on a state file's fsync, EIO on
  _metadata's fsync: each time that checkpoint fails with a log line
  naming the file and the error, its chk-<n> is removed, the job goes on,
  and once the fault is disarmed later checkpoints complete;
- SIGKILL, restart: the newest complete checkpoint is restored;
- every state write failing: after tolerable_failures the job stops
  (exit 1) with the documented message naming the checkpoint it resumes
  from, and a restart restores exactly that one.

kafka-python then reads the output: every user's counts are exactly
1..N, each once, N = that user's records in the input (the oracle).
"""
import json
import os
import re
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (WEIR, Harness, check, check_eq, consume_all,  # noqa: E402
                      count_outputs, end_offsets, list_checkpoints, main,
                      note, parse_restore, produce, tail, wait_caught_up)

FAULTFS = os.environ.get("FAULTFS") or os.path.join(
    os.path.dirname(os.path.abspath(WEIR)), "tests", "faultfs.so")
PARTS = 2
USERS = 300
GROUP = "disk-faults"
TOLERABLE = 3


def faultfs_env(rules):
    """The environment that loads faultfs into weir with the rules
    {name: (rule text without arm=, arm file)}. Under AddressSanitizer
    the shim comes before libasan, which ASan accepts only with
    verify_asan_link_order=0."""
    check(os.path.exists(FAULTFS), "no fault injector at %s (built as "
          "tests/faultfs.so; set $FAULTFS)" % FAULTFS)
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": FAULTFS,
            "WEIR_FAULTFS": ";".join("%s,arm=%s" % r
                                     for r in rules.values()),
            "ASAN_OPTIONS": (asan + ":" if asan else "") +
            "verify_asan_link_order=0"}


def arm(path):
    open(path, "w").close()


def disarm(path):
    os.unlink(path)


class Input:
    """Per-user records, each user on one partition (the source is
    partitioned_by user), and the oracle: records per user."""

    def __init__(self, brokers):
        self.brokers = brokers
        self.seq = 0
        self.expected = Counter()

    def send(self, n):
        recs = []
        for _ in range(n):
            u = "u%d" % (self.seq * 7919 % USERS)
            obj = {"user": u, "n": self.seq}
            recs.append({"partition": int(u[1:]) % PARTS,
                         "key": u.encode(), "headers": [],
                         "value": json.dumps(obj).encode()})
            self.expected[u] += 1
            self.seq += 1
        produce(self.brokers, "events", recs)


def completes(w, start=0):
    return [int(m) for m in re.findall(r"checkpoint (\d+) complete in",
                                       w.log()[start:])]


def fault_round(h, w, inp, what, armfile, file_rx, err_text):
    """Arms one fault, checks that the checkpoint fails with a clear line
    and the job goes on, disarms it, and waits for a later checkpoint
    covering new input."""
    start = len(w.log())
    arm(armfile)
    m = w.wait_for_log(r"checkpoint (\d+) failed: (.*) \((\d+) in a row; "
                       r"tolerable_failures is %d\)$" % TOLERABLE,
                       start=start)
    disarm(armfile)
    failed, why = int(m.group(1)), m.group(2)
    check_eq(m.group(3), "1", "%s: failures in a row" % what)
    check(re.search(file_rx, why) and why.endswith(err_text),
          "%s: the failure line does not name the file (/%s/) and the "
          "error (%s): %r" % (what, file_rx, err_text, m.group(0)))
    check(w.count_log(r"^faultfs: rule \d+: ") > 0,
          "%s: faultfs reported no injected failure" % what)
    inp.send(1000)
    wait_caught_up(inp.brokers, "events", GROUP, proc=w)
    later = [c for c in completes(w, start) if c > failed]
    check(later, "%s: no checkpoint completed after checkpoint %d failed"
          % (what, failed))
    check(not os.path.exists(h.path("ck", "chk-%d" % failed)),
          "%s: chk-%d is still there after it failed" % (what, failed))
    note("%s: checkpoint %d failed (%s), checkpoint %d completed after "
         "the fault was disarmed" % (what, failed, why, later[0]))
    return failed


def test():
    with Harness("disk-faults") as h:
        h.broker({"events": PARTS, "counts": 2})
        inp = Input(h.brokers)
        ck = h.path("ck")
        job = h.write_job("job.json", {
            "name": "disk-faults",
            "checkpoint": {"dir": ck, "interval_ms": 100, "retain": 2,
                           "tolerable_failures": TOLERABLE},
            "source": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                       "topic": "events", "parallelism": PARTS,
                       "start": "earliest", "group_id": GROUP,
                       "partitioned_by": "user",
                       "properties": {"fetch.wait.max.ms": "20"}},
            "operators": [{"type": "count", "key": "user"}],
            "sink": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                     "topic": "counts", "delivery": "exactly-once"}})
        # The keyed count's file, the exactly-once sink's, _metadata; and
        # every state file for the stop.
        count_tmp = "*/chk-*/op0-count-0.state.tmp"
        sink_tmp = "*/chk-*/sink-0.state.tmp"
        arms = {k: h.path("arm-" + k) for k in
                ("nospc", "eio", "meta", "always")}
        once = "count=1,"  # a slow poll cannot see more failures
        env = faultfs_env({
            "nospc": (once + "call=write,path=%s,errno=ENOSPC" % count_tmp,
                      arms["nospc"]),
            "eio": (once + "call=fsync,path=%s,errno=EIO" % sink_tmp,
                    arms["eio"]),
            "meta": (once + "call=fsync,path=*/chk-*/_metadata.tmp,errno=EIO",
                     arms["meta"]),
            "always": ("call=write,path=*/chk-*/*.state.tmp,errno=ENOSPC",
                       arms["always"])})

        inp.send(2000)
        w = h.weir_run(job, extra_env=env)
        wait_caught_up(h.brokers, "events", GROUP, proc=w)
        rounds = [
            fault_round(h, w, inp, "ENOSPC on the count's state write",
                        arms["nospc"],
                        r"^operators\[0\] count#0: writing "
                        r"chk-\d+/op0-count-0\.state\.tmp: ",
                        "No space left on device"),
            fault_round(h, w, inp, "EIO on the sink's state fsync",
                        arms["eio"],
                        r"^sink#0: syncing chk-\d+/sink-0\.state\.tmp: ",
                        "Input/output error"),
            fault_round(h, w, inp, "EIO on _metadata's fsync",
                        arms["meta"], r"^syncing chk-\d+/_metadata\.tmp: ",
                        "Input/output error")]

        # A crash after the faults: the newest complete checkpoint is
        # restored and its state is exact (checked on the output).
        inp.send(1000)
        start = len(w.log())
        w.wait_for_log(r"checkpoint \d+ complete in", start=start)
        w.kill()
        newest = [r.id for r in list_checkpoints(h, ck)
                  if r.status == "complete"][0]
        w = h.weir_run(job, extra_env=env)
        cid, _ = parse_restore(w)
        check_eq(cid, newest, "checkpoint restored after the SIGKILL")
        wait_caught_up(h.brokers, "events", GROUP, proc=w)

        # Every state write fails: the job stops after tolerable_failures.
        inp.send(1000)
        wait_caught_up(h.brokers, "events", GROUP, proc=w)
        last = completes(w)[-1]
        arm(arms["always"])
        rc = w.wait()
        disarm(arms["always"])
        check_eq(rc, 1, "exit code when every checkpoint write fails")
        text = w.log()
        m = re.search(r"%d checkpoints failed in a row, more than "
                      r"checkpoint\.tolerable_failures \(%d\); the last "
                      r"one: .*No space left on device\. The job stops; "
                      r"once that is resolved, start it again: it resumes "
                      r"from checkpoint (\d+), the last complete one"
                      % (TOLERABLE + 1, TOLERABLE), text)
        check(m, "no tolerable_failures message; log:\n" + tail(text))
        resume = int(m.group(1))
        check(resume >= last and resume == completes(w)[-1],
              "the stop names checkpoint %d to resume from; the last "
              "complete was %d" % (resume, completes(w)[-1]))

        inp.send(500)
        w = h.weir_run(job)
        cid, _ = parse_restore(w)
        check_eq(cid, resume, "checkpoint restored after the stop")
        wait_caught_up(h.brokers, "events", GROUP, proc=w)
        check_eq(w.stop(), 0, "exit code of the graceful stop")

        check_eq(sum(end_offsets(h.brokers, "events").values()), inp.seq,
                 "records in events")
        per_key = count_outputs(consume_all(h.brokers, "counts"))
        check_eq(set(per_key), set(inp.expected), "users in the output")
        for u, n in sorted(inp.expected.items()):
            check_eq(sorted(per_key[u]), list(range(1, n + 1)),
                     "counts of %s (exactly once each)" % u)
        return ("checkpoints %s failed (ENOSPC write, EIO fsync, EIO "
                "_metadata) and the job went on; SIGKILL restored chk-%d; "
                "all writes failing stopped it after %d, restart restored "
                "chk-%d; %d records, %d users, counts exact"
                % (rounds, newest, TOLERABLE + 1, resume, inp.seq,
                   len(inp.expected)))


if __name__ == "__main__":
    main(test)
