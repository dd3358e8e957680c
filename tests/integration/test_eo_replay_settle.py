#!/usr/bin/env python3
"""Exactly-once by de-duplication through a second crash during a replay.

Two source partitions, A and B, feed one output partition. Three runs:

  1. Only the job's first checkpoint is taken (before it reads anything);
     the job writes every output of A and B and is SIGKILLed.
  2. New records arrive on A. The restart reads the output from the
     checkpoint's settled offset, so it knows the marks of A and B. A has
     little to replay and soon writes new outputs; B is read one record
     per fetch, so its replay lasts long enough for checkpoints (every
     15 ms) to complete during it. The test waits for new A outputs in
     the output topic, then for two more completed checkpoints (the second
     was triggered after those outputs were written), and SIGKILLs it.
     B's offset in that checkpoint is inside the first run's output.
  3. The restart runs to the end of the input and stops.

kafka-python then reads the output: every source record's output must be
there exactly once, and run 3 must say that the checkpoint carried B's
mark. The bug this is for: the checkpoint of run 2 settled the output
partition after A's new outputs while B was still replaying, so run 3
read the output from there on, never saw B's first-run outputs after B's
checkpointed offset, and wrote them a second time.

Last, the same job with "exactly_once": "transactions" must refuse to
restore that checkpoint of de-duplication.
"""
import time
from collections import Counter

from kafka import KafkaProducer, TopicPartition
from weirtest import (API_VERSION, Harness, check, check_eq, consume_all,
                      consumer, kafka_job, lineage, list_checkpoints, main,
                      note, parse_restore, produce)

A, B = 0, 1
B_RECORDS = 1000
A_FIRST, A_NEW = 5, 50
# One record per produced batch, one batch per fetch (the broker returns
# at least one whole batch), and no read-ahead: the source reads a few
# dozen records a second, so B's replay outlasts the test.
SLOW_FETCH = {"fetch.wait.max.ms": "5", "max.partition.fetch.bytes": "1",
              "queued.min.messages": "1"}


def records(part, n, first):
    return [{"partition": part, "key": None, "headers": [],
             "value": b"%s-%06d" % (b"AB"[part:part + 1], first + i)}
            for i in range(n)]


def produce_one_per_batch(brokers, topic, recs):
    # A record does not fit in 16 bytes, so each gets a batch of its own.
    # kafka-python allocates buffer_memory / batch_size buffers up front:
    # keep the pool small.
    p = KafkaProducer(bootstrap_servers=brokers, api_version=API_VERSION,
                      acks="all", linger_ms=0, batch_size=16,
                      buffer_memory=1 << 20,
                      max_in_flight_requests_per_connection=5, retries=0,
                      client_id="weir-it-writer")
    try:
        return produce(brokers, topic, recs, producer=p)
    finally:
        p.close(10)


