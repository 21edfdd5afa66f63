"""Environment managers: create an environment and install a lock file into it, hashes required.

uv (fast; bytecode compiled with --compile-bytecode), stdlib venv + pip (pip compiles bytecode
itself), and conda / mamba / micromamba (Python from conda-forge, the lock through pip).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from checks.diagnose import diagnose, errors
from scripts.environment import python_of
from scripts.errors import SetupError, usage
from scripts.interpreters import probe
from scripts.uvtool import find_uv, uv_env

MANAGERS = ("auto", "uv", "venv", "conda")
CONDA_TOOLS = ("micromamba", "mamba", "conda")


def conda_tool() -> str | None:
    return next((shutil.which(t) for t in CONDA_TOOLS if shutil.which(t)), None)


def resolve(name: str) -> str:
    """``auto`` becomes uv when available, else venv; an unavailable manager is a usage error."""
    if name not in MANAGERS:
        raise usage("unknown manager %r: choose one of %s" % (name, ", ".join(MANAGERS)))
    if name == "auto":
        return "uv" if find_uv() else "venv"
    if name == "uv" and not find_uv():
        raise usage("--manager uv: uv is not installed (`make tools` installs it into .tools/)")
    if name == "conda" and not conda_tool():
        raise usage("--manager conda: none of %s is on PATH" % ", ".join(CONDA_TOOLS))
    return name


def stream(argv: Sequence[str], env: dict | None = None) -> list[str]:
    """Run an installer, showing its output; return its last lines.

    The installer stays in our process group, so a Ctrl-C reaches it and a kill of the group takes it
    down too. On a terminal it writes there directly (its own progress bars); elsewhere its output is
    passed through line by line. Ctrl-C or SIGTERM stop it and raise SetupError(130).
    """
    tty = sys.stderr.isatty()
    proc = subprocess.Popen(list(argv), env=env, stdin=subprocess.DEVNULL,
                            stdout=None if tty else subprocess.PIPE, stderr=None if tty else subprocess.STDOUT,
                            text=True, errors="replace")
    tail: deque[str] = deque(maxlen=40)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if proc.stdout is not None:
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                print("      | " + line.rstrip("\n"), file=sys.stderr, flush=True)
        proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        raise SetupError("interrupted: the environment is incomplete; run `invoke setup` again to repair it",
                         code=130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if proc.returncode != 0:
        found = errors(diagnose("\n".join(tail)))
        cause = " Cause: %s Fix: %s" % (found[0].cause, found[0].fix) if found else ""
        raise SetupError("`%s` failed with exit code %s.%s%s" % (
            " ".join(argv[:3]), proc.returncode, cause, "\n" + "\n".join(list(tail)[-8:]) if tail else ""))
    return list(tail)


def _raise_interrupt(signum, frame):  # SIGTERM behaves like Ctrl-C
    raise KeyboardInterrupt


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def create(manager: str, env: Path, python: str) -> None:
    """Create the environment (the directory already holds only the owner file)."""
    if manager == "uv":
        stream([find_uv(), "venv", "--allow-existing", "--no-project", "--python", python, str(env)], env=uv_env())
    elif manager == "venv":
        stream([python, "-m", "venv", str(env)])
    else:
        interp = probe(python)
        if interp is None:
            raise usage("--python %s: not a working Python interpreter" % python)
        stream([conda_tool(), "create", "--yes", "--prefix", str(env), "-c", "conda-forge",
                "python=%s" % interp.minor, "pip"])


def install(manager: str, env: Path, lock: Path) -> None:
    """Install exactly the lock file, every file checked against its sha256."""
    py = str(python_of(env))
    if manager == "uv":
        stream([find_uv(), "pip", "sync", "--python", py, "--require-hashes", "--compile-bytecode",
                "--only-binary", ":all:", str(lock)], env=uv_env())
    else:
        stream([py, "-m", "pip", "install", "--require-hashes", "--no-deps", "--only-binary", ":all:",
                "--no-input", "-r", str(lock)])
