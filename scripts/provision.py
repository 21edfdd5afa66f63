"""``invoke setup``: plan (``scripts/plan.py``), then run the decided steps; ``--dry-run`` prints them.

Setup never hands an interpreter to an installer unless it answers as the environment itself
(``managers.require_own``; uv is also pointed at the environment with ``--prefix``), and writes its marker
only once the environment answers as complete (``checks.completeness``): a build that fails that leaves no
marker and says why.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checks import completeness, envdir, envlock, fixes, matrix, platforms, preflight, settings
from checks.errors import Interrupted, StepFailed, UsageError
from checks.knowledge import Knowledge
from checks.paths import default_env
from scripts import interpreters, locks, managers, network, project
from scripts import plan as planning
from scripts import preflight as preflight_probe
from scripts.plan import Decision, Plan, Step
from scripts.progress import Steps
from scripts.uvtool import require_uv, uv_env


def setup(k: Knowledge, profile: str = "auto", manager: str = "auto", python: str | None = None,
          env: str | None = None, force: bool = False, tensorflow: str | None = None,
          requirements: Sequence[str] = (), backend: str | None = None) -> Plan:
    """Build (or confirm) the environment. Raises a TfmError with a one-line reason on failure."""
    start = time.monotonic()
    notes: list[str] = []
    p = planning.with_project(k, planning.plan(k, profile, manager, python, env, say=notes.append,
                                               tensorflow=tensorflow, backend=backend,
                                               fix_options=fixes.requirements_args(requirements)),
                              requirements, say=lambda line: print("      " + line, file=sys.stderr, flush=True),
                              force=force)
    steps = Steps(3)
    print("Plan (from %s):" % matrix.shown(k.path), file=sys.stderr)
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
            raise Interrupted(message, fix=setup_fix_line(p, "finishes or rebuilds it")) from None


def look(p: Plan) -> tuple[dict[str, Any] | None, completeness.State | None]:
    """What is there: the marker, and the environment judged by ``completeness`` (None: no interpreter). A project
    lock not resolved yet (the dry run) has no pins: then only whether the interpreter is the environment's."""
    if not envdir.python_of(p.env).exists():
        return None, None
    pins = planning.pins(p) if p.lock.exists() else {}
    return envdir.read_marker(p.env), completeness.state_of(p.env, pins, p.target.tensorflows)


def _build(k: Knowledge, p: Plan, force: bool, steps: Steps, start: float) -> Plan:
    """Setup's work, under the environment's lock: the decided steps, then the marker once complete."""
    marker, state = look(p)
    d = planning.decide(p, marker, state, force)
    if d.action == "nothing":
        print("Environment %s is complete and matches %s: nothing to do (%.1f s). `--force` rebuilds it."
              % (p.env, matrix.shown(p.lock), time.monotonic() - start), file=sys.stderr)
        return p
    if d.action == "owner":
        envdir.claim(p.env, p.target.backend)
        print("Environment %s is complete; its owner file was missing and is written again." % p.env, file=sys.stderr)
        return p
    found = run_preflight(p)  # before any change
    existed, new = p.env.exists(), not planning._nonempty(p.env)
    if not new or p.manager != "uv":  # something of the user's would change, or pip needs the index: ask it first
        _check_index(p)
    if d.action != "fresh":
        print("Environment %s departs from %s: %s" % (p.env, matrix.shown(p.lock), d.why), file=sys.stderr)
    elif state is not None and not state.own:
        print("Environment %s: %s" % (p.env, d.why), file=sys.stderr)
    steps.total = len(d.steps) + 1  # and the marker, once complete
    question = None  # the completeness probe, started once the environment has its interpreter, before installing
    try:
        for step in d.steps:
            if question is None and step.kind in INSTALLS:
                question = completeness.Question(p.env, planning.pins(p), p.target.tensorflows)
            run_step(k, p, step, steps, found)
    except BaseException as exc:
        if question is not None:
            question.drop()
        if isinstance(exc, StepFailed) and new and p.manager == "uv":  # uv's warm cache needs no index: asked now
            _undo_new(p, existed)
        raise
    after = completeness.state_of(p.env, planning.pins(p), p.target.tensorflows, question)
    names = planning.reinstalled(p, after.drift.damaged) if after.drift.damaged else ()
    if names and p.manager == "uv":  # still damaged: linked from uv's cache, whose copy a file edited in place cut
        steps.total += 1
        with steps.step("Reinstall %s from the index: still damaged, as uv's cache holds it" % ", ".join(names)):
            managers.repair(p.manager, p.env, p.lock, names, k.signatures, fresh=True)
        after = completeness.state_of(p.env, planning.pins(p), p.target.tensorflows)
        if not set(names) & set(after.drift.damaged):
            print("uv's cache holds a damaged copy of %s (a file edited in place in an environment uv hard-linked "
                  "from it): this environment took it from the index, and so will every new one until you run:\n"
                  "  %s" % (", ".join(names), fixes.uv("cache", "clean", *names, why="uv downloads it again, once")),
                  file=sys.stderr)
    with steps.step(planning.MARKER_STEP):
        if not after.ok:
            raise StepFailed("after setup, %s is still not complete (%s); no marker was written" % (
                p.env, "; ".join(after.describe())), fix=setup_fix_line(p, "rebuilds it", "--force"))
        envdir.write_marker(p.env, planning.marker_data(p, time.monotonic() - start))
    print("Environment %s: %s (%.1f s). Next: %s" % (
        "ready" if d.action in ("fresh", "sync") else "repaired", p.env, time.monotonic() - start,
        fixes.command("verify", env=p.env)), file=sys.stderr)
    return p


