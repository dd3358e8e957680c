#!/usr/bin/env python3
"""How weir reports a plugin that is wrong or fails.

1. API version mismatch: a plugin whose table says WEIR_API_VERSION + 1
   (tests/plugins/abi_mismatch.c). `weir validate` and `weir run` exit 2
   with one message naming the operator's JSON path, the library, and
   both versions; nothing of the plugin but its entry point runs.
2. Failure in open: the failing plugin with "fail_open" at
   operators[1]. validate and run exit 2 with the plugin's message
   prefixed by the operator's JSON path, as for a built-in's config
   error.
3. Failure in process: the failing plugin with "fail_on": "poison" in an
   exactly-once job. After a first part of the input is caught up (a
   checkpoint covers it), a poison record arrives: the job stops, exit 1,
   the message names the operator and the record. `weir checkpoints`
   shows the last checkpoint it completed, intact. Restarted with the
   fixed config (no fail_on), the job restores exactly that checkpoint
   and writes the rest: every input record is in the output exactly once.
4. Operator swapped: a checkpoint holding the sample plugin's raw state
   for operators[0] is not restored by a job with another plugin there
   (whose state would silently be lost): exit 1, naming the state file.
"""
import json
import os
import re

from plugintest import api_version, plugin
from weirtest import (ERROR_FILTER, Harness, check, check_eq, consume_all,
                      end_offsets, kafka_job, lineage, list_checkpoints,
                      log_records, main, parse_restore, produce,
                      wait_caught_up)


def no_crash(r, what):
    for bad in ("Sanitizer", "Segmentation", "Aborted", "core dumped"):
        check(bad not in r.err, "%s: %r in stderr:\n%s" % (what, bad, r.err))


def abi_mismatch(h):
    lib = plugin(h, "ABI_MISMATCH_PLUGIN")
    v = api_version()
    job = h.write_job("abi.json", kafka_job(
        "abi", h.path("ck-abi"), "logs", "out",
        [{"type": "plugin", "library": lib}]))
    want = ('%s: operators[0].library: "%s" was built for weir operator '
            'API version %d, this weir has version %d (it loads versions 1 '
            'to %d); run it with a weir of that version, or rebuild the '
            'plugin against this weir\'s weir.h' % (job, lib, v + 1, v, v))
    for cmd in ("validate", "run"):
        r = h.weir(cmd, job)
        no_crash(r, "weir %s" % cmd)
        check_eq(r.rc, 2, "exit code of `weir %s` with a plugin of API "
                 "version %d; stderr:\n%s" % (cmd, v + 1, r.err))
        check(want in r.err.splitlines(), "`weir %s` does not say\n  %s\n"
              "stderr:\n%s" % (cmd, want, r.err))
        check("process of a refused plugin" not in r.err,
              "weir called the refused plugin")
    check(not os.path.exists(h.path("ck-abi")),
          "weir run created the checkpoint directory of a refused job")
    return "API version %d plugin refused by validate and run (exit 2)" \
        % (v + 1)


def open_failure(h):
    lib = plugin(h, "FAILING_PLUGIN")
    job = h.write_job("open.json", kafka_job(
        "open", h.path("ck-open"), "logs", "out",
        [ERROR_FILTER, {"type": "plugin", "library": lib,
                        "fail_open": "no credentials"}]))
    want = ("%s: operators[1].fail_open: asked to fail in open: no "
            "credentials" % job)
    for cmd in ("validate", "run"):
        r = h.weir(cmd, job)
        no_crash(r, "weir %s" % cmd)
        check_eq(r.rc, 2, "exit code of `weir %s` when open fails; "
                 "stderr:\n%s" % (cmd, r.err))
        check(want in r.err.splitlines(), "`weir %s` does not say\n  %s\n"
              "stderr:\n%s" % (cmd, want, r.err))
    return "open failure reported as operators[1].fail_open (exit 2)"


