"""Output that never ends in a traceback: a closed pipe (``| head``) or a narrow encoding (``PYTHONIOENCODING=ascii``).

``install()`` is called once at each front door (``python -m checks`` and tasks.py), whose error handlers
call ``quiet_exit()`` on a BrokenPipeError before treating other exceptions as bugs. Characters the
terminal's encoding cannot show are replaced by ``?`` instead of raising; writing into a pipe whose
reader has gone ends the process quietly with exit code 141 (128 + SIGPIPE, as a shell reports it).
At exit every live object is frozen (``gc.freeze``), so the interpreter's last collection skips them: the
process ends anyway, and collecting invoke's and the suite's modules cost about 50 ms on every command. Garbage
caught in a reference cycle is then never finalized: the suite writes its files through ``with`` blocks, never
leaving one for a finalizer to close.
"""

from __future__ import annotations

import atexit
import gc
import io
import os
import sys
from typing import Any, NoReturn

PIPE_CLOSED = 141


def quiet_exit() -> NoReturn:
    """Point stdout at /dev/null (so no later flush can fail) and exit 141 at once."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    os._exit(PIPE_CLOSED)


def _flush_at_exit() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_exit()


def install() -> None:
    """Replace unencodable characters on stdout/stderr; turn a closed output pipe into a quiet exit 141."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="replace")
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:  # an uncaught BrokenPipeError: quiet
        if issubclass(kind, BrokenPipeError):
            quiet_exit()
        previous(kind, value, tb)

    sys.excepthook = hook
    atexit.register(_flush_at_exit)
    atexit.register(gc.freeze)
