#!/usr/bin/env python3
"""Savepoints, start from one, and `weir state`, on one broker.

A keyed count job (ERROR records counted by service, count parallelism 2,
exactly-once output by Kafka transactions, retain 1, a checkpoint every
100 ms) runs while input arrives:

- `weir savepoint JOB sp1` under load: exit 0, the path and id printed;
  sp1 holds _metadata with "savepoint": true and every task's file, and
  no shared/ (self-contained: the count's keyed state is in its files).
  sp1 is a sibling of checkpoint.dir; many checkpoints later (retain 1)
  not a byte of it changed.
- CLI errors while it runs: the target exists and is not empty (2), a
  target inside checkpoint.dir (2), missing arguments of savepoint, stop,
  state and run --from (2).
- `weir stop JOB --savepoint sp2`: the savepoint, then the job ends (the
  command returns once it has, exit 0; the job exits 0). Its checkpoint
  in checkpoint.dir is the newest, listed as a savepoint.
- With no job running: `weir savepoint` says so, naming the socket (2);
  for a checkpoint.dir too long for a socket path it says to shorten it.
- `weir state sp2`: every service's count equals the ERROR records of
  the input before sp2's offsets (the oracle); --operator count, op1-count
  and 1 pick the same, an unknown operator lists the ones there (2).
- A copy of sp2 with a truncated state file: `weir run --from` it is
  refused naming that file; a job counting by another key is refused
  with both graphs.
- The rest of the input is produced; the job starts from sp2 in a new,
  empty checkpoint.dir with count parallelism 3 (`weir run --from`), and
  its first checkpoint writes its keyed state in full (nothing shared
  with the savepoint). A socket left in ck2 as by a killed job is
  replaced. Once caught up, `weir stop` stops it gracefully. The output, read with
  kafka-python, holds for every service exactly the counts 1..N, each
  once: nothing lost or repeated across the savepoint, the stop and the
  rescale. `weir state ck2` (its newest checkpoint, keyed state in a
  chain of base and deltas) holds the final counts. Last, `weir run
  --from sp1` on ck2, which holds checkpoints now: --from wins (the log
  says so) and its checkpoints are numbered after ck2's. And instance
  1/2 of a job is reached with --instance: its savepoint holds its
  partitions.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

from weirtest import (WEIR, ERROR_FILTER, BackgroundProducer, Harness, Proc,
                      check, check_counts_exact, check_eq, consume_all,
                      count_outputs, is_error, kafka_job, list_checkpoints,
                      http_url, log_records, main, note, parse_restore,
                      produce, wait_caught_up)

GROUP = "savepoint-src"
TTL = 31536000000  # a year: nothing expires, every key has an expiry
N = 12000
PARTS = 4


def job(h, name, ck, count_par):
    return h.write_job(name, kafka_job(
        "sp-count", ck, "logs", "counts",
        [ERROR_FILTER,
         {"type": "count", "key": "service", "parallelism": count_par,
          "ttl_ms": TTL}],
        source={"group_id": GROUP},
        sink={"delivery": "exactly-once", "exactly_once": "transactions",
              "parallelism": 1, "partitioner": "key"},
        checkpoint={"interval_ms": 100, "retain": 1}))


def tree_digest(path):
    """{relative file: sha256} of everything under path."""
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = hashlib.sha256(
                    fh.read()).hexdigest()
    return out


def check_savepoint(sp, r):
    check(r.rc == 0, "`weir savepoint` exited %d: %s" % (r.rc, r.err))
    line = r.out.strip().splitlines()[0]
    check(line.startswith("savepoint ") and line.endswith(" written to "
                                                          + sp),
          "`weir savepoint` printed %r, not its id and %s" % (line, sp))
    sid = int(line.split()[1])
    with open(os.path.join(sp, "_metadata")) as f:
        meta = json.load(f)
    check_eq(meta.get("savepoint"), True, "%s/_metadata savepoint" % sp)
    check_eq(meta["id"], sid, "%s/_metadata id" % sp)
    files = sorted(os.listdir(sp))
    want = sorted(["_metadata"] + [t["file"] for t in meta["tasks"]])
    check_eq(files, want, "files of %s" % sp)
    counts = [t for t in meta["tasks"] if "-count-" in t["task"]]
    check(counts and all(not t.get("chain") for t in counts),
          "%s: the count's keyed state is not in its own files: %r"
          % (sp, counts))
    return sid, meta


def oracle(recs, offsets):
    """ERROR records per service before offsets {partition: next}."""
    want = {}
    for r in recs:
        if is_error(r) and r["offset"] < offsets.get(r["partition"], 0):
            s = r["obj"]["service"]
            want[s] = want.get(s, 0) + 1
    return want


def state_counts(h, path, *extra):
    """{service: count} from `weir state`, after checking that every key
    has its expiry shown decoded, a year after its last record."""
    r = h.weir("state", path, *extra)
    check(r.rc == 0, "`weir state %s` exited %d: %s" % (path, r.rc, r.err))
    got, expiry = {}, {}
    now = time.time() * 1000
    for line in r.out.splitlines():
        e = json.loads(line)
        check(e["operator"] == "op1-count" and "-count-" in e["task"] and
              0 <= e["key_group"] < 128,
              "`weir state`: unexpected line %r" % line)
        if "expires_ms" in e:
            check(now + TTL - 600e3 < e["expires_ms"] <= now + TTL,
                  "`weir state`: expiry not a year after the key's last "
                  "record: %r" % line)
            expiry[e["key"]] = e["expires_ms"]
            continue
        check(e["name"] == "n", "`weir state`: unexpected line %r" % line)
        got[e["key"]] = struct.unpack("<Q", base64.b64decode(
            e["value_b64"]))[0]
    check_eq(sorted(expiry), sorted(got), "keys with an expiry")
    return got


def test():
    with Harness("savepoint") as h:
        h.broker({"logs": PARTS, "counts": 2})
        records = log_records(N, seed=14, partitions=PARTS)
        first, rest = records[:N // 2], records[N // 2:]
        ck1, ck2 = h.path("ck1"), h.path("ck2")
        sp1, sp2 = h.path("sp1"), h.path("sp2")
        job1 = job(h, "job1.json", ck1, 2)

        producer = BackgroundProducer(h.brokers, "logs", first, seconds=3)
        producer.start()
        w = h.weir_run(job1)
        w.wait_for_log(r"checkpoint 3 complete")
        sid1, _ = check_savepoint(sp1, h.weir("savepoint", job1, sp1))
        w.wait_for_log(r"savepoint %d written to" % sid1)
        digest = tree_digest(sp1)
        note("savepoint %d in %s under load: %d files"
             % (sid1, sp1, len(digest)))

        r = h.weir("savepoint", job1, sp1)
        check(r.rc == 2 and "not empty" in r.err,
              "a savepoint into a non-empty directory: exit %d, %r"
              % (r.rc, r.err))
        # Meanwhile a client trickles a request line, a byte every
        # 0.25 s for 10 s: the job gives it 5 s in all, not 5 s a byte,
        # and then serves the command.
        started = threading.Event()

        def trickle():
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(os.path.join(ck1, "weir.sock"))
                try:
                    for _ in range(40):
                        s.send(b"x")
                        started.set()
                        time.sleep(0.25)
                except OSError:
                    pass
                finally:
                    started.set()
        slow = threading.Thread(target=trickle)
        slow.start()
        check(started.wait(10), "the trickling client never sent a byte")
        t0 = time.monotonic()
        r = h.weir("savepoint", job1, os.path.join(ck1, "sp"))
        waited = time.monotonic() - t0
        slow.join()
        check(r.rc == 2 and "inside checkpoint.dir" in r.err,
              "a savepoint inside checkpoint.dir: exit %d, %r"
              % (r.rc, r.err))
        check(waited < 8, "`weir savepoint` waited %.1f s behind a client "
              "trickling its request" % waited)
        # A target too long for the socket's request line is refused, not
        # cut short into a savepoint written somewhere else.
        long_sp = os.path.join(h.path("long"), *(["L" * 200] * 21))
        r = h.weir("savepoint", job1, long_sp)
        check(r.rc == 2 and "too long" in r.err,
              "a savepoint path of %d bytes: exit %d, %r"
              % (len(long_sp), r.rc, r.err))
        check(not os.path.exists(h.path("long")),
              "a savepoint path too long was cut short and written")
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(os.path.join(ck1, "weir.sock"))
            s.sendall(b"savepoint /" + b"x" * 5000 + b"\n")
            ans = s.makefile("rb").readline().decode()
        check(ans.startswith("refused ") and "too long" in ans,
              "a request line over the limit: answered %r" % ans)
        for args in (("savepoint", job1), ("stop", job1, "--savepoint"),
                     ("stop",), ("state",), ("run", job1, "--from"),
                     ("state", sp1, "--operator")):
            r = h.weir(*args)
            check(r.rc == 2 and "expected" in r.err,
                  "`weir %s`: exit %d, %r" % (" ".join(args), r.rc, r.err))

        # Retention (retain 1) goes on; the savepoint stays as it was.
        m = w.wait_for_log(r"checkpoint (\d+) complete",
                           start=w.log().index("savepoint %d written"
                                               % sid1))
        w.wait_for_log(r"checkpoint %d complete" % (int(m.group(1)) + 3))
        producer.finish()
        check_eq(tree_digest(sp1), digest, "files of savepoint %s after "
                 "retention ran" % sp1)

        r = h.weir("stop", job1, "--savepoint", sp2)
        sid2, meta2 = check_savepoint(sp2, r)
        check("job stopped" in r.out, "`weir stop` returned before the "
              "job ended: %r" % r.out)
        check_eq(w.wait(), 0, "exit code of the stopped job")
        r = h.weir("checkpoints", sp2)
        check(r.rc == 0 and "is itself checkpoint %d (a savepoint)" % sid2
              in r.out, "`weir checkpoints` on a savepoint: %r" % r.out)
        rows = list_checkpoints(h, ck1)
        check(rows and rows[0].id == sid2 and
              rows[0].status == "complete (savepoint)",
              "`weir checkpoints %s` does not show savepoint %d first: %r"
              % (ck1, sid2, rows[:1]))
        check(not os.path.exists(os.path.join(ck1, "weir.sock")),
              "the control socket is left in %s" % ck1)
        note("stopped with savepoint %d" % sid2)

        r = h.weir("savepoint", job1, h.path("sp3"))
        check(r.rc == 2 and "no job is running" in r.err and
              os.path.join(ck1, "weir.sock") in r.err,
              "`weir savepoint` with no job: exit %d, %r" % (r.rc, r.err))
        deep = h.write_job("deep.json", kafka_job(
            "sp-count", h.path("d" * 120), "logs", "counts", []))
        r = h.weir("stop", deep)
        check(r.rc == 2 and "shorten checkpoint.dir" in r.err,
              "`weir stop` for a checkpoint.dir too long for a socket: "
              "exit %d, %r" % (r.rc, r.err))

        offsets = {int(p): o for p, o in meta2["offsets"]["logs"].items()}
        want = oracle(first, offsets)
        check_eq(state_counts(h, sp2), want, "`weir state %s` counts" % sp2)
        for pick in ("count", "op1-count", "1"):
            check_eq(state_counts(h, sp2, "--operator", pick), want,
                     "`weir state %s --operator %s` counts" % (sp2, pick))
        r = h.weir("state", sp2, "--operator", "nope")
        check(r.rc == 2 and "op1-count" in r.err,
              "`weir state --operator nope`: exit %d, %r" % (r.rc, r.err))
        note("weir state: %d services, counts as the input says"
             % len(want))

        bad = h.path("sp-bad")
        shutil.copytree(sp2, bad)
        victim = [t["file"] for t in meta2["tasks"]
                  if "-count-" in t["file"]][0]
        with open(os.path.join(bad, victim), "r+b") as f:
            f.truncate(os.path.getsize(f.name) // 2)
        job2 = job(h, "job2.json", ck2, 3)
        p = Proc([h.weir_bin, "run", job2, "--from", bad],
                 h.path("weir-bad.log"), env=h.env())
        h.procs.append(p)
        check(p.wait() == 1 and victim in p.log(),
              "start from a damaged savepoint: exit %s, no mention of %s:"
              "\n%s" % (p.rc, victim, p.log()[-2000:]))
        check(not os.path.exists(os.path.join(ck2, "chk-%d" % (sid2 + 1))),
              "the refused start wrote a checkpoint")

        # A graph the state cannot follow (another key) is refused with
        # both graphs.
        other = h.write_job("job-other.json", kafka_job(
            "sp-count", h.path("ck-other"), "logs", "counts",
            [ERROR_FILTER, {"type": "count", "key": "level",
                            "parallelism": 2, "ttl_ms": TTL}],
            source={"group_id": GROUP},
            sink={"delivery": "exactly-once",
                  "exactly_once": "transactions", "partitioner": "key"}))
        p = Proc([h.weir_bin, "run", other, "--from", sp2],
                 h.path("weir-other.log"), env=h.env())
        h.procs.append(p)
        check(p.wait() == 1 and "different job graph" in p.log() and
              "checkpoint: " in p.log() and "this job:   " in p.log() and
              "without --from" in p.log(),
              "start from %s with another key: exit %s:\n%s"
              % (sp2, p.rc, p.log()[-2000:]))

        produce(h.brokers, "logs", rest)
        # A socket left by a job that was SIGKILLed: nobody listens.
        os.makedirs(ck2, exist_ok=True)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(os.path.join(ck2, "weir.sock"))
        stale.close()
        p = Proc([h.weir_bin, "run", job2, "--from", sp2],
                 h.path("weir-from.log"), env=h.env())
        h.procs.append(p)
        check_eq(parse_restore(p)[0], sid2, "checkpoint restored by --from")
        p.wait_for_log(r"moving keyed state from 2 task\(s\) to 3")
        p.wait_for_log(r"checkpoint %d complete" % (sid2 + 1))
        with open(os.path.join(ck2, "chk-%d" % (sid2 + 1),
                               "_metadata")) as f:
            m = json.load(f)
        for t in m["tasks"]:
            for c in t.get("chain", []):
                check(int(c["file"].rsplit(".", 1)[1][1:]) > sid2,
                      "the first checkpoint after --from lists %s, not a "
                      "file of its own" % c["file"])
        wait_caught_up(h.brokers, "logs", GROUP, proc=p)
        r = h.weir("stop", job2)
        check(r.rc == 0 and "job stopped" in r.out,
              "`weir stop` (the socket a killed job left was replaced): "
              "exit %d, %r %r" % (r.rc, r.out, r.err))
        check_eq(p.wait(), 0, "exit code of the job started from %s" % sp2)
        p.wait_for_log(r"final\)")

        out = consume_all(h.brokers, "counts")
        per_key = count_outputs(out)
        expected = oracle(records, {q: N for q in range(PARTS)})
        check_counts_exact(per_key, expected)
        for k, counts in per_key.items():
            check_eq(len(counts), expected[k], "output records for %r" % k)
        note("output exact: %d records, %d services"
             % (len(out), len(per_key)))
        # The newest checkpoint of ck2 keeps the counts in chains of
        # files (base and deltas): `weir state` reads them as restore does.
        newest = max(int(d[4:]) for d in os.listdir(ck2)
                     if d.startswith("chk-"))
        with open(os.path.join(ck2, "chk-%d" % newest, "_metadata")) as f:
            m = json.load(f)
        check(all(t.get("chain") for t in m["tasks"]
                  if "-count-" in t["task"]),
              "chk-%d of ck2 keeps the counts in no chain" % newest)
        check_eq(state_counts(h, ck2), expected, "`weir state %s` counts "
                 "after the end" % ck2)
        # --from wins over the checkpoints ck2 holds now, and the job's
        # own checkpoints are numbered after them.
        p = Proc([h.weir_bin, "run", job2, "--from", sp1],
                 h.path("weir-wins.log"), env=h.env())
        h.procs.append(p)
        p.wait_for_log(r"holds checkpoints \(the newest chk-%d\), but "
                       r"--from wins: starting from checkpoint %d of %s"
                       % (newest, sid1, sp1))
        check_eq(parse_restore(p)[0], sid1, "checkpoint restored by "
                 "--from over ck2's")
        p.wait_for_log(r"checkpoint %d complete" % (newest + 1))
        p.kill()

        # One of several instances listens in its own directory:
        # --instance reaches it.
        inst = h.write_job("inst.json", kafka_job(
            "sp-inst", h.path("ck-inst"), "logs", "counts",
            [ERROR_FILTER, {"type": "count", "key": "service"}],
            source={"partitioned_by": "service"}))
        p = Proc([h.weir_bin, "run", inst, "--instance", "1/2"],
                 h.path("weir-inst.log"), env=h.env())
        h.procs.append(p)
        p.wait_for_log(r"checkpoint 1 complete")
        r = h.weir("savepoint", inst, h.path("sp-inst"))
        check(r.rc == 2 and "--instance I/N" in r.err,
              "`weir savepoint` without --instance: exit %d, %r"
              % (r.rc, r.err))
        # The job file's checkpoint.dir holds the instances' own: a
        # savepoint there (as chk-99, say) is refused like one inside
        # the instance's, or no instance could start again.
        r = h.weir("savepoint", inst, "--instance", "1/2",
                   h.path("ck-inst", "chk-99"))
        check(r.rc == 2 and "inside checkpoint.dir" in r.err and
              not os.path.exists(h.path("ck-inst", "chk-99")),
              "a savepoint of instance 1/2 into checkpoint.dir: exit %d, %r"
              % (r.rc, r.err))
        _, meta = check_savepoint(h.path("sp-inst"), h.weir(
            "savepoint", inst, "--instance", "1/2", h.path("sp-inst")))
        check_eq(sorted(meta["offsets"]["logs"]), ["1", "3"],
                 "partitions in instance 1/2's savepoint")
        r = h.weir("stop", inst, "--instance", "1/2")
        check(r.rc == 0 and "job stopped" in r.out, "`weir stop "
              "--instance 1/2`: exit %d, %r" % (r.rc, r.err))
        check_eq(p.wait(), 0, "exit code of instance 1/2")
        return ("savepoints %d (under load) and %d (stop); weir state: %d "
                "services exact; from %d at count parallelism 2 -> 3: %d "
                "outputs exact; %s" % (sid1, sid2, len(want), sid2, len(out),
                                       case_http(h)))


def post(url, body):
    """(status, JSON answer) of POST url with body (bytes or None)."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def case_http(h):
    """POST /savepoints and POST /stop on the job's HTTP endpoint: the
    same savepoints as the commands, refusals with a status and a reason."""
    def gen_job(name):
        return h.write_job(name + ".json", {
            "name": "sp-http",
            "checkpoint": {"dir": h.path("ck-" + name), "interval_ms": 100},
            "source": {"type": "generator", "count": 10**9,
                       "partitions": 2, "rate": 5000, "parallelism": 2},
            "operators": [{"type": "count", "key": "service"}],
            "sink": {"type": "discard"}})
    path = gen_job("http")
    p = h.weir_run(path, args=["--http", "127.0.0.1:0"])
    base = http_url(p)
    p.wait_for_log(r"checkpoint 2 complete")
    sp3, sp4 = h.path("sp-http-1"), h.path("sp-http-2")
    st, ans = post(base + "/savepoints", json.dumps({"target": sp3}).encode())
    check_eq(st, 200, "POST /savepoints: %r" % ans)
    check_eq(ans["path"], sp3, "POST /savepoints: path")
    with open(os.path.join(sp3, "_metadata")) as f:
        meta = json.load(f)
    check_eq((meta["id"], meta.get("savepoint")), (ans["id"], True),
             "%s/_metadata" % sp3)
    st, ans = post(base + "/savepoints", json.dumps({"target": sp3}).encode())
    check(st == 409 and "not empty" in ans["error"],
          "POST /savepoints into a non-empty directory: %d %r" % (st, ans))
    for body, why in ((None, "no target"), (b"[1]", "not a JSON object"),
                      (b'{"target": 7}', "must be a string")):
        st, ans = post(base + "/savepoints", body)
        check(st == 400 and why in ans["error"],
              "POST /savepoints with %r: %d %r" % (body, st, ans))
    forbidden = ""
    other = outside_address()
    if other:
        # The endpoint listens on every address; a client that is not
        # on a loopback address is refused.
        q = h.weir_run(gen_job("http-any"), args=["--http", "0.0.0.0:0"])
        port = http_url(q).rsplit(":", 1)[1]
        st, ans = post("http://%s:%s/stop" % (other, port), None)
        check(st == 403 and "this machine only" in ans["error"],
              "POST /stop from %s: %d %r" % (other, st, ans))
        check(q.running(), "a refused POST /stop stopped the job")
        q.kill()
        forbidden = ", 403 from %s" % other
    st, ans = post(base + "/stop", json.dumps({"target": sp4}).encode())
    check(st == 200 and ans["stopping"] is True and ans["path"] == sp4,
          "POST /stop: %d %r" % (st, ans))
    check_eq(p.wait(), 0, "exit code after POST /stop")
    check(os.path.exists(os.path.join(sp4, "_metadata")),
          "POST /stop wrote no savepoint in %s" % sp4)
    return "POST /savepoints %d and POST /stop%s; %s; %s" % (
        meta["id"], forbidden, case_http_starting(h), case_http_busy(h))