def wait_output(c, tp, done, what, proc, timeout=30):
    """Polls the output's end offset until done(end); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        end = c.end_offsets([tp])[tp]
        if done(end):
            return end
        check(proc.running(), "weir exited (%s) while waiting for %s; "
              "log:\n%s" % (proc.p.returncode, what, proc.log()[-3000:]))
        check(time.monotonic() < deadline, "no %s within %d s (output end "
              "offset %d)" % (what, timeout, end))
        time.sleep(0.002)


def test():
    with Harness("eo-replay-settle") as h:
        h.broker({"in": 2, "out": 1})
        ck = h.path("ck")
        src = records(A, A_FIRST, 0) + records(B, B_RECORDS, 0)
        t = time.monotonic()
        produce_one_per_batch(h.brokers, "in", src)
        note("input produced in %.2f s" % (time.monotonic() - t))
        job = kafka_job("eo-replay-settle", ck, "in", "out", [],
                        source={"parallelism": 2},
                        sink={"delivery": "exactly-once"},
                        checkpoint={"interval_ms": 0, "retain": 3})
        c = consumer(h.brokers)
        tp = TopicPartition("out", 0)
        try:
            # Run 1: everything written after checkpoint 1, then a crash.
            w = h.weir_run(h.write_job("job1.json", job))
            first_end = wait_output(c, tp, lambda e: e >= len(src),
                                    "output of run 1", w)
            w.kill()
            note("run 1 killed after %d outputs" % first_end)
            check_eq(first_end, len(src), "outputs of run 1")

            # Run 2: new A records; kill after a checkpoint that follows
            # A's new outputs, while B still replays.
            more = produce(h.brokers, "in", records(A, A_NEW, A_FIRST))
            job["source"]["properties"] = dict(SLOW_FETCH)
            job["checkpoint"]["interval_ms"] = 15
            w = h.weir_run(h.write_job("job2.json", job))
            t0 = time.monotonic()
            cid, _ = parse_restore(w)
            check_eq(cid, 1, "checkpoint restored by run 2")
            wait_output(c, tp, lambda e: e > first_end,
                        "new output of A in run 2", w)
            start = len(w.log())
            for _ in range(2):
                start = w.wait_for_log(r"checkpoint \d+ complete",
                                       start=start).end()
            w.kill()
            note("run 2 killed %.2f s after its start" %
                 (time.monotonic() - t0))
        finally:
            c.close()

        newest = [r for r in list_checkpoints(h, ck)
                  if r.status == "complete"][0]
        b_off = newest.offsets.get(("in", B))
        check(b_off is not None and b_off < B_RECORDS,
              "B's replay ended before chk-%d completed (B offset %s of "
              "%d): the test no longer kills weir inside the replay; make "
              "B's replay slower" % (newest.id, b_off, B_RECORDS))
        note("chk-%d: B at offset %d of %d, A at %s"
             % (newest.id, b_off, B_RECORDS, newest.offsets.get(("in", A))))

        # Run 3: to the end of the input.
        job["source"]["properties"] = {}
        job["source"]["bounded"] = True
        w = h.weir_run(h.write_job("job3.json", job))
        cid, _ = parse_restore(w)
        check_eq(cid, newest.id, "checkpoint restored by run 3")
        check_eq(w.wait(), 0, "exit code of run 3; log:\n%s"
                 % w.log()[-3000:])
        check(w.count_log(r"exactly-once: the checkpoint was taken during "
                          r"a replay; 1 mark\(s\) ") == 1,
              "run 3 does not say that chk-%d carries B's mark; log:\n%s"
              % (newest.id, w.log()[-3000:]))

        # The checkpoint's sink state is de-duplication's: transactions
        # cannot take it over.
        job["sink"]["exactly_once"] = "transactions"
        w = h.weir_run(h.write_job("job4.json", job))
        check(w.wait() != 0 and w.count_log(
            r"this checkpoint was written with \"exactly_once\": "
            r"\"dedup\"") > 0,
              "a transactions sink restoring a checkpoint of "
              "de-duplication does not refuse it; log:\n%s"
              % w.log()[-3000:])

        seen = Counter(lineage(m)[1:3]
                       for m in consume_all(h.brokers, "out"))
        want = {(r["partition"], r["offset"]) for r in src + more}
        lost = want - set(seen)
        dups = sorted(k for k, n in seen.items() if n > 1)
        check(not lost, "%d source records have no output, e.g. %s"
              % (len(lost), sorted(lost)[:5]))
        check(not dups, "%d source records were written more than once "
              "(%d of them from B, which was replaying at offset %d when "
              "chk-%d was taken), e.g. %s"
              % (len(dups), sum(1 for p, _ in dups if p == B), b_off,
                 newest.id, dups[:5]))
        check_eq(set(seen), want, "output lineages")
        return ("second crash at chk-%d with B replaying at %d/%d: %d "
                "records exactly once" % (newest.id, b_off, B_RECORDS,
                                          len(want)))


if __name__ == "__main__":
    main(test)
