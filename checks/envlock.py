"""One setup at a time per environment: an advisory lock (``fcntl.flock``) held for the whole setup.

The lock file lives beside the environment, never inside it (``--force`` deletes the inside):
``<parent>/.<name>.setup-lock``, holding the pid of the setup that has it. The kernel drops the lock
when that process ends, however it ends, so a stale file never blocks a later setup. A second setup
of the same environment does not wait: it stops with exit 2 and names the holder. No library is
needed: fcntl is in the standard library on macOS and Linux, the suite's platforms.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from checks.errors import UsageError


def lock_path(env: Path) -> Path:
    return env.parent / (".%s.setup-lock" % env.name)


@contextlib.contextmanager
def held(env: Path) -> Iterator[None]:
    """Hold ``env``'s setup lock for the block; another holder → UsageError (exit 2) naming its pid."""
    path = lock_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            raise UsageError("another `invoke setup` (pid %s) is working on %s; wait for it to finish, then run "
                             "setup again (nothing was changed)" % (holder, env)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int, wait_s: float = 1.0) -> str:
    """The pid the holder wrote; it writes it just after taking the lock, so an empty file is read again."""
    deadline = time.monotonic() + wait_s
    while True:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if pid or time.monotonic() > deadline:
            return pid or "unknown"
        time.sleep(0.02)


def holder(env: Path) -> int | None:
    """The pid of a live setup holding ``env``'s lock, without taking the lock (verify must not block a setup
    that starts meanwhile): the holder writes its pid and clears the file before it lets go; a pid left by a
    killed setup is no longer alive."""
    try:
        text = lock_path(env).read_text(encoding="ascii", errors="replace").strip()
        pid = int(text)
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return pid
    return pid
