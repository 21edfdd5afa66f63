"""Find and describe Python interpreters: by asking each one, never by trusting its name."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from checks import fixes, platforms, process
from checks.matrix import PYTHONS
from scripts.uvtool import find_uv, uv_env

# Run with -I -S: none of the interpreter's environment variables, user site or .pth files (one that imports
# certifi costs this machine's pyenv Python 0.05 s a start), none of which changes these three answers.
# What the interpreter is, from sys and os alone (json and platform cost 25 ms of a 45 ms answer): version as
# platform.python_version() gives it, machine and system as platform.machine() and platform.system() read them.
PROBE = ("import os, sys; u = os.uname(); print('{\"version\": \"%s\", \"machine\": \"%s\", "
         "\"system\": \"%s\"}' % (sys.version.split()[0], u[4], u[0]))")
MINORS = tuple(reversed(PYTHONS))  # newest first
# Homebrew (Apple Silicon, Intel) and python.org installs; {minor} is 3.12 ...
FIXED_PLACES = ("/opt/homebrew/bin/python{minor}", "/usr/local/bin/python{minor}",
                "/Library/Frameworks/Python.framework/Versions/{minor}/bin/python{minor}")


class Interpreter(NamedTuple):
    """A Python as it describes itself."""

    path: str
    version: str
    machine: str
    system: str

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def arch(self) -> str:
        return platforms.arch_name(self.machine)

    def describe(self) -> str:
        return "%s (CPython %s, %s)" % (self.path, self.version, self.arch)


_ASKED: dict[str, process.Started] = {}  # probes started ahead by ``ask``, by path


def ask(path: str) -> None:
    """Start ``probe(path)`` now; ``probe(path)`` reads its answer. Setup asks the interpreter it will most likely
    use before it loads the rest, so the probe (0.02 s) runs while it does; ``forget`` stops one never read."""
    if path not in _ASKED:
        _ASKED[path] = process.start([path, "-I", "-S", "-c", PROBE])


def forget() -> None:
    """Stop the probes ``ask`` started that nobody read (the plan chose another interpreter, or stopped early)."""
    while _ASKED:
        _ASKED.popitem()[1].stop()


def probe(path: str) -> Interpreter | None:
    """Run ``path`` (or read the probe ``ask`` started) and read its version and architecture; None if it does not
    answer."""
    ask(path)
    done = _ASKED.pop(path).finish(timeout=15)
    data = done.last_json()
    if not isinstance(data, dict):
        return None
    return Interpreter(path, data["version"], data["machine"], data["system"])


def current() -> str:
    """The interpreter the tools environment was made from (not the tools venv itself)."""
    if sys.prefix != sys.base_prefix:
        base = Path(sys.base_prefix) / "bin" / ("python%d.%d" % sys.version_info[:2])
        if base.exists():
            return str(base)
    return sys.executable


def candidates(environ: Mapping[str, str] = os.environ, minors: tuple[str, ...] = MINORS) -> list[str]:
    """Where a suitable Python may be: PATH, pyenv, Homebrew, python.org, uv-managed (``minors``: which X.Y,
    default the supported ones)."""
    found: list[str] = []
    path = environ.get("PATH", "")
    for minor in minors:
        exe = shutil.which("python" + minor, path=path)
        if exe:
            found.append(exe)
    pyenv_root = environ.get("PYENV_ROOT") or os.path.join(environ.get("HOME", "~"), ".pyenv")
    for minor in minors:
        found.extend(sorted(glob.glob(os.path.join(pyenv_root, "versions", minor + ".*", "bin", "python" + minor)),
                            reverse=True))
        found.extend(p.format(minor=minor) for p in FIXED_PLACES if os.path.exists(p.format(minor=minor)))
    found.extend(_uv_managed(minors))
    return list(dict.fromkeys(found))


def _uv_managed(minors: tuple[str, ...] = MINORS) -> list[str]:
    uv = find_uv()
    if not uv:
        return []
    out = []
    for minor in minors:
        done = process.run([uv, "python", "find", "--managed-python", minor], timeout=15, env=uv_env())
        if done.ok and done.stdout.strip():
            out.append(done.stdout.strip())
    return out


def find(spec: SpecifierSet, arch: str, paths: Iterable[str]) -> Interpreter | None:
    """The newest interpreter among ``paths`` whose version fits ``spec`` and whose arch is ``arch``."""
    best: Interpreter | None = None
    for path in paths:
        interp = probe(path)
        if interp and interp.arch == arch and spec.contains(interp.version):
            if best is None or _key(interp) > _key(best):
                best = interp
    return best


def _key(interp: Interpreter) -> Version:
    return Version(interp.version)


def install_fix(minor: str, env: Path) -> str:
    """The fix lines that get a Python ``minor`` (uv of the tools environment; setup finds uv's Pythons)
    and then build ``env`` with it."""
    return "\n".join([fixes.uv("python", "install", minor, why="or: brew install python@%s, or pyenv install %s"
                                 % (minor, minor)), fixes.setup(env, "--python", minor)])


def install_hint(minor: str, os_name: str) -> str:
    """The command that gets a Python ``minor`` (the preflight's fix for a missing interpreter)."""
    if os_name == "macos":
        return "brew install python@%s  # or: %s" % (minor, fixes.uv("python", "install", minor))
    return fixes.uv("python", "install", minor, why="or: pyenv install %s" % minor)
