"""Shared helpers of weir's integration tests.

Every test is a plain script (no pytest): it starts `weir broker` (the
embedded Kafka broker), writes input with kafka-python, runs `weir run` on a
job file, and reads the output with kafka-python, never with weir itself, so
that weir cannot grade its own output.

Environment:
  WEIR           path of the weir binary (default: build/weir in the repo)
  WEIR_TEST_KEEP set to keep the temporary directory of a failed test
"""

import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import namedtuple

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEIR = os.environ.get("WEIR") or os.path.join(REPO, "build", "weir")

# What kafka-python detects against librdkafka's mock broker; fixing it
# spares a probe round-trip on every client.
API_VERSION = (2, 3, 0)

# Upper bounds for waits. They bound a test's run time when weir hangs; the
# tests never assert how fast something happens.
START_TIMEOUT = 30
STOP_TIMEOUT = 60


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: expected %r, got %r" % (what, want, got))


def note(msg):
    """A progress line on stderr (meson keeps it in the test log)."""
    sys.stderr.write("  [%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def main(test_fn):
    """Runs test_fn(); prints its one-line summary; exits 0, or 1 with the
    reason."""
    t0 = time.monotonic()
    name = os.path.basename(sys.argv[0])

    def on_term(sig, frame):
        # meson's timeout sends SIGTERM: unwind so that the Harness kills
        # the broker and every weir it started.
        raise TestFailure("killed by signal %d" % sig)

    signal.signal(signal.SIGTERM, on_term)
    try:
        summary = test_fn()
    except TestFailure as e:
        print("FAIL %s: %s" % (name, e))
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        print("FAIL %s: unexpected error (traceback above)" % name)
        sys.exit(1)
    print("ok %s: %s (%.1f s)" % (name, summary, time.monotonic() - t0))
    sys.exit(0)


# --- processes -------------------------------------------------------------


class Proc:
    """A background process (weir run, weir broker) with stderr in a file."""

    def __init__(self, args, log_path, env=None, stdout=None,
                 stdin=subprocess.DEVNULL):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.p = subprocess.Popen(
            args, stdin=stdin,
            stdout=stdout if stdout is not None else self._log,
            stderr=self._log, env=env)
        self.pid = self.p.pid
        self.rc = None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.p.poll() is None

    def wait_for_log(self, pattern, timeout=START_TIMEOUT, start=0):
        """Waits for a line matching the regex; returns the match. Fails if
        the process exits or the time is up first."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            m = rx.search(text, start)
            if m:
                return m
            if not self.running():
                text = self.log()
                m = rx.search(text, start)
                if m:
                    return m
                raise TestFailure(
                    "%s exited with %s before logging /%s/; its log:\n%s"
                    % (self.what(), self.p.returncode, pattern, tail(text)))
            if time.monotonic() > deadline:
                raise TestFailure(
                    "%s did not log /%s/ within %d s; its log:\n%s"
                    % (self.what(), pattern, timeout, tail(text)))
            time.sleep(0.05)

    def count_log(self, pattern):
        return len(re.findall(pattern, self.log(), re.M))

    def signal(self, sig):
        if self.running():
            self.p.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """The exit code; fails (after killing it) if it does not exit."""
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise TestFailure("%s did not exit within %d s; its log:\n%s"
                              % (self.what(), timeout, tail(self.log())))
        self._log.close()
        return self.rc

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait: the graceful stop. Returns the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        """SIGKILL: a crash."""
        if self.running():
            self.p.kill()
        self.rc = self.p.wait()
        self._log.close()

    def what(self):
        return "`%s` (pid %d)" % (" ".join(
            os.path.basename(a) if i == 0 else a
            for i, a in enumerate(self.args)), self.pid)


def tail(text, n=40):
    lines = text.rstrip("\n").split("\n")
    if len(lines) > n:
        lines = ["    ... (%d lines before)" % (len(lines) - n)] + lines[-n:]
    return "\n".join("    | " + l for l in lines)


Result = namedtuple("Result", "rc out err")


class Harness:
    """One test's temporary directory and processes; kills whatever is
    still running at exit.

        with Harness("filter") as h:
            b = h.broker({"logs": 4, "out": 4})
            job = h.write_job("job.json", {...})
            w = h.weir_run(job)
    """

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="weir-it-%s-" % name)
        self.procs = []
        self.brokers = None
        self.n = 0
        try:
            self.weir_bin = snapshot_binary(self.path("weir"))
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        for p in reversed(self.procs):
            if p.running():
                p.p.kill()
            try:
                p.p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            try:
                p._log.close()
            except Exception:
                pass
        if exc_type is not None and os.environ.get("WEIR_TEST_KEEP"):
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def env(self, extra=None):
        env = dict(os.environ)
        env.pop("WEIR_LOG", None)
        if self.brokers:
            env["KAFKA_BROKERS"] = self.brokers
        if extra:
            env.update(extra)
        return env

    def broker(self, topics, control=False):
        """Starts `weir broker` with the topics {name: partitions}; returns
        its bootstrap address (also in self.brokers and $KAFKA_BROKERS of
        every weir started later). control=True keeps its stdin open for
        broker_fail()."""
        args = [self.weir_bin, "broker"]
        for t, n in topics.items():
            args += ["--topic", "%s:%d" % (t, n)]
        p = Proc(args, self.path("broker.log"), env=self.env(),
                 stdout=subprocess.PIPE,
                 stdin=subprocess.PIPE if control else subprocess.DEVNULL)
        self.procs.append(p)
        self.broker_proc = p
        fd = p.p.stdout.fileno()
        line = b""
        deadline = time.monotonic() + START_TIMEOUT
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("weir broker printed no address within "
                                  "%d s; log:\n%s"
                                  % (START_TIMEOUT, tail(p.log())))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 1)
                if not chunk:
                    raise TestFailure("weir broker exited (%s) before "
                                      "printing its address; log:\n%s"
                                      % (p.p.wait(), tail(p.log())))
                line += chunk
        addr = line.decode().strip()
        check(re.match(r"^127\.0\.0\.1:\d+$", addr),
              "weir broker's first line is not 127.0.0.1:PORT: %r" % addr)
        self.brokers = addr
        wait_for_topics(addr, topics)
        return addr

    def broker_fail(self, api, error, count=1):
        """Makes the next `count` requests of Kafka API `api` fail with
        `error` (needs broker(control=True)); returns once the broker
        confirms."""
        self.broker_command("fail %s %s %d" % (api, error, count),
                            r"the next \d+ %s request\(s\) fail with %s"
                            % (api, error))

    def broker_delay(self, api, ms, nth=1):
        """Holds the broker's response to the `nth` next request of Kafka
        API `api` for `ms` milliseconds (needs broker(control=True));
        returns once the broker confirms."""
        self.broker_command("delay %s %d %d" % (api, ms, nth),
                            r"the response to %s request %d from now is "
                            r"held" % (api, nth))

    def broker_command(self, line, confirmation):
        p = self.broker_proc
        before = p.count_log(confirmation)
        p.p.stdin.write((line + "\n").encode())
        p.p.stdin.flush()
        deadline = time.monotonic() + START_TIMEOUT
        while p.count_log(confirmation) <= before:
            check(time.monotonic() < deadline,
                  "weir broker did not confirm `%s`; log:\n%s"
                  % (line, tail(p.log())))
            time.sleep(0.02)

    def write_job(self, name, job):
        path = self.path(name)
        with open(path, "w") as f:
            json.dump(job, f, indent=2)
        return path

    def weir_run(self, job_path, extra_env=None, args=()):
        """Starts `weir run JOB [ARGS]` in the background; returns its
        Proc."""
        self.n += 1
        p = Proc([self.weir_bin, "run", job_path] + list(args),
                 self.path("weir-run-%d.log" % self.n),
                 env=self.env(extra_env))
        self.procs.append(p)
        return p

    def weir(self, *args, timeout=STOP_TIMEOUT, extra_env=None):
        """Runs weir to completion; returns Result(rc, stdout, stderr)."""
        try:
            cp = subprocess.run([self.weir_bin] + list(args),
                                stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=timeout,
                                env=self.env(extra_env))
        except subprocess.TimeoutExpired as e:
            raise TestFailure("`weir %s` did not exit within %d s; stderr:\n%s"
                              % (" ".join(args), timeout,
                                 tail((e.stderr or b"").decode("utf-8",
                                                               "replace"))))
        return Result(cp.returncode, cp.stdout.decode("utf-8", "replace"),
                      cp.stderr.decode("utf-8", "replace"))


def broker_binary(weir):
    """weir-broker where `weir broker` finds it: next to weir (installed,
    and in the build tree)."""
    p = os.path.join(os.path.dirname(os.path.abspath(weir)), "weir-broker")
    return p if os.path.exists(p) else None


def snapshot_binary(dest, timeout=90):
    """Copies $WEIR, and weir-broker next to it, to dest and returns dest,
    so that one test runs one binary even if it is relinked meanwhile
    (others rebuild while tests run). Retries while the binary is being
    written (missing, not executable, or `weir version` failing)."""
    deadline = time.monotonic() + timeout
    while True:
        err = None
        try:
            shutil.copy2(WEIR, dest)
            broker = broker_binary(WEIR)
            if broker:
                shutil.copy2(broker, os.path.join(os.path.dirname(dest),
                                                  "weir-broker"))
            cp = subprocess.run([dest, "version"], capture_output=True,
                                timeout=10)
            if cp.returncode == 0 and cp.stdout.startswith(b"weir "):
                return dest
            err = "`weir version` exited %d: %r" % (cp.returncode,
                                                    cp.stdout + cp.stderr)
        except (OSError, subprocess.SubprocessError) as e:
            err = repr(e)
        if time.monotonic() > deadline:
            raise TestFailure("cannot use the weir binary %s: %s"
                              % (WEIR, err))
        time.sleep(2)


def free_port():
    """A port nothing listens on (bound, then closed again)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (from /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- job files -------------------------------------------------------------


def kafka_job(name, ckdir, src_topic, sink_topic, operators,
              source=None, sink=None, checkpoint=None):
    """A job dict for a Kafka-to-Kafka job; the brokers come from
    ${KAFKA_BROKERS} (exercising the job file's env expansion)."""
    job = {
        "name": name,
        "checkpoint": {"dir": ckdir, "interval_ms": 200},
        "source": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                   "topic": src_topic, "parallelism": 2,
                   "start": "earliest",
                   "properties": {"fetch.wait.max.ms": "20"}},
        "operators": operators,
        "sink": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                 "topic": sink_topic, "parallelism": 1,
                 "delivery": "at-least-once", "partitioner": "key"},
    }
    job["checkpoint"].update(checkpoint or {})
    job["source"].update(source or {})
    job["sink"].update(sink or {})
    return job


