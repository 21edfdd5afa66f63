"""The one meaning of complete, for setup, its dry run, project sync and verify alike.

An environment is complete when its interpreter answers with ``sys.prefix`` equal to the environment
(a venv that lost ``pyvenv.cfg`` answers as its base interpreter: then nothing it says is about the
environment), every locked distribution is installed at its locked version with its files intact, and
no second TensorFlow distribution sits beside the locked one. ``judge`` decides it from what the
environment's interpreter answered (``checks.probes.installed``); ``Question`` runs that probe for setup,
verify runs it in-process. Whether the marker names the lock is setup's plan (``scripts/plan.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from checks import lockfile, process
from checks.paths import ROOT, same_path


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


@dataclass(frozen=True)
class Answer:
    """What an environment's interpreter said of itself (``checks.probes.installed.collect``)."""

    prefix: str  # its sys.prefix
    installed: Mapping[str, str]  # canonical name -> version
    damaged: Mapping[str, Sequence[str]] = field(default_factory=dict)  # the first few files of each
    damaged_count: Mapping[str, int] = field(default_factory=dict)  # how many files each has damaged

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Answer:
        return cls(str(data["prefix"]), dict(data["installed"]), dict(data.get("damaged") or {}),
                   dict(data.get("damaged_count") or {}))


@dataclass(frozen=True)
class State:
    """Whether an environment is complete, and if not, every way it is not."""

    env: str
    answered_as: str | None  # the interpreter's sys.prefix; None: it did not run
    drift: Drift = field(default_factory=Drift)
    extra_tensorflows: tuple[str, ...] = ()  # TensorFlow distributions beside the locked one

    @property
    def own(self) -> bool:
        """The interpreter answers as the environment itself (an installer given it installs there)."""
        return self.answered_as is not None and same_path(self.answered_as, self.env)

    @property
    def ok(self) -> bool:
        return self.own and self.drift.ok and not self.extra_tensorflows

    def describe(self) -> list[str]:
        """One phrase per departure, e.g. ``missing: numpy==2.1.3``; the interpreter's answer first."""
        if self.answered_as is None:
            return ["its interpreter %s does not run" % os.path.join(self.env, "bin", "python")]
        if not self.own:
            return ["not a virtual environment: %s runs as the interpreter at %s (%s)" % (
                os.path.join(self.env, "bin", "python"), self.answered_as,
                "pyvenv.cfg is missing" if not os.path.exists(os.path.join(self.env, "pyvenv.cfg"))
                else "pyvenv.cfg does not make it a venv")]
        extra = ["a second TensorFlow distribution: %s beside the locked one" % ", ".join(self.extra_tensorflows)
                 ] if self.extra_tensorflows else []
        return extra + self.drift.describe()


def judge(env: str | os.PathLike[str], answer: Answer | None, pins: Mapping[str, str],
          tensorflows: Sequence[str]) -> State:
    """Complete or not, from what the environment's interpreter answered (None: it did not run)."""
    if answer is None:
        return State(str(env), None)
    if not same_path(answer.prefix, env):
        return State(str(env), answer.prefix)
    extra = tuple(sorted(n for n in tensorflows if n in answer.installed and n not in pins))
    return State(str(env), answer.prefix, drift(pins, answer.installed, answer.damaged, answer.damaged_count), extra)


class Question:
    """``checks.probes.installed`` in the environment's own interpreter (no TensorFlow import), started now and
    answered by ``state``: setup starts it before the install, so its interpreter's start and imports overlap the
    installer; the child adds the site directories only once asked, and answers as if started then."""

    def __init__(self, env: Path, pins: Mapping[str, str], tensorflows: Sequence[str]) -> None:
        self.env, self.pins, self.tensorflows = env, dict(pins), tuple(tensorflows)
        python = env / "bin" / "python"
        names = sorted(set(pins) | set(tensorflows))
        run_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.started = process.start([str(python), "-S", "-m", "checks.probes.installed", "--wait", *names],
                                     env=run_env, stdin=True) if python.exists() else None

    def state(self) -> State:
        """``judge`` over what the interpreter answers now (once)."""
        done = self.started.finish(timeout=120, input="\n") if self.started else None
        data = done.last_json() if done else None
        answer = Answer.from_json(data) if isinstance(data, dict) and "prefix" in data else None
        return judge(self.env, answer, self.pins, self.tensorflows)

    def drop(self) -> None:
        """Not asked after all (a step failed): stop the waiting interpreter."""
        if self.started:
            self.started.stop()


def state_of(env: Path, pins: Mapping[str, str], tensorflows: Sequence[str], asked: Question | None = None) -> State:
    """``judge`` over what ``env``'s interpreter answers now (``asked``: the same question, started earlier)."""
    return (asked or Question(env, pins, tensorflows)).state()
