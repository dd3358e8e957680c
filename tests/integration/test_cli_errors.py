"""The command line's error paths and exit codes (0 ok, 1 job/command
failed, 2 bad command line or job file).

Checks: `weir validate` on bad job files (unknown operator type, bad where
op, wrong types, missing required fields, unknown fields, several problems
at once) exits 2 and prints each problem as `FILE: <json.path>: <message>`;
a good file exits 0; `weir run` on a bad file exits 2; no command or an
unknown one exits 2; `weir broker` with bad arguments exits 2, and
without weir-broker beside weir exits 1 naming it; `weir checkpoints
/nonexistent` exits 1 with a message; a job whose broker port is closed fails (non-zero) with a message
naming the address and "cannot reach"; a second `weir run` on a checkpoint
directory held by a running job exits 1 at once naming the holder's pid; a
job restored with a changed graph is refused (exit 1, "different job
graph").

Every case runs even when an earlier one fails; all failures are reported.
"""

import copy
import os
import re
import shutil
import signal
import subprocess

from weirtest import (Harness, TestFailure, check, check_eq, free_port,
                      main, note)


def base_job(ck):
    return {
        "name": "cli-job",
        "checkpoint": {"dir": ck, "interval_ms": 200},
        "source": {"type": "kafka", "brokers": "127.0.0.1:9092",
                   "topic": "logs", "parallelism": 2},
        "operators": [
            {"type": "filter",
             "where": {"field": "level", "op": "eq", "value": "ERROR"}},
            {"type": "count", "key": "service"}],
        "sink": {"type": "kafka", "brokers": "127.0.0.1:9092",
                 "topic": "out", "partitioner": "key"},
    }


def generator_job(ck, parallelism=1, count=2000, rate=0):
    src = {"type": "generator", "count": count, "partitions": 2,
           "parallelism": parallelism}
    if rate:
        src["rate"] = rate
    return {"name": "cli-gen", "checkpoint": {"dir": ck, "interval_ms": 100},
            "source": src, "operators": [], "sink": {"type": "discard"}}


def mutate(job, fn):
    j = copy.deepcopy(job)
    fn(j)
    return j


# (name, mutation, [(json path, regex the message must match)])
BAD_FILES = [
    ("unknown operator type",
     lambda j: j["operators"][0].update(type="flter"),
     [("operators[0].type", r'unknown operator type "flter"')]),
    ("bad where op",
     lambda j: j["operators"][0]["where"].update(op="bogus"),
     [("operators[0].where.op", r'unknown operator "bogus"')]),
    ("wrong types",
     lambda j: (j["checkpoint"].update(interval_ms="200"),
                j["source"].update(parallelism="two"),
                j["source"].update(bounded="yes")),
     [("checkpoint.interval_ms", r"integer.*string"),
      ("source.parallelism", r"integer.*string"),
      ("source.bounded", r"true or false")]),
    ("missing required",
     lambda j: (j.pop("sink"), j["source"].pop("topic"),
                j["checkpoint"].pop("dir")),
     [("sink", r"required"), ("source.topic", r"required"),
      ("checkpoint.dir", r"required")]),
    ("unknown fields",
     lambda j: (j.update(extra=1), j["sink"].update(tpoic="out")),
     [("extra", r"unknown field"), ("sink.tpoic", r"unknown field")]),
    ("count without key",
     lambda j: j["operators"][1].pop("key"),
     [("operators[1].key", r"required")]),
    # "prints every problem": a structural problem and an operator's own
    # configuration problem in one file must both be reported.
    ("problems of both kinds at once",
     lambda j: (j["sink"].update(tpoic="out"),
                j["operators"][0]["where"].update(op="bogus")),
     [("sink.tpoic", r"unknown field"),
      ("operators[0].where.op", r'unknown operator "bogus"')]),
]


def check_validate(h, name, job, expect):
    path = h.write_job("bad-%s.json" % re.sub(r"\W+", "-", name), job)
    r = h.weir("validate", path)
    check_eq(r.rc, 2, "validate (%s): exit code; stderr:\n%s"
             % (name, r.err))
    lines = r.err.splitlines()
    for jpath, rx in expect:
        prefix = "%s: %s: " % (path, jpath)
        hit = [l for l in lines if l.startswith(prefix)]
        check(hit, "validate (%s): no line starting with %r; stderr:\n%s"
              % (name, prefix, r.err))
        check(any(re.search(rx, l[len(prefix):]) for l in hit),
              "validate (%s): the message for %s does not match /%s/: %r"
              % (name, jpath, rx, hit))
    r = h.weir("run", path)
    check_eq(r.rc, 2, "run (%s): exit code on a bad job file; stderr:\n%s"
             % (name, r.err))


