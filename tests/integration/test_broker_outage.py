"""The broker goes away while an exactly-once filter job runs (the embedded
broker's SIGUSR1: connections dropped and refused, data kept; SIGUSR2 brings
it back).

The input is written by a feeder thread in small acknowledged chunks while
the job runs; it pauses for the outage and goes on after it. The sink has
"linger.ms" 10000, so what it produced since the last barrier waits in its
queue until the next barrier flushes it: when the broker goes down in the
middle of a checkpoint interval, the sink holds records it cannot deliver,
as a busy job would. Its checkpoints then wait for them and time out.

1. Short outage (3 s; the checkpoint settings tolerate about 11 s): the job
   does not exit, checkpoints time out during the outage and complete again
   soon after the broker is back (the librdkafka clients reconnect within
   reconnect.backoff.max.ms), the job uses little CPU while it waits (no
   busy loop), and after a graceful stop the output is exactly the ERROR
   input records, each once.
2. Long outage (checkpoint.timeout_ms 1000, tolerable_failures 2): the job
   stops by itself with exit code 1 within a bounded time, and its last
   message says that output could not be delivered to Kafka, that the job
   stopped after too many failed checkpoints, and what to do. With the
   broker back, the same job restarts on the same checkpoint directory,
   restores the last checkpoint taken before the outage, and after a
   graceful stop the output is exactly the ERROR input records, each once.

Everything is read back with kafka-python, never with weir's own code.
"""

import datetime
import re
import signal
import threading
import time
from collections import Counter

from weirtest import (ERROR_FILTER, Harness, TestFailure, check, check_eq,
                      consume_all, cpu_seconds, end_offsets, is_error,
                      kafka_job, lineage, log_records, main, new_producer,
                      note, parse_restore, produce, tail, wait_caught_up)

PARTS = 4
CHUNK = 40           # records per acknowledged chunk of the feeder
CHUNK_PERIOD = 0.02  # seconds between chunks: about 2,000 records/s
SHORT_OUTAGE = 3.0   # seconds
# The short outage's checkpoints: about (10 + 1) x 1 s tolerated.
SHORT_CKPT = {"interval_ms": 300, "timeout_ms": 1000, "tolerable_failures": 10}
# The long outage's: three failures in a row (about 3 s) stop the job.
LONG_CKPT = {"interval_ms": 300, "timeout_ms": 1000, "tolerable_failures": 2}
# Upper bounds, generous for a loaded 2-core machine.
RESUME_LIMIT = 5.0   # broker back -> first checkpoint complete (clients
                     # reconnect within reconnect.backoff.max.ms, 1 s)
EXIT_LIMIT = 15.0    # broker down -> the long-outage job has exited
OUTAGE_CPU_LIMIT = 0.6  # CPU seconds weir may use in the short outage

COMPLETE_RX = r"coordinator: checkpoint (\d+) complete in"
FAILED_RX = (r"coordinator: checkpoint (\d+) failed: timed out after \d+ ms "
             r"\(checkpoint\.timeout_ms\)")


