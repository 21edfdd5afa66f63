"""What is installed in an environment, from its distributions' metadata, without importing TensorFlow.

Run inside the environment's own interpreter: by verify's packages probe, and by ``invoke setup``
as ``python -S -m checks.probes.installed --wait NAME ...`` (one JSON line; see the end). Cheap: one
``stat`` per installed file (about 0.15 s for the 14,000 files of the cpu set), compared with the size
that the wheel's RECORD gives; a truncated or missing file is damage. A file altered without changing its size is not
caught here (that needs the RECORD hashes, seconds of reading); verify's import of TensorFlow then
fails, and its fix rebuilds the environment.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any

from checks.lockfile import canonical as canonicalize_name


def _each() -> Iterator[tuple[str, str, metadata.Distribution]]:
    """(canonical name, version, distribution) of every installed distribution."""
    for dist in metadata.distributions():
        name, version = _name_version(dist)
        if name:
            yield canonicalize_name(name), version, dist


def _name_version(dist: metadata.Distribution) -> tuple[str | None, str]:
    """Name and Version from the headers that open METADATA (the email parser behind ``dist.metadata`` reads the
    whole file, description and all: four times as long for the cpu set); an .egg-info's PKG-INFO the long way."""
    text = dist.read_text("METADATA")
    if text is None:
        meta = dist.metadata
        return meta["Name"], meta["Version"]
    found: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        found.setdefault(key.strip().lower(), value.strip())
    return found.get("name"), found.get("version", "")


def distributions() -> dict[str, str]:
    """canonical name -> version of every installed distribution."""
    return {name: version for name, version, _ in _each()}


LIMIT = 5  # files named per damaged distribution; ``damaged_count`` has how many there are


def recorded_sizes(dist: metadata.Distribution) -> list[tuple[str, int]]:
    """(path, size) of every file the distribution's RECORD lists with a size, read from RECORD itself: from
    Python 3.12 ``Distribution.files`` leaves out the files that no longer exist, which are what is looked for."""
    text = dist.read_text("RECORD") or ""
    out = []
    for line in text.splitlines():  # csv only for a quoted path (one with a comma): 14,000 rows, half the time
        row = line.rsplit(",", 2) if '"' not in line else next(csv.reader([line]), [])
        if len(row) >= 3 and row[2].strip().isdigit():
            out.append((row[0], int(row[2])))
    return out


def damaged(dist: metadata.Distribution) -> list[str]:
    """Every file of ``dist`` missing or of another size than its RECORD says. RECORD's paths are relative to the
    directory that holds the .dist-info: each is looked up from that directory's descriptor (14,000 of them)."""
    bad = []
    try:
        base = os.open(str(dist.locate_file("")), os.O_RDONLY)
    except OSError:  # no directory to look in: every file is missing
        return [path for path, _ in recorded_sizes(dist)]
    try:
        for path, size in recorded_sizes(dist):
            try:
                ok = os.stat(path, dir_fd=base).st_size == size
            except OSError:
                ok = False
            if not ok:
                bad.append(path)
    finally:
        os.close(base)
    return bad


def damaged_files(names: set[str] | None = None) -> dict[str, list[str]]:
    """For each distribution (of ``names``, or all), every file missing or of another size than RECORD says."""
    out = {}
    for name, _, dist in _each():
        bad = damaged(dist) if names is None or name in names else []
        if bad:
            out[name] = bad
    return out


def collect(names: set[str] | None = None) -> dict[str, Any]:
    """What this interpreter is (its ``sys.prefix``) and what it has installed (``completeness.Answer``), in one
    pass over the distributions."""
    installed, hurt = {}, {}
    for name, version, dist in _each():
        installed[name] = version
        bad = damaged(dist) if names is None or name in names else []
        if bad:
            hurt[name] = bad
    return {"prefix": sys.prefix, "installed": installed, "damaged": {n: f[:LIMIT] for n, f in hurt.items()},
            "damaged_count": {n: len(f) for n, f in hurt.items()}}


if __name__ == "__main__":
    # ``python -S -m checks.probes.installed --wait NAME ...`` (``completeness.Question``) starts while setup's
    # installer runs: it imports what it needs now, waits for a line, and only then adds the site directories
    # (site.main(), as a start without -S does), so it answers as an interpreter started after the install would.
    import gc

    gc.disable()  # a short-lived probe that makes no cycles: no collections while it reads 14,000 rows
    args = sys.argv[1:]
    if args[:1] == ["--wait"]:
        args = args[1:]
        if not sys.stdin.readline():  # setup went away without asking
            sys.exit(3)
    if sys.flags.no_site:
        import site

        site.main()
    print(json.dumps(collect(set(args) or None)))
    gc.freeze()  # and none at exit (0.02 s after setup's install, where it is waited for)
