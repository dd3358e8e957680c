#!/usr/bin/env python3
"""Exactly-once by Kafka transactions ("exactly_once": "transactions").

The embedded broker accepts transactions but shows aborted records to
every reader and keeps no offsets committed in transactions (see
KAFKA.md), so the output cannot show isolation. What it can show, and this
test checks with kafka-python reading the output:

- commit order: each checkpoint's transaction is committed only after that
  checkpoint completed, and a run without failures writes every record
  exactly once; a restart after a graceful stop writes nothing;
- a SIGKILL between "checkpoint complete" and the commit (the broker holds
  the commit's response, `weir broker`'s "delay EndTxn"): the restart
  finds the transaction uncommitted and writes exactly its records again
  (on this broker they then appear twice; nothing is lost, nothing else is
  repeated);
- commit failures injected into the broker: a retriable one is retried, an
  abortable one aborts and writes the transaction again, and a fenced
  producer (what a zombie instance sees once a newer one started) stops the
  job with a clear message, after which a restart loses nothing;
- `weir validate` refuses transactions without periodic checkpoints, and
  a checkpoint written with the dedup method is not restored into a
  transactional sink.
"""
import os
import re
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (ERROR_FILTER, BackgroundProducer, Harness, check,  # noqa: E402
                      check_eq, consume_all, is_error, kafka_job, lineage,
                      list_checkpoints, log_records, main, note,
                      wait_caught_up)

GROUP = "txn-src"


def txn_job(h, name, interval=200, sinks=2, properties=None,
            lineage_headers=True):
    return h.write_job("job.json", kafka_job(
        name, h.path("ck"), "logs", "out", [ERROR_FILTER],
        source={"group_id": GROUP},
        sink={"delivery": "exactly-once", "exactly_once": "transactions",
              "parallelism": sinks, "properties": properties or {},
              "lineage_headers": lineage_headers},
        checkpoint={"interval_ms": interval, "retain": 5}))


def outputs(h):
    return Counter(lineage(m)[1:3] for m in consume_all(h.brokers, "out"))


def expected_of(records):
    return {(r["partition"], r["offset"]) for r in records if is_error(r)}


def check_no_loss(seen, expected, what):
    lost = expected - set(seen)
    check(not lost, "%s: %d records lost, e.g. %s"
          % (what, len(lost), sorted(lost)[:5]))
    extra = set(seen) - expected
    check(not extra, "%s: %d records that are not in the input"
          % (what, len(extra)))


def commit_order(log):
    """(completed ids, committed ids), checking each commit follows the
    completion of its checkpoint in the log."""
    done, commits = [], []
    for line in log.splitlines():
        m = re.search(r"checkpoint (\d+) complete in", line)
        if m:
            done.append(int(m.group(1)))
        m = re.search(r"committed checkpoint (\d+)'s transaction", line)
        if m:
            n = int(m.group(1))
            check(n in done, "checkpoint %d's transaction was committed "
                  "before the checkpoint completed:\n%s" % (n, line))
            commits.append(n)
    return done, commits


def kill_in_commit(h, job, nth):
    """Runs the job with the broker holding the response to the nth commit
    (EndTxn), and SIGKILLs weir once that commit's checkpoint is complete
    and the commit is under way: the crash between "checkpoint complete"
    and the commit's result. Returns the killed run's log."""
    h.broker_delay("EndTxn", 30_000, nth)
    w = h.weir_run(job, extra_env={"WEIR_LOG": "debug"})
    pat = r"committing checkpoint (\d+)'s transaction"
    w.wait_for_log(r"(?s)(%s.*){%d}" % (pat, nth), timeout=60)
    n = int(re.findall(pat, w.log())[nth - 1])
    w.wait_for_log(r"checkpoint %d complete in" % n)
    check(not re.search(r"committed checkpoint %d's transaction" % n,
                        w.log()),
          "checkpoint %d's transaction was committed although the broker "
          "held the commit's response" % n)
    w.kill()
    check_eq(w.rc, -9, "exit status of the run killed during commit #%d"
             % nth)
    return w.log()


def finish(h, w, producer):
    producer.finish()
    wait_caught_up(h.brokers, "logs", GROUP, proc=w, timeout=90)
    check_eq(w.stop(), 0, "exit code of the graceful stop")


