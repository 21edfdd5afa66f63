"""An environment directory that setup owns: ownership, the completion marker, safe removal."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from checks.errors import Interrupted, UsageError
from checks.paths import MARKER, OWNER

OWNER_TEXT = "Created by `invoke setup` (tf-metal suite). `invoke setup --force` may delete this directory.\n"


def python_of(env: Path) -> Path:
    return env / "bin" / "python"


def read_marker(env: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((env / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_owned(env: Path) -> bool:
    return (env / OWNER).exists() or (env / MARKER).exists()


def resolve(env: Path) -> Path:
    """The real directory ``--env`` names, decided before any ownership or deletion question. A symbolic link
    is followed only to an environment setup made (or an empty directory, such as one on a larger disk);
    one to anything else, or to nothing, is refused: setup never deletes through a link what it did not make."""
    if not env.is_symlink():
        return env
    real = Path(os.path.realpath(str(env)))
    if not real.exists():
        raise UsageError("--env %s is a link to %s, which does not exist; give the real path" % (env, real))
    if not real.is_dir() or not (is_owned(real) or not any(real.iterdir())):
        raise UsageError("--env %s is a link to %s, which was not created by invoke setup; refusing to change "
                         "it through the link" % (env, real))
    return real


def owner_written(env: Path) -> bool:
    return (env / OWNER).exists()


def check_path(env: Path) -> None:
    """Refuse paths setup must not touch: a file, or a directory we cannot write."""
    if env.exists() and not env.is_dir():
        raise UsageError("--env %s is a file, not a directory" % env)
    parent = env if env.exists() else _existing_parent(env)
    if not os.access(str(parent), os.W_OK | os.X_OK):
        raise UsageError("--env %s: %s is not writable" % (env, parent))


def _existing_parent(path: Path) -> Path:
    for p in path.absolute().parents:
        if p.exists():
            return p
    return Path("/")


def claim(env: Path, backend: str = "tensorflow") -> None:
    """Create ``env`` (if needed) and write the owner file, before anything is installed, with the backend it is
    built for (setup keeps it when the marker is gone: an interrupted build); what an interrupted removal of it
    left beside it goes first."""
    sweep(env)
    env.mkdir(parents=True, exist_ok=True)
    (env / OWNER).write_text(OWNER_TEXT + "%s%s\n" % (BACKEND_LINE, backend), encoding="utf-8")


BACKEND_LINE = "backend: "


def owner_backend(env: Path) -> str | None:
    """The backend the owner file records (None: none recorded, as before backends, or no owner file)."""
    try:
        lines = (env / OWNER).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return next((line[len(BACKEND_LINE):].strip() or None for line in lines if line.startswith(BACKEND_LINE)), None)


def write_marker(env: Path, data: dict[str, Any]) -> None:
    """Write the completion marker last and atomically (a new file renamed over the old): it exists only once all
    is installed. Not fsync'd: on ext4 that commits the whole journal, the installer's 14,000 new files with it
    (0.6 s measured after a new environment), and the installers sync nothing either. After a crash a marker that
    is missing or torn reads as none (``read_marker``: setup rebuilds), and one left beside files the crash lost is
    caught by the completeness question that every setup and verify asks anew."""
    fd, tmp = tempfile.mkstemp(dir=str(env), prefix=".marker-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, env / MARKER)


def unmark(env: Path) -> None:
    """Remove the completion marker: the environment is about to change."""
    (env / MARKER).unlink(missing_ok=True)


ASIDE = ".tfmetal-removing-"  # ENV's sibling ``.NAME.tfmetal-removing-XXXX``: an environment being deleted


def remove(env: Path) -> None:
    """Delete an environment setup owns, safely under Ctrl-C: it is first renamed aside to a new sibling (one
    atomic rename, marker and all), then deleted there, so the path ``env`` is either whole or gone. An aside
    left by an interrupted removal is never at ``env`` (nothing takes it for an environment) and is deleted by
    the next ``remove`` or ``claim`` of ``env``."""
    if env.is_symlink():
        raise UsageError("refusing to delete through the link %s: pass the real path" % env)
    if not is_owned(env):
        raise UsageError("refusing to delete %s: it was not created by invoke setup (no %s)" % (env, OWNER))
    sweep(env)
    aside = Path(tempfile.mkdtemp(prefix=".%s%s" % (env.name, ASIDE), dir=str(env.parent)))
    try:
        try:
            os.replace(str(env), str(aside))  # over the empty directory just made: atomic, one file system
        except OSError:  # a mount point, say: deleted where it is, as before
            aside.rmdir()
            _delete_owned(env)
            return
        _delete_owned(aside)
    except KeyboardInterrupt:
        if os.path.lexists(str(env)):
            raise  # before the rename: the environment is whole
        raise Interrupted("interrupted while removing %s: it is gone (renamed aside first), and the part left, "
                          "%s, is deleted by the next setup" % (env, aside.name)) from None


def asides(env: Path) -> list[Path]:
    """What interrupted removals of ``env`` left: its siblings named by ``remove`` that hold our owner file or
    nothing (the owner file goes last)."""
    try:
        names = os.listdir(str(env.parent))
    except OSError:
        return []
    prefix = ".%s%s" % (env.name, ASIDE)
    found = [env.parent / n for n in names if n.startswith(prefix)]
    return [p for p in found if p.is_dir() and not p.is_symlink() and (
        (p / OWNER).exists() or not any(p.iterdir()))]


def sweep(env: Path) -> None:
    """Delete what interrupted removals of ``env`` left beside it."""
    for aside in asides(env):
        _delete_owned(aside)


def _delete_owned(env: Path) -> None:
    """Delete a directory of ours: the marker first, the owner file last."""
    (env / MARKER).unlink(missing_ok=True)
    for child in env.iterdir():
        if child.name == OWNER:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (env / OWNER).unlink(missing_ok=True)
    env.rmdir()
