"""``invoke setup``: choose profile, interpreter and lock from the matrix, then build the environment.

An environment is complete only when its marker exists and names the lock it was built from;
a re-run on a complete environment does nothing, an incomplete one of ours is rebuilt.
"""

from __future__ import annotations

import datetime
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from checks import __version__, completeness, fixes, matrix, platforms, preflight, process, settings
from checks.errors import Interrupted, StepFailed, UsageError
from checks.knowledge import Knowledge, judge_pair, valid_version
from checks.markers import MARKER
from checks.matrix import ROOT, Target
from scripts import environment, envlock, interpreters, locks, managers, network, project, repair
from scripts import preflight as preflight_probe
from scripts.progress import Steps
from scripts.uvtool import require_uv, uv_env

DEFAULT_ENV = ROOT / ".venv-tf"
PROFILES = ("auto",) + platforms.PROFILES


@dataclass(frozen=True)
class Plan:
    """Everything setup decided before touching the disk."""

    profile: str
    reason: str
    target: Target
    interpreter: interpreters.Interpreter
    lock: Path
    manager: str
    env: Path
    plugin_lock: Path | None = None  # the second step's lock, for a plugin built from its sdist
    project: dict[str, Any] | None = None  # the team's requirements and their lock (scripts/project.py)


def apple_silicon() -> bool:
    """True on an Apple Silicon Mac, also when this process is translated by Rosetta."""
    if sys.platform != "darwin":
        return False
    done = process.run(["sysctl", "-n", "hw.optional.arm64"], timeout=5)
    return done.ok and done.stdout.strip() == "1"


def platform_of(interp: interpreters.Interpreter) -> str:
    return platforms.platform_key(platforms.os_name(interp.system), interp.arch)


def check_tensorflow_request(k: Knowledge, profile: str, version: str, env: str | None = None) -> None:
    """Refuse a TensorFlow version that the pair judgement calls broken with the pinned plugin, or not pinned."""
    if not valid_version(version):
        raise UsageError("--tensorflow %r is not a version" % version)
    if any(t.tensorflow_pin[1] == version for t in k.matrix.targets if profile in ("auto", t.profile)):
        return  # a target pins it (2.21.0: the community Metal pair)
    working = k.working_pair()
    if profile in ("metal", "auto") and working:
        pin_tf, plugin, pin_plugin = working
        j = judge_pair(k, version, pin_plugin, plugin)
        if j.verdict == "broken":
            raise UsageError("%s %s (source: %s). Working alternative: %s" % (j.label, j.reason, j.source,
                                                                                 j.alternative),
                             fix=fixes.setup(env or DEFAULT_ENV, "--tensorflow", pin_tf, why="the working pair"))
    pins = {t.tensorflow_pin[1] for t in k.matrix.targets if profile in ("auto", t.profile)}
    if version not in pins:
        raise UsageError("TensorFlow %s is not pinned in envs/matrix.json (pinned: %s); to use it, add a target "
                         "that pins it to the matrix" % (version, ", ".join(sorted(pins, key=Version))),
                         fix=fixes.command("lock", why="then writes its locks"))


