"""A real Prometheus server (Debian's prometheus) scrapes a running job.

A generator job (no broker needed) counting records per service runs with
`--http 127.0.0.1:0`. Prometheus, with a temporary configuration that
scrapes it every second (honor_labels, so the series keep weir's job
label), runs on a free port. Once it has scraped the job at least three
times, its query API (/api/v1/query) returns:
  - up == 1 for the target and weir_up == 1 with job="prom";
  - weir_records_in_total for each of the three stages, the sink's
    growing between two queries and never above what the source passed
    on, and a positive rate();
  - completed checkpoints counted, and a checkpoint duration histogram
    whose +Inf bucket equals their count;
  - weir_keyed_state_entries of the count operator: the 13 services
    the generator writes;
  - weir_build_info with weir's version.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.parse

from weirtest import (Harness, Proc, TestFailure, check, check_eq, free_port,
                      http_get, http_url, main, note, tail)

SERVICES = 13  # svc-0 .. svc-12 (connectors/generator.c)


def query(prom, q):
    st, body = http_get("%s/api/v1/query?%s"
                        % (prom, urllib.parse.urlencode({"query": q})))
    check(st == 200, "Prometheus query %r: %d %s" % (q, st, body[:300]))
    r = json.loads(body)
    check_eq(r["status"], "success", "status of query %r" % q)
    return [(s["metric"], float(s["value"][1]))
            for s in r["data"]["result"]]


def one(prom, q):
    rs = query(prom, q)
    check(len(rs) == 1, "query %r: expected one series, got %r" % (q, rs))
    return rs[0][1]


def wait_for(what, cond, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        check(proc.running(), "%s exited while waiting for %s; log:\n%s"
              % (proc.what(), what, tail(proc.log())))
        if time.monotonic() > deadline:
            raise TestFailure("no %s within %d s" % (what, timeout))
        time.sleep(0.2)


def test():
    prom_bin = shutil.which("prometheus")
    check(prom_bin, "prometheus is not installed (tests/deps.sh installs "
          "Debian's prometheus)")
    t0 = time.monotonic()
    with Harness("prometheus") as h:
        job = {"name": "prom",
               "checkpoint": {"dir": h.path("ck"), "interval_ms": 300},
               "source": {"type": "generator", "count": 10 ** 9,
                          "partitions": 2, "rate": 500},
               "operators": [{"type": "count", "key": "service"}],
               "sink": {"type": "discard"}}
        w = h.weir_run(h.write_job("job.json", job),
                       args=["--http", "127.0.0.1:0"])
        target = http_url(w)[len("http://"):]
        port = free_port()
        cfg = h.path("prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: weir\n"
                    "    honor_labels: true\n"
                    "    scrape_timeout: 900ms\n"
                    "    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        p = Proc([prom_bin, "--config.file=" + cfg,
                  "--storage.tsdb.path=" + h.path("tsdb"),
                  "--web.listen-address=127.0.0.1:%d" % port,
                  "--log.level=warn"], h.path("prometheus.log"))
        h.procs.append(p)
        prom = "http://127.0.0.1:%d" % port

        def ready():
            try:
                return http_get(prom + "/-/ready", timeout=2)[0] == 200
            except OSError:
                return False
        wait_for("Prometheus ready", ready, p)

        def scrapes():
            rs = query(prom, 'count_over_time(weir_up{job="prom"}[1m])')
            return rs and rs[0][1] >= 3
        wait_for("three scrapes", scrapes, p)
        note("Prometheus scraped %s three times after %.1f s"
             % (target, time.monotonic() - t0))

        check_eq(one(prom, 'up{instance="%s"}' % target), 1, "up")
        check_eq(one(prom, 'weir_up{job="prom"}'), 1, "weir_up")
        stages = {m["stage"]: v for m, v in
                  query(prom, 'sum by (stage) (weir_records_in_total'
                              '{job="prom"})')}
        check_eq(sorted(stages), ["0-generator", "1-count", "2-discard"],
                 "stages of weir_records_in_total")
        out = one(prom, 'sum(weir_records_out_total{stage="0-generator"})')
        sunk = stages["2-discard"]
        check(0 < sunk <= out, "sink took in %r, the source passed on %r"
              % (sunk, out))
        # The generator's records count as read, as a Kafka source's do.
        check(stages["0-generator"] >= out > 0,
              "the generator read %r and passed on %r"
              % (stages["0-generator"], out))
        check(one(prom, 'sum(rate(weir_records_in_total{stage="1-count"}'
                        '[10s]))') > 0, "rate of records into count is 0")
        done = one(prom, 'weir_checkpoints_total{result="completed"}')
        check(done >= 1, "no completed checkpoint in Prometheus")
        inf = one(prom, 'weir_checkpoint_duration_seconds_bucket'
                        '{le="+Inf"}')
        cnt = one(prom, 'weir_checkpoint_duration_seconds_count')
        check_eq(inf, cnt, "+Inf bucket vs count of checkpoint durations")
        check_eq(one(prom, 'weir_keyed_state_entries{stage="1-count"}'),
                 SERVICES, "keys of the count operator")
        bi = query(prom, "weir_build_info")
        check(len(bi) == 1 and bi[0][0].get("version"),
              "weir_build_info: %r" % bi)

        # One more scrape later the sink's count has grown.
        def grew():
            v = one(prom, 'sum(weir_records_in_total{stage="2-discard"})')
            return v > sunk and v
        later = wait_for("the sink's count to grow", grew, p)
        note("Prometheus: %d stages, sink %d -> %d records, %d checkpoints"
             ", version %s" % (len(stages), sunk, later, done,
                               bi[0][0]["version"]))
        p.stop()
        check_eq(w.stop(), 0, "weir's exit status after SIGTERM")
    note("test_prometheus took %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main(test)
