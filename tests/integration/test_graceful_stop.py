"""Graceful stop (SIGTERM) of an unbounded filter + count job.

1. SIGTERM while a producer is still writing: exit 0, the log shows the
   stop and a final checkpoint, which `weir checkpoints` lists as complete.
2. Restart: it restores exactly that checkpoint (its offsets), reads the
   rest of the input; SIGTERM: exit 0. The output then has every ERROR
   record exactly once (a graceful stop replays nothing) and each count
   value once per key, {1..N}.
3. Restart with no new input, let it take checkpoints, SIGTERM: exit 0 and
   not one new output record.
   While it idles, its CPU time (utime+stime from /proc) over 3 s stays
   under 0.3 s: a sanity bound against busy loops (a spinning thread would
   use ~3 s), not a benchmark.
"""

import random
import re
import time
from collections import Counter

from weirtest import (ERROR_FILTER, BackgroundProducer, Harness, check,
                      check_counts_exact, check_eq, consume_all,
                      count_outputs, cpu_seconds, end_offsets, is_error,
                      kafka_job, lineage, list_checkpoints, log_records,
                      main, note, parse_restore, wait_caught_up)

N = 20000
PARTS = 4
IDLE_SECONDS = 3.0
IDLE_CPU_LIMIT = 0.3


def final_checkpoint(w):
    check(re.search(r"stopping with a final checkpoint", w.log()),
          "no log line about stopping with a final checkpoint; log:\n%s"
          % w.log()[-2000:])
    m = re.findall(r"coordinator: checkpoint (\d+) complete .*\(final\)$",
                   w.log(), re.M)
    check(len(m) == 1, "expected one final checkpoint in the log, found "
          "%d; log:\n%s" % (len(m), w.log()[-2000:]))
    return int(m[0])


def test():
    with Harness("graceful") as h:
        h.broker({"logs": PARTS, "counts": 2})
        ck = h.path("ck")
        job = h.write_job("job.json", kafka_job(
            "graceful", ck, "logs", "counts",
            [ERROR_FILTER, {"type": "count", "key": "service"}],
            source={"parallelism": 2, "group_id": "graceful"},
            checkpoint={"interval_ms": 200}))
        recs = log_records(N, seed=11, partitions=PARTS)
        prod = BackgroundProducer(h.brokers, "logs", recs, seconds=5)
        prod.start()

        # 1. SIGTERM mid-stream.
        w = h.weir_run(job)
        w.wait_for_log(r"reading \d+ partition")
        time.sleep(random.uniform(0.5, 2.0))
        if prod.done.is_set():
            note("the producer finished before the first SIGTERM (a slow "
                 "machine?); the stop is then not mid-stream")
        rc = w.stop()
        check_eq(rc, 0, "SIGTERM mid-stream: exit code; log:\n%s"
                 % w.log()[-2000:])
        fid = final_checkpoint(w)
        rows = list_checkpoints(h, ck)
        check(rows and rows[0].id == fid and rows[0].status == "complete",
              "`weir checkpoints` does not list final checkpoint %d as the "
              "newest, complete: %r" % (fid, rows[:2]))
        final_offsets = rows[0].offsets
        note("stopped mid-stream; final checkpoint %d at %r"
             % (fid, final_offsets))

        # 2. Restart, read the rest, stop.
        w = h.weir_run(job)
        cid, offs = parse_restore(w)
        check_eq(cid, fid, "checkpoint restored after a graceful stop")
        check_eq({("logs", p): o for p, o in offs.get("logs", {}).items()},
                 final_offsets, "offsets restored")
        prod.finish()
        ends = end_offsets(h.brokers, "logs")
        check_eq(sum(ends.values()), N, "records in logs")
        wait_caught_up(h.brokers, "logs", "graceful", proc=w, ends=ends)
        rc = w.stop()
        check_eq(rc, 0, "second SIGTERM: exit code; log:\n%s"
                 % w.log()[-2000:])
        fid2 = final_checkpoint(w)

        expected = {(r["partition"], r["offset"]): r for r in recs
                    if is_error(r)}
        out = consume_all(h.brokers, "counts")
        occ = Counter(lineage(m)[1:3] for m in out)
        check_eq(set(occ), set(expected), "lineage of the output vs the "
                 "ERROR input records")
        twice = [k for k, n in occ.items() if n > 1]
        check(not twice, "%d records written twice across a graceful stop, "
              "e.g. logs[%d]@%d (restored offsets %r)"
              % ((len(twice),) + (twice[0] if twice else (0, 0)) +
                 (final_offsets,)))
        per_key = count_outputs(out)
        exp_counts = Counter(r["obj"]["service"] for r in expected.values())
        check_counts_exact(per_key, dict(exp_counts))
        for k, counts in per_key.items():
            check_eq(len(counts), exp_counts[k], "count records of %r" % k)
        out_ends = end_offsets(h.brokers, "counts")

        # 3. Restart with no new input: no output; idle CPU.
        w = h.weir_run(job)
        cid, _ = parse_restore(w)
        check_eq(cid, fid2, "checkpoint restored by the idle run")
        w.wait_for_log(r"checkpoint %d complete" % (fid2 + 2))
        cpu0 = cpu_seconds(w.pid)
        time.sleep(IDLE_SECONDS)
        cpu = cpu_seconds(w.pid) - cpu0
        check(w.running(), "the idle job exited: %s" % w.log()[-2000:])
        check(cpu < IDLE_CPU_LIMIT,
              "idle job used %.2f s CPU in %.1f s (limit %.1f s): something "
              "spins" % (cpu, IDLE_SECONDS, IDLE_CPU_LIMIT))
        ncheck = w.count_log(r"checkpoint \d+ complete")
        rows = list_checkpoints(h, ck)  # reads only: fine while it runs
        check(rows and rows[0].status == "complete" and rows[0].id > fid2,
              "`weir checkpoints` while the job runs: %r" % (rows[:2],))
        rc = w.stop()
        check_eq(rc, 0, "SIGTERM of the idle run: exit code")
        final_checkpoint(w)
        check_eq(end_offsets(h.brokers, "counts"), out_ends,
                 "output end offsets after a restart with no new input")
        return ("SIGTERM mid-stream -> exit 0, final checkpoint %d restored "
                "exactly; %d ERROR records out once each, counts exact; idle "
                "restart wrote nothing, %d checkpoints, %.2f s CPU in %.0f s"
                % (fid, len(expected), ncheck, cpu, IDLE_SECONDS))


if __name__ == "__main__":
    main(test)
