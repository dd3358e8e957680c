"""Damaged checkpoints: a bounded filter + count Kafka job is run several
times on one checkpoint directory, new input between runs; between some
runs the newest checkpoint is damaged, each round another way: a state file
truncated, a bit flipped in a state file, _metadata deleted.

Checks:
- `weir checkpoints DIR` shows the damaged checkpoint as "damaged: ..." (or
  "incomplete (no _metadata)") and the others as complete;
- the next run logs "checkpoint N in DIR is not used: <the same reason>"
  and "restored checkpoint N-1" with N-1's offsets, and exits 0;
- no loss, no stray duplicates: each ERROR input record is in the output
  exactly as many times as runs read it (a bounded run reads from its
  restored offsets to the end offsets at its start), and the counts per
  service are exactly {1..N};
- with every checkpoint damaged, `weir run` exits 1 and says what to do.
"""

import os
import re
from collections import Counter

from weirtest import (ERROR_FILTER, Harness, check, check_counts_exact,
                      check_eq, consume_all, count_outputs, end_offsets,
                      is_error, kafka_job, lineage, list_checkpoints,
                      log_records, main, note, parse_restore, produce)

PARTS = 2
BATCH = 2500


def largest_state_file(ck, cid):
    d = os.path.join(ck, "chk-%d" % cid)
    files = [f for f in os.listdir(d) if f.endswith(".state")]
    check(files, "chk-%d has no .state file: %r" % (cid, os.listdir(d)))
    return max((os.path.join(d, f) for f in files), key=os.path.getsize)


