"""What the public API is, read from the files that define it: the
functions api/include/weir/weir.h declares and the names
job/weir.dynlist exports. Shared by test_exports.py and
test_plugin_install.py."""

import os
import re

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEIR_H = os.path.join(REPO, "api", "include", "weir", "weir.h")
DYNLIST = os.path.join(REPO, "job", "weir.dynlist")


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


# Declared in weir.h for the plugin to define, not provided by weir.
PLUGIN_DEFINES = {"weir_plugin_operator"}


def header_functions(path=WEIR_H):
    """Names of the functions weir.h declares for weir to provide: every
    top-level declaration `TYPE name(...)`, not typedefs (of function
    pointers), macros, or the entry point a plugin defines."""
    text = strip_comments(open(path).read())
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    text = re.sub(r"extern\s+\"C\"\s*\{|\}\s*$", " ", text)
    names = set()
    depth = 0
    stmt = ""
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            s = " ".join(stmt.split())
            stmt = ""
            if s.startswith("typedef") or s.startswith("}"):
                continue
            m = re.match(r"^[A-Za-z_][\w\s\*]*?\b([A-Za-z_]\w*)\s*\(", s)
            if m and m.group(1) not in PLUGIN_DEFINES:
                names.add(m.group(1))
            continue
        if depth == 0:
            stmt += ch
    return names


def dynlist_names(path=DYNLIST):
    text = strip_comments(open(path).read())
    body = text[text.index("{") + 1:text.rindex("}")]
    return {n.strip() for n in body.split(";") if n.strip()}
