"""What is installed in an environment, from its distributions' metadata, without importing TensorFlow.

Run inside the environment's own interpreter: by verify's packages probe, and by ``invoke setup``
as ``python -S -m checks.probes.installed --wait NAME ...`` (one JSON line; see the end). Cheap: one
``stat`` per installed file (about 0.09 s for the 14,000 files of the cpu set on one core; setup's probe
shares them with a forked copy of itself), compared with the size that the wheel's RECORD gives; a
truncated or missing file is damage. A file altered without changing its size is not caught here (that
needs the RECORD hashes, seconds of reading); verify's import of TensorFlow then fails, and its fix
rebuilds the environment.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator, Sequence
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


def recorded_sizes(dist: metadata.Distribution, lines: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """(path, size) of every file the distribution's RECORD (or ``lines`` of it) lists with a size, read from
    RECORD itself: from Python 3.12 ``Distribution.files`` leaves out the files that no longer exist, which are
    what is looked for."""
    out = []
    for line in _record_lines(dist) if lines is None else lines:  # csv only for a quoted path (one with a comma)
        row = line.rsplit(",", 2) if '"' not in line else next(csv.reader([line]), [])
        if len(row) >= 3 and row[2].strip().isdigit():
            out.append((row[0], int(row[2])))
    return out


def _record_lines(dist: metadata.Distribution) -> list[str]:
    return (dist.read_text("RECORD") or "").splitlines()


def damaged(dist: metadata.Distribution, lines: Sequence[str] | None = None) -> list[str]:
    """Every file of ``dist`` (of ``lines`` of its RECORD) missing or of another size than RECORD says. RECORD's
    paths are relative to the directory that holds the .dist-info: each is looked up from its descriptor."""
    rows = recorded_sizes(dist, lines)
    bad = []
    try:
        base = os.open(str(dist.locate_file("")), os.O_RDONLY)
    except OSError:  # no directory to look in: every file is missing
        return [path for path, _ in rows]
    try:
        for path, size in rows:
            try:
                ok = os.stat(path, dir_fd=base).st_size == size
            except OSError:
                ok = False
            if not ok:
                bad.append(path)
    finally:
        os.close(base)
    return bad


def _damaged_each(part: Sequence[tuple[metadata.Distribution, Sequence[str]]]) -> list[list[str]]:
    """The damaged files among the RECORD lines given, for each distribution of ``part``, in its order."""
    return [damaged(dist, lines) for dist, lines in part]


def damaged_in(dists: Sequence[tuple[str, metadata.Distribution]], workers: int = 1) -> dict[str, list[str]]:
    """name -> damaged files of each of ``dists`` that has any (of two distributions of one name, the later).
    With ``workers`` 2 (and fork), a forked copy of this process looks at the second half of every RECORD at the
    same time: the time is one ``stat`` per file (14,000 of them, most TensorFlow's own). Only for a process
    without threads (setup's probe): a fork of one with threads may hang."""
    whole = [(dist, _record_lines(dist)) for _, dist in dists]
    if workers < 2 or not hasattr(os, "fork"):
        found = _damaged_each(whole)
    else:
        copy = _Copy([(dist, lines[len(lines) // 2:]) for dist, lines in whole])
        mine = _damaged_each([(dist, lines[:len(lines) // 2]) for dist, lines in whole])
        found = [a + b for a, b in zip(mine, copy.answer())]
    return {name: bad for (name, _), bad in zip(dists, found) if bad}


class _Copy:
    """``_damaged_each(part)`` worked out by a forked copy of this process, started now; ``answer`` reads it, or
    works it out here when the copy could not start or its answer is not whole."""

    def __init__(self, part: Sequence[tuple[metadata.Distribution, Sequence[str]]]) -> None:
        self.part, self.pid = part, 0
        try:
            self.read, write = os.pipe()
        except OSError:
            return
        try:
            self.pid = os.fork()
        except OSError:
            os.close(self.read)
            os.close(write)
            return
        if self.pid == 0:  # the copy: its answer as JSON down the pipe, then out without the parent's clean-up
            code = 1
            try:
                os.close(self.read)
                data = json.dumps(_damaged_each(part)).encode()
                while data:
                    data = data[os.write(write, data):]
                code = 0
            finally:
                os._exit(code)
        os.close(write)

    def answer(self) -> list[list[str]]:
        if self.pid <= 0:
            return _damaged_each(self.part)
        with os.fdopen(self.read, "rb") as pipe:
            text = pipe.read()  # to its end before waiting: the copy may write more than a pipe holds
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:  # SIGCHLD ignored by whoever started this process: the kernel reaped it
            pass
        try:
            found = json.loads(text)  # only a whole answer parses
        except ValueError:
            found = None
        if isinstance(found, list) and len(found) == len(self.part):
            return [list(f) for f in found]
        return _damaged_each(self.part)


def collect(names: set[str] | None = None, workers: int = 1) -> dict[str, Any]:
    """What this interpreter is (its ``sys.prefix``) and what it has installed (``completeness.Answer``), in one
    pass over the distributions; the files of ``names`` (or all) are looked at by ``workers`` processes."""
    installed, todo = {}, []
    for name, version, dist in _each():
        installed[name] = version
        if names is None or name in names:
            todo.append((name, dist))
    hurt = damaged_in(todo, workers)
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
    print(json.dumps(collect(set(args) or None, workers=min(2, os.cpu_count() or 1))), flush=True)
    os._exit(0)  # answered: no interpreter clean-up for setup to wait for (it holds no files open for writing)
