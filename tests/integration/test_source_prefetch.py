"""The Kafka source with a small read-ahead bound and a backlog many times
that size.

librdkafka stops fetching once its local queue holds queued.min.messages
records and, in the 2.0 series, looks again only when its broker thread
next wakes up, up to a second later. The source must wake the fetcher as
soon as it has emptied the queue, or every refill costs up to a second.

A bounded filter job reads N records with queued.min.messages set to
BOUND (N / BOUND refills): it must finish within LIMIT_S (under a second
here; 25 s without the wake-up) and write every ERROR record exactly once.
"""

import time
from collections import Counter

from weirtest import (ERROR_FILTER, Harness, check, check_eq, consume_all,
                      is_error, kafka_job, lineage, log_records, main, note,
                      produce)

N = 40000
PARTS = 2
BOUND = 500
LIMIT_S = 10.0


def test():
    with Harness("source-prefetch") as h:
        h.broker({"logs": PARTS, "out": PARTS})
        recs = produce(h.brokers, "logs",
                       log_records(N, seed=7, partitions=PARTS))
        job = h.write_job("job.json", kafka_job(
            "source-prefetch", h.path("ck"), "logs", "out", [ERROR_FILTER],
            source={"bounded": True, "parallelism": 1,
                    "properties": {"fetch.wait.max.ms": "20",
                                   "queued.min.messages": str(BOUND)}}))
        t0 = time.monotonic()
        w = h.weir_run(job)
        rc = w.wait(timeout=120)
        took = time.monotonic() - t0
        check_eq(rc, 0, "bounded run: exit code; log:\n%s" % w.log()[-3000:])
        note("%d records with a read-ahead of %d: %.1f s" % (N, BOUND, took))
        check(took < LIMIT_S,
              "reading %d records with queued.min.messages=%d took %.1f s "
              "(limit %.0f s): the fetcher was not woken when the source "
              "had emptied librdkafka's queue" % (N, BOUND, took, LIMIT_S))

        want = {(r["partition"], r["offset"]) for r in recs if is_error(r)}
        got = Counter(lineage(m)[1:3] for m in consume_all(h.brokers, "out"))
        check_eq(set(got), want, "lineage of the output vs the ERROR input "
                 "records")
        twice = [k for k, n in got.items() if n > 1]
        check(not twice, "%d records written twice, e.g. logs[%d]@%d"
              % ((len(twice),) + (twice[0] if twice else (0, 0))))
        return ("%d records through a read-ahead of %d in %.1f s; %d ERROR "
                "records out exactly once" % (N, BOUND, took, len(want)))


if __name__ == "__main__":
    main(test)
