#!/usr/bin/env bash
# tests/soak/ttl_dedup.sh - state that expires, over a long run, by hand
# (not part of ./tests/run.sh; about 15 s on 2 cores for the defaults).
#
# Runs generator -> dedup keyed by "seq" with ttl_ms -> discard over IDS
# distinct ids, event time = seq in ms (one id a ms, so the TTL covers
# TTL_MS ids), checkpoints every second, and asserts:
#   - every record passed (all ids are distinct: dedup must not drop one);
#   - the process's VmRSS where dedup has read IDS records is at most
#     MAX_RATIO times what it was where it had read FROM;
#   - the same for the size of the checkpoint (all its files) first taken
#     past each of those points: the kept entries do not grow;
#   - the final checkpoint, taken after the end of input moved the
#     watermark past every expiry, holds no entries (under 4 KiB).
# Env: WEIR (build/weir), IDS (5000000), FROM (1000000), TTL_MS (200000),
# MAX_RATIO (1.2), KEEP=1 keeps the work directory. Exit 0 = all held.
set -uo pipefail
cd "$(dirname "$0")/../.."

WEIR=${WEIR:-build/weir}
IDS=${IDS:-5000000}
FROM=${FROM:-1000000}
TTL_MS=${TTL_MS:-200000}
MAX_RATIO=${MAX_RATIO:-1.2}
# Past IDS, so that the last point is sampled while the job runs.
COUNT=$((IDS + 300000))

[ -x "$WEIR" ] || { echo "soak: $WEIR is missing (ninja -C build)" >&2; exit 2; }
dir=$(mktemp -d /tmp/weir-soak-ttl.XXXXXX)
if [ "${KEEP:-0}" != 1 ]; then
	trap 'rm -rf "$dir"' EXIT
fi
cat >"$dir/job.json" <<EOF
{"name": "soak-ttl-dedup", "progress_interval_ms": 100,
 "checkpoint": {"dir": "$dir/ck", "interval_ms": 1000, "retain": 1000},
 "source": {"type": "generator", "count": $COUNT, "partitions": 1,
            "timestamp": {"field": "seq", "format": "epoch_ms"}},
 "operators": [{"type": "dedup", "key": "seq", "ttl_ms": $TTL_MS}],
 "sink": {"type": "discard"}}
EOF

"$WEIR" run "$dir/job.json" 2>"$dir/log" &
pid=$!
rss_from="" rss_ids="" at_from="" at_ids=""
while kill -0 "$pid" 2>/dev/null; do
	n=$(grep -o 'dedup [0-9]* in' "$dir/log" | tail -n 1 | cut -d' ' -f2)
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	if [ -n "$n" ] && [ -n "$rss" ]; then
		if [ -z "$rss_from" ] && [ "$n" -ge "$FROM" ]; then
			rss_from=$rss at_from=$n
		fi
		if [ -z "$rss_ids" ] && [ "$n" -ge "$IDS" ]; then
			rss_ids=$rss at_ids=$n
		fi
	fi
	sleep 0.05
done
wait "$pid"
rc=$?
if [ "$rc" != 0 ]; then
	tail -n 20 "$dir/log" >&2
	echo "soak: weir exited $rc" >&2
	exit 1
fi

fail=0
check() { # what, holds (0/1)
	if [ "$2" = 1 ]; then echo "ok:   $1"; else echo "FAIL: $1"; fail=1; fi
}

passed=$(sed -n 's/.*sink#0: discarded \([0-9]*\) records.*/\1/p' "$dir/log")
check "all $COUNT distinct ids passed dedup (discarded ${passed:-none})" \
	"$([ "${passed:-0}" = "$COUNT" ] && echo 1)"

if [ -z "$rss_from" ] || [ -z "$rss_ids" ]; then
	check "RSS sampled at $FROM and $IDS records" 0
else
	ratio=$(awk -v a="$rss_ids" -v b="$rss_from" 'BEGIN {printf "%.3f", a / b}')
	check "RSS $rss_ids KiB at $at_ids records / $rss_from KiB at $at_from = $ratio <= $MAX_RATIO" \
		"$(awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN {print (r <= m)}')"
fi

# Checkpoint id -> bytes in all (the log), id -> source position (the
# listing); the first checkpoint at or past each point.
sizes=$(sed -n 's/.*checkpoint \([0-9]*\) complete in .* \([0-9]*\) bytes in all.*/\1 \2/p' "$dir/log")
listed=$("$WEIR" checkpoints "$dir/ck" |
	sed -n 's/^\([0-9]*\) .* complete *generator\[0\]=\([0-9]*\).*/\1 \2/p')
first_past() { # position -> "id size"
	echo "$listed" | sort -k2,2n | awk -v p="$1" '$2 >= p {print $1; exit}' |
		while read -r id; do echo "$sizes" | awk -v i="$id" '$1 == i'; done
}
ck_from=$(first_past "$FROM") ck_ids=$(first_past "$IDS")
if [ -z "$ck_from" ] || [ -z "$ck_ids" ]; then
	check "a checkpoint past $FROM and past $IDS records" 0
else
	set -- $ck_from $ck_ids
	ratio=$(awk -v a="$4" -v b="$2" 'BEGIN {printf "%.3f", a / b}')
	check "checkpoint $3 ($4 bytes) / checkpoint $1 ($2 bytes) = $ratio <= $MAX_RATIO" \
		"$(awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN {print (r <= m)}')"
fi

final=$(grep '(final)' "$dir/log" | sed -n 's/.* \([0-9]*\) bytes in all.*/\1/p')
check "final checkpoint after the end of input holds no entries (${final:-none} bytes)" \
	"$([ -n "$final" ] && [ "$final" -lt 4096 ] && echo 1)"
exit $fail