def test():
    failures = []
    done = []

    def case(name, fn):
        try:
            fn()
            done.append(name)
        except TestFailure as e:
            note("FAILED: %s: %s" % (name, e))
            failures.append("%s: %s" % (name, e))

    with Harness("cli") as h:
        good = base_job(h.path("ck-good"))

        for name, fn, expect in BAD_FILES:
            case("validate: " + name,
                 lambda: check_validate(h, name, mutate(good, fn), expect))

        def validate_good():
            path = h.write_job("good.json", good)
            r = h.weir("validate", path)
            check_eq(r.rc, 0, "validate of a good file: exit code; stderr:"
                     "\n%s" % r.err)
            check(r.err.strip() == "", "validate of a good file printed "
                  "problems: %r" % r.err)
        case("validate: good file", validate_good)

        def command_line():
            for args in ([], ["bogus"], ["validate"], ["run"],
                         ["run", "a.json", "b.json"], ["checkpoints"]):
                r = h.weir(*args)
                check_eq(r.rc, 2, "`weir %s`: exit code" % " ".join(args))
                check(r.err.strip(), "`weir %s` printed nothing on stderr"
                      % " ".join(args))
        case("bad command lines", command_line)

        def unreadable_files():
            notjson = h.path("not-json.json")
            with open(notjson, "w") as f:
                f.write('{"name": "x", ')
            for path, rx in ((notjson, r"not-json\.json.*:1:"),
                             (h.path("missing.json"),
                              r"missing\.json.*No such file")):
                for cmd in ("validate", "run"):
                    r = h.weir(cmd, path)
                    check_eq(r.rc, 2, "`weir %s %s`: exit code"
                             % (cmd, path))
                    check(re.search(rx, r.err), "`weir %s %s`: message does "
                          "not match /%s/: %r" % (cmd, path, rx, r.err))
            for args in (["--topic", "logs"], ["--topic", "logs:0"],
                         ["--bogus"]):
                r = h.weir("broker", *args)
                check_eq(r.rc, 2, "`weir broker %s`: exit code"
                         % " ".join(args))
        case("unreadable job files, bad broker arguments", unreadable_files)

        def broker_missing():
            # `weir broker` runs weir-broker from beside weir; a weir
            # alone says what is missing instead of failing obscurely.
            alone = h.path("alone")
            os.mkdir(alone)
            weir = shutil.copy2(h.weir_bin, os.path.join(alone, "weir"))
            cp = subprocess.run([weir, "broker"], capture_output=True,
                                text=True, timeout=30)
            check_eq(cp.returncode, 1, "`weir broker` without weir-broker: "
                     "exit code")
            check(os.path.join(alone, "weir-broker") + " is missing"
                  in cp.stderr, "`weir broker` without weir-broker does "
                  "not name it: %r" % cp.stderr)
        case("weir broker without weir-broker", broker_missing)

        def no_dir():
            r = h.weir("checkpoints", "/nonexistent/weir-ck")
            check_eq(r.rc, 1, "`weir checkpoints /nonexistent/weir-ck`: "
                     "exit code")
            check("/nonexistent/weir-ck" in r.err,
                  "the message does not name the directory: %r" % r.err)
        case("checkpoints on a missing directory", no_dir)

        def closed_port():
            port = free_port()
            job = mutate(good, lambda j: (
                j["source"].update(brokers="127.0.0.1:%d" % port),
                j["sink"].update(brokers="127.0.0.1:%d" % port),
                j["checkpoint"].update(dir=h.path("ck-closed"))))
            path = h.write_job("closed-port.json", job)
            r = h.weir("run", path, timeout=45)
            check(r.rc != 0, "run against a closed port exited 0")
            check(re.search(r"cannot reach.*127\.0\.0\.1:%d|127\.0\.0\.1:%d"
                            r".*cannot reach" % (port, port), r.err),
                  "the message does not say it cannot reach 127.0.0.1:%d; "
                  "stderr:\n%s" % (port, r.err[-2000:]))
        case("broker port closed", closed_port)

        def dir_in_use():
            ck = h.path("ck-lock")
            path = h.write_job("lock.json", generator_job(
                ck, count=10**9, rate=200))
            first = h.weir_run(path)
            first.wait_for_log(r"checkpoint \d+ complete")
            r = h.weir("run", path, timeout=20)
            check_eq(r.rc, 1, "second run on a held directory: exit code; "
                     "stderr:\n%s" % r.err)
            check(re.search(r"in use by another weir process \(pid %d\)"
                            % first.pid, r.err),
                  "the message does not say the directory is in use by pid "
                  "%d: %r" % (first.pid, r.err))
            check(first.running(), "the first job stopped")
            rc = first.stop()
            check_eq(rc, 0, "first job, SIGTERM: exit code")
        case("checkpoint directory in use", dir_in_use)

        def changed_graph():
            ck = h.path("ck-graph")
            p1 = h.write_job("graph1.json", generator_job(ck, parallelism=1))
            w = h.weir_run(p1)
            check_eq(w.wait(), 0, "bounded generator job: exit code")
            p2 = h.write_job("graph2.json", generator_job(ck, parallelism=2))
            r = h.weir("run", p2)
            check_eq(r.rc, 1, "restore with another source parallelism: "
                     "exit code; stderr:\n%s" % r.err)
            check("different job graph" in r.err,
                  "the message does not mention a different job graph: %r"
                  % r.err[-2000:])
            check("source=generator x1" in r.err and
                  "source=generator x2" in r.err,
                  "the message does not show both graphs: %r"
                  % r.err[-2000:])
            # The same graph still restores.
            w = h.weir_run(p1)
            check_eq(w.wait(), 0, "the original job again: exit code")
            check(re.search(r"restored checkpoint \d+", w.log()),
                  "the original job did not restore its checkpoint")
        case("changed job graph", changed_graph)

    if failures:
        raise TestFailure("%d of %d cases failed:\n  %s" % (
            len(failures), len(failures) + len(done),
            "\n  ".join(failures)))
    return "%d cases: %s" % (len(done), "; ".join(done))


if __name__ == "__main__":
    main(test)
