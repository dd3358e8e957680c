"""weir's C is formatted with the repository's .clang-format.

Runs `clang-format --dry-run --Werror` over every C file of weir that git
tracks (the layers, tools, tests, examples, bench, fuzz) and fails with
the files that differ and the command that fixes them. clang-format comes
from Debian's clang-format package (tests/deps.sh installs it).
"""

import os
import shutil
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FOLDERS = ("core", "state", "api", "checkpoint", "connectors", "operators",
           "job", "tools", "tests", "examples", "bench", "fuzz")


def main():
    exe = shutil.which("clang-format")
    if not exe:
        print("FAIL clang-format is not installed: apt-get install "
              "clang-format (tests/deps.sh does)")
        return 1
    listed = subprocess.run(
        ["git", "-C", REPO, "ls-files", "--", "*.c", "*.h"],
        capture_output=True, text=True)
    if listed.returncode != 0:
        # Not a git checkout (a tarball): walk the folders instead.
        files = [os.path.relpath(os.path.join(r, f), REPO)
                 for d in FOLDERS
                 for r, _, fs in os.walk(os.path.join(REPO, d))
                 for f in fs if f.endswith((".c", ".h"))]
    else:
        files = [f for f in listed.stdout.split()
                 if f.split("/", 1)[0] in FOLDERS]
    bad = []
    for f in sorted(files):
        r = subprocess.run([exe, "--dry-run", "--Werror", f], cwd=REPO,
                           capture_output=True, text=True)
        if r.returncode != 0:
            bad.append(f)
    if bad:
        for f in bad:
            print("FAIL %s is not formatted as .clang-format says" % f)
        print("%d file(s) differ; fix with: clang-format -i %s"
              % (len(bad), " ".join(bad)))
        return 1
    print("ok: %d C files formatted as .clang-format says" % len(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
