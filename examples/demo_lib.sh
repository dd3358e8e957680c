# demo_lib.sh - what the example scripts share (sourced, not run): install
# what is missing and build weir, start the embedded Kafka broker, and
# kill what they started when they exit. Run from the repository's root.

PY=/usr/bin/python3

if [ -t 1 ]; then say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }; else say() { printf '\n== %s\n' "$*"; }; fi

# Sets WEIR to the freshly built binary.
build_weir() {
  ./tests/deps.sh
  say "building weir"
  [ -f build/build.ninja ] || meson setup build >/dev/null
  ninja -C build >/dev/null
  WEIR=$PWD/build/weir
}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# start_broker WORKDIR --topic NAME:PARTITIONS...: starts `weir broker`
# and exports KAFKA_BROKERS once it listens.
start_broker() {
  local dir=$1
  shift
  "$WEIR" broker "$@" >"$dir/broker.out" 2>"$dir/broker.log" &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$dir/broker.out" ] && break; sleep 0.1; done
  KAFKA_BROKERS=$(head -n1 "$dir/broker.out")
  export KAFKA_BROKERS
}
