"""Hash-pinned lock files for every (profile, platform, Python) target of the matrix, made by uv.

uv resolves for another platform than its own (``--python-platform``), so the macOS locks are
made and checked on Linux (docs/facts/ci.md#locking-for-macos-on-linux).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

from packaging.version import Version

from checks import platforms, process
from checks.errors import StepFailed
from checks.lockfile import pinned
from checks.matrix import TENSORFLOW, Matrix, Target, python_versions
from checks.paths import LOCK_DIR, default_env
from scripts.uvtool import require_uv, uv_env

# matrix platform -> (uv --python-platform, MACOSX_DEPLOYMENT_TARGET: the oldest macOS the lock must serve)
UV_PLATFORMS: dict[str, tuple[str, str | None]] = {
    platforms.MAC_GPU: ("aarch64-apple-darwin", "12.0"),
    "macos-x86_64": ("x86_64-apple-darwin", "10.15"),
    "linux-x86_64": ("x86_64-manylinux_2_28", None),
    "linux-aarch64": ("aarch64-manylinux_2_28", None),
}
HEADER = "# Made by `invoke lock` from envs/matrix.json: {profile} profile, {platform}, Python {python}.\n"
BACKEND_HEADER = "# Made by `invoke lock` from envs/matrix.json: Keras on {backend}, {profile} profile, {platform}, " \
    "Python {python}.\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs(target: Target, common: tuple[str, ...]) -> list[str]:
    return list(target.requirements) + list(common)


def all_locks(m: Matrix) -> list[tuple[Target, str, Path]]:
    """Every (target, python X.Y, lock path) that uv resolves from the matrix alone. A target whose plugin is
    built from its sdist has two-step locks of its own (``scripts.community_locks``)."""
    return [(t, py, t.lock_path(py)) for t in m.targets if not (t.plugin and t.plugin.two_step)
            for py in python_versions(t.python)]


def built_targets(m: Matrix) -> list[Target]:
    """Targets whose plugin is an sdist built at install time (two locks per Python)."""
    return [t for t in m.targets if t.plugin and t.plugin.two_step]


def compile_lock(target: Target, python: str, common: tuple[str, ...], out: Path,
                 uv: str | None = None) -> None:
    """Resolve one target for one Python with uv, hashes for every file, into ``out``."""
    proc, body = uv_compile(inputs(target, common), target, python, hashes=True, uv=uv)
    if not proc.ok:
        raise StepFailed("uv could not resolve %s/%s for Python %s:\n%s" % (
            target.profile, target.platform, python, (proc.stderr or proc.error or "").strip()))
    out.parent.mkdir(parents=True, exist_ok=True)
    text = (HEADER if target.backend == TENSORFLOW else BACKEND_HEADER).format(
        backend=target.backend, profile=target.profile, platform=target.platform, python=python)
    text += "# Inputs: %s\n" % " ".join(inputs(target, common))
    _write_atomic(out, text + body)


def uv_compile(requirements: Sequence[str], target: Target, python: str, constraints: str | None = None,
               excludes: Sequence[str] = (), hashes: bool = False, files: Sequence[Path] = (),
               uv: str | None = None) -> tuple[process.Completed, str]:
    """``uv pip compile`` for one target and Python; returns the run and the lock text ('' on failure)."""
    platform, macos = UV_PLATFORMS[target.platform]
    floor = next((s.version for s in target.macos or () if s.operator == ">="), None)
    if macos and floor and Version(floor) > Version(macos):
        macos = floor  # torch's macOS wheels are tagged macosx_14_0: the lock serves the target's own floor
    env = uv_env()
    if macos:
        env["MACOSX_DEPLOYMENT_TARGET"] = macos
    with tempfile.TemporaryDirectory() as tmp:
        req_in = Path(tmp) / "requirements.in"
        req_in.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        out = Path(tmp) / "lock.txt"
        argv = [uv or require_uv(), "pip", "compile", str(req_in), *map(str, files), "--python-platform", platform,
                "--python-version", python, "--only-binary", ":all:", "--no-header", "--no-annotate", "-q",
                "-o", str(out)]
        if constraints is not None:
            (Path(tmp) / "constraints.txt").write_text(constraints, encoding="utf-8")
            argv += ["-c", str(Path(tmp) / "constraints.txt")]
        if excludes:
            (Path(tmp) / "excludes.txt").write_text("\n".join(excludes) + "\n", encoding="utf-8")
            argv += ["--excludes", str(Path(tmp) / "excludes.txt")]
        if hashes:
            argv.append("--generate-hashes")
        for folder in target.find_links:
            argv += ["--find-links", folder, "--emit-find-links"]
        done = process.run(argv, timeout=900, env=env)
        return done, out.read_text(encoding="utf-8") if done.ok and out.exists() else ""


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


CONDA_DIR = LOCK_DIR.parent / "conda"
CONDA_TEMPLATE = """\
# Made by `invoke lock` from envs/matrix.json: {profile} profile, {platform}, Python {python}.
# Python from conda-forge; the {what} set through pip, every file checked against its sha256.
#   conda env create -p ./{env} -f envs/conda/{name}   (or: invoke setup --manager conda)
name: {env_name}
channels:
  - conda-forge
