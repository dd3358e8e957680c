#!/usr/bin/env python3
"""The sample example plugin (raw snapshot/restore, state versions).

1. SIGKILL: examples/plugins/sample.json (every 10th record, 2 instances,
   exactly-once) runs while input arrives on 2 partitions; it is killed
   after a few checkpoints and restarted. Instance i reads partition i
   in order, so the output must be exactly the records at offsets 9, 19,
   29, ... of each partition, once each: the counters restored by the
   plugin's restore() put the sampling back in step.
2. An older state version: the plugin built with -DSTATE_VERSION=1 runs
   on the first half of the input and stops gracefully; the build with
   version 2 restores that checkpoint (its restore logs that it read
   version 1 and the counters it derived) and processes the second half.
   The output of both runs is exactly every 10th record of each
   partition, and the close log's counters are exact.
3. A newer state version: the version 1 build on the version 2
   checkpoint refuses to start (exit 1, the message names both
   versions); the checkpoint is untouched and the version 2 build
   restores it.
"""
import random
import re
import time

from plugintest import example_job, plugin
from weirtest import (BackgroundProducer, Harness, check, check_eq,
                      consume_all, lineage, log_records, main, parse_restore,
                      produce, wait_caught_up)

PARTS = 2
EVERY = 10  # as in examples/plugins/sample.json


def expected(recs):
    """{(partition, offset): value} of every EVERY-th record per
    partition."""
    out = {}
    for r in recs:
        if (r["offset"] + 1) % EVERY == 0:
            out[(r["partition"], r["offset"])] = r["value"]
    return out


def check_output(h, topic, recs, what):
    want = expected(recs)
    got = {}
    for m in consume_all(h.brokers, topic):
        _, p, o, _ = lineage(m)
        check((p, o) not in got, "%s: record logs[%d]@%d is in the output "
              "twice" % (what, p, o))
        got[(p, o)] = m.value
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    check(not missing and not extra,
          "%s: output is not every %dth record per partition: %d missing "
          "(first %r), %d unexpected (first %r)"
          % (what, EVERY, len(missing), missing[:3], len(extra), extra[:3]))
    bad = [k for k in want if got[k] != want[k]]
    check(not bad, "%s: values differ from the input at %r" % (what, bad[:3]))
    return len(want)


def job_for(h, name, ckdir, src, dst, library=None, delivery="exactly-once",
            group=None):
    job = example_job("sample",
                      checkpoint={"dir": ckdir, "interval_ms": 150},
                      source={"topic": src, "group_id": group or name,
                              "properties": {"fetch.wait.max.ms": "20"}},
                      sink={"topic": dst, "delivery": delivery})
    check_eq(job["operators"][0]["every"], EVERY,
             "every of examples/plugins/sample.json")
    if library:
        job["operators"][0]["library"] = library
    return h.write_job(name + ".json", job)