INSTALLS = ("install", "sync", "repair", "build")  # the steps that run an installer in the environment


def run_step(k: Knowledge, p: Plan, step: Step, steps: Steps, found: list[preflight.Finding]) -> None:
    """Carry out one step of the decision. Before anything is installed the marker goes and the owner file is
    there, so an interrupted step leaves an environment that is ours and incomplete. A conda environment is
    created first and claimed as soon as its creation ends, however it ends: micromamba (and mamba before 2.4)
    refuses to create into a folder that holds anything but conda's own files."""
    claim_after = step.kind == "create" and p.manager == "conda"
    if step.kind != "remove" and not claim_after:
        envdir.unmark(p.env)
        envdir.claim(p.env, p.target.backend)
    if step.kind == "build":
        install_plugin(p, step, steps, k, found)
        return
    with steps.step(step.title):
        if step.kind == "remove":
            envdir.remove(p.env)
        elif step.kind == "create":
            try:
                managers.create(p.manager, p.env, p.interpreter.path, p.interpreter.minor, k.signatures)
            except StepFailed as exc:
                if claim_after and exc.fix is None:  # what conda says is above; uv needs no conda
                    exc.fix = setup_fix_line(p, "builds it with uv instead, which needs no conda", "--manager", "uv")
                raise
            finally:
                if claim_after and p.env.exists():
                    envdir.claim(p.env, p.target.backend)
        elif step.kind in ("install", "sync"):
            managers.install(p.manager, p.env, p.lock, k.signatures)
        elif step.kind == "repair":
            managers.repair(p.manager, p.env, p.lock, step.reinstall, k.signatures, remove=step.remove)


def _undo_new(p: Plan, existed: bool) -> None:
    """A new environment whose install failed: when the index is why, remove what setup made (the directory
    too, unless it was there, empty, before) and say so; otherwise leave it for the user to look at."""
    try:
        _check_index(p, begun=True)
    except StepFailed:
        envdir.remove(p.env)
        if existed:
            p.env.mkdir()
        raise


def _check_index(p: Plan, begun: bool = False) -> None:
    """Stop before changing anything when the index cannot serve the install (``begun``: a new environment's
    install failed, and what setup made of it goes)."""
    url = network.index_url(p.manager)
    why = _index_refuses(p, url) if url else None
    if url and why:
        raise StepFailed("%s. Nothing was changed%s." % (network.refusal(url, why, p.manager), (
            " (what setup had begun at %s is removed)" % p.env if begun else
            "; %s is untouched" % p.env if p.env.exists() else "")))


