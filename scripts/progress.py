"""Announce long steps with their duration, so a user always sees what setup is doing."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


class Steps:
    """Numbered steps: ``with steps.step("Install"): ...`` prints the step, then its duration."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total = total
        self.done = 0
        self.stream = stream

    def note(self, message: str) -> None:
        print("      %s" % message, file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.done += 1
        print("[%d/%d] %s ..." % (self.done, self.total, title), file=self.stream, flush=True)
        start = time.monotonic()
        ok = False
        try:
            yield
            ok = True
        finally:
            print("      %s in %.1f s" % ("done" if ok else "stopped", time.monotonic() - start),
                  file=self.stream, flush=True)
