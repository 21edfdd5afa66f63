"""Apply every registered rule to the facts; a rule that raises becomes a failed result."""

from __future__ import annotations

import traceback

from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Outcome, fail
from checks.registry import CHECKS


def evaluate(facts: Facts, options: Options, k: Knowledge) -> list[Outcome]:
    outcomes = []
    for check in CHECKS:
        try:
            result = check.rule(facts, options, k)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            result = fail("internal error in this check: %s: %s" % (type(exc).__name__, exc),
                          "report this bug with the JSON output (--json)",
                          details=traceback.format_exc().splitlines()[-3:])
        outcomes.append(Outcome(check, result))
    return outcomes
