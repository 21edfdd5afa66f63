"""Environment managers: create an environment and install a lock file into it, hashes required.

uv (fast), stdlib venv + pip, and conda / mamba / micromamba (Python from conda-forge, the lock through pip).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from checks import fixes, process
from checks.diagnose import Signature, diagnose, errors
from checks.envdir import python_of
from checks.errors import StepFailed, UsageError
from checks.paths import same_path
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
        raise UsageError("--manager uv: uv is not installed", fix=fixes.make("tools", why="installs it into .tools/"))
    if name == "conda" and not conda_tool():
        raise UsageError(NO_CONDA, fix=fixes.setup(env, "--manager", "uv", why="builds it with uv instead, "
                                                    "which needs no conda") if env is not None else None)
    return name


def run_installer(argv: Sequence[str], signatures: Sequence[Signature], env: Mapping[str, str] | None = None,
                  target: Path | None = None) -> None:
    """Run an installer through ``process.stream``; a failure is a StepFailed with its known diagnosis."""
    done = process.stream(argv, env=env, interrupted="interrupted: the environment is incomplete")
    if not done.ok:
        found = errors(diagnose(done.stdout, signatures, env=target))
        cause = " Cause: %s What helps: %s" % (found[0].cause, found[0].fix) if found else ""
        tail = done.stdout.splitlines()[-8:] or ([done.error] if done.error else [])
        raise StepFailed("`%s` failed with exit code %s.%s%s" % (
            " ".join(argv[:3]), done.returncode, cause, "\n" + "\n".join(tail) if tail else ""))


def create_argv(manager: str, env: str | Path, python: str, minor: str, uv: str = "uv",
                conda: str = "conda") -> list[str]:
    """The command that creates the environment with ``python`` (an interpreter path; ``minor`` for conda)."""
    if manager == "uv":
        return [uv, "venv", "--allow-existing", "--no-project", "--python", python, str(env)]
    if manager == "venv":
        return [python, "-m", "venv", str(env)]
    return [conda, "create", "--yes", "--prefix", str(env), "-c", "conda-forge", "python=%s" % minor, "pip"]


def create(manager: str, env: Path, python: str, minor: str, signatures: Sequence[Signature]) -> None:
    """Create the environment (the directory holds only the owner file; for conda it is empty or absent)."""
    run_installer(create_argv(manager, env, python, minor, require_uv() if manager == "uv" else "uv",
                              require_conda() if manager == "conda" else "conda"),
                  signatures, env=uv_env() if manager == "uv" else None, target=env)


def uv_target(env: str | Path) -> list[str]:
    """uv's options that point it at the environment itself: ``--prefix ENV`` installs under ENV whatever the
    interpreter answers (a venv without pyvenv.cfg answers as its base; uv caches interpreters' answers)."""
    return ["--python", str(Path(env) / "bin" / "python"), "--prefix", str(env)]


def install_argv(manager: str, env: str | Path, lock: Path, uv: str = "uv") -> list[str]:
    """The command that installs exactly the lock file, every file checked against its sha256 (wheels only)."""
    python = str(Path(env) / "bin" / "python")
    if manager == "uv":
        return [uv, "pip", "sync", *uv_target(env), "--require-hashes", "--only-binary", ":all:", str(lock)]
    return [python, "-m", "pip", "install", "--require-hashes", "--no-deps", "--only-binary", ":all:",
            "--no-input", "--no-compile", "-r", str(lock)]


def build_argv(manager: str, env: str | Path, lock: Path, flags: Sequence[str], uv: str = "uv") -> list[str]:
    """The command that builds a plugin from its sdist (pinned by sha256 in ``lock``) against the environment's
    TensorFlow, with the plugin's own ``flags`` (--no-build-isolation --no-deps), verbose so the build's output
    shows, and without the installer's cache, which could hold a wheel built against another TensorFlow."""
    python = str(Path(env) / "bin" / "python")
    if manager == "uv":
        return [uv, "pip", "install", *uv_target(env), "--require-hashes", *flags, "--no-cache", "--verbose",
                "-r", str(lock)]
    return [python, "-m", "pip", "install", "--require-hashes", *flags, "--no-cache-dir", "--no-input",
            "--verbose", "-r", str(lock)]


def require_own(env: Path) -> None:
    """Refuse to run an installer against ``env`` unless its interpreter answers with ``sys.prefix`` equal to
    ``env``: a venv that lost pyvenv.cfg runs as its base interpreter, and pip would install there."""
    done = process.run([str(python_of(env)), "-c", "import sys; print(sys.prefix)"], timeout=30)
    answered = done.stdout.strip() if done.ok else None
    if answered is None or not same_path(answered, env):
        raise StepFailed("%s answers as %s, not as the environment: no installer runs against it" % (
            python_of(env), answered or "nothing (it does not run)"))


def install(manager: str, env: Path, lock: Path, signatures: Sequence[Signature]) -> None:
    """Install exactly the lock file, every file checked against its sha256."""
    require_own(env)
    uv = require_uv() if manager == "uv" else "uv"
    run_installer(install_argv(manager, env, lock, uv), signatures, env=uv_env() if manager == "uv" else pip_env(),
                  target=env)


def build(manager: str, env: Path, lock: Path, flags: Sequence[str], signatures: Sequence[Signature]) -> None:
    """Build and install a plugin sdist against the TensorFlow already in ``env``; its output streams."""
    require_own(env)
    uv = require_uv() if manager == "uv" else "uv"
    run_installer(build_argv(manager, env, lock, flags, uv), signatures,
                  env=uv_env() if manager == "uv" else pip_env(), target=env)


def repair_argvs(manager: str, env: str | Path, lock: Path, reinstall: Sequence[str], remove: Sequence[str] = (),
                 fresh: bool = False, uv: str = "uv") -> list[list[str]]:
    """The commands that repair the environment in place: ``remove`` (a second TensorFlow distribution)
    uninstalled first; then the lock installed over what is there (hashes required), missing and other-version
    distributions replaced; the user's extras stay. ``reinstall`` (damaged distributions): with uv, uninstalled
    first and installed again from uv's cache as it is (uv's ``--reinstall-package`` implies a refresh: it unpacks
    the wheel into the cache once more and leaves the old copy there, a gigabyte for TensorFlow at every repair);
    with pip, the whole lock is reinstalled. ``fresh``: not from uv's cache, whose copy is damaged (on Linux uv
    hard-links files from its cache, so a file edited in place in an environment is the cache's own), and copied
    out of the temporary cache uv then uses; the user's cache is left as it is."""
    py = str(Path(env) / "bin" / "python")
    out = []
    if manager == "uv":
        if remove or reinstall:
            out.append([uv, "pip", "uninstall", *uv_target(env), *dict.fromkeys([*remove, *reinstall])])
        out.append([uv, "pip", "install", *uv_target(env), "--require-hashes", "--no-deps", "--only-binary", ":all:",
                    "-r", str(lock)] + (["--no-cache", "--link-mode", "copy"] if fresh else []))
        return out
    if remove:
        out.append([py, "-m", "pip", "uninstall", "--yes", *remove])
    out.append([py, "-m", "pip", "install", "--require-hashes", "--no-deps", "--only-binary", ":all:", "--no-input",
                "--no-compile", "-r", str(lock)] + (["--force-reinstall"] if reinstall else []))
    return out


def repair(manager: str, env: Path, lock: Path, reinstall: Sequence[str], signatures: Sequence[Signature],
           fresh: bool = False, remove: Sequence[str] = ()) -> None:
    """Run ``repair_argvs`` against ``env``, once its interpreter answers as the environment."""
    require_own(env)
    uv = require_uv() if manager == "uv" else "uv"
    for argv in repair_argvs(manager, env, lock, reinstall, remove, fresh, uv):
        run_installer(argv, signatures, env=uv_env() if manager == "uv" else pip_env(), target=env)
