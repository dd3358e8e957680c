"""Event time and watermarks from the Kafka source, as an operator sees
them: the wmprobe plugin emits, for each record, its partition, offset,
timestamp and the watermark at that moment; kafka-python reads them back.
One broker, five short jobs:

1. Kafka record timestamps, max_out_of_orderness_ms 100, one source task
   owning two partitions: the watermark never decreases, is never above
   min over partitions of (highest time so far - 100 - 1), reaches exactly
   that value, and a quiet partition holds it back (no idle timeout).
   After SIGKILL and a restart, the first record sees the checkpointed
   watermark, not WATERMARK_MIN; a graceful stop does not end event time.
2. A field in epoch_ms (the Kafka timestamp ignored), two source tasks,
   idle_timeout_ms 300: once a partition has been quiet for longer, it no
   longer holds the watermark back.
3. epoch_s, bounded: fractional seconds to ms, and the end of the bounded
   input reaches the operator as WATERMARK_END.
4. rfc3339 with Z and offsets, fraction optional; a record whose time does
   not parse and one without the field are skipped with a count and a
   log line naming topic[partition]@offset.
5. The same bad record with source.on_error "fail" stops the job, naming
   the record, the field and the value.
"""
import calendar
import json
import re
import time

from kafka import KafkaConsumer, TopicPartition

from plugintest import plugin
from weirtest import (API_VERSION, Harness, check, check_eq, http_json,
                      http_url, kafka_job, list_checkpoints, main,
                      parse_restore, produce)

WM_MIN = -(2 ** 63)
WM_END = 2 ** 63 - 1


class Reader:
    """Reads a one-partition output topic from the start, incrementally."""

    def __init__(self, brokers, topic):
        self.c = KafkaConsumer(bootstrap_servers=brokers,
                               enable_auto_commit=False,
                               api_version=API_VERSION, fetch_max_wait_ms=20,
                               client_id="weir-it-reader")
        self.c.assign([TopicPartition(topic, 0)])
        self.c.seek_to_beginning()
        self.topic = topic
        self.got = []

    def wait(self, n, timeout=30):
        """Returns the first n outputs (dicts), waiting for them."""
        deadline = time.monotonic() + timeout
        while len(self.got) < n:
            check(time.monotonic() < deadline,
                  "%s: %d output(s) within %d s, expected %d: %r"
                  % (self.topic, len(self.got), timeout, n, self.got))
            for msgs in self.c.poll(timeout_ms=50).values():
                self.got += [json.loads(m.value) for m in msgs]
        return self.got[:n]

    def close(self):
        self.c.close()


def recs(partition, times, kafka_ts=None, field=None):
    """Records of one partition: with field, each time goes into the JSON
    value as that field (a dict value is used as the whole value);
    kafka_ts is the Kafka timestamp (default the time itself)."""
    out = []
    for t in times:
        if field is None:
            value = {"n": t}
        elif isinstance(t, dict):
            value = t
        else:
            value = {field: t}
        out.append({"partition": partition, "key": None, "headers": [],
                    "value": json.dumps(value).encode(),
                    "timestamp": kafka_ts if kafka_ts is not None else
                    (t if field is None else None)})
    return out


def check_watermarks(outs, bound, parts):
    """Every output: the watermark never decreases and never passes the
    minimum over partitions of (highest time before it - bound - 1)."""
    high = {p: None for p in parts}
    last = WM_MIN
    for i, o in enumerate(outs):
        check(o["wm"] >= last, "output %d: watermark went back from %d to "
              "%d: %r" % (i, last, o["wm"], outs))
        limit = (WM_MIN if any(h is None for h in high.values())
                 else min(high.values()) - bound - 1)
        check(o["wm"] <= limit, "output %d (%r): watermark %d is past %d, "
              "the minimum over partitions of their highest time so far "
              "- %d - 1" % (i, o, o["wm"], limit, bound))
        last = o["wm"]
        if high[o["p"]] is None or o["ts"] > high[o["p"]]:
            high[o["p"]] = o["ts"]


def wm_of(outs, p, o):
    m = [x for x in outs if x["p"] == p and x["o"] == o]
    check(len(m) == 1, "output for %d@%d: %r" % (p, o, outs))
    return m[0]["wm"]


# Where nothing must happen (a watermark that must not move), how long
# the test gives it to happen anyway: the source sends within interval_ms
# (10).
SETTLE = 0.2


