"""The one command runner: every subprocess of the checks goes through ``run``.

Each command gets a timeout, its own process group (so a hang is killed with all its
children), and comes back as a ``Completed`` with stdout, stderr, exit code and the signal
that ended it, never as an exception.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Completed:
    """What a command did. ``returncode`` is None when it could not start or timed out."""

    argv: Sequence[str]
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def signal_name(self) -> str | None:
        """Name of the signal that killed the process (``SIGSEGV``), if one did."""
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return "signal %d" % -self.returncode
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        data["signal"] = self.signal_name
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Completed:
        fields = {k: data[k] for k in ("returncode", "stdout", "stderr", "duration_s")}
        return cls(argv=tuple(data["argv"]), timed_out=data.get("timed_out", False),
                   error=data.get("error"), **fields)


def run(argv: Sequence[str], timeout: float = 10.0, env: Mapping[str, str] | None = None,
        cwd: str | None = None) -> Completed:
    """Run ``argv`` (never through a shell); kill its whole process group on timeout."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, errors="replace", env=dict(env) if env is not None else None, cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return Completed(tuple(argv), None, "", "", time.monotonic() - start, error=str(exc))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        return Completed(tuple(argv), None, out, err, time.monotonic() - start, timed_out=True,
                         error="timed out after %.0f s" % timeout)
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    return Completed(tuple(argv), proc.returncode, out, err, time.monotonic() - start)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
