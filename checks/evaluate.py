"""Apply every registered rule to the facts; a rule that raises becomes a failed result."""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Callable

from checks import fixes
from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Outcome, Result, fail
from checks.registry import CHECKS, GATES
from checks.rules.common import framework_label, is_tensorflow


def _broken(exc: Exception, facts: Facts) -> Result:
    """A rule or gate that raised: a failed result naming the bug, and the bundle to attach to a report."""
    return fail("internal error in this check: %s: %s" % (type(exc).__name__, exc),
                fixes.command("report", "--out", "bug-report", env=fixes.env_of(facts),
                              why="a bundle to attach to a bug report"),
                details=traceback.format_exc().splitlines()[-3:])


def _gate(gate: Callable[[Facts, Options], Result | None], facts: Facts, options: Options) -> Result | None:
    try:
        return gate(facts, options)
    except Exception as exc:  # noqa: BLE001 - a broken gate fails the checks behind it, not the run
        return _broken(exc, facts)


def evaluate(facts: Facts, options: Options, k: Knowledge) -> list[Outcome]:
    """Each check's rule, or the reason of the first closed gate it needs (gates decided once)."""
    closed = {name: _gate(gate, facts, options) for name, gate in GATES.items()}
    outcomes = []
    other = None if is_tensorflow(facts) else framework_label(facts)
    for check in CHECKS:
        if other and check.backend_title:  # the same id, titled for the framework it judges
            check = dataclasses.replace(check, title=check.backend_title.format(framework=other))
        start = time.perf_counter()
        gated = next((closed[n] for n in check.needs if closed.get(n)), None)
        try:
            result = gated if gated is not None else check.rule(facts, options, k)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            result = _broken(exc, facts)
        outcomes.append(Outcome(check, result, time.perf_counter() - start))
    return outcomes
