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
import math
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


def discarded(err):
    """The discard sink's record count from a job's log, or None."""
    m = re.search(r"sink#0: discarded (\d+) records", err)
    return int(m.group(1)) if m else None


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
# Metrics: the core job with the HTTP endpoint on and scraped every second,
# against the same job with it off.

def run_scraped(job, every=1.0, http=True):
    """Runs `weir run JOB --http 127.0.0.1:0` to the end while a thread
    GETs /metrics every `every` s; returns (wall s, scrapes, stderr).
    With http False the same loop runs the job without the endpoint, so
    that both sides of the comparison are timed the same way (the loop
    notices the end within 20 ms)."""
    import urllib.request
    t0 = time.monotonic()
    errf = tempfile.TemporaryFile()
    argv = [WEIR, "run", job] + (["--http", "127.0.0.1:0"] if http else [])
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errf)
    url, scrapes = None, 0
    while p.poll() is None:
        if not http:
            time.sleep(0.02)
            continue
        if url is None:
            errf.seek(0)
            m = re.search(rb"http: listening on (http://\S+)", errf.read())
            if not m:
                time.sleep(0.01)
                continue
            url = m.group(1).decode() + "/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if b"weir_records_in_total" not in r.read():
                    raise RuntimeError("a scrape without records counters")
            scrapes += 1
        except OSError:
            pass  # the job ended between poll() and the request
        deadline = time.monotonic() + every
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    wall = time.monotonic() - t0
    errf.seek(0)
    err = errf.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"weir run {job} exited {p.returncode}: "
                           f"{err[-2000:]}")
    return wall, scrapes, err


def bench_metrics(res, tmp, args):
    per_part = args.metrics_records // 2
    total = per_part * 2
    path = write_job(tmp, "metrics", {
        "name": "bench-metrics",
        "checkpoint": {"dir": os.path.join(tmp, "ck-metrics"),
                       "interval_ms": 100},
        "source": {"type": "generator", "count": per_part,
                   "partitions": 2, "rate": 0, "parallelism": 2},
        "operators": [dict(FILTER, parallelism=2)],
        "sink": {"type": "discard"}})
    walls = {"off": [], "on": []}
    scrapes = []
    want = f"discarded {total // 4} records"
    log(f"metrics: {total:,} records per run, {args.runs} rounds of "
        f"endpoint off / on and scraped every second")
    for i in range(args.runs):
        fresh_dir(os.path.join(tmp, "ck-metrics"))
        w, _, err = run_scraped(path, http=False)
        if want not in err:
            raise RuntimeError("metrics job (off) lost records:\n" +
                               err[-2000:])
        walls["off"].append(w)
        fresh_dir(os.path.join(tmp, "ck-metrics"))
        w, n, err = run_scraped(path)
        if want not in err:
            raise RuntimeError("metrics job (on) lost records:\n" +
                               err[-2000:])
        walls["on"].append(w)
        scrapes.append(n)
        log(f"metrics round {i + 1}: off {walls['off'][-1]:.2f}s, on "
            f"{walls['on'][-1]:.2f}s ({n} scrapes)")
    r, rm = paired(walls["off"], walls["on"])
    res.add("metrics_overhead", round(total / statistics.median(walls["on"])),
            "records/s",
            reference=round(total / statistics.median(walls["off"])),
            ratio=round(r, 3), target=">= 0.98", met=r >= 0.98,
            note=f"the core job (interval 100 ms) with --http and GET "
                 f"/metrics every second ({min(scrapes)}-{max(scrapes)} "
                 f"scrapes a run) vs without the endpoint, alternated, "
                 f"both timed by the same polling loop; "
                 f"median of the {args.runs} rounds' ratios (ratio of "
                 f"medians {rm:.3f})")


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
    # Incremental checkpoints (the default) log the keyed state as a
    # "base" or "delta" apart from the count's own small state file.
    raw_mb = op_raw(err) / 1e6
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
# Changelog checkpoints (issue 12): every job below runs once with
# "checkpoint": {"incremental": true} and once with false, in one
# invocation, and each figure reports both modes (targets are for
# incremental). Keyed state is built by a fast bounded run, then the job is
# restarted from its checkpoint with a generator "rate" (not part of the
# graph fingerprint): churn_key maps every later record to a hashed key in
# [0, keys), so the rate is the number of key updates a second.

CHURN_KEY = os.path.join(ROOT, "build", "bench", "libchurn_key.so")
FAT_STATE = os.path.join(ROOT, "build", "bench", "libfat_state.so")
MODES = ("incremental", "full")
MAT_RE = re.compile(r"(\S+): materialized keyed state of checkpoint (\d+): "
                    r"(\d+) bytes raw, (\d+) on disk, in (\d+) ms")
# The persister's lines only: the materializer logs its bases too.
OPRAW_RE = re.compile(r"persister: checkpoint (\d+): (op\S+) "
                      r"(?:base |delta )?written, "
                      r"(\d+) bytes raw, (\d+) on disk")
DELTA_RE = re.compile(r"checkpoint (\d+): (\S+) delta written, (\d+) bytes "
                      r"raw, (\d+) on disk")
