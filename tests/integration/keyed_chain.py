"""A job whose keyed state changes all the time and is deleted often, and
what it must write: the SIGKILL loop (test_crash_loop.py) and the rescale
test (test_rescale.py) run it over incremental checkpoints.

Input: JSON records {"key": "user-0042-...", "seq": N, "level": L}, each user's
records in one partition (user i in partition i % partitions) with
Kafka timestamps that grow per user. The operators, all keyed by "key":

  filter   drops level DEBUG
  dedup    ttl_ms: a user's records within ttl_ms of the one that went
           through are dropped
  count    {"key": user, "count": n}
  windows  (tests/plugins/windows.c) tumbling windows of `size` counts per
           user; the key's state is deleted when a window closes

Every record that passes dedup gives exactly one output, whose value
depends on the state of dedup, count and windows for its user, so a key
state lost, doubled or brought back after a restore shows in the output.
Keyed by one field, each user's records reach every stage through one
task in source order whatever the parallelism: a replay computes the
same values (exactly-once by de-duplication needs parallelism 1 and
"partitioned_by": "key" too).
"""
import json
import random

from weirtest import check, lineage

T0 = 1_700_000_000_000
TTL_MS = 1000
WINDOW = 5
# Gaps between a user's records (ms): dedup drops about a third.
GAPS = [0, 200, 500, 999, 1000, 1001, 1500, 3000]
LEVELS = ["INFO"] * 5 + ["WARN"] * 2 + ["ERROR", "DEBUG", "DEBUG"]


# Each user's clock starts anywhere in 100 s and moves on by its own gaps,
# so within a partition the records are far out of order. Declared as the
# source's bound, that keeps every record on time: dedup's ttl_ms then
# decides by record time alone, as expected() does (a record later than
# the watermark could find its key already expired by it).
WATERMARKS = {"max_out_of_orderness_ms": 600_000}


def operators(library, par):
    """The job's operators; keyed ones with parallelism par."""
    return [
        {"type": "filter",
         "where": {"field": "level", "op": "ne", "value": "DEBUG"}},
        {"type": "dedup", "key": "key", "ttl_ms": TTL_MS,
         "parallelism": par},
        {"type": "count", "key": "key", "parallelism": par},
        {"type": "plugin", "library": library, "key": "key",
         "size": WINDOW, "field": "count", "parallelism": par},
    ]


def records(n, seed, partitions, users):
    """n records of `users` users (dicts as weirtest.produce takes)."""
    rnd = random.Random(seed)
    clock = [T0 + rnd.randrange(100_000) for _ in range(users)]
    # Keys as long as a UUID: more bytes per changed key in a delta.
    names = ["user-%04d-%024x" % (u, rnd.getrandbits(96))
             for u in range(users)]
    out = []
    for i in range(n):
        u = rnd.randrange(users)
        clock[u] += rnd.choice(GAPS)
        obj = {"key": names[u], "seq": i, "level": rnd.choice(LEVELS)}
        out.append({"partition": u % partitions, "key": obj["key"].encode(),
                    "headers": [], "timestamp": clock[u], "obj": obj,
                    "value": json.dumps(obj, separators=(",", ":")).encode()})
    return out


def expected(recs):
    """{(partition, offset): output value} of a straight run, for the
    records that were produced (have an offset)."""
    seen, counts, want = {}, {}, {}
    for r in recs:
        obj = r["obj"]
        u, ts = obj["key"], r["timestamp"]
        if obj["level"] == "DEBUG":
            continue
        if u in seen and not ts - seen[u] > TTL_MS:
            continue
        seen[u] = ts
        c = counts[u] = counts.get(u, 0) + 1
        n = (c - 1) % WINDOW + 1
        first = c - n + 1
        want[(r["partition"], r["offset"])] = {
            "key": u, "value": c, "n": n, "first": first,
            "sum": (first + c) * n // 2, "closed": n == WINDOW}
    return want


def check_outputs(msgs, want, topic, exactly_once):
    """Every output is the one expected for its source record (by lineage),
    with the user as Kafka key; every expected one is there. Exactly once
    and in source order per (output partition, source partition) when
    exactly_once. Returns the number of duplicates."""
    seen = {}
    order = {}
    for m in msgs:
        t, sp, off, seq = lineage(m)
        where = "output %d@%d (from %s[%d]@%d)" % (m.partition, m.offset, t,
                                                   sp, off)
        check(t == topic and seq == 0 and (sp, off) in want,
              "%s matches no expected output: %r" % (where, m.value))
        got = json.loads(m.value)
        check(got == want[(sp, off)], "%s: value %r, expected %r"
              % (where, got, want[(sp, off)]))
        check(m.key == got["key"].encode(), "%s: Kafka key %r, expected %r"
              % (where, m.key, got["key"]))
        seen[(sp, off)] = seen.get((sp, off), 0) + 1
        if exactly_once:
            k = (m.partition, sp)
            check(off > order.get(k, -1), "%s comes after offset %d of "
                  "the same source partition (order broken)"
                  % (where, order.get(k, -1)))
            order[k] = off
    lost = sorted(set(want) - set(seen))
    check(not lost, "%d expected outputs are missing, e.g. %s"
          % (len(lost), lost[:5]))
    dups = sum(n - 1 for n in seen.values())
    check(not exactly_once or dups == 0, "%d duplicates, e.g. %s" % (
        dups, [k for k, n in seen.items() if n > 1][:5]))
    return dups


def deletions(want, lo, hi):
    """Users whose window closed with their last record in the interval
    between the source offsets lo and hi ({partition: offset}, as a
    checkpoint records them): the delta of that interval holds their
    tombstones."""
    last = {}
    for (p, off), v in sorted(want.items(), key=lambda kv: kv[0][1]):
        if lo.get(p, 0) <= off < hi.get(p, 0):
            last[v["key"]] = v["closed"]
    return sorted(u for u, closed in last.items() if closed)
