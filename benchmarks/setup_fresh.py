"""A new environment from a warm cache: `invoke setup` against the bare installer doing the same work, side by side.

Bare: `uv venv E` then `uv pip sync --python E/bin/python --require-hashes LOCK` (the two commands a careful user
would type). Setup: `invoke setup --env E` from the same lock and interpreter (its default one, as a user runs it),
which also plans, checks the index, refuses an interpreter that does not answer as the environment, asks the
environment whether it is complete before it writes the marker, and prints its steps. Target: setup adds at most
0.5 s to the bare installer. The runs alternate (bare, setup, bare, ...) so that load on the machine falls on both
alike; with a second checkout (another commit, its own .tools/), its setup joins the alternation as a third column.
The verdict is the median of the rounds' own differences (setup less the bare installer run just before it: load
that drifts cancels out), with an approximate 90 % bootstrap interval: met when the whole interval is under the
target, not met when the whole of it is over, and "at the target" when it spans it. uv's own time scatters by
about 0.5 s from run to run, so the difference of the two columns' medians (also printed) moves by 0.3 s between
series. ``setup_timeline`` measures setup's own time without that scatter.

Usage: .tools/bin/python -m benchmarks.setup_fresh [runs [OTHER_CHECKOUT]]
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import common
from benchmarks.common import ROOT, machine
from checks import knowledge
from scripts import plan as planning

UV = str(ROOT / ".tools" / "bin" / "uv")
INVOKE = str(ROOT / ".tools" / "bin" / "invoke")
TARGET_S = 0.5


def timed(argv: list[str], cwd: Path = ROOT) -> float:
    os.sync()  # the previous run's files (and their removal) are on disk: no run pays for the one before
    return common.timed(argv, cwd)


def interval(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """An approximate 90 % interval of the median of ``values``: percentiles 5 and 95 of the medians of
    ``resamples`` resamplings (coarse for 15-20 values, whose median takes few distinct values)."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[resamples * 5 // 100], medians[resamples * 95 // 100 - 1]


def verdict(low: float, high: float, target: float = TARGET_S) -> str:
    """MET when the whole interval is at or under ``target``, NOT MET when the whole of it is over, else AT THE
    TARGET."""
    return "MET" if high <= target else "NOT MET" if low > target else "AT THE TARGET (the interval spans it)"


def bytecode_cached() -> bool:
    """Every module of the suite has its bytecode beside it, newer than its source (Python then reads it, also
    where PYTHONDONTWRITEBYTECODE keeps it from writing any)."""
    import importlib.util

    sources = [ROOT / "tasks.py", *(ROOT / "checks").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]
    for src in sources:
        pyc = Path(importlib.util.cache_from_source(str(src)))
        if not pyc.exists() or pyc.stat().st_mtime < src.stat().st_mtime:
            return False
    return True


def main(runs: int = 5, other: Path | None = None) -> None:
    p = planning.plan(knowledge.load(), env=str(Path(tempfile.gettempdir()) / "never-made"), say=lambda _: None)
    print("machine: %s" % machine())
    print("lock %s, Python %s (%s)" % (p.lock.relative_to(ROOT), p.interpreter.version, p.interpreter.path))
    print("the suite's own modules: %s" % ("bytecode cached (make setup compiles it)" if bytecode_cached() else
                                           "compiled from source on every run (PYTHONDONTWRITEBYTECODE is set)"))
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    bare, setup, setup_other = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs + 1):  # the first pair warms the cache and is not counted
            env = Path(tmp) / "bare"
            b = timed([UV, "venv", "-q", "--python", p.interpreter.path, str(env)]) + timed(
                [UV, "pip", "sync", "-q", "--python", str(env / "bin" / "python"), "--require-hashes",
                 "--only-binary", ":all:", str(p.lock)])
            shutil.rmtree(env)
            env = Path(tmp) / "setup"
            s = timed([INVOKE, "setup", "--env", str(env)])  # its default interpreter: p's, as a user runs it
            shutil.rmtree(env)
            if other is not None:
                o = timed([str(other / ".tools" / "bin" / "invoke"), "setup", "--env", str(env)], cwd=other)
                shutil.rmtree(env)
                if i:
                    setup_other.append(o)
            if i:
                bare.append(b)
                setup.append(s)
    mb, ms = statistics.median(bare), statistics.median(setup)
    print("bare uv venv + uv pip sync: median %.2f s  %s" % (mb, ["%.2f" % v for v in bare]))
    print("invoke setup:               median %.2f s  %s" % (ms, ["%.2f" % v for v in setup]))
    if setup_other:
        rounds = [o - b for o, b in zip(setup_other, bare)]
        print("invoke setup of %s: median %.2f s  %s" % (other, statistics.median(setup_other),
                                                         ["%.2f" % v for v in setup_other]))
        print("  per round, it adds: median %.2f s (90%% interval %.2f-%.2f)  %s" % (
            statistics.median(rounds), *interval(rounds), ["%.2f" % v for v in rounds]))
    paired = [s - b for s, b in zip(setup, bare)]  # each round's own difference: load that drifts cancels out
    adds, (low, high) = statistics.median(paired), interval(paired)
    print("per round, setup - bare: median %.2f s (90%% interval %.2f-%.2f)  %s" % (
        adds, low, high, ["%.2f" % v for v in paired]))
    print("difference of the medians: %.2f s (%.2fx)" % (ms - mb, ms / mb))
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    print("setup adds %.2f s per round (90%% interval %.2f-%.2f); target <= %.1f s: %s" % (
        adds, low, high, TARGET_S, verdict(low, high)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None)
