"""Is this environment complete, as ``invoke setup`` left it?"""

from __future__ import annotations

from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Result, fail, pass_, skip
from checks.rules.common import NOT_RECORDED, recorded


def setup_marker(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    env = facts["packages"]["environment"]
    marker = env.get("marker")
    if env.get("marker_error"):
        return fail("setup marker is unreadable: %s" % env["marker_error"],
                    "invoke setup --force --env %s" % env["prefix"], facts=env)
    if marker:
        return pass_("set up by invoke setup: %s profile from %s" % (marker.get("profile"), marker.get("lock")),
                     facts={"prefix": env["prefix"], "marker": marker})
    if env.get("owned"):
        return fail("incomplete: setup started here but never finished (no completion marker)",
                    "invoke setup --env %s   # repairs it" % env["prefix"], facts=env)
    return skip("not created by invoke setup; checking it as it is", facts=env)
