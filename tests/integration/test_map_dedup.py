#!/usr/bin/env python3
"""The map and dedup operators, end to end against the embedded broker.

Checks, reading Kafka with kafka-python:
- map: a bounded job with two maps (project + rename + add with nested
  paths and ${ENV}; then rename into a nested field and a swap over the
  whole record) turns every JSON object record into exactly the value a
  Python model of the documented rules computes, plus literal expectations
  for a few hand-made records; key and headers are unchanged; records that
  are not JSON objects, or where a field cannot be set, are skipped and
  counted;
- dedup (parallelism 2, keyed, all-to-all routing from 2 source tasks):
  forwards the first record of each key unchanged (value, key, headers),
  exactly once, and drops the rest; the number 7 and the string "7" are one
  key; records without the key field are skipped;
- dedup with ttl_ms, by the record timestamps set on produce: a key goes
  through again only more than ttl_ms after it last went through; a record
  with timestamp -1 has no event time, so the source skips it (logged);
- dedup state survives SIGKILL: a job at parallelism 2 is killed once it
  has checkpointed all of a first batch, restored at parallelism 3 while a
  second batch arrives (repeats of first-batch keys are still dropped),
  SIGKILLed again mid-stream, restored at parallelism 3 and stopped. The
  output holds exactly the first occurrences, duplicated only by the replay
  after the second kill;
- `weir validate` reports bad map and dedup configs with their JSON paths.
Every part runs even when an earlier one fails; all failures are reported.
"""

import copy
import json
import os
import random
import re
import sys
import time
import zlib
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weirtest import (BackgroundProducer, Harness, TestFailure,  # noqa: E402
                      check, check_eq, consume_all, end_offsets, kafka_job,
                      lineage, main, new_producer, note, parse_restore,
                      produce, wait_caught_up)

T0 = 1_700_000_000_000  # record timestamps of the ttl tests start here


def headers_plus(rec, job, p, o):
    return list(rec["headers"]) + [
        ("weir.job", job.encode()),
        ("weir.lineage", ("%s/%d/%d/0" % (rec["topic"], p, o)).encode())]


def by_lineage(msgs, topic):
    """{(partition, offset): [Msg, ...]} from the weir.lineage headers."""
    out = {}
    for m in msgs:
        t, p, o, _ = lineage(m)
        check_eq(t, topic, "lineage topic of out[%d]@%d"
                 % (m.partition, m.offset))
        out.setdefault((p, o), []).append(m)
    return out


def skipped(log, index, op):
    return sum(int(x) for x in re.findall(
        r"operators\[%d\] %s#\d+: exits: \d+ in, \d+ out, (\d+) skipped"
        % (index, op), log))


# --- map ---------------------------------------------------------------------

# A model of map's documented rules: project, then rename (all old fields
# taken out first, then the new ones set, in order), then add.
class CannotSet(Exception):
    pass


def m_get(d, path):
    for name in path.split("."):
        if not isinstance(d, dict) or name not in d:
            return None, False
        d = d[name]
    return d, True


def m_set(d, path, v):
    names = path.split(".")
    for name in names[:-1]:
        if name not in d:
            d[name] = {}
        if not isinstance(d[name], dict):
            raise CannotSet(path)
        d = d[name]
    d[names[-1]] = v


def m_take(d, path):
    names = path.split(".")
    for name in names[:-1]:
        d = d.get(name)
        if not isinstance(d, dict):
            return None, False
    if names[-1] not in d:
        return None, False
    return d.pop(names[-1]), True


def model_map(op, obj):
    if "project" in op:
        out = {}
        for f in op["project"]:
            v, ok = m_get(obj, f)
            if ok:
                m_set(out, f, copy.deepcopy(v))
    else:
        out = copy.deepcopy(obj)
    moved = [(new, m_take(out, old)) for old, new in
             op.get("rename", {}).items()]
    for new, (v, ok) in moved:
        if ok:
            m_set(out, new, v)
    for f, v in op.get("add", {}).items():
        m_set(out, f, copy.deepcopy(v))
    return out


