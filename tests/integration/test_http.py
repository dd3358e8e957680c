"""The HTTP endpoint of a running job (job/http.c), one broker for all:

1. A Kafka job counting records per service, started with
   `--http 127.0.0.1:0` while its job file asks for a port the test holds
   (the flag wins). /health says ok; /metrics parses, has exactly the
   families of tests/metric_names.txt (the pinned names) and passes
   `promtool check metrics`; once the job caught up its counters add up
   (records in and out per stage, lag 0 on every partition, keys of the
   keyed state, no record in flight, one delivery latency per record, a
   watermark near now in every stage),
   and more input and more checkpoints make them grow. /job shows the
   stages, edges and lag. /checkpoints agrees with `weir checkpoints DIR`
   (ids, completion times) and with the log's "checkpoint N complete in
   X ms: ..., B bytes" (duration and size).
2. The same job restarted while reading checkpoint files is slowed down
   (tests/faultfs.so, delay_ms=1000, armed by a file, so the restore
   cannot end while the test looks): /health answers and
   /ready says 503 with /job "restoring" while the restore is held up,
   200 once it is let go; /checkpoints, /job and the metrics name the
   restored checkpoint the log names. A graceful stop whose final
   checkpoint is held up the same way (fsync) makes /ready 503
   "stopping" again.
3. Bad addresses: --http that is not HOST:PORT and a job file's
   http.listen with a bad port are refused (exit 2, naming what and
   where); a port in use and an address not of this machine fail the
   start (exit 1) saying why.
"""

import os
import re
import signal
import socket
import subprocess
import time

from weirtest import (WEIR, Harness, TestFailure, check, check_eq,
                      http_get, http_json, http_url, kafka_job, list_checkpoints,
                      log_records, main, note, parse_metrics, parse_restore,
                      produce, tail)

PARTS = 4
N = 3000
MORE = 1000
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NAMES = os.path.join(REPO, "tests", "metric_names.txt")
FAULTFS = os.environ.get("FAULTFS") or os.path.join(
    os.path.dirname(os.path.abspath(WEIR)), "tests", "faultfs.so")
COUNT = {"type": "count", "key": "service"}
COMPLETE_RX = re.compile(r"checkpoint (\d+) complete in (\d+) ms: \d+ state "
                         r"files, (\d+) bytes(?:, \d+ bytes written, (\d+) "
                         r"bytes in all)?")


def pinned_names():
    out = {}
    with open(NAMES) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, typ = line.split()
                out[name] = typ
    return out


def scrape(url):
    status, text = http_get(url + "/metrics")
    check(status == 200, "GET /metrics: %d %s" % (status, text[:300]))
    return text, parse_metrics(text)


def total(samples, name, **labels):
    """The sum of name's samples whose labels include labels."""
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == v2
                                    for k, v2 in labels.items()))


def by_stage(samples, name, stage):
    return total(samples, name, stage=stage)


def wait_metrics(url, cond, what, w, timeout=40):
    deadline = time.monotonic() + timeout
    while True:
        text, (types, samples) = scrape(url)
        if cond(samples):
            return text, types, samples
        check(w.running(), "weir exited before %s; log:\n%s"
              % (what, tail(w.log())))
        if time.monotonic() > deadline:
            raise TestFailure("metrics never showed %s within %d s:\n%s"
                              % (what, timeout, text))
        time.sleep(0.1)


def check_names(types, samples):
    """The exposition's families are exactly the pinned ones, and every
    sample belongs to one of them."""
    want = pinned_names()
    check_eq(types, want, "metric families and types (tests/metric_names"
             ".txt pins them: a rename is a deliberate edit of both)")
    for name, labels, _ in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in types or types.get(base) == "histogram",
              "sample %s has no family" % name)
        check(set(labels) <= {"job", "stage", "task", "topic", "partition",
                              "result", "le", "version", "api_version"},
              "sample %s has labels %r beyond the documented ones"
              % (name, labels))


def promtool(text, h):
    path = h.path("metrics.txt")
    with open(path, "w") as f:
        f.write(text)
    with open(path) as f:
        cp = subprocess.run(["promtool", "check", "metrics"], stdin=f,
                            capture_output=True, timeout=30)
    check(cp.returncode == 0, "promtool check metrics failed (%d):\n%s%s"
          % (cp.returncode, cp.stdout.decode(), cp.stderr.decode()))


def log_completions(w):
    """{id: (duration ms, full bytes)} from the log's complete lines."""
    out = {}
    for m in COMPLETE_RX.finditer(w.log()):
        full = m.group(4) or m.group(3)
        out[int(m.group(1))] = (int(m.group(2)), int(full))
    return out


