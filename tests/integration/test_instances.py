#!/usr/bin/env python3
"""Several instances of one job (`weir run JOB --instance I/N`), on one
broker.

1. Three instances of a keyed count over a 12-partition topic, the
   producer keying by user and the source declaring partitioned_by user,
   with exactly-once output by de-duplication. Input arrives for a few
   seconds; meanwhile instance 1 is SIGKILLed and restarted several
   times while instances 0 and 2 run. Then all catch up and stop.
   kafka-python reads the output: every count exactly {1..N} for each
   user, each once (nothing duplicated, nothing lost), every input
   record used once. Each instance logs with its "instance I/N" prefix,
   keeps its checkpoints in checkpoint.dir/instance-I-of-3 (`weir
   checkpoints` lists them and, on checkpoint.dir, points at them;
   _metadata records the instance), and after a
   restart its output scan counts only its own partitions' records as
   its own (other instances wrote into the same output partitions).
2. Refusals: instance 1 restarted as 1/4, or without --instance, finds
   the 3-instance checkpoints and refuses; a directory of instance 1
   copied in as instance 2's is refused by its _metadata. Validation:
   a keyed count without partitioned_by is refused with N > 1, the flag
   wins over the job file's "instance", bad --instance values are
   refused.
3. A 2-partition topic and 3 instances: each logs which instances stay
   idle. Instance 1 reads its partition and commits offsets to group_id
   for that partition only; instance 2 owns none and, with event time
   and a window, still completes checkpoints, writes nothing and stops
   cleanly. Its transactional id names the instance. An idle instance
   of a counting job with exactly-once by de-duplication settles the
   output partitions it never writes at their end, so after a SIGKILL
   its restart does not read what instance 0 wrote meanwhile (which
   would grow without end, until retention made restarts impossible).
"""
import json
import os
import random
import re
import shutil
import time

from weirtest import (BackgroundProducer, Harness, Proc, check, check_eq,
                      check_counts_exact, committed_offsets, consume_all,
                      count_outputs, end_offsets, kafka_job, lineage, main,
                      note, produce, tail, wait_caught_up)

PARTS = 12
N = 3
USERS = 240
RECORDS = 9000
KILLS = 4
COMPLETE = r"coordinator: checkpoint \d+ complete"
SCAN = (r"exactly-once: read (\d+) record\(s\) of %s written after the "
        r"checkpoint in \d+ ms; (\d+) are this instance's")


def start(h, job, inst, name):
    args = [h.weir_bin, "run", job]
    if inst is not None:
        args += ["--instance", inst]
    p = Proc(args, h.path(name + ".log"), env=h.env())
    h.procs.append(p)
    return p


def records(seed):
    rnd = random.Random(seed)
    out = []
    for i in range(RECORDS):
        u = rnd.randrange(USERS)
        out.append({"partition": u % PARTS, "key": b"u%d" % u,
                    "value": json.dumps({"user": "u%d" % u, "i": i}).encode(),
                    "headers": [], "user": "u%d" % u})
    return out


def count_job(h):
    return kafka_job(
        "inst-count", h.path("ck"), "events", "counts",
        [{"type": "count", "key": "user"}],
        source={"parallelism": 2, "partitioned_by": "user",
                "group_id": "inst-count"},
        sink={"delivery": "exactly-once", "parallelism": 2},
        checkpoint={"interval_ms": 100})


def run_instances(h, job):
    recs = records(7)
    # Small chunks: the instances write all the time, so a restart of
    # instance 1 finds the others' records in the output tail.
    prod = BackgroundProducer(h.brokers, "events", recs, seconds=5,
                              chunk=100)
    rnd = random.Random(11)
    procs = {i: start(h, job, "%d/3" % i, "i%d-run0" % i) for i in range(N)}
    prod.start()
    scans = []
    for k in range(KILLS):
        p = procs[1]
        p.wait_for_log(COMPLETE)
        p.wait_for_log(COMPLETE, start=p.wait_for_log(COMPLETE).end())
        time.sleep(rnd.uniform(0.05, 0.3))
        p.kill()
        procs[1] = start(h, job, "1/3", "i1-run%d" % (k + 1))
        m = procs[1].wait_for_log(SCAN % "counts")
        scans.append((int(m.group(1)), int(m.group(2))))
    prod.finish()
    wait_caught_up(h.brokers, "events", "inst-count", timeout=60)
    for i, p in procs.items():
        rc = p.stop()
        check(rc == 0, "instance %d exited %d; log:\n%s"
              % (i, rc, tail(p.log())))
    note("instance 1 killed %d times; its output scans (read, own): %r"
         % (KILLS, scans))
    check(all(own <= read for read, own in scans),
          "a scan counted more records as its own than it read: %r" % scans)
    check(any(own < read for read, own in scans),
          "no restart of instance 1 saw other instances' records in the "
          "output tail as not its own: %r" % scans)
    return recs, procs


