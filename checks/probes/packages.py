"""Installed distributions and the environment's setup marker, read without importing TensorFlow."""

from __future__ import annotations

import json
import os
import struct
import sys
from importlib import metadata
from pathlib import Path

from checks.facts import EnvironmentFacts, LockFacts, PackagesFacts
from checks.lockfile import canonical, drift, pinned
from checks.markers import MARKER, OWNER
from checks.matrix import ROOT

TENSORFLOWS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel")  # one package, four names
DISTRIBUTIONS = (*TENSORFLOWS, "tensorflow-metal", "keras", "tf-keras", "numpy", "packaging", "psutil")


def collect(prefix: str | None = None) -> PackagesFacts:
    """Versions of the distributions that matter, the Metal plugin file, and the marker."""
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env = _environment(prefix or sys.prefix)
    return {"versions": versions, "metal_plugin": _metal_plugin(), "environment": env,
            "lock": lock_state(env.get("marker")), "unmet": unmet_requirements(), "binaries": binary_arches(),
            "env": {k: os.environ[k] for k in ("TF_USE_LEGACY_KERAS",) if k in os.environ}}


def unmet_requirements() -> list[str]:
    """What ``pip check`` reports: requirements of installed distributions that are missing or off."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    installed: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed[canonicalize_name(name)] = dist
    # tensorflow-cpu and tensorflow-macos ship the same `tensorflow` package as tensorflow: a requirement on
    # one name is met by whichever the environment has (setup installs exactly one; see scripts/project.py)
    tf = next((installed[n] for n in TENSORFLOWS if n in installed), None)
    if tf is not None:
        for n in TENSORFLOWS:
            installed.setdefault(n, tf)
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


def lock_state(marker: dict | None) -> LockFacts | None:
    """This environment against the lock its setup marker names: the pins it misses or holds at another
    version (None for an environment without a marker)."""
    if not marker or not marker.get("lock"):
        return None
    path = Path(marker["lock"])
    path = path if path.is_absolute() else ROOT / path
    try:
        pins = pinned(path)
    except (OSError, UnicodeDecodeError) as exc:
        return {"path": marker["lock"], "error": "%s: %s" % (type(exc).__name__, exc)}
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
    return {"path": marker["lock"], "pinned": len(pins), "drift": drift(pins, installed)}


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
