"""weir's layers: every #include of weir's own headers points down.

The layers, bottom to top, each a folder and a static library with its own
include directory (meson.build):

    core < state < api < checkpoint < connectors < operators < job

A file may include headers of its own layer and of layers below it, never
of one above; tools/ (programs of their own) may use core/ only. The build
already fails on such an include (the header is not on the include path);
this check says which line breaks which rule, and also that no two folders
hold a header of the same name (one name per thing), and that every
header and source file of weir sits in a layer.

Exits 0 and prints a summary, or 1 with every violation.
"""

import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LAYERS = ["core", "state", "api", "checkpoint", "connectors", "operators",
          "job"]
# Folders of programs of their own, and the one layer each may use.
TOOLS = {"tools": "core"}
# Folders outside the layers (tests, benchmarks, examples, fuzzing).
OUTSIDE = {"tests", "bench", "examples", "fuzz"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(folder):
    for root, dirs, files in os.walk(os.path.join(REPO, folder)):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.join(root, f)


def generated(folder, name):
    """Whether the folder's meson.build makes a file of that name (a
    custom_target's output, such as job/status_page.inc)."""
    mb = os.path.join(folder, "meson.build")
    if not os.path.exists(mb):
        return False
    with open(mb, encoding="utf-8") as f:
        return re.search(r"output\s*:\s*'%s'" % re.escape(name),
                         f.read()) is not None


def main():
    problems = []
    where = {}  # header name as included -> layer
    for layer in LAYERS:
        for path in sources(layer):
            if not path.endswith(".h"):
                continue
            rel = os.path.relpath(path, os.path.join(REPO, layer))
            name = rel[len("include/"):] if rel.startswith("include/") \
                else os.path.basename(rel)
            if name in where:
                problems.append("%s/%s and %s/ both have a header named %s: "
                                "give each thing one name"
                                % (layer, rel, where[name], name))
            where[name] = layer
    top = set(LAYERS) | set(TOOLS) | OUTSIDE
    for entry in sorted(os.listdir(REPO)):
        full = os.path.join(REPO, entry)
        if (entry.startswith((".", "build")) or not os.path.isdir(full)
                or entry in top):
            continue
        if any(True for _ in sources(entry)):
            problems.append("%s/ holds C files but is no layer: put them "
                            "in one of %s (tests/layers.py)"
                            % (entry, ", ".join(LAYERS)))
    checked = 0
    for folder in LAYERS + list(TOOLS):
        rank = LAYERS.index(TOOLS.get(folder, folder))
        for path in sources(folder):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                checked += 1
                inc = m.group(1)
                layer = where.get(inc)
                if layer is None:
                    if not (os.path.exists(os.path.join(
                            os.path.dirname(path), inc))
                            or generated(os.path.dirname(path), inc)):
                        problems.append("%s:%d: includes \"%s\", which no "
                                        "layer has"
                                        % (os.path.relpath(path, REPO),
                                           text.count("\n", 0, m.start())
                                           + 1, inc))
                    continue
                if LAYERS.index(layer) > rank:
                    problems.append(
                        "%s:%d: includes \"%s\" of %s/, a layer above %s/ "
                        "(%s): a layer uses only the ones below it; move "
                        "the code, or pass what it needs down through an "
                        "interface the job wires up"
                        % (os.path.relpath(path, REPO),
                           text.count("\n", 0, m.start()) + 1, inc, layer,
                           folder, " < ".join(LAYERS)))
    if problems:
        for p in problems:
            print("FAIL " + p)
        print("%d layering problem(s)" % len(problems))
        return 1
    print("ok: %d includes in %d layers and %d tool folder(s) point down "
          "(%s)" % (checked, len(LAYERS), len(TOOLS), " < ".join(LAYERS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
