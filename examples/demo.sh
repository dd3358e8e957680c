#!/usr/bin/env bash
# The crash-and-recover demo: installs what is missing, builds weir, starts
# the embedded Kafka broker, writes JSON log records while a filter + count
# job runs, kills the job with SIGKILL mid-stream, starts it again, and
# checks the output with kafka-python (a client that is not weir's code).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-200000}
SECONDS_TO_PRODUCE=${SECONDS_TO_PRODUCE:-8}
. examples/demo_lib.sh
build_weir

work=$(mktemp -d /tmp/weir-demo.XXXXXX)

say "starting the embedded Kafka broker (weir broker)"
start_broker "$work" --topic logs:4 --topic errors:4
export WEIR_CHECKPOINT_DIR=$work/checkpoints
echo "broker at $KAFKA_BROKERS; topics logs (4 partitions) and errors (4)"

say "writing $RECORDS log records to 'logs' over ${SECONDS_TO_PRODUCE}s, while the job runs"
$PY examples/demo_produce.py "$KAFKA_BROKERS" logs "$RECORDS" "$SECONDS_TO_PRODUCE" &
producer=$!
pids+=($producer)

job=examples/errors-per-service.json
echo "job: filter level == ERROR, then count per service, exactly-once output ($job)"
"$WEIR" run "$job" 2>"$work/run1.log" &
run1=$!
pids+=($run1)

# Kill it somewhere in the middle of the stream.
kill_after=$($PY -c "import random; print(round(random.uniform(2.5, 4.5), 2))")
sleep "$kill_after"
kill -9 "$run1"
wait "$run1" 2>/dev/null || true
say "SIGKILL after ${kill_after}s"
grep -E "checkpoint [0-9]+ complete" "$work/run1.log" | tail -n 2 || echo "(no checkpoint had completed yet)"
echo
"$WEIR" checkpoints "$WEIR_CHECKPOINT_DIR"

say "starting the job again: it restores the newest complete checkpoint"
"$WEIR" run "$job" 2>"$work/run2.log" &
run2=$!
pids+=($run2)
for _ in $(seq 100); do grep -qE "restored checkpoint|starting fresh" "$work/run2.log" && break; sleep 0.1; done
grep -E "restore:|exactly-once:" "$work/run2.log" | sed 's/^[^ ]* //' || true
restored=$(sed -n 's/.*restored checkpoint [0-9]* .*; offsets \(.*\)$/\1/p' "$work/run2.log" | head -n1)

wait "$producer"
echo "producer done; waiting for the job to catch up"
$PY examples/demo_verify.py --wait-caught-up "$KAFKA_BROKERS" logs errors-per-service 120
kill -TERM "$run2"
wait "$run2" && echo "graceful stop: final checkpoint taken, exit 0"

say "verification (read back from Kafka with kafka-python)"
delivery=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['sink']['delivery'])" "$job")
if $PY examples/demo_verify.py "$KAFKA_BROKERS" logs errors "$restored" "$delivery"; then
  echo
  echo "OK: nothing lost, nothing written twice, counts exact after SIGKILL. Logs: $work"
else
  echo
  echo "FAILED: see the logs in $work" >&2
  exit 1
fi
