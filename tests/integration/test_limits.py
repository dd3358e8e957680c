"""The edges of what a job file may say.

Numbers: `weir validate` refuses values past each field's range (they used
to pass and then overflow in `weir run`: INT64_MAX intervals and timeouts,
INT_MAX generator partitions), naming the path and the range. A job at
every largest accepted value runs, makes progress and stops on SIGTERM
with exit 0; under the ASan+UBSan build a signed overflow would stop it
(halt_on_error) and print "runtime error".
"""

import re

from weirtest import Harness, check, check_eq, main, note

I64 = 9223372036854775807


def validate_refuses(h, name, job, expect):
    """`weir validate` exits 2 with a line `FILE: path: message` matching
    each (path, regex) in expect."""
    path = h.write_job(name + ".json", job)
    r = h.weir("validate", path)
    check_eq(r.rc, 2, "validate %s: exit code; stderr:\n%s" % (name, r.err))
    lines = r.err.splitlines()
    for jpath, rx in expect:
        prefix = "%s: %s: " % (path, jpath)
        hit = [l[len(prefix):] for l in lines if l.startswith(prefix)]
        check(any(re.search(rx, l) for l in hit),
              "validate %s: no line %s/%s/; stderr:\n%s"
              % (name, prefix, rx, r.err))
    return len(expect)


def numbers_past_range(h):
    job = {"name": "too-big",
           "checkpoint": {"dir": h.path("ck-big"), "interval_ms": I64,
                          "timeout_ms": I64, "min_pause_ms": I64,
                          "retain": 2147483647,
                          "tolerable_failures": 2147483647},
           "source": {"type": "generator", "partitions": 2147483647,
                      "rate": I64, "count": I64},
           "sink": {"type": "discard"},
           "progress_interval_ms": I64}
    rng = r"out of range; expected an integer from %s to %s, got %s"
    n = validate_refuses(h, "too-big", job, [
        ("checkpoint.interval_ms", rng % (0, 86400000, I64)),
        ("checkpoint.timeout_ms", rng % (1, 86400000, I64)),
        ("checkpoint.min_pause_ms", rng % (0, 86400000, I64)),
        ("checkpoint.retain", rng % (1, 10000, 2147483647)),
        ("checkpoint.tolerable_failures", rng % (0, 10000, 2147483647)),
        ("source.partitions", rng % (1, 10000, 2147483647)),
        ("source.rate", rng % (0, 1000000000, I64)),
        ("source.count", rng % (0, 1000000000000000, I64)),
        ("progress_interval_ms", rng % (0, 86400000, I64)),
    ])
    note("validate: %d numbers past their range refused" % n)
    return n


def largest_values_run(h):
    job = {"name": "largest",
           "checkpoint": {"dir": h.path("ck-max"), "interval_ms": 86400000,
                          "timeout_ms": 86400000, "min_pause_ms": 86400000,
                          "retain": 10000, "tolerable_failures": 10000},
           "source": {"type": "generator", "partitions": 10000,
                      "rate": 1000000000, "count": 1000000000000000,
                      "parallelism": 2},
           "operators": [{"type": "filter", "parallelism": 2,
                          "where": {"field": "level", "op": "eq",
                                    "value": "ERROR"}}],
           "sink": {"type": "discard"},
           "progress_interval_ms": 100}
    path = h.write_job("largest.json", job)
    r = h.weir("validate", path)
    check_eq(r.rc, 0, "validate largest.json; stderr:\n%s" % r.err)
    w = h.weir_run(path)
    m = w.wait_for_log(r"job: progress: source (\d+) read")
    w.wait_for_log(r"job: progress: source (\d+) read", start=m.end())
    rc = w.stop()
    log = w.log()
    check_eq(rc, 0, "the largest values: exit code after SIGTERM; log:\n%s"
             % log[-3000:])
    check("runtime error" not in log,
          "the largest values: a sanitizer report; log:\n%s" % log[-3000:])
    reads = [int(x) for x in re.findall(r"progress: source (\d+) read", log)]
    note("largest values: ran, %d records read, stopped with exit 0"
         % max(reads))
    return max(reads)


def test():
    with Harness("limits") as h:
        n = numbers_past_range(h)
        reads = largest_values_run(h)
    return ("%d numbers past range refused by validate; the largest values "
            "ran (%d records) and stopped cleanly" % (n, reads))


if __name__ == "__main__":
    main(test)
