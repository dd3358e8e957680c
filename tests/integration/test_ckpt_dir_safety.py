"""What weir finds in checkpoint.dir that it did not write, and stopping
while it starts. No broker: a bounded generator feeds a discard sink.

1. Links: a chk-N symlink to a directory outside checkpoint.dir, N newer
   than the newest checkpoint (startup cleanup removes incomplete ones),
   and a chk-1 symlink older than every checkpoint (retention deletes
   old ones): the job runs, each link is reported and left alone, and the
   files they point to survive.
2. A .lock symlink to a file outside: `weir run` exits 1 naming the link
   and what to do; the file is untouched.
3. Checkpoint ids out of range: a stray chk-18446744073709551609 directory
   and a complete chk-9223372036854775807 are reported and ignored; the job
   restores the real newest checkpoint and its checkpoints complete.
4. A complete checkpoint with the largest id (2^53): the job refuses to
   start, says why and what to do, and deletes nothing.
5. SIGTERM while the job starts (a Kafka source whose broker port is
   closed): weir exits 0 within seconds, saying what it interrupted, and a
   later start still finds the checkpoint directory as it was.
"""

import json
import os
import shutil
import signal
import time

from weirtest import (Harness, TestFailure, check, check_eq, free_port,
                      main, note)

ID_MAX = 1 << 53


def gen_job(ck, count=300, rate=300, retain=3):
    return {"name": "dir-safety",
            "checkpoint": {"dir": ck, "interval_ms": 100, "retain": retain},
            "source": {"type": "generator", "count": count, "partitions": 2,
                       "rate": rate},
            "operators": [], "sink": {"type": "discard"}}


def outside_dir(h, name):
    d = h.path(name)
    os.mkdir(d)
    for f in ("keep.txt", "t0.state"):
        with open(os.path.join(d, f), "w") as fh:
            fh.write("precious\n")
    return d


def check_outside(d):
    for f in ("keep.txt", "t0.state"):
        p = os.path.join(d, f)
        check(os.path.exists(p), "%s was deleted through a link" % p)
        with open(p) as fh:
            check_eq(fh.read(), "precious\n", "content of %s" % p)


def complete_ids(ck):
    out = []
    for n in os.listdir(ck):
        p = os.path.join(ck, n)
        if (n.startswith("chk-") and not os.path.islink(p)
                and os.path.exists(os.path.join(p, "_metadata"))):
            out.append(int(n[4:]))
    return sorted(out)


def copy_ckpt(ck, src_id, new_name, new_id):
    """A complete checkpoint under another name, its _metadata id made to
    agree (_metadata carries no checksum of itself)."""
    dst = os.path.join(ck, new_name)
    shutil.copytree(os.path.join(ck, "chk-%d" % src_id), dst)
    meta = os.path.join(dst, "_metadata")
    with open(meta) as f:
        m = json.load(f)
    m["id"] = new_id
    with open(meta, "w") as f:
        json.dump(m, f)


def run_to_end(h, job, what):
    w = h.weir_run(job)
    rc = w.wait()
    check_eq(rc, 0, "%s: exit code; log:\n%s" % (what, w.log()))
    return w


def fresh_dir(h, name, retain=3):
    """A checkpoint directory with a few complete checkpoints, and the job
    that wrote them."""
    ck = h.path(name)
    job = h.write_job(name + ".json", gen_job(ck, retain=retain))
    run_to_end(h, job, "%s: first run" % name)
    return ck, job


def case_links(h):
    ck, job = fresh_dir(h, "links", retain=1)
    newest = complete_ids(ck)[-1]
    young, old = outside_dir(h, "young"), outside_dir(h, "old")
    young_link = os.path.join(ck, "chk-%d" % (newest + 50))
    old_link = os.path.join(ck, "chk-1")
    if os.path.lexists(old_link):
        shutil.rmtree(old_link)
    os.symlink(young, young_link)
    os.symlink(old, old_link)
    w = run_to_end(h, job, "run with chk-N links")
    check_outside(young)
    check_outside(old)
    check(os.path.islink(young_link) and os.path.islink(old_link),
          "a chk-N link was removed; log:\n%s" % w.log())
    for link in (young_link, old_link):
        check(w.count_log(r"%s in .* is not used: it is a symbolic link"
                          % os.path.basename(link)) == 1,
              "no warning about %s; log:\n%s" % (link, w.log()))
    r = h.weir("checkpoints", ck)
    check(r.rc == 0 and "chk-1 is not a checkpoint: it is a symbolic link"
          in r.err, "`weir checkpoints` does not mention the chk-1 link: "
          "exit %d, stderr:\n%s" % (r.rc, r.err))
    return "chk-N links newer and older than the checkpoints: left alone"


