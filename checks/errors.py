"""The one error model: an error the user can act on, with its exit code and (when there is one) its fix.

Every front door maps these through ``boundary``: ``tasks.py`` (its ``front_door`` decorator, and invoke's own
parse errors) and ``python -m checks`` (``checks.cli.main``). The message is one line; the fix is a command that
works pasted from the repository root.
"""

from __future__ import annotations

from typing import Callable


class TfmError(Exception):
    """A failure reported as one line and an exit code; ``code`` defaults to the class's."""

    code = 1

    def __init__(self, message: str, fix: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code is not None:
            self.code = code

    def line(self) -> str:
        """The one line the user reads."""
        return self.message + "".join(("; fix: " if i == 0 else "\nfix: ") + fix
                                      for i, fix in enumerate((self.fix or "").splitlines()))


class UsageError(TfmError):
    """Bad input: an option, a setting, the matrix, a lock file, a path (exit 2)."""

    code = 2


class StepFailed(TfmError):
    """A step that ran and failed: an installer, a resolver, a download (exit 1)."""

    code = 1


class Interrupted(TfmError):
    """Ctrl-C or SIGTERM (exit 130)."""

    code = 130


def error_line(exc: TfmError) -> str:
    """The one form of an error on standard error, whatever the entry point (invoke's tasks, invoke's own parse
    errors, ``python -m checks``, the packaging guard of ``checks/__main__.py``): ``error: MESSAGE[; fix: ...]``."""
    return "error: %s" % exc.line()


INTERNAL = 2  # a bug: one line, exit 2, as for bad input (the user cannot act on a traceback)
INTERRUPTED = 130


def boundary(run: Callable[[], int | None], say: Callable[[str], None], interrupted: str = "interrupted") -> int:
    """The one mapping of an entry point's failures to one line (``error_line``; ``say`` prints it as it is, with no
    prefix of its own) and an exit code: a TfmError its own code,
    Ctrl-C 130, any other exception (a bug) 2; ``| head`` closing the output exits 141 quietly. Returns the
    exit code (0, or what ``run`` returned)."""
    from checks import console

    try:
        return run() or 0
    except TfmError as exc:
        say(error_line(exc))
        return exc.code
    except KeyboardInterrupt:
        say(interrupted)
        return INTERRUPTED
    except BrokenPipeError:
        console.quiet_exit()
    except Exception as exc:  # noqa: BLE001 - a bug is one line and exit 2, never a traceback
        say("internal error: %s: %s (please report it)" % (type(exc).__name__, exc))
        return INTERNAL
