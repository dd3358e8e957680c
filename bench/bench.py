#!/usr/bin/python3
"""bench.py - weir's benchmark suite (run it through bench/run.sh).

Runs every benchmark, prints a table (figure, value, unit, reference,
ratio, target, met) and writes JSON. These are reports, never pass/fail
tests: a target not met is shown as met=false and the run still exits 0.

Every timing is the median of RUNS runs (5; 3 in --quick where stated),
and every ratio alternates its two sides in this one invocation
(A B A B ...), so drift of the machine hits both sides alike.
"""
import argparse
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIR = os.path.join(ROOT, "build", "weir")
LOOP_FILTER = os.path.join(ROOT, "build", "bench", "loop_filter")
LOOP_KAFKA = os.path.join(ROOT, "build", "bench", "loop_kafka")
KSTATE_COW = os.path.join(ROOT, "build", "bench", "kstate_cow")
LEVELS = ["INFO", "INFO", "WARN", "ERROR", "DEBUG", "INFO", "INFO", "ERROR"]
CKPT_RE = re.compile(r"coordinator: checkpoint (\d+) complete in (\d+) ms(.*)")
FILTER = {"type": "filter",
          "where": {"field": "level", "op": "eq", "value": "ERROR"}}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr,
          flush=True)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, Linux {platform.release()}"


def record(seq, part=0, extra=""):
    """The generator's record format (connectors/generator.c)."""
    h = (seq * 2654435761 + part) & 0xFFFFFFFFFFFFFFFF
    return ('{"seq":%d,"level":"%s","service":"svc-%d","msg":"request %d done"%s}'
            % (seq, LEVELS[h % 8], h % 13, seq, extra))


