"""The closing lines of a run: after a green run, how to use the environment (activate it, its interpreter for an
editor, a Jupyter kernel); after a failure, the one command to run next.

Commands are pasted from the repository root (the environment named relative to it when inside it, else
absolute, quoted with shlex), like every fix the suite prints. The Jupyter kernel needs ipykernel in the
environment, which setup does not install: the first command adds it with the uv of ``.tools/`` (setup's
environments have no pip), held to the environment's lock file as constraints so no locked package moves;
the second registers the kernel for this user.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checks import fixes
from checks.fixes import shown
from checks.lockfile import pinned
from checks.model import Outcome, Status
from checks.paths import ROOT


def kernel_name(prefix: Path) -> str:
    """A Jupyter kernel name (letters, digits, ``-_.``) from the environment's folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", prefix.name).strip("-.").lower() or "tensorflow"


def is_environment(prefix: str = sys.prefix) -> bool:
    """A virtual environment or a conda environment (not a system or base interpreter)."""
    return prefix != sys.base_prefix or (Path(prefix) / "conda-meta").is_dir()


def trace_line(trace: dict[str, Any], root: Path = ROOT) -> str:
    """Where verify's profiler trace is, and the command (from the repository root) that opens it in TensorBoard's
    Profile tab. uvx runs TensorBoard with tensorboard-plugin-profile in a throwaway environment of its own, so the
    TensorFlow environment stays as locked; its own tensorboard (2.19) cannot start anyway, as it imports
    pkg_resources, which setuptools 82+ (84 in the locks) no longer ships (tensorflow/tensorboard#7107)."""
    if trace.get("error"):
        return "Profiler trace: %s" % trace["error"]
    return ("Profiler trace: %d matmuls and %d training step on %s in %s; open it (Profile tab) with:\n"
            "  %s --from tensorboard --with tensorboard-plugin-profile tensorboard --logdir %s" % (
                trace["reps"], trace.get("training_steps", 0), trace["device"], trace["dir"],
                shown(root / ".tools" / "bin" / "uvx", root), shown(Path(trace["dir"]), root)))


def after_green(prefix: Path, marker: dict[str, Any] | None = None, root: Path = ROOT) -> list[str]:
    """How to use the environment at ``prefix``: activate it, its interpreter, a Jupyter kernel."""
    env = shown(prefix, root)
    python = shown(prefix / "bin" / "python", root)
    conda = (prefix / "conda-meta").is_dir()
    activate = "conda activate %s" % shlex.quote(os.path.abspath(prefix)) if conda else "source %s/bin/activate" % env
    name = kernel_name(prefix)
    backend = (marker or {}).get("backend") or "tensorflow"
    display = "%s (%s)" % ("TensorFlow" if backend == "tensorflow" else "Keras on %s" % backend, prefix.name)
    register = "%s -m ipykernel install --user --name %s --display-name %s" % (python, name, shlex.quote(display))
    jupyter = _ipykernel(prefix, marker or {}, root) + [register, "then pick \"%s\" in Jupyter's kernel list"
                                                         % display]
    return ["Ready. To use this environment (commands from the repository root):",
            "  activate it:          %s" % activate,
            "  editor interpreter:   %s" % os.path.abspath(prefix / "bin" / "python"),
            "  Jupyter kernel:       %s" % jupyter[0]] + ["                        %s" % line for line in jupyter[1:]]


def _ipykernel(prefix: Path, marker: dict[str, Any], root: Path) -> list[str]:
    """The lines that put ipykernel into the environment. A project environment gets it through the project's
    requirements: setup's sync of the project lock removes whatever the requirements do not list."""
    python = shown(prefix / "bin" / "python", root)
    lock = marker.get("lock")
    lock_path = root / lock if lock else None
    files = (marker.get("project") or {}).get("requirements") or []
    if files:
        if lock_path and lock_path.is_file() and "ipykernel" in pinned(lock_path):
            return []  # the project's requirements hold it already
        args = fixes.requirements_args(files)
        return ["add ipykernel to %s (setup's sync of your project lock removes what your requirements do not "
                "list), then:" % shown(files[0], root), fixes.setup(prefix, *args)]
    uv = root / ".tools" / "bin" / "uv"
    if not uv.exists():
        return ["%s -m pip install ipykernel" % python]
    install = "%s pip install --python %s ipykernel" % (shown(uv, root), python)
    if lock_path and lock_path.is_file():
        install += " --constraint %s" % shown(lock_path, root)
    return [install]


def next_command(outcomes: Sequence[Outcome], strict: bool = False) -> str | None:
    """The one command to run next, as the run's last line: where the environment family failed, its fix (setup
    puts the environment back to its lock, which heals what the other checks saw of the drift; a rebuild is
    chosen over a repair); else the fix of the first check that failed the run (its first line)."""
    bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
    failed = [o for o in outcomes if o.result.status in bad and o.result.fix]
    ours = [o for o in failed if o.check.family == "environment"]
    chosen = sorted(ours, key=lambda o: "--force" not in (o.result.fix or ""))[:1] or failed[:1]
    if not chosen:
        return None
    line = (chosen[0].result.fix or "").splitlines()[0]
    return "next: %s" % (keep_strict(line) if strict else line)


def keep_strict(line: str) -> str:
    """A verify command that fails by --strict is run again with --strict (before its ``  # why``)."""
    verify = fixes.INVOKE + " verify"
    if not (line == verify or line.startswith(verify + " ")):
        return line
    command, sep, why = line.partition("  # ")
    words = command.split()
    return line if "--strict" in words else command.rstrip() + " --strict" + (sep + why if sep else "")