def truncate(ck, cid):
    f = largest_state_file(ck, cid)
    size = os.path.getsize(f)
    os.truncate(f, size // 2)
    return "truncated %s from %d to %d bytes" % (os.path.basename(f), size,
                                                 size // 2)


def flip_bit(ck, cid):
    f = largest_state_file(ck, cid)
    size = os.path.getsize(f)
    with open(f, "r+b") as fh:
        fh.seek(size // 2)
        b = fh.read(1)[0]
        fh.seek(size // 2)
        fh.write(bytes([b ^ 0x10]))
    return "flipped bit 4 of byte %d of %s" % (size // 2, os.path.basename(f))


def delete_metadata(ck, cid):
    os.unlink(os.path.join(ck, "chk-%d" % cid, "_metadata"))
    return "deleted chk-%d/_metadata" % cid


def test():
    with Harness("damage") as h:
        h.broker({"logs": PARTS, "counts": 2})
        ck = h.path("ck")
        job = h.write_job("job.json", kafka_job(
            "ckpt-damage", ck, "logs", "counts",
            [ERROR_FILTER, {"type": "count", "key": "service"}],
            source={"bounded": True, "parallelism": 2},
            # Only the final checkpoint of each run, in practice.
            checkpoint={"interval_ms": 600000, "retain": 50}))
        recs = []
        runs = []  # per run: ({partition: restored offset}, {p: end})

        def run(batch_no, expect_restore=None):
            """Adds a batch of input, runs the bounded job to its end, and
            returns its Proc; records what the run read."""
            batch = log_records(BATCH, seed=100 + batch_no, partitions=PARTS,
                                first_seq=batch_no * BATCH)
            recs.extend(produce(h.brokers, "logs", batch))
            ends = end_offsets(h.brokers, "logs")
            w = h.weir_run(job)
            cid, offs = parse_restore(w)
            restored = {p: offs.get("logs", {}).get(p, 0)
                        for p in range(PARTS)}
            rc = w.wait()
            check_eq(rc, 0, "run %d: exit code; log:\n%s"
                     % (len(runs) + 1, w.log()[-3000:]))
            if expect_restore is not None:
                check_eq(cid, expect_restore.id, "run %d: checkpoint "
                         "restored" % (len(runs) + 1))
                check_eq({("logs", p): o for p, o in restored.items()},
                         expect_restore.offsets, "run %d: offsets restored "
                         "(from checkpoint %d)" % (len(runs) + 1, cid))
            runs.append((restored, ends))
            return w

        batch_no = 0
        run(batch_no)
        rounds = []
        for how, damage in (("truncated state file", truncate),
                            ("flipped bit", flip_bit),
                            ("deleted _metadata", delete_metadata)):
            batch_no += 1
            run(batch_no)  # a second good checkpoint below the newest
            rows = list_checkpoints(h, ck)
            check(len(rows) >= 2 and rows[0].status == "complete" and
                  rows[1].status == "complete",
                  "before damage (%s): the two newest checkpoints are not "
                  "complete: %r" % (how, rows[:2]))
            newest, prev = rows[0], rows[1]
            what = damage(ck, newest.id)
            note("%s: %s" % (how, what))

            after = {r.id: r for r in list_checkpoints(h, ck)}
            st = after[newest.id].status
            if damage is delete_metadata:
                check_eq(st, "incomplete (no _metadata)",
                         "listing after %s: status of %d" % (what, newest.id))
            else:
                check(st.startswith("damaged: "),
                      "listing after %s: status of %d is %r, expected "
                      "damaged: ..." % (what, newest.id, st))
            for r in after.values():
                if r.id != newest.id and r.status != "complete":
                    check(r.status.startswith("damaged"), "checkpoint %d: "
                          "unexpected status %r" % (r.id, r.status))
            check_eq(after[prev.id].status, "complete",
                     "listing after %s: status of %d" % (what, prev.id))

            batch_no += 1
            w = run(batch_no, expect_restore=prev)
            m = re.search(r"restore: checkpoint %d in \S+ is not used: (.*)$"
                          % newest.id, w.log(), re.M)
            check(m, "the run after %s does not log that checkpoint %d is "
                  "not used; log:\n%s" % (what, newest.id, w.log()[-3000:]))
            reason = m.group(1)
            note("  checkpoint %d is not used: %s" % (newest.id, reason))
            if damage is delete_metadata:
                check(re.search(r"incomplete|_metadata", reason),
                      "reason for not using %d: %r" % (newest.id, reason))
                ids = [r.id for r in list_checkpoints(h, ck)]
                check(newest.id not in ids, "the incomplete chk-%d was not "
                      "removed by the restart: %r" % (newest.id, ids))
            else:
                check_eq(reason, st, "the logged reason for not using "
                         "checkpoint %d (vs `weir checkpoints`)" % newest.id)
            rounds.append("%s: %d not used, %d restored" % (how, newest.id,
                                                             prev.id))

        # No loss, and each record written exactly as often as runs read it.
        expected = {(r["partition"], r["offset"]): r for r in recs
                    if is_error(r)}
        out = consume_all(h.brokers, "counts")
        occ = Counter()
        for m in out:
            topic, p, o, _ = lineage(m)
            check(topic == "logs" and (p, o) in expected,
                  "counts[%d]@%d: lineage %s/%d/%d is not an ERROR input "
                  "record" % (m.partition, m.offset, topic, p, o))
            occ[(p, o)] += 1
        for (p, o) in sorted(expected):
            reads = sum(1 for r, e in runs if r[p] <= o < e[p])
            check_eq(occ[(p, o)], reads, "times logs[%d]@%d is in the "
                     "output (runs read it %d times; runs' ranges %r)"
                     % (p, o, reads, runs))
        exp_counts = Counter(r["obj"]["service"] for r in expected.values())
        check_counts_exact(count_outputs(out), dict(exp_counts))

        # Every checkpoint damaged: refused, with advice.
        rows = list_checkpoints(h, ck)
        for r in rows:
            if r.status == "complete":
                flip_bit(ck, r.id)
        rows = list_checkpoints(h, ck)
        check(all(not r.status.startswith("complete") for r in rows),
              "after damaging all: %r" % (rows,))
        r = h.weir("run", job)
        check_eq(r.rc, 1, "run with every checkpoint damaged: exit code; "
                 "stderr:\n%s" % r.err[-3000:])
        check(re.search(r"no checkpoint in \S+ can be restored", r.err) and
              "move the directory aside" in r.err,
              "the refusal does not say what to do: %r" % r.err[-2000:])
        check(len(re.findall(r"is not used: damaged", r.err)) >=
              sum(1 for r in rows if r.status.startswith("damaged")),
              "not every damaged checkpoint is reported: %r" % r.err[-3000:])
        return ("%d bounded runs; %s; output exact (%d ERROR records, %d "
                "re-read); all damaged -> refused with advice"
                % (len(runs), "; ".join(rounds), len(expected),
                   sum(occ.values()) - len(expected)))


if __name__ == "__main__":
    main(test)