def run_timed(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
              stdin=None, shell=False, env=None):
    """Runs a process to the end; returns (wall s, cpu s, maxrss MiB, the
    text of its piped stdout and stderr)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=stdin,
                         shell=shell, env=env)
    err = b""
    if stdout == subprocess.PIPE:
        err = p.stdout.read()  # small outputs only: stderr is read after
    if stderr == subprocess.PIPE:
        err += p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv!r} exited {p.returncode}: "
                           f"{err.decode(errors='replace')[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, \
        err.decode(errors="replace")


def write_job(tmp, name, job):
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path


def fresh_dir(path):
    subprocess.run(["rm", "-rf", path], check=True)
    return path


class Results:
    def __init__(self):
        self.rows = []

    def add(self, name, value, unit, reference=None, target=None, met=None,
            ratio=None, note=None):
        row = {"name": name, "value": value, "unit": unit,
               "reference": reference, "ratio": ratio, "target": target,
               "met": bool(met) if met is not None else None}
        if note:
            row["note"] = note
        self.rows.append(row)
        log(f"{name}: {value} {unit} (ref {reference}, ratio {ratio}, "
            f"target {target}, met {met}){' - ' + note if note else ''}")


def paired(num, den):
    """The median of num[i] / den[i] over the rounds, and the ratio of the
    medians for the note. Runs i of both lists were taken back to back, so
    a neighbour's load that slows a whole round cancels in its ratio; the
    ratio of the medians pairs runs from different rounds."""
    per = [a / b for a, b in zip(num, den)]
    return (statistics.median(per),
            statistics.median(num) / statistics.median(den))


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def print_table(rows, out=sys.stdout):
    hdr = ["figure", "value", "unit", "reference", "ratio", "target", "met"]
    data = [[r["name"], fmt(r["value"]), r["unit"], fmt(r["reference"]),
             fmt(r["ratio"]), r["target"] or "-",
             {True: "yes", False: "NO", None: "-"}[r["met"]]] for r in rows]
    w = [max([len(h)] + [len(d[i]) for d in data]) for i, h in enumerate(hdr)]
    line = "| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |"
    print(line, file=out)
    print("|" + "|".join("-" * (x + 2) for x in w) + "|", file=out)
    for d in data:
        print("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(d)) + " |",
              file=out)
    notes = [r for r in rows if r.get("note")]
    for r in notes:
        print(f"  {r['name']}: {r['note']}", file=out)


# --------------------------------------------------------------------------
# Core: generator -> filter -> discard, against the single-threaded loop.

def bench_core(res, tmp, args):
    per_part = args.core_records // 2
    total = per_part * 2
    runs = args.runs

    def job(interval, count=per_part, tag=""):
        return write_job(tmp, f"core-{interval}{tag}", {
            "name": f"bench-core-{interval}{tag}",
            "checkpoint": {"dir": os.path.join(tmp, f"ck-core-{interval}"),
                           "interval_ms": interval},
            "source": {"type": "generator", "count": count,
                       "partitions": 2, "rate": 0, "parallelism": 2},
            "operators": [dict(FILTER, parallelism=2)],
            "sink": {"type": "discard"}})

    jobs = {0: job(0), 100: job(100)}
    walls = {"loop": [], 0: [], 100: []}
    cpus = {"loop": [], 0: []}
    ckpt_ms = []
    log(f"core: {total:,} records per run, {runs} rounds of loop / weir "
        f"interval 0 / weir interval 100 ms")
    for i in range(runs):
        w, c, _, out = run_timed([LOOP_FILTER, str(per_part), "2"],
                                 stdout=subprocess.PIPE, stderr=None)
        walls["loop"].append(w)
        cpus["loop"].append(c)
        if f"matches {total // 4} " not in out:
            raise RuntimeError("loop_filter: unexpected output: " + out)
        for iv in (0, 100):
            fresh_dir(os.path.join(tmp, f"ck-core-{iv}"))
            w, c, _, err = run_timed([WEIR, "run", jobs[iv]])
            if iv == 0:
                cpus[0].append(c)
            if f"discarded {total // 4} records" not in err:
                raise RuntimeError("core job did not discard the expected "
                                   "number of records:\n" + err[-2000:])
            walls[iv].append(w)
            if iv == 100:
                for m in CKPT_RE.finditer(err):
                    if "(final)" not in m.group(3) and int(m.group(1)) > 1:
                        ckpt_ms.append(int(m.group(2)))
        log(f"core round {i + 1}: loop {walls['loop'][-1]:.2f}s, weir "
            f"{walls[0][-1]:.2f}s, weir+ckpt {walls[100][-1]:.2f}s")
    loop_rps = total / statistics.median(walls["loop"])
    weir_rps = total / statistics.median(walls[0])
    weir100_rps = total / statistics.median(walls[100])
    # The rounds give ~60 periodic checkpoints; the p99 wants >= 100, so
    # one more run at full load lasts about 12 s (~120 checkpoints).
    long_part = max(per_part, int(weir100_rps * 12) // 2 // 1000 * 1000)
    fresh_dir(os.path.join(tmp, "ck-core-100"))
    w, _, _, err = run_timed([WEIR, "run", job(100, long_part, "-long")])
    if f"discarded {long_part * 2 // 4} records" not in err:
        raise RuntimeError("long core job did not discard the expected "
                           "number of records:\n" + err[-2000:])
    for m in CKPT_RE.finditer(err):
        if "(final)" not in m.group(3) and int(m.group(1)) > 1:
            ckpt_ms.append(int(m.group(2)))
    log(f"core: one {w:.1f} s run of {long_part * 2:,} records for the "
        f"checkpoint p99")
    note = (f"{total:,} records per run, median of {runs}; weir: source and "
            f"filter parallelism 2 (2 cores), interval 0; loop: 1 thread; "
            f"wall time of the whole process")
    r, rm = paired(walls["loop"], walls[0])
    res.add("core_vs_loop", round(weir_rps), "records/s",
            reference=round(loop_rps), ratio=round(r, 3), target=">= 1.0",
            met=r >= 1.0, note=note + f"; ratio: median of the {runs} "
            f"rounds' loop/weir wall times (ratio of medians {rm:.3f})")
    wc, lc = statistics.median(cpus[0]), statistics.median(cpus["loop"])
    res.add("core_cpu_vs_loop", round(wc, 2), "cpu s", reference=round(lc, 2),
            ratio=round(wc / lc, 3),
            note="informational: user+sys seconds of the same runs (weir "
                 "uses both cores, the loop one)")
    r, rm = paired(walls[0], walls[100])
    res.add("checkpoint_overhead", round(weir100_rps), "records/s",
            reference=round(weir_rps), ratio=round(r, 3), target=">= 0.95",
            met=r >= 0.95,
            note="interval 100 ms vs interval 0, same job, alternated; "
                 f"median of the rounds' ratios (ratio of medians {rm:.3f})")
    if ckpt_ms:
        ckpt_ms.sort()
        p99 = ckpt_ms[min(len(ckpt_ms) - 1, int(0.99 * len(ckpt_ms)))]
        res.add("checkpoint_p99_ms", p99, "ms", target="<= 50",
                met=p99 <= 50 and len(ckpt_ms) >= 100,
                note=f"over {len(ckpt_ms)} periodic checkpoints of the "
                     f"interval-100 runs and one longer run (p50 {statistics.median(ckpt_ms)} ms,"
                     f" max {ckpt_ms[-1]} ms); trigger -> complete as logged")
    else:
        res.add("checkpoint_p99_ms", None, "ms", target="<= 50", met=False,
                note="no periodic checkpoint completed")


# --------------------------------------------------------------------------
# Kafka: an embedded broker shared by the Kafka benchmarks.

class Broker:
    def __init__(self, topics):
        argv = [WEIR, "broker"]
        for t in topics:
            argv += ["--topic", t]
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        self.addr = self.p.stdout.readline().decode().strip()
        if not self.addr:
            raise RuntimeError("weir broker printed no address")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def kcat_produce(addr, topic, path):
    """Produces the lines of path, each "KEY<TAB>VALUE". Keyed, because
    without a key librdkafka's sticky partitioner fills one partition at a
    time, and the mock broker drops data beyond 5 MiB per partition."""
    with open(path, "rb") as f:
        return run_timed(["kcat", "-P", "-b", addr, "-t", topic, "-K", "\t"],
                         stdin=f)[0]


def end_offsets(addr, topic, low=False):
    """The sum of the topic's high watermarks (records ever written), or
    with low=True the sum of the low ones (0 unless the broker dropped)."""
    import kafka
    c = kafka.KafkaConsumer(bootstrap_servers=addr, api_version=(2, 3, 0))
    try:
        parts = [kafka.TopicPartition(topic, p)
                 for p in c.partitions_for_topic(topic)]
        if low:
            return sum(c.beginning_offsets(parts).values())
        return sum(c.end_offsets(parts).values())
    finally:
        c.close()


def check_input(addr, topic, n):
    hi, lo = end_offsets(addr, topic), end_offsets(addr, topic, low=True)
    if hi != n or lo != 0:
        raise RuntimeError(f"{topic}: {hi - lo} records readable (high "
                           f"{hi}, low {lo}), expected {n}: the broker "
                           f"dropped data; use more partitions")


def check_written(addr, topic, before, expected, who):
    got = end_offsets(addr, topic) - before
    if got != expected:
        raise RuntimeError(f"{who}: wrote {got} records to {topic}, "
                           f"expected {expected}")
    return got + before


def kafka_job(tmp, name, addr, topic, out, bounded, interval, parallelism=2):
    """A Kafka filter job with weir's default client settings."""
    return write_job(tmp, name, {
        "name": name,
        "checkpoint": {"dir": os.path.join(tmp, "ck-" + name),
                       "interval_ms": interval},
        "source": {"type": "kafka", "brokers": addr, "topic": topic,
                   "parallelism": parallelism, "start": "earliest",
                   "bounded": bounded},
        "operators": [dict(FILTER, parallelism=parallelism)],
        "sink": {"type": "kafka", "brokers": addr, "topic": out,
                 "parallelism": 1, "delivery": "at-least-once"}})


