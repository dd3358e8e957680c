"""The status page (GET /, job/status_page.html) in headless Chromium.

Without WEIR_HTTP_URL the page is served by a small HTTP server in this
script, with /job and /checkpoints built from the fixtures in
tests/fixtures/status-page/ (the shapes of the shared formats): every
/job answer advances the clock by 2 s and each stage's counters by a known
amount, so the rates the page computes are known exactly.

1. The page is self-contained: nothing in it names another host or file.
2. Chromium loads it and lets it poll three times (virtual time), then the
   server stops answering, as a job that is gone. The DOM has one .stage
   per stage with the type, parallelism and counts of the last answer and
   the rates between the last two; the source, blocked half of the time,
   is marked BACKPRESSURED and no other stage is; watermarks; one #chart
   .point per history entry (failed and aborted marked with a cross);
   one #lag row per partition ("unknown" for a null lag); the latest
   completed, failed, restored and savepoint; and the note that the job
   cannot be reached.
3. A screenshot with the server answering is a PNG of the window's size.
4. A job whose endpoint misses one poll: after the next answer the note
   is gone and the figures and rates are the new ones.
5. A job that has just started (no stages counted, no partitions, no
   checkpoint, every latest null) shows as such, without an error.

With WEIR_HTTP_URL (a running job's endpoint, e.g. http://127.0.0.1:9249)
the same page is the job's own: /job and /checkpoints must have the
fixtures' shapes, and the DOM must agree with what they said just before
and after Chromium ran. Without it, and with WEIR set (as the suite runs
it), the fake job's checks are followed by the same ones against a real
weir job started here with `--http 127.0.0.1:0`. Exits 77 (skipped) when
chromium is not installed.
"""

import copy
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from weirtest import (REPO, Harness, TestFailure, check, check_eq,  # noqa
                      http_url, main, note)

PAGE = os.path.join(REPO, "job", "status_page.html")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "status-page")
POLL_MS = 2000
WINDOW = (1280, 1000)

# What each /job answer of the fake server adds to every stage's counters
# (records_in, records_out, backpressure_ms, idle_ms), 2 s apart.
STEP = {0: (10000, 10000, 2000, 200), 1: (10000, 2500, 0, 1000),
        2: (2500, 2500, 0, 400), 3: (2500, 2400, 0, 600)}


# --- the DOM Chromium dumps ------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text()
                       for c in self.children)

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def all(self, pred):
        for c in self.children:
            if isinstance(c, Node):
                if pred(c):
                    yield c
                yield from c.all(pred)

    def by_id(self, ident):
        found = list(self.all(lambda n: n.attrs.get("id") == ident))
        check(len(found) == 1, "the page has %d elements with id %r, "
              "expected 1" % (len(found), ident))
        return found[0]

    def by_class(self, cls):
        return list(self.all(lambda n: cls in n.classes()))

    def by_tag(self, tag):
        return list(self.all(lambda n: n.tag == tag))


class DomParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n.parent is not None and n.tag != tag:
            n = n.parent
        if n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text):
    p = DomParser()
    p.feed(text)
    return p.root


