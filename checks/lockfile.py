"""Lock files read: the ``name==version`` pins of a hash-pinned lock (compared with an environment by
``checks.completeness``)."""

from __future__ import annotations

import re
from pathlib import Path


def canonical(name: str) -> str:
    """PEP 503 normalised name (``Tensorflow_CPU`` -> ``tensorflow-cpu``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock: Path) -> dict[str, str]:
    """canonical name -> version of every ``name==version`` line of a lock file."""
    return pins_in(lock.read_text(encoding="utf-8"))


def pins_in(text: str) -> dict[str, str]:
    """canonical name -> version of every ``name==version`` line of a lock file's text (extras dropped)."""
    pins = {}
    for line in text.splitlines():
        line = line.split(";")[0].strip().rstrip("\\").strip()
        if line and not line.startswith(("#", "--")) and "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name.split("[")[0].strip())] = version.strip()
    return pins
