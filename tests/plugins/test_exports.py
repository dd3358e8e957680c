#!/usr/bin/env python3
"""The weir executable exports exactly the public operator API.

A plugin's references to weir_* resolve to the weir executable at load,
so weir must export them (job/weir.dynlist), and nothing else of its
own: an exported internal symbol would become API by accident, and would
interpose on a plugin's own function of the same name.

Checks, on the executable in $WEIR with `nm -D --defined-only`:
- the weir_* symbols exported are exactly the functions weir.h declares,
  which are exactly the names in job/weir.dynlist;
- every other exported symbol is on the explicit list below.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api import DYNLIST, WEIR_H, dynlist_names, header_functions  # noqa: E402

WEIR = os.environ["WEIR"]

# Exported by weir's own code on purpose: nothing. (The embedded broker's
# bind() override lives in its own program, tools/broker.c.)
OWN_ALLOWED = set()

# Not weir's code: symbols the C runtime start files and the linker put
# into every executable, and libc data objects that the executable holds
# as copy relocations (they carry libc's symbol version, e.g.
# stdout@GLIBC_2.2.5).
TOOLCHAIN = {"_init", "_fini", "__bss_start", "_end", "_edata",
             "_IO_stdin_used", "__data_start", "data_start", "__dso_handle"}
LIBC_VERSIONS = ("GLIBC_",)
# Sanitizer builds (-Db_sanitize=...) add the sanitizer runtime's hooks.
SANITIZER_PREFIXES = ("__asan", "__ubsan", "__lsan", "__tsan",
                      "__sanitizer", "__interceptor")


def exported(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path],
                         capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        typ, name = parts[-2], parts[-1]
        base, _, version = name.partition("@")
        syms[base] = (typ, version.lstrip("@"))
    return syms


def fail(msg):
    print("FAIL test_exports: " + msg)
    sys.exit(1)


def main():
    api = header_functions(WEIR_H)
    listed = dynlist_names(DYNLIST)
    if len(api) < 20:
        fail("found only %d functions in %s: %s" % (len(api), WEIR_H,
                                                    sorted(api)))
    if api != listed:
        fail("job/weir.dynlist does not match weir.h: missing %s, "
             "not in weir.h %s" % (sorted(api - listed),
                                   sorted(listed - api)))
    syms = exported(WEIR)
    own = {n: t for n, t in syms.items() if n.startswith("weir_")}
    if set(own) != api:
        fail("weir exports weir_* %s but weir.h declares %s: missing %s, "
             "extra %s" % (len(own), len(api), sorted(api - set(own)),
                           sorted(set(own) - api)))
    not_functions = sorted(n for n, (t, _) in own.items() if t != "T")
    if not_functions:
        fail("exported weir_* that are not functions: %s" % not_functions)
    others, foreign = [], []
    for name, (typ, version) in sorted(syms.items()):
        if name in own:
            continue
        if name in OWN_ALLOWED:
            continue
        if (name in TOOLCHAIN or version.startswith(LIBC_VERSIONS) or
                name.startswith(SANITIZER_PREFIXES)):
            foreign.append(name)
            continue
        others.append("%s (%s%s)" % (name, typ,
                                     ", version " + version if version
                                     else ""))
    if others:
        fail("weir exports symbols that are not the public API: %s. "
             "Export only what job/weir.dynlist lists; if one is "
             "needed, add it to OWN_ALLOWED here with the reason"
             % ", ".join(others))
    print("ok test_exports: %d weir_* functions exported = weir.h = "
          "weir.dynlist; nothing else of weir's own, and %d from libc, the "
          "start files or a sanitizer: %s"
          % (len(own), len(foreign), " ".join(foreign)))


if __name__ == "__main__":
    main()
