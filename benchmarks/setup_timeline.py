"""Where a new environment's `invoke setup` spends its own time: each run traced, the installer's time taken out.

Each run builds a new environment from a warm cache (as ``setup_fresh``) under ``strace -f`` (only process starts
and exits are traced, through seccomp, so the installer runs at nearly full speed). From the trace: the start
until the interpreter probe (Python, invoke, tasks.py, the knowledge, the plan), ``uv venv``, the gap before
``uv pip sync`` (the completeness probe started, ``require_own``), ``uv pip sync``, the completeness answer after
it, and the exit. Setup's own cost is the run's wall time less its two uv commands: the same work a bare
``uv venv`` + ``uv pip sync`` does, so it is what ``setup_fresh`` compares, without the installer's own scatter
(here ±0.5 s from one run to the next). Tracing adds a little to each process start: an upper bound.

With a second checkout (another commit, its own .tools/), its setup is traced in the same alternation.

Usage: .tools/bin/python -m benchmarks.setup_timeline [runs [OTHER_CHECKOUT]]   (needs strace; Linux)
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, machine
from benchmarks.setup_fresh import TARGET_S, bytecode_cached
from checks import knowledge
from scripts import plan as planning

PHASES = ("start to the interpreter probe", "interpreter probe to uv venv", "uv venv", "uv venv to uv pip sync",
          "uv pip sync", "completeness answer after the install", "exit")


def phases(trace: Path) -> dict[str, float]:
    """Seconds per phase, and setup's own time (wall less both uv commands), from one ``strace -f -ttt`` file."""
    starts: dict[str, tuple[float, str]] = {}
    ends: dict[str, float] = {}
    first = None
    for line in trace.read_text().splitlines():
        pid, stamp, rest = line.split(None, 2)
        t = float(stamp)
        first = t if first is None else first
        if rest.startswith("execve(") and "ENOENT" not in rest:
            starts[pid] = (t - first, " ".join(re.findall(r'"([^"]*)"', rest)[2:4]))
        elif rest.startswith("+++ exited"):
            ends[pid] = t - first
    order = sorted(starts.items(), key=lambda kv: kv[1][0])
    main = order[0][0]

    def pid_of(args: str) -> str:
        return next(pid for pid, (_, a) in order if a == args)

    probe, venv, child, sync = pid_of("-I -S"), pid_of("venv --allow-existing"), pid_of("-S -m"), pid_of("pip sync")
    out = dict(zip(PHASES, (
        starts[probe][0], starts[venv][0] - starts[probe][0], ends[venv] - starts[venv][0],
        starts[sync][0] - ends[venv], ends[sync] - starts[sync][0], ends[child] - ends[sync],
        ends[main] - ends[child])))
    out["setup's own time (wall less uv)"] = ends[main] - out["uv venv"] - out["uv pip sync"]
    return out


def traced(strace: str, checkout: Path, env: Path, trace: Path, python: str) -> dict[str, float]:
    """One fresh setup of ``checkout`` into ``env``, traced; its phases."""
    os.sync()
    subprocess.run([strace, "--seccomp-bpf", "-f", "-ttt", "-e", "trace=execve", "-e", "signal=none", "-o",
                    str(trace), str(checkout / ".tools" / "bin" / "invoke"), "setup", "--env", str(env), "--python",
                    python], cwd=checkout, check=True, capture_output=True)
    shutil.rmtree(env)
    return phases(trace)


def report(title: str, rows: list[dict[str, float]]) -> float:
    """Print each phase's median and values; return the median of setup's own time."""
    print(title)
    for name in rows[0]:
        values = [r[name] for r in rows]
        print("  %-40s median %.3f s  %s" % (name, statistics.median(values), " ".join("%.3f" % v for v in values)))
    return statistics.median(r["setup's own time (wall less uv)"] for r in rows)


def main(runs: int = 7, other: Path | None = None) -> None:
    strace = shutil.which("strace")
    if strace is None:
        sys.exit("error: strace is not installed (apt-get install strace)")
    p = planning.plan(knowledge.load(), env=str(Path(tempfile.gettempdir()) / "never-made"), say=lambda _: None)
    print("machine: %s" % machine())
    print("lock %s, Python %s; the suite's bytecode %s" % (
        p.lock.relative_to(ROOT), p.interpreter.version, "cached" if bytecode_cached() else "not cached"))
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    rows: list[dict[str, float]] = []
    others: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env, trace = Path(tmp) / "env", Path(tmp) / "trace"
        for i in range(runs + 1):  # the first run warms the cache and is not counted
            row = traced(strace, ROOT, env, trace, p.interpreter.path)
            other_row = traced(strace, other, env, trace, p.interpreter.path) if other is not None else None
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