def wait_probe_wm(url, want, timeout=10):
    """Waits until the probe (stage 1) has seen watermark want, as the
    job's /job reports it (a task publishes it as it forwards it)."""
    deadline = time.monotonic() + timeout
    while True:
        got = http_json(url + "/job")["stages"][1]["watermark_ms"]
        if got == want:
            return
        check(time.monotonic() < deadline, "the probe's watermark is %r, "
              "not %d, after %d s" % (got, want, timeout))
        time.sleep(0.01)


def kafka_timestamps(h, b, probe):
    ck = h.path("ck-a")
    job = h.write_job("a.json", kafka_job(
        "wm-a", ck, "a", "a_out", [probe],
        source={"parallelism": 1,
                "watermarks": {"max_out_of_orderness_ms": 100}}))
    w = h.weir_run(job, args=["--http", "127.0.0.1:0"])
    url = http_url(w)
    check_eq(parse_restore(w)[0], 0, "first run restored")
    out = Reader(b, "a_out")
    try:
        produce(b, "a", recs(0, [1000, 1200, 1100]) + recs(1, [5000, 5100]))
        out.wait(5)
        wait_probe_wm(url, 1099)
        produce(b, "a", recs(0, [1300]))
        outs = out.wait(6)
        check_eq(wm_of(outs, 0, 3), 1099,
                 "watermark after min(1200, 5100) - 101")
        # p0 quiet, no idle timeout: it holds the watermark at 1300 - 101.
        for k, t in enumerate([6000, 7000]):
            time.sleep(SETTLE)
            produce(b, "a", recs(1, [t]))
            check_eq(out.wait(7 + k)[-1]["wm"], 1199,
                     "watermark with partition 0 quiet at 1300")
        outs = out.wait(8)
        check_watermarks(outs, 100, [0, 1])
        for o in outs:
            want = {(0, 0): 1000, (0, 1): 1200, (0, 2): 1100, (0, 3): 1300,
                    (1, 0): 5000, (1, 1): 5100, (1, 2): 6000,
                    (1, 3): 7000}[(o["p"], o["o"])]
            check_eq(o["ts"], want, "timestamp of %r" % o)

        # A checkpoint with every record read, then SIGKILL.
        deadline = time.monotonic() + 20
        while not any(r.offsets.get(("a", 0)) == 4 and
                      r.offsets.get(("a", 1)) == 4
                      for r in list_checkpoints(h, ck)):
            check(time.monotonic() < deadline,
                  "no checkpoint at offsets 4, 4 within 20 s")
            time.sleep(0.1)
        w.kill()
        w2 = h.weir_run(job)
        check(parse_restore(w2)[0] > 0, "the restart restored nothing")
        produce(b, "a", recs(0, [1250]))
        outs = out.wait(9)
        check_eq(outs[8]["o"], 4, "the first output after the restart")
        check_eq(outs[8]["wm"], 1199,
                 "watermark of the first record after the restore")
        check_eq(w2.stop(), 0, "exit code of the graceful stop")
        w2.wait_for_log(r"wmprobe closes at watermark 1199$")
    finally:
        out.close()
    return ("kafka timestamps: 9 records, watermark exact (1099, 1199), "
            "held by a quiet partition, 1199 again right after SIGKILL")


def idle_partition(h, b, probe):
    job = h.write_job("b.json", kafka_job(
        "wm-b", h.path("ck-b"), "b", "b_out", [probe],
        source={"parallelism": 2, "timestamp": {"field": "ts"},
                "watermarks": {"idle_timeout_ms": 300}}))
    w = h.weir_run(job, args=["--http", "127.0.0.1:0"])
    url = http_url(w)
    parse_restore(w)
    out = Reader(b, "b_out")
    try:
        produce(b, "b", recs(0, [1000], kafka_ts=1, field="ts") +
                recs(1, [2000, 3000], kafka_ts=1, field="ts"))
        out.wait(3)
        # Both partitions quiet for twice the idle timeout: both idle.
        # Partition 1 is active again from its next record, whose
        # watermark (3999) follows it; partition 0 stays idle.
        time.sleep(0.6)
        produce(b, "b", recs(1, [4000], kafka_ts=1, field="ts"))
        out.wait(4)
        wait_probe_wm(url, 3999)
        produce(b, "b", recs(1, [5000], kafka_ts=1, field="ts"))
        outs = out.wait(5)
        check_eq([o["ts"] for o in outs if o["p"] == 1],
                 [2000, 3000, 4000, 5000],
                 "times from the field, not the Kafka timestamp")
        check_eq(outs[4]["wm"], 3999, "watermark with partition 0 idle "
                 "(it would be 999 if it held it back)")
        check(all(o["wm"] <= 999 for o in outs[:3]),
              "watermark before the partitions went idle: %r" % outs)
        # 2999 when partition 0 went idle first, 999 when both were idle.
        check(outs[3]["wm"] in (999, 2999),
              "watermark when partition 1 was active again: %r" % outs)
        check_eq(w.stop(), 0, "exit code of the graceful stop")
    finally:
        out.close()
    return "idle partition released the watermark (999 -> 3999)"


