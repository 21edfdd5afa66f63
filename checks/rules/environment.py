"""Is this environment complete, as ``invoke setup`` left it? The marker and the owner file
(``environment.setup``), and the lock it names installed as locked (``environment.lock``): the same
question setup asks before it calls an environment complete (``checks.completeness``)."""

from __future__ import annotations

import os

from checks import completeness, fixes
from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Result, fail, pass_, skip
from checks.paths import OWNER, same_path
from checks.rules.common import NOT_RECORDED, recorded


def not_itself(facts: Facts) -> str | None:
    """Why this interpreter's answers are not about the environment (a venv that lost pyvenv.cfg runs as its
    base interpreter); None when it is the environment's own. The registry's ``environment`` gate."""
    env = (facts.get("packages") or {}).get("environment") or {}
    answered, prefix = env.get("answers_as"), env.get("prefix")
    if not answered or not prefix or same_path(answered, prefix):
        return None
    return "not a virtual environment: %s/bin/python runs as the interpreter at %s (%s)" % (
        prefix, answered, "its pyvenv.cfg is missing" if not os.path.exists(os.path.join(prefix, "pyvenv.cfg"))
        else "its pyvenv.cfg does not make it one")


def setup_marker(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    env = facts["packages"]["environment"]
    marker = env.get("marker")
    project = fixes.project_args(marker)  # the same project files: a fix without them drops its packages
    running = env.get("setup_running")
    if running:
        return fail("`invoke setup` (pid %s) is working on this environment now; it is complete once setup says "
                    "so" % running, fixes.setup(env["prefix"], *project,
                                                why="after pid %s ends: finishes it if it did not" % running),
                    facts=env)
    broken = not_itself(facts)
    if broken:
        return fail(broken + ", so nothing it reports is about this environment",
                    fixes.repair(facts, why="rebuilds it; setup never installs into another interpreter"), facts=env)
    marker_error = env.get("marker_error")
    if marker_error:
        return fail("setup marker is unreadable: %s" % marker_error,
                    fixes.setup(env["prefix"], "--force", why="rebuilds it and writes a new marker"), facts=env)
    if marker and not env.get("owned"):
        return fail("the owner file %s is missing, so setup would not know this environment as its own once the "
                    "marker goes" % OWNER, fixes.setup(env["prefix"], *project, why="writes it again"), facts=env)
    if marker:
        return pass_("set up by invoke setup: %s profile from %s" % (marker.get("profile"), marker.get("lock")),
                     facts={"prefix": env["prefix"], "marker": marker})
    if env.get("owned"):
        return fail("incomplete: setup started here but never finished (no completion marker)",
                    fixes.setup(env["prefix"], *project, why="finishes it from the lock"), facts=env)
    return skip("not created by invoke setup; checking it as it is", facts=env)


def lock_match(facts: Facts, options: Options, k: Knowledge) -> Result:
    """The installed distributions against the lock setup installed (the team's project lock, when it has one):
    each pin at its version, its files of the size the wheel's RECORD gives, the lock unchanged since setup."""
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    pk = facts["packages"]
    lock = pk.get("lock")
    marker = pk["environment"].get("marker") or {}
    if not lock:
        return skip("the comparison with the lock was not recorded" if marker.get("lock") else
                    "no lock to compare with: not set up by invoke setup")
    project = marker.get("project") or {}
    prefix = pk["environment"]["prefix"]
    args = fixes.requirements_args(project.get("requirements") or [])
    fix = fixes.setup(prefix, *args, why="installs what differs from the project lock, keeps the project's packages"
                      if project else "repairs it in place from the lock")
    error, sha256 = lock.get("error"), lock.get("sha256")
    if error:
        return fail("the lock %s that set up this environment cannot be read: %s" % (lock["path"], error),
                    fixes.setup(prefix, *args, why="rebuilds it from the matrix's lock"), facts=dict(lock))
    if marker.get("lock_sha256") and sha256 and sha256 != marker["lock_sha256"]:
        return fail("outdated: %s changed since this environment was set up" % lock["path"],
                    fixes.setup(prefix, *args, why="rebuilds it from the new lock"), facts=dict(lock))
    counts = lock.get("damaged_count") or {}
    drift = ["%s is installed beside the locked TensorFlow" % n for n in lock.get("extra_tensorflows") or []] \
        + list(lock.get("drift") or []) + ["%s has damaged files: %s" % (n, completeness.files_phrase(
            f, counts.get(n))) for n, f in sorted((lock.get("damaged") or {}).items())]
    if drift:
        listed = "; ".join(drift[:3]) + ("; ..." if len(drift) > 3 else "")
        return fail("%d of %d pinned packages differ from %s: %s" % (len(drift), lock.get("pinned", 0), lock["path"],
                                                                     listed), fix, details=drift[3:], facts=dict(lock))
    return pass_("all %d pinned packages match %s%s" % (lock.get("pinned", 0), lock["path"],
                                                        " (the project lock)" if project else ""), facts=dict(lock))