def check_output(h, recs):
    out = consume_all(h.brokers, "counts")
    per_key = count_outputs(out)
    expected = {}
    for r in recs:
        expected[r["user"]] = expected.get(r["user"], 0) + 1
    check_counts_exact(per_key, expected)
    for k, counts in per_key.items():
        check_eq(len(counts), expected[k],
                 "output records of user %s (duplicates?)" % k)
    used = set()
    for m in out:
        _, p, o, _ = lineage(m)
        check((p, o) not in used, "input events[%d]@%d counted twice"
              % (p, o))
        used.add((p, o))
    check_eq(len(used), len(recs), "input records in the output")
    return len(out)


def check_dirs(h, procs):
    r = h.weir("checkpoints", h.path("ck"))
    check(r.rc == 0 and r.out.startswith("no checkpoints in ") and
          all("  weir checkpoints %s\n" % h.path("ck", "instance-%d-of-3" % i)
              in r.out for i in range(N)),
          "`weir checkpoints` on checkpoint.dir does not point at the "
          "instance directories (%d):\n%s%s" % (r.rc, r.out, r.err))
    for i in range(N):
        d = h.path("ck", "instance-%d-of-3" % i)
        check(os.path.isdir(d), "no checkpoint directory %s" % d)
        r = h.weir("checkpoints", d)
        check(r.rc == 0 and "complete" in r.out,
              "`weir checkpoints %s` lists no complete checkpoint (%d): %s%s"
              % (d, r.rc, r.out, r.err))
        chk = sorted((e for e in os.listdir(d) if e.startswith("chk-")),
                     key=lambda e: int(e[4:]))[-1]
        with open(os.path.join(d, chk, "_metadata")) as f:
            meta = json.load(f)
        check_eq(meta.get("instance"), {"index": i, "count": 3},
                 "%s/%s/_metadata instance" % (d, chk))
        offsets = {int(p) for p in meta["offsets"]["events"]}
        check_eq(offsets, {p for p in range(PARTS) if p % N == i},
                 "partitions in instance %d's offsets" % i)
        log = procs[i].log()
        lines = [l for l in log.splitlines() if l.strip()]
        check(lines and all(" instance %d/3 " % i in l for l in lines),
              "instance %d: not every log line says \"instance %d/3\":\n%s"
              % (i, i, tail(log)))
        check(re.search(r"instance %d of 3: reading 4 of the 12 "
                        r"partition\(s\) of events" % i, log),
              "instance %d does not say which partitions it reads" % i)


def refusals(h, job):
    r = h.weir("run", job, "--instance", "1/4")
    check(r.rc == 1 and "holds checkpoints of this job run as 3 instance(s)"
          in r.err and "--instance I/N with the same N" in r.err,
          "instance 1/4 over 3-instance checkpoints: rc %d, stderr:\n%s"
          % (r.rc, r.err))
    r = h.weir("run", job)
    check(r.rc == 1 and "run as 3 instance(s)" in r.err,
          "one instance over 3-instance checkpoints: rc %d, stderr:\n%s"
          % (r.rc, r.err))
    ck = h.path("ck")
    os.rename(os.path.join(ck, "instance-2-of-3"), h.path("i2-aside"))
    shutil.copytree(os.path.join(ck, "instance-1-of-3"),
                    os.path.join(ck, "instance-2-of-3"))
    os.remove(os.path.join(ck, "instance-2-of-3", ".lock"))
    r = h.weir("run", job, "--instance", "2/3")
    check(r.rc == 1 and re.search(r"was taken by instance 1 of 3, and this "
                                  r"is instance 2 of 3", r.err),
          "instance 1's checkpoints restored as instance 2: rc %d, "
          "stderr:\n%s" % (r.rc, r.err))

    nopb = json.load(open(job))
    del nopb["source"]["partitioned_by"]
    nopb["sink"]["delivery"] = "at-least-once"
    nopb = h.write_job("nopb.json", nopb)
    r = h.weir("validate", nopb, "--instance", "0/3")
    check(r.rc == 2 and "operators[0] (count, key \"user\") keeps state per "
          "key" in r.err and "\"partitioned_by\": \"user\"" in r.err,
          "keyed count without partitioned_by, 3 instances: rc %d, "
          "stderr:\n%s" % (r.rc, r.err))
    check_eq(h.weir("validate", nopb).rc, 0, "the same job as one instance")
    with_inst = json.load(open(nopb))
    with_inst["instance"] = {"index": 0, "count": 3}
    with_inst = h.write_job("with-inst.json", with_inst)
    check_eq(h.weir("validate", with_inst).rc, 2,
             "validate of a job file with \"instance\" count 3")
    r = h.weir("validate", with_inst, "--instance", "0/1")
    check(r.rc == 0, "--instance 0/1 wins over the job file: rc %d, %s"
          % (r.rc, r.err))
    for bad in ("3/3", "1", "a/3", "0/257", "-1/3"):
        r = h.weir("validate", job, "--instance", bad)
        check(r.rc == 2 and "expected I/N" in r.err,
              "--instance %s: rc %d, stderr: %s" % (bad, r.rc, r.err))


