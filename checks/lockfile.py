"""Lock files and installed distributions, compared: which pins an environment misses or has at another version.

Pure reading (no installer, no TensorFlow): used by setup (is a project environment complete?) and by the
packages probe inside the environment (does it still match the lock it was built from?).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path


def canonical(name: str) -> str:
    """PEP 503 normalised name (``Tensorflow_CPU`` -> ``tensorflow-cpu``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a lock file."""
    return pins_in(lock.read_text(encoding="utf-8"))


def pins_in(text: str) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a lock file's text."""
    pins = {}
    for line in text.splitlines():
        line = line.split(";")[0].strip().rstrip("\\").strip()
        if line and not line.startswith(("#", "--")) and "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def installed_in(env: Path) -> dict[str, str]:
    """name -> version of the distributions in an environment's site-packages, read from the
    ``name-version.dist-info`` directory names (no interpreter started)."""
    found = {}
    for info in env.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].rpartition("-")
        if name:
            found[canonical(name)] = version
    return found


def drift(pins: Mapping[str, str], installed: Mapping[str, str]) -> list[str]:
    """Each pin the environment misses or holds at another version, as a readable phrase (empty: it matches)."""
    have = {canonical(n): v for n, v in installed.items()}
    out = []
    for name, version in sorted(pins.items()):
        got = have.get(canonical(name))
        if got is None:
            out.append("%s %s is missing" % (name, version))
        elif got != version:
            out.append("%s %s is installed, the lock pins %s" % (name, got, version))
    return out
