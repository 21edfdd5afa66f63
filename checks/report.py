"""Renderers: every output is made from the same list of outcomes."""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from checks import __version__
from checks.model import MARKS, Options, Outcome, Status

SCHEMA_VERSION = "1"
ASCII_MARKS = {Status.PASS: "[+]", Status.WARN: "[!]", Status.FAIL: "[x]", Status.SKIP: "[-]"}


def exit_code(outcomes: Sequence[Outcome], strict: bool = False) -> int:
    """0 when nothing failed (warnings too, with ``strict``), else 1."""
    bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
    return 1 if any(o.result.status in bad for o in outcomes) else 0


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    return {s.value: sum(o.result.status == s for o in outcomes) for s in Status}


def _marks(stream: TextIO) -> dict[Status, str]:
    try:
        "✓✗".encode(stream.encoding or "ascii")
        return MARKS
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS


def render_text(outcomes: Sequence[Outcome], header: str, stream: TextIO = sys.stdout) -> None:
    """flutter-doctor style: one line per check with a mark, details and the fix indented."""
    marks = _marks(stream)
    print(header, file=stream)
    family = None
    for o in outcomes:
        if o.check.family != family:
            family = o.check.family
            print("\n%s" % family, file=stream)
        r = o.result
        print("  %s %s: %s" % (marks[r.status], o.check.title, r.summary), file=stream)
        for line in r.details:
            print("        %s" % line, file=stream)
        if r.fix and r.status in (Status.FAIL, Status.WARN):
            print("      fix: %s" % r.fix, file=stream)
    c = counts(outcomes)
    print("\n%d checks: %d passed, %d warnings, %d failed, %d skipped" % (
        len(outcomes), c["pass"], c["warn"], c["fail"], c["skip"]), file=stream)


def to_json(outcomes: Sequence[Outcome], options: Options, facts: dict[str, Any], code: int) -> dict[str, Any]:
    """The versioned JSON document of a run: every result, the facts behind them, the exit code."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "checks",
        "tool_version": __version__,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {"profile": options.profile, "require_gpu": options.require_gpu,
                    "min_speedup": options.min_speedup, "strict": options.strict},
        "summary": counts(outcomes),
        "exit_code": code,
        "checks": [o.to_json() for o in outcomes],
        "facts": facts,
    }

