"""Is this environment complete, as ``invoke setup`` left it? The marker, and the lock it names
installed as locked (``checks.completeness``: setup asks the same question)."""

from __future__ import annotations

from checks import completeness, fixes
from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.markers import OWNER
from checks.model import Options, Result, fail, pass_, skip
from checks.rules.common import NOT_RECORDED, recorded


def setup_marker(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    env = facts["packages"]["environment"]
    marker = env.get("marker")
    if env.get("marker_error"):
        return fail("setup marker is unreadable: %s" % env["marker_error"],
                    fixes.setup(env["prefix"], "--force", why="rebuilds it and writes a new marker"), facts=env)
    if marker:
        return _against_lock(facts, marker)
    if env.get("owned"):
        return fail("incomplete: setup started here but never finished (no completion marker)",
                    fixes.setup(env["prefix"], why="finishes it from the lock"), facts=env)
    return skip("not created by invoke setup; checking it as it is", facts=env)


def _against_lock(facts: Facts, marker: dict) -> Result:
    """The marker is there: is the lock it names still the one it was built from, and installed as locked?"""
    prefix = facts["packages"]["environment"]["prefix"]
    lock = facts["packages"].get("lock")
    keep = {"prefix": prefix, "marker": marker}
    made = "set up by invoke setup: %s profile from %s" % (marker.get("profile"), marker.get("lock"))
    if lock is None:  # a bundle recorded before the lock was probed
        return pass_(made, facts=keep)
    if lock.get("error"):
        return fail("%s, but %s" % (made, lock["error"]), fixes.setup(prefix, why="rebuilds it from the matrix's lock"),
                    facts={**keep, "lock": lock})
    if marker.get("lock_sha256") and lock.get("sha256") != marker["lock_sha256"]:
        return fail("outdated: %s changed since this environment was set up" % marker.get("lock"),
                    fixes.setup(prefix, why="rebuilds it from the new lock"), facts={**keep, "lock": lock})
    if not facts["packages"]["environment"].get("owned"):
        return fail("the owner file %s is missing, so setup would not know this environment as its own once the "
                    "marker goes" % OWNER, fixes.setup(prefix, why="writes it again"), facts={**keep, "lock": lock})
    d = completeness.drift(lock.get("pins") or {}, lock.get("installed") or {}, lock.get("damaged"))
    keep["drift"] = d.to_json()
    if not d.ok:
        count = len(d.missing) + len(d.changed) + len(d.damaged)
        return fail("incomplete: %d of %d locked packages are not as locked" % (count, len(lock.get("pins") or {})),
                    fixes.setup(prefix, why="repairs it in place from the lock"), details=d.describe(), facts=keep)
    return pass_(made + "; %d locked packages installed as locked" % len(lock.get("pins") or {}), facts=keep)
