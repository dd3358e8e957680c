#!/usr/bin/env python3
"""Checks the demo's output with kafka-python, a Kafka client that is not
weir's code: every ERROR record of the input must appear in the output
(lineage header), duplicates may only come from after the checkpoint the
restart resumed from, and the counts must be exact.

usage: demo_verify.py BROKERS INPUT OUTPUT [RESTORED_OFFSETS_JSON [DELIVERY]]
       demo_verify.py --wait-caught-up BROKERS INPUT GROUP TIMEOUT_S
"""
import json
import sys
import time
from collections import Counter, defaultdict

from kafka import KafkaConsumer, TopicPartition


def consumer(brokers, **kw):
    return KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False,
                         consumer_timeout_ms=2000, **kw)


def read_all(brokers, topic):
    c = consumer(brokers)
    parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    end = c.end_offsets(parts)
    out = []
    deadline = time.monotonic() + 60
    while any(c.position(tp) < end[tp] for tp in parts):
        if time.monotonic() > deadline:
            sys.exit("timed out reading %s" % topic)
        for tp, msgs in c.poll(timeout_ms=500, max_records=10000).items():
            out.extend(msgs)
    c.close()
    return out


def wait_caught_up(brokers, topic, group, timeout):
    """Waits until the group's committed offsets reach the end offsets:
    weir commits them after each completed checkpoint."""
    c = consumer(brokers, group_id=group)
    parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        end = c.end_offsets(parts)
        if all((c.committed(tp) or 0) >= end[tp] for tp in parts):
            return 0
        time.sleep(0.3)
    print("weir did not catch up within %d s" % timeout, file=sys.stderr)
    return 1


def verify(brokers, src, dst, restored, exactly_once):
    inputs = read_all(brokers, src)
    expected = {}
    for m in inputs:
        v = json.loads(m.value)
        if v.get("level") == "ERROR":
            expected[(m.partition, m.offset)] = v["service"]
    seen = Counter()
    counts = defaultdict(set)
    for m in read_all(brokers, dst):
        hdr = dict(m.headers)
        _, part, off, _ = hdr["weir.lineage"].decode().rsplit("/", 3)
        seen[(int(part), int(off))] += 1
        v = json.loads(m.value)
        counts[v["key"]].add(v["count"])

    lost = [k for k in expected if k not in seen]
    extra = [k for k in seen if k not in expected]
    dups = {k: n - 1 for k, n in seen.items() if n > 1}
    ndups = sum(dups.values())
    # Duplicates are allowed only after the restored checkpoint's offsets.
    offs = (restored or {}).get(src, {})
    early = [k for k in dups if k[1] < int(offs.get(str(k[0]), 0))]

    truth = Counter(expected.values())
    exact = all(counts.get(s) == set(range(1, n + 1)) for s, n in truth.items()) \
        and set(counts) == set(truth)

    print("  input records      %8d  (%s, %d partitions)" % (len(inputs), src, len({m.partition for m in inputs})))
    print("  expected outputs   %8d  (level == ERROR)" % len(expected))
    print("  output records     %8d  (%s)" % (sum(seen.values()), dst))
    print("  lost               %8d" % len(lost))
    print("  duplicates         %8d  %s" % (ndups,
          "(all after the restored checkpoint: at-least-once replays them)"
          if ndups and not early and not exactly_once else
          "" if not ndups else "(%d BEFORE the restored checkpoint!)" % len(early)
          if early else "(exactly-once promised none!)"))
    print("  unexpected         %8d" % len(extra))
    print("  counts exact       %8s  (%d services; each count 1..N once, final = true total)"
          % ("yes" if exact else "NO", len(truth)))
    ok = not lost and not extra and not early and exact
    return 0 if ok and not (exactly_once and ndups) else 1


def main():
    if sys.argv[1] == "--wait-caught-up":
        return wait_caught_up(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    restored = json.loads(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
    exactly_once = len(sys.argv) > 5 and sys.argv[5] == "exactly-once"
    return verify(sys.argv[1], sys.argv[2], sys.argv[3], restored, exactly_once)


if __name__ == "__main__":
    sys.exit(main())