MAP1 = {"type": "map",
        "project": ["seq", "level", "http.status", "user.id", "user.name",
                    "meta", "absent.field"],
        "rename": {"level": "severity", "http.status": "status",
                   "user.id": "uid", "nope": "never"},
        "add": {"meta.env": "${MAP_ENV}", "meta.version": 2,
                "user.name": "anon",
                "source": {"kind": "test", "tags": ["a", 1, None]}}}
MAP1_EXPANDED = json.loads(json.dumps(MAP1).replace("${MAP_ENV}", "it-env"))
MAP2 = {"type": "map",
        "rename": {"uid": "user.id", "severity": "status",
                   "status": "severity"}}

# Hand-made records with their expected output written out literally.
SHOWCASE = [
    ({"seq": -1, "level": "ERROR", "msg": "dropped by project",
      "http": {"status": 500, "path": "/x"},
      "user": {"id": 42, "name": "ann", "mail": "a@x"}},
     {"seq": -1, "severity": 500, "status": "ERROR",
      "http": {},  # its only projected field was moved out
      "user": {"name": "anon", "id": 42},
      "meta": {"env": "it-env", "version": 2},
      "source": {"kind": "test", "tags": ["a", 1, None]}}),
    # No http, user not an object, meta with a field of its own.
    ({"seq": -2, "level": "INFO", "user": "bob",
      "meta": {"env": "old", "x": [1, {"y": 2}]}},
     {"seq": -2, "status": "INFO", "user": {"name": "anon"},
      "meta": {"env": "it-env", "x": [1, {"y": 2}], "version": 2},
      "source": {"kind": "test", "tags": ["a", 1, None]}}),
]

BAD_FOR_MAP = [b"not JSON {", b"[1, 2, 3]", b"42", b"",
               # meta is a number: "meta.env" cannot be set
               b'{"seq": -3, "level": "WARN", "meta": 5}']


def map_records(n, seed, parts):
    rnd = random.Random(seed)
    recs = []
    for obj, _ in SHOWCASE:
        recs.append({"partition": 0, "key": b"show", "obj": obj,
                     "headers": [("h", b"\x00\xff")],
                     "value": json.dumps(obj).encode()})
    for i in range(n):
        obj = {"seq": i, "level": rnd.choice(["INFO", "WARN", "ERROR"]),
               "service": rnd.choice(["api", "db", "mail"]),
               "ratio": rnd.random(), "tags": ["t%d" % (i % 3)]}
        if rnd.random() < 0.8:
            obj["http"] = {"status": rnd.choice([200, 404, 500]),
                           "path": "/p/%d" % i}
        r = rnd.random()
        if r < 0.6:
            obj["user"] = {"id": rnd.randrange(1000), "name": "u%d" % i}
        elif r < 0.8:
            obj["user"] = {"id": "s%d" % i}
        elif r < 0.9:
            obj["user"] = "plain"
        if rnd.random() < 0.2:
            obj["meta"] = {"env": "old", "n": i}
        key = ("k%d" % rnd.randrange(50)).encode() if i % 2 else None
        headers = [("trace", b"t-%d" % i)] if i % 5 == 0 else []
        recs.append({"partition": rnd.randrange(parts), "key": key,
                     "obj": obj, "headers": headers,
                     "value": json.dumps(obj).encode()})
    at = n // 2
    for k, v in enumerate(BAD_FOR_MAP):
        recs.insert(at + k * 7, {"partition": k % parts, "key": b"bad",
                                 "obj": None, "headers": [], "value": v})
    return recs


