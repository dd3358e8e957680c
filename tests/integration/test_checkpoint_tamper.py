"""Checkpoints edited or replaced by hand: a bounded filter + keyed count
job with exactly-once output (transactions) runs twice on one directory
(two complete checkpoints, A older, B newest). Each case copies the
directory, tampers with B in the copy and runs the job on the copy.

Checks:
- a _metadata of B that is valid JSON with intact checksums but lists no
  state for the sources, for the keyed count operator (all its tasks, or
  task 0 of 2) or for the exactly-once sink, "tasks": [], or lists an
  unknown task: `weir run` logs "checkpoint B in DIR is not used:
  _metadata lists ..." and restores A (no task restarts as if it had no
  state);
- a FIFO in place of a state file or of _metadata: `weir checkpoints` and
  `weir run` return promptly, report "not a regular file (a FIFO)" and the
  run restores A;
- "tasks": [] is shown as not usable by `weir checkpoints`;
- a state file whose payload is padded to 1 GiB (a 4 MB lz4 frame, every
  size and checksum in order): `weir checkpoints` stays under 100 MB of
  memory, and `weir run` refuses it, naming the bytes left over.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import time

from weirtest import (ERROR_FILTER, Harness, TestFailure, check, check_eq,
                      kafka_job, list_checkpoints, log_records, main, note,
                      produce, tail)

PARTS = 2
BATCH = 400
PROMPT_S = 20  # a blocked open would never return


def xxh64(data):
    """XXH64 with seed 0 (the state file trailer), in pure Python."""
    p1, p2, p3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
    p4, p5 = 9650029242287828579, 2870177450012600261
    m = (1 << 64) - 1

    def rotl(x, r):
        return ((x << r) | (x >> (64 - r))) & m

    def rnd(acc, v):
        return (rotl((acc + v * p2) & m, 31) * p1) & m

    n, i = len(data), 0
    if n >= 32:
        v = [(p1 + p2) & m, p2, 0, (-p1) & m]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], struct.unpack_from("<Q", data, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) +
             rotl(v[3], 18)) & m
        for k in range(4):
            h = ((h ^ rnd(0, v[k])) * p1 + p4) & m
    else:
        h = p5
    h = (h + n) & m
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from("<Q", data, i)[0]), 27) *
             p1 + p4) & m
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ (struct.unpack_from("<I", data, i)[0] * p1) & m, 23) *
             p2 + p3) & m
        i += 4
    while i < n:
        h = (rotl(h ^ (data[i] * p5) & m, 11) * p1) & m
        i += 1
    h ^= h >> 33
    h = (h * p2) & m
    h ^= h >> 29
    h = (h * p3) & m
    return h ^ (h >> 32)


def chk(ck, cid, name=""):
    return os.path.join(ck, "chk-%d" % cid, name)


def edit_meta(ck, cid, fn):
    path = chk(ck, cid, "_metadata")
    with open(path) as f:
        meta = json.load(f)
    fn(meta)
    with open(path, "w") as f:
        json.dump(meta, f, indent=2)


def drop_tasks(pred):
    def fn(meta):
        before = len(meta["tasks"])
        meta["tasks"] = [t for t in meta["tasks"] if not pred(t["task"])]
        check(len(meta["tasks"]) < before, "no task entry matched")
    return fn


def add_unknown(meta):
    t = dict(meta["tasks"][0])
    t["task"], t["file"] = "source-7", "source-7.state"
    meta["tasks"].append(t)


# A state file's header (format 2): magic, format, state version, payload
# length, content, reserved.
HDR = 32


def make_fifo(ck, cid, name):
    path = chk(ck, cid, name)
    os.unlink(path)
    os.mkfifo(path)


def bomb(ck, cid, task, fix_raw=True):
    """Pads task's payload with 1 GiB of zeros, recompressed (lz4 CLI) and
    resealed: every size and checksum agrees, _metadata included (its
    "raw" size of the payload too unless not fix_raw)."""
    path = chk(ck, cid, task + ".state")
    with open(path, "rb") as f:
        b = f.read()
    payload = subprocess.run(["lz4", "-dc"], input=b[HDR:-16],
                             capture_output=True, check=True).stdout
    zeros = 1 << 30
    lz = subprocess.Popen(["lz4", "-c", "-1"], stdin=subprocess.PIPE,
                          stdout=open(path + ".frame", "wb"))
    lz.stdin.write(payload)
    block = bytes(1 << 20)
    for _ in range(zeros // len(block)):
        lz.stdin.write(block)
    lz.stdin.close()
    check_eq(lz.wait(), 0, "lz4 exit code")
    with open(path + ".frame", "rb") as f:
        frame = f.read()
    os.unlink(path + ".frame")
    body = (b[:16] + struct.pack("<Q", len(payload) + zeros) + b[24:HDR] +
            frame)
    data = body + b"WEIREND1" + struct.pack("<Q", xxh64(body))
    with open(path, "wb") as f:
        f.write(data)

    def fix(meta):
        for t in meta["tasks"]:
            if t["task"] == task:
                t["size"] = len(data)
                t["checksum"] = "%016x" % xxh64(body)
                if fix_raw:
                    t["raw"] = len(payload) + zeros
    edit_meta(ck, cid, fix)
    return len(data)


def run_rss(h, *args):
    """Runs weir to completion; returns (rc, stdout, stderr, peak RSS
    in MiB)."""
    out, err = h.path("rss.out"), h.path("rss.err")
    with open(out, "wb") as fo, open(err, "wb") as fe:
        p = subprocess.Popen([h.weir_bin] + list(args), stdout=fo,
                             stderr=fe, stdin=subprocess.DEVNULL,
                             env=h.env())
        deadline = time.monotonic() + PROMPT_S
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                p.wait()
                raise TestFailure("`weir %s` did not exit within %d s"
                                  % (" ".join(args), PROMPT_S))
            time.sleep(0.05)
    p.returncode = os.waitstatus_to_exitcode(status)
    with open(out) as fo, open(err) as fe:
        return p.returncode, fo.read(), fe.read(), ru.ru_maxrss / 1024


def test():
    with Harness("tamper") as h:
        h.broker({"logs": PARTS, "counts": 2})
        base = h.path("ck")

        def job_for(ck):
            return h.write_job(os.path.basename(ck) + ".json", kafka_job(
                "ckpt-tamper", ck, "logs", "counts",
                [ERROR_FILTER, {"type": "count", "key": "service",
                                "parallelism": 2}],
                source={"bounded": True},
                sink={"delivery": "exactly-once",
                      "exactly_once": "transactions"},
                checkpoint={"interval_ms": 600000, "retain": 10}))

        for batch_no in range(2):
            produce(h.brokers, "logs", log_records(
                BATCH, seed=batch_no, partitions=PARTS,
                first_seq=batch_no * BATCH))
            r = h.weir("run", job_for(base))
            check_eq(r.rc, 0, "base run %d exit code; stderr:\n%s"
                     % (batch_no + 1, tail(r.err)))
        rows = list_checkpoints(h, base)
        check(len(rows) >= 2 and all(r.status == "complete"
                                     for r in rows[:2]),
              "base checkpoints: %r" % (rows,))
        b, a = rows[0].id, rows[1].id
        names = sorted(f[:-6] for f in os.listdir(chk(base, b))
                       if f.endswith(".state"))
        note("checkpoints %d (newest) and %d; tasks %s" % (b, a, names))
        count_task = [n for n in names if "-count-" in n][0]
        check_eq(count_task, "op1-count-0", "the count's first task")

        cases = [
            ("no source entries", lambda ck: edit_meta(
                ck, b, drop_tasks(lambda t: t.startswith("source-"))),
             r"_metadata lists no state for source-0 \(source#0\)"),
            ("one source entry", lambda ck: edit_meta(
                ck, b, drop_tasks(lambda t: t == "source-1")),
             r"_metadata lists no state for source-1 \(source#1\)"),
            ("no count entries", lambda ck: edit_meta(
                ck, b, drop_tasks(lambda t: "-count-" in t)),
             r"_metadata lists no state for op1-count-0 \(operators\[1\] "
             r"count#0\)"),
            ("count task 0 of 2", lambda ck: edit_meta(
                ck, b, drop_tasks(lambda t: t == "op1-count-0")),
             r"_metadata lists 1 state file\(s\) of operators\[1\] "
             r"count#0's stage, written by 2 task\(s\): some key groups "
             r"have no state"),
            ("count task 1 of 2", lambda ck: edit_meta(
                ck, b, drop_tasks(lambda t: t == "op1-count-1")),
             r"_metadata lists 1 state file\(s\) of operators\[1\] "
             r"count#0's stage, written by 2 task\(s\): some key groups "
             r"have no state"),
            ("no sink entry", lambda ck: edit_meta(
                ck, b, drop_tasks(lambda t: t.startswith("sink-"))),
             r"_metadata lists no state for sink-0 \(sink#0\)"),
            ('"tasks": []', lambda ck: edit_meta(
                ck, b, lambda m: m.update(tasks=[])),
             r"_metadata lists no state for source-0"),
            ("unknown task", lambda ck: edit_meta(ck, b, add_unknown),
             r"_metadata lists state for source-7, which is no task of "
             r"this job that keeps state"),
            ("FIFO state file", lambda ck: make_fifo(
                ck, b, count_task + ".state"),
             r"damaged: chk-%d/%s\.state: not a regular file \(a FIFO\)"
             % (b, count_task)),
            ("FIFO _metadata", lambda ck: make_fifo(ck, b, "_metadata"),
             r"damaged: chk-%d/_metadata: not a regular file \(a FIFO\)"
             % b),
        ]
        done = []
        for i, (what, tamper, reason) in enumerate(cases):
            ck = h.path("ck-%d" % i)
            shutil.copytree(base, ck)
            tamper(ck)
            t0 = time.monotonic()
            listing = h.weir("checkpoints", ck, timeout=PROMPT_S)
            check_eq(listing.rc, 0, "%s: `weir checkpoints` exit code; "
                     "stderr:\n%s" % (what, listing.err))
            if "FIFO" in what or what == '"tasks": []':
                line = [l for l in listing.out.split("\n")
                        if l.startswith("%d " % b)]
                check(line and "damaged: " in line[0],
                      "%s: `weir checkpoints` does not show %d as "
                      "damaged:\n%s" % (what, b, listing.out))
            r = h.weir("run", job_for(ck), timeout=PROMPT_S + 40)
            check_eq(r.rc, 0, "%s: `weir run` exit code; stderr:\n%s"
                     % (what, tail(r.err)))
            m = re.search(r"checkpoint %d in \S+ is not used: (.*)$" % b,
                          r.err, re.M)
            check(m and re.search(reason, m.group(1)),
                  "%s: the run does not say why checkpoint %d is not used "
                  "(wanted /%s/); stderr:\n%s" % (what, b, reason,
                                                  tail(r.err)))
            check(re.search(r"restored checkpoint %d of " % a, r.err),
                  "%s: checkpoint %d was not restored; stderr:\n%s"
                  % (what, a, tail(r.err)))
            done.append("%s -> %d not used, %d restored (%.1f s)"
                        % (what, b, a, time.monotonic() - t0))
            note(done[-1] + ": " + m.group(1))

        # A payload padded to 1 GiB.
        ck = h.path("ck-bomb")
        shutil.copytree(base, ck)
        size = bomb(ck, b, "source-0")
        rc, out, err, rss = run_rss(h, "checkpoints", ck)
        check_eq(rc, 0, "`weir checkpoints` on the padded state: exit "
                 "code; stderr:\n%s" % err)
        check(rss < 100, "`weir checkpoints` on a %d-byte state file that "
              "decodes to 1 GiB peaked at %.0f MiB" % (size, rss))
        rc, out, err, run_rss_mib = run_rss(h, "run", job_for(ck))
        check_eq(rc, 1, "`weir run` on the padded state: exit code; "
                 "stderr:\n%s" % tail(err))
        check(re.search(r"chk-%d/source-0\.state: 1073741824 byte\(s\) "
                        r"after the end of source#0's state" % b, err),
              "the refusal does not name the bytes left over; stderr:\n%s"
              % tail(err))
        done.append("1 GiB padded state: listed in %.0f MiB, run refused "
                    "(restore peaked at %.0f MiB)" % (rss, run_rss_mib))

        # The same, but _metadata still has the payload's real size: the
        # header is refused before a byte is decoded, and restore falls
        # back to the checkpoint before.
        ck = h.path("ck-bomb-raw")
        shutil.copytree(base, ck)
        bomb(ck, b, "source-0", fix_raw=False)
        rc, out, err, rss = run_rss(h, "run", job_for(ck))
        check_eq(rc, 0, "`weir run` with a payload larger than _metadata "
                 "says: exit code; stderr:\n%s" % tail(err))
        check(re.search(r"checkpoint %d in \S+ is not used: damaged: "
                        r"chk-%d/source-0\.state: header says the payload "
                        r"is \d+ bytes, _metadata says \d+" % (b, b), err),
              "the fallback does not name the size mismatch; stderr:\n%s"
              % tail(err))
        check(rss < 150, "restore with a header claiming 1 GiB peaked at "
              "%.0f MiB" % rss)
        done.append("1 GiB header against _metadata's size: refused "
                    "before decoding, restore peaked at %.0f MiB" % rss)
        return "; ".join(done)


if __name__ == "__main__":
    main(test)
