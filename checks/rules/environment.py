"""Is this environment complete, as ``invoke setup`` left it?"""

from __future__ import annotations

from pathlib import Path

from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Result, fail, pass_, skip
from checks.nextsteps import shown
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


def lock_match(facts: Facts, options: Options, k: Knowledge) -> Result:
    """The installed distributions against the lock setup installed (the team's project lock, when it has one)."""
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    pk = facts["packages"]
    lock = pk.get("lock")
    marker = pk["environment"].get("marker") or {}
    if not lock:
        return skip("the comparison with the lock was not recorded" if marker.get("lock") else
                    "no lock to compare with: not set up by invoke setup")
    project = marker.get("project") or {}
    fix = ".tools/bin/invoke setup --env %s%s" % (shown(Path(pk["environment"]["prefix"])), "".join(
        " --requirements %s" % shown(Path(f)) for f in project.get("requirements") or []))
    fix += ("  # installs what differs from the project lock, keeps the project's packages" if project else
            " --force  # reinstalls the hash-locked set")
    if lock.get("error"):
        return fail("the lock %s that set up this environment cannot be read: %s" % (lock["path"], lock["error"]),
                    fix, facts=dict(lock))
    drift = lock.get("drift") or []
    if drift:
        listed = "; ".join(drift[:3]) + ("; ..." if len(drift) > 3 else "")
        return fail("%d of %d pinned packages differ from %s: %s" % (len(drift), lock.get("pinned", 0), lock["path"],
                                                                     listed), fix, details=drift[3:], facts=dict(lock))
    return pass_("all %d pinned packages match %s%s" % (lock.get("pinned", 0), lock["path"],
                                                        " (the project lock)" if project else ""), facts=dict(lock))