def case_http_busy(h):
    """A POST /savepoints while another savepoint is being taken (its copy
    held up by a slow fsync) is refused with 409, as the README says, not
    answered 500 as if it had failed."""
    faultfs = os.environ.get("FAULTFS") or os.path.join(
        os.path.dirname(os.path.abspath(WEIR)), "tests", "faultfs.so")
    sp_a, sp_b = h.path("sp-busy-a"), h.path("sp-busy-b")
    env = {"LD_PRELOAD": faultfs,
           "WEIR_FAULTFS": "call=fsync,path=%s/*,delay_ms=1500,count=1"
           % sp_a}
    asan = os.environ.get("ASAN_OPTIONS")
    if asan is not None:
        env["ASAN_OPTIONS"] = asan + ":verify_asan_link_order=0"
    path = h.write_job("busy.json", {
        "name": "sp-busy",
        "checkpoint": {"dir": h.path("ck-busy"), "interval_ms": 100},
        "source": {"type": "generator", "count": 10**9, "partitions": 2,
                   "rate": 5000},
        "operators": [{"type": "count", "key": "service"}],
        "sink": {"type": "discard"}})
    p = h.weir_run(path, args=["--http", "127.0.0.1:0"], extra_env=env)
    base = http_url(p)
    p.wait_for_log(r"checkpoint 1 complete")
    first = []
    t = threading.Thread(target=lambda: first.append(post(
        base + "/savepoints", json.dumps({"target": sp_a}).encode())))
    t.start()
    p.wait_for_log(r"faultfs: rule 1: f(data)?sync\(%s/.*delayed"
                   % re.escape(sp_a))
    st, ans = post(base + "/savepoints", json.dumps({"target": sp_b}).encode())
    t.join()
    check(st == 409 and "another savepoint" in ans["error"],
          "POST /savepoints while another is taken: %d %r" % (st, ans))
    check(not os.path.exists(sp_b), "the refused savepoint left %s behind"
          % sp_b)
    check(first and first[0][0] == 200,
          "the savepoint held up by fsync: %r" % first)
    check_eq(p.stop(), 0, "exit code after SIGTERM")
    return "409 while another savepoint is taken"