def plan(k: Knowledge, profile: str = "auto", manager: str = "auto", python: str | None = None,
         env: str | None = None, say: Callable[[str], Any] = print, tensorflow: str | None = None,
         fix_options: str = "") -> Plan:
    """Decide profile, interpreter, lock, manager and path; raise UsageError on bad input (``fix_options``: more
    options for its fix line, such as the dry run's)."""
    if profile not in PROFILES:
        raise UsageError("unknown profile %r: choose one of %s" % (profile, ", ".join(PROFILES)))
    if tensorflow:
        check_tensorflow_request(k, profile, tensorflow, env)
    env_path = environment.resolve(Path(env).expanduser() if env else DEFAULT_ENV)
    environment.check_path(env_path)
    if env_path.is_dir() and any(env_path.iterdir()) and not environment.is_owned(env_path):
        raise UsageError("%s exists and was not created by invoke setup; choose another --env or remove it yourself"
                    % env_path)
    manager = managers.resolve(manager, env_path)
    try:
        given, missing = _interpreter_from(python, env_path), None
    except NoInterpreter as exc:  # the fix names a Python the target admits, once the target is known
        given, missing = _interpreter_from(None, env_path), exc
    on_as = apple_silicon()
    os_name = platforms.os_name(given.system)
    prof, reason = platforms.choose_profile(profile, os_name, given.arch, on_as)
    arch = platforms.target_arch(prof, os_name, given.arch, on_as)
    plat = platforms.platform_key(os_name, arch)
    here = k.matrix.target(prof, plat)
    kept = None if tensorflow else kept_target(k, prof, plat, env_path)
    if kept is not None and here is not None and kept is not here:
        say("      keeps %s, as %s was set up (--tensorflow %s chooses the default)"
            % (kept.label, env_path, here.tensorflow_pin[1]))
        target = kept
    else:
        target = target_for(k, prof, plat, tensorflow, env_path, fix_options)
    if missing is not None:
        raise missing.for_target(target, env_path)
    interp = given
    if given.arch != arch or not target.python.contains(given.version):
        why = ("an x86_64 Python on Apple Silicon would run under Rosetta" if given.arch != arch else
               "Python %s is outside %s for %s/%s" % (given.minor, target.python, prof, plat))
        found = interpreters.find(target.python, arch, interpreters.candidates())
        newest = matrix.python_versions(target.python)[-1]
        if found is None:
            raise UsageError("%s, and no suitable Python (%s, %s) was found on PATH, pyenv, Homebrew or uv"
                             % (why, target.python, arch), fix=interpreters.install_fix(newest, env_path))
        say("      %s; using %s" % (why, found.describe()))
        interp = found
    lock = target.lock_path(interp.minor)
    plugin_lock = target.plugin_lock_path(interp.minor)
    for path in filter(None, (lock, plugin_lock)):
        check_lock(path)
    return Plan(prof, reason, target, interp, lock, manager, env_path, plugin_lock)


def target_for(k: Knowledge, prof: str, plat: str, tensorflow: str | None, env: Path, fix_options: str = "") -> Target:
    """The matrix's target for ``prof``/``plat`` (and ``--tensorflow``), or a UsageError naming this platform's pin
    and the fix line that uses it (with ``fix_options``)."""
    target, here = k.matrix.target(prof, plat, tensorflow), k.matrix.target(prof, plat)
    if target is None and tensorflow and here is not None:
        raise UsageError("TensorFlow %s is pinned for another platform, not for %s/%s, which pins %s==%s"
                         % ((tensorflow, prof, plat) + here.tensorflow_pin),
                         fix=fixes.setup(env, *fix_options.split(), "--tensorflow", here.tensorflow_pin[1],
                                         why="this platform's pin"))
    if target is None:
        raise UsageError("the matrix has no %s target for %s%s (known: %s)" % (
            prof, plat, " with TensorFlow %s" % tensorflow if tensorflow else "", ", ".join(
                "%s (%s)" % (t.platform, t.tensorflow_pin[1]) for t in k.matrix.targets if t.profile == prof)))
    return target


def kept_target(k: Knowledge, profile: str, platform: str, env: Path) -> Target | None:
    """The target an environment of ours was set up with (its marker's requirements), when it is one of this
    profile and platform: setup without ``--tensorflow`` repairs it as it was chosen, not with the default pair."""
    wanted = (environment.read_marker(env) or {}).get("requirements") if env.is_dir() else None
    return next((t for t in k.matrix.targets_for(profile, platform) if wanted and list(t.requirements) == wanted),
                None)


def check_lock(lock: Path) -> None:
    """A lock file setup can install with hashes required, or UsageError naming the fault."""
    if not lock.exists():
        raise UsageError("no lock file %s" % matrix.shown(lock), fix=fixes.command("lock", why="writes every lock"))
    problem = locks.malformed(lock)
    if problem:
        raise UsageError("lock file %s is malformed: %s" % (matrix.shown(lock), problem),
                         fix=fixes.command("lock", why="regenerates every lock"))


