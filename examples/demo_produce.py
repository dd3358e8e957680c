#!/usr/bin/env python3
"""Writes sample JSON log records to a Kafka topic at a steady pace, in
chunks, through kcat (not weir): the input of the demo.

usage: demo_produce.py BROKERS TOPIC RECORDS SECONDS
"""
import json
import random
import subprocess
import sys
import time

LEVELS = ["INFO"] * 5 + ["WARN"] * 2 + ["ERROR"] * 2 + ["DEBUG"]


def main():
    brokers, topic, total, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
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
