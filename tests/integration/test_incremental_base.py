"""Which file a checkpoint of incremental keyed state writes: a delta of
the keys changed since the last one, or a base of all keys when most of
them changed (a delta is copied on the task thread at the barrier; a base
is frozen there and written by the persister).

A generator -> count keyed by msg (one key a record) -> discard job,
bounded, with only the first checkpoint (at once, empty state: a base)
and the final one. With 60,000 records the final checkpoint adds a delta
of 60,000 keys to the chain; with 150,000 (100,000 keys or more, every
key changed) it writes a base instead. Both restore: a second run of the
same job restores the final checkpoint, goes on from its chain, and
(nothing changed) its final checkpoint writes no chain file: the
completion line counts only the task files as written.
"""

import json
import os
import re

from weirtest import Harness, check, check_eq, main, note, tail

TASK = "op0-count-0"


def final_chain(ck):
    ids = [int(d[4:]) for d in os.listdir(ck) if d.startswith("chk-") and
           os.path.exists(os.path.join(ck, d, "_metadata"))]
    with open(os.path.join(ck, "chk-%d" % max(ids), "_metadata")) as f:
        meta = json.load(f)
    entry = [t for t in meta["tasks"] if t["task"] == TASK]
    check(entry and entry[0].get("chain"),
          "chk-%d/_metadata lists no chain for %s" % (max(ids), TASK))
    return max(ids), [c["file"] for c in entry[0]["chain"]]


def run(h, records):
    ck = h.path("ck-%d" % records)
    job = h.write_job("job-%d.json" % records, {
        "name": "incremental-base",
        "checkpoint": {"dir": ck, "interval_ms": 0},
        "source": {"type": "generator", "partitions": 1, "count": records},
        "operators": [{"type": "count", "key": "msg"}],
        "sink": {"type": "discard"}})
    r = h.weir("run", job)
    check_eq(r.rc, 0, "exit code of the %d-record run; stderr:\n%s"
             % (records, tail(r.err)))
    cid, chain = final_chain(ck)
    r = h.weir("run", job, extra_env={"WEIR_LOG": "debug"})
    check_eq(r.rc, 0, "exit code of the restart; stderr:\n%s" % tail(r.err))
    check("restored checkpoint %d" % cid in r.err,
          "the restart did not restore checkpoint %d; stderr:\n%s"
          % (cid, tail(r.err)))
    m = re.search(r"complete in \d+ ms: \d+ state files, \d+ bytes, "
                  r"(\d+) bytes written, (\d+) bytes in all \(final\)",
                  r.err)
    check(m, "no completion line of the restart's final checkpoint; "
          "stderr:\n%s" % tail(r.err))
    written, full = int(m.group(1)), int(m.group(2))
    check(written * 10 < full, "the restart's final checkpoint says it "
          "wrote %d of %d bytes, but the chain was the restored one"
          % (written, full))
    return cid, chain


def test():
    with Harness("incremental-base") as h:
        cid, chain = run(h, 60_000)
        check_eq(chain, ["%s.b1" % TASK, "%s.d%d" % (TASK, cid)],
                 "chain of the final checkpoint after 60,000 new keys")
        small = "60,000 new keys: %s" % chain
        cid, chain = run(h, 150_000)
        check_eq(chain, ["%s.b%d" % (TASK, cid)],
                 "chain of the final checkpoint after 150,000 new keys "
                 "(every key changed: a base, not a delta)")
        note(small)
        return "%s; 150,000 new keys: %s" % (small, chain)


if __name__ == "__main__":
    main(test)
