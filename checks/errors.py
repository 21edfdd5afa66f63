"""The one error model: an error the user can act on, with its exit code and (when there is one) its fix.

Every front door maps these the same way: ``tasks.py`` through its ``front_door`` decorator,
``python -m checks`` in ``checks.cli.main``. The message is one line; the fix is a command that
works pasted from the repository root.
"""

from __future__ import annotations


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
