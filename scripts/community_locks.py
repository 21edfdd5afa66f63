"""Hash-pinned locks for the community pair (TensorFlow 2.21 + tensorflow-metal-plugin), two per Python.

The plugin is an sdist compiled against the TensorFlow already installed, without build isolation, so:

- ``envs/locks/community/metal-community-macos-arm64-pyX.Y.txt``: step 1, the TensorFlow set plus the
  plugin's build requirements (its pyproject.toml: setuptools>=64, wheel), resolved by uv for macOS arm64;
- ``envs/locks/community/metal-community-plugin-macos-arm64-pyX.Y.txt``: step 2, the sdist pinned by its
  sha256, installed with ``--no-build-isolation --no-deps`` (its one dependency, tensorflow==2.21.*, is step 1's).

The Pythons are the cpXY tags of TensorFlow's macOS arm64 wheels within the plugin's Requires-Python. They live in
their own folder so that `invoke lock`, which prunes envs/locks/*.txt to the matrix, leaves them alone.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from packaging.specifiers import SpecifierSet

from checks import abi, fixes, platforms, process
from checks.errors import StepFailed
from checks.matrix import Target
from checks.paths import LOCK_DIR
from scripts import pypi
from scripts.locks import UV_PLATFORMS, _write_atomic
from scripts.uvtool import require_uv, uv_env

COMMUNITY_DIR = LOCK_DIR / "community"
WHEEL_TAG = re.compile(r"-cp(\d)(\d+)-cp\d+-macosx_\d+_\d+_arm64\.whl$")


def supported_pythons(wheels: list[str], requires_python: str) -> list[str]:
    """X.Y of every CPython that has a macOS arm64 wheel among ``wheels`` and that Requires-Python admits."""
    spec = SpecifierSet(requires_python)
    found = {"%s.%s" % m.groups() for m in map(WHEEL_TAG.search, wheels) if m}
    return sorted((v for v in found if spec.contains(v + ".0")), key=lambda v: tuple(map(int, v.split("."))))


def lock_paths(python: str, platform: str = platforms.MAC_GPU, out_dir: Path = COMMUNITY_DIR,
               name: str = "metal-community") -> tuple[Path, Path]:
    """(step 1: TensorFlow set + build requirements, step 2: the plugin sdist) for one Python."""
    return (out_dir / ("%s-%s-py%s.txt" % (name, platform, python)),
            out_dir / ("%s-plugin-%s-py%s.txt" % (name, platform, python)))


def tensorflow_set(data: dict[str, Any], common: list[str]) -> list[str]:
    return [data["tensorflow"], *data["build_requires"], *common]


def plugin_lock_text(data: dict[str, Any], python: str, name: str = "metal-community") -> str:
    return ("# Step 2 of the community pair, %s, Python %s: install after step 1 (%s) with\n"
            "#   python -m pip install --require-hashes --no-build-isolation --no-deps -r <this file>\n"
            "# Source: %s\n%s==%s \\\n    --hash=sha256:%s\n") % (
        data["platform"], python, lock_paths(python, data["platform"])[0].name, data["url"], data["plugin"],
        data["version"], data["sha256"])


def index_files(project: str) -> list[dict[str, Any]]:
    """The files the package index lists for ``project`` (PEP 691 JSON: filename, hashes, requires-python)."""
    fix = fixes.python_module("scripts.community_locks", why="again, once PyPI answers")
    return pypi.project(project, fix)["files"]


def tensorflow_wheels(requirement: str) -> list[str]:
    """The macOS arm64 wheel names the index lists for ``name==version``."""
    name, version = requirement.split("==")
    return sorted(f["filename"] for f in index_files(name)
                  if f["filename"].startswith("%s-%s-" % (name, version)) and f["filename"].endswith("arm64.whl"))


def compile_set(requirements: list[str], python: str, out: Path, header: str, uv: str | None = None) -> None:
    """Resolve step 1 with uv for macOS arm64, every file hashed (the same flags as scripts/locks.py)."""
    uv = uv or require_uv()
    platform, macos = UV_PLATFORMS[platforms.MAC_GPU]
    env = dict(uv_env(), MACOSX_DEPLOYMENT_TARGET=macos or "")
    with tempfile.TemporaryDirectory() as tmp:
        req_in = Path(tmp) / "requirements.in"
        req_in.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        tmp_out = Path(tmp) / "lock.txt"
        proc = process.run([uv, "pip", "compile", str(req_in), "--python-platform", platform, "--python-version",
                            python, "--only-binary", ":all:", "--generate-hashes", "--no-header", "--no-annotate",
                            "-q", "-o", str(tmp_out)], timeout=900, env=env)
        if not proc.ok:
            raise StepFailed("uv could not resolve the community set for Python %s:\n%s" % (
                python, proc.stderr or proc.error))
        body = tmp_out.read_text(encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out, header + body)


def write_all(common: list[str], data: dict[str, Any], say: Callable[[str], None] = print,
              out_dir: Path = COMMUNITY_DIR, name: str = "metal-community") -> list[Path]:
    """Write both locks for each Python that has a TensorFlow wheel (``data``: the pair's lock record, made by
    ``record`` from the matrix's target and the plugin release's declaration)."""
    written = []
    for python in supported_pythons(data["tensorflow_wheels"], data["requires_python"]):
        step1, step2 = lock_paths(python, data["platform"], out_dir, name)
        inputs = tensorflow_set(data, common)
        header = ("# Step 1 of the community pair, %s, Python %s: the TensorFlow set and the plugin's build "
                  "requirements\n# (no build isolation in step 2). Made by scripts/community_locks.py.\n"
                  "# Inputs: %s\n") % (data["platform"], python, " ".join(inputs))
        compile_set(inputs, python, step1, header)
        _write_atomic(step2, plugin_lock_text(data, python, name))
        say("  %s, %s" % (step1.name, step2.name))
        written += [step1, step2]
    for stale in sorted(set(out_dir.glob("*.txt")) - set(written)):
        stale.unlink()
    return written


def from_declaration(record: dict[str, Any], tensorflow: str, wheels: list[str] | None = None) -> dict[str, Any]:
    """The lock record of a pair: the plugin release's declaration (envs/declared/, read from its sdist by
    `invoke refresh` or `invoke abi --plugin`) with the TensorFlow the target pins and that TensorFlow's macOS
    arm64 wheels (read from the index unless given)."""
    requirement = "tensorflow==%s" % tensorflow
    return {"plugin": record["kind"], "version": record["version"], "sdist": record["file"], "url": record["url"],
            "sha256": record["sha256"], "requires_python": record.get("requires_python") or "",
            "requires_dist": record["requires_dist"], "build_requires": record["build_requires"],
            "tensorflow": requirement, "platform": platforms.MAC_GPU,
            "tensorflow_wheels": tensorflow_wheels(requirement) if wheels is None else wheels}


def declaration(target: Target, declared_dir: Path | None = None) -> dict[str, Any]:
    """What the plugin release a target pins declared (the one record of the pair's sdist), or StepFailed with the
    command that records it."""
    plugin = target.plugin
    version = target.pin(plugin.name) if plugin is not None else None
    record = abi.load_declared(declared_dir or abi.DECLARED_DIR).get(plugin.name if plugin else "", {}).get(
        version or "")
    if plugin is None or record is None:
        name = plugin.name if plugin else "plugin"
        raise StepFailed("no lock generator for %s: envs/declared/ has no %s %s" % (target.label, name, version),
                         fix=fixes.command("abi", "--plugin", "%s==%s" % (name, version), why="records it"))
    return record


def write_for(target: Target, common: list[str], out_dir: Path, declared_dir: Path | None = None) -> list[Path]:
    """`invoke lock` for a matrix target whose plugin is built from its sdist: the locks of the pair the matrix
    pins, from the plugin release's declaration."""
    return write_all(common, from_declaration(declaration(target, declared_dir), target.tensorflow_pin[1]),
                     out_dir=out_dir, name=target.name or target.profile)


if __name__ == "__main__":  # python -m scripts.community_locks
    from checks.matrix import load as load_matrix
    from scripts.locks import built_targets

    m = load_matrix()
    for t in built_targets(m):
        write_for(t, list(m.common), t.lock_dir / t.locks)