def case_lock_link(h):
    ck, job = fresh_dir(h, "lock")
    victim = h.path("victim.txt")
    with open(victim, "w") as f:
        f.write("precious\n")
    lock = os.path.join(ck, ".lock")
    os.unlink(lock)
    os.symlink(victim, lock)
    w = h.weir_run(job)
    rc = w.wait()
    with open(victim) as f:
        check_eq(f.read(), "precious\n", "the .lock link's target")
    check_eq(rc, 1, ".lock link: exit code; log:\n%s" % w.log())
    check(w.count_log(r"%s is a symbolic link.*remove it" % lock) == 1,
          ".lock link: no clear message; log:\n%s" % w.log())
    return ".lock link: refused, its target untouched"


def case_ids_out_of_range(h):
    ck, job = fresh_dir(h, "range")
    newest = complete_ids(ck)[-1]
    os.mkdir(os.path.join(ck, "chk-18446744073709551609"))
    copy_ckpt(ck, newest, "chk-9223372036854775807", (1 << 63) - 1)
    w = run_to_end(h, job, "run with ids out of range")
    check(w.count_log(r"restored checkpoint %d " % newest) == 1,
          "did not restore checkpoint %d; log:\n%s" % (newest, w.log()))
    for name in ("chk-18446744073709551609", "chk-9223372036854775807"):
        check(w.count_log(r"%s in .* is not used: .*out of range" % name)
              == 1, "no warning about %s; log:\n%s" % (name, w.log()))
    check(complete_ids(ck)[-2] > newest,
          "no checkpoint completed after the restore; log:\n%s" % w.log())
    return "ids out of range: reported, ignored; checkpoints go on"


def case_largest_id(h):
    ck, job = fresh_dir(h, "largest")
    copy_ckpt(ck, complete_ids(ck)[-1], "chk-%d" % ID_MAX, ID_MAX)
    before = sorted(os.listdir(ck))
    w = h.weir_run(job)
    rc = w.wait()
    check_eq(rc, 1, "id %d taken: exit code; log:\n%s" % (ID_MAX, w.log()))
    check(w.count_log(r"chk-%d in .* has the largest" % ID_MAX) == 1,
          "id %d taken: no clear message; log:\n%s" % (ID_MAX, w.log()))
    check_eq(sorted(os.listdir(ck)), before,
             "checkpoint.dir after the refusal")
    return "largest id taken: refused, nothing deleted"


def case_sigterm_starting(h):
    ck, job = fresh_dir(h, "starting")
    kjob = gen_job(ck)
    kjob["source"] = {"type": "kafka", "topic": "logs",
                      "brokers": "127.0.0.1:%d" % free_port()}
    kpath = h.write_job("kafka.json", kjob)
    before = sorted(os.listdir(ck))
    w = h.weir_run(kpath)
    w.wait_for_log(r"Connect to .* failed")
    t0 = time.monotonic()
    w.signal(signal.SIGTERM)
    rc = w.wait()
    took = time.monotonic() - t0
    check_eq(rc, 0, "SIGTERM while starting: exit code; log:\n%s" % w.log())
    check(took < 3, "SIGTERM while starting: exited after %.1f s; log:\n%s"
          % (took, w.log()))
    check(w.count_log(r"Terminated while .*: stopped before the job ran")
          == 1, "SIGTERM while starting: the log does not say what was "
          "interrupted:\n%s" % w.log())
    check_eq(sorted(os.listdir(ck)), before,
             "checkpoint.dir after SIGTERM while starting")
    run_to_end(h, job, "run after the interrupted start")
    return "SIGTERM while starting: exit 0 after %.1f s" % took


CASES = [case_links, case_lock_link, case_ids_out_of_range, case_largest_id,
         case_sigterm_starting]


def test():
    """Every case runs even when an earlier one fails; all failures are
    reported."""
    failures = []
    with Harness("ckpt-dir-safety") as h:
        for case in CASES:
            try:
                note(case(h))
            except TestFailure as e:
                note("FAILED %s: %s" % (case.__name__, e))
                failures.append("%s: %s" % (case.__name__, e))
    if failures:
        raise TestFailure("%d of %d cases failed:\n%s"
                          % (len(failures), len(CASES), "\n".join(failures)))
    return "%d cases" % len(CASES)


if __name__ == "__main__":
    main(test)