def test_map(h):
    parts = 4
    recs = map_records(3000, seed=5, parts=parts)
    produce(h.brokers, "logs", recs)
    job = h.write_job("map.json", kafka_job(
        "map-it", h.path("ck-map"), "logs", "mapped", [MAP1, MAP2],
        source={"bounded": True}, sink={"partitioner": "source"}))
    w = h.weir_run(job, extra_env={"WEIR_LOG": "debug", "MAP_ENV": "it-env"})
    rc = w.wait()
    log = w.log()
    check(rc == 0, "map: bounded run exited %d; log:\n%s" % (rc, log[-3000:]))

    want = {}
    nbad = 0
    for r in recs:
        obj = r["obj"]
        if obj is None and r["value"] != BAD_FOR_MAP[-1]:
            nbad += 1
            continue
        if obj is None:
            obj = json.loads(r["value"])
        try:
            out = model_map(MAP2, model_map(MAP1_EXPANDED, obj))
        except CannotSet:
            nbad += 1
            continue
        want[(r["partition"], r["offset"])] = (r, out)
    check_eq(nbad, len(BAD_FOR_MAP), "map: input records the model rejects")
    for obj, lit in SHOWCASE:
        check_eq(model_map(MAP2, model_map(MAP1_EXPANDED, obj)), lit,
                 "map: the Python model on a showcase record")

    got = by_lineage(consume_all(h.brokers, "mapped"), "logs")
    check_eq(len(got), len(want), "map: distinct output records")
    for (p, o), msgs in got.items():
        where = "map output of logs[%d]@%d" % (p, o)
        check_eq(len(msgs), 1, where + ": copies")
        check((p, o) in want, where + ": not expected; value %r"
              % msgs[0].value)
        r, out = want[(p, o)]
        m = msgs[0]
        check_eq(json.loads(m.value), out, where + ": value")
        check_eq(m.key, r["key"], where + ": key")
        check_eq(m.headers, headers_plus(r, "map-it", p, o),
                 where + ": headers")
    for obj, lit in SHOWCASE:
        hits = [m for ms in got.values() for m in ms
                if json.loads(m.value).get("seq") == obj["seq"]]
        check(len(hits) == 1, "map: showcase seq %d not in the output once"
              % obj["seq"])
        check_eq(json.loads(hits[0].value), lit, "map: showcase seq %d"
                 % obj["seq"])
    check_eq(skipped(log, 0, "map"), len(BAD_FOR_MAP),
             "map: records the first map skipped")
    check_eq(skipped(log, 1, "map"), 0, "map: records the second map skipped")
    return "map: %d records reshaped exactly, %d skipped" % (
        len(want), len(BAD_FOR_MAP))


# --- dedup -------------------------------------------------------------------


def key_text(v):
    """The key text the runtime uses: a string's characters, else JSON."""
    return v if isinstance(v, str) else json.dumps(v)


def part_of(v, parts):
    """Every record of a key goes to one partition, so that "first" is
    well defined (the order within a partition is kept end to end)."""
    return zlib.crc32(key_text(v).encode()) % parts


