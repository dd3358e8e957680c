"""The progress line of a running job (top-level "progress_interval_ms").

1. An unbounded filter job over 20,000 records (two of them bad) with
   progress_interval_ms 300: a line "job: progress: ..." comes about every
   300 ms, and once the job has caught up it says exactly what happened:
   the source read every record and has lag 0, the filter took them all
   in, passed on the ERROR records and skipped the two bad ones, and the
   sink took in what the filter passed on (counted here from the input,
   and checked against the output topic read with kafka-python). More
   input makes the counts grow by exactly that much. Every task thread
   carries its task's name (source-0, op0-filter-0, sink-0, ...).
2. progress_interval_ms 0: no progress line in 10.5 s of running (the
   default interval is 10 s).
3. `weir validate` refuses a negative, too small or non-integer interval,
   naming the field.
"""

import os
import re
import time

from weirtest import (ERROR_FILTER, Harness, TestFailure, check, check_eq,
                      consume_all, is_error, kafka_job, log_records, main,
                      note, produce)

N = 20000
MORE = 5000
PARTS = 4
LINE = re.compile(r"job: progress: source (\d+) read \((\d+)/s\), lag (\d+) "
                  r"\| filter (\d+) in, (\d+) out(?:, (\d+) skipped)? "
                  r"\| sink (\d+) in \((\d+)/s\)$", re.M)


def lines(w, start=0):
    return [tuple(int(x or 0) for x in m.groups())
            for m in LINE.finditer(w.log()[start:])]


def wait_line(w, read, filt_in, filt_out, skipped, sunk, timeout=60):
    """Waits for a progress line with these counts and lag 0."""
    want = (read, 0, filt_in, filt_out, skipped, sunk)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check(w.running(), "weir exited (%s) before its progress line "
              "showed %r; log:\n%s" % (w.p.returncode, want, w.log()[-3000:]))
        for ln in lines(w):
            if (ln[0], ln[2], ln[3], ln[4], ln[5], ln[6]) == want:
                return ln
        time.sleep(0.1)
    got = lines(w)
    raise TestFailure("no progress line with read/lag/in/out/skipped/"
                         "sink %r within %d s; the last: %r; log:\n%s"
                         % (want, timeout, got[-1] if got else None,
                            w.log()[-3000:]))


def test():
    with Harness("progress") as h:
        h.broker({"logs": PARTS, "out": PARTS})
        recs = log_records(N, seed=5, partitions=PARTS)
        bad = [{"partition": 0, "key": b"b1", "value": b"not JSON",
                "headers": [], "obj": None},
               {"partition": 3, "key": None, "value": b'{"msg":"no level"}',
                "headers": [], "obj": None}]
        produce(h.brokers, "logs", recs[:N // 2] + bad + recs[N // 2:])
        nerr = sum(1 for r in recs if is_error(r))

        # 1. Counts that add up, then grow with new input.
        job = kafka_job("progress", h.path("ck"), "logs", "out",
                        [ERROR_FILTER], checkpoint={"interval_ms": 500})
        job["progress_interval_ms"] = 300
        w = h.weir_run(h.write_job("job.json", job))
        t0 = time.monotonic()
        ln = wait_line(w, N + 2, N + 2, nerr, 2, nerr)
        note("caught up: %r after %.1f s" % (ln, time.monotonic() - t0))
        got = lines(w)
        check(len(got) >= 2, "expected several progress lines, got %r"
              % got)
        for a, b in zip(got, got[1:]):
            check(b[0] >= a[0] and b[6] >= a[6],
                  "counts went down between progress lines %r and %r"
                  % (a, b))
        stamps = [int(m.group(1)) * 3600 + int(m.group(2)) * 60 +
                  float(m.group(3)) for m in
                  re.finditer(r"T(\d\d):(\d\d):(\d\d\.\d+)Z INFO  job: "
                              r"progress", w.log())]
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        check(all(0.25 <= g % 86400 <= 2.0 for g in gaps),
              "progress lines should come about every 0.3 s; gaps %r"
              % gaps)

        # Each task thread carries its task's name (top -H, perf).
        comms = set()
        for tid in os.listdir("/proc/%d/task" % w.p.pid):
            with open("/proc/%d/task/%s/comm" % (w.p.pid, tid)) as f:
                comms.add(f.read().strip())
        for name in ("source-0", "source-1", "op0-filter-0", "sink-0"):
            check(name in comms, "no thread named %s among %s"
                  % (name, sorted(comms)))

        more = log_records(MORE, seed=6, partitions=PARTS, first_seq=N)
        produce(h.brokers, "logs", more)
        nmore = sum(1 for r in more if is_error(r))
        ln = wait_line(w, N + 2 + MORE, N + 2 + MORE, nerr + nmore, 2,
                       nerr + nmore)
        note("after %d more records: %r" % (MORE, ln))
        w.signal(15)
        rc = w.wait()
        check_eq(rc, 0, "exit code after SIGTERM")
        out = consume_all(h.brokers, "out")
        check_eq(len(out), nerr + nmore, "records in the output topic (the "
                 "sink count the progress line showed)")

        # 2. progress_interval_ms 0: silent for longer than the default
        # interval (10 s), so 0 cannot be taken for "the default".
        job0 = dict(job, name="progress-off", progress_interval_ms=0)
        job0["checkpoint"] = dict(job["checkpoint"], dir=h.path("ck0"))
        w0 = h.weir_run(h.write_job("job0.json", job0))
        w0.wait_for_log(r"reading \d+ partition")
        time.sleep(10.5)
        w0.signal(15)
        check_eq(w0.wait(), 0, "exit code of the job without progress "
                 "lines")
        check("progress:" not in w0.log(), "progress_interval_ms 0 still "
              "logged progress; log:\n%s" % w0.log()[-2000:])

        # 3. Validation.
        for bad_value, want in ((-5, r"progress_interval_ms: out of range; "
                                     r"expected an integer from 0 to "
                                     r"86400000, got -5"),
                                (20, r"progress_interval_ms: expected 0 \(no "
                                     r"progress lines\) or at least 100, "
                                     r"got 20"),
                                ("10s", r"progress_interval_ms: expected an "
                                        r"integer from 0 to 86400000, "
                                        r"got")):
            jb = dict(job, progress_interval_ms=bad_value)
            r = h.weir("validate", h.write_job("bad.json", jb))
            check_eq(r.rc, 2, "`weir validate` exit code for "
                     "progress_interval_ms %r" % (bad_value,))
            check(re.search(want, r.err), "`weir validate` on "
                  "progress_interval_ms %r: expected /%s/ in:\n%s"
                  % (bad_value, want, r.err))
        return ("progress lines every ~0.3 s; at catch-up exact counts "
                "(read %d, lag 0, filter in %d out %d skipped 2, sink %d), "
                "then +%d; interval 0 silent; validate refuses -5, 20 and "
                "\"10s\"" % (N + 2, N + 2, nerr, nerr, MORE))


if __name__ == "__main__":
    main(test)