def sigkill(h):
    lib = plugin(h, "SAMPLE_PLUGIN")
    env = {"WEIR_PLUGINS": h.dir}
    check(lib == h.path("libsample.so"), "plugin copy at %s" % lib)
    job = job_for(h, "kill", h.path("ck-kill"), "logs", "sampled")
    recs = log_records(20000, seed=31, partitions=PARTS)
    prod = BackgroundProducer(h.brokers, "logs", recs, seconds=4)
    prod.start()
    w = h.weir_run(job, extra_env=env)
    w.wait_for_log(r"checkpoint 4 complete", timeout=60)
    time.sleep(random.uniform(0, 0.2))
    w.kill()
    w = h.weir_run(job, extra_env=env)
    cid, offs = parse_restore(w)
    check(cid >= 4, "the restart restored checkpoint %d, expected >= 4"
          % cid)
    for i in range(PARTS):
        w.wait_for_log(r"sample#%d: restored state version 2: seen %d, "
                       r"sampled %d$" % (i, offs["logs"][i],
                                         offs["logs"][i] // EVERY))
    prod.finish()
    wait_caught_up(h.brokers, "logs", "kill", proc=w)
    check_eq(w.stop(), 0, "exit code of the graceful stop")
    n = check_output(h, "sampled", recs, "after SIGKILL")
    return "SIGKILL after checkpoint 4, restored %d: %d of %d records " \
           "sampled exactly" % (cid, n, len(recs))


def versions(h):
    v1 = plugin(h, "SAMPLE_V1_PLUGIN")
    v2 = plugin(h, "SAMPLE_V2_PLUGIN")
    ck = h.path("ck-versions")
    job1 = job_for(h, "v1", ck, "logs2", "sampled2", library=v1,
                   delivery="at-least-once", group="versions")
    job2 = job_for(h, "v2", ck, "logs2", "sampled2", library=v2,
                   delivery="at-least-once", group="versions")
    recs = log_records(6000, seed=32, partitions=PARTS)
    first, second = recs[:2500], recs[2500:]

    produce(h.brokers, "logs2", first)
    w = h.weir_run(job1)
    wait_caught_up(h.brokers, "logs2", "versions", proc=w)
    check_eq(w.stop(), 0, "exit code of the version 1 run")
    seen1 = {p: sum(1 for r in first if r["partition"] == p)
             for p in range(PARTS)}

    produce(h.brokers, "logs2", second)
    w = h.weir_run(job2)
    cid, offs = parse_restore(w)
    check(cid > 0, "the version 2 build restored nothing")
    for p in range(PARTS):
        check_eq(offs["logs2"][p], seen1[p], "restored offset of logs2[%d]"
                 % p)
        w.wait_for_log(r"sample#%d: restored state version 1: seen %d, "
                       r"sampled %d$" % (p, seen1[p], seen1[p] // EVERY))
    wait_caught_up(h.brokers, "logs2", "versions", proc=w)
    check_eq(w.stop(), 0, "exit code of the version 2 run")
    for p in range(PARTS):
        seen = sum(1 for r in recs if r["partition"] == p)
        check(re.search(r"sample#%d: closing: seen %d, sampled %d \(every "
                        r"%d\)$" % (p, seen, seen // EVERY, EVERY),
                        w.log(), re.M),
              "the version 2 run did not close instance %d with seen %d, "
              "sampled %d; log:\n%s" % (p, seen, seen // EVERY,
                                        w.log()[-2000:]))
    n = check_output(h, "sampled2", recs, "across the version 1 and 2 runs")
    m = re.findall(r"checkpoint (\d+) complete .*\(final\)$", w.log(), re.M)
    check(m, "no final checkpoint in the version 2 run's log")
    final = int(m[-1])

    # The version 1 build cannot read version 2.
    r = h.weir("run", job1)
    check_eq(r.rc, 1, "exit code of the version 1 build on a version 2 "
             "checkpoint; stderr:\n%s" % r.err)
    check(re.search(r"operators\[0\] sample#\d: restore failed \(state "
                    r"version 2\): the checkpoint holds sample state "
                    r"version 2, this build of sample reads versions 1 to "
                    r"1; run a newer build", r.err),
          "the refusal does not name both versions:\n%s" % r.err)
    check("Sanitizer" not in r.err, "sanitizer report:\n%s" % r.err)
    w = h.weir_run(job2)
    cid, _ = parse_restore(w)
    check_eq(cid, final, "checkpoint restored by version 2 after the "
             "refused version 1 run")
    check_eq(w.stop(), 0, "exit code")
    return ("state version 1 -> 2: restore saw version 1 and derived the "
            "counters, %d of %d records sampled exactly over both runs; "
            "version 1 refuses version 2 state (exit 1), which stays "
            "intact" % (n, len(recs)))


def test():
    with Harness("plugin-sample") as h:
        h.broker({"logs": PARTS, "sampled": 4, "logs2": PARTS,
                  "sampled2": 4})
        return "; ".join([sigkill(h), versions(h)])


if __name__ == "__main__":
    main(test)
