"""The edges of what a job file may say.

Numbers: `weir validate` refuses values past each field's range (they used
to pass and then overflow in `weir run`: INT64_MAX intervals and timeouts,
INT_MAX generator partitions), naming the path and the range. A job at
every largest accepted value runs, makes progress and stops on SIGTERM
with exit 0; under the ASan+UBSan build a signed overflow would stop it
(halt_on_error) and print "runtime error".

Plugin names: the operator name in a plugin's table names its state files
(`op0-NAME-0`), so `weir validate` and `weir run` refuse one that is
empty, longer than 40 characters (task names were cut at 63 bytes, and
instances lost the suffix that kept their files apart) or holds anything
but A-Z a-z 0-9 . _ -, naming the library and the rule. A 40-character
name runs with its instances' state files apart.
"""

import os
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


def plugin_names(h):
    lib = os.environ["NAMED_PLUGIN"]
    job = h.write_job("named.json", {
        "name": "named",
        "checkpoint": {"dir": h.path("ck-named")},
        "source": {"type": "generator", "count": 100},
        "operators": [{"type": "plugin", "library": lib,
                       "parallelism": 2}],
        "sink": {"type": "discard"}})
    bad = ["n" * 41, "n" * 70, "my op", "a/b", "../x", "", "tab\there",
           "caf\u00e9"]
    for name in bad:
        shown = name if len(name) <= 60 else name[:60] + "..."
        want = ('%s: operators[0].library: "%s" names its operator "%s"; '
                'an operator name is 1 to 40 characters from A-Z a-z 0-9 '
                '. _ - (its state files are named after it); rename it in '
                'the plugin\'s weir_operator_t' % (job, lib, shown))
        for cmd in ("validate", "run"):
            r = h.weir(cmd, job, extra_env={"WEIR_TEST_OP_NAME": name})
            check_eq(r.rc, 2, "`weir %s` with operator name %r: exit code; "
                     "stderr:\n%s" % (cmd, name, r.err))
            check(want in r.err.splitlines(), "`weir %s` with operator "
                  "name %r does not say\n  %s\nstderr:\n%s"
                  % (cmd, name, want, r.err))
    check(not os.path.exists(h.path("ck-named")),
          "weir run made the checkpoint directory of a refused job")
    good = "N" * 38 + ".-"
    r = h.weir("run", job, extra_env={"WEIR_TEST_OP_NAME": good})
    check_eq(r.rc, 0, "run with a 40-character operator name; stderr:\n%s"
             % r.err)
    files = set()
    for _, _, names in os.walk(h.path("ck-named")):
        files.update(names)
    for i in (0, 1):
        check(any(f.startswith("op0-%s-%d" % (good, i)) for f in files),
              "no state file op0-%s-%d in the checkpoint: %s"
              % (good, i, sorted(files)))
    note("plugin names: %d bad ones refused by validate and run; a "
         "40-character one keeps its instances' files apart" % len(bad))
    return len(bad)


def test():
    with Harness("limits") as h:
        n = numbers_past_range(h)
        reads = largest_values_run(h)
        names = plugin_names(h)
    return ("%d numbers past range refused by validate; the largest values "
            "ran (%d records) and stopped cleanly; %d bad plugin names "
            "refused" % (n, reads, names))


if __name__ == "__main__":
    main(test)