def _index_refuses(p: Plan, url: str) -> str | None:
    """Why the index cannot serve this install, asked with the installer's own trust store (None: it can)."""
    pins = locks.pinned(p.lock)
    if p.manager == "uv" and pins:
        name, version = next(iter(pins.items()))
        return network.unreachable_by_uv(require_uv(), uv_env(), "%s==%s" % (name, version),
                                         p.interpreter.minor)
    return network.unreachable(url)


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


def install_plugin(p: Plan, step: Step, steps: Steps, k: Knowledge, found: list[preflight.Finding]) -> None:
    """Step two of a plugin built at install time: its sdist, by its sha256, against the TensorFlow step one
    installed, without build isolation; the build's output streams. A failure is diagnosed (TensorFlow missing,
    tools missing) and leaves no marker."""
    plugin = p.target.plugin
    assert plugin is not None and p.plugin_lock is not None
    with steps.step(step.title):
        try:
            managers.build(p.manager, p.env, p.plugin_lock, plugin.install_flags, k.signatures)
        except StepFailed as exc:  # no known signature: say what the preflight found (an SDK, make, the macOS)
            if " Cause: " in exc.message:
                raise
            seen = "; ".join("%s: %s" % (f.need.what, f.found) for f in found if f.need.name != "python")
            raise StepFailed("%s\nThe build of %s failed without a known cause%s." % (
                exc.message, plugin.name, "; preflight found " + seen if seen else ""),
                fix=setup_fix_line(p, "rebuilds the environment; the build's output is above", "--force")) from None


def setup_fix_line(p: Plan, why: str, *options: str) -> str:
    """This plan's setup again, as a fix line: ``--env ENV`` and ``options``, with the plan's backend, two-step pair
    (``--tensorflow V``) and project's requirement files (a fix without them drops the project's packages; the
    marker or owner file that would keep them may be gone)."""
    two_step = p.target.plugin is not None and p.target.plugin.two_step
    files: list[str] = (p.project or {}).get("requirements") or []
    return fixes.setup(p.env, *options, *planning.backend_args(p.target.backend), *(
        ["--tensorflow", p.target.tensorflow_pin[1]] if two_step else []), *fixes.requirements_args(files), why=why)


