#!/usr/bin/env python3
"""Plugins build out of tree against an installed weir, as documented.

1. `meson install --destdir TMP` of this build: weir.h lands in
   include/weir/ unchanged and weir.pc is usable: pkg-config (pointed at
   TMP) gives -I for the installed headers, no libraries, and the API
   version of weir.h.
2. The build lines documented in the first comment of
   examples/plugins/sessions.c and sample.c, run as written with only
   the installed weir, compile without a warning; so does the README's
   "Write an operator" example (tally.c) with its documented line, and
   again with -pedantic -Werror -Wmissing-prototypes.
3. The installed weir validates the example job files with the
   out-of-tree sessions and sample, and runs a bounded job with tally
   (from the directory the relative "./libtally.so" names): every
   user's outputs are 1, 2, 3, ... in order.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

from plugintest import EXAMPLES, api_version, example_job
from weirtest import (REPO, Harness, check, check_eq, consume_all, main,
                      produce)

BUILD = os.environ.get("MESON_BUILD_ROOT") or os.path.join(REPO, "build")
CC = os.environ.get("CC") or "cc"


def sh(cmd, env, cwd, what):
    cp = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True,
                        text=True, env=env, cwd=cwd)
    check(cp.returncode == 0, "%s: `%s` exited %d:\n%s%s"
          % (what, cmd, cp.returncode, cp.stdout, cp.stderr))
    return cp


def install(dest):
    cp = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild",
                         "--destdir", dest], capture_output=True, text=True)
    check(cp.returncode == 0, "meson install --destdir failed:\n%s%s"
          % (cp.stdout, cp.stderr[-3000:]))
    found = {}
    for root, _, files in os.walk(dest):
        for f in files:
            found.setdefault(f, os.path.join(root, f))
    for f in ("weir", "weir.h", "weir.pc"):
        check(f in found, "meson install did not install %s (installed: %s)"
              % (f, sorted(found)))
    check(found["weir.h"].endswith("/include/weir/weir.h"),
          "weir.h installed at %s" % found["weir.h"])
    with open(found["weir.h"]) as a, open(os.path.join(
            REPO, "api", "include", "weir", "weir.h")) as b:
        check(a.read() == b.read(), "the installed weir.h differs from "
              "api/include/weir/weir.h")
    return found


def pkg_env(dest, pc):
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.path.dirname(pc)
    # weir.pc says prefix=/usr/local (or whatever was configured); the
    # files are under dest until they are copied there.
    env["PKG_CONFIG_SYSROOT_DIR"] = dest
    env["CC"] = CC
    return env


def check_pkg_config(dest, found, env):
    cp = sh("pkg-config --cflags --libs weir", env, dest, "pkg-config")
    include = os.path.dirname(os.path.dirname(found["weir.h"]))
    check_eq(cp.stdout.split(), ["-I" + include],
             "pkg-config --cflags --libs weir")
    cp = sh("pkg-config --variable=api_version weir", env, dest,
            "pkg-config")
    check_eq(cp.stdout.strip(), str(api_version()),
             "weir.pc api_version")


def documented_build_line(path):
    """The `cc ...` line of a file's first comment."""
    with open(path) as f:
        head = f.read().split("*/", 1)[0]
    lines = [l.strip(" *\t") for l in head.splitlines()]
    cmds = [l for l in lines if l.startswith("cc ")]
    check(len(cmds) == 1, "%s: expected one `cc ...` build line in its "
          "first comment, found %r" % (path, cmds))
    return cmds[0]