def case_http_starting(h):
    """POST /stop and /savepoints while the job is still starting (its
    Kafka cannot be reached, so it stays there): refused with 409, and the
    job goes on starting (a stop used to reach a coordinator not made yet
    and crash the process)."""
    path = h.write_job("starting.json", {
        "name": "sp-starting",
        "checkpoint": {"dir": h.path("ck-starting")},
        "source": {"type": "kafka", "brokers": "127.0.0.1:1",
                   "topic": "logs"},
        "operators": [], "sink": {"type": "discard"}})
    p = h.weir_run(path, args=["--http", "127.0.0.1:0"])
    base = http_url(p)
    for url, body in (("/stop", None), ("/savepoints", json.dumps(
            {"target": h.path("sp-starting")}).encode())):
        st, ans = post(base + url, body)
        check(st == 409 and "starting" in ans["error"],
              "POST %s while the job starts: %d %r" % (url, st, ans))
        check(p.running(), "POST %s while the job starts ended it: %s"
              % (url, p.log()))
    check_eq(p.stop(), 0, "exit code of SIGTERM while starting")
    return "409 while starting"


def outside_address():
    """An IPv4 address of this machine that is not loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        a = s.getsockname()[0]
        return None if a.startswith("127.") else a
    except OSError:
        return None
    finally:
        s.close()


if __name__ == "__main__":
    main(test)