def scenario_clean():
    with Harness("txn-clean") as h:
        h.broker({"logs": 4, "out": 4})
        job = txn_job(h, "txn-clean")
        records = log_records(20_000, 301, 4)
        producer = BackgroundProducer(h.brokers, "logs", records, seconds=3)
        producer.start()
        w = h.weir_run(job, extra_env={"WEIR_LOG": "debug"})
        finish(h, w, producer)
        done, commits = commit_order(w.log())
        check(len(commits) >= 3, "only %d transactions committed" %
              len(commits))
        # This broker keeps no offsets committed in transactions: weir
        # must notice after its first commit and say what that means.
        check(re.search(r"did not keep the marker committed with "
                        r"checkpoint \d+'s transaction.*at-least-once",
                        w.log()),
              "no warning that the broker keeps no transaction markers")
        seen = outputs(h)
        expected = expected_of(records)
        check_no_loss(seen, expected, "clean run")
        dups = {k: n for k, n in seen.items() if n > 1}
        check(not dups, "clean run: %d records written twice" % len(dups))

        w = h.weir_run(job)
        w.wait_for_log(r"transactions: id \"weir-txn-clean-sink-1\", "
                       r"restored checkpoint \d+ with 0 record")
        time.sleep(1)
        check_eq(w.stop(), 0, "exit code of the second graceful stop")
        check_eq(sum(outputs(h).values()), len(expected),
                 "records in the output after a restart that had nothing "
                 "to do")
        return ("clean: %d records exactly once, %d commits, each after "
                "its checkpoint completed" % (len(expected), len(commits)))


def scenario_kill_before_commit():
    with Harness("txn-kill") as h:
        h.broker({"logs": 4, "out": 4}, control=True)
        # One sink task: with two, the other one may commit and start its
        # next transaction before the kill, and on this broker those
        # aborted records would show up as well.
        job = txn_job(h, "txn-kill", sinks=1,
                      properties={"transactional.id": "kill-prefix"})
        records = log_records(20_000, 302, 4)
        producer = BackgroundProducer(h.brokers, "logs", records, seconds=4)
        producer.start()
        kill_in_commit(h, job, 4)
        newest = [r.id for r in list_checkpoints(h, h.path("ck"))
                  if r.status == "complete"][0]

        w = h.weir_run(job)
        # The user's transactional.id is the prefix of each task's id.
        w.wait_for_log(r"transactions: id \"kill-prefix-0\"")
        pat = (r"restored checkpoint %d with (\d+) record\(s\) in its "
               r"transaction" % newest)
        w.wait_for_log(pat)
        kept = sum(int(n) for n in re.findall(pat, w.log()))
        check(kept > 0, "checkpoint %d kept no records to commit" % newest)
        w.wait_for_log(r"checkpoint %d's transaction was not committed "
                       r"before the crash" % newest)
        finish(h, w, producer)

        seen = outputs(h)
        check_no_loss(seen, expected_of(records), "kill before commit")
        twice = [k for k, n in seen.items() if n == 2]
        more = [k for k, n in seen.items() if n > 2]
        check(not more, "records written more than twice: %s" % more[:5])
        # On this broker the aborted transaction stays visible: exactly its
        # records appear twice, nothing else.
        check_eq(len(twice), kept, "records seen twice (the uncommitted "
                 "transaction, written again)")
        return ("kill during commit #4: checkpoint %d's %d records written "
                "again, nothing lost, nothing else repeated"
                % (newest, kept))


def scenario_no_lineage():
    """"lineage_headers": false with transactions: the records kept in
    the checkpoint for an uncommitted transaction are written again with
    the input's headers only, like every other record."""
    with Harness("txn-nolin") as h:
        h.broker({"logs": 4, "out": 4}, control=True)
        job = txn_job(h, "txn-nolin", sinks=1, lineage_headers=False)
        records = log_records(8_000, 303, 4)
        producer = BackgroundProducer(h.brokers, "logs", records, seconds=2)
        producer.start()
        kill_in_commit(h, job, 3)
        w = h.weir_run(job)
        w.wait_for_log(r"restored checkpoint \d+ with [1-9]\d* record\(s\) "
                       r"in its transaction")
        finish(h, w, producer)
        want = {r["value"]: r for r in records if is_error(r)}
        seen = Counter()
        for m in consume_all(h.brokers, "out"):
            r = want.get(m.value)
            check(r is not None, "out[%d]@%d is not an ERROR input record"
                  % (m.partition, m.offset))
            check_eq(m.headers, list(r["headers"]), "headers of out[%d]@%d "
                     "(lineage_headers false)" % (m.partition, m.offset))
            seen[m.value] += 1
        lost = set(want) - set(seen)
        check(not lost, "lineage_headers false: %d records lost" % len(lost))
        return ("lineage_headers false: %d records, a kill during commit "
                "#3, the kept transaction written again with the input's "
                "headers only, nothing lost" % len(want))