class Feeder(threading.Thread):
    """Writes records to topic in acknowledged chunks of CHUNK, one every
    CHUNK_PERIOD, until paused or out of records. pause() returns once the
    chunk in flight is acknowledged and the producer closed; resume() goes
    on with a new producer. self.fed counts the records written (each has
    its offset set by produce())."""

    def __init__(self, brokers, topic, records):
        super().__init__(daemon=True)
        self.brokers, self.topic, self.records = brokers, topic, records
        self.fed = 0
        self.error = None
        self.cv = threading.Condition()
        self.paused = False   # asked to pause
        self.idle = False     # is paused (or done)
        self.done = False

    def run(self):
        try:
            while True:
                with self.cv:
                    self.idle = True
                    self.cv.notify_all()
                    while self.paused:
                        self.cv.wait()
                    self.idle = False
                    if self.fed >= len(self.records):
                        break
                self._feed_until_paused()
        except Exception as e:  # reported by the test thread
            self.error = e
        finally:
            with self.cv:
                self.done = self.idle = True
                self.cv.notify_all()

    def _feed_until_paused(self):
        p = new_producer(self.brokers)
        try:
            t0 = time.monotonic()
            n = 0
            while True:
                with self.cv:
                    if self.paused or self.fed >= len(self.records):
                        return
                chunk = self.records[self.fed:self.fed + CHUNK]
                produce(self.brokers, self.topic, chunk, producer=p)
                n += 1
                with self.cv:
                    self.fed += len(chunk)
                    self.cv.notify_all()
                delay = t0 + n * CHUNK_PERIOD - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        finally:
            p.close(10)

    def _check(self):
        if self.error:
            raise TestFailure("the feeder failed: %r" % self.error)

    def wait_fed(self, n, timeout=30):
        """Waits until at least n records are acknowledged."""
        with self.cv:
            ok = self.cv.wait_for(lambda: self.fed >= n or self.done,
                                  timeout)
        self._check()
        check(ok and self.fed >= n, "the feeder wrote %d records, not %d, "
              "within %d s" % (self.fed, n, timeout))

    def pause(self, timeout=30):
        with self.cv:
            self.paused = True
            ok = self.cv.wait_for(lambda: self.idle, timeout)
        self._check()
        check(ok, "the feeder did not pause within %d s" % timeout)
        return self.fed

    def resume(self):
        with self.cv:
            self.paused = False
            self.cv.notify_all()

    def finish(self, timeout=60):
        self.resume()
        self.join(timeout)
        check(not self.is_alive(), "the feeder did not finish")
        self._check()