def bounded_epoch_s(h, b, probe):
    produce(b, "c", recs(0, [1700000000, 1700000000.5, 1700000001.25],
                         field="t"))
    job = h.write_job("c.json", kafka_job(
        "wm-c", h.path("ck-c"), "c", "c_out", [probe],
        source={"parallelism": 1, "bounded": True,
                "timestamp": {"field": "t", "format": "epoch_s"}}))
    w = h.weir_run(job)
    check_eq(w.wait(), 0, "exit code of the bounded job")
    w.wait_for_log(r"wmprobe closes at watermark %d$" % WM_END)
    out = Reader(b, "c_out")
    try:
        check_eq([o["ts"] for o in out.wait(3)],
                 [1700000000000, 1700000000500, 1700000001250],
                 "epoch_s times in ms")
    finally:
        out.close()
    return "epoch_s to ms; WATERMARK_END at the bounded end"


def rfc3339_ms(text):
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?"
                 r"(Z|([+-])(\d\d):(\d\d))$", text)
    secs = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)))
    ms = secs * 1000 + (int((m.group(7)[1:] + "00")[:3])
                        if m.group(7) else 0)
    if m.group(8) != "Z":
        off = (int(m.group(10)) * 60 + int(m.group(11))) * 60000
        ms -= off if m.group(9) == "+" else -off
    return ms


GOOD = ["2026-12-07T09:15:13.123Z", "2026-12-07T10:15:13+01:00",
        "2026-12-07T04:00:00.5-05:30"]


def rfc3339_skip(h, b, probe):
    produce(b, "d", recs(0, GOOD[:2] + ["yesterday", {"x": 1}] + GOOD[2:],
                         field="ts"))
    job = h.write_job("d.json", dict(kafka_job(
        "wm-d", h.path("ck-d"), "d", "d_out", [probe],
        source={"parallelism": 1,
                "timestamp": {"field": "ts", "format": "rfc3339"}}),
        progress_interval_ms=100))
    w = h.weir_run(job)
    out = Reader(b, "d_out")
    try:
        outs = out.wait(3)
    finally:
        out.close()
    check_eq([(o["o"], o["ts"]) for o in outs],
             [(0, rfc3339_ms(GOOD[0])), (1, rfc3339_ms(GOOD[1])),
              (4, rfc3339_ms(GOOD[2]))], "offsets and times of the outputs")
    w.wait_for_log(r"skipped record d\[0\]@2: field \"ts\" is \"yesterday\""
                   r", not an RFC 3339 time .*; 1 skipped in all "
                   r"\(source\.on_error \"skip\"")
    w.wait_for_log(r"progress: source 3 read .*, 2 skipped")
    check_eq(w.stop(), 0, "exit code of the graceful stop")
    return "rfc3339 (Z, +01:00, -05:30, fractions) exact; 2 bad skipped " \
        "and counted"


def on_error_fail(h, b, probe):
    job = h.write_job("e.json", kafka_job(
        "wm-e", h.path("ck-e"), "d", "e_out", [probe],
        source={"parallelism": 1, "on_error": "fail",
                "timestamp": {"field": "ts", "format": "rfc3339"}}))
    w = h.weir_run(job)
    check_eq(w.wait(), 1, "exit code with source.on_error fail")
    w.wait_for_log(r"record d\[0\]@2 has no usable event time: field "
                   r"\"ts\" is \"yesterday\", not an RFC 3339 time.*"
                   r"source\.on_error is \"fail\", so the job stops")
    return "on_error fail stops at d[0]@2 naming field and value"


def run():
    with Harness("watermarks") as h:
        b = h.broker({"a": 2, "a_out": 1, "b": 2, "b_out": 1, "c": 1,
                      "c_out": 1, "d": 1, "d_out": 1, "e_out": 1})
        probe = {"type": "plugin", "library": plugin(h, "WMPROBE_PLUGIN")}
        return "; ".join(f(h, b, probe) for f in (
            kafka_timestamps, idle_partition, bounded_epoch_s, rfc3339_skip,
            on_error_fail))


if __name__ == "__main__":
    main(run)