def readme_operator():
    """The C code and the cc line of README's "Write an operator"."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Write an operator\n(.*?)^## ", text, re.M | re.S)
    check(m, "README.md has no \"## Write an operator\" section")
    sec = m.group(1)
    code = re.search(r"^```c\n(.*?)^```", sec, re.M | re.S)
    check(code, "no ```c block in README's Write an operator")
    cc = [l for block in re.findall(r"^```sh\n(.*?)^```", sec, re.M | re.S)
          for l in block.splitlines() if l.startswith("cc ")]
    check(len(cc) == 1, "expected one cc line in README's Write an "
          "operator, found %r" % cc)
    return code.group(1), cc[0]


def build(cmd, env, cwd, what):
    cmd = re.sub(r"^cc ", '"$CC" ', cmd)
    cp = sh(cmd, env, cwd, what)
    check(not cp.stderr.strip(), "%s: warnings from `%s`:\n%s"
          % (what, cmd, cp.stderr))


def test():
    with Harness("plugin-install") as h:
        dest = tempfile.mkdtemp(prefix="weir-destdir-", dir=h.dir)
        found = install(dest)
        env = pkg_env(dest, found["weir.pc"])
        check_pkg_config(dest, found, env)
        weir = found["weir"]

        src = h.path("src")
        os.mkdir(src)
        for name in ("sessions", "sample"):
            shutil.copy(os.path.join(EXAMPLES, name + ".c"), src)
            build(documented_build_line(os.path.join(src, name + ".c")),
                  env, src, name + ".c")
        code, line = readme_operator()
        with open(os.path.join(src, "tally.c"), "w") as f:
            f.write(code)
        build(line, env, src, "README's tally.c")
        sh('"$CC" -std=c11 -pedantic -Wall -Wextra -Werror '
           '-Wmissing-prototypes -Wstrict-prototypes -fsyntax-only '
           '$(pkg-config --cflags weir) tally.c', env, src,
           "README's tally.c, strict")
        for lib in ("libsessions.so", "libsample.so", "libtally.so"):
            check(os.path.exists(os.path.join(src, lib)), "no %s" % lib)

        h.broker({"clicks": 2, "tallies": 2})
        h.weir_bin = weir  # the installed one, from here on
        run_env = {"WEIR_PLUGINS": src}
        for name in ("sessions", "sample"):
            job = h.write_job(name + ".json", example_job(
                name, checkpoint={"dir": h.path("ck-" + name)}))
            r = h.weir("validate", job, extra_env=run_env)
            check_eq(r.rc, 0, "installed weir validate %s with the "
                     "out-of-tree plugin: %s" % (name, r.err))
        job = h.write_job("tally.json", {
            "name": "tally",
            "checkpoint": {"dir": h.path("ck-tally"), "interval_ms": 200},
            "source": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                       "topic": "clicks", "bounded": True,
                       "partitioned_by": "user"},
            "operators": [{"type": "plugin",
                           "library": "./libtally.so", "key": "user"}],
            "sink": {"type": "kafka", "brokers": "${KAFKA_BROKERS}",
                     "topic": "tallies", "delivery": "exactly-once"}})
        users = ["ann", "bob", "cy", "dee", "eve"]
        recs = [{"partition": i % 2, "key": users[i].encode(),
                 "headers": [],
                 "value": json.dumps({"user": users[i], "n": j}).encode()}
                for j in range(60) for i in range(len(users))]
        produce(h.brokers, "clicks", recs)
        r = h.weir("validate", job)
        check(r.rc == 2 and "cannot load" in r.err,
              "validate from another directory found ./libtally.so? "
              "rc %d: %s" % (r.rc, r.err))
        cp = subprocess.run([weir, "run", job], capture_output=True,
                            text=True, cwd=src, env=h.env(), timeout=120)
        check_eq(cp.returncode, 0, "installed weir run tally (bounded); "
                 "stderr:\n%s" % cp.stderr[-2000:])
        got = {}
        for m in consume_all(h.brokers, "tallies"):
            got.setdefault(m.key.decode(), []).append(int(m.value))
        check_eq(got, {u: list(range(1, 61)) for u in users},
                 "tally outputs per user")
        return ("meson install + pkg-config (%s): sessions.c, sample.c and "
                "README's tally.c built as documented without a warning; "
                "the installed weir validates sessions and sample and runs tally: "
                "%d users, 1..60 each" % (" ".join(
                    sh("pkg-config --cflags --libs weir", env, dest,
                       "pkg-config").stdout.split()), len(users)))


if __name__ == "__main__":
    main(test)