def dry_run(k: Knowledge, platform: str | None = None, profile: str = "auto", manager: str = "auto",
            python: str | None = None, env: str | None = None, tensorflow: str | None = None,
            requirements: Sequence[str] = (), force: bool = False, backend: str | None = None) -> list[str]:
    """The full plan (preflight, each step with the command it runs), and the project locks with whether each
    would be resolved. Without ``platform``: what setup would do on this machine, decided by the same
    ``plan.decide`` setup runs; with it: what a machine of that platform would run, from the matrix alone.
    Nothing is created, resolved or downloaded."""
    proj = project.declared(requirements, settings.config_path())
    if platform is None:
        notes: list[str] = []
        p = planning.plan(k, profile, manager, python, env, say=notes.append, tensorflow=tensorflow,
                          fix_options=("--dry-run", *fixes.requirements_args(requirements)), backend=backend)
        if proj is None:
            planning.refuse_to_drop(p, force)  # as setup refuses it
        return _plan_lines(k, "Dry run for this machine (%s): what `invoke setup` would do here. Nothing is "
                           "created, resolved or downloaded." % planning.platform_of(p.interpreter),
                           p, notes, proj, here=True, force=force)
    backend = backend or (planning.kept_backend(Path(env).expanduser()) if env else None) or matrix.TENSORFLOW
    planning.check_backend(k, backend, tensorflow, env)
    if tensorflow:
        planning.check_tensorflow_version(tensorflow)
    os_name, _, arch = platform.partition("-")
    known = sorted({t.platform for t in k.matrix.targets})
    if platform not in known:
        raise UsageError("--platform %r is not in the matrix (known: %s)" % (platform, ", ".join(known)))
    if profile not in planning.PROFILES:
        raise UsageError("unknown profile %r: choose one of %s" % (profile, ", ".join(planning.PROFILES)))
    prof, reason = platforms.choose_profile(profile, os_name, "arm64" if arch == "aarch64" else arch, False)
    prof, reason = planning.backend_profile(k, backend, profile, prof, reason, platform)
    env_path = Path(env).expanduser() if env else default_env(backend)
    here = k.matrix.target(prof, platform, backend=backend)
    again = ("--dry-run", "--platform", platform, *fixes.requirements_args(requirements))  # the fix lines' options
    if tensorflow and here is not None:  # (only with the TensorFlow backend: check_backend)
        planning.check_tensorflow_request(k, profile, tensorflow, here.tensorflow_pin[1], planning.retry_with(
            env_path, again, profile))
    target = planning.target_for(k, prof, platform, tensorflow, env_path, again, backend)
    supported = matrix.python_versions(target.python)
    python = python if python in supported else supported[-1] if python is None else None
    if python is None:
        raise UsageError("--python for a dry run is a version the target admits: one of %s" % ", ".join(supported))
    mgr = "uv" if manager == "auto" else manager
    if mgr not in managers.MANAGERS:
        raise UsageError("unknown manager %r: choose one of %s" % (manager, ", ".join(managers.MANAGERS)))
    lock, plugin_lock = target.lock_path(python), target.plugin_lock_path(python)
    for path in filter(None, (lock, plugin_lock)):
        planning.check_lock(path)
    interp = interpreters.Interpreter(path="python%s" % python, version=python + ".0", machine=arch, system=os_name)
    p = Plan(prof, reason, target, interp, lock, mgr, env_path, plugin_lock)
    return _plan_lines(k, "Dry run for %s: the plan a machine of that platform would run. Nothing is created, "
                       "resolved or downloaded." % platform, p, [], proj, here=False, auto_manager=manager == "auto")


def _backend_lines(k: Knowledge, p: Plan) -> list[str]:
    """For Keras on torch or JAX: the GPU path the backend has on this platform, or that it runs on the CPU."""
    b = k.matrix.backend(p.target.backend)
    if b is None or b.name == matrix.TENSORFLOW:
        return []
    platform = p.target.platform
    return ["  backend  Keras 3 on %s: %s" % (b.name, "the GPU through %s%s" % (
        b.accelerator[platform], ", which needs macOS %s" % p.target.macos if p.target.macos else "")
        if platform in b.accelerator else "the CPU only on %s" % platform)]


def _project_lines(k: Knowledge, p: Plan, proj: project.Project) -> tuple[Plan, bool, list[str]]:
    """The plan on the project lock, whether that lock is up to date, and the lines that say so."""
    planning.refuse_project_on(p.target, p.plugin_lock)
    (_, plock, _, fresh), *others = project.planned_locks(k, proj, p.target, p.interpreter.minor)
    lines = ["  project  %s: %s" % (", ".join(map(matrix.shown, proj.files)), (
        "its lock %s is up to date" % matrix.shown(plock) if fresh else
        "its lock %s is resolved first, with uv, the pair's lock %s as constraints (this needs the index)"
        % (matrix.shown(plock), matrix.shown(p.lock))))]
    lines += ["           and the %s/%s lock %s: %s" % (t.profile, t.platform, matrix.shown(other), "up to date"
                                                     if ok else "resolved too") for t, other, _, ok in others]
    return p._replace(lock=plock, project=proj.to_json(plock, p.lock)), fresh, lines


def _decision_here(p: Plan, fresh_lock: bool, force: bool) -> Decision:
    """Setup's own decision for this machine's environment (``plan.decide``); a project lock still to resolve
    cannot be compared with the environment: then an environment that is its own is synced to it, as setup does."""
    marker, state = look(p)
    if fresh_lock or state is None or force or not state.own:  # decide rebuilds the last three before any lock
        return planning.decide(p, marker, state, force)
    if planning.can_sync(p, marker):
        return Decision("sync", "the project lock is resolved first", planning.sync_steps(p))
    return Decision("fresh", "the project lock is resolved first", planning.fresh_steps(p, stale=True, force=False))