def fmt_wall(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def check_checkpoints(h, w, url, ck):
    """/checkpoints against `weir checkpoints DIR` and the log."""
    # One being written while it lists has no _metadata yet: it is in
    # flight, not complete, for both.
    rows = [r for r in list_checkpoints(h, ck) if r.status == "complete"]
    cj = http_json(url + "/checkpoints")
    hist = {c["id"]: c for c in cj["history"]}
    ids = [c["id"] for c in cj["history"]]
    check(ids == sorted(ids, reverse=True), "history is not newest first: "
          "%r" % ids)
    check(rows, "`weir checkpoints` listed nothing")
    for r in rows:
        check(r.id in hist, "checkpoint %d listed by `weir checkpoints` is "
              "not in /checkpoints' history %r" % (r.id, ids))
        c = hist[r.id]
        check_eq(c["status"], "completed", "status of %d" % r.id)
        check_eq(fmt_wall(c["complete_ms"]), r.completed,
                 "completion time of %d (/checkpoints vs `weir "
                 "checkpoints`)" % r.id)
    done = [c for c in cj["history"] if c["status"] == "completed"]
    # The statistics are recorded just before the log line is written.
    w.wait_for_log(r"checkpoint %d complete in" % done[0]["id"])
    logged = log_completions(w)
    for c in done:
        check(c["id"] in logged, "checkpoint %d is complete in /checkpoints "
              "but not in the log" % c["id"])
        check_eq((c["duration_ms"], c["size_bytes"]), logged[c["id"]],
                 "duration and size of %d (/checkpoints vs the log)"
                 % c["id"])
        check(c["trigger_ms"] <= c["complete_ms"], "trigger after "
              "completion: %r" % c)
        names = sorted(t["task"] for t in c["tasks"])
        check_eq(names, sorted(["source-0", "source-1", "op0-count-0",
                                "sink-0"]), "tasks acknowledging %d"
                 % c["id"])
        check(c["written_bytes"] <= c["size_bytes"], "written > size: %r"
              % c)
        check(sum(t["size_bytes"] for t in c["tasks"]) == c["size_bytes"],
              "task sizes of %d do not add up to its size: %r"
              % (c["id"], c))
    counts = cj["counts"]
    check(counts["completed"] >= len(done), "counts %r < history" % counts)
    check_eq(cj["latest"]["completed"]["id"], done[0]["id"],
             "latest completed")
    note("/checkpoints agrees on %d listed and %d logged checkpoints"
         % (len(rows), len(done)))
    return cj


def case_running(h, ck):
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    job = kafka_job("http", ck, "logs", "out", [COUNT],
                    checkpoint={"interval_ms": 200})
    job["http"] = {"listen": "127.0.0.1:%d" % held.getsockname()[1]}
    path = h.write_job("job.json", job)
    recs = log_records(N, seed=14, partitions=PARTS)
    produce(h.brokers, "logs", recs)
    services = {r["obj"]["service"] for r in recs}
    w = h.weir_run(path, args=["--http", "127.0.0.1:0"])
    url = http_url(w)
    check(not url.endswith(":%d" % held.getsockname()[1]),
          "weir serves on the job file's port, not --http's: %s" % url)
    held.close()
    check_eq(http_get(url + "/health"), (200, "ok\n"), "/health")

    def caught_up(s):
        return (total(s, "weir_records_in_total", stage="2-kafka") == N and
                total(s, "weir_sink_in_flight_records") == 0 and
                len([1 for n, l, v in s if n == "weir_source_lag_records"
                     and v == 0]) == PARTS)
    text, types, s = wait_metrics(url, caught_up, "the job caught up", w)
    check_names(types, s)
    promtool(text, h)
    check_eq(by_stage(s, "weir_records_in_total", "0-kafka"), N,
             "records the source read")
    check_eq(by_stage(s, "weir_records_out_total", "0-kafka"), N,
             "records the source passed on")
    check_eq(by_stage(s, "weir_records_in_total", "1-count"), N,
             "records into count")
    check_eq(by_stage(s, "weir_records_out_total", "1-count"), N,
             "records out of count")
    check_eq(total(s, "weir_keyed_state_entries"), len(services),
             "keys of the keyed state")
    check_eq(total(s, "weir_sink_delivery_latency_seconds_count"), N,
             "delivery latencies observed")
    check_eq(total(s, "weir_sink_delivery_latency_seconds_bucket",
                   le="+Inf"), N, "+Inf bucket")
    lag = sorted(int(l["partition"]) for n, l, v in s
                 if n == "weir_source_lag_records" and l["topic"] == "logs")
    check_eq(lag, list(range(PARTS)), "lag series per partition")
    check(total(s, "weir_task_idle_seconds_total") > 0, "no idle time")
    check_eq(total(s, "weir_up"), 1, "weir_up")
    completed = total(s, "weir_checkpoints_total", result="completed")
    check(completed >= 1, "no completed checkpoint counted")
    check_eq(total(s, "weir_checkpoint_duration_seconds_count"), completed,
             "checkpoint durations observed")
    check(total(s, "weir_checkpoint_size_bytes") > 0, "checkpoint size 0")
    check(total(s, "weir_checkpoint_last_completed_id") >= completed,
          "last completed id below the count")
    check(abs(total(s, "weir_checkpoint_last_completed_timestamp_seconds") -
              time.time()) < 60, "last completion time is not now")
    check_eq(total(s, "weir_restored_checkpoint_id"), 0,
             "restored id of a fresh start")
    check(total(s, "weir_keyed_state_bytes") > 0, "no keyed state bytes")
    # Event time is the records' Kafka timestamps (written just now):
    # every stage has a watermark, close to now.
    wms = {l["stage"]: v for n, l, v in s
           if n == "weir_event_time_watermark_seconds"}
    check_eq(sorted(wms), ["0-kafka", "1-count", "2-kafka"],
             "stages with a watermark")
    check(all(abs(v - time.time()) < 300 for v in wms.values()),
          "watermarks far from now: %r" % wms)
    note("caught up: %d records, %d checkpoints, %d keys; promtool ok; "
         "%d families as pinned" % (N, completed, len(services),
                                    len(types)))

    # More input: the counters grow by exactly that much.
    produce(h.brokers, "logs", log_records(MORE, seed=15, partitions=PARTS,
                                           first_seq=N))
    _, _, s2 = wait_metrics(
        url, lambda s: total(s, "weir_records_in_total", stage="2-kafka") ==
        N + MORE and total(s, "weir_checkpoints_total",
                           result="completed") > completed,
        "more records and checkpoints", w)
    check_eq(by_stage(s2, "weir_records_in_total", "0-kafka"), N + MORE,
             "records read after more input")

    st, body = http_get(url + "/ready")
    check_eq((st, body), (200, "running\n"), "/ready while running")
    jj = http_json(url + "/job")
    check_eq(jj["job"], "http", "job name")
    check_eq(jj["status"], "running", "status")
    check_eq([(x["stage"], x["kind"], x["type"], x["parallelism"])
              for x in jj["stages"]],
             [(0, "source", "kafka", 2), (1, "operator", "count", 1),
              (2, "sink", "kafka", 1)], "stages")
    check_eq(jj["edges"], [[0, 1], [1, 2]], "edges")
    check_eq(jj["stages"][2]["records_in"], N + MORE, "sink records in")
    check(all(x["watermark_ms"] and abs(x["watermark_ms"] / 1000 -
                                        time.time()) < 300
              for x in jj["stages"]), "watermarks in /job: %r"
          % [x["watermark_ms"] for x in jj["stages"]])
    check_eq(sorted((x["topic"], x["partition"], x["lag"])
                    for x in jj["lag"]),
             [("logs", p, 0) for p in range(PARTS)], "lag in /job")
    check(jj["restored"] is None, "restored on a fresh start: %r"
          % jj["restored"])
    st, _ = http_get(url + "/nothing")
    check_eq(st, 404, "status of an unknown path")
    check_checkpoints(h, w, url, ck)
    check_eq(w.stop(), 0, "exit status after SIGTERM")
    return job


def case_restore(h, ck, job):
    check(os.path.exists(FAULTFS), "no fault injector at %s" % FAULTFS)
    armf, stopf = h.path("slow-restore"), h.path("slow-stop")
    open(armf, "w").close()
    env = {"LD_PRELOAD": FAULTFS,
           "WEIR_FAULTFS": "call=read,path=%s/chk-*,delay_ms=1000,arm=%s;"
           "call=fsync,path=%s/chk-*,delay_ms=1000,arm=%s"
           % (ck, armf, ck, stopf)}
    asan = os.environ.get("ASAN_OPTIONS")
    if asan is not None:
        env["ASAN_OPTIONS"] = asan + ":verify_asan_link_order=0"
    w = h.weir_run(h.write_job("job.json", job), extra_env=env)
    url = http_url(w)
    w.wait_for_log(r"faultfs: rule 1: p?read\(.*\) delayed")
    # The restore is held up while the arm file exists.
    seen = []
    for _ in range(3):
        check_eq(http_get(url + "/health"), (200, "ok\n"),
                 "/health while restoring")
        st, body = http_get(url + "/ready")
        jj = http_json(url + "/job")
        seen.append((st, body.strip(), jj["status"]))
        time.sleep(0.1)
    check(all(x == (503, "restoring", "restoring") for x in seen),
          "/ready and /job status while the restore is held up: %r" % seen)
    os.unlink(armf)
    rid, _ = parse_restore(w)
    check(rid > 0, "nothing restored")
    deadline = time.monotonic() + 30
    while http_get(url + "/ready")[0] != 200:
        check(time.monotonic() < deadline, "/ready not 200 within 30 s "
              "after the restore; log:\n%s" % tail(w.log()))
        time.sleep(0.05)
    cj = http_json(url + "/checkpoints")
    r = cj["latest"]["restored"]
    check(r and r["id"] == rid and r["path"] == "%s/chk-%d" % (ck, rid),
          "latest.restored %r, the log restored %d" % (r, rid))
    check(r["restore_ms"] >= 1000, "restore_ms %r though reads were held "
          "up" % r)
    check_eq(cj["counts"]["restored"], 1, "counts.restored")
    jr = http_json(url + "/job")["restored"]
    check_eq((jr["id"], jr["path"], jr["restore_ms"]),
             (rid, r["path"], r["restore_ms"]), "/job restored")
    _, (_, s) = scrape(url)
    check_eq(total(s, "weir_restored_checkpoint_id"), rid,
             "weir_restored_checkpoint_id")
    check(total(s, "weir_restore_duration_seconds") >= 1.0,
          "restore duration")
    note("restore of %d held up: %r, then /ready 200; it took %d ms"
         % (rid, seen[0], r["restore_ms"]))

    # A graceful stop whose final checkpoint is held up: 503 again.
    open(stopf, "w").close()
    w.wait_for_log(r"faultfs: rule 2: fsync\(.*\) delayed")
    w.signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:
        st, body = http_get(url + "/ready")
        if (st, body) == (503, "stopping\n"):
            break
        check(st == 200 and time.monotonic() < deadline,
              "/ready after SIGTERM: %d %r" % (st, body))
        time.sleep(0.02)
    check_eq(http_json(url + "/job")["status"], "stopping", "/job status")
    os.unlink(stopf)
    check_eq(w.wait(), 0, "exit status after SIGTERM")
    note("/ready 503 stopping while the final checkpoint is held up")


def case_bad_addresses(h):
    job = {"name": "bad-http", "checkpoint": {"dir": h.path("ck-bad")},
           "source": {"type": "generator", "count": 10},
           "operators": [], "sink": {"type": "discard"}}
    path = h.write_job("bad.json", job)
    r = h.weir("run", path, "--http", "localhost")
    check_eq(r.rc, 2, "exit status of --http localhost")
    check("--http" in r.err and "HOST:PORT" in r.err and
          "127.0.0.1:9249" in r.err, "message for --http localhost: %r"
          % r.err)
    r = h.weir("run", path, "--http")
    check_eq(r.rc, 2, "exit status of --http without a value")
    job["http"] = {"listen": "127.0.0.1:99999"}
    bad = h.write_job("bad-port.json", job)
    for cmd in ("validate", "run"):
        r = h.weir(cmd, bad)
        check_eq(r.rc, 2, "exit status of `weir %s` with port 99999" % cmd)
        check("http.listen" in r.err and "0 to 65535" in r.err,
              "message for port 99999: %r" % r.err)
    job["http"] = {"listen": "127.0.0.1:0", "port": 3}
    r = h.weir("validate", h.write_job("bad-field.json", job))
    check(r.rc == 2 and "http.port" in r.err, "unknown field in http: %r"
          % r.err)
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    busy = "127.0.0.1:%d" % held.getsockname()[1]
    r = h.weir("run", path, "--http", busy)
    held.close()
    check_eq(r.rc, 1, "exit status with the port in use")
    check(busy in r.err and "Address already in use" in r.err and
          "pick another port" in r.err, "message for a port in use: %r"
          % r.err)
    r = h.weir("run", path, "--http", "192.0.2.1:9249")
    check_eq(r.rc, 1, "exit status with an address of another machine")
    check("not one of this machine's" in r.err, "message for a foreign "
          "address: %r" % r.err)
    note("bad addresses refused: %s" % r.err.strip().split("\n")[-1])


def test():
    t0 = time.monotonic()
    with Harness("http") as h:
        h.broker({"logs": PARTS, "out": PARTS})
        ck = h.path("ck")
        job = case_running(h, ck)
        case_restore(h, ck, job)
        case_bad_addresses(h)
    note("test_http took %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main(test)
