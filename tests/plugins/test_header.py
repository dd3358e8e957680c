#!/usr/bin/env python3
"""api/include/weir/weir.h stands alone, in strict C and in C++.

A plugin author includes weir.h and nothing else of weir, with their own
compiler flags. The header must compile on its own (it includes what it
uses), under -std=c11 and -std=c99 with -pedantic -Wall -Wextra -Werror
and the prototype warnings weir itself uses, and, when a C++ compiler is
present, as C++11 (extern "C", no C-only syntax).

Environment: CC (default cc), CXX (default g++; skipped when missing).
"""
import os
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api import WEIR_H  # noqa: E402

STRICT = ["-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]
C_EXTRA = ["-Wstrict-prototypes", "-Wmissing-prototypes", "-Wshadow"]


def compile_header(cmd, lang, std, extra):
    args = cmd + ["-std=" + std] + STRICT + extra + ["-x", lang, WEIR_H]
    cp = subprocess.run(args, capture_output=True, text=True)
    if cp.returncode != 0:
        print("FAIL test_header: `%s` exited %d:\n%s"
              % (" ".join(args), cp.returncode, cp.stderr))
        sys.exit(1)
    return " ".join([os.path.basename(cmd[0]), "-std=" + std])


def main():
    done = []
    cc = shlex.split(os.environ.get("CC") or "cc")
    for std in ("c11", "c99"):
        done.append(compile_header(cc, "c", std, C_EXTRA))
    cxx = shlex.split(os.environ.get("CXX") or "g++")
    if shutil.which(cxx[0]):
        done.append(compile_header(cxx, "c++", "c++11", []))
    else:
        done.append("no C++ compiler (%s), C++ skipped" % cxx[0])
    print("ok test_header: weir.h alone, %s: %s"
          % (" ".join(STRICT), "; ".join(done)))


if __name__ == "__main__":
    main()
