#!/usr/bin/env python3
"""Writes sample JSON log records to a Kafka topic at a steady pace, in
chunks, through kcat (not weir): the input of the demo.

usage: demo_produce.py BROKERS TOPIC RECORDS SECONDS [EVENT_START_MS EVENT_SPAN_MS]

With EVENT_START_MS and EVENT_SPAN_MS, each record also has an event time
"ts" (epoch milliseconds), spread evenly over the span from the start and
up to 2 s out of order, and a "latency_ms": the input of the windowed
example (errors_per_minute.sh).
"""
import json
import random
import subprocess
import sys
import time

LEVELS = ["INFO"] * 5 + ["WARN"] * 2 + ["ERROR"] * 2 + ["DEBUG"]


def main():
    brokers, topic, total, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    event = [int(a) for a in sys.argv[5:7]] if len(sys.argv) >= 7 else None
    rng = random.Random(42)
    chunks = 20
    per = total // chunks
    start = time.monotonic()
    seq = 0
    for c in range(chunks):
        lines = []
        n = per if c < chunks - 1 else total - seq
        for _ in range(n):
            rec = {"seq": seq, "level": rng.choice(LEVELS),
                   "service": "svc-%d" % rng.randrange(12),
                   "msg": "request %d handled" % seq}
            if event:
                rec["ts"] = event[0] + seq * event[1] // total - rng.randrange(2000)
                rec["latency_ms"] = rng.randrange(5, 400)
            # key \t value: the key (the service) picks the partition, so
            # each service's records are in one partition, as the job's
            # "partitioned_by": "service" declares.
            lines.append("%s\t%s" % (rec["service"], json.dumps(rec, separators=(",", ":"))))
            seq += 1
        subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic, "-K", "\t", "-z", "none"],
                       input=("\n".join(lines) + "\n").encode(), check=True)
        due = start + seconds * (c + 1) / chunks
        time.sleep(max(0.0, due - time.monotonic()))


if __name__ == "__main__":
    main()
