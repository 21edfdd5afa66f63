"""Where a new environment's `invoke setup` spends its own time: each run timed from inside, the installer's time
taken out.

Each run builds a new environment from a warm cache (as ``setup_fresh``) with ``benchmarks/timeline_hook`` on
PYTHONPATH: its ``sitecustomize`` logs, in the setup process only, when each subprocess was started and reaped.
From that log and the run's own start and end: the start until the interpreter probe (Python, invoke, tasks.py,
the knowledge, the plan), ``uv venv``, the gap before ``uv pip sync`` (the completeness probe started,
``require_own``), ``uv pip sync``, the completeness answer after it, and the exit. Setup's own cost is the run's
wall time less its two uv commands: the same work a bare ``uv venv`` + ``uv pip sync`` does, so it is what
``setup_fresh`` compares, without the installer's own scatter (here ±0.5 s from one run to the next). A uv
command is timed from its start to its reaping by setup, so the few milliseconds of starting and reaping it
count as uv's. (Earlier runs traced with ``strace -f``; a tracer slows a forked process, which setup's
completeness probe now starts, by 0.3 s, so the figures are no longer taken that way.)

With a second checkout (another commit, its own .tools/), its setup is timed in the same alternation.

Usage: .tools/bin/python -m benchmarks.setup_timeline [runs [OTHER_CHECKOUT]]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, machine
from benchmarks.setup_fresh import TARGET_S, bytecode_cached
from checks import knowledge
from scripts import plan as planning

HOOK = Path(__file__).resolve().parent / "timeline_hook"
PHASES = ("start to the interpreter probe", "interpreter probe to uv venv", "uv venv", "uv venv to uv pip sync",
          "uv pip sync", "completeness answer after the install", "exit")


def phases(log: Path, start: float, end: float) -> dict[str, float]:
    """Seconds per phase, and setup's own time (wall less both uv commands), from one run's subprocess log
    (``timeline_hook``) and its start and end (wall clock)."""
    done = [json.loads(line) for line in log.read_text().splitlines()]

    def one(*marks: str) -> tuple[float, float]:
        row = next(r for r in done if all(m in r["argv"] for m in marks))
        return row["start"] - start, row["end"] - start

    probe, venv, sync = one("-I", "-S"), one("venv", "--allow-existing"), one("pip", "sync")
    child = one("-S", "-m", "checks.probes.installed")
    out = dict(zip(PHASES, (
        probe[0], venv[0] - probe[0], venv[1] - venv[0], sync[0] - venv[1], sync[1] - sync[0], child[1] - sync[1],
        (end - start) - child[1])))
    out["setup's own time (wall less uv)"] = (end - start) - out["uv venv"] - out["uv pip sync"]
    return out


def timed(checkout: Path, env: Path, log: Path) -> dict[str, float]:
    """One fresh setup of ``checkout`` into ``env`` (its default interpreter, as a user runs it: the probe of it
    starts early), its subprocesses logged; its phases."""
    os.sync()
    log.write_text("")
    run_env = dict(os.environ, SETUP_TIMELINE_LOG=str(log), PYTHONPATH=os.pathsep.join(
        filter(None, [str(HOOK), os.environ.get("PYTHONPATH")])))
    start = time.time()
    subprocess.run([str(checkout / ".tools" / "bin" / "invoke"), "setup", "--env", str(env)],
                   cwd=checkout, check=True, capture_output=True, env=run_env)
    end = time.time()
    shutil.rmtree(env)
    return phases(log, start, end)


def report(title: str, rows: list[dict[str, float]]) -> float:
    """Print each phase's median and values; return the median of setup's own time."""
    print(title)
    for name in rows[0]:
        values = [r[name] for r in rows]
        print("  %-40s median %.3f s  %s" % (name, statistics.median(values), " ".join("%.3f" % v for v in values)))
    return statistics.median(r["setup's own time (wall less uv)"] for r in rows)


def main(runs: int = 7, other: Path | None = None) -> None:
    p = planning.plan(knowledge.load(), env=str(Path(tempfile.gettempdir()) / "never-made"), say=lambda _: None)
    print("machine: %s" % machine())
    print("lock %s, Python %s; the suite's bytecode %s" % (
        p.lock.relative_to(ROOT), p.interpreter.version, "cached" if bytecode_cached() else "not cached"))
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    rows: list[dict[str, float]] = []
    others: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env, log = Path(tmp) / "env", Path(tmp) / "log"
        for i in range(runs + 1):  # the first run warms the cache and is not counted
            row = timed(ROOT, env, log)
            other_row = timed(other, env, log) if other is not None else None
            if i:
                rows.append(row)
                if other_row is not None:
                    others.append(other_row)
    own = report("this checkout (%s):" % ROOT, rows)
    if others:
        print("setup's own time of %s: median %.2f s" % (other, report("%s:" % other, others)))
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    print("setup's own time: median %.2f s; target <= %.1f s: %s" % (own, TARGET_S, "MET" if own <= TARGET_S
                                                                       else "NOT MET"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7, Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None)