def validating(h):
    """open knows whether it only checks the configuration: weir validate
    calls it once (validating), weir run once validating and then once per
    running instance, and a failure only a running instance has shows in
    run alone, as a failed job (exit 1), not a bad job file (exit 2)."""
    lib = plugin(h, "FAILING_PLUGIN")
    job = h.write_job("validating.json", kafka_job(
        "validating", h.path("ck-validating"), "logs", "out",
        [{"type": "plugin", "library": lib, "parallelism": 2,
          "fail_running": "no such host"}]))
    r = h.weir("validate", job)
    no_crash(r, "weir validate")
    check_eq(r.rc, 0, "`weir validate` exit code; stderr:\n%s" % r.err)
    opens = re.findall(r"open: (\w+), task (\d) of (\d)", r.err)
    check_eq(opens, [("validating", "0", "2")],
             "opens of `weir validate`")
    r = h.weir("run", job)
    no_crash(r, "weir run")
    check_eq(r.rc, 1, "`weir run` exit code when only a running "
             "instance's open fails (the job failed; its file is fine); "
             "stderr:\n%s" % r.err)
    opens = re.findall(r"open: (\w+), task (\d) of (\d)", r.err)
    check_eq(opens, [("validating", "0", "2"), ("running", "0", "2")],
             "opens of `weir run` (the first running one fails)")
    check("operators[0].fail_running: asked to fail when running: no such "
          "host" in r.err, "`weir run` does not name the failure; "
          "stderr:\n%s" % r.err)
    return "open validating once, then running per instance"


def process_failure(h):
    lib = plugin(h, "FAILING_PLUGIN")
    ck = h.path("ck-process")

    def job(fail_on):
        op = {"type": "plugin", "library": lib}
        if fail_on:
            op["fail_on"] = fail_on
        return h.write_job("process.json", kafka_job(
            "process", ck, "logs", "out", [op],
            source={"group_id": "process"},
            sink={"delivery": "exactly-once"},
            checkpoint={"interval_ms": 150}))

    part1 = log_records(3000, seed=41, partitions=4)
    poison = {"partition": 2, "key": None, "headers": [], "obj": None,
              "value": b'{"level":"ERROR","msg":"poison"}'}
    part2 = log_records(3000, seed=42, partitions=4, first_seq=3000)
    produce(h.brokers, "logs", part1)
    w = h.weir_run(job("poison"))
    wait_caught_up(h.brokers, "logs", "process", proc=w)
    produce(h.brokers, "logs", [poison] + part2)
    rc = w.wait()
    check_eq(rc, 1, "exit code after the plugin failed in process; log:\n%s"
             % w.log()[-2000:])
    log = w.log()
    no_crash(type("R", (), {"err": log})(), "weir run")
    want = ('weir: job process failed: operators[0] failing#0: record '
            'logs[2]@%d contains "poison": failing as asked (fail_on)'
            % poison["offset"])
    check(want in log.splitlines(), "the failure does not say\n  %s\n"
          "log:\n%s" % (want, log[-2000:]))
    done = [int(x) for x in re.findall(r"checkpoint (\d+) complete", log)]
    check(done, "no checkpoint completed before the failure")
    rows = list_checkpoints(h, ck)
    check(rows and rows[0].id == max(done) and rows[0].status == "complete",
          "`weir checkpoints` after the failure: newest is %r, expected "
          "checkpoint %d complete" % (rows[:1], max(done)))
    p1_ends = {}
    for r in part1:
        p1_ends[r["partition"]] = max(p1_ends.get(r["partition"], 0),
                                      r["offset"] + 1)
    for (t, p), off in rows[0].offsets.items():
        check(off >= p1_ends.get(p, 0) and
              (p != 2 or off <= poison["offset"]),
              "checkpoint %d has logs[%d]=%d: not after the first part "
              "(%d) or past the poison record (%d)"
              % (rows[0].id, p, off, p1_ends.get(p, 0), poison["offset"]))

    w = h.weir_run(job(None))
    cid, offs = parse_restore(w)
    check_eq(cid, rows[0].id, "checkpoint restored after the failure")
    check_eq({("logs", p): o for p, o in offs["logs"].items()},
             rows[0].offsets, "offsets restored")
    wait_caught_up(h.brokers, "logs", "process", proc=w)
    check_eq(w.stop(), 0, "exit code of the fixed job's graceful stop")
    inputs = {(r["partition"], r["offset"]) for r in part1 + part2}
    inputs.add((2, poison["offset"]))
    check_eq(sum(end_offsets(h.brokers, "logs").values()), len(inputs),
             "records in logs")
    seen = {}
    for m in consume_all(h.brokers, "out"):
        k = lineage(m)[1:3]
        seen[k] = seen.get(k, 0) + 1
    check_eq(set(seen), inputs, "records in the output")
    twice = [k for k, n in seen.items() if n > 1]
    check(not twice, "%d records in the output more than once, e.g. %r"
          % (len(twice), twice[:3]))
    return ("process failure: exit 1 naming operators[0] failing#0 and "
            "logs[2]@%d; checkpoint %d intact and restored by the fixed "
            "job; %d records out exactly once" % (poison["offset"], cid,
                                                  len(inputs)))