def scenario_commit_errors():
    out = []
    for error, kind in (("COORDINATOR_LOAD_IN_PROGRESS", "retriable"),
                        ("UNKNOWN_PRODUCER_ID", "abortable")):
        with Harness("txn-" + kind) as h:
            h.broker({"logs": 4, "out": 4}, control=True)
            # A mistyped command is refused with the list of APIs.
            h.broker_proc.p.stdin.write(b"fail EndTx %s\n" % error.encode())
            h.broker_proc.p.stdin.flush()
            h.broker_proc.wait_for_log(r'unknown API "EndTx"; known: '
                                       r'Produce, .*, EndTxn, ')
            job = txn_job(h, "txn-" + kind)
            records = log_records(15_000, 303, 4)
            producer = BackgroundProducer(h.brokers, "logs", records,
                                          seconds=3)
            producer.start()
            w = h.weir_run(job, extra_env={"WEIR_LOG": "debug"})
            w.wait_for_log(r"committed checkpoint 3's transaction",
                           timeout=60)
            h.broker_fail("EndTxn", error, 2 if kind == "retriable" else 1)
            if kind == "abortable":
                m = w.wait_for_log(
                    r"commit of checkpoint (\d+)'s transaction failed: "
                    r".*Aborting it and writing its (\d+) record")
                rewritten = int(m.group(2))
            finish(h, w, producer)
            commit_order(w.log())
            seen = outputs(h)
            check_no_loss(seen, expected_of(records), kind)
            twice = sum(1 for n in seen.values() if n > 1)
            if kind == "retriable":
                check_eq(twice, 0, "records written twice after a "
                         "retriable commit error")
                out.append("retriable EndTxn error: retried, exact")
            else:
                check_eq(twice, rewritten, "records seen twice (the "
                         "aborted transaction, written again)")
                out.append("abortable EndTxn error: %d records rewritten, "
                           "nothing lost" % rewritten)
    return "; ".join(out)


def scenario_fenced():
    with Harness("txn-fenced") as h:
        h.broker({"logs": 4, "out": 4}, control=True)
        job = txn_job(h, "txn-fenced")
        records = log_records(15_000, 304, 4)
        producer = BackgroundProducer(h.brokers, "logs", records, seconds=3)
        producer.start()
        w = h.weir_run(job, extra_env={"WEIR_LOG": "debug"})
        w.wait_for_log(r"committed checkpoint 3's transaction", timeout=60)
        h.broker_fail("EndTxn", "PRODUCER_FENCED")
        rc = w.wait(timeout=60)
        check_eq(rc, 1, "exit code of a fenced instance")
        m = re.search(r"fenced: another producer with transactional id "
                      r"\"weir-txn-fenced-sink-\d\" has started", w.log())
        check(m, "the fenced instance does not say it was fenced:\n%s"
              % w.log()[-3000:])
        w = h.weir_run(job)
        finish(h, w, producer)
        seen = outputs(h)
        check_no_loss(seen, expected_of(records), "fenced")
        return "fenced: exit 1 with the reason, restart lost nothing"


def scenario_switch():
    """A checkpoint written by one exactly-once method cannot drive the
    other: the restart says so instead of guessing."""
    with Harness("txn-switch") as h:
        h.broker({"logs": 4, "out": 4})
        spec = dict(source={"group_id": GROUP},
                    sink={"delivery": "exactly-once"},
                    checkpoint={"interval_ms": 200})
        job = h.write_job("job.json", kafka_job(
            "txn-switch", h.path("ck"), "logs", "out", [ERROR_FILTER],
            **spec))
        w = h.weir_run(job)
        w.wait_for_log(r"checkpoint 2 complete", timeout=60)
        check_eq(w.stop(), 0, "exit code of the dedup run")
        spec["sink"]["exactly_once"] = "transactions"
        job = h.write_job("job.json", kafka_job(
            "txn-switch", h.path("ck"), "logs", "out", [ERROR_FILTER],
            **spec))
        w = h.weir_run(job)
        check_eq(w.wait(timeout=60), 1, "exit code after switching method")
        check(re.search(r"this checkpoint was written with "
                        r"\"exactly_once\": \"dedup\"", w.log()),
              "the switch is not explained:\n%s" % w.log()[-2000:])
        return "switching dedup -> transactions on a checkpoint is refused"


def scenario_validate():
    with Harness("txn-validate") as h:
        job = h.write_job("job.json", kafka_job(
            "txn-validate", h.path("ck"), "logs", "out", [ERROR_FILTER],
            sink={"delivery": "exactly-once", "exactly_once": "transactions"},
            checkpoint={"interval_ms": 0}))
        r = h.weir("validate", job, extra_env={"KAFKA_BROKERS": "x:1"})
        check_eq(r.rc, 2, "exit code of validate")
        check("checkpoint.interval_ms is 0" in r.err,
              "validate does not explain why: %s" % r.err)
        return "validate refuses transactions without checkpoints"


def run():
    return "\n".join(f() for f in (scenario_validate, scenario_switch,
                                   scenario_clean,
                                   scenario_kill_before_commit,
                                   scenario_no_lineage,
                                   scenario_commit_errors, scenario_fenced))


if __name__ == "__main__":
    main(run)