# --- Chromium ----------------------------------------------------------------


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(tmp, url, extra, budget_ms):
    """Runs headless Chromium on url for budget_ms of virtual time (timers
    run at once, network waits are waited for); returns its stdout."""
    args = [chromium_binary(), "--headless", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--hide-scrollbars",
            "--disable-dev-shm-usage",  # containers have a small /dev/shm
            "--user-data-dir=" + os.path.join(tmp, "chromium-profile"),
            "--virtual-time-budget=%d" % budget_ms] + extra + [url]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses root otherwise
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=90)
    if p.returncode != 0:
        raise TestFailure("chromium exited %d: %s" % (
            p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return p.stdout.decode()


def screenshot(tmp, url, budget_ms):
    png = os.path.join(tmp, "status-page.png")
    chromium(tmp, url, ["--screenshot=" + png,
                        "--window-size=%d,%d" % WINDOW,
                        "--run-all-compositor-stages-before-draw"],
             budget_ms)
    check(os.path.exists(png), "chromium wrote no screenshot at " + png)
    with open(png, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR",
          "the screenshot %s is not a PNG (%d bytes)" % (png, len(data)))
    size = struct.unpack(">II", data[16:24])
    check_eq(size, WINDOW, "screenshot width and height")
    note("screenshot %s: %d bytes" % (png, len(data)))
    return len(data)


# --- the fake job ----------------------------------------------------------


def load_fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


class FakeJob:
    """Answers /job and /checkpoints from the fixtures; /job moves on by
    STEP per answer. After fail_after /job answers it drops every
    connection unanswered, as a job that is gone; with back_after, it
    answers /job again after dropping that many requests for it, as a job
    that restarted its endpoint."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset(None)

    def reset(self, fail_after, starting=False, back_after=None):
        """starting: a job that has just started, with no stage counted,
        no partition known and no checkpoint yet."""
        with self.lock:
            self.served = []
            self.fail_after = fail_after
            self.back_after = back_after
            self.gone = False
            self.dropped = 0
            self.job = load_fixture("job.json")
            self.checkpoints = load_fixture("checkpoints.json")
            if starting:
                self.job.update(status="starting", uptime_ms=0, stages=[],
                                edges=[], lag=[], restored=None)
                self.checkpoints = {
                    "counts": dict.fromkeys(self.checkpoints["counts"], 0),
                    "latest": dict.fromkeys(self.checkpoints["latest"]),
                    "history": []}

    def next_job(self):
        with self.lock:
            if not self.gone and self.fail_after is not None and \
                    len(self.served) >= self.fail_after:
                self.gone = True
            if self.gone:
                self.dropped += 1
                if self.back_after is None or self.dropped <= self.back_after:
                    return None
                self.gone = False
            n = len(self.served)
            j = copy.deepcopy(self.job)
            j["now_ms"] += n * POLL_MS
            j["uptime_ms"] += n * POLL_MS
            for s in j["stages"]:
                rin, rout, bp, idle = STEP[s["stage"]]
                s["records_in"] += n * rin
                s["records_out"] += n * rout
                s["backpressure_ms"] += n * bp
                s["idle_ms"] += n * idle
                if s["watermark_ms"] is not None:
                    s["watermark_ms"] += n * POLL_MS
            self.served.append(j)
            return j

    def serve(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/":
                    with open(PAGE, "rb") as f:
                        self.reply(f.read(), "text/html; charset=utf-8")
                    return
                if self.path == "/job":
                    body = fake.next_job()
                elif self.path == "/checkpoints":
                    with fake.lock:
                        gone = fake.gone and fake.back_after is None
                        body = None if gone else fake.checkpoints
                else:
                    self.send_error(404)
                    return
                if body is None:
                    self.close_connection = True  # no answer at all
                    return
                self.reply(json.dumps(body).encode(), "application/json")

            def reply(self, data, ctype):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv


# --- checks ----------------------------------------------------------------


def number(s, what):
    m = re.fullmatch(r"-?[\d,]+(?:\.\d+)?", s.strip())
    check(m is not None, "%s: %r is not a number" % (what, s))
    return float(s.replace(",", ""))


def stage_texts(node):
    return {cls: t.text() for t in node.by_tag("text")
            for cls in t.classes()}


def check_self_contained():
    with open(PAGE) as f:
        page = f.read()
    # The only URL allowed is SVG's namespace name, which is never fetched.
    rest = page.replace('"http://www.w3.org/2000/svg"', "")
    for pat in (r"https?://", r"//[a-z0-9.-]+\.[a-z]{2,}/",
                r"\b(?:src|href|action)\s*=\s*[\"'](?!data:|#)",
                r"url\((?![\"']?#)", r"@import", r"\bimport\s*\(", r"<iframe"):
        m = re.search(pat, rest, re.I)
        check(m is None, "job/status_page.html is not self-contained: %r "
              "at %r" % (m and m.group(0), m and rest[m.start():m.start() + 60]))
    check(re.search(r'fetch\("job"|getJSON\("job"\)', page) is not None,
          "the page does not fetch the relative URL job")
    return len(page)


def check_stages(dom, job, before, rates):
    """One .stage per stage of job with its numbers; rates[stage] is
    (in/s, out/s) or None to check only that a rate is shown."""
    stages = dom.by_id("graph").by_class("stage")
    check_eq(len(stages), len(job["stages"]), "#graph .stage count")
    by = {int(s.attrs["data-stage"]): s for s in stages}
    for s in job["stages"]:
        n = by.get(s["stage"])
        check(n is not None, "no .stage for stage %d" % s["stage"])
        t = stage_texts(n)
        title = "%d %s: %s \u00d7%d" % (s["stage"], s["kind"], s["type"],
                                        s["parallelism"])
        check_eq(t.get("title"), title, "stage %d title" % s["stage"])
        for key, cls in (("records_in", "records-in"),
                         ("records_out", "records-out")):
            m = re.fullmatch(r"(in|out) ([\d,]+) \(([\d,.]+|\u2013)/s\)",
                             t.get(cls, ""))
            check(m is not None, "stage %d %s: %r" % (s["stage"], cls,
                                                      t.get(cls)))
            shown = number(m.group(2), cls)
            if before is None:
                check_eq(shown, s[key], "stage %d %s" % (s["stage"], key))
            else:
                lo = [b for b in before["stages"]
                      if b["stage"] == s["stage"]][0][key]
                check(lo <= shown <= s[key], "stage %d %s: shows %d, "
                      "expected between %d and %d" % (
                          s["stage"], key, shown, lo, s[key]))
            check(m.group(3) != "\u2013", "stage %d shows no %s rate "
                  "after several polls" % (s["stage"], key))
            rate = number(m.group(3), cls + " rate")
            want = rates and rates[s["stage"]][key == "records_out"]
            if want is not None:
                check_eq(rate, want, "stage %d %s/s" % (s["stage"], key))
        skipped = t.get("skipped", "")
        check(skipped.startswith("skipped "), "stage %d: no skipped count"
              % s["stage"])
        if before is None:
            check_eq(number(skipped[8:], "skipped"), s["records_skipped"],
                     "stage %d records_skipped" % s["stage"])
        wm = t.get("watermark", "")
        if s["watermark_ms"] is None:
            check_eq(wm, "no watermark", "stage %d watermark" % s["stage"])
        elif before is None:
            want = json.dumps(s["watermark_ms"])
            check_eq(n.attrs.get("data-watermark-ms"), want,
                     "stage %d data-watermark-ms" % s["stage"])
            check(wm.startswith("wm ") and "behind" in wm,
                  "stage %d watermark shown as %r" % (s["stage"], wm))
    return by


def check_real_shapes(got, want, where):
    """got has the fixture's shape: the same keys, the same JSON types
    (null matches any type: the formats allow it)."""
    if got is None or want is None:
        return
    def kind(v):
        return "number" if type(v) in (int, float) else type(v).__name__
    check_eq(kind(got), kind(want), where + " type")
    if isinstance(want, dict):
        check_eq(sorted(got), sorted(want), where + " keys")
        for k in want:
            check_real_shapes(got[k], want[k], where + "." + k)
    elif isinstance(want, list) and got and want:
        for i, g in enumerate(got):
            check_real_shapes(g, want[0], "%s[%d]" % (where, i))


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


# --- the two ways to run -----------------------------------------------------


def run_fake(tmp):
    fake = FakeJob()
    srv = fake.serve()
    url = "http://127.0.0.1:%d/" % srv.server_address[1]
    try:
        # Three answers, then a job that is gone: at virtual 0, 2, 4 s the
        # page polls, at 6 s it finds nobody.
        fake.reset(3)
        dom = parse_dom(chromium(tmp, url, ["--dump-dom"], 3 * POLL_MS + 1000))
        check(fake.gone, "the page polled only %d time(s) in %d ms of "
              "virtual time" % (len(fake.served), 3 * POLL_MS + 1000))
        last, before = fake.served[2], fake.served[1]
        check_eq(dom.by_id("job-name").text(), last["job"], "#job-name")
        check_eq(dom.by_id("status").text(), last["status"], "#status")
        rates = {s: (STEP[s][0] * 1000 / POLL_MS, STEP[s][1] * 1000 / POLL_MS)
                 for s in STEP}
        by = check_stages(dom, last, None, rates)
        hot = sorted(s for s, n in by.items()
                     if "backpressured" in n.classes())
        check_eq(hot, [0], "stages marked backpressured")
        check("BACKPRESSURED" in stage_texts(by[0])["bp"] and
              "blocked 50%" in stage_texts(by[0])["bp"],
              "source's backpressure text: %r" % stage_texts(by[0])["bp"])
        check("BACKPRESSURED" not in stage_texts(by[1])["bp"],
              "filter shown as backpressured")
        edges = [(int(e.attrs["data-from"]), int(e.attrs["data-to"]))
                 for e in dom.by_id("graph").by_class("edge")]
        check_eq(edges, [tuple(e) for e in last["edges"]], "#graph edges")
        check(before["stages"][0]["records_in"] !=
              last["stages"][0]["records_in"], "fixture did not move")

        ck = fake.checkpoints
        points = dom.by_id("chart").by_class("point")
        check_eq(len(points), len(ck["history"]), "#chart .point count")
        check_eq(sorted(int(p.attrs["data-id"]) for p in points),
                 sorted(h["id"] for h in ck["history"]), "#chart point ids")
        for p in points:
            h = [h for h in ck["history"] if h["id"] == int(p.attrs["data-id"])][0]
            shapes = sorted(c.tag for c in p.children if not isinstance(c, str))
            if h["duration_ms"] is not None:
                check("circle" in shapes and "rect" in shapes,
                      "checkpoint %d: no duration and size markers: %r"
                      % (h["id"], shapes))
            elif h["status"] in ("failed", "aborted"):
                check("\u2715" in p.text(), "checkpoint %d (%s) has no "
                      "cross" % (h["id"], h["status"]))
        history_rows = dom.by_id("history").by_tag("tbody")[0].by_tag("tr")
        check_eq(len(history_rows), len(ck["history"]), "#history rows")

        rows = dom.by_id("lag").by_tag("tbody")[0].by_tag("tr")
        check_eq(len(rows), len(last["lag"]), "#lag tbody tr count")
        want = sorted((l["topic"], l["partition"], l["lag"])
                      for l in last["lag"])
        got = []
        for r in rows:
            c = [td.text() for td in r.by_tag("td")]
            got.append((c[0], int(c[1]),
                        None if c[2] == "unknown" else int(number(c[2], "lag"))))
        check_eq(got, want, "#lag rows")

        latest = ck["latest"]
        for key in ("completed", "failed", "savepoint"):
            t = dom.by_id("latest-" + key).text()
            check(t.startswith("checkpoint %d" % latest[key]["id"]),
                  "#latest-%s: %r" % (key, t))
        check(latest["failed"]["failure"] in dom.by_id("latest-failed").text(),
              "#latest-failed does not show the failure")
        t = dom.by_id("latest-restored").text()
        check(str(latest["restored"]["id"]) in t and
              latest["restored"]["path"] in t,
              "#latest-restored: %r" % t)

        err = dom.by_id("error")
        check("hidden" not in err.attrs and "Cannot reach the job" in err.text(),
              "no note that the job is gone: %r" % err.text())
        note("DOM checked: %d stages, %d chart points, %d lag rows, job "
             "gone noted" % (len(by), len(points), len(rows)))

        fake.reset(None)
        png = screenshot(tmp, url, 2 * POLL_MS + 500)
        check(fake.served, "the screenshot run never polled")

        # Gone for one poll, back for the next: the note goes away and the
        # figures and rates are those of the answers after it.
        fake.reset(3, back_after=1)
        dom = parse_dom(chromium(tmp, url, ["--dump-dom"], 4 * POLL_MS + 1000))
        check(fake.dropped >= 1 and len(fake.served) == 4,
              "the page polled %d time(s) and %d failed; expected 3 answers, "
              "1 failure, 1 answer" % (len(fake.served), fake.dropped))
        check("hidden" in dom.by_id("error").attrs,
              "the note stays after the job is back: %r"
              % dom.by_id("error").text())
        check("stale" not in dom.by_id("main").classes(),
              "the figures stay dimmed after the job is back")
        check_stages(dom, fake.served[3], None, rates)

        fake.reset(None, starting=True)
        dom = parse_dom(chromium(tmp, url, ["--dump-dom"], POLL_MS + 500))
        check(len(fake.served) >= 1, "the page never polled the starting job")
        check_eq(dom.by_id("status").text(), "starting", "#status")
        check_eq(dom.by_id("graph").by_class("stage"), [], "#graph .stage")
        check_eq(dom.by_id("chart").by_class("point"), [], "#chart .point")
        check("no checkpoints yet" in dom.by_id("chart-label").text(),
              "chart title %r" % dom.by_id("chart-label").text())
        check("hidden" not in dom.by_id("lag-none").attrs,
              "no note that there are no partitions")
        check_eq(dom.by_id("latest-completed").text(), "none",
                 "#latest-completed")
        check("hidden" in dom.by_id("error").attrs,
              "the starting job shows an error: %r" % dom.by_id("error").text())
    finally:
        srv.shutdown()
        srv.server_close()
    return "fake job: stages, rates, backpressure, chart, lag, job gone " \
        "and back; screenshot %d bytes; a starting job" % png


def run_real(tmp, base):
    base = base.rstrip("/")
    before = fetch(base + "/job")
    ck_before = fetch(base + "/checkpoints")
    check_real_shapes(before, load_fixture("job.json"), "/job")
    check_real_shapes(ck_before, load_fixture("checkpoints.json"),
                      "/checkpoints")
    dom = parse_dom(chromium(tmp, base + "/", ["--dump-dom"],
                             2 * POLL_MS + 1000))
    after = fetch(base + "/job")
    ck_after = fetch(base + "/checkpoints")
    check_eq(dom.by_id("job-name").text(), after["job"], "#job-name")
    check(dom.by_id("status").text() in (before["status"], after["status"]),
          "#status %r" % dom.by_id("status").text())
    check_stages(dom, after, before, None)
    points = dom.by_id("chart").by_class("point")
    check(len(ck_before["history"]) <= len(points) <=
          len(ck_after["history"]), "#chart has %d points, /checkpoints had "
          "%d then %d" % (len(points), len(ck_before["history"]),
                          len(ck_after["history"])))
    rows = dom.by_id("lag").by_tag("tbody")[0].by_tag("tr")
    check_eq(len(rows), len(after["lag"]), "#lag tbody tr count")
    check("hidden" in dom.by_id("error").attrs,
          "the page shows an error: %r" % dom.by_id("error").text())
    png = screenshot(tmp, base + "/", 2 * POLL_MS + 500)
    return "job at %s: %d stages, %d chart points, %d lag rows; " \
        "screenshot %d bytes" % (base, len(after["stages"]), len(points),
                                 len(rows), png)


def run_own_job(tmp):
    """The page of a real weir job (generator, filter, keyed count,
    discard; checkpoints every 200 ms) against its own /job and
    /checkpoints."""
    with Harness("status-page-job") as h:
        job = h.write_job("job.json", {
            "name": "page",
            "checkpoint": {"dir": h.path("ck"), "interval_ms": 200},
            "source": {"type": "generator", "count": 10**9, "partitions": 2,
                       "rate": 2000, "parallelism": 2},
            "operators": [
                {"type": "filter", "where": {"field": "level", "op": "ne",
                                             "value": "DEBUG"}},
                {"type": "count", "key": "service"}],
            "sink": {"type": "discard"}})
        p = h.weir_run(job, args=["--http", "127.0.0.1:0"])
        base = http_url(p)
        p.wait_for_log(r"checkpoint 3 complete")
        summary = run_real(tmp, base)
        check_eq(p.stop(), 0, "exit code of the job after SIGTERM")
        return summary


def test():
    size = check_self_contained()
    note("job/status_page.html: %d bytes, self-contained" % size)
    tmp = tempfile.mkdtemp(prefix="weir-it-status-page-")
    ok = False
    try:
        base = os.environ.get("WEIR_HTTP_URL")
        if base:
            summary = run_real(tmp, base)
        else:
            summary = run_fake(tmp)
            if os.environ.get("WEIR"):
                summary += "; " + run_own_job(tmp)
        ok = True
        return summary
    finally:
        if ok or not os.environ.get("WEIR_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            sys.stderr.write("kept %s\n" % tmp)


if __name__ == "__main__":
    if chromium_binary() is None:
        print("SKIP test_status_page: chromium is not installed "
              "(tests/deps.sh installs Debian's chromium)")
        sys.exit(77)
    main(test)