class NoInterpreter(UsageError):
    """``--python X.Y`` names a Python that is not on this machine."""

    def __init__(self, minor: str, env: Path) -> None:
        super().__init__("--python %s: no such interpreter found" % minor, fix=interpreters.install_fix(minor, env))
        self.minor = minor

    def for_target(self, target: Target, env: Path) -> UsageError:
        """The same error with a fix that gets a Python ``target`` admits (the newest, when X.Y is outside)."""
        admitted = matrix.python_versions(target.python)
        if self.minor in admitted:
            return self
        return UsageError("%s; %s/%s (%s) admits Python %s" % (
            self.message, target.profile, target.platform, target.label, ", ".join(admitted)),
            fix=interpreters.install_fix(admitted[-1], env))


def _interpreter_from(python: str | None, env: Path) -> interpreters.Interpreter:
    """``--python``: a version X.Y (any found, also one outside the supported range: plan then falls back as
    for a path), a path, or the interpreter the tools environment was made from."""
    if python and all(part.isdigit() for part in python.split(".")) and python.count(".") == 1:
        spec = SpecifierSet("==%s.*" % python)
        paths = [interpreters.current()] + interpreters.candidates(minors=(python,))
        found = next((i for i in map(interpreters.probe, paths) if i and spec.contains(i.version)), None)
        if found is None:
            raise NoInterpreter(python, env)
        return found
    path = python or interpreters.current()
    interp = interpreters.probe(path)
    if interp is None:
        raise UsageError("--python %s: not a working Python interpreter" % path)
    return interp


def marker_data(p: Plan, seconds: float) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tool_version": __version__,
        "profile": p.profile,
        "platform": platform_of(p.interpreter),
        "python": {"path": p.interpreter.path, "version": p.interpreter.version, "arch": p.interpreter.arch},
        "manager": p.manager,
        "lock": matrix.shown(p.lock),
        "lock_sha256": locks.sha256(p.lock),
        "requirements": list(p.target.requirements),
        **({"plugin_lock": matrix.shown(p.plugin_lock), "plugin_lock_sha256": locks.sha256(p.plugin_lock)}
           if p.plugin_lock else {}),
        **({"project": p.project} if p.project else {}),
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "setup_seconds": round(seconds, 1),
    }


def up_to_date(p: Plan) -> bool:
    marker = environment.read_marker(p.env)
    if not marker:
        return False
    return environment.python_of(p.env).exists() and marker.get("profile") == p.profile \
        and marker.get("lock_sha256") == locks.sha256(p.lock) \
        and marker.get("plugin_lock_sha256") == (locks.sha256(p.plugin_lock) if p.plugin_lock else None) \
        and (marker.get("python") or {}).get("version") == p.interpreter.version


def _repair(k: Knowledge, p: Plan, drift: completeness.Drift, steps: Steps, start: float,
            found: list[preflight.Finding]) -> Plan:
    """Put a drifted environment back to its lock in place; the marker goes first and comes back only
    once the environment answers as locked. A plugin built at install time that departs from its lock is
    built again against the repaired TensorFlow."""
    _check_index(p)
    print("Environment %s departs from %s: %s" % (p.env, matrix.shown(p.lock), "; ".join(drift.describe())),
          file=sys.stderr)
    plugin_pins = completeness.lock_pins(p.plugin_lock) if p.plugin_lock and p.target.plugin else {}
    rebuild = bool(set(plugin_pins) & (set(drift.missing) | set(drift.changed) | set(drift.damaged)))
    steps.total = 1 + rebuild
    with steps.step("Repair in place from the lock (hashes required)"):
        environment.unmark(p.env)
        environment.claim(p.env)
        managers.repair(p.manager, p.env, p.lock, sorted(set(drift.damaged) - set(plugin_pins)), k.signatures)
    if rebuild:
        install_plugin(p, steps, k, found)
    after = repair.drift_of(p.env, p.lock, p.plugin_lock)
    if after is not None and after.damaged and p.manager == "uv":  # the damage was in uv's cache too
        steps.total += 1
        with steps.step("Reinstall %s from the index, not uv's cache" % ", ".join(sorted(after.damaged))):
            managers.repair(p.manager, p.env, p.lock, sorted(after.damaged), k.signatures, fresh=True)
        after = repair.drift_of(p.env, p.lock, p.plugin_lock)
    if after is None or not after.ok:
        raise StepFailed("the repair left %s unlike its lock (%s)" % (
            p.env, "; ".join(after.describe()) if after else "its Python does not answer"),
            fix=fixes.setup(p.env, "--force", why="rebuilds it"))
    environment.write_marker(p.env, marker_data(p, time.monotonic() - start))
    print("Environment repaired: %s (%s; %.1f s). Next: %s" % (
        p.env, "; ".join(drift.describe()), time.monotonic() - start, fixes.command("verify", env=p.env)),
        file=sys.stderr)
    return p


