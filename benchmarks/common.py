"""Shared by the benchmarks: the machine description and the environment's interpreter."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENV = Path(os.environ.get("TFM_ENV", ROOT / ".venv-tf"))
PYTHON = str(ENV / "bin" / "python")


def machine() -> str:
    model = ""
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    import psutil

    return "%s %s, %s, %d logical CPUs, %.0f GiB; env %s" % (
        platform.system(), platform.machine(), model, psutil.cpu_count(), psutil.virtual_memory().total / 2**30, ENV)


def cv(values) -> float:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def timed(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> float:
    """Seconds one command takes to succeed (it must)."""
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - start