def idle(h):
    job = h.write_job("few.json", kafka_job(
        "inst-few", h.path("ck-few"), "few", "few-out",
        [{"type": "window", "key": "user",
          "window": {"type": "tumbling", "size_ms": 1000}}],
        source={"parallelism": 1, "partitioned_by": "user",
                "group_id": "inst-few",
                "watermarks": {"max_out_of_orderness_ms": 0}},
        sink={"delivery": "exactly-once", "exactly_once": "transactions"},
        checkpoint={"interval_ms": 100}))
    counts = h.write_job("few-count.json", kafka_job(
        "inst-few-count", h.path("ck-few-count"), "few", "few-counts",
        [{"type": "count", "key": "user"}],
        source={"parallelism": 1, "partitioned_by": "user",
                "group_id": "inst-few-count"},
        sink={"delivery": "exactly-once"},
        checkpoint={"interval_ms": 100}))
    one = start(h, job, "1/3", "few-i1")
    two = start(h, job, "2/3", "few-i2")
    c0 = start(h, counts, "0/3", "few-count-i0")
    c2 = start(h, counts, "2/3", "few-count-i2")
    c2.wait_for_log(COMPLETE)
    for p in (one, two):
        p.wait_for_log(r"WARN  instance \d/3 job: few has 2 partition\(s\) "
                       r"for 3 instances: instance\(s\) 2 to 2 own none")
    two.wait_for_log(r"this one included: it reads nothing")
    two.wait_for_log(r"transactions: id \"weir-inst-few-sink-i2-0\"")
    two.wait_for_log(COMPLETE, start=two.wait_for_log(COMPLETE).end())
    producer_recs = [{"partition": p, "key": b"u%d" % p,
                      "value": json.dumps({"user": "u%d" % p}).encode(),
                      "headers": [], "timestamp": 1000000 + 10 * i}
                     for i in range(50) for p in (0, 1)]
    produce(h.brokers, "few", producer_recs)
    ends = end_offsets(h.brokers, "few")
    one.wait_for_log(COMPLETE, start=len(one.log()))
    wait_caught_up(h.brokers, "few", "inst-few", proc=one, timeout=30,
                   ends={1: ends[1]})
    got = committed_offsets(h.brokers, "few", "inst-few")
    check_eq(got, {0: None, 1: ends[1]},
             "group inst-few's offsets (instance 1 of 3 owns partition 1 "
             "only; partition 0 is instance 0's, which did not run)")
    # The idle instance of the counting job settles the output partitions
    # it never writes at their end (every 10th checkpoint, 1 s apart at
    # least), so a restart does not read what instance 0 wrote.
    wait_caught_up(h.brokers, "few", "inst-few-count", proc=c0, timeout=30,
                   ends={0: ends[0]})
    start_at = c2.count_log(COMPLETE)
    while c2.count_log(COMPLETE) < start_at + 25:
        c2.wait_for_log(COMPLETE, start=len(c2.log()))
    c2.kill()
    c2 = start(h, counts, "2/3", "few-count-i2-again")
    m = c2.wait_for_log(SCAN % "few-counts")
    check_eq(m.group(1), "0", "records the idle instance's restart read "
             "from the output (instance 0 wrote %d before the settled "
             "checkpoints)" % ends[0])
    per_key = count_outputs(consume_all(h.brokers, "few-counts"))
    check_eq(per_key, {"u0": list(range(1, 51))},
             "counts of the 2-partition job (instance 0 only)")
    for name, p in (("1/3", one), ("2/3", two), ("count 0/3", c0),
                    ("count 2/3", c2)):
        rc = p.stop()
        check(rc == 0, "instance %s exited %d; log:\n%s"
              % (name, rc, tail(p.log())))
    check(not re.search(r"ERROR|window.*emit", two.log()),
          "the idle instance logged errors:\n%s" % tail(two.log()))


def test():
    with Harness("instances") as h:
        h.broker({"events": PARTS, "counts": 4, "few": 2, "few-out": 2,
                  "few-counts": 2})
        job = h.write_job("job.json", count_job(h))
        recs, procs = run_instances(h, job)
        n = check_output(h, recs)
        check_dirs(h, procs)
        refusals(h, job)
        idle(h)
        return ("3 instances over %d partitions, instance 1 killed %d times: "
                "%d input records, %d outputs, every count exact once; "
                "refusals and the idle instance as expected"
                % (PARTS, KILLS, len(recs), n))


if __name__ == "__main__":
    main(test)
