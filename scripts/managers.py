"""Environment managers: create an environment and install a lock file into it, hashes required.

uv (fast), stdlib venv + pip, and conda / mamba / micromamba (Python from conda-forge, the lock through pip).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from checks import fixes, process
from checks.diagnose import Signature, diagnose, errors
from checks.errors import StepFailed, UsageError
from scripts.environment import python_of
from scripts.interpreters import probe
from scripts.network import pip_env
from scripts.uvtool import find_uv, require_uv, uv_env

MANAGERS = ("auto", "uv", "venv", "conda")
CONDA_TOOLS = ("micromamba", "mamba", "conda")


def conda_tool() -> str | None:
    return next((shutil.which(t) for t in CONDA_TOOLS if shutil.which(t)), None)


NO_CONDA = ("--manager conda: none of %s is on PATH; to get one, install Miniforge "
            "(https://github.com/conda-forge/miniforge) or micromamba (`brew install micromamba` on a Mac) and open a "
            "new shell" % ", ".join(CONDA_TOOLS))


def require_conda() -> str:
    tool = conda_tool()
    if tool is None:
        raise UsageError(NO_CONDA)
    return tool


def resolve(name: str, env: Path | None = None) -> str:
    """``auto`` becomes uv when available, else venv; an unavailable manager is a usage error (its fix builds ``env``
    with another manager)."""
    if name not in MANAGERS:
        raise UsageError("unknown manager %r: choose one of %s" % (name, ", ".join(MANAGERS)))
    if name == "auto":
        return "uv" if find_uv() else "venv"
    if name == "uv" and not find_uv():
        raise UsageError("--manager uv: uv is not installed", fix="make tools  # installs it into .tools/")
    if name == "conda" and not conda_tool():
        raise UsageError(NO_CONDA, fix=fixes.setup(env, "--manager", "uv", why="builds it with uv instead, "
                                                    "which needs no conda") if env is not None else None)
    return name


def run_installer(argv: Sequence[str], signatures: Sequence[Signature], env: Mapping[str, str] | None = None) -> None:
    """Run an installer through ``process.stream``; a failure is a StepFailed with its known diagnosis."""
    done = process.stream(argv, env=env, interrupted="interrupted: the environment is incomplete")
    if not done.ok:
        found = errors(diagnose(done.stdout, signatures))
        cause = " Cause: %s What helps: %s" % (found[0].cause, found[0].fix) if found else ""
        tail = done.stdout.splitlines()[-8:] or ([done.error] if done.error else [])
        raise StepFailed("`%s` failed with exit code %s.%s%s" % (
            " ".join(argv[:3]), done.returncode, cause, "\n" + "\n".join(tail) if tail else ""))


def create(manager: str, env: Path, python: str, signatures: Sequence[Signature]) -> None:
    """Create the environment (the directory already holds only the owner file)."""
    if manager == "uv":
        run_installer([require_uv(), "venv", "--allow-existing", "--no-project", "--python", python, str(env)],
                      signatures, env=uv_env())
    elif manager == "venv":
        run_installer([python, "-m", "venv", str(env)], signatures)
    else:
        interp = probe(python)
        if interp is None:
            raise UsageError("--python %s: not a working Python interpreter" % python)
        run_installer([require_conda(), "create", "--yes", "--prefix", str(env), "-c", "conda-forge",
                       "python=%s" % interp.minor, "pip"], signatures)


def install_argv(manager: str, python: str, lock: Path, uv: str = "uv") -> list[str]:
    """The command that installs exactly the lock file, every file checked against its sha256 (wheels only)."""
    if manager == "uv":
        return [uv, "pip", "sync", "--python", python, "--require-hashes", "--only-binary", ":all:", str(lock)]
    return [python, "-m", "pip", "install", "--require-hashes", "--no-deps", "--only-binary", ":all:",
            "--no-input", "--no-compile", "-r", str(lock)]


def build_argv(manager: str, python: str, lock: Path, flags: Sequence[str], uv: str = "uv") -> list[str]:
    """The command that builds a plugin from its sdist (pinned by sha256 in ``lock``) against the environment's
    TensorFlow, with the plugin's own ``flags`` (--no-build-isolation --no-deps), verbose so the build's output
    shows, and without the installer's cache, which could hold a wheel built against another TensorFlow."""
    if manager == "uv":
        return [uv, "pip", "install", "--python", python, "--require-hashes", *flags, "--no-cache", "--verbose",
                "-r", str(lock)]
    return [python, "-m", "pip", "install", "--require-hashes", *flags, "--no-cache-dir", "--no-input",
            "--verbose", "-r", str(lock)]


def install(manager: str, env: Path, lock: Path, signatures: Sequence[Signature]) -> None:
    """Install exactly the lock file, every file checked against its sha256."""
    uv = require_uv() if manager == "uv" else "uv"
    run_installer(install_argv(manager, str(python_of(env)), lock, uv), signatures,
                  env=uv_env() if manager == "uv" else pip_env())


def build(manager: str, env: Path, lock: Path, flags: Sequence[str], signatures: Sequence[Signature]) -> None:
    """Build and install a plugin sdist against the TensorFlow already in ``env``; its output streams."""
    uv = require_uv() if manager == "uv" else "uv"
    run_installer(build_argv(manager, str(python_of(env)), lock, flags, uv), signatures,
                  env=uv_env() if manager == "uv" else pip_env())


def repair(manager: str, env: Path, lock: Path, reinstall: Sequence[str], signatures: Sequence[Signature],
           fresh: bool = False) -> None:
    """Install the lock into an existing environment in place: missing and other-version distributions are
    replaced by the locked ones (hashes required), ``reinstall`` ones rewritten; the user's extras stay.
    ``fresh``: not from uv's cache (on Linux uv hard-links files from its cache, so a file edited in the
    environment can be the cache's own file, edited too)."""
    py = str(python_of(env))
    if manager == "uv":
        argv = [require_uv(), "pip", "install", "--python", py, "--require-hashes", "--no-deps", "--only-binary",
                ":all:", "-r", str(lock)] + (["--no-cache"] if fresh else [])
        for name in reinstall:
            argv += ["--reinstall-package", name]
        run_installer(argv, signatures, env=uv_env())
    else:
        run_installer([py, "-m", "pip", "install", "--require-hashes", "--no-deps", "--only-binary", ":all:",
                       "--no-input", "--no-compile", "-r", str(lock)] + (["--force-reinstall"] if reinstall else []),
                      signatures, env=pip_env())
