#!/usr/bin/env python3
"""Keyed state follows its keys to another parallelism.

A filter + count job (count keyed by service) runs with count parallelism
A while input arrives, is SIGKILLed after a few checkpoints, and is
restored with parallelism B; then it catches up and stops. Done for 3 -> 2
and 2 -> 3. The counts must be exact: for every service the output holds
each count 1..N (N = its ERROR records) and nothing else, which only
holds if every key's count moved to the task that owns it now.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (ERROR_FILTER, BackgroundProducer, Harness, check,  # noqa: E402
                      check_counts_exact, check_eq, consume_all,
                      count_outputs, is_error, kafka_job, log_records, main,
                      parse_restore, wait_caught_up)

GROUP = "rescale"


def rescale(a, b, seed):
    with Harness("rescale") as h:
        h.broker({"logs": 4, "counts": 4})
        ck = h.path("ck")

        def job(par):
            return h.write_job("job-%d.json" % par, kafka_job(
                "rescale", ck, "logs", "counts",
                [ERROR_FILTER, {"type": "count", "key": "service",
                                "parallelism": par}],
                source={"group_id": GROUP},
                checkpoint={"interval_ms": 150}))

        records = log_records(20_000, seed, 4)
        producer = BackgroundProducer(h.brokers, "logs", records, seconds=4)
        producer.start()
        w = h.weir_run(job(a))
        w.wait_for_log(r"checkpoint 4 complete", timeout=60)
        w.kill()

        w = h.weir_run(job(b))
        cid, _ = parse_restore(w)
        check(cid > 0, "the restart with parallelism %d restored nothing"
              % b)
        w.wait_for_log(r"moving keyed state from %d task\(s\) to %d"
                       % (a, b))
        producer.finish()
        wait_caught_up(h.brokers, "logs", GROUP, proc=w, timeout=90)
        check_eq(w.stop(), 0, "exit code of the graceful stop")

        expected = {}
        for r in records:
            if is_error(r):
                s = r["obj"]["service"]
                expected[s] = expected.get(s, 0) + 1
        per_key = count_outputs(consume_all(h.brokers, "counts"))
        check_counts_exact(per_key, expected)
        return "%d -> %d: %d services, %d counts exact" % (
            a, b, len(expected), sum(expected.values()))


def run():
    return "; ".join([rescale(3, 2, 11), rescale(2, 3, 12)])


if __name__ == "__main__":
    main(run)
