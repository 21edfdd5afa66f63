"""Setup's preflight probes on the Mac: one ``process.run`` per need (the rules are in ``checks.preflight``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Callable

from checks import process
from checks.preflight import Need

Run = Callable[..., process.Completed]


def probe(wanted: Sequence[Need], run: Run = process.run) -> dict[str, dict[str, Any]]:
    """Run each need's probe command. SYSTEM_VERSION_COMPAT is left out so that sw_vers reports the real macOS
    (with it set, macOS 11+ reports 10.16)."""
    env = {k: v for k, v in os.environ.items() if k != "SYSTEM_VERSION_COMPAT"}
    return {n.name: run(list(n.probe), timeout=30, env=env).to_json() for n in wanted if n.probe}
