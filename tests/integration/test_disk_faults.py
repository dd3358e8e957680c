#!/usr/bin/env python3
"""Disk faults under checkpoints, and the files of incremental ones, on
the real weir binary.

tests/faultfs.so is LD_PRELOADed into weir: it makes the file system
calls of the checkpoint store fail (ENOSPC, EIO) for paths matching a
pattern while an "arm" file exists (see tests/faultfs.c). Keyed count
jobs (exactly-once, per-user counts) run through one broker:

Full checkpoints ("incremental": false):
- full disk on the count's state write, EIO on the sink's state fsync,
  EIO on _metadata's fsync: each time that checkpoint fails with a log
  line naming the file and the error, its chk-<n> is removed, the job
  goes on, and once the fault is disarmed later checkpoints complete;
- SIGKILL, restart: the newest complete checkpoint is restored;
- every state write failing: after tolerable_failures the job stops
  (exit 1) with the documented message naming the checkpoint it resumes
  from, and a restart restores exactly that one.

Incremental checkpoints (a small materialize_delta_pct, so new bases are
written often): ENOSPC on a delta's write, EIO on a delta's fsync,
ENOSPC on a materialization's write, EIO on its fsync. A delta fault
fails that checkpoint, a materialization fault logs that it failed;
either way the line names the file and the error, no file of that name
is left in shared/, and a later checkpoint covers new input (two rounds
disarm the fault first, two go on with it armed). Each round ends with a
SIGKILL: every retained checkpoint still verifies (`weir checkpoints`),
and the restart restores the newest. (A failed materialization is tried
again only after 10 s, which no round waits for.)

Retention of incremental checkpoints with retain 1, 2 and 3 (three jobs
at once, stopped with SIGTERM while input still arrives after ~40
checkpoints each, with several materializations): DIR/shared holds
exactly the files the retained checkpoints' _metadata list, with their
sizes; each directory restores, and holds the same after the second
stop.

kafka-python then reads the output of each job: every user's counts are
exactly 1..N, each once, N = that user's records in the input (the
oracle).
"""
import glob
import json
import os
import re
import signal
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (WEIR, BackgroundProducer, Harness,  # noqa: E402
                      TestFailure, check, check_eq, consume_all,
                      count_outputs, end_offsets, list_checkpoints, main,
                      note, parse_restore, produce, tail, wait_caught_up)

FAULTFS = os.environ.get("FAULTFS") or os.path.join(
    os.path.dirname(os.path.abspath(WEIR)), "tests", "faultfs.so")
PARTS = 2
TOLERABLE = 3
RETAINS = (1, 2, 3)
RETENTION_CHECKPOINTS = 40

NOSPC = "No space left on device"
EIO = "Input/output error"


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
    if os.path.exists(path):
        os.unlink(path)


class CountJob:
    """A job counting records per user from <name>-in to <name>-out, its
    checkpoint directory, and the oracle: records per user written so far.
    Each user stays on one partition (the source is partitioned_by user),
    as exactly-once output needs."""

    def __init__(self, h, name, users, checkpoint, src=None):
        self.h, self.name, self.users = h, name, users
        self.src = src or name + "-in"
        self.out, self.group = name + "-out", name
        self.ck = h.path(name)
        self.seq = 0
        self.expected = Counter()
        cp = {"dir": self.ck, "interval_ms": 100,
              "tolerable_failures": TOLERABLE}
        cp.update(checkpoint)
        self.path = h.write_job(name + ".json", {
            "name": name, "checkpoint": cp,
            "source": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                       "topic": self.src, "parallelism": PARTS,
                       "start": "earliest", "group_id": self.group,
                       "partitioned_by": "user",
                       "properties": {"fetch.wait.max.ms": "20"}},
            "operators": [{"type": "count", "key": "user"}],
            "sink": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                     "topic": self.out, "delivery": "exactly-once"}})

    def records(self, n):
        """n more records (and the oracle counts them)."""
        recs = []
        for _ in range(n):
            u = "u%d" % (self.seq * 7919 % self.users)
            recs.append({"partition": int(u[1:]) % PARTS,
                         "key": u.encode(), "headers": [],
                         "value": json.dumps({"user": u,
                                              "n": self.seq}).encode()})
            self.expected[u] += 1
            self.seq += 1
        return recs

    def send(self, n):
        produce(self.h.brokers, self.src, self.records(n))

    def run(self, env=None):
        return self.h.weir_run(self.path, extra_env=env)

    def caught_up(self, w):
        wait_caught_up(self.h.brokers, self.src, self.group, proc=w)

    def newest_complete(self):
        rows = list_checkpoints(self.h, self.ck)
        done = [r.id for r in rows if r.status == "complete"]
        check(done, "%s: no complete checkpoint in %r" % (self.name, rows))
        return done[0]

    def restart(self, env=None):
        """Starts the job again; checks it restores the newest complete
        checkpoint."""
        newest = self.newest_complete()
        w = self.run(env)
        cid, _ = parse_restore(w)
        check_eq(cid, newest, "%s: checkpoint restored" % self.name)
        return w, cid

    def check_output(self):
        check_eq(sum(end_offsets(self.h.brokers, self.src).values()),
                 self.seq, "records in " + self.src)
        per_key = count_outputs(consume_all(self.h.brokers, self.out))
        check_eq(set(per_key), set(self.expected),
                 "users in " + self.out)
        for u, n in sorted(self.expected.items()):
            check_eq(sorted(per_key[u]), list(range(1, n + 1)),
                     "%s: counts of %s (exactly once each)" % (self.out, u))