def swapped_operator(h, keyed):
    """keyed: the stage restores key groups from every file of its stage,
    so a swapped keyed operator must be refused as well."""
    ck = h.path("ck-swap-keyed" if keyed else "ck-swap")
    key = {"key": "service"} if keyed else {}

    def job(lib, extra):
        op = {"type": "plugin", "library": lib}
        op.update(extra)
        op.update(key)
        return h.write_job("swap.json", kafka_job(
            "swap", ck, "logs", "out", [op], source={"bounded": True}))

    w = h.weir_run(job(plugin(h, "SAMPLE_PLUGIN"), {"every": 10}))
    check_eq(w.wait(), 0, "exit code of the bounded sample job; log:\n%s"
             % w.log()[-2000:])
    r = h.weir("run", job(plugin(h, "FAILING_PLUGIN"), {}))
    no_crash(r, "weir run")
    check_eq(r.rc, 1, "exit code of a job whose operator changed; "
             "stderr:\n%s" % r.err)
    check("holds state op0-sample-0 for operators[0]" in r.err,
          "the refusal does not name the state file; stderr:\n%s" % r.err)
    check("the operator changed" in r.err, "stderr:\n%s" % r.err)
    return ("swapped %s operator refused (exit 1), its checkpoint kept"
            % ("keyed" if keyed else "unkeyed"))


def version_1(h):
    """A plugin built against the version-1 weir.h alone (tests/plugins/
    v1_tally.c) runs unchanged: every record of logs comes out once,
    upper-cased, and per service the counts its keyed state kept are
    exactly 1..N."""
    lib = plugin(h, "V1_TALLY_PLUGIN")
    job = h.write_job("v1.json", kafka_job(
        "v1", h.path("ck-v1"), "logs", "v1out",
        [{"type": "plugin", "library": lib, "key": "service",
          "parallelism": 2}], source={"bounded": True}))
    w = h.weir_run(job)
    check_eq(w.wait(), 0, "exit code of the bounded job of a version-1 "
             "plugin; log:\n%s" % w.log()[-2000:])
    inputs = consume_all(h.brokers, "logs")
    want_values, want_n = {}, {}
    for m in inputs:
        v = m.value.upper()
        want_values[v] = want_values.get(v, 0) + 1
        svc = json.loads(m.value).get("service") if m.value.startswith(
            b"{") else None
        svc = svc.upper() if svc else None
        want_n[svc] = want_n.get(svc, 0) + 1
    got_values, got_n = {}, {}
    for m in consume_all(h.brokers, "v1out"):
        n, _, v = m.value.partition(b" ")
        got_values[v] = got_values.get(v, 0) + 1
        svc = json.loads(v).get("SERVICE") if v.startswith(b"{") else None
        got_n.setdefault(svc, []).append(int(n))
    check_eq(got_values, want_values, "upper-cased values out of the "
             "version-1 plugin")
    for svc, n in want_n.items():
        check_eq(sorted(got_n.get(svc, [])), list(range(1, n + 1)),
                 "counts of %r out of the version-1 plugin" % svc)
    return ("version-1 plugin ran: %d records, counts of %d keys exact"
            % (len(inputs), len(want_n)))


def test():
    with Harness("plugin-errors") as h:
        h.broker({"logs": 4, "out": 4, "v1out": 2})
        return "; ".join([abi_mismatch(h), open_failure(h), validating(h),
                          process_failure(h), swapped_operator(h, False),
                          swapped_operator(h, True), version_1(h)])


if __name__ == "__main__":
    main(test)
