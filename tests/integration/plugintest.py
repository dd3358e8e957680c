"""Helpers of the plugin integration tests (test_plugin_*.py).

The plugins come from the build: meson passes their paths in the
environment (SESSIONS_PLUGIN, SAMPLE_PLUGIN, SAMPLE_V1_PLUGIN,
SAMPLE_V2_PLUGIN, FAILING_PLUGIN, ABI_MISMATCH_PLUGIN, WINDOWS_PLUGIN);
run by hand, they default to the build/ directory of the repository. Like
weirtest's snapshot of the weir binary, a test copies each plugin it loads
into its own directory, so that a rebuild meanwhile cannot change it
mid-test. test_crash_loop.py and test_rescale.py use them too.
"""

import json
import os
import re
import shutil

from weirtest import REPO, check

BUILD = os.path.join(REPO, "build")
DEFAULTS = {
    "SESSIONS_PLUGIN": "examples/plugins/libsessions.so",
    "SAMPLE_PLUGIN": "examples/plugins/libsample.so",
    "SAMPLE_V1_PLUGIN": "tests/plugins/libsample_v1.so",
    "SAMPLE_V2_PLUGIN": "tests/plugins/libsample_v2.so",
    "FAILING_PLUGIN": "tests/plugins/libfailing.so",
    "ABI_MISMATCH_PLUGIN": "tests/plugins/libabi_mismatch.so",
    "WINDOWS_PLUGIN": "tests/plugins/libwindows.so",
    "V1_TALLY_PLUGIN": "tests/plugins/libv1_tally.so",
    "TIMERS_PLUGIN": "tests/plugins/libtimers.so",
    "WMPROBE_PLUGIN": "tests/plugins/libwmprobe.so",
}
EXAMPLES = os.path.join(REPO, "examples", "plugins")


def plugin(h, var, name=None):
    """Copies the plugin named by environment variable var into the
    harness directory (as name, default its own file name); returns the
    copy's path."""
    src = os.environ.get(var) or os.path.join(BUILD, DEFAULTS[var])
    check(os.path.exists(src), "plugin %s not found at %s (build first, or "
          "set %s)" % (var, src, var))
    dest = h.path(name or os.path.basename(src))
    shutil.copy2(src, dest)
    return dest


def api_version():
    """WEIR_API_VERSION from weir.h."""
    with open(os.path.join(REPO, "api", "include", "weir",
                           "weir.h")) as f:
        m = re.search(r"^#define WEIR_API_VERSION (\d+)", f.read(), re.M)
    check(m, "no WEIR_API_VERSION in weir.h")
    return int(m.group(1))


def example_job(name, **changes):
    """examples/plugins/NAME.json with the top-level sections updated
    (dict.update per section)."""
    with open(os.path.join(EXAMPLES, name + ".json")) as f:
        job = json.load(f)
    for section, fields in changes.items():
        if isinstance(job.get(section), dict):
            job[section].update(fields)
        else:
            job[section] = fields
    return job