def write_input(path, n):
    """n records as "KEY<TAB>VALUE" lines for kcat_produce."""
    with open(path, "w") as f:
        for seq in range(n):
            f.write(f"{seq}\t{record(seq)}\n")
    return path


def bench_kafka(res, tmp, args, broker):
    n = args.kafka_records
    runs = args.runs
    path = write_input(os.path.join(tmp, "logs.jsonl"), n)
    small_n = 200_000
    small = write_input(os.path.join(tmp, "logs-small.jsonl"), small_n)
    addr = broker.addr
    log(f"kafka: producing {n:,} records ({os.path.getsize(path) / 2**20:.0f} "
        f"MiB) to logs (32 partitions) and {small_n:,} to logs-small")
    kcat_produce(addr, "logs", path)
    kcat_produce(addr, "logs-small", small)
    check_input(addr, "logs", n)
    check_input(addr, "logs-small", small_n)
    n_err = sum(1 for seq in range(n) if '"ERROR"' in record(seq))

    # Broker ceiling: produce-only (into a scratch topic) and consume-only.
    prod, cons = [], []
    for _ in range(runs):
        prod.append(kcat_produce(addr, "scratch", path))
        cons.append(run_timed(["kcat", "-C", "-b", addr, "-t", "logs", "-e",
                               "-q", "-X", "fetch.wait.max.ms=20",
                               "-f", "%s\n"])[0])
    res.add("broker_kcat_produce_s", round(statistics.median(prod), 3), "s",
            note=f"kcat -P of {n:,} records, median of {runs}")
    res.add("broker_kcat_consume_s", round(statistics.median(cons), 3), "s",
            note=f"kcat -C -e of {n:,} records (fetch.wait.max.ms=20), "
                 f"median of {runs}")

    job = kafka_job(tmp, "bench-kafka", addr, "logs", "out-weir", True, 1000)
    pipe = (f"kcat -C -b {addr} -t logs -e -q -X fetch.wait.max.ms=20 "
            f"-f '%s\\n' | grep '\"level\":\"ERROR\"' | "
            f"kcat -P -b {addr} -t out-kcat")
    weir_w, weir_cpu, weir_rss, kcat_w, loop_w, loop_cpu = [], [], [], [], [], []
    outs = {t: end_offsets(addr, t) for t in ("out-weir", "out-kcat",
                                                "out-loop")}
    for i in range(runs):
        fresh_dir(os.path.join(tmp, "ck-bench-kafka"))
        w, c, rss, err = run_timed([WEIR, "run", job])
        outs["out-weir"] = check_written(addr, "out-weir", outs["out-weir"],
                                         n_err, "weir")
        weir_w.append(w)
        weir_cpu.append(c)
        weir_rss.append(rss)
        w, _, _, _ = run_timed(pipe, shell=True)
        kcat_w.append(w)
        outs["out-kcat"] = check_written(addr, "out-kcat", outs["out-kcat"],
                                         n_err, "kcat pipeline")
        w, c, _, _ = run_timed([LOOP_KAFKA, addr, "logs", "out-loop"],
                               stdout=subprocess.PIPE)
        outs["out-loop"] = check_written(addr, "out-loop", outs["out-loop"],
                                         n_err, "loop_kafka")
        loop_w.append(w)
        loop_cpu.append(c)
        log(f"kafka round {i + 1}: weir {weir_w[-1]:.2f}s wall "
            f"{weir_cpu[-1]:.2f}s cpu {weir_rss[-1]:.0f} MiB; kcat pipe "
            f"{kcat_w[-1]:.2f}s; loop {loop_w[-1]:.2f}s wall "
            f"{loop_cpu[-1]:.2f}s cpu")
    ww, kw = statistics.median(weir_w), statistics.median(kcat_w)
    r, rm = paired(weir_w, kcat_w)
    res.add("kafka_wall_vs_kcat", round(ww, 3), "s", reference=round(kw, 3),
            ratio=round(r, 3), target="<= 0.5", met=r <= 0.5,
            note=f"{n:,} records, 32 partitions, checkpoints every 1 s, "
                 f"source+filter parallelism 2; reference: kcat -C -e | grep "
                 f"| kcat -P; median of {runs} rounds' ratios (ratio of "
                 f"medians {rm:.3f})")
    wc, lc = statistics.median(weir_cpu), statistics.median(loop_cpu)
    r, rm = paired(weir_cpu, loop_cpu)
    res.add("kafka_cpu_vs_loop", round(wc, 3), "cpu s", reference=round(lc, 3),
            ratio=round(r, 3), target="<= 1.2", met=r <= 1.2,
            note=f"user+sys of the process; loop_kafka wall "
                 f"{statistics.median(loop_w):.2f}s; median of {runs} rounds' "
                 f"ratios (ratio of medians {rm:.3f})")

    small_rss = []
    sjob = kafka_job(tmp, "bench-kafka-small", addr, "logs-small",
                     "out-weir", True, 1000)
    for _ in range(3):
        fresh_dir(os.path.join(tmp, "ck-bench-kafka-small"))
        small_rss.append(run_timed([WEIR, "run", sjob])[2])
    big = max(weir_rss)
    res.add("peak_rss_mb", round(big, 1), "MiB",
            reference=round(max(small_rss), 1), target="<= 100",
            met=big <= 100,
            note=f"max ru_maxrss of the Kafka filter job over {runs} runs of "
                 f"{n:,} records; reference: the same job on {small_n:,} "
                 f"records (max of 3)")

    # 5M records: 128 partitions keep each under the mock's 5 MiB.
    huge_n = args.kafka_huge_records
    huge = write_input(os.path.join(tmp, "logs-huge.jsonl"), huge_n)
    log(f"kafka: producing {huge_n:,} records "
        f"({os.path.getsize(huge) / 2**20:.0f} MiB) to logs-huge "
        f"(128 partitions)")
    kcat_produce(addr, "logs-huge", huge)
    os.unlink(huge)
    check_input(addr, "logs-huge", huge_n)
    hjob = kafka_job(tmp, "bench-kafka-huge", addr, "logs-huge", "out-huge",
                     True, 1000)
    w, c, huge_rss, _ = run_timed([WEIR, "run", hjob])
    check_written(addr, "out-huge", 0,
                  sum(1 for seq in range(huge_n)
                      if '"ERROR"' in record(seq)), "weir (5M)")
    log(f"kafka 5M: weir {w:.2f}s wall {c:.2f}s cpu {huge_rss:.0f} MiB")
    res.add("peak_rss_mb_5m", round(huge_rss, 1), "MiB",
            reference=round(big, 1), ratio=round(huge_rss / big, 3),
            target="<= 100", met=huge_rss <= 100,
            note=f"ru_maxrss of the same job on {huge_n:,} records (128 "
                 f"partitions, one run, {w:.1f} s wall); reference: "
                 f"peak_rss_mb ({n:,} records, 32 partitions)")