ERROR_FILTER = {"type": "filter",
                "where": {"field": "level", "op": "eq", "value": "ERROR"}}


# --- input data ------------------------------------------------------------

LEVELS = ["INFO"] * 5 + ["WARN"] * 2 + ["DEBUG"] + ["ERROR"] * 2
SERVICES = ["api", "auth", "billing", "search", "mail", "db", "cache"]


def log_records(n, seed, partitions, first_seq=0, key_every=3,
                header_every=5):
    """n JSON log records spread over the partitions. Every key_every-th
    record has a key, every header_every-th a header. Returns dicts with
    partition, key, value (bytes), headers and obj (the decoded value)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        seq = first_seq + i
        obj = {"seq": seq, "level": rnd.choice(LEVELS),
               "service": rnd.choice(SERVICES),
               "msg": "request %d took %d ms" % (seq, rnd.randint(1, 999))}
        key = None
        if key_every and seq % key_every == 0:
            key = ("user-%d" % rnd.randint(0, 999)).encode()
        headers = []
        if header_every and seq % header_every == 0:
            headers = [("trace", ("t-%d" % seq).encode()),
                       ("bin", bytes([0, 255, seq % 256]))]
        out.append({"partition": rnd.randrange(partitions), "key": key,
                    "value": json.dumps(obj, separators=(",", ":")).encode(),
                    "headers": headers, "obj": obj})
    return out


def is_error(rec):
    return rec.get("obj") is not None and rec["obj"].get("level") == "ERROR"


# --- Kafka with kafka-python -------------------------------------------------


def wait_for_topics(brokers, topics, timeout=START_TIMEOUT):
    """Waits until the broker's metadata shows every topic with its
    partition count."""
    c = consumer(brokers)
    try:
        deadline = time.monotonic() + timeout
        while True:
            ok = True
            for t, n in topics.items():
                parts = c.partitions_for_topic(t)
                if not parts or len(parts) != n:
                    ok = False
            if ok:
                return
            if time.monotonic() > deadline:
                raise TestFailure("the broker at %s does not show topics "
                                  "%r within %d s" % (brokers, topics,
                                                      timeout))
            c._client.cluster.request_update()
            time.sleep(0.1)
    finally:
        c.close()


def consumer(brokers, group_id=None):
    return KafkaConsumer(bootstrap_servers=brokers, group_id=group_id,
                         enable_auto_commit=False, api_version=API_VERSION,
                         fetch_max_wait_ms=50, request_timeout_ms=30000,
                         client_id="weir-it-reader")


def produce(brokers, topic, records, producer=None):
    """Writes the records (dicts with partition, key, value, headers, and
    optionally timestamp, in ms) in order and waits until all are
    acknowledged. Sets rec["offset"] from the broker's acknowledgement, the
    ground truth the tests compare with."""
    own = producer is None
    if own:
        producer = KafkaProducer(bootstrap_servers=brokers,
                                 api_version=API_VERSION, acks="all",
                                 linger_ms=5, retries=0,
                                 max_in_flight_requests_per_connection=1,
                                 client_id="weir-it-writer")
    try:
        futs = [producer.send(topic, value=r["value"], key=r["key"],
                              headers=r["headers"] or None,
                              partition=r["partition"],
                              timestamp_ms=r.get("timestamp"))
                for r in records]
        producer.flush(60)
        for r, f in zip(records, futs):
            md = f.get(timeout=60)
            check(md.partition == r["partition"],
                  "kafka-python wrote to partition %d, not %d"
                  % (md.partition, r["partition"]))
            r["offset"] = md.offset
            r["topic"] = topic
    finally:
        if own:
            producer.close(10)
    return records


def new_producer(brokers):
    return KafkaProducer(bootstrap_servers=brokers, api_version=API_VERSION,
                         acks="all", linger_ms=5, retries=0,
                         max_in_flight_requests_per_connection=1,
                         client_id="weir-it-writer")


class BackgroundProducer(threading.Thread):
    """Writes the records in chunks spread over `seconds`, on a thread.
    After join(), self.error is None or the exception it hit."""

    def __init__(self, brokers, topic, records, seconds, chunk=500):
        super().__init__(daemon=True)
        self.brokers, self.topic, self.records = brokers, topic, records
        self.seconds, self.chunk = seconds, chunk
        self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            p = new_producer(self.brokers)
            try:
                nchunks = max(1, (len(self.records) + self.chunk - 1)
                              // self.chunk)
                t0 = time.monotonic()
                for i in range(nchunks):
                    produce(self.brokers, self.topic,
                            self.records[i * self.chunk:(i + 1) * self.chunk],
                            producer=p)
                    due = t0 + self.seconds * (i + 1) / nchunks
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
            finally:
                p.close(10)
        except Exception as e:  # reported by the test after join()
            self.error = e
        finally:
            self.done.set()

    def finish(self, timeout=120):
        self.join(timeout)
        check(not self.is_alive(), "the input producer did not finish")
        if self.error:
            raise TestFailure("producing the input failed: %r" % self.error)


Msg = namedtuple("Msg", "topic partition offset key value headers")


def end_offsets(brokers, topic):
    """{partition: high watermark}."""
    c = consumer(brokers)
    try:
        parts = c.partitions_for_topic(topic)
        check(parts, "topic %s not found on %s" % (topic, brokers))
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        return {tp.partition: o for tp, o in c.end_offsets(tps).items()}
    finally:
        c.close()


def consume_all(brokers, topic, timeout=60):
    """Every record of every partition of topic, from the beginning to the
    end offsets as of the call, as Msg with raw bytes and headers as a list
    of (str, bytes). Sorted by (partition, offset)."""
    c = consumer(brokers)
    try:
        parts = c.partitions_for_topic(topic)
        check(parts, "topic %s not found on %s" % (topic, brokers))
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out = []
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TestFailure(
                    "reading %s: not at the end offsets %r within %d s "
                    "(positions %r)" % (topic, ends, timeout,
                                        {tp.partition: c.position(tp)
                                         for tp in tps}))
            for tp, msgs in c.poll(timeout_ms=200,
                                   max_records=10000).items():
                for m in msgs:
                    if m.offset < ends[tp]:
                        out.append(Msg(m.topic, m.partition, m.offset, m.key,
                                       m.value, list(m.headers or [])))
        out.sort(key=lambda m: (m.partition, m.offset))
        return out
    finally:
        c.close()


def committed_offsets(brokers, topic, group):
    """{partition: committed offset or None} of a consumer group."""
    c = consumer(brokers, group_id=group)
    try:
        parts = c.partitions_for_topic(topic)
        return {p: c.committed(TopicPartition(topic, p))
                for p in sorted(parts)}
    finally:
        c.close()


def wait_caught_up(brokers, topic, group, proc=None, timeout=90,
                   ends=None):
    """Waits until the group's committed offsets (weir commits them after
    each completed checkpoint) reach the end offsets of topic. Fails if
    proc exits first."""
    if ends is None:
        ends = end_offsets(brokers, topic)
    deadline = time.monotonic() + timeout
    c = consumer(brokers, group_id=group)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(ends)]
        while True:
            got = {tp.partition: c.committed(tp) for tp in tps}
            if all((got[p] or 0) >= e for p, e in ends.items()):
                return got
            if proc is not None and not proc.running():
                raise TestFailure(
                    "%s exited (%s) before committing offsets %r (it "
                    "committed %r); its log:\n%s"
                    % (proc.what(), proc.p.returncode, ends, got,
                       tail(proc.log())))
            if time.monotonic() > deadline:
                raise TestFailure(
                    "group %s did not commit offsets %r within %d s "
                    "(committed: %r)%s" % (
                        group, ends, timeout, got,
                        "; weir's log:\n" + tail(proc.log()) if proc
                        else ""))
            time.sleep(0.1)
    finally:
        c.close()


# --- weir's output and logs --------------------------------------------------


def headers_dict(msg):
    d = {}
    for k, v in msg.headers:
        d.setdefault(k, v)
    return d


def lineage(msg):
    """(topic, partition, offset, seq) from the weir.lineage header."""
    h = [v for k, v in msg.headers if k == "weir.lineage"]
    check(len(h) == 1, "output record %s[%d]@%d has %d weir.lineage "
          "headers: %r" % (msg.topic, msg.partition, msg.offset, len(h),
                           msg.headers))
    text = h[0].decode()
    m = re.match(r"^([^/]+)/(\d+)/(\d+)/(\d+)$", text)
    check(m, "weir.lineage %r is not topic/partition/offset/seq" % text)
    return m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))


RESTORE_RX = (r"restore: restored checkpoint (\d+) of (\S+) \(taken [^)]*\); "
              r"offsets (\{.*\})$")
FRESH_RX = r"restore: no checkpoint in \S+: starting fresh"


def parse_restore(proc, timeout=START_TIMEOUT):
    """Waits for the restore outcome of a starting `weir run`: returns
    (checkpoint id, {topic: {partition: offset}}), or (0, {}) when it
    started fresh."""
    m = proc.wait_for_log(r"(%s)|(%s)" % (RESTORE_RX, FRESH_RX), timeout)
    line = m.group(0)
    m2 = re.search(RESTORE_RX, line)
    if not m2:
        return 0, {}
    offs = json.loads(m2.group(3))
    return int(m2.group(1)), {t: {int(p): o for p, o in parts.items()}
                              for t, parts in offs.items()}


CkptRow = namedtuple("CkptRow", "id completed own full status offsets")

# COMPLETED, OWN and FULL as `weir checkpoints` prints them: a time or "-",
# then two sizes ("1.2 KiB", "75 B", "?"; FULL "-" without a _metadata).
_CKPT_COLS = re.compile(r"^(\S+)\s+(\?|\S+ \S+)\s+(\?|-|\S+ \S+)$")


def list_checkpoints(h, ckdir):
    """Runs `weir checkpoints DIR` and parses the table: CkptRow with id
    (int), completed, own and full (text), status (text) and offsets
    {(topic, partition): offset}, newest first."""
    r = h.weir("checkpoints", ckdir)
    check(r.rc == 0, "`weir checkpoints %s` exited %d: %s"
          % (ckdir, r.rc, r.err.strip()))
    lines = [l for l in r.out.split("\n") if l.strip()]
    if len(lines) == 1 and lines[0].startswith("no checkpoints"):
        return []
    check(lines and lines[0].split()[:4] == ["ID", "COMPLETED", "OWN",
                                             "FULL"],
          "`weir checkpoints` printed no table header:\n%s" % r.out)
    hdr = lines[0]
    c_comp, c_stat, c_off = (hdr.index("COMPLETED"), hdr.index("STATUS"),
                             hdr.index("OFFSETS"))
    rows = []
    for l in lines[1:]:
        m = _CKPT_COLS.match(l[c_comp:c_stat].strip())
        check(m, "`weir checkpoints`: cannot read the time and sizes of "
              "%r" % l)
        offsets = {}
        otext = l[c_off:].strip()
        if otext != "-":
            for item in otext.split():
                m2 = re.match(r"^(.+)\[(\d+)\]=(\d+)$", item)
                check(m2, "`weir checkpoints`: bad offset %r in %r"
                      % (item, l))
                offsets[(m2.group(1), int(m2.group(2)))] = int(m2.group(3))
        rows.append(CkptRow(int(l[:c_comp].strip()), m.group(1), m.group(2),
                            m.group(3), l[c_stat:c_off].strip(), offsets))
    return rows


def count_outputs(msgs):
    """For count output: {key: [count values in output order]} after
    checking that each record's value is {"key": K, "count": N} and its
    Kafka key is K's text."""
    per_key = {}
    for m in msgs:
        try:
            v = json.loads(m.value)
        except ValueError:
            raise TestFailure("count output %s[%d]@%d is not JSON: %r"
                              % (m.topic, m.partition, m.offset, m.value))
        check(isinstance(v, dict) and set(v) == {"key", "count"},
              "count output %s[%d]@%d is not {\"key\",\"count\"}: %r"
              % (m.topic, m.partition, m.offset, m.value))
        check(m.key == str(v["key"]).encode(),
              "count output %s[%d]@%d: Kafka key %r is not the counted "
              "field's text %r" % (m.topic, m.partition, m.offset, m.key,
                                   v["key"]))
        # The exact bytes, for keys whose JSON text has one spelling
        # (reals do not: jansson writes 0.1 as 0.10000000000000001).
        if not isinstance(v["key"], float):
            want = json.dumps({"key": v["key"], "count": v["count"]},
                              separators=(",", ":"), ensure_ascii=False)
            check(m.value == want.encode(),
                  "count output %s[%d]@%d: value %r, expected compact "
                  "%r" % (m.topic, m.partition, m.offset, m.value, want))
        per_key.setdefault(v["key"], []).append(v["count"])
    return per_key