def log_time(line):
    """The wall time (seconds) of a log line of weir or weir broker."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ", line)
    check(m, "log line without a timestamp: %r" % line)
    return datetime.datetime.strptime(
        m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
            tzinfo=datetime.timezone.utc).timestamp()


def lines_matching(text, rx):
    """(time, match) for every line of text that matches rx."""
    out = []
    for line in text.splitlines():
        m = re.search(rx, line)
        if m:
            out.append((log_time(line), m))
    return out


def broker_event(h, what, start=0):
    """Waits for the broker's "broker is down" / "up again" line after
    offset start; returns (its wall time, the offset after it)."""
    m = h.broker_proc.wait_for_log(r"^.*broker: broker is %s.*$" % what,
                                   start=start)
    return log_time(m.group(0)), m.end()


def go_down_mid_interval(h, w, feeder):
    """Takes the broker down while the sink holds undelivered records:
    after a checkpoint completed, lets the feeder write three more chunks
    (the job reads them within its fetch wait, 20 ms, and its sink holds
    their ERROR records until the next barrier), pauses the feeder and
    sends SIGUSR1. Returns the wall time of "broker is down", the offset
    after that line in the broker's log, and the monotonic time the signal
    was sent."""
    w.wait_for_log(COMPLETE_RX, start=len(w.log()))
    feeder.wait_fed(feeder.fed + 3 * CHUNK)
    feeder.pause()
    start = len(h.broker_proc.log())
    h.broker_proc.signal(signal.SIGUSR1)
    sent = time.monotonic()
    return broker_event(h, "down", start) + (sent,)


def check_output_exact(h, topic, records, what):
    """The output topic holds exactly the ERROR records among `records`
    (lineage, value bytes and key), each once; the input holds exactly
    `records`. Returns the number of output records."""
    check_eq(sum(end_offsets(h.brokers, records[0]["topic"]).values()),
             len(records), "%s: records in the input topic" % what)
    want = {(r["partition"], r["offset"]): r for r in records if is_error(r)}
    out = consume_all(h.brokers, topic)
    seen = Counter()
    for m in out:
        t, p, o, _ = lineage(m)
        where = "%s[%d]@%d (lineage %s/%d/%d)" % (topic, m.partition,
                                                  m.offset, t, p, o)
        check_eq(t, records[0]["topic"], "%s: %s: lineage topic"
                 % (what, where))
        r = want.get((p, o))
        check(r is not None, "%s: %s is not an ERROR input record: %r"
              % (what, where, m.value[:200]))
        check_eq(m.value, r["value"], "%s: %s: value" % (what, where))
        check_eq(m.key, r["key"], "%s: %s: key" % (what, where))
        seen[(p, o)] += 1
    twice = sorted(k for k, n in seen.items() if n > 1)
    check(not twice, "%s: %d ERROR records written more than once, e.g. "
          "%s[%d]@%d" % ((what, len(twice), records[0]["topic"]) +
                         (twice[0] if twice else (0, 0))))
    lost = sorted(set(want) - set(seen))
    check(not lost, "%s: %d of %d ERROR records missing from the output, "
          "e.g. %s[%d]@%d" % ((what, len(lost), len(want),
                               records[0]["topic"]) +
                              (lost[0] if lost else (0, 0))))
    return len(out)


def start_fed_job(h, name, n, seed, src, sink, ckpt):
    """Starts an exactly-once filter job from topic src to topic sink and a
    feeder of n records, and waits until 3,000 are written. Returns (the
    records, the job file, its Proc, the feeder)."""
    recs = log_records(n, seed=seed, partitions=PARTS)
    job = h.write_job(name + ".json", kafka_job(
        name, h.path("ck-" + name), src, sink, [ERROR_FILTER],
        source={"group_id": name},
        sink={"delivery": "exactly-once",
              "properties": {"linger.ms": "10000"}},
        checkpoint=ckpt))
    w = h.weir_run(job)
    w.wait_for_log(r"checkpoint 1 complete")
    feeder = Feeder(h.brokers, src, recs)
    feeder.start()
    feeder.wait_fed(3000)
    return recs, job, w, feeder


def short_outage(h):
    recs, _, w, feeder = start_fed_job(h, "outage-short", 12000, 21,
                                       "logs1", "out1", SHORT_CKPT)
    down_t, pos, _ = go_down_mid_interval(h, w, feeder)
    cpu0 = cpu_seconds(w.pid)
    # The outage itself: nothing to wait for but time.
    time.sleep(SHORT_OUTAGE)
    cpu = cpu_seconds(w.pid) - cpu0
    check(w.running(), "the job exited during a %.0f s outage (tolerated: "
          "about 11 s); its log:\n%s" % (SHORT_OUTAGE, tail(w.log())))
    up_log = len(w.log())
    h.broker_proc.signal(signal.SIGUSR2)
    up_t, _ = broker_event(h, "up again", pos)
    fed_before = feeder.fed
    feeder.resume()

    # Checkpoints complete again once the clients have reconnected.
    w.wait_for_log(COMPLETE_RX, start=up_log, timeout=30)
    log = w.log()
    failed = [(t, m) for t, m in lines_matching(log, FAILED_RX)
              if t >= down_t]
    check(failed and failed[0][0] < up_t,
          "no checkpoint timed out during the outage (the sink should "
          "have waited for undelivered records); log:\n%s" % tail(log))
    after = [(t, m) for t, m in lines_matching(log, COMPLETE_RX)
             if t >= up_t]
    check(after, "no checkpoint completed after the broker came back")
    resumed = after[0][0] - up_t
    check(resumed <= RESUME_LIMIT,
          "the first checkpoint after the outage completed %.1f s after "
          "the broker was back (limit %.0f s): the clients reconnect too "
          "late; log:\n%s" % (resumed, RESUME_LIMIT, tail(log)))
    check(cpu < OUTAGE_CPU_LIMIT,
          "the job used %.2f s of CPU during a %.0f s outage (limit %.1f "
          "s): something spins while the broker is away"
          % (cpu, SHORT_OUTAGE, OUTAGE_CPU_LIMIT))
    check(not re.search(r" ERROR ", log), "errors logged during a "
          "tolerated outage:\n%s" % tail(log))

    feeder.finish()
    wait_caught_up(h.brokers, "logs1", "outage-short", proc=w)
    rc = w.stop()
    check_eq(rc, 0, "graceful stop after the outage: exit code; log:\n%s"
             % tail(w.log()))
    check(re.search(r"checkpoint \d+ complete .*\(final\)$", w.log(), re.M),
          "no final checkpoint after SIGTERM; log:\n%s" % tail(w.log()))
    nout = check_output_exact(h, "out1", recs, "short outage")
    note("short outage: %.1f s, %d checkpoint(s) timed out, resumed %.2f s "
         "after the broker was back, %.2f s CPU during the outage; %d + %d "
         "records in, %d ERROR records out once each"
         % (up_t - down_t, len(failed), resumed, cpu, fed_before,
            len(recs) - fed_before, nout))
    return up_t - down_t, len(failed), resumed, cpu


def long_outage(h):
    recs, job, w, feeder = start_fed_job(h, "outage-long", 10000, 22,
                                         "logs2", "out2", LONG_CKPT)
    down_t, pos, down_mono = go_down_mid_interval(h, w, feeder)
    rc = w.wait(timeout=EXIT_LIMIT)
    exit_s = time.monotonic() - down_mono
    log = w.log()
    check_eq(rc, 1, "exit code of the job that outlived its tolerated "
             "checkpoint failures; log:\n%s" % tail(log))
    last = log.rstrip("\n").split("\n")[-1]
    # What happened, why the job stopped, and what to do. One run said:
    #   weir: job outage-long failed: 3 checkpoints failed in a row, more
    #   than checkpoint.tolerable_failures (2); the last one: timed out
    #   after 1000 ms (checkpoint.timeout_ms) waiting for sink#0 (53
    #   record(s) to out2 not yet delivered: Kafka at 127.0.0.1:36079
    #   acknowledged none for 2.9 s; last error: 127.0.0.1:36079/1: Connect
    #   to ipv4#127.0.0.1:36079 failed: Connection refused (after 0ms in
    #   state CONNECT, 1 identical error(s) suppressed)). The job stops;
    #   once that is resolved, start it again: it resumes from checkpoint
    #   6, the last complete one. To ride out longer stalls, raise
    #   checkpoint.timeout_ms or checkpoint.tolerable_failures
    for what, rx in [
            ("the job failed", r"^weir: job outage-long failed: "),
            ("too many failed checkpoints",
             r"3 checkpoints failed in a row, more than "
             r"checkpoint\.tolerable_failures \(2\)"),
            ("the checkpoint timed out", r"timed out after 1000 ms"),
            ("the sink could not deliver to Kafka at the broker",
             r"sink#0 \(\d+ record\(s\) .*not (yet )?delivered\b.*"
             r"Kafka at %s" % re.escape(h.brokers)),
            ("why", r"Connection refused"),
            ("what to do: make Kafka reachable and start again",
             r"start (it|the job) again"),
            ("where it resumes", r"resumes? from checkpoint \d+"),
            ("how to tolerate longer outages",
             r"checkpoint\.timeout_ms or checkpoint\.tolerable_failures")]:
        check(re.search(rx, last), "the last line of the failed job does "
              "not say %s (/%s/):\n    %s" % (what, rx, last))
    last_ok = [int(m.group(1)) for _, m in lines_matching(log, COMPLETE_RX)]
    check(last_ok, "no checkpoint completed before the outage")
    check(re.search(r"resumes? from checkpoint %d\b" % last_ok[-1], last),
          "the message names another checkpoint than the last complete "
          "one, %d:\n    %s" % (last_ok[-1], last))

    h.broker_proc.signal(signal.SIGUSR2)
    up_t, _ = broker_event(h, "up again", pos)
    fed_before = feeder.fed
    w2 = h.weir_run(job)
    cid, _ = parse_restore(w2)
    check_eq(cid, last_ok[-1], "checkpoint restored after the failure")
    feeder.finish()
    wait_caught_up(h.brokers, "logs2", "outage-long", proc=w2)
    rc = w2.stop()
    check_eq(rc, 0, "graceful stop of the restarted job: exit code; "
             "log:\n%s" % tail(w2.log()))
    nout = check_output_exact(h, "out2", recs, "long outage")
    note("long outage: %.1f s; the job exited %.1f s after the broker went "
         "down with: %s; restarted from checkpoint %d: %d + %d records in, "
         "%d ERROR records out once each"
         % (up_t - down_t, exit_s, last, cid, fed_before,
            len(recs) - fed_before, nout))
    return up_t - down_t, exit_s, last


def test():
    with Harness("outage") as h:
        h.broker({"logs1": PARTS, "out1": PARTS, "logs2": PARTS,
                  "out2": PARTS})
        s_out, s_failed, s_resumed, s_cpu = short_outage(h)
        l_out, l_exit, _ = long_outage(h)
        return ("short outage %.1f s: job kept running, %d checkpoint(s) "
                "timed out, resumed %.2f s after the broker was back, %.2f "
                "s CPU; long outage %.1f s: exit 1 after %.1f s with a "
                "clear message, restart restored; output exact both times"
                % (s_out, s_failed, s_resumed, s_cpu, l_out, l_exit))


if __name__ == "__main__":
    main(test)
