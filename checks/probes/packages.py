"""Installed distributions and the environment's setup marker, read without importing TensorFlow."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from checks import completeness
from checks.facts import EnvironmentFacts, LockFacts, PackagesFacts
from checks.markers import MARKER, OWNER
from checks.matrix import ROOT
from checks.probes import installed

TENSORFLOWS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel")  # one package, four names
DISTRIBUTIONS = (*TENSORFLOWS, "tensorflow-metal", "tensorflow-metal-plugin", "keras", "tf-keras", "numpy", "packaging",
                 "psutil")
PLUGIN_DISTRIBUTIONS = ("tensorflow-metal", "tensorflow-metal-plugin")  # both install libmetal_plugin.dylib
# Settings that change what TensorFlow or a Metal plugin does without showing in the package list.
ENV_VARS = ("TF_DISABLE_METAL", "TF_METAL_SYNCHRONOUS", "TF_METAL_SKIP_VERSION_CHECK", "TF_USE_LEGACY_KERAS",
            "TF_PLUGGABLE_DEVICE_LIBRARY_PATH", "PYTHONPATH", "SYSTEM_VERSION_COMPAT", "CONDA_PREFIX")
SUITE_ROOT = str(Path(__file__).resolve().parents[2])  # invoke verify puts it first on PYTHONPATH


def collect(prefix: str | None = None) -> PackagesFacts:
    """Versions of the distributions that matter, the Metal plugin file, and the marker."""
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env = _environment(prefix or started_prefix())
    return {"versions": versions, "metal_plugin": _metal_plugin(), "environment": env,
            "lock": lock_state(env.get("marker")), "unmet": unmet_requirements(), "binaries": binary_arches(),
            "env": settings_env(os.environ), "distributions": installed_distributions()}


def settings_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The ENV_VARS that are set; PYTHONPATH without the suite's own root (what the user set, if anything)."""
    out = {k: environ[k] for k in ENV_VARS if k in environ}
    if "PYTHONPATH" in out:
        rest = [p for p in out["PYTHONPATH"].split(os.pathsep) if p and os.path.abspath(p) != SUITE_ROOT]
        if rest:
            out["PYTHONPATH"] = os.pathsep.join(rest)
        else:
            del out["PYTHONPATH"]
    return out


def installed_distributions() -> dict[str, str]:
    """Every installed distribution, name -> version, sorted (as ``python -m torch.utils.collect_env`` lists
    them for PyTorch), by normalised name: what the short list above leaves out can still change behaviour."""
    return dict(sorted(installed.distributions().items()))  # tensorflow_cpu and Tensorflow-CPU: tensorflow-cpu


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
    provided = dict(installed, **{n: tf for n in TENSORFLOWS if n not in installed}) if tf else installed
    problems = []
    for key, dist in sorted(installed.items()):  # only what is installed, not the names it provides
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            have = provided.get(canonicalize_name(req.name))
            if have is None:
                problems.append("%s %s requires %s, which is not installed" % (key, dist.version, req))
            elif req.specifier and not req.specifier.contains(have.version, prereleases=True):
                problems.append("%s %s requires %s, but %s is installed" % (key, dist.version, req, have.version))
    return problems


def lock_state(marker: dict | None) -> LockFacts | None:
    """This environment against the lock its setup marker names (and the lock of a plugin built at install
    time): the pins it misses or holds at another version (None for an environment without a marker)."""
    if not marker or not marker.get("lock"):
        return None
    path, plugin = (ROOT / marker[key] if marker.get(key) else None for key in ("lock", "plugin_lock"))
    assert path is not None
    try:
        pins = completeness.lock_pins(path, plugin)
    except (OSError, UnicodeDecodeError) as exc:
        return {"path": marker["lock"], "error": "%s: %s" % (type(exc).__name__, exc)}
    found = completeness.drift(pins, installed.distributions(), installed.damaged(set(pins)))
    return {"path": marker["lock"], "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "pinned": len(pins),
            "drift": found.pin_phrases(), "damaged": {n: list(f) for n, f in found.damaged.items()}}


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
    """Path of ``tensorflow-plugins/libmetal_plugin.dylib`` as installed by either plugin, if present."""
    for dist in PLUGIN_DISTRIBUTIONS:
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            path = Path(str(f.locate()))
            if f.name == "libmetal_plugin.dylib" and path.exists():
                return str(path)
    return None


def started_prefix() -> str:
    """The environment this interpreter was started from: ``sys.prefix``; or, when ``E/bin/python`` runs as its
    base interpreter because ``E`` lost its ``pyvenv.cfg`` (a setup stopped half-way), ``E`` itself if setup's
    owner file says it is ours, so the check judges the environment that was asked for."""
    started = Path(sys.executable).parent.parent
    if started != Path(sys.prefix) and (started / OWNER).exists():
        return str(started)
    return sys.prefix


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
