#!/usr/bin/env python3
"""The sessions example plugin (managed keyed state) survives SIGKILL.

Runs examples/plugins/sessions.json (the job file as shipped, pointed at
a temporary checkpoint directory) with the plugin built by meson. Input:
click records {"user", "ts", "amount"} for 40 users, each user's records
in one partition (the producer keys by user; the job declares
partitioned_by "user") and in time order, with gaps that sometimes exceed
gap_ms. The job is SIGKILLed twice while input arrives, restarted each
time, then stopped gracefully once caught up.

The sink is exactly-once, so the output must be, for every user, exactly
the sequence a straight run computes, in order: {"user", "session",
"events", "sum"} for each of the user's records, with the user as the
Kafka key. A lost or doubled key state after a restore would change the
session numbers, counts or sums; a replayed output would appear twice.
"""
import json
import random
import time

from plugintest import example_job, plugin
from weirtest import (BackgroundProducer, Harness, TestFailure, check,
                      check_eq, consume_all, main, note, parse_restore,
                      wait_caught_up)

USERS = 40
N = 16000
PARTS = 4
GAP_MS = 1_800_000  # as in examples/plugins/sessions.json
GROUP = "sessions-it"


def make_input(seed):
    rnd = random.Random(seed)
    users = ["u%02d" % i for i in range(USERS)]
    clock = {u: 1_700_000_000_000 + rnd.randrange(10_000_000) for u in users}
    recs = []
    for _ in range(N):
        u = rnd.choice(users)
        # Mostly seconds apart; now and then a pause past gap_ms, and a
        # gap of exactly gap_ms (still the same session).
        r = rnd.random()
        gap = (GAP_MS + rnd.randint(1, 5_000_000) if r < 0.04 else
               GAP_MS if r < 0.05 else rnd.randint(0, 90_000))
        clock[u] += gap
        obj = {"user": u, "ts": clock[u]}
        if rnd.random() < 0.9:
            obj["amount"] = rnd.randint(-50, 500)
        recs.append({"partition": users.index(u) % PARTS,
                     "key": u.encode(), "headers": [], "obj": obj,
                     "value": json.dumps(obj).encode()})
    return recs


def expected_outputs(recs):
    """What the operator emits per user, in order (a straight run)."""
    state, out = {}, {}
    for r in recs:
        o = r["obj"]
        u, ts, amt = o["user"], o["ts"], o.get("amount", 0)
        s = state.get(u)
        if s is None or ts - s["last"] > GAP_MS:
            s = {"session": (s["session"] + 1) if s else 1, "events": 0,
                 "sum": 0, "last": ts}
            state[u] = s
        s["last"] = max(s["last"], ts)
        s["events"] += 1
        s["sum"] += amt
        out.setdefault(u, []).append({"user": u, "session": s["session"],
                                      "events": s["events"],
                                      "sum": s["sum"]})
    return out


def test():
    with Harness("plugin-sessions") as h:
        h.broker({"clicks": PARTS, "sessions": 4})
        lib = plugin(h, "SESSIONS_PLUGIN")
        job = h.write_job("sessions.json", example_job(
            "sessions",
            checkpoint={"dir": h.path("ck"), "interval_ms": 150},
            source={"group_id": GROUP,
                    "properties": {"fetch.wait.max.ms": "20"}}))
        # The job file's library is ${WEIR_PLUGINS:-build/...}/libsessions.so.
        env = {"WEIR_PLUGINS": h.dir}
        ops = json.load(open(job))["operators"]
        check_eq(ops[0]["gap_ms"], GAP_MS, "gap_ms of examples/plugins/"
                 "sessions.json (the test computes with it)")

        r = h.weir("validate", job, extra_env=env)
        check_eq(r.rc, 0, "weir validate of the sessions job: %s" % r.err)

        recs = make_input(seed=21)
        prod = BackgroundProducer(h.brokers, "clicks", recs, seconds=5)
        prod.start()
        kills = []
        w = h.weir_run(job, extra_env=env)
        check_eq(parse_restore(w)[0], 0, "first run restored something")
        w.wait_for_log(r"checkpoint 3 complete", timeout=60)
        w.kill()
        kills.append("after checkpoint 3")
        w = h.weir_run(job, extra_env=env)
        cid, _ = parse_restore(w)
        check(cid >= 3, "restart 1 restored checkpoint %d, expected >= 3"
              % cid)
        w.wait_for_log(r"checkpoint %d complete" % (cid + 2), timeout=60)
        time.sleep(random.uniform(0, 0.3))
        w.kill()
        kills.append("at random after checkpoint %d" % (cid + 2))
        w = h.weir_run(job, extra_env=env)
        cid2, _ = parse_restore(w)
        check(cid2 > cid, "restart 2 restored checkpoint %d, not newer than "
              "%d" % (cid2, cid))
        prod.finish()
        wait_caught_up(h.brokers, "clicks", GROUP, proc=w)
        check_eq(w.stop(), 0, "exit code of the graceful stop; log:\n%s"
                 % w.log()[-2000:])

        want = expected_outputs(recs)
        got = {}
        for m in consume_all(h.brokers, "sessions"):
            v = json.loads(m.value)
            check(m.key == v["user"].encode(), "output %s[%d]@%d: key %r is "
                  "not the user %r" % (m.topic, m.partition, m.offset,
                                       m.key, v["user"]))
            got.setdefault(v["user"], []).append(v)
        check_eq(sorted(got), sorted(want), "users in the output")
        for u in sorted(want):
            if got[u] != want[u]:
                i = next((i for i, (a, b) in enumerate(zip(got[u], want[u]))
                          if a != b), min(len(got[u]), len(want[u])))
                raise TestFailure(
                    "user %s: %d outputs, expected %d; first difference "
                    "at #%d: got %r, expected %r" % (
                        u, len(got[u]), len(want[u]), i,
                        got[u][i] if i < len(got[u]) else None,
                        want[u][i] if i < len(want[u]) else None))
        sessions = sum(v[-1]["session"] for v in want.values())
        note("%d users, %d sessions" % (len(want), sessions))
        return ("SIGKILL %s; %d records -> %d outputs, per user exactly the "
                "straight run's sequence (%d sessions)"
                % (" and ".join(kills), N, sum(map(len, got.values())),
                   sessions))


if __name__ == "__main__":
    main(test)
