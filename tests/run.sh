#!/usr/bin/env bash
# Installs dependencies if missing, builds weir three ways and runs every
# test: the whole suite on a plain build and on an AddressSanitizer +
# UndefinedBehaviorSanitizer build, and the concurrency suite on a
# ThreadSanitizer build. Warnings are errors in every build. Ends with one
# line "N passed, N failed" over all runs; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

./tests/deps.sh || { echo "weir: could not install dependencies" >&2; exit 1; }

PY=/usr/bin/python3
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:suppressions=$PWD/tests/lsan.supp"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

# name, build dir, meson options, suites to run ("" = all)
runs=(
  "plain|build||"
  "asan+ubsan|build-asan|-Db_sanitize=address,undefined -Db_lundef=false|"
  "tsan|build-tsan|-Db_sanitize=thread|concurrency"
)

status=0
summaries=()
for run in "${runs[@]}"; do
  IFS='|' read -r name dir opts suites <<<"$run"
  echo "=== $name: build in $dir ==="
  if [ ! -f "$dir/build.ninja" ]; then
    # shellcheck disable=SC2086
    meson setup "$dir" $opts >/dev/null || { status=1; summaries+=("$name: setup failed"); continue; }
  fi
  if ! ninja -C "$dir" >"$dir/weir-ninja.log" 2>&1; then
    cat "$dir/weir-ninja.log"
    status=1; summaries+=("$name: build failed"); continue
  fi
  # Four tests at a time on 2 cores: the integration tests spend most of
  # their time waiting (for a broker, a checkpoint, a killed process to be
  # restarted), about a quarter of it on the CPU, and each has its own
  # broker on a free port and its own temporary directory.
  args=(--print-errorlogs -C "$dir" --num-processes 4)
  [ -n "$suites" ] && args+=(--suite "$suites")
  echo "=== $name: tests ==="
  meson test "${args[@]}" || status=1
  summaries+=("$name|$dir/meson-logs/testlog.json")
done

# Count over all runs from meson's JSON logs.
$PY - "${summaries[@]}" <<'PYEOF'
import json, sys
passed = failed = skipped = 0
for s in sys.argv[1:]:
    name, _, log = s.partition("|")
    if not log:
        print(f"{name}")
        failed += 1
        continue
    p = f = k = 0
    with open(log) as fh:
        for line in fh:
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                p += 1
            elif r == "SKIP":
                k += 1
            else:
                f += 1
    print(f"{name}: {p} passed, {f} failed, {k} skipped")
    passed, failed, skipped = passed + p, failed + f, skipped + k
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PYEOF
[ $? -eq 0 ] || status=1
exit $status
