"""Crash recovery: an unbounded filter + count job is SIGKILLed three times
at random moments while a producer writes its input, restarted each time on
the same job file, and finally stopped with SIGTERM.

Checks, reading Kafka with kafka-python:
- the final stop is graceful (exit 0);
- nothing is lost: every ERROR input record's lineage is in the output;
- duplicates only come from after the restored checkpoints: a record at
  offset o of partition p appears at most 1 + #{restarts whose restored
  offset for p is <= o} times (each run writes a record at most once, and a
  restarted run only re-reads from its restored offsets, parsed from its
  `restore: restored checkpoint N ... offsets {...}` log line);
- the count state is exact: per service the counts seen are exactly
  {1..N}, N = the number of ERROR records of that service;
- the last checkpoint is complete and covers the whole input.

WEIR_TEST_SEED=<n> replays the kill moments of an earlier run.
"""

import os
import random
import signal
import time
from collections import Counter

from weirtest import (ERROR_FILTER, BackgroundProducer, Harness, check,
                      check_counts_exact, check_eq, consume_all,
                      count_outputs, end_offsets, is_error, kafka_job,
                      lineage, list_checkpoints, log_records, main, note,
                      parse_restore, wait_caught_up)

N = 60000
PARTS = 4
PRODUCE_SECONDS = 10
KILLS = 3


def test():
    seed = int(os.environ.get("WEIR_TEST_SEED") or random.randrange(1 << 30))
    print("seed %d (WEIR_TEST_SEED=%d reproduces the kill moments)"
          % (seed, seed), flush=True)
    rnd = random.Random(seed)
    with Harness("crash") as h:
        h.broker({"logs": PARTS, "counts": 2})
        recs = log_records(N, seed=seed, partitions=PARTS)
        ck = h.path("ck")
        job = h.write_job("job.json", kafka_job(
            "crash-recover", ck, "logs", "counts",
            [ERROR_FILTER,
             {"type": "count", "key": "service", "parallelism": 2}],
            source={"parallelism": 2, "group_id": "crash-recover"},
            checkpoint={"interval_ms": 200, "retain": 3}))

        prod = BackgroundProducer(h.brokers, "logs", recs, PRODUCE_SECONDS)
        prod.start()
        w = h.weir_run(job)
        restores = []  # (checkpoint id, {partition: offset}) per restart
        for k in range(1, KILLS + 1):
            delay = rnd.uniform(0.05, 3.0)
            time.sleep(delay)
            check(w.running(), "weir exited (%s) before kill %d; its log:\n%s"
                  % (w.p.returncode, k, w.log()[-3000:]))
            w.kill()
            note("kill %d after %.2f s (%d checkpoints completed in that "
                 "run)" % (k, delay, w.count_log(r"checkpoint \d+ complete")))
            w = h.weir_run(job)
            cid, offs = parse_restore(w)
            restored = {p: offs.get("logs", {}).get(p, 0)
                        for p in range(PARTS)}
            restores.append((cid, restored))
            note("restart %d restored checkpoint %d, offsets %r"
                 % (k, cid, restored))
        for i in range(1, len(restores)):
            for p in range(PARTS):
                check(restores[i][1][p] >= restores[i - 1][1][p],
                      "restart %d restored offset %d for logs[%d], below "
                      "the %d restored by the restart before"
                      % (i + 1, restores[i][1][p], p, restores[i - 1][1][p]))

        prod.finish()
        ends = end_offsets(h.brokers, "logs")
        check_eq(sum(ends.values()), N, "records in logs")
        wait_caught_up(h.brokers, "logs", "crash-recover", proc=w, ends=ends)
        rc = w.stop()
        check(rc == 0, "SIGTERM: weir exited %d, expected 0; log:\n%s"
              % (rc, w.log()[-3000:]))

        expected = {(r["partition"], r["offset"]): r for r in recs
                    if is_error(r)}
        out = consume_all(h.brokers, "counts")
        occ = Counter()
        for m in out:
            topic, p, o, _ = lineage(m)
            check(topic == "logs" and (p, o) in expected,
                  "counts[%d]@%d: lineage %s/%d/%d is not an ERROR input "
                  "record" % (m.partition, m.offset, topic, p, o))
            occ[(p, o)] += 1
        lost = sorted(set(expected) - set(occ))
        check(not lost, "%d ERROR records lost (no output with their "
              "lineage), e.g. logs[%d]@%d; restores: %r"
              % ((len(lost),) + lost[0] + (restores,)) if lost else "")
        dups = 0
        for (p, o), n in occ.items():
            allowed = 1 + sum(1 for _, r in restores if o >= r[p])
            check(n <= allowed,
                  "logs[%d]@%d is in the output %d times, but only %d "
                  "run(s) could write it (restored offsets of logs[%d]: %s)"
                  % (p, o, n, allowed, p, [r[p] for _, r in restores]))
            dups += n - 1
        exp_counts = Counter(r["obj"]["service"] for r in expected.values())
        check_counts_exact(count_outputs(out), dict(exp_counts))

        rows = list_checkpoints(h, ck)
        check(rows and rows[0].status == "complete",
              "newest checkpoint after the graceful stop: %r" % (rows[:1],))
        check_eq(rows[0].offsets, {("logs", p): e for p, e in ends.items()},
                 "offsets of the final checkpoint")
        return ("seed %d: %d kills (restored checkpoints %s), %d ERROR of %d "
                "records none lost, %d duplicates all after restored "
                "offsets, counts exact for %d services"
                % (seed, KILLS, [c for c, _ in restores], len(expected), N,
                   dups, len(exp_counts)))


if __name__ == "__main__":
    main(test)