def completes(w, start=0):
    return [int(m) for m in re.findall(r"checkpoint (\d+) complete in",
                                       w.log()[start:])]


FAILED_RX = (r"checkpoint (\d+) failed: (.*) \((\d+) in a row; "
             r"tolerable_failures is %d\)$" % TOLERABLE)


# What a failed write adds: what to do about it.
HINT = ". Check the file system of "


def check_why(what, why, file_rx, err_text, line):
    said, _, hint = why.partition(HINT)
    check(re.search(file_rx, said) and said.endswith(err_text),
          "%s: the failure line does not name the file (/%s/) and the "
          "error (%s): %r" % (what, file_rx, err_text, line))
    check(hint and "(free space, permissions" in hint,
          "%s: the failure line does not say what to do: %r"
          % (what, line))


def injected(w, what, start):
    check(re.compile(r"^faultfs: rule \d+: ", re.M).search(w.log(), start),
          "%s: faultfs reported no injected failure" % what)


def fault_round(j, w, what, armfile, file_rx, err_text):
    """Arms one fault, checks that the checkpoint fails with a clear line
    and the job goes on, disarms it, and waits for a later checkpoint
    covering new input."""
    start = len(w.log())
    arm(armfile)
    m = w.wait_for_log(FAILED_RX, start=start)
    disarm(armfile)
    failed, why = int(m.group(1)), m.group(2)
    check_eq(m.group(3), "1", "%s: failures in a row" % what)
    check_why(what, why, file_rx, err_text, m.group(0))
    injected(w, what, start)
    j.send(1000)
    j.caught_up(w)
    later = [c for c in completes(w, start) if c > failed]
    check(later, "%s: no checkpoint completed after checkpoint %d failed"
          % (what, failed))
    check(not os.path.exists(os.path.join(j.ck, "chk-%d" % failed)),
          "%s: chk-%d is still there after it failed" % (what, failed))
    note("%s: checkpoint %d failed (%s), checkpoint %d completed after "
         "the fault was disarmed" % (what, failed, why, later[0]))
    return failed


