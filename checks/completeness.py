"""One meaning of complete, for setup and verify alike: the marker names the lock, and every locked
distribution is installed at its locked version with its files intact (``checks.probes.installed``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from checks import lockfile


def lock_pins(*locks: Path | None) -> dict[str, str]:
    """The pins of one or more locks (a plugin built at install time has a second one)."""
    return {n: v for lock in locks if lock is not None for n, v in lockfile.pinned(lock).items()}


@dataclass(frozen=True)
class Drift:
    """How an environment departs from its lock (extra distributions are the user's and not counted)."""

    missing: dict[str, str] = field(default_factory=dict)                # name -> locked version
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)    # name -> (installed, locked)
    damaged: dict[str, Sequence[str]] = field(default_factory=dict)      # name -> files missing or resized
    damaged_count: dict[str, int] = field(default_factory=dict)          # name -> how many (damaged names a few)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.damaged)

    def describe(self) -> list[str]:
        """One phrase per kind of departure, e.g. ``missing: numpy==2.1.3``."""
        out = []
        if self.missing:
            out.append("missing: " + ", ".join("%s==%s" % kv for kv in sorted(self.missing.items())))
        if self.changed:
            out.append("other versions: " + ", ".join("%s %s (locked %s)" % (n, have, want)
                                                      for n, (have, want) in sorted(self.changed.items())))
        if self.damaged:
            out.append("damaged files: " + ", ".join("%s (%s)" % (n, files_phrase(files, self.damaged_count.get(n)))
                                                     for n, files in sorted(self.damaged.items())))
        return out

    def pin_phrases(self) -> list[str]:
        """One phrase per pin the environment misses or holds at another version (verify's ``environment.lock``)."""
        return sorted(["%s %s is missing" % kv for kv in self.missing.items()]
                      + ["%s %s is installed, the lock pins %s" % (n, have, want)
                         for n, (have, want) in self.changed.items()])

    def to_json(self) -> dict[str, object]:
        return {"missing": self.missing, "changed": {n: list(v) for n, v in self.changed.items()},
                "damaged": {n: list(f) for n, f in self.damaged.items()}, "damaged_count": dict(self.damaged_count)}


def files_phrase(files: Sequence[str], count: int | None = None, shown: int = 2) -> str:
    """``a, b and 10,603 more``: the first ``shown`` of ``files``, and how many of ``count`` (all there are) not."""
    more = max(count if count is not None else len(files), len(files)) - min(shown, len(files))
    return ", ".join(files[:shown]) + (f" and {more:,} more" if more > 0 else "")


def same(a: str, b: str) -> bool:
    """Equal versions (``1.0`` is ``1.0.0``); strings compared where one is not a version."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def drift(locked: Mapping[str, str], installed: Mapping[str, str],
          damaged: Mapping[str, Sequence[str]] | None = None, damaged_count: Mapping[str, int] | None = None) -> Drift:
    """Compare the installed distributions (``checks.probes.installed``) with the lock's pins."""
    missing = {n: v for n, v in locked.items() if n not in installed}
    changed = {n: (installed[n], v) for n, v in locked.items() if n in installed and not same(installed[n], v)}
    hurt: dict[str, Sequence[str]] = {n: list(f) for n, f in (damaged or {}).items() if n in locked}
    counts = {n: c for n, c in (damaged_count or {}).items() if n in hurt}
    return Drift(missing, changed, hurt, counts)