def dedup_records(n, seed, parts, first_seq=0, keys=lambda i: 60 + i // 10):
    rnd = random.Random(seed)
    recs = []
    for i in range(first_seq, first_seq + n):
        k = rnd.randrange(keys(i))
        idv = k if k % 5 == 0 else "id-%d" % k
        obj = {"id": idv, "seq": i, "pad": "x" * rnd.randrange(20)}
        recs.append({"partition": part_of(idv, parts),
                     "key": ("rk%d" % i).encode() if i % 3 else None,
                     "headers": [("n", b"%d" % i)] if i % 4 == 0 else [],
                     "obj": obj, "value": json.dumps(obj).encode()})
    return recs


def firsts(recs, field="id"):
    """{(partition, offset): rec} of the first record of each key, by
    partition order."""
    seen = set()
    out = {}
    for r in sorted(recs, key=lambda r: (r["partition"], r["offset"])):
        if r["obj"] is None or field not in r["obj"]:
            continue
        k = key_text(r["obj"][field])
        if k not in seen:
            seen.add(k)
            out[(r["partition"], r["offset"])] = r
    return out


def check_forwarded(got, want, job, what):
    for (p, o), msgs in got.items():
        where = "%s: output of ev[%d]@%d" % (what, p, o)
        check((p, o) in want, where + ": not a first occurrence; value %r"
              % msgs[0].value)
        r = want[(p, o)]
        for m in msgs:
            check_eq(m.value, r["value"], where + ": value bytes")
            check_eq(m.key, r["key"], where + ": key")
            check_eq(m.headers, headers_plus(r, job, p, o),
                     where + ": headers")
    missing = sorted(set(want) - set(got))
    check(not missing, "%s: %d first occurrences missing, e.g. ev[%d]@%d"
          % ((what, len(missing)) + (missing[0] if missing else (0, 0))))


def test_dedup(h):
    parts = 4
    recs = dedup_records(4000, seed=7, parts=parts)
    # 7 and "7" are one key; true and null are keys too.
    special = [{"id": 7, "seq": -1}, {"id": "7", "seq": -2},
               {"id": True, "seq": -3}, {"id": "true", "seq": -4},
               {"id": None, "seq": -5}, {"id": None, "seq": -6}]
    for k, obj in enumerate(special):
        recs.insert(100 + 3 * k, {
            "partition": part_of(obj["id"], parts), "key": None,
            "headers": [], "obj": obj, "value": json.dumps(obj).encode()})
    bad = [b'{"seq": -7}', b'{"id": {"a": 1}}', b'{"id": [1]}', b"no JSON"]
    for k, v in enumerate(bad):
        recs.insert(2000 + k, {"partition": k, "key": None, "headers": [],
                               "obj": None, "value": v})
    produce(h.brokers, "ev", recs)
    job = h.write_job("dedup.json", kafka_job(
        "dedup-it", h.path("ck-dedup"), "ev", "dd",
        [{"type": "dedup", "key": "id", "parallelism": 2}],
        source={"bounded": True}))
    w = h.weir_run(job, extra_env={"WEIR_LOG": "debug"})
    rc = w.wait()
    log = w.log()
    check(rc == 0, "dedup: bounded run exited %d; log:\n%s"
          % (rc, log[-3000:]))
    want = firsts(recs)
    check(len(want) < len(recs) // 4, "dedup: the input has too few repeats "
          "to be a test (%d keys in %d records)" % (len(want), len(recs)))
    got = by_lineage(consume_all(h.brokers, "dd"), "ev")
    check_forwarded(got, want, "dedup-it", "dedup")
    dups = {k: len(v) for k, v in got.items() if len(v) > 1}
    check(not dups, "dedup: records written more than once: %r"
          % sorted(dups.items())[:5])
    seqs = {json.loads(m[0].value)["seq"] for m in got.values()}
    check(-1 in seqs and -2 not in seqs, "dedup: 7 and \"7\" must be one key")
    check(-3 in seqs and -4 not in seqs, "dedup: true and \"true\" must be "
          "one key")
    check(-5 in seqs and -6 not in seqs, "dedup: null must be a key")
    check_eq(skipped(log, 0, "dedup"), len(bad), "dedup: records skipped")
    return "dedup p=2: %d of %d records forwarded (first of each key), %d " \
           "skipped" % (len(want), len(recs), len(bad))


def ttl_model(recs, ttl, parts_sharing_task=None):
    """Expected pass-through for one task's record sequence: a key goes
    through when unseen or when its time is more than ttl after the time it
    last went through; a record without a timestamp takes the latest one
    seen so far."""
    seen, latest, out = {}, -1, []
    for r in recs:
        ts = r["ts"]
        if ts >= 0:
            latest = max(latest, ts)
        now = ts if ts >= 0 else latest
        k = key_text(r["obj"]["id"])
        if k not in seen or (now >= 0 and now > seen[k]
                             and now - seen[k] > ttl):
            seen[k] = now
            out.append(r)
    return out


def produce_ts(brokers, topic, recs):
    """Like produce(), with each record's "ts" as its Kafka timestamp."""
    p = new_producer(brokers)
    try:
        futs = [p.send(topic, value=r["value"], key=r["key"],
                       partition=r["partition"], timestamp_ms=r["ts"])
                for r in recs]
        p.flush(60)
        for r, f in zip(recs, futs):
            r["offset"] = f.get(timeout=60).offset
            r["topic"] = topic
            r["headers"] = []
    finally:
        p.close(10)


def ts_rec(idv, ts, parts, seq):
    obj = {"id": idv, "seq": seq}
    return {"partition": part_of(idv, parts), "key": None, "ts": ts,
            "obj": obj, "value": json.dumps(obj).encode()}


def test_dedup_ttl(h):
    parts, ttl = 4, 1000
    # The edges by hand: at exactly ttl after it went through a key is
    # still a repeat, 1 ms later it is new; an earlier timestamp is a
    # repeat; a repeat does not extend the period.
    edge = [0, 1000, 1001, 500, 2001, 2002, 2500, 3003, 3002]
    edge_pass = {0, 1001, 2002, 3003}
    recs = [ts_rec("edge", T0 + d, parts, k) for k, d in enumerate(edge)]
    rnd = random.Random(9)
    clock = {}
    for i in range(3000):
        k = "k%d" % rnd.randrange(40)
        clock[k] = clock.get(k, T0) + rnd.choice([0, 1, 300, 700, 1000,
                                                  1001, 1500, -200])
        recs.append(ts_rec(k, clock[k], parts, 100 + i))
    produce_ts(h.brokers, "tt", recs)
    job = h.write_job("ttl.json", kafka_job(
        "ttl-it", h.path("ck-ttl"), "tt", "tto",
        [{"type": "dedup", "key": "id", "ttl_ms": ttl, "parallelism": 2}],
        # Every key keeps its own clock, so a partition's records are far
        # out of order: a bound that covers them keeps each on time, and
        # dedup then decides by record time alone, as ttl_model does.
        source={"bounded": True,
                "watermarks": {"max_out_of_orderness_ms": 3_600_000}}))
    w = h.weir_run(job)
    rc = w.wait()
    check(rc == 0, "ttl: bounded run exited %d; log:\n%s"
          % (rc, w.log()[-3000:]))
    per_part = {}
    for r in recs:
        per_part.setdefault(r["partition"], []).append(r)
    want = {}
    for p, rs in per_part.items():
        rs.sort(key=lambda r: r["offset"])
        for r in ttl_model(rs, ttl):
            want[(p, r["offset"])] = r
    check_eq(sorted(r["ts"] - T0 for r in want.values()
                    if r["obj"]["id"] == "edge"),
             sorted(edge_pass), "ttl: the model on the hand-made edge cases")
    got = by_lineage(consume_all(h.brokers, "tto"), "tt")
    check_forwarded(got, want, "ttl-it", "ttl")
    dups = {k: len(v) for k, v in got.items() if len(v) > 1}
    check(not dups, "ttl: records written more than once: %r"
          % sorted(dups.items())[:5])
    nkeys = len({r["obj"]["id"] for r in recs})
    check(len(want) > 2 * nkeys, "ttl: too few keys went through again to "
          "be a test (%d outputs, %d keys)" % (len(want), nkeys))

    # Timestamp -1: the source has no event time for such a record, so it
    # is a record error of the source (on_error "skip": counted, logged)
    # and never reaches dedup, which decides on the others alone.
    no_ts = [("a", -1), ("a", -1), ("a", T0), ("b", T0 + 500), ("c", -1),
             ("b", -1), ("a", T0 + 2000), ("b", -1), ("c", -1),
             ("c", T0 + 2500), ("b", T0 + 1000)]
    recs2 = [ts_rec(k, ts, 1, i) for i, (k, ts) in enumerate(no_ts)]
    for r in recs2:
        r["partition"] = 0
    produce_ts(h.brokers, "nt", recs2)
    job = h.write_job("nots.json", kafka_job(
        "nots-it", h.path("ck-nots"), "nt", "nto",
        [{"type": "dedup", "key": "id", "ttl_ms": ttl}],
        source={"bounded": True, "parallelism": 1}))
    w = h.weir_run(job)
    rc = w.wait()
    check(rc == 0, "ttl -1: bounded run exited %d; log:\n%s"
          % (rc, w.log()[-3000:]))
    got = [json.loads(m.value)["seq"] for m in consume_all(h.brokers, "nto")]
    # a@T0 new, b@+500 new, a@+2000 new, c@+2500 new, b@+1000 repeat
    # (earlier than +500 + ttl).
    check_eq(got, [2, 3, 6, 9], "ttl -1: seq of the records let through")
    check("skipped record nt[0]@0: the Kafka record timestamp is -1" in
          w.log(), "ttl -1: the source did not report the records without "
          "a time; log:\n%s" % w.log()[-3000:])
    return "dedup ttl_ms: %d of %d records through by record time, edges " \
           "and timestamp -1 exact" % (len(want), len(recs))


def test_dedup_crash(h):
    parts = 4
    ck = h.path("ck-crash")
    group = "dd-crash"

    def job(par):
        return h.write_job("crash-%d.json" % par, kafka_job(
            "dd-crash", ck, "ev2", "dd2",
            [{"type": "dedup", "key": "id", "parallelism": par}],
            source={"group_id": group}, checkpoint={"interval_ms": 150}))

    batch1 = dedup_records(6000, seed=21, parts=parts,
                           keys=lambda i: 200 + i // 20)
    produce(h.brokers, "ev2", batch1)
    ends1 = end_offsets(h.brokers, "ev2")
    w = h.weir_run(job(2))
    wait_caught_up(h.brokers, "ev2", group, proc=w, ends=ends1)
    w.kill()
    note("crash: batch 1 checkpointed at parallelism 2, SIGKILLed")

    batch2 = dedup_records(12000, seed=22, parts=parts, first_seq=6000,
                           keys=lambda i: 200 + i // 20)
    prod = BackgroundProducer(h.brokers, "ev2", batch2, seconds=4)
    prod.start()
    w = h.weir_run(job(3))
    cid, offs = parse_restore(w)
    check(cid > 0, "crash: the restart at parallelism 3 restored nothing")
    check_eq(offs.get("ev2"), ends1, "crash: offsets restored after batch "
             "1 was checkpointed")
    w.wait_for_log(r"moving keyed state from 2 task\(s\) to 3")
    start = len(w.log())
    for _ in range(3):
        start = w.wait_for_log(r"checkpoint (\d+) complete", start=start,
                               timeout=60).end()
    # Between checkpoints, so that the restart replays some output.
    time.sleep(random.uniform(0.03, 0.14))
    w.kill()
    note("crash: SIGKILLed at parallelism 3 mid-stream")

    w = h.weir_run(job(3))
    cid3, offs3 = parse_restore(w)
    check(cid3 > cid, "crash: the second restart restored checkpoint %d, "
          "not a newer one than %d" % (cid3, cid))
    restored = offs3["ev2"]
    prod.finish()
    wait_caught_up(h.brokers, "ev2", group, proc=w, timeout=90)
    check_eq(w.stop(), 0, "crash: exit code of the graceful stop")

    recs = batch1 + batch2
    want = firsts(recs)
    got = by_lineage(consume_all(h.brokers, "dd2"), "ev2")
    check_forwarded(got, want, "dd-crash", "crash")
    for (p, o), msgs in got.items():
        if len(msgs) > 1:
            check(len(msgs) == 2 and o >= restored[p],
                  "crash: ev2[%d]@%d written %d times; only records at or "
                  "after the second restore's offset %d may be written "
                  "twice" % (p, o, len(msgs), restored[p]))
    ndup = sum(len(m) - 1 for m in got.values())

    # The test means something only if repeats of keys first seen before
    # each crash arrived after it.
    first_at = {key_text(r["obj"]["id"]): (p, o) for (p, o), r in
                want.items()}
    after1 = sum(1 for r in batch2
                 if first_at[key_text(r["obj"]["id"])][1]
                 < ends1[r["partition"]])
    after2 = sum(1 for r in recs if r["offset"] >= restored[r["partition"]]
                 and first_at[key_text(r["obj"]["id"])][1]
                 < restored[r["partition"]])
    check(after1 > 1000 and after2 > 100, "crash: too few repeats of "
          "pre-crash keys after the crashes (%d, %d)" % (after1, after2))
    return ("dedup crash: 2 -> 3 after SIGKILL and SIGKILL mid-stream: %d "
            "firsts of %d records exact; %d and %d repeats of pre-crash "
            "keys dropped; %d replay duplicates" % (
                len(want), len(recs), after1, after2, ndup))


# --- weir validate -----------------------------------------------------------

# (operator object, [(json path, regex)]); None: the file is valid.
VALIDATE = [
    ({"type": "map"},
     [("operators[0] (map)", r"needs at least one of project, rename, add")]),
    ({"type": "map", "project": "a"},
     [("operators[0].project", r"expected a non-empty array")]),
    ({"type": "map", "project": ["a", 3, "b..c", ".d"]},
     [("operators[0].project[1]", r"expected a field name.*number"),
      ("operators[0].project[2]", r'"b\.\.c" is not a field path'),
      ("operators[0].project[3]", r'"\.d" is not a field path')]),
    ({"type": "map", "rename": {"old": 5, "x": "z", "y": "z", "w": "a."}},
     [("operators[0].rename.old", r"expected a string"),
      ("operators[0].rename.y", r'"z" is also the new name of "x"'),
      ("operators[0].rename.w", r'"a\." is not a field path')]),
    ({"type": "map", "add": []},
     [("operators[0].add", r"expected a non-empty object.*an array")]),
    ({"type": "map", "add": {"a": 1}, "projection": ["a"]},
     [("operators[0].projection",
       r"unknown field for map; expected project, rename, add")]),
    ({"type": "map", "add": {"a": 1}, "name": "m", "parallelism": 2,
      "key": "a", "on_error": "dead-letter", "dead_letter_topic": "dlq"},
     None),
    ({"type": "dedup"},
     [("operators[0].key", r"required: dedup drops records whose key was "
                           r"already seen; name the field")]),
    ({"type": "dedup", "key": "id", "ttl_ms": 0},
     [("operators[0].ttl_ms", r"whole number of milliseconds from 1 to")]),
    ({"type": "dedup", "key": "id", "ttl_ms": "1000"},
     [("operators[0].ttl_ms", r"whole number of milliseconds from 1 to "
                              r"31536000000 \(365 days\), got \"1000\"")]),
    ({"type": "dedup", "key": "id", "ttl_ms": 31536000001},
     [("operators[0].ttl_ms", r"from 1 to 31536000000 \(365 days\), got "
                              r"31536000001")]),
    ({"type": "dedup", "key": "id", "ttl": 5},
     [("operators[0].ttl", r"unknown field for dedup; expected key, "
                           r"ttl_ms")]),
    ({"type": "dedupe", "key": "id"},
     [("operators[0].type", r"did you mean dedup\?")]),
    ({"type": "dedup", "key": "id", "ttl_ms": 60000, "name": "d",
      "parallelism": 3, "on_error": "fail"},
     None),
]


def test_validate(h):
    for i, (op, expect) in enumerate(VALIDATE):
        job = kafka_job("v", h.path("ck-v"), "logs", "out", [op])
        path = h.write_job("validate-%d.json" % i, job)
        r = h.weir("validate", path)
        what = "validate %s" % json.dumps(op)
        if expect is None:
            check_eq((r.rc, r.err.strip()), (0, ""), what + ": exit code "
                     "and stderr")
            continue
        check_eq(r.rc, 2, what + ": exit code; stderr:\n%s" % r.err)
        lines = r.err.splitlines()
        for jpath, rx in expect:
            prefix = "%s: %s: " % (path, jpath)
            hit = [line[len(prefix):] for line in lines
                   if line.startswith(prefix)]
            check(any(re.search(rx, x) for x in hit),
                  "%s: no line %r matching /%s/; stderr:\n%s"
                  % (what, prefix, rx, r.err))
    return "validate: %d configs" % len(VALIDATE)


def run():
    done, failures = [], []
    with Harness("map-dedup") as h:
        h.broker({"logs": 4, "mapped": 4, "ev": 4, "dd": 4, "tt": 4,
                  "tto": 4, "nt": 1, "nto": 1, "ev2": 4, "dd2": 4})
        for fn in (test_validate, test_map, test_dedup, test_dedup_ttl,
                   test_dedup_crash):
            try:
                done.append(fn(h))
                note(done[-1])
            except TestFailure as e:
                note("FAILED: %s: %s" % (fn.__name__, e))
                failures.append("%s: %s" % (fn.__name__, e))
    if failures:
        raise TestFailure("%d of %d parts failed:\n  %s" % (
            len(failures), len(failures) + len(done),
            "\n  ".join(failures)))
    return "; ".join(done)


if __name__ == "__main__":
    main(run)
