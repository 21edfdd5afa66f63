"""Setup's side of ``checks.completeness``: ask the environment's own interpreter what is installed,
the same probe verify runs (``checks.probes.installed``), and compare it with the lock."""

from __future__ import annotations

import os
from pathlib import Path

from checks import completeness, process
from checks.matrix import ROOT
from scripts.environment import python_of


def drift_of(env: Path, lock: Path, plugin_lock: Path | None = None) -> completeness.Drift | None:
    """How ``env`` departs from ``lock`` (and the lock of a plugin built at install time); None when its
    interpreter cannot answer (then it is rebuilt)."""
    pins = completeness.lock_pins(lock, plugin_lock)
    python = python_of(env)
    if not python.exists():
        return None
    run_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = process.run([str(python), "-m", "checks.probes.installed", *sorted(pins)], timeout=120, env=run_env)
    data = done.last_json()
    if not isinstance(data, dict):
        return None
    return completeness.drift(pins, data["installed"], data["damaged"], data.get("damaged_count"))