SHARED_RE = re.compile(r"\.([bd])(\d+)$")
FOREVER = 10**12  # a generator count the churn runs never reach
NO_OUTPUT = 10**15  # a "seq" no record reaches: the filter passes nothing


def incremental_known():
    """Whether this weir takes "checkpoint.incremental" (issue 12); before
    it, the job file refuses the field and only full mode is measured."""
    with tempfile.TemporaryDirectory(prefix="weir-bench-probe.") as d:
        path = write_job(d, "probe", {
            "name": "probe",
            "checkpoint": {"dir": os.path.join(d, "ck"),
                           "incremental": True},
            "source": {"type": "generator"}, "sink": {"type": "discard"}})
        return subprocess.run([WEIR, "validate", path],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0


def ckpt_cfg(args, mode, ckdir, interval, retain=None):
    c = {"dir": ckdir, "interval_ms": interval, "timeout_ms": 600000}
    if args.incremental_known:
        c["incremental"] = mode == "incremental"
    if retain:
        c["retain"] = retain
    return c


def distinct_keys(keys, n):
    """Expected distinct keys among n uniform draws from keys (churn_key's
    hash is uniform): exact to well under 0.1% at these sizes, and free,
    where hashing every seq in Python would cost seconds."""
    return keys * -math.expm1(n * math.log1p(-1.0 / keys))


class CkptDirWatch(threading.Thread):
    """Polls a checkpoint directory every 20 ms: the size of every file
    that appears under chk-*/ and shared/ (final names, never *.tmp), each
    checkpoint's _metadata, and the size of everything there (temp files
    too) at each poll, so that retention deleting a file later loses
    nothing."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.files = {}
        self.meta = {}
        self.samples = []
        self.halt = False

    def run(self):
        while not self.halt:
            self.scan()
            time.sleep(0.02)

    def stop(self):
        self.halt = True
        self.join(5)
        self.scan()

    def scan(self):
        total = 0
        try:
            subs = [e for e in os.scandir(self.path) if e.is_dir()]
        except OSError:
            return
        for sub in subs:
            if not (sub.name.startswith("chk-") or sub.name == "shared"):
                continue
            try:
                entries = list(os.scandir(sub.path))
            except OSError:
                continue
            for e in entries:
                try:
                    size = e.stat().st_size
                except OSError:
                    continue
                total += size
                if e.name.endswith(".tmp"):
                    continue
                rel = sub.name + "/" + e.name
                self.files[rel] = max(size, self.files.get(rel, 0))
                if e.name == "_metadata" and sub.name not in self.meta:
                    try:
                        with open(e.path) as f:
                            self.meta[sub.name] = json.load(f)
                    except (OSError, ValueError):
                        pass
        self.samples.append((time.monotonic(), total))

    def file_id(self, rel):
        """(checkpoint id, "chk" | "b" | "d") of a file seen."""
        d, name = rel.split("/", 1)
        if d != "shared":
            return int(d[4:]), "chk"
        m = SHARED_RE.search(name)
        return (int(m.group(2)), m.group(1)) if m else (None, None)

    def offset(self, ckid):
        m = self.meta.get(f"chk-{ckid}")
        return int(m["offsets"]["generator"]["0"]) if m else None


class ChurnRun:
    """One churn run's record: per complete checkpoint its duration and
    generator position, the bytes each wrote (materializations apart),
    and the directory size over time."""

    def __init__(self, lines, watch, start_pos):
        text = "".join(lines)
        self.done = [(int(m.group(1)), int(m.group(2)))
                     for m in CKPT_RE.finditer(text)
                     if "(final)" not in m.group(3)]
        self.mats = {int(m.group(2)): (int(m.group(3)), int(m.group(4)),
                                       int(m.group(5)))
                     for m in MAT_RE.finditer(text)}
        self.deltas = {}
        for m in DELTA_RE.finditer(text):
            self.deltas[int(m.group(1))] = (self.deltas.get(
                int(m.group(1)), 0) + int(m.group(3)))
        # Raw bytes of every operator state file, base and delta.
        self.raw = {}
        for m in OPRAW_RE.finditer(text):
            self.raw[int(m.group(1))] = (self.raw.get(int(m.group(1)), 0) +
                                         int(m.group(3)))
        self.watch = watch
        self.start_pos = start_pos
        self.written = {}  # checkpoint id -> bytes its own files took
        self.mat_bytes = 0
        last = self.done[-1][0] if self.done else 0
        for rel, size in watch.files.items():
            ckid, kind = watch.file_id(rel)
            if ckid is None or ckid > last:
                continue
            if kind == "b" and ckid in self.mats:
                self.mat_bytes += size
            else:
                self.written[ckid] = self.written.get(ckid, 0) + size

    def intervals(self, keys, raw_per_key, skip):
        """[(id, ms, bytes written, raw bytes of the keys changed since
        the checkpoint before)] of the complete checkpoints after the
        first skip."""
        out, prev = [], self.start_pos
        for i, (ckid, ms) in enumerate(self.done):
            pos = self.watch.offset(ckid)
            if pos is None:
                continue
            changed = distinct_keys(keys, pos - prev) * raw_per_key
            prev = pos
            if i >= skip:
                out.append((ckid, ms, self.written.get(ckid, 0), changed))
        return out


def op_raw(err):
    """Raw bytes of the largest operator state file of the last checkpoint
    in a run's debug log (the keyed state of a bounded build run)."""
    found = [(int(m.group(1)), int(m.group(3)))
             for m in OPRAW_RE.finditer(err)]
    if not found:
        raise RuntimeError("no operator state written:\n" + err[-2000:])
    last = max(i for i, _ in found)
    return max(r for i, r in found if i == last)


def churn_job(tmp, args, mode, ckdir, keys, count, rate, interval,
              fat_bytes=0, out_from=None, broker=None, retain=None):
    """generator -> churn_key -> count by k -> discard, or with fat_bytes
    generator -> churn_key -> fat_state by k -> filter seq >= out_from ->
    Kafka (out-fat)."""
    ops = [{"type": "plugin", "library": CHURN_KEY, "keys": keys}]
    if fat_bytes:
        ops += [{"type": "plugin", "library": FAT_STATE, "key": "k",
                 "bytes": fat_bytes},
                {"type": "filter", "where": {"field": "seq", "op": "ge",
                                             "value": out_from}}]
        sink = {"type": "kafka", "brokers": broker.addr, "topic": "out-fat",
                "delivery": "at-least-once",
                "properties": {"linger.ms": "0"}}
    else:
        ops.append({"type": "count", "key": "k"})
        sink = {"type": "discard"}
    name = f"bench-{'fat' if fat_bytes else 'churn'}-{mode}"
    return write_job(tmp, name, {
        "name": name, "checkpoint": ckpt_cfg(args, mode, ckdir, interval,
                                             retain),
        "source": {"type": "generator", "count": count, "partitions": 1,
                   "rate": rate},
        "operators": ops, "sink": sink})


def build_state(tmp, args, mode, ckdir, keys, **kw):
    """A bounded run that gives every key its first value; its final
    checkpoint holds the state. Returns the raw bytes of that state."""
    fresh_dir(ckdir)
    w, _, rss, err = run_timed(
        [WEIR, "run", churn_job(tmp, args, mode, ckdir, keys, keys, 0, 0,
                                **kw)],
        env=dict(os.environ, WEIR_LOG="debug"))
    raw = op_raw(err)
    log(f"changelog {mode}: {keys:,} keys built in {w:.1f} s, {raw / 1e6:.0f}"
        f" MB raw, peak RSS {rss:.0f} MiB")
    return raw


def churn(tmp, args, mode, ckdir, keys, rate, until, limit_s, **kw):
    """Restarts the built job at rate key updates/s with checkpoints every
    second until until(proc) or limit_s; SIGKILLs it and returns the
    ChurnRun and the process (killed)."""
    watch = CkptDirWatch(ckdir)
    watch.start()
    p = WeirProc(churn_job(tmp, args, mode, ckdir, keys, FOREVER, rate, 1000,
                           **kw), env=dict(os.environ, WEIR_LOG="debug"))
    end = time.monotonic() + limit_s
    try:
        while time.monotonic() < end and not until(p):
            if p.p.poll() is not None:
                raise RuntimeError(f"changelog {mode}: weir exited:\n" +
                                   "".join(p.lines[-20:]))
            time.sleep(0.05)
    finally:
        p.kill()
        watch.stop()
    return ChurnRun(p.lines, watch, keys), p


def count_done(p):
    return sum(1 for ln in list(p.lines)
               if CKPT_RE.search(ln) and "(final)" not in ln)


def count_mats(p):
    return sum(1 for ln in list(p.lines) if MAT_RE.search(ln))


def both(values, fmt_one):
    return "; ".join(f"{m}: {fmt_one(values[m])}" for m in values)


def bench_changelog(res, tmp, args, broker):
    modes = MODES if args.incremental_known else ("full",)
    if not args.incremental_known:
        log("changelog: this weir has no checkpoint.incremental; measuring "
            "full mode only")
    q = "--quick: " if args.quick else ""
    bench_inc_throughput(res, tmp, args, modes, q)
    bench_changed_bytes(res, tmp, args, modes, q)
    bench_write_amp(res, tmp, args, modes, q)
    bench_fat(res, tmp, args, modes, q, broker)


# --------------------------------------------------------------------------
# Windows (issue 13): a tumbling 1-minute count per service against the
# keyed count over the same generated input, and how soon a window's
# result reaches Kafka once its end has passed.

def bench_window(res, tmp, args, broker):
    per_part = 1_000_000 if args.quick else 2_000_000
    total = per_part * 2
    runs = 3 if args.quick else args.runs

    def job(kind):
        op = {"type": "count", "key": "service", "parallelism": 2}
        if kind == "window":
            op = {"type": "window", "key": "service", "parallelism": 2,
                  "window": {"type": "tumbling", "size_ms": 60_000}}
        return write_job(tmp, f"window-{kind}", {
            "name": f"bench-window-{kind}",
            "checkpoint": {"dir": os.path.join(tmp, f"ck-window-{kind}"),
                           "interval_ms": 0},
            "source": {"type": "generator", "count": per_part,
                       "partitions": 2, "rate": 0, "parallelism": 2,
                       "timestamp": {"field": "seq", "format": "epoch_ms"}},
            "operators": [op], "sink": {"type": "discard"}})

    jobs = {k: job(k) for k in ("count", "window")}
    # Event time is seq in ms, the same in both partitions, so a minute
    # holds 60,000 records of each and every (service, minute) pair has
    # records: one result per pair.
    windows = (per_part + 59_999) // 60_000
    want = {"count": total, "window": 13 * windows}
    walls = {"count": [], "window": []}
    log(f"window: {total:,} records per run, {runs} rounds of count / "
        f"window")
    for i in range(runs):
        for kind in ("count", "window"):
            fresh_dir(os.path.join(tmp, f"ck-window-{kind}"))
            w, _, _, err = run_timed([WEIR, "run", jobs[kind]])
            got = discarded(err)
            if got != want[kind]:
                raise RuntimeError(f"window bench: {kind} job discarded "
                                   f"{got}, expected {want[kind]}:\n"
                                   + err[-2000:])
            walls[kind].append(w)
        log(f"window round {i + 1}: count {walls['count'][-1]:.2f}s, "
            f"window {walls['window'][-1]:.2f}s")
    r, rm = paired(walls["count"], walls["window"])
    res.add("window_vs_count", round(total / statistics.median(
        walls["window"])), "records/s",
        reference=round(total / statistics.median(walls["count"])),
        ratio=round(r, 3), target=">= 0.9", met=r >= 0.9,
        note=f"{total:,} generated records (13 services, event time = seq "
             f"in ms: {13 * windows} window results), keyed operator "
             f"parallelism 2, discard sink; tumbling 1-minute window with "
             f"count vs the keyed count; median of the {runs} rounds' "
             f"count/window wall times (ratio of medians {rm:.3f})")
    bench_window_latency(res, tmp, args, broker.addr)


def bench_window_latency(res, tmp, args, addr):
    """Generated records stamped with the clock, 1-second windows, output
    to Kafka; for each result, the wall time a consumer receives it minus
    the window's end: an upper bound of the time from the watermark
    passing the end to the result in Kafka (it adds the consumer's
    fetch)."""
    seconds = 8 if args.quick else 20
    path = write_job(tmp, "window-latency", {
        "name": "bench-window-latency",
        "checkpoint": {"dir": fresh_dir(os.path.join(tmp, "ck-wlat")),
                       "interval_ms": 1000},
        "source": {"type": "generator", "count": 20_000 * seconds,
                   "partitions": 2, "rate": 20_000, "parallelism": 2,
                   "watermarks": {"max_out_of_orderness_ms": 0,
                                  "interval_ms": 0}},
        "operators": [{"type": "window", "key": "service",
                       "window": {"type": "tumbling", "size_ms": 1000}}],
        "sink": {"type": "kafka", "brokers": addr,
                 "topic": "out-window", "delivery": "at-least-once"}})
    import kafka
    c = kafka.KafkaConsumer(bootstrap_servers=addr,
                            api_version=(2, 3, 0), fetch_max_wait_ms=5,
                            enable_auto_commit=False)
    tp = kafka.TopicPartition("out-window", 0)
    c.assign([tp])
    c.seek_to_end()
    lat = []
    p = subprocess.Popen([WEIR, "run", path], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while p.poll() is None:
        for recs in c.poll(timeout_ms=2).values():
            now_ms = time.time() * 1000
            for r in recs:
                end = json.loads(r.value)["window_end_ms"]
                # The last windows come out at the end of the input.
                if end < now_ms - 1000 * seconds - 5000:
                    continue
                lat.append((end, now_ms - end))
    c.close()
    # The last window of each key is flushed by the end of input, before
    # its end: leave it out (not the 13 slowest results, which were the
    # tail this figure is about).
    last = max((e for e, _ in lat), default=None)
    lat = sorted(x for e, x in lat if e != last)
    if not lat:
        res.add("window_latency_ms", None, "ms", target="<= 50", met=False,
                note="no window result arrived")
        return
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    res.add("window_latency_ms", round(p99, 1), "ms", target="<= 50",
            met=p99 <= 50,
            note=f"p99 over {len(lat)} results of 1-second windows (13 "
                 f"services, 20,000 records/s, watermark interval 0): "
                 f"arrival at a kafka-python consumer minus window_end_ms, "
                 f"an upper bound (p50 {statistics.median(lat):.1f} ms, "
                 f"max {lat[-1]:.1f} ms)")


# --------------------------------------------------------------------------
# State that expires (issue 13): dedup with ttl_ms over 5M distinct ids.
# tests/soak/ttl_dedup.sh runs the same job by hand and asserts on it.

TTL_MS = 200_000
TTL_MARKS = (1_000_000, 2_000_000, 5_000_000)
PROGRESS_RE = re.compile(r"job: progress: .*\| dedup (\d+) in, (\d+) out")
CKPT_ALL_RE = re.compile(r"coordinator: checkpoint (\d+) complete in \d+ "
                         r"ms: .* (\d+) bytes in all")
LISTED_RE = re.compile(r"^(\d+)\s.*\scomplete\s+generator\[0\]=(\d+)",
                       re.M)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def ttl_run(tmp, count):
    """One generator -> dedup(seq, ttl_ms) -> discard run over count
    distinct ids, event time seq in ms (one id a ms, so the TTL covers
    TTL_MS ids). Returns the RSS (KiB) read at the first progress line
    with at least m records into dedup, and the size in bytes of the first
    checkpoint at or past m, for each m of TTL_MARKS, and the log."""
    ck = fresh_dir(os.path.join(tmp, "ck-ttl"))
    path = write_job(tmp, "ttl", {
        "name": "bench-ttl", "progress_interval_ms": 100,
        "checkpoint": {"dir": ck, "interval_ms": 1000, "retain": 1000},
        "source": {"type": "generator", "count": count, "partitions": 1,
                   "timestamp": {"field": "seq", "format": "epoch_ms"}},
        "operators": [{"type": "dedup", "key": "seq", "ttl_ms": TTL_MS}],
        "sink": {"type": "discard"}})
    p = subprocess.Popen([WEIR, "run", path], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    rss, lines, peak = {}, [], 0
    for raw in p.stderr:
        line = raw.decode(errors="replace")
        lines.append(line)
        m = PROGRESS_RE.search(line)
        if not m:
            continue
        now = rss_kib(p.pid)
        peak = max(peak, now or 0)
        for mark in TTL_MARKS:
            if mark not in rss and int(m.group(1)) >= mark and now:
                rss[mark] = (int(m.group(1)), now)
    err = "".join(lines)
    if p.wait() != 0:
        raise RuntimeError("ttl bench: weir exited %d:\n%s"
                           % (p.returncode, err[-2000:]))
    sizes = {int(i): int(b) for i, b in CKPT_ALL_RE.findall(err)}
    listed = subprocess.run([WEIR, "checkpoints", ck], capture_output=True,
                            text=True, check=True).stdout
    pos = sorted((int(n), int(i)) for i, n in LISTED_RE.findall(listed))
    ckpt = {}
    for mark in TTL_MARKS:
        at = [(n, i) for n, i in pos if n >= mark and i in sizes]
        if at:
            ckpt[mark] = (at[0][1], at[0][0], sizes[at[0][1]])
    return rss, ckpt, peak, err


def bench_ttl(res, tmp, args):
    # Past the last mark, so that it is sampled while the job runs.
    count = TTL_MARKS[-1] + 300_000
    runs = 1 if args.quick else 3
    ratios, kept, notes = [], [], []
    for i in range(runs):
        rss, ckpt, peak, err = ttl_run(tmp, count)
        got = discarded(err)
        if got != count:
            raise RuntimeError(f"ttl bench: {got} records passed dedup, "
                               f"expected all {count} (distinct ids)")
        if len(rss) < len(TTL_MARKS) or len(ckpt) < len(TTL_MARKS):
            raise RuntimeError(f"ttl bench: no sample at some mark: RSS "
                               f"{rss}, checkpoints {ckpt}")
        lo, mid, hi = TTL_MARKS
        ratios.append(rss[hi][1] / rss[lo][1])
        kept.append(ckpt[hi][2] / ckpt[lo][2])
        notes.append(f"RSS {rss[lo][1] / 1024:.1f} / {rss[mid][1] / 1024:.1f}"
                     f" / {rss[hi][1] / 1024:.1f} MiB, checkpoint "
                     f"{ckpt[lo][2]:,} / {ckpt[mid][2]:,} / {ckpt[hi][2]:,}"
                     f" bytes, peak {peak / 1024:.1f} MiB")
        log(f"ttl run {i + 1}: {notes[-1]}")
    k = ratios.index(statistics.median(ratios))
    res.add("ttl_rss_flat", round(ratios[k], 3), "x", target="<= 1.2",
            met=ratios[k] <= 1.2,
            note=f"generator (1 partition) -> dedup by seq, ttl_ms "
                 f"{TTL_MS:,} with event time seq in ms (the TTL covers "
                 f"{TTL_MS:,} ids) -> discard, {count:,} distinct ids, "
                 f"checkpoints every 1 s; VmRSS at the progress line "
                 f"(every 100 ms) where dedup has read 5M over where it "
                 f"has read 1M; median of {runs} run(s), that run's "
                 f"figures at 1M / 2M / 5M: {notes[k]}; the checkpoint "
                 f"(all its files) at 5M over 1M: {kept[k]:.3f}; every id "
                 f"passed")


def add_pair(res, name, vals, unit, target, ok, note, digits=3):
    """One figure for both modes: value = incremental, reference = full,
    ratio = incremental / full."""
    inc, full = vals.get("incremental"), vals.get("full")

    def rnd(v):
        return None if v is None else round(v, digits) if digits else round(v)

    res.add(name, rnd(inc), unit, reference=rnd(full),
            ratio=(round(inc / full, 3) if inc is not None and full
                   else None),
            target=target, met=None if inc is None else ok(inc),
            note=note + ("" if inc is not None else
                         "; incremental mode not available in this build"))


def bench_inc_throughput(res, tmp, args, modes, q):
    """Records/s of generator -> count by service (13 keys) -> discard,
    checkpoints every 100 ms, the modes alternated."""
    # Runs of ~1.5 s moved 30% with a neighbour's load; ~3 s hold better.
    n = 4_000_000 if args.quick else 8_000_000
    rounds = args.runs
    walls = {m: [] for m in modes}
    for i in range(rounds):
        for m in modes:
            ckdir = fresh_dir(os.path.join(tmp, f"ck-tput-{m}"))
            job = write_job(tmp, f"tput-{m}", {
                "name": f"bench-tput-{m}",
                "checkpoint": ckpt_cfg(args, m, ckdir, 100),
                "source": {"type": "generator", "count": n,
                           "partitions": 1, "rate": 0},
                "operators": [{"type": "count", "key": "service"}],
                "sink": {"type": "discard"}})
            w, _, _, err = run_timed([WEIR, "run", job])
            if f"discarded {n} records" not in err:
                raise RuntimeError(f"throughput {m}: not all records "
                                   f"counted:\n{err[-2000:]}")
            walls[m].append(w)
        log(f"changelog throughput round {i + 1}: " +
            ", ".join(f"{m} {n / walls[m][-1]:,.0f}/s" for m in modes))
    rps = {m: n / statistics.median(walls[m]) for m in modes}
    if "incremental" in modes:
        r, rm = paired(walls["full"], walls["incremental"])
    else:
        r = rm = None
    res.add("incremental_throughput_ratio",
            round(rps["incremental"]) if "incremental" in rps else None,
            "records/s", reference=round(rps["full"]),
            ratio=None if r is None else round(r, 3), target=">= 0.95",
            met=None if r is None else r >= 0.95,
            note=f"{q}generator -> count by service (13 keys) -> discard, "
                 f"{n:,} records, checkpoints every 100 ms; reference: "
                 f"incremental false; median of {rounds} alternated rounds' "
                 f"ratios" + ("" if rm is None else
                              f" (ratio of medians {rm:.3f})"))


def bench_changed_bytes(res, tmp, args, modes, q):
    """10M keys of count state, 1% of the keys changed a second: bytes each
    checkpoint writes per raw byte of the entries its interval changed."""
    keys = 1_000_000 if args.quick else 10_000_000
    steady = 15 if args.quick else 60
    limit = 60 if args.quick else 240
    per, mats, deltas, entry = {}, {}, {}, None
    for m in modes:
        ckdir = os.path.join(tmp, f"ck-changed-{m}")
        raw = build_state(tmp, args, m, ckdir, keys)
        entry = entry or raw / keys
        # Full mode writes all of it every checkpoint: fewer of them.
        want = steady if m == "incremental" else max(5, steady // 4)
        run, _ = churn(tmp, args, m, ckdir, keys, keys // 100,
                       lambda p: count_done(p) >= want + 2, limit)
        iv = run.intervals(keys, entry, 2)
        if not iv:
            raise RuntimeError(f"changed bytes {m}: no checkpoint")
        wrote = sum(x[2] for x in iv)
        changed = sum(x[3] for x in iv)
        per[m] = wrote / changed
        each = sorted(x[2] / x[3] for x in iv)
        mats[m] = (len(run.mats), run.mat_bytes)
        dr = [run.deltas[x[0]] for x in iv if x[0] in run.deltas]
        deltas[m] = (sum(dr) / changed) if dr else None
        log(f"changelog changed bytes {m}: {len(iv)} checkpoints, "
            f"{wrote / 1e6:.1f} MB written for {changed / 1e6:.1f} MB "
            f"changed ({per[m]:.3f}; per checkpoint {each[0]:.3f}-"
            f"{each[-1]:.3f}); {len(run.mats)} materializations, "
            f"{run.mat_bytes / 1e6:.1f} MB")
    add_pair(res, "checkpoint_bytes_per_changed_byte", per, "bytes/byte",
             "<= 1.5", lambda v: v <= 1.5,
             f"{q}count by churn_key's k, {keys:,} keys ({entry:.0f} raw "
             f"bytes each in the first mode's build), {keys // 100:,} "
             f"updates/s, interval 1 s; "
             f"files each checkpoint put under chk-<id>/ and shared/ "
             f"(sizes polled every 20 ms) over the expected raw bytes of "
             f"the distinct keys its interval changed, summed over "
             f"{steady} checkpoints (full: {max(5, steady // 4)}) after 2 "
             f"of warm-up; materializations "
             f"apart: " + both(mats, lambda v: f"{v[0]} ({v[1] / 1e6:.1f} "
                               f"MB)") +
             "; deltas' own raw / changed: " +
             both(deltas, lambda v: "-" if v is None else f"{v:.3f}"))


def bench_write_amp(res, tmp, args, modes, q):
    """Every byte written (deltas, materializations, checkpoint files) per
    raw byte changed, over at least 3 materializations; and the
    checkpoint directory's size against one full snapshot meanwhile."""
    keys = 500_000 if args.quick else 10_000_000
    pct = 20 if args.quick else 2
    limit = 120 if args.quick else 600
    amp, disk, notes, sizes, full_size = {}, {}, {}, {}, None
    secs = entry = None
    for m in modes:
        ckdir = os.path.join(tmp, f"ck-amp-{m}")
        raw = build_state(tmp, args, m, ckdir, keys)
        entry = entry or raw / keys
        if m == "incremental":
            run, _ = churn(tmp, args, m, ckdir, keys, keys * pct // 100,
                           lambda p: count_mats(p) >= 3, limit)
            t0 = run.watch.samples[0][0]
            secs = run.watch.samples[-1][0] - t0
        else:
            # As long as incremental took, or 60 s when it is missing.
            run, _ = churn(tmp, args, m, ckdir, keys, keys * pct // 100,
                           lambda p: False, secs or 60)
        # The restarted run's first checkpoint (a base, in incremental
        # mode) is an artefact of the restart: left out.
        iv = run.intervals(keys, entry, 1)
        wrote = sum(x[2] for x in iv) + run.mat_bytes
        changed = sum(x[3] for x in iv)
        amp[m] = wrote / changed
        raw_amp = (sum(run.raw.get(x[0], 0) for x in iv) +
                   sum(r for r, _, _ in run.mats.values())) / changed
        if m == "full":
            full_size = statistics.median(x[2] for x in iv)
        t0 = run.watch.samples[0][0]
        sizes[m] = [s for t, s in run.watch.samples if t >= t0 + 5]
        notes[m] = (len(iv), len(run.mats), wrote, changed, raw_amp)
        log(f"changelog write amp {m}: {len(iv)} checkpoints, "
            f"{len(run.mats)} materializations, {wrote / 1e6:.0f} MB "
            f"written for {changed / 1e6:.0f} MB changed: {amp[m]:.2f}")
    for m in modes:
        disk[m] = (statistics.mean(sizes[m]) / full_size,
                   max(sizes[m]) / full_size)
    add_pair(res, "write_amplification_1h_equiv", amp, "bytes/byte",
             "<= 4", lambda v: v <= 4,
             f"{q}count by k, {keys:,} keys, {pct}% of them updated a "
             f"second so that 3 materializations (one per ~{100 // pct} s; "
             f"~100 s at 1%/s) fit in {secs or 60:.0f} s, interval 1 s: "
             f"every file written under chk-*/ and shared/, "
             f"materializations included, over the raw bytes of the "
             f"distinct keys each interval changed, from the run's second "
             f"checkpoint on (its first is the restart's base); " + both(
                 notes, lambda v: f"{v[0]} checkpoints, {v[1]} "
                 f"materializations, {v[2] / 1e6:.0f} MB for "
                 f"{v[3] / 1e6:.0f} MB, before lz4 {v[4]:.2f}"))
    add_pair(res, "checkpoint_disk_ratio",
             {m: v[0] for m, v in disk.items()}, "x", "<= 2.5",
             lambda v: v <= 2.5,
             f"{q}the same runs: size of everything under chk-*/ and "
             f"shared/ (temp files too), polled every 20 ms from 5 s into "
             f"the run, mean over one full snapshot "
             f"({full_size / 1e6:.1f} MB, the full mode's median "
             f"checkpoint), retain 3; max: " +
             both(disk, lambda v: f"{v[1]:.2f}"))


def bench_fat(res, tmp, args, modes, q, broker):
    """~1 GB of keyed state (fat_state: 1M keys of 1,000 bytes), 1% of
    the keys updated a second: checkpoint durations, then SIGKILL and
    restart, exec -> first output record, a few times."""
    keys = 256_000 if args.quick else 1_000_000
    vbytes = 1000
    steady = 20 if args.quick else 60
    limit = 60 if args.quick else 400
    rounds = 3 if args.quick else args.runs
    p99, rec, notes = {}, {}, {}
    base = end_offsets(broker.addr, "out-fat")
    watcher = OutputWatcher(broker.addr, "out-fat")
    watcher.start()

    def drain():
        """Waits until the watcher has read all a killed process wrote,
        so that the next round's first record is the new process's."""
        want = end_offsets(broker.addr, "out-fat") - base
        if want > 0 and watcher.wait_count(want - 1, 60) is None:
            raise RuntimeError(f"fat: the watcher read {watcher.count()} "
                               f"of {want} records")
    try:
        for m in modes:
            ckdir = os.path.join(tmp, f"ck-fat-{m}")
            kw = dict(fat_bytes=vbytes, out_from=NO_OUTPUT, broker=broker)
            raw = build_state(tmp, args, m, ckdir, keys, **kw)
            # Full mode writes all of it every checkpoint: fewer of them.
            # The full run's incremental side goes on until a
            # materialization (~100 s at 1%/s) has shared the disk with
            # the deltas.
            want = steady if m == "incremental" else max(5, steady // 4)
            mats = 1 if m == "incremental" and not args.quick else 0
            run, _ = churn(tmp, args, m, ckdir, keys, keys // 100,
                           lambda p: (count_done(p) >= want + 2 and
                                      count_mats(p) >= mats), limit, **kw)
            ms = sorted(x[1] for x in run.intervals(keys, raw / keys, 2))
            if not ms:
                raise RuntimeError(f"fat {m}: no checkpoint")
            p99[m] = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
            times = []
            for k in range(rounds):
                before = watcher.count()
                t0 = time.monotonic()
                p = WeirProc(churn_job(tmp, args, m, ckdir, keys, FOREVER,
                                       keys // 100, 1000, fat_bytes=vbytes,
                                       out_from=0, broker=broker),
                             env=dict(os.environ, WEIR_LOG="debug"))
                try:
                    seen = watcher.wait_count(before, 120)
                    if seen is None:
                        raise RuntimeError(f"fat {m}: no output after "
                                           "restore:\n" +
                                           "".join(p.lines[-20:]))
                    times.append(1000 * (seen - t0))
                    # Some deltas on top of what was restored.
                    if not p.wait_checkpoints(3, 120):
                        raise RuntimeError(f"fat {m}: no checkpoints after "
                                           "restore:\n" +
                                           "".join(p.lines[-20:]))
                finally:
                    p.kill()
                drain()
                log(f"changelog fat {m} round {k + 1}: recovery "
                    f"{times[-1]:.0f} ms")
            rec[m] = statistics.median(times)
            notes[m] = (len(ms), statistics.median(ms), ms[-1], times,
                        len(run.mats))
            log(f"changelog fat {m}: {raw / 1e6:.0f} MB raw; checkpoint p99 "
                f"{p99[m]} ms over {len(ms)}; recovery {rec[m]:.0f} ms")
    finally:
        watcher.stop = True
    size = f"{keys:,} keys x {vbytes} bytes, {raw / 1e6:.0f} MB raw"
    until_mat = "" if args.quick else " (incremental: until a materialization)"
    add_pair(res, "checkpoint_p99_ms_1gb", p99, "ms", "<= 100",
             lambda v: v <= 100,
             f"{q}fat_state, {size}, {keys // 100:,} updates/s, interval "
             f"1 s; trigger -> complete as logged, after 2 of warm-up"
             f"{until_mat}; " +
             both(notes, lambda v: f"{v[0]} checkpoints, p50 {v[1]:.0f} "
                  f"max {v[2]} ms, {v[4]} materializations"), digits=0)
    add_pair(res, "recovery_ms_1gb", rec, "ms", "<= 3000",
             lambda v: v <= 3000,
             f"{q}the same job SIGKILLed with its state in a base plus "
             f"deltas (full: one snapshot), restarted: exec -> first output "
             f"record seen by a kafka-python consumer; then 3 more "
             f"checkpoints and SIGKILL again; median of {rounds}: " +
             both(notes, lambda v: ", ".join(f"{t:.0f}" for t in v[3])),
             digits=0)


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results",
                                                  "latest.json"))
    ap.add_argument("--only", default="", help="comma list: core,kafka,idle,"
                    "recovery,state,changelog,window,ttl,metrics")
    args = ap.parse_args()
    args.runs = 5
    args.core_records = 20_000_000  # the issue asks for >= 20M records
    # About 4 s a run at the core job's rate: 3 to 4 scrapes each.
    args.metrics_records = 10_000_000 if args.quick else 20_000_000
    args.kafka_records = 1_000_000
    args.kafka_huge_records = 5_000_000
    args.idle_windows = 3 if args.quick else 5
    args.incremental_known = incremental_known()
    only = set(filter(None, args.only.split(",")))
    res = Results()
    started = time.monotonic()
    log(f"machine: {machine()}; {'--quick' if args.quick else 'full'} run")
    with tempfile.TemporaryDirectory(prefix="weir-bench.") as tmp:
        if not only or "core" in only:
            bench_core(res, tmp, args)
        if not only or "ttl" in only:
            bench_ttl(res, tmp, args)
        if not only or "metrics" in only:
            bench_metrics(res, tmp, args)
        broker = Broker(["logs:32", "logs-small:8", "scratch:32",
                         "out-weir:32", "out-kcat:32", "out-loop:32",
                         "idle:4", "out-idle:4", "logs-rec:4", "out-rec:4",
                         "out-state:4", "logs-huge:128", "out-huge:128",
                         "out-fat:1", "out-window:1"])
        try:
            if not only or "kafka" in only:
                bench_kafka(res, tmp, args, broker)
            if not only or "idle" in only:
                bench_idle(res, tmp, args, broker)
            if not only or "recovery" in only:
                bench_recovery(res, tmp, args, broker)
            if not only or "state" in only:
                bench_state(res, tmp, args, broker)
            if not only or "changelog" in only:
                bench_changelog(res, tmp, args, broker)
            if not only or "window" in only:
                bench_window(res, tmp, args, broker)
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