def _check_index(p: Plan) -> None:
    """Stop before changing anything when the index cannot serve the install."""
    url = network.index_url(p.manager)
    why = _index_refuses(p, url) if url else None
    if url and why:
        raise StepFailed("%s. Nothing was changed%s." % (
            network.refusal(url, why, p.manager), "; %s is untouched" % p.env if p.env.exists() else ""))


def _index_refuses(p: Plan, url: str) -> str | None:
    """Why the index cannot serve this install, asked with the installer's own trust store (None: it can)."""
    pins = locks.pinned(p.lock)
    if p.manager == "uv" and pins:
        name, version = next(iter(pins.items()))
        return network.unreachable_by_uv(require_uv(), uv_env(), "%s==%s" % (name, version),
                                         p.interpreter.minor)
    return network.unreachable(url)


def with_project(k: Knowledge, p: Plan, requirements: Sequence[str], say: Callable[[str], Any],
                 force: bool = False) -> Plan:
    """The plan on the team's project lock (resolved now if its inputs changed), or unchanged without a project."""
    proj = project.declared(requirements, settings.config_path())
    if proj is None:
        project.refuse_to_drop(p, force)
        return p
    refuse_project_on(p.target, p.plugin_lock)
    lock = project.ensure_locks(k, proj, p.target, p.interpreter.minor, say=say)
    problem = locks.malformed(lock)
    if problem:
        raise UsageError("project lock %s is malformed: %s; delete it and run setup again to re-resolve it"
                         % (lock, problem))
    return replace(p, lock=lock, project=proj.to_json(lock, p.lock))


def refuse_project_on(target: Target, plugin_lock: Path | None) -> None:
    """Project requirements on a pair whose plugin is built at install time are not supported yet."""
    if plugin_lock:
        raise UsageError("project requirements on %s (a plugin built at install time) are not supported yet: "
                         "use the default pair, or install them yourself after setup" % target.label)


def setup(k: Knowledge, profile: str = "auto", manager: str = "auto", python: str | None = None,
          env: str | None = None, force: bool = False, tensorflow: str | None = None,
          requirements: Sequence[str] = ()) -> Plan:
    """Build (or confirm) the environment. Raises a TfmError with a one-line reason on failure."""
    start = time.monotonic()
    notes: list[str] = []
    p = with_project(k, plan(k, profile, manager, python, env, say=notes.append, tensorflow=tensorflow),
                     requirements, say=lambda line: print("      " + line, file=sys.stderr, flush=True), force=force)
    steps = Steps(3)
    print("Plan (from envs/matrix.json):", file=sys.stderr)
    for line in notes + ["profile %s: %s" % (p.profile, p.reason), "python  %s" % p.interpreter.describe(),
                         "lock    %s (%s)" % (matrix.shown(p.lock), ", ".join(p.target.requirements) + (
                             " + the project's requirements, on %s" % p.project["base_lock"] if p.project else ""))] + \
            (["plugin  %s (built from its sdist after TensorFlow)" % matrix.shown(p.plugin_lock)]
             if p.plugin_lock else []) + ["env     %s (manager: %s)" % (p.env, p.manager)]:
        steps.note(line.strip())
    with envlock.held(p.env):
        try:
            return _build(k, p, force, steps, start)
        except (Interrupted, KeyboardInterrupt) as exc:
            message = exc.message if isinstance(exc, Interrupted) else "interrupted"
            raise Interrupted(message, fix=fixes.setup(p.env, why="finishes or rebuilds it")) from None


