"""The one way to write a fix: a shell command that works pasted verbatim from the repository root.

A fix runs ``.tools/bin/invoke`` (the tools environment's invoke; ``make tools`` creates it), names the
environment it is about with ``--env`` (relative to the repository root when inside it, else absolute,
quoted for the shell), and keeps any explanation after two spaces and ``# ``. Several steps are several
fix lines, one per line, in order.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.paths import ROOT, default_env

INVOKE = ".tools/bin/invoke"
UV = ".tools/bin/uv"
PYTHON = ".tools/bin/python"
PROGRAMS = (INVOKE, "make", UV, PYTHON)  # what a fix line may run (tests/test_fixes.py checks every rule's fix)


def path_word(path: str | os.PathLike[str], root: Path = ROOT) -> str:
    """``path`` as one word of a command run from the repository root (unquoted; ``command`` quotes its
    arguments): relative when inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(os.path.abspath(root)))
    except ValueError:
        return str(absolute)


def shown(path: str | os.PathLike[str], root: Path = ROOT) -> str:
    """``path_word``, quoted for the shell (fix lines, the closing lines)."""
    return shlex.quote(path_word(path, root))


def command(task: str, *args: str, env: str | os.PathLike[str] | None = None, why: str = "") -> str:
    """``.tools/bin/invoke TASK --env ENV ARGS  # WHY``; ARGS are quoted here."""
    words = [INVOKE, task] + (["--env", shown(env)] if env is not None else []) + [shlex.quote(a) for a in args]
    return " ".join(words) + ("  # " + why if why else "")


def setup(env: str | os.PathLike[str], *args: str, why: str = "") -> str:
    """Repair or rebuild ``env`` from its lock: ``invoke setup --env ENV`` (plus ``--force`` etc.)."""
    return command("setup", *args, env=env, why=why)


def requirements_args(files: Sequence[str | os.PathLike[str]]) -> list[str]:
    """``--requirements FILE`` for each of a project's requirement files, as setup's options."""
    return [a for f in files for a in ("--requirements", path_word(f))]


def project_args(marker: Mapping[str, Any] | None) -> list[str]:
    """``--requirements FILE`` for each requirement file of the project an environment was built with (its
    marker's ``project``): a fix that repairs or rebuilds such an environment without them drops its packages."""
    project: Mapping[str, Any] = (marker or {}).get("project") or {}
    files: list[str] = project.get("requirements") or []
    return requirements_args(files)


def env_of(facts: Mapping[str, Any]) -> str:
    """The environment the facts describe: the probe's prefix, else the interpreter's ``bin/..``."""
    prefix = ((facts.get("packages") or {}).get("environment") or {}).get("prefix")
    if prefix and prefix != "?":
        return str(prefix)
    exe = (facts.get("system") or {}).get("python_executable") or ".venv-tf/bin/python"
    return str(Path(exe).parent.parent)


def repair(facts: Mapping[str, Any], *args: str, why: str = "") -> str:
    """The setup command that repairs the environment the facts describe. One that ``invoke setup`` did not
    make is not setup's to change: then the fix builds the default environment instead."""
    packages = facts.get("packages") or {}
    env = packages.get("environment") or {}
    if env and not env.get("owned") and not env.get("marker") and not packages.get("not_recorded"):
        backend = (facts.get("backend") or {}).get("name") or "tensorflow"  # Keras on torch: .venv-torch
        return setup(default_env(backend), *[a for a in args if a != "--force"],
                     *(["--backend", backend] if backend != "tensorflow" else []),
                     why="a fresh environment from the lock; %s was not made by invoke setup" % env.get("prefix",
                                                                                                    "this one"))
    return setup(env_of(facts), *args, *project_args(env.get("marker")), why=why)


def uninstall(facts: Mapping[str, Any], name: str, why: str = "") -> str:
    """Remove distribution ``name`` from the environment the facts describe, with the tools' uv pointed at that
    environment (its interpreter and ``--prefix``): setup's environments have no pip, and a setup run keeps
    what its lock does not list. One that setup did not make is not setup's to change: ``repair`` instead."""
    env = ((facts.get("packages") or {}).get("environment") or {})
    if not (env.get("owned") or env.get("marker")):
        return repair(facts, why=why)
    prefix = env_of(facts)
    return uv("pip", "uninstall", "--python", path_word(Path(prefix) / "bin" / "python"), "--prefix",
              path_word(prefix), name, why=why)


def lines(fix: str) -> list[str]:
    """The fix lines of one result's fix (several steps: one per line)."""
    return [ln for ln in fix.splitlines() if ln.strip()]


def _line(words: Sequence[str], why: str) -> str:
    return " ".join(shlex.quote(w) for w in words) + ("  # " + why if why else "")


def make(target: str, why: str = "") -> str:
    """``make TARGET  # WHY``: the tools environment (``tools``) or the developer tools (``dev``)."""
    return _line(["make", target], why)


def uv(*args: str, why: str = "") -> str:
    """``.tools/bin/uv ARGS  # WHY`` (the tools environment's uv)."""
    return _line([UV, *args], why)


def python_module(module: str, *args: str, why: str = "") -> str:
    """``.tools/bin/python -m MODULE ARGS  # WHY``: one of the suite's scripts, with the tools' interpreter."""
    return _line([PYTHON, "-m", module, *args], why)
