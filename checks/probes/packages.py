"""Installed distributions and the environment's setup marker, read without importing TensorFlow."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

from checks import completeness, envlock
from checks.facts import EnvironmentFacts, LockFacts, PackagesFacts
from checks.matrix import Matrix, Plugin
from checks.paths import MARKER, OWNER, ROOT, same_path
from checks.probes import installed

OTHERS = ("keras", "tf-keras", "numpy", "packaging", "psutil")  # beside the matrix's TensorFlow and plugin names
# Settings that change what TensorFlow or a Metal plugin does without showing in the package list.
ENV_VARS = ("TF_DISABLE_METAL", "TF_METAL_SYNCHRONOUS", "TF_METAL_SKIP_VERSION_CHECK", "TF_USE_LEGACY_KERAS",
            "TF_PLUGGABLE_DEVICE_LIBRARY_PATH", "PYTHONPATH", "SYSTEM_VERSION_COMPAT", "CONDA_PREFIX",
            "CODEX_SANDBOX", "APP_SANDBOX_CONTAINER_ID")  # set by a sandbox in the processes it starts
SUITE_ROOT = str(Path(__file__).resolve().parents[2])  # invoke verify puts it first on PYTHONPATH


def collect(m: Matrix, prefix: str | None = None) -> PackagesFacts:
    """Versions of the distributions that matter (names from the matrix), the GPU plugin's file, the marker,
    and the environment against its lock (``checks.completeness``)."""
    versions: dict[str, str | None] = {}
    for name in (*m.tensorflows, *m.plugin_names, *OTHERS):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env = _environment(prefix or started_prefix())
    return {"versions": versions, "metal_plugin": _metal_plugin(m.plugins), "environment": env,
            "lock": lock_state(env, m.tensorflows), "unmet": unmet_requirements(m.tensorflows),
            "binaries": binary_arches(), "env": settings_env(os.environ), "distributions": installed_distributions()}


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


def unmet_requirements(tensorflows: Sequence[str]) -> list[str]:
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
    tf = next((installed[n] for n in tensorflows if n in installed), None)
    provided = dict(installed, **{n: tf for n in tensorflows if n not in installed}) if tf else installed
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


def lock_state(env: EnvironmentFacts, tensorflows: Sequence[str]) -> LockFacts | None:
    """This environment against the lock its setup marker names (and the lock of a plugin built at install
    time), judged by ``completeness.judge`` as setup judges it: the pins it misses or holds at another version,
    damaged files, a second TensorFlow (None for an environment without a marker)."""
    marker = env.get("marker")
    if not marker or not marker.get("lock"):
        return None
    path, plugin = (ROOT / marker[key] if marker.get(key) else None for key in ("lock", "plugin_lock"))
    assert path is not None
    try:
        pins = completeness.lock_pins(path, plugin)
    except (OSError, UnicodeDecodeError) as exc:
        return {"path": marker["lock"], "error": "%s: %s" % (type(exc).__name__, exc)}
    answer = completeness.Answer.from_json(installed.collect(set(pins)))  # what setup's probe asks, in-process
    state = completeness.judge(env["prefix"], answer, pins, tensorflows)
    return {"path": marker["lock"], "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "pinned": len(pins),
            "drift": state.drift.pin_phrases(), "damaged": {n: list(f) for n, f in state.drift.damaged.items()},
            "damaged_count": dict(state.drift.damaged_count), "extra_tensorflows": list(state.extra_tensorflows),
            "complete": state.ok}


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


def _metal_plugin(plugins: Sequence[Plugin]) -> str | None:
    """Path of the library a matrix plugin installs (``tensorflow-plugins/libmetal_plugin.dylib``), if present."""
    for plugin in plugins:
        try:
            files = metadata.files(plugin.name) or []
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            path = Path(str(f.locate()))
            if f.name == plugin.library and path.exists():
                return str(path)
    return None


def started_prefix() -> str:
    """The environment this interpreter was started from: ``sys.prefix``; or, when ``E/bin/python`` runs as its
    base interpreter because ``E`` lost its ``pyvenv.cfg``, ``E`` itself (a directory of setup's, or one laid out
    as a venv), so the checks judge the environment that was asked for and say it is no longer a venv."""
    started = Path(sys.executable).parent.parent
    if not same_path(started, sys.prefix) and ((started / OWNER).exists()
                                                              or (started / "bin" / "activate").exists()):
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
            "is_venv": sys.prefix != sys.base_prefix, "answers_as": sys.prefix,
            "setup_running": envlock.holder(root)}
