"""Installed distributions and the environment's setup marker, read without importing TensorFlow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

try:
    from importlib import metadata
except ImportError:  # pragma: no cover - Python < 3.8
    import importlib_metadata as metadata  # type: ignore[no-redef]

from checks.markers import MARKER, OWNER

DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tensorflow-metal",
                 "keras", "tf-keras", "numpy", "packaging", "psutil")


def collect(prefix: str | None = None) -> dict[str, Any]:
    """Versions of the distributions that matter, the Metal plugin file, and the marker."""
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"versions": versions, "metal_plugin": _metal_plugin(), "environment": _environment(prefix or sys.prefix)}


def _metal_plugin() -> str | None:
    """Path of ``tensorflow-plugins/libmetal_plugin.dylib`` as installed, if present."""
    try:
        files = metadata.files("tensorflow-metal") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "libmetal_plugin.dylib":
            path = Path(str(f.locate()))
            return str(path) if path.exists() else None
    return None


def _environment(prefix: str) -> dict[str, Any]:
    root = Path(prefix)
    marker = None
    marker_error = None
    if (root / MARKER).exists():
        try:
            marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            marker_error = str(exc)
    return {"prefix": str(root), "owned": (root / OWNER).exists(), "marker": marker, "marker_error": marker_error,
            "is_venv": sys.prefix != sys.base_prefix}