dependencies:
  - python={python}
  - pip
  - pip:
    - --require-hashes
    - -r ../locks/{lock}
"""


def conda_file(target: Target, python: str, lock: Path) -> str:
    name = "%s-%s-py%s.yml" % (target.name or target.profile, target.platform, python)
    tf = target.backend == TENSORFLOW
    return CONDA_TEMPLATE.format(profile=target.profile, platform=target.platform, python=python, name=name,
                                 lock=lock.name, what="TensorFlow" if tf else "Keras and %s" % target.backend,
                                 env=default_env(target.backend).name,
                                 env_name="tf-%s" % target.profile if tf else "keras-%s" % target.name)


def write_conda(m: Matrix, out_dir: Path = CONDA_DIR) -> list[Path]:
    """One conda environment file per lock, pointing at it (conda's pip section reads `-r` lines)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for target, py, lock in all_locks(m):
        path = out_dir / ("%s-%s-py%s.yml" % (target.name or target.profile, target.platform, py))
        _write_atomic(path, conda_file(target, py, lock))
        written.append(path)
    for stale in sorted(set(out_dir.glob("*.yml")) - set(written)):
        stale.unlink()
    return written


def malformed(lock: Path) -> str | None:
    """Why a lock file cannot be installed with hashes required; None for a good one."""
    try:
        pins = pinned(lock)
        missing = unhashed(lock)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return "unreadable (%s)" % exc
    if not pins:
        return "no pinned requirement (name==version)"
    if missing:
        return "no sha256 hash for %s" % ", ".join(missing[:3])
    return None


def write_all(m: Matrix, say: Callable[[str], None] = print, out_dir: Path = LOCK_DIR) -> list[Path]:
    """(Re)write every lock file and its conda file; remove those the matrix no longer names."""
    uv = require_uv()
    written = []
    for target, py, path in all_locks(m):
        path = out_dir / path.name
        start = time.monotonic()
        compile_lock(target, py, m.common, path, uv)
        say("  %-40s %.1f s" % (path.name, time.monotonic() - start))
        written.append(path)
    for stale in sorted(set(out_dir.glob("*.txt")) - set(written)):
        say("  removed stale %s" % stale.name)
        stale.unlink()
    if out_dir == LOCK_DIR:
        write_conda(m)
    return written


def unhashed(lock: Path) -> list[str]:
    """Pinned requirements that carry no ``--hash=sha256:`` (an empty list is a good lock)."""
    missing = []
    current: str | None = None
    has_hash = False
    for raw in lock.read_text(encoding="utf-8").splitlines() + [""]:
        line = raw.strip()
        if line.startswith("--") and not line.startswith("--hash"):
            continue  # an option line (--find-links FOLDER), not a requirement
        if line and not line.startswith(("#", "--hash")) and not raw.startswith(" "):
            if current and not has_hash:
                missing.append(current)
            current, has_hash = line.split()[0], False
        elif "--hash=sha256:" in line:
            has_hash = True
        elif not line and current:
            if not has_hash:
                missing.append(current)
            current = None
    return missing
