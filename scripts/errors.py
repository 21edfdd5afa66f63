"""Errors that end a task with one clear line and a chosen exit code."""


class SetupError(Exception):
    """A failure the user can fix; ``code`` 2 for bad input, 1 for a failed step, 130 interrupted."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def usage(message: str) -> SetupError:
    return SetupError(message, code=2)
