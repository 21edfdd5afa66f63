"""The one process helper: every subprocess of the suite goes through ``run`` or ``stream``.

``run`` (probes, resolvers, downloads) gives each command a timeout and its own process group, so
a hang is killed with all its children, and returns a ``Completed`` with stdout, stderr, exit code
and the signal that ended it, never an exception. ``run`` is ``start`` then ``finish``: a probe that
should start while something else runs (setup's completeness probe, during the install) is started
first and finished later. ``stream`` (installers) shows the output as it
comes, keeps the command in our process group so a Ctrl-C reaches it too, and returns the same
``Completed`` (stdout holds the last lines); Ctrl-C or SIGTERM stop it and raise ``Interrupted``.

``stop_on_signals`` (installed once by ``python -m checks``) makes SIGTERM behave like Ctrl-C and, at the first
of either, kills the process group of every command ``run`` still has running (the TensorFlow child and anything
it started) before the KeyboardInterrupt unwinds; later signals are ignored so the cleanup (temp files) finishes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from checks.errors import Interrupted

_RUNNING: set[int] = set()  # process groups (= leader pids) of the commands ``run`` has not finished yet


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

    def last_json(self) -> Any:
        """The JSON value on the last line of stdout of a run that succeeded (a probe's answer); None otherwise."""
        lines = self.stdout.strip().splitlines() if self.ok else []
        try:
            return json.loads(lines[-1]) if lines else None
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        data["signal"] = self.signal_name
        return data


def run(argv: Sequence[str], timeout: float = 10.0, env: Mapping[str, str] | None = None,
        cwd: str | None = None, input: str | None = None) -> Completed:
    """Run ``argv`` (never through a shell); kill its whole process group on timeout."""
    return start(argv, env, cwd, stdin=input is not None).finish(timeout, input)


def start(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
          stdin: bool = False) -> Started:
    """Start ``argv`` as ``run`` does, to be finished later (``stdin``: it reads what ``finish`` gives it), so that
    it starts while the caller does something else."""
    begun = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True, errors="replace", env=dict(env) if env is not None else None, cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return Started(tuple(argv), None, begun, str(exc))
    _RUNNING.add(proc.pid)
    return Started(tuple(argv), proc, begun)


@dataclass
class Started:
    """A command ``start`` began (``proc`` None: it could not start, ``error`` says why)."""

    argv: tuple[str, ...]
    proc: subprocess.Popen[str] | None
    begun: float
    error: str | None = None

    def finish(self, timeout: float = 10.0, input: str | None = None) -> Completed:
        """Give it ``input``, wait at most ``timeout`` seconds from now, kill its whole process group after that."""
        proc = self.proc
        if proc is None:
            return Completed(self.argv, None, "", "", time.monotonic() - self.begun, error=self.error)
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            out, err = proc.communicate()
            return Completed(self.argv, None, out, err, time.monotonic() - self.begun, timed_out=True,
                             error="timed out after %.0f s" % timeout)
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            _RUNNING.discard(proc.pid)
        return Completed(self.argv, proc.returncode, out, err, time.monotonic() - self.begun)

    def stop(self) -> None:
        """Kill it and its process group, if it is still running (it was not needed after all)."""
        if self.proc is not None and self.proc.returncode is None:
            _kill_group(self.proc.pid)
            self.proc.communicate()
            _RUNNING.discard(self.proc.pid)


def stop_on_signals() -> None:
    """SIGINT and SIGTERM: kill every running command's process group, then raise KeyboardInterrupt once."""
    signal.signal(signal.SIGINT, _stop_everything)
    signal.signal(signal.SIGTERM, _stop_everything)


def _stop_everything(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the first signal wins: nothing interrupts the cleanup
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for pid in list(_RUNNING):
        _kill_group(pid)
    raise KeyboardInterrupt


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stream(argv: Sequence[str], env: Mapping[str, str] | None = None, keep: int = 40,
           interrupted: str = "interrupted", passthrough: bool = False, progress: bool = False) -> Completed:
    """Run an installer, showing its output; ``stdout`` of the result holds its last ``keep`` lines.

    On a terminal (or with ``passthrough``: a child whose output is the report, as `invoke verify` runs
    ``python -m checks``) it writes to our stdout and stderr directly; elsewhere (and always with ``progress``: a
    child whose output is progress, not the product, as `invoke compare` runs each verify) its output is passed
    through to our stderr line by line, indented. Ctrl-C or SIGTERM stop it and raise ``Interrupted(interrupted)``.
    """
    start = time.monotonic()
    tty = not progress and (passthrough or sys.stderr.isatty())
    try:
        proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
                                stdout=None if tty else subprocess.PIPE, stderr=None if tty else subprocess.STDOUT,
                                text=True, errors="replace")
    except OSError as exc:
        return Completed(tuple(argv), None, "", "", time.monotonic() - start, error=str(exc))
    tail: deque[str] = deque(maxlen=keep)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if proc.stdout is not None:
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                print("      | " + line.rstrip("\n"), file=sys.stderr, flush=True)
        proc.wait()
    except KeyboardInterrupt:
        sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second signal must not cut the child's cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            _stop(proc)
        finally:
            signal.signal(signal.SIGINT, sigint)
        raise Interrupted(interrupted) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    return Completed(tuple(argv), proc.returncode, "\n".join(tail), "", time.monotonic() - start)


def _raise_interrupt(signum: int, frame: Any) -> None:  # SIGTERM behaves like Ctrl-C
    raise KeyboardInterrupt


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