def _build(k: Knowledge, p: Plan, force: bool, steps: Steps, start: float) -> Plan:
    """Setup's work, under the environment's lock: nothing, an in-place repair, a project sync, or a (re)build."""
    drift = repair.drift_of(p.env, p.lock, p.plugin_lock) if p.env.exists() and not force and up_to_date(p) else None
    if drift is not None and drift.ok and not environment.owner_written(p.env):
        environment.claim(p.env)
        print("Environment %s is complete; its owner file was missing and is written again." % p.env, file=sys.stderr)
        return p
    if drift is not None and drift.ok:
        print("Environment %s is complete and matches %s: nothing to do (%.1f s). `--force` rebuilds it."
              % (p.env, matrix.shown(p.lock), time.monotonic() - start), file=sys.stderr)
        return p
    found = run_preflight(p)  # before any change
    if drift is not None and not p.project:
        return _repair(k, p, drift, steps, start, found)
    _check_index(p)
    if not force and project.can_sync(p):
        return project.sync(k, p, steps, marker_data, start)
    stale = p.env.exists() and any(p.env.iterdir())
    steps.total = 3 + bool(stale) + bool(p.plugin_lock)
    if stale:
        with steps.step("Remove the %s environment at %s" % ("old" if force else "incomplete or outdated", p.env)):
            environment.remove(p.env)
    environment.claim(p.env)
    with steps.step("Create the environment with %s" % p.manager):
        managers.create(p.manager, p.env, p.interpreter.path, k.signatures)
    with steps.step("Install %d pinned packages (hashes required)" % len(locks.pinned(p.lock))):
        managers.install(p.manager, p.env, p.lock, k.signatures)
    if p.plugin_lock and p.target.plugin:
        install_plugin(p, steps, k, found)
    with steps.step("Write the marker %s (profile, lock and their sha256)" % MARKER):
        environment.write_marker(p.env, marker_data(p, time.monotonic() - start))
    print("Environment ready: %s (%.0f s). Next: %s" % (p.env, time.monotonic() - start,
                                                        fixes.command("verify", env=p.env)), file=sys.stderr)
    return p


def run_preflight(p: Plan) -> list[preflight.Finding]:
    """On a Mac, before any change: the target's macOS, build tools and Python (exit 2 naming what is missing
    and the command that fixes it). Elsewhere only the interpreter is judged (plan() already chose it)."""
    wanted = preflight.needs(p.target, p.interpreter.minor, interpreters.install_hint(
        p.interpreter.minor, platforms.os_name(p.interpreter.system)))
    outputs = preflight_probe.probe(wanted) if sys.platform == "darwin" else {}
    wanted = [n for n in wanted if n.name in outputs or n.name == "python"]
    found = preflight.judge(wanted, outputs, p.interpreter.arch, p.interpreter.version)
    refused = preflight.refusal(found, p.target.label)
    if refused:
        raise refused
    return found


def install_plugin(p: Plan, steps: Steps, k: Knowledge, found: list[preflight.Finding]) -> None:
    """Step two of a plugin built at install time: its sdist, by its sha256, against the TensorFlow step one
    installed, without build isolation; the build's output streams. A failure is diagnosed (TensorFlow missing,
    tools missing) and leaves no marker."""
    plugin = p.target.plugin
    assert plugin is not None and p.plugin_lock is not None
    with steps.step("Build %s from its sdist against the installed TensorFlow (%s; it compiles for a while)"
                    % (plugin.name, " ".join(plugin.install_flags))):
        try:
            managers.build(p.manager, p.env, p.plugin_lock, plugin.install_flags, k.signatures)
        except StepFailed as exc:  # no known signature: say what the preflight found (an SDK, make, the macOS)
            if " Cause: " in exc.message:
                raise
            seen = "; ".join("%s: %s" % (f.need.what, f.found) for f in found if f.need.name != "python")
            raise StepFailed("%s\nThe build of %s failed without a known cause%s." % (
                exc.message, plugin.name, "; preflight found " + seen if seen else ""),
                fix=setup_fix_line(p, "rebuilds the environment; the build's output is above")) from None


