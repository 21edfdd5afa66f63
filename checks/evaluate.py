"""Apply every registered rule to the facts; a rule that raises becomes a failed result."""

from __future__ import annotations

import time
import traceback

from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Outcome, fail
from checks.registry import CHECKS, GATES


def evaluate(facts: Facts, options: Options, k: Knowledge) -> list[Outcome]:
    """Each check's rule, or the reason of the first closed gate it needs (gates decided once)."""
    closed = {name: gate(facts, options) for name, gate in GATES.items()}
    outcomes = []
    for check in CHECKS:
        start = time.perf_counter()
        gated = next((closed[n] for n in check.needs if closed.get(n)), None)
        try:
            result = gated if gated is not None else check.rule(facts, options, k)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            result = fail("internal error in this check: %s: %s" % (type(exc).__name__, exc),
                          "report this bug with the JSON output (--json)",
                          details=traceback.format_exc().splitlines()[-3:])
        outcomes.append(Outcome(check, result, time.perf_counter() - start))
    return outcomes