def bench_idle(res, tmp, args, broker):
    job = kafka_job(tmp, "bench-idle", broker.addr, "idle", "out-idle",
                    False, 1000)
    fresh_dir(os.path.join(tmp, "ck-bench-idle"))
    p = subprocess.Popen([WEIR, "run", job], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    tick = os.sysconf("SC_CLK_TCK")

    def cpu():
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        time.sleep(3)
        samples = []
        for _ in range(args.idle_windows):
            c0, t0 = cpu(), time.monotonic()
            time.sleep(5)
            samples.append(100 * (cpu() - c0) / (time.monotonic() - t0))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    v = statistics.median(samples)
    res.add("idle_cpu_pct", round(v, 2), "% of a core", target="<= 1.0",
            met=v <= 1.0,
            note=f"Kafka filter job, no input, checkpoints every 1 s; median "
                 f"of {len(samples)} consecutive 5 s windows from "
                 f"/proc/PID/stat ({', '.join(f'{s:.2f}' for s in samples)})")


# --------------------------------------------------------------------------
# Recovery: SIGKILL after a checkpoint, more input, restart, first new output.

class OutputWatcher(threading.Thread):
    """A kafka-python consumer on the output topic: notes when a record of
    round k first arrives."""

    def __init__(self, addr, topic):
        super().__init__(daemon=True)
        import kafka
        self.c = kafka.KafkaConsumer(bootstrap_servers=addr,
                                     api_version=(2, 3, 0),
                                     fetch_max_wait_ms=5,
                                     enable_auto_commit=False)
        parts = [kafka.TopicPartition(topic, p)
                 for p in self.c.partitions_for_topic(topic)]
        self.c.assign(parts)
        self.c.seek_to_end()
        self.seen = {}
        self.arrivals = []
        self.lock = threading.Lock()
        self.stop = False

    def run(self):
        pat = re.compile(rb'"round":(\d+)')
        while not self.stop:
            batch = self.c.poll(timeout_ms=2)
            now = time.monotonic()
            for recs in batch.values():
                for r in recs:
                    m = pat.search(r.value)
                    with self.lock:
                        self.arrivals.append(now)
                        if m:
                            self.seen.setdefault(int(m.group(1)), now)

    def count(self):
        with self.lock:
            return len(self.arrivals)

    def wait_count(self, n, timeout):
        """When the (n+1)th record since the start arrived, or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.arrivals) > n:
                    return self.arrivals[n]
            time.sleep(0.001)
        return None

    def wait_for(self, k, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if k in self.seen:
                    return self.seen[k]
            time.sleep(0.001)
        return None


class WeirProc:
    def __init__(self, job, env=None):
        self.lines = []
        self.p = subprocess.Popen([WEIR, "run", job],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def wait(self, timeout):
        rc = self.p.wait(timeout)
        self.reader.join(10)
        if rc != 0:
            raise RuntimeError(f"weir exited {rc}:\n" +
                               "".join(self.lines[-20:]))

    def _read(self):
        for line in self.p.stderr:
            self.lines.append(line.decode(errors="replace"))

    def wait_checkpoints(self, count, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if sum(1 for ln in list(self.lines) if CKPT_RE.search(ln)) >= count:
                return True
            time.sleep(0.01)
        return False

    def kill(self):
        self.p.kill()
        self.p.wait()


def bench_recovery(res, tmp, args, broker):
    addr = broker.addr
    job = kafka_job(tmp, "bench-recover", addr, "logs-rec", "out-rec",
                    False, 200, parallelism=1)
    fresh_dir(os.path.join(tmp, "ck-bench-recover"))
    inp = os.path.join(tmp, "rec.jsonl")
    with open(inp, "w") as f:
        for seq in range(10_000):
            f.write(f"{seq}\t{record(seq)}\n")
    kcat_produce(addr, "logs-rec", inp)
    watcher = OutputWatcher(addr, "out-rec")
    watcher.start()
    w = WeirProc(job)
    times = []
    try:
        for k in range(1, args.runs + 1):
            if not w.wait_checkpoints(3, 30):
                raise RuntimeError("recovery job: no checkpoints:\n" +
                                   "".join(w.lines[-20:]))
            w.kill()
            with open(inp, "w") as f:
                for seq in range(100):
                    f.write('%d\t{"seq":%d,"level":"ERROR","service":"svc-1",'
                            '"msg":"after kill","round":%d}\n' % (seq, seq, k))
            kcat_produce(addr, "logs-rec", inp)
            t0 = time.monotonic()
            w = WeirProc(job)
            seen = watcher.wait_for(k, 30)
            if seen is None:
                raise RuntimeError("recovery: round %d output never seen:\n%s"
                                   % (k, "".join(w.lines[-20:])))
            times.append(1000 * (seen - t0))
            log(f"recovery round {k}: {times[-1]:.0f} ms")
    finally:
        w.kill()
        watcher.stop = True
    v = statistics.median(times)
    res.add("recovery_ms", round(v), "ms", target="<= 300", met=v <= 300,
            note=f"exec -> first post-kill output record seen by a "
                 f"kafka-python consumer (fetch_max_wait_ms 5), small state, "
                 f"median of {len(times)} ({', '.join(f'{t:.0f}' for t in times)})")


# --------------------------------------------------------------------------
# 100 MB of keyed state: a count keyed by "msg" (unique per record) over
# STATE_KEYS generator records, about 68 bytes of raw snapshot per key.

STATE_KEYS = 1_500_000
STALL_RE = re.compile(r"count#0: checkpoint (\d+): state captured in (\d+) us")
COW_RE = re.compile(r"^(plain|frozen|thaw): .* p999 (\d+) max (\d+) us", re.M)
RAW_RE = re.compile(r"op0-count-0 written, (\d+) bytes raw, (\d+) on disk")


def bench_state(res, tmp, args, broker):
    n = STATE_KEYS
    extra = 100
    # The filter lets through only the counts of the records after the
    # first n (seq n .. n+99), so the first run writes nothing and a
    # restored run's first output is its first new record.
    assert n % 1000 == 0 and n // 100 % 10 == 0
    regex = "^request %d[0-9]{2} done$" % (n // 100)

    def job(count, ckdir):
        return write_job(tmp, "bench-state", {
            "name": "bench-state",
            "checkpoint": {"dir": ckdir, "interval_ms": 0},
            "source": {"type": "generator", "count": count, "partitions": 1,
                       "rate": 0},
            "operators": [{"type": "count", "key": "msg"},
                          {"type": "filter", "where": {
                              "field": "key", "op": "matches",
                              "value": regex}}],
            "sink": {"type": "kafka", "brokers": broker.addr,
                     "topic": "out-state", "delivery": "at-least-once",
                     "properties": {"linger.ms": "0"}}})

    env = dict(os.environ, WEIR_LOG="debug")
    pristine = fresh_dir(os.path.join(tmp, "ck-state-pristine"))
    log(f"state: building {n:,} keys of count state")
    w, _, rss, err = run_timed([WEIR, "run", job(n, pristine)], env=env)
    raw = [int(m.group(1)) for m in RAW_RE.finditer(err)]
    if not raw:
        raise RuntimeError("state: no count state written:\n" + err[-2000:])
    raw_mb = raw[-1] / 1e6
    log(f"state: built in {w:.1f}s, peak RSS {rss:.0f} MiB, final snapshot "
        f"{raw_mb:.0f} MB raw")
    stalls = [int(m.group(2)) / 1000 for m in STALL_RE.finditer(err)][-1:]
    watcher = OutputWatcher(broker.addr, "out-state")
    watcher.start()
    rec = []
    work = os.path.join(tmp, "ck-state-work")
    rjob = job(n + extra, work)
    try:
        for i in range(args.runs):
            fresh_dir(work)
            subprocess.run(["cp", "-a", pristine, work], check=True)
            time.sleep(0.2)
            before = watcher.count()
            t0 = time.monotonic()
            p = WeirProc(rjob, env=env)
            seen = watcher.wait_count(before, 60)
            if seen is None:
                p.kill()
                raise RuntimeError("state: no output after restore:\n" +
                                   "".join(p.lines[-20:]))
            rec.append(1000 * (seen - t0))
            p.wait(120)
            st = [int(m.group(2)) / 1000
                  for m in STALL_RE.finditer("".join(p.lines))]
            if st:
                stalls.append(st[-1])
            log(f"state round {i + 1}: recovery {rec[-1]:.0f} ms, final "
                f"snapshot stall {stalls[-1]:.2f} ms")
    finally:
        watcher.stop = True
    v = statistics.median(rec)
    res.add("recovery_ms_100mb", round(v), "ms", target="<= 1500",
            met=v <= 1500,
            note=f"count keyed by msg, {n:,} keys, {raw_mb:.0f} MB raw "
                 f"snapshot; exec -> first new output record; median of "
                 f"{len(rec)} ({', '.join(f'{t:.0f}' for t in rec)})")
    v = statistics.median(stalls)
    res.add("snapshot_stall_ms_100mb", round(v, 2), "ms", target="<= 50",
            met=v <= 50,
            note=f"the count task's synchronous snapshot ('state captured "
                 f"in', debug log) at {raw_mb:.0f} MB raw, final checkpoint "
                 f"of the build run and of each restored run; median of "
                 f"{len(stalls)} ({', '.join(f'{t:.2f}' for t in stalls)}); "
                 f"no target given")
    bench_cow(res, n)


def bench_cow(res, n):
    """What the snapshot costs the task after the barrier: batches of 100
    count updates of random existing keys with no snapshot out, with one
    frozen (every first change copies), and after the persister is through
    (copies are freed), all on one thread (bench/kstate_cow.c)."""
    out = subprocess.run([KSTATE_COW, str(n), "5000"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    ph = {m.group(1): (int(m.group(2)), int(m.group(3)))
          for m in COW_RE.finditer(out)}
    if set(ph) != {"plain", "frozen", "thaw"}:
        raise RuntimeError("kstate_cow: unexpected output:\n" + out)
    v = max(ph["frozen"][0], ph["thaw"][0])
    res.add("snapshot_cow_p999_us", v, "us", reference=ph["plain"][0],
            ratio=round(v / max(ph["plain"][0], 1), 1),
            note=f"p999 of batches of 100 count updates at {n:,} keys "
                 f"while a snapshot is frozen or just written, one "
                 f"thread; p999/max us: plain {ph['plain'][0]}/"
                 f"{ph['plain'][1]}, frozen {ph['frozen'][0]}/"
                 f"{ph['frozen'][1]}, after the write {ph['thaw'][0]}/"
                 f"{ph['thaw'][1]}; informational")


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results",
                                                  "latest.json"))
    ap.add_argument("--only", default="", help="comma list: core,kafka,idle,"
                    "recovery,state")
    args = ap.parse_args()
    args.runs = 5
    args.core_records = 20_000_000  # the issue asks for >= 20M records
    args.kafka_records = 1_000_000
    args.kafka_huge_records = 5_000_000
    args.idle_windows = 3 if args.quick else 5
    only = set(filter(None, args.only.split(",")))
    res = Results()
    started = time.monotonic()
    log(f"machine: {machine()}; {'--quick' if args.quick else 'full'} run")
    with tempfile.TemporaryDirectory(prefix="weir-bench.") as tmp:
        if not only or "core" in only:
            bench_core(res, tmp, args)
        broker = Broker(["logs:32", "logs-small:8", "scratch:32",
                         "out-weir:32", "out-kcat:32", "out-loop:32",
                         "idle:4", "out-idle:4", "logs-rec:4", "out-rec:4",
                         "out-state:4", "logs-huge:128", "out-huge:128"])
        try:
            if not only or "kafka" in only:
                bench_kafka(res, tmp, args, broker)
            if not only or "idle" in only:
                bench_idle(res, tmp, args, broker)
            if not only or "recovery" in only:
                bench_recovery(res, tmp, args, broker)
            if not only or "state" in only:
                bench_state(res, tmp, args, broker)
        finally:
            broker.stop()
    doc = {"machine": machine(),
           "mode": "quick" if args.quick else "full",
           "seconds": round(time.monotonic() - started),
           "results": res.rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"\nweir benchmarks ({doc['mode']}, {doc['seconds']} s) on "
          f"{doc['machine']}\n")
    print_table(res.rows)
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