def setup_fix_line(p: Plan, why: str) -> str:
    """``.tools/bin/invoke setup --env ENV --force [--tensorflow V]  # WHY`` for this plan (``checks.fixes``)."""
    two_step = p.target.plugin is not None and p.target.plugin.two_step
    return fixes.setup(p.env, "--force", *(["--tensorflow", p.target.tensorflow_pin[1]] if two_step else []), why=why)


def dry_run(k: Knowledge, platform: str | None = None, profile: str = "auto", manager: str = "auto",
            python: str | None = None, env: str | None = None, tensorflow: str | None = None,
            requirements: Sequence[str] = (), force: bool = False) -> list[str]:
    """The full plan (preflight, each install step with its lock, its number of pins and hashes, its flags), and
    the project locks with whether each would be resolved. Without ``platform``: what setup would do on this
    machine (the interpreter it chooses, and nothing to do for a complete environment); with it: what a machine of
    that platform would run, from the matrix alone. Nothing is created, resolved or downloaded."""
    proj = project.declared(requirements, settings.config_path())
    if platform is None:
        notes: list[str] = []
        p = plan(k, profile, manager, python, env, say=notes.append, tensorflow=tensorflow, fix_options="--dry-run")
        return _plan_lines(k, "Dry run for this machine (%s): what `invoke setup` would do here. Nothing is "
                           "created, resolved or downloaded." % platform_of(p.interpreter),
                           p, notes, proj, here=True, force=force)
    if tensorflow:
        check_tensorflow_request(k, profile, tensorflow)
    os_name, _, arch = platform.partition("-")
    known = sorted({t.platform for t in k.matrix.targets})
    if platform not in known:
        raise UsageError("--platform %r is not in the matrix (known: %s)" % (platform, ", ".join(known)))
    if profile not in PROFILES:
        raise UsageError("unknown profile %r: choose one of %s" % (profile, ", ".join(PROFILES)))
    prof, reason = platforms.choose_profile(profile, os_name, "arm64" if arch == "aarch64" else arch, False)
    env_path = Path(env).expanduser() if env else DEFAULT_ENV
    target = target_for(k, prof, platform, tensorflow, env_path, "--dry-run --platform %s" % platform)
    supported = matrix.python_versions(target.python)
    python = python if python in supported else supported[-1] if python is None else None
    if python is None:
        raise UsageError("--python for a dry run is a version the target admits: one of %s" % ", ".join(supported))
    mgr = "uv" if manager == "auto" else manager
    if mgr not in managers.MANAGERS:
        raise UsageError("unknown manager %r: choose one of %s" % (manager, ", ".join(managers.MANAGERS)))
    lock, plugin_lock = target.lock_path(python), target.plugin_lock_path(python)
    for path in filter(None, (lock, plugin_lock)):
        check_lock(path)
    interp = interpreters.Interpreter(path="python%s" % python, version=python + ".0", machine=arch, system=os_name)
    p = Plan(prof, reason, target, interp, lock, mgr, env_path, plugin_lock)
    return _plan_lines(k, "Dry run for %s: the plan a machine of that platform would run. Nothing is created, "
                       "resolved or downloaded." % platform, p, [], proj, here=False, auto_manager=manager == "auto")


