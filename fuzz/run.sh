#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer + UndefinedBehavior
# Sanitizer) in build-fuzz/ and runs each for a bounded time, niced, from
# its committed corpus in fuzz/corpus/<target>/ with the dictionary
# fuzz/<target>.dict. Inputs that reach new coverage are kept in
# build-fuzz/corpus/<target>/ (not committed); a crash, a sanitizer report,
# a leak, more than FUZZ_RSS_MB of memory or one input running longer than
# FUZZ_TIMEOUT seconds is a finding, written to build-fuzz/findings/<target>/
# and reported at the end.
#
#   fuzz/run.sh                 every target, FUZZ_SECONDS (60) each
#   fuzz/run.sh jrec state      only those targets
#   FUZZ_SECONDS=600 fuzz/run.sh jobfile   longer
#   FUZZ_TIMEOUT, FUZZ_RSS_MB, FUZZ_MAX_LEN (64 KiB): the limits
#
# Not part of tests/run.sh: the normal suite only replays the committed
# corpus (the fuzz_corpus_* tests). Exits 1 when any target found something.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-1024}
max_len=${FUZZ_MAX_LEN:-65536}
dir=build-fuzz
all=(jobfile jrec state meta kstate kapply)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

./tests/deps.sh || { echo "weir fuzz: could not install dependencies" >&2; exit 1; }
# clang and its libFuzzer runtime (libclang-rt-*-dev, pulled in by clang).
if ! command -v clang >/dev/null ||
   ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
     clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "weir fuzz: installing clang (with libFuzzer)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends clang libclang-rt-dev >/dev/null ||
    { echo "weir fuzz: could not install clang" >&2; exit 1; }
fi

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
    { echo "weir fuzz: meson setup failed" >&2; exit 1; }
fi
nice -n 10 ninja -C "$dir" >"$dir/weir-ninja.log" 2>&1 ||
  { cat "$dir/weir-ninja.log"; exit 1; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:suppressions=$PWD/tests/lsan.supp"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

status=0
for t in "${targets[@]}"; do
  exe="$dir/fuzz/fuzz_$t"
  [ -x "$exe" ] || { echo "weir fuzz: no target $t (${all[*]})" >&2; exit 2; }
  work="$dir/corpus/$t" findings="$dir/findings/$t"
  mkdir -p "$work" "$findings"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "=== fuzz_$t: ${seconds}s, -timeout=$timeout -rss_limit_mb=$rss_mb ==="
  nice -n 10 "$exe" -max_total_time="$seconds" -timeout="$timeout" \
    -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" \
    "$work" "fuzz/corpus/$t" >"$dir/fuzz-$t.log" 2>&1
  rc=$?
  grep -E "^#[0-9]+ +(DONE|pulse)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" \
    "$dir/fuzz-$t.log" | tail -4
  grep -E "cov: [0-9]+" -o "$dir/fuzz-$t.log" | tail -1
  if [ $rc -ne 0 ] || [ -n "$(ls -A "$findings")" ]; then
    echo "fuzz_$t: FINDINGS in $findings (log: $dir/fuzz-$t.log)"
    grep -E "ERROR: |runtime error|Assertion|SUMMARY" "$dir/fuzz-$t.log" | head -5
    status=1
  fi
done
exit $status
