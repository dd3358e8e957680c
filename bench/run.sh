#!/bin/sh
# bench/run.sh [--quick] [--out FILE] - build what the benchmarks need and
# run them all; prints a table and writes JSON (default
# bench/results/latest.json). Benchmarks report; they never fail a build.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
	meson setup build
fi
ninja -C build weir weir-broker bench/loop_filter bench/loop_kafka bench/kstate_cow \
	bench/libchurn_key.so bench/libfat_state.so
command -v kcat >/dev/null || { echo "bench: kcat is missing (apt-get install kcat)" >&2; exit 1; }
/usr/bin/python3 -c 'import kafka' 2>/dev/null ||
	{ echo "bench: kafka-python is missing (apt-get install python3-kafka)" >&2; exit 1; }
exec /usr/bin/python3 bench/bench.py "$@"