def _plan_lines(k: Knowledge, head: str, p: Plan, notes: list[str], proj: project.Project | None, here: bool,
                force: bool = False, auto_manager: bool = False) -> list[str]:
    """The dry run's text for a plan: header, project locks, (``here``) the state of an existing environment,
    preflight and steps."""
    python, os_name = p.interpreter.minor, platforms.os_name(p.interpreter.system)
    env_shown, py = matrix.shown(p.env), matrix.shown(environment.python_of(p.env))
    lines = [head] + ["  note     %s" % n.strip() for n in notes] + [
        "  profile  %s: %s" % (p.profile, p.reason),
        "  target   %s (python %s%s)" % (p.target.label, p.target.python,
                                         ", macOS %s" % p.target.macos if p.target.macos else ""),
        "           why: %s" % p.target.why,
        "  python   %s" % (p.interpreter.describe() if here else python),
        "  lock     %s (%s)" % (matrix.shown(p.lock), _counts(p.lock)),
        "  env      %s (manager: %s%s)" % (env_shown, p.manager, ", or venv when uv is missing" if auto_manager
                                           else "")]
    fresh = True
    if proj:
        refuse_project_on(p.target, p.plugin_lock)
        (_, plock, _, fresh), *others = project.planned_locks(k, proj, p.target, python)
        lines.append("  project  %s: %s" % (", ".join(map(matrix.shown, proj.files)), (
            "its lock %s is up to date" % matrix.shown(plock) if fresh else
            "its lock %s is resolved first, with uv, the pair's lock %s as constraints (this needs the index)"
            % (matrix.shown(plock), matrix.shown(p.lock)))))
        lines += ["           and the %s/%s lock %s: %s" % (t.profile, t.platform, matrix.shown(other), "up to date"
                                                         if ok else "resolved too") for t, other, _, ok in others]
        p = replace(p, lock=plock, project=proj.to_json(plock, p.lock))
    if here and not force and fresh and p.env.exists() and up_to_date(p):
        drift = repair.drift_of(p.env, p.lock, p.plugin_lock)
        if drift is not None and drift.ok:
            return lines + ["Environment %s is complete and matches %s: nothing to do (`--force` rebuilds it)."
                            % (env_shown, matrix.shown(p.lock))]
        if drift is not None and not p.project:
            return lines + ["Environment %s departs from %s (%s): setup would repair it in place from the lock."
                            % (env_shown, matrix.shown(p.lock), "; ".join(drift.describe()))]
    wanted = preflight.needs(p.target, python, interpreters.install_hint(python, os_name))
    lines.append("Preflight, before any change%s:" % (" (on the Mac)" if os_name == "macos" else ""))
    for n in wanted:  # each fix on a line of its own: one command, pasted as it stands
        lines += ["  - %s: %s" % (n.what, "`%s`" % " ".join(n.probe) if n.probe else "the interpreter itself"),
                  "      fix: %s" % n.fix]
    lock_shown = Path(matrix.shown(p.lock))
    steps: list[tuple[str, list[str]]] = []
    if here and not force and project.can_sync(p):
        steps.append(("sync %s with %s (only the difference, hashes required)" % (env_shown, lock_shown),
                      managers.install_argv(p.manager, py, lock_shown, fixes.UV)))
    else:
        if here and p.env.exists() and any(p.env.iterdir()):
            steps.append(("remove the %s environment at %s" % ("old" if force else "incomplete or outdated",
                                                               env_shown), []))
        create = {"uv": [fixes.UV, "venv", "--python", p.interpreter.path if here else python, env_shown],
                  "venv": [p.interpreter.path, "-m", "venv", env_shown],
                  "conda": ["conda", "create", "--prefix", env_shown, "-c", "conda-forge", "python=%s" % python,
                            "pip"]}[p.manager]
        steps.append(("create the environment", create))
        counts = _counts(p.lock) if fresh else "the project lock, once resolved"
        steps.append(("install %s: %s" % (lock_shown, counts),
                      managers.install_argv(p.manager, py, lock_shown, fixes.UV)))
        if p.plugin_lock and p.target.plugin:
            steps.append(("then build %s from its sdist against that TensorFlow, %s: %s" % (
                p.target.plugin.name, matrix.shown(p.plugin_lock), _counts(p.plugin_lock)),
                managers.build_argv(p.manager, py, Path(matrix.shown(p.plugin_lock)), p.target.plugin.install_flags,
                                    fixes.UV)))
    lines.append("Steps:")
    for i, (title, argv) in enumerate(steps, 1):
        lines += ["  %d. %s" % (i, title)] + (["     $ %s" % " ".join(shlex.quote(a) for a in argv)] if argv else [])
    lines.append("  %d. write %s/.tfmetal-setup.json (the marker: profile, lock%s and their sha256)" % (
        len(steps) + 1, env_shown, "s" if p.plugin_lock else ""))
    return lines


def _counts(lock: Path) -> str:
    text = lock.read_text(encoding="utf-8")
    pins, hashes = len(locks.pinned(lock)), text.count("--hash=sha256:")
    return "%d pinned package%s, %d sha256 hash%s" % (pins, "s" * (pins != 1), hashes, "es" * (hashes != 1))