def _plan_lines(k: Knowledge, head: str, p: Plan, notes: list[str], proj: project.Project | None, here: bool,
                force: bool = False, auto_manager: bool = False) -> list[str]:
    """The dry run's text for a plan: header, project locks, the decision (``here``: setup's own, over the
    environment that is there), preflight and the steps with their commands."""
    python, os_name = p.interpreter.minor, platforms.os_name(p.interpreter.system)
    env_shown = matrix.shown(p.env)
    lines = [head] + ["  note     %s" % n.strip() for n in notes] + [
        "  profile  %s: %s" % (p.profile, p.reason),
        "  target   %s (python %s%s)" % (p.target.label, p.target.python,
                                         ", macOS %s" % p.target.macos if p.target.macos else ""),
        "           why: %s" % p.target.why] + _backend_lines(k, p) + [
        "  python   %s" % (p.interpreter.describe() if here else python),
        "  lock     %s (%s)" % (matrix.shown(p.lock), _counts(p.lock)),
        "  env      %s (manager: %s%s)" % (env_shown, p.manager, ", or venv when uv is missing" if auto_manager
                                           else "")]
    fresh = True
    if proj:
        p, fresh, more = _project_lines(k, p, proj)
        lines += more
    d = _decision_here(p, fresh, force) if here else Decision("fresh", "a new machine", planning.fresh_steps(
        p, stale=False, force=False))
    if d.action in ("nothing", "owner"):
        return lines + ["Environment %s is complete and matches %s: nothing to do (`--force` rebuilds it)."
                        % (env_shown, matrix.shown(p.lock))]
    if d.action == "repair":
        lines.append("Environment %s departs from %s (%s): setup would repair it in place from the lock."
                     % (env_shown, matrix.shown(p.lock), d.why))
    elif here and d.action == "fresh" and envdir.python_of(p.env).exists():
        lines.append("Environment %s: %s; setup would build it anew." % (env_shown, d.why))
    wanted = preflight.needs(p.target, python, interpreters.install_hint(python, os_name))
    if here:  # the interpreter plan() chose meets its own need: only what is left to check is listed
        wanted = [n for n in wanted if n.name != "python"]
    lines.append("Preflight, before any change%s:" % (" (on the Mac)" if os_name == "macos" else ""))
    for n in wanted:  # each fix on a line of its own: one command, pasted as it stands
        lines += ["  - %s: %s" % (n.what, "`%s`" % " ".join(n.probe) if n.probe else "the interpreter itself"),
                  "      fix: %s" % n.fix]
    if not wanted:
        lines.append("  - nothing left to check: %s meets the target" % p.interpreter.describe())
    lines.append("Steps:")
    for i, step in enumerate(d.steps, 1):
        title = step.title[0].lower() + step.title[1:]
        if step.kind == "install" and step.lock is not None:
            title = "install %s: %s" % (matrix.shown(step.lock), _counts(step.lock) if fresh else
                                        "the project lock, once resolved")
        elif step.kind == "build" and step.lock is not None and p.target.plugin:
            title = "then build %s from its sdist against that TensorFlow, %s: %s" % (
                p.target.plugin.name, matrix.shown(step.lock), _counts(step.lock))
        lines.append("  %d. %s" % (i, title))
        lines += ["     $ %s" % " ".join(shlex.quote(a) for a in argv)
                  for argv in planning.argvs(p, step, fixes.UV, shown=True)]
    lines.append("  %d. %s" % (len(d.steps) + 1, planning.MARKER_STEP[0].lower() + planning.MARKER_STEP[1:]))
    return lines


def _counts(lock: Path) -> str:
    text = lock.read_text(encoding="utf-8")
    pins, hashes = len(locks.pinned(lock)), text.count("--hash=sha256:")
    return "%d pinned package%s, %d sha256 hash%s" % (pins, "s" * (pins != 1), hashes, "es" * (hashes != 1))