def full_checkpoints(h):
    j = CountJob(h, "full", 300, {"incremental": False, "retain": 2})
    # The keyed count's file, the exactly-once sink's, _metadata; and
    # every state file for the stop.
    count_tmp = "*/chk-*/op0-count-0.state.tmp"
    sink_tmp = "*/chk-*/sink-0.state.tmp"
    arms = {k: h.path("arm-full-" + k) for k in
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

    j.send(2000)
    w = j.run(env)
    j.caught_up(w)
    rounds = [
        fault_round(j, w, "ENOSPC on the count's state write",
                    arms["nospc"],
                    r"^operators\[0\] count#0: writing "
                    r"chk-\d+/op0-count-0\.state\.tmp: ", NOSPC),
        fault_round(j, w, "EIO on the sink's state fsync", arms["eio"],
                    r"^sink#0: syncing chk-\d+/sink-0\.state\.tmp: ", EIO),
        fault_round(j, w, "EIO on _metadata's fsync", arms["meta"],
                    r"^syncing chk-\d+/_metadata\.tmp: ", EIO)]

    # A crash after the faults: the newest complete checkpoint is
    # restored and its state is exact (checked on the output).
    j.send(1000)
    w.wait_for_log(r"checkpoint \d+ complete in", start=len(w.log()))
    w.kill()
    w, restored = j.restart(env)
    j.caught_up(w)

    # Every state write fails: the job stops after tolerable_failures.
    j.send(1000)
    j.caught_up(w)
    last = completes(w)[-1]
    arm(arms["always"])
    rc = w.wait()
    disarm(arms["always"])
    check_eq(rc, 1, "exit code when every checkpoint write fails")
    text = w.log()
    m = re.search(r"%d checkpoints failed in a row, more than "
                  r"checkpoint\.tolerable_failures \(%d\); the last "
                  r"one: .*%s\. Check the file system of \S+ \([^)]*\)\. "
                  r"The job stops; once that is resolved, "
                  r"start it again: it resumes from checkpoint (\d+), "
                  r"the last complete one"
                  % (TOLERABLE + 1, TOLERABLE, NOSPC), text)
    check(m, "no tolerable_failures message; log:\n" + tail(text))
    resume = int(m.group(1))
    check(resume >= last and resume == completes(w)[-1],
          "the stop names checkpoint %d to resume from; the last "
          "complete was %d" % (resume, completes(w)[-1]))

    j.send(500)
    w, cid = j.restart()
    check_eq(cid, resume, "checkpoint restored after the stop")
    j.caught_up(w)
    check_eq(w.stop(), 0, "exit code of the graceful stop")
    j.check_output()
    return ("full: checkpoints %s failed (ENOSPC write, EIO fsync, EIO "
            "_metadata) and the job went on; SIGKILL restored chk-%d; all "
            "writes failing stopped it after %d, restart restored chk-%d"
            % (rounds, restored, TOLERABLE + 1, resume))


MATERIALIZED_RX = r"materialized keyed state of checkpoint (\d+): "
MAT_FAILED_RX = (r"(\S+): materializing keyed state of checkpoint (\d+) "
                 r"failed: (.*)\. Checkpoints go on adding deltas to the "
                 r"previous base; another try follows$")


def send_until(j, w, rx, start, what):
    """Sends batches (each changes 1,000 keys, ~50 KB of delta) until the
    log shows rx after start; returns the match. A new base is due once
    the deltas reach 64 KiB and materialize_delta_pct of the base."""
    for _ in range(8):
        j.send(1000)
        j.caught_up(w)
        m = re.compile(rx, re.M).search(w.log(), start)
        if m:
            return m
    raise TestFailure("%s: 8,000 records later, still no /%s/; log:\n%s"
                      % (what, rx, tail(w.log()[start:])))


def incremental_checkpoints(h):
    """Faults while writing deltas and bases. Each round arms one, goes
    on (with it disarmed or still armed) until a later checkpoint covers
    new input, kills the job and restarts it."""
    j = CountJob(h, "inc", 2000, {"incremental": True, "retain": 3,
                                  "materialize_delta_pct": 20})
    rounds = [
        # (name, rule, file kind, error, armed at the kill)
        ("ENOSPC on a delta's write",
         "count=1,call=write,path=*/shared/*.d*,errno=ENOSPC",
         "d", NOSPC, False),
        ("EIO on a delta's fsync",
         "call=fsync,path=*/shared/*.d*,errno=EIO", "d", EIO, True),
        ("ENOSPC on a materialization's write",
         "count=1,call=write,path=*/shared/*.b*,errno=ENOSPC",
         "b", NOSPC, False),
        ("EIO on a materialization's fsync",
         "call=fsync,path=*/shared/*.b*,errno=EIO", "b", EIO, True)]
    arms = [h.path("arm-inc-%d" % i) for i in range(len(rounds))]
    env = faultfs_env({i: (r[1], arms[i]) for i, r in enumerate(rounds)})
    restored = []
    w = j.run(env)
    for i, (what, _, kind, err, armed) in enumerate(rounds):
        # The run's first checkpoint (a base, by the persister) is
        # taken before the fault is armed.
        j.send(1000)
        j.caught_up(w)
        start = len(w.log())
        arm(arms[i])
        if kind == "d":
            m = send_until(j, w, FAILED_RX, start, what)
            failed, why = int(m.group(1)), m.group(2)
        else:
            m = send_until(j, w, MAT_FAILED_RX, start, what)
            check_eq(m.group(1), "op0-count-0", what + ": task")
            failed, why = int(m.group(2)), m.group(3)
        name = "op0-count-0.%s%d" % (kind, failed)
        check_why(what, why, r"shared/%s\.tmp: " % re.escape(name), err,
                  m.group(0))
        injected(w, what, start)
        if not armed:
            disarm(arms[i])
        # The job goes on: the input sent next is covered by a later
        # checkpoint (for a base: deltas on the previous base).
        j.send(1000)
        j.caught_up(w)
        later = [c for c in completes(w, start) if c > failed]
        check(later, "%s: no checkpoint completed after %d"
              % (what, failed))
        w.kill()
        disarm(arms[i])
        check(not os.path.exists(os.path.join(j.ck, "shared", name)),
              "%s: shared/%s exists, but writing it failed" % (what, name))
        # Every checkpoint retained is restorable; the one in flight at
        # the kill is incomplete.
        newest = j.newest_complete()
        bad = [r for r in list_checkpoints(h, j.ck)
               if r.status != "complete" and
               (r.id < newest or not r.status.startswith("incomplete"))]
        check(not bad, "%s: retained checkpoints not restorable: %r"
              % (what, bad))
        note("%s: %s of checkpoint %d failed (%s); checkpoint %d "
             "completed after it; killed%s" % (
                 what, "delta" if kind == "d" else "materialization",
                 failed, why, later[0], " while armed" if armed else ""))
        w, cid = j.restart(env)
        restored.append(cid)
    j.send(500)
    j.caught_up(w)
    check_eq(w.stop(), 0, "exit code of the graceful stop")
    j.check_output()
    return ("incremental: delta and materialization faults, restored "
            "chk-%s" % restored)


def chain_files(ck):
    """{file in DIR/shared: size} that the _metadata of the checkpoints in
    ck list, and the checkpoint ids."""
    need, ids = {}, []
    for meta in glob.glob(os.path.join(ck, "chk-*", "_metadata")):
        ids.append(int(os.path.basename(os.path.dirname(meta))[4:]))
        with open(meta) as f:
            m = json.load(f)
        for t in m["tasks"]:
            for c in t.get("chain", []):
                check(need.get(c["file"], c["size"]) == c["size"],
                      "%s: %s listed with two sizes" % (meta, c["file"]))
                need[c["file"]] = c["size"]
    return need, sorted(ids)


def check_shared(j, retain):
    need, ids = chain_files(j.ck)
    check_eq(len(ids), retain, "%s: checkpoints retained" % j.name)
    check_eq(len(glob.glob(os.path.join(j.ck, "chk-*"))), retain,
             "%s: chk-* directories after the stop" % j.name)
    shared = os.path.join(j.ck, "shared")
    have = {f: os.path.getsize(os.path.join(shared, f))
            for f in os.listdir(shared)}
    check(need, "%s: no checkpoint lists a chain file" % j.name)
    check_eq(sorted(set(have) - set(need)), [],
             "%s: files in shared/ no retained checkpoint (%s) lists"
             % (j.name, ids))
    check_eq(sorted(set(need) - set(have)), [],
             "%s: files retained checkpoints (%s) list but shared/ lacks"
             % (j.name, ids))
    check_eq(have, need, "%s: sizes of shared/ files" % j.name)
    return ids, len(need)


def stop_all(jobs, procs, what):
    for w in procs:
        w.signal(signal.SIGTERM)
    for j, w in zip(jobs, procs):
        check_eq(w.wait(), 0, "%s: exit code of the graceful stop %s"
                 % (j.name, what))


def retention(h):
    """Three jobs at once on one input, retain 1, 2 and 3, each stopped
    and restarted once."""
    jobs = [CountJob(h, "retain%d" % r, 500,
                     {"incremental": True, "retain": r, "interval_ms": 50,
                      "materialize_delta_pct": 10}, src="retain-in")
            for r in RETAINS]
    recs = jobs[0].records(8000)
    for j in jobs[1:]:
        j.seq, j.expected = jobs[0].seq, jobs[0].expected
    procs = [j.run() for j in jobs]
    # Stopped while input still arrives, so that the retained
    # checkpoints have chains of their own, not one shared base.
    prod = BackgroundProducer(h.brokers, "retain-in", recs, 4, chunk=200)
    prod.start()
    deadline = time.monotonic() + 90
    while any(len(completes(w)) < RETENTION_CHECKPOINTS for w in procs):
        for j, w in zip(jobs, procs):
            check(w.running(), "%s exited; log:\n%s" % (j.name,
                                                        tail(w.log())))
        check(time.monotonic() < deadline, "%d checkpoints take over 90 s"
              % RETENTION_CHECKPOINTS)
        time.sleep(0.1)
    stop_all(jobs, procs, "")
    midway = not prod.done.is_set()
    out = []
    for r, j, w in zip(RETAINS, jobs, procs):
        mats, ckpts = w.count_log(MATERIALIZED_RX), len(completes(w))
        check(mats >= 2, "%s: %d materializations in %d checkpoints"
              % (j.name, mats, ckpts))
        ids, nfiles = check_shared(j, r)
        out.append("retain %d: %d checkpoints, %d materializations, "
                   "%d shared files" % (r, ckpts, mats, nfiles))
    procs = [j.restart()[0] for j in jobs]
    prod.finish()
    for j, w in zip(jobs, procs):
        j.caught_up(w)
    stop_all(jobs, procs, "after the restore")
    for r, j, w in zip(RETAINS, jobs, procs):
        check_shared(j, r)
        j.check_output()
    out.append("stopped %s input" % ("amid" if midway else "after the"))
    return "; ".join(out)


def test():
    with Harness("disk-faults") as h:
        topics = {"full-in": PARTS, "inc-in": PARTS, "retain-in": PARTS}
        for name in ("full", "inc", "retain1", "retain2", "retain3"):
            topics[name + "-out"] = 2
        h.broker(topics)
        return "; ".join([full_checkpoints(h), incremental_checkpoints(h),
                          retention(h)])


if __name__ == "__main__":
    main(test)
