#!/usr/bin/env bash
# Errors per service per minute: installs what is missing, builds weir,
# starts the embedded Kafka broker, writes demo log records covering a few
# minutes of event time (their "ts" field), runs a filter + tumbling
# 1-minute window job over them as a bounded run, and prints the windows'
# results read back with kafka-python.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-40000}
MINUTES=${MINUTES:-5}

. examples/demo_lib.sh
build_weir

work=$(mktemp -d /tmp/weir-window.XXXXXX)
say "starting the embedded Kafka broker (weir broker)"
start_broker "$work" --topic logs:4 --topic errors_per_minute:1
export WEIR_CHECKPOINT_DIR=$work/checkpoints

# Event time starts on a whole minute, MINUTES minutes ago.
start_ms=$(( ($(date +%s) / 60 - MINUTES) * 60000 ))
say "writing $RECORDS demo log records, $MINUTES minutes of event time, to 'logs'"
$PY examples/demo_produce.py "$KAFKA_BROKERS" logs "$RECORDS" 1 "$start_ms" $((MINUTES * 60000))

job=examples/errors_per_minute.json
"$WEIR" validate "$job"
say "running $job to the end of 'logs' (a bounded run)"
"$WEIR" run "$job" 2>"$work/run.log" || { cat "$work/run.log" >&2; exit 1; }

say "errors per service per minute (topic errors_per_minute)"
$PY - "$KAFKA_BROKERS" <<'PY'
import json, sys
from kafka import KafkaConsumer

def read(topic):
    c = KafkaConsumer(topic, bootstrap_servers=sys.argv[1], auto_offset_reset="earliest",
                      consumer_timeout_ms=2000)
    out = [json.loads(m.value) for m in c]
    c.close()
    return out

rows = sorted(read("errors_per_minute"), key=lambda r: (r["window_start_ms"], r["key"]))
for r in rows:
    print("%s  %-7s %5d errors  mean latency %6.1f ms  max %3d ms"
          % (r["window_start"][:16], r["key"], r["count"], r["mean_latency_ms"], r["max_latency_ms"]))
errors = sum(1 for r in read("logs") if r["level"] == "ERROR")
total = sum(r["count"] for r in rows)
print("\n%d windows; their counts add up to %d of the %d ERROR records in 'logs'"
      % (len(rows), total, errors))
sys.exit(0 if total == errors else 1)
PY
