"""Where a run's outputs go (``--json``, ``--junit``, ``--record`` / ``invoke report --out``), checked before any
probe runs (``--trace`` too), so a bad path costs nothing and no user's file is ever overwritten.

A file output may be new, empty, or a file this suite wrote before (recognised by its first bytes: the JSON
report's ``"schema_version"`` and ``"tool": "checks"``, the JUnit report's ``<testsuites name="tf-metal-verify"``).
A bundle folder may be new, empty, or hold a bundle of ours and nothing else (``bundle.is_bundle``). The folder
that holds a new output must exist (a bundle's own folder may hold the JSON, as ``invoke report`` asks).
Anything else is a UsageError (exit 2) naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from checks import bundle
from checks.errors import UsageError

SIGNATURES = {"--json": ('"schema_version"', '"tool": "checks"'),
              "--junit": ('<testsuites name="tf-metal-verify"',)}


def written_by_us(path: Path, flag: str) -> bool:
    """True when ``path`` starts like the report ``flag`` writes (the first 512 bytes are enough)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512).decode("utf-8", errors="replace")
    except OSError:
        return False
    return all(word in head for word in SIGNATURES[flag])


def check_file(path: str, flag: str, record: str | None = None) -> None:
    """A report file: its folder exists (or is the bundle about to be made), and it is new, empty or ours."""
    target = Path(path)
    folder = Path(os.path.abspath(target)).parent
    if target.is_dir():
        raise UsageError("%s %s is a folder; give the path of a file to write" % (flag, path))
    if not folder.is_dir() and not (record and folder == Path(os.path.abspath(record))):
        raise UsageError("%s %s: the folder %s does not exist; create it or choose another path" % (flag, path,
                                                                                                   folder))
    if target.exists() and target.stat().st_size and not written_by_us(target, flag):
        raise UsageError("%s %s exists and was not written by verify; not overwriting it: remove it or choose "
                         "another path" % (flag, path))
    if folder.is_dir() and not os.access(folder, os.W_OK):
        raise UsageError("%s %s: cannot write into %s (permission denied)" % (flag, path, folder))


def check_bundle(path: str, flag: str = "--record") -> None:
    """A bundle folder: new (in an existing folder), empty, or holding only a bundle of ours."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UsageError("%s %s is a file; give a new or empty folder for the bundle" % (flag, path))
    if not target.exists():
        parent = Path(os.path.abspath(target)).parent
        if not parent.is_dir():
            raise UsageError("%s %s: the folder %s does not exist; create it or choose another path" % (
                flag, path, parent))
        return
    foreign = bundle.foreign_files(target)
    if foreign:
        raise UsageError("%s %s holds files that are not part of a bundle of ours (%s); not writing into it: "
                         "choose a new or empty folder" % (flag, path, ", ".join(foreign[:3]) +
                                                           (", ..." if len(foreign) > 3 else "")))


def check_trace(path: str) -> None:
    """A profiler trace folder (``--trace``): an existing folder (TensorBoard adds a run to it), or a new one in an
    existing folder, as for the other outputs."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UsageError("--trace %s is a file; give a folder for the trace" % path)
    parent = Path(os.path.abspath(target)).parent
    if not target.exists() and not parent.is_dir():
        raise UsageError("--trace %s: the folder %s does not exist; create it or choose another path" % (path, parent))


def check(json: str | None = None, junit: str | None = None, record: str | None = None,
          record_flag: str = "--record", trace: str | None = None) -> None:
    """Every output of a run, before it starts; the same two files never both."""
    if record:
        check_bundle(record, record_flag)
    if trace:
        check_trace(trace)
    if json:
        check_file(json, "--json", record)
    if junit:
        check_file(junit, "--junit", record)
    if json and junit and os.path.abspath(json) == os.path.abspath(junit):
        raise UsageError("--json and --junit name the same file %s" % json)
