"""Installed distributions and the environment's setup marker, read without importing TensorFlow."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from checks.facts import EnvironmentFacts, LockFacts, PackagesFacts
from checks.markers import MARKER, OWNER
from checks.probes import installed

DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tensorflow-metal",
                 "keras", "tf-keras", "numpy", "packaging", "psutil")


def collect(prefix: str | None = None) -> PackagesFacts:
    """Versions of the distributions that matter, the Metal plugin file, and the marker."""
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    environment = _environment(prefix or sys.prefix)
    return {"versions": versions, "metal_plugin": _metal_plugin(), "environment": environment,
            "lock": lock_state(environment.get("marker")),
            "unmet": unmet_requirements(), "binaries": binary_arches(),
            "env": {k: os.environ[k] for k in ("TF_USE_LEGACY_KERAS",) if k in os.environ}}


def unmet_requirements() -> list[str]:
    """What ``pip check`` reports: requirements of installed distributions that are missing or off."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    installed = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed[canonicalize_name(name)] = dist
    problems = []
    for key, dist in sorted(installed.items()):
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            have = installed.get(canonicalize_name(req.name))
            if have is None:
                problems.append("%s %s requires %s, which is not installed" % (key, dist.version, req))
            elif req.specifier and not req.specifier.contains(have.version, prereleases=True):
                problems.append("%s %s requires %s, but %s is installed" % (key, dist.version, req, have.version))
    return problems


MACHO_CPU = {0x0100000C: "arm64", 0x01000007: "x86_64"}
ELF_MACHINE = {62: "x86_64", 183: "arm64"}


def file_arch(path: str) -> str | None:
    """CPU architecture of a Mach-O or ELF file from its header; 'universal' for fat Mach-O."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return None
    if head[:4] in (b"\xca\xfe\xba\xbe", b"\xbe\xba\xfe\xca"):
        return "universal"
    if head[:4] == b"\xcf\xfa\xed\xfe":  # MH_MAGIC_64, little-endian
        return MACHO_CPU.get(struct.unpack("<I", head[4:8])[0], "other")
    if head[:4] == b"\x7fELF":
        return ELF_MACHINE.get(struct.unpack("<H", head[18:20])[0], "other")
    return None


def binary_arches(per_dist: int = 2) -> dict[str, list[str]]:
    """For each distribution with native code, the architectures of its first few binaries."""
    found: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        arches: list[str] = []
        for f in dist.files or []:
            if f.suffix in (".so", ".dylib") and len(arches) < per_dist:
                arch = file_arch(str(f.locate()))
                if arch:
                    arches.append(arch)
        if arches and dist.metadata["Name"]:
            found[dist.metadata["Name"].lower()] = sorted(set(arches))
    return found


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


def lock_state(marker: dict[str, Any] | None) -> LockFacts | None:
    """The lock the marker names, its pins, and how the installed distributions depart from them."""
    if not marker or not marker.get("lock"):
        return None
    from checks import completeness
    from checks.matrix import ROOT

    path = ROOT / marker["lock"]  # shown relative to the repository, or absolute (Path keeps an absolute one)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return {"path": str(path), "error": "cannot read the lock: %s" % exc.strerror}
    pins = completeness.pins(data.decode("utf-8", "replace"))
    found = installed.collect(set(pins))
    return {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "pins": pins,
            "installed": found["installed"], "damaged": found["damaged"]}


def _environment(prefix: str) -> EnvironmentFacts:
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