def check_counts_exact(per_key, expected):
    """The count guarantee: for each key the distinct counts seen are
    exactly {1..N}, N = the number of matching input records with that key
    (so the max is N too)."""
    check(set(per_key) == set(expected),
          "count keys: output has %r, input has %r"
          % (sorted(per_key), sorted(expected)))
    for k, n in sorted(expected.items()):
        seen = set(per_key[k])
        if seen != set(range(1, n + 1)):
            missing = sorted(set(range(1, n + 1)) - seen)
            extra = sorted(seen - set(range(1, n + 1)))
            raise TestFailure(
                "key %r: counts seen are not exactly {1..%d}: max %d, "
                "missing %s, unexpected %s" % (
                    k, n, max(seen), missing[:10] +
                    (["..."] if len(missing) > 10 else []), extra[:10]))


# --- the HTTP endpoint ---------------------------------------------------------

HTTP_RX = r"http: listening on (http://[^\s]+)"


def http_url(proc, timeout=START_TIMEOUT):
    """The base URL a `weir run` with an HTTP endpoint logged
    ("http: listening on http://127.0.0.1:PORT")."""
    return proc.wait_for_log(HTTP_RX, timeout).group(1)


def http_get(url, timeout=10):
    """(status, body text) of GET url; an HTTP error status is returned,
    not raised."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def http_json(url, timeout=10):
    status, body = http_get(url, timeout)
    check(status == 200, "GET %s: %d %s" % (url, status, body[:300]))
    return json.loads(body)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse_metrics(text):
    """The Prometheus text exposition as ({family: type}, [(name, {label:
    value}, float)]); fails on a line that does not parse."""
    types, samples = {}, []
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        check(m, "metrics: cannot parse the line %r" % line)
        labels = dict(_LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples
