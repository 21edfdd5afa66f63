"""Setup's plan: what to build (profile, interpreter, target, locks, manager, path) and the one decision of
what to do with the environment that is there (nothing, repair, sync or fresh), as steps.

Pure over what was probed, save the interpreter discovery and the project lock resolution at the edges;
``invoke setup`` runs the steps (``scripts/provision.py``) and ``--dry-run`` prints the very same steps.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable, NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from checks import __version__, envdir, fixes, lanes, matrix, platforms, process, settings
from checks.completeness import State
from checks.errors import UsageError
from checks.knowledge import Knowledge, judge_pair, valid_version
from checks.matrix import Target
from checks.paths import MARKER, default_env
from scripts import interpreters, locks, managers, project

PROFILES = ("auto",) + platforms.PROFILES
MARKER_STEP = "Write the marker %s (profile, lock and their sha256) once the environment answers as complete" % MARKER


class Plan(NamedTuple):
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


def check_tensorflow_version(version: str) -> None:
    if not valid_version(version):
        raise UsageError("--tensorflow %r is not a version" % version)


def check_tensorflow_request(k: Knowledge, profile: str, version: str, pin: str,
                             retry: Callable[[str, str], str]) -> None:
    """Refuse a TensorFlow version that the pair judgement calls broken with the pinned plugin, or not pinned.
    The one fix is ``retry(V, why)``: the command the user ran, with ``pin`` (this platform's default TensorFlow)."""
    check_tensorflow_version(version)
    if any(t.tensorflow_pin[1] == version for t in k.matrix.tensorflow_targets if profile in ("auto", t.profile)):
        return  # a target pins it (2.21.0: the community Metal pair)
    # no pair covers it (2.22): what exists for it, and what does not yet
    lanes.check(k, profile, version, retry(pin, "a TensorFlow this platform pins"))
    working = k.working_pair()
    if profile in ("metal", "auto") and working:
        pin_tf, plugin, pin_plugin = working
        j = judge_pair(k, version, pin_plugin, plugin)
        if j.verdict == "broken":
            raise UsageError("%s %s (source: %s). Working alternative: %s" % (j.label, j.reason, j.source,
                                                                                 j.alternative),
                             fix=retry(pin, "the working pair" if pin == pin_tf else "this platform's pin"))
    pins = {t.tensorflow_pin[1] for t in k.matrix.tensorflow_targets if profile in ("auto", t.profile)}
    if version not in pins:
        raise UsageError("TensorFlow %s is not pinned in envs/matrix.json (pinned: %s); to use it, add a target "
                         "that pins it to the matrix, then run `.tools/bin/invoke lock`" % (
                             version, ", ".join(sorted(pins, key=Version))),
                         fix=retry(pin, "a pinned TensorFlow"))


def retry_with(env: str | Path, fix_options: Sequence[str], profile: str) -> Callable[[str, str], str]:
    """The fix line that runs setup (or its dry run: ``fix_options``) again with another ``--tensorflow``."""
    return lambda version, why: fixes.setup(env, *fix_options, *(
        ["--profile", profile] if profile != "auto" else []), "--tensorflow", version, why=why)


def backend_args(backend: str) -> list[str]:
    """``--backend B`` for a fix line, unless B is TensorFlow (the default, and what an environment without its
    owner file gets)."""
    return [] if backend == matrix.TENSORFLOW else ["--backend", backend]


def check_backend(k: Knowledge, backend: str, tensorflow: str | None, env: str | None = None) -> None:
    """A backend the matrix knows; ``--tensorflow`` only with the TensorFlow backend."""
    if k.matrix.backend(backend) is None:
        raise UsageError("unknown backend %r: choose one of %s" % (backend, ", ".join(
            b.name for b in k.matrix.backends)))
    if tensorflow and backend != matrix.TENSORFLOW:
        raise UsageError("--tensorflow pins TensorFlow, and the %s backend installs none (Keras 3 on %s)"
                         % (backend, backend), fix=fixes.setup(env or default_env(backend), "--backend", backend,
                                                             why="without --tensorflow"))


def backend_profile(k: Knowledge, backend: str, requested: str, prof: str, reason: str,
                    plat: str) -> tuple[str, str]:
    """The profile for a backend: a GPU profile this backend has no target for falls back to the CPU under auto
    (Keras on JAX on a Mac: jax-metal is abandoned), and is refused when asked for."""
    if backend == matrix.TENSORFLOW:
        return prof, reason
    if k.matrix.target(prof, plat, backend=backend) is not None:
        return prof, reason.replace("TensorFlow", "Keras on %s" % backend)
    cpu = "cpu" if k.matrix.target("cpu", plat, backend=backend) is not None else None
    b = k.matrix.backend(backend)
    if cpu and requested == "auto":
        return cpu, "the %s backend has no GPU path on %s: %s" % (backend, plat, b.why.rstrip(".") if b else "")
    raise UsageError("the %s backend has no %s target on %s%s" % (
        backend, prof, plat, ": %s" % b.why.rstrip(".") if b and cpu else ""), fix=fixes.setup(
        default_env(backend), "--backend", backend, "--profile", "cpu", why="its CPU profile") if cpu else None)


def plan(k: Knowledge, profile: str = "auto", manager: str = "auto", python: str | None = None,
         env: str | None = None, say: Callable[[str], Any] = print, tensorflow: str | None = None,
         fix_options: Sequence[str] = (), backend: str | None = None) -> Plan:
    """Decide profile, interpreter, lock, manager and path; raise UsageError on bad input (``fix_options``: more
    options for its fix line, such as the dry run's and the project's requirement files). Without ``backend`` an
    environment keeps its own."""
    if profile not in PROFILES:
        raise UsageError("unknown profile %r: choose one of %s" % (profile, ", ".join(PROFILES)))
    backend = backend or (kept_backend(Path(env).expanduser()) if env else None) or matrix.TENSORFLOW
    named = Path(env).expanduser() if env else default_env(backend)  # as the fix lines name it
    check_backend(k, backend, tensorflow, str(named))
    if tensorflow:
        check_tensorflow_version(tensorflow)
    env_path = envdir.resolve(named)
    envdir.check_path(env_path)
    if env_path.is_dir() and any(env_path.iterdir()) and not envdir.is_owned(env_path):
        raise UsageError("%s exists and was not created by invoke setup; choose another --env or remove it yourself"
                    % env_path)
    manager = managers.resolve(manager, env_path)
    kept_python = None if python else kept_interpreter(env_path)
    if kept_python is not None:  # without --python an environment keeps the Python it was set up with
        say("      keeps Python %s, as %s was set up (--python chooses another)" % (kept_python.version, env_path))
        python = kept_python.path
    try:
        given, missing = _interpreter_from(python, env_path), None
    except NoInterpreter as exc:  # the fix names a Python the target admits, once the target is known
        given, missing = _interpreter_from(None, env_path), exc
    on_as = apple_silicon()
    os_name = platforms.os_name(given.system)
    try:
        prof, reason = platforms.choose_profile(profile, os_name, given.arch, on_as)
    except UsageError as exc:  # --profile metal where there is no Metal (or not with this Python)
        auto, why = platforms.choose_profile("auto", os_name, given.arch, on_as)
        auto_plat = platforms.platform_key(os_name, platforms.target_arch(auto, os_name, given.arch, on_as))
        mine = k.matrix.target(auto, auto_plat)
        if tensorflow and mine is not None:  # a refused TensorFlow is said first; its fix leaves the profile alone
            check_tensorflow_request(k, profile, tensorflow, mine.tensorflow_pin[1],
                                     retry_with(named, fix_options, "auto"))
        pinned = tensorflow if tensorflow and k.matrix.target(auto, auto_plat, tensorflow) else None
        raise UsageError(exc.message, fix=fixes.setup(
            named, *fix_options, *(["--tensorflow", pinned] if pinned else []), *backend_args(backend),
            why="the %s profile this machine has: %s" % (auto, why))) from None
    arch = platforms.target_arch(prof, os_name, given.arch, on_as)
    plat = platforms.platform_key(os_name, arch)
    prof, reason = backend_profile(k, backend, profile, prof, reason, plat)
    here = k.matrix.target(prof, plat, backend=backend)
    if tensorflow and here is not None:  # (only with the TensorFlow backend: check_backend)
        check_tensorflow_request(k, profile, tensorflow, here.tensorflow_pin[1],
                                 retry_with(named, fix_options, profile))
    kept = None if tensorflow else kept_target(k, prof, plat, env_path, backend)
    if kept is not None and here is not None and kept is not here:
        say("      keeps %s, as %s was set up (--tensorflow %s chooses the default)"
            % (kept.label, env_path, here.tensorflow_pin[1]))
        target = kept
    else:
        target = target_for(k, prof, plat, tensorflow, env_path, fix_options, backend)
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


def target_for(k: Knowledge, prof: str, plat: str, tensorflow: str | None, env: Path, fix_options: Sequence[str] = (),
               backend: str = matrix.TENSORFLOW) -> Target:
    """The matrix's target for ``prof``/``plat`` (and ``--tensorflow``), or a UsageError naming this platform's pin
    and the fix line that uses it (with ``fix_options``)."""
    if backend != matrix.TENSORFLOW:
        found = k.matrix.target(prof, plat, backend=backend)
        if found is None:
            raise UsageError("the matrix has no %s target for Keras on %s on %s (known: %s)" % (
                prof, backend, plat, ", ".join("%s/%s" % (t.profile, t.platform) for t in k.matrix.targets
                                               if t.backend == backend)))
        return found
    target, here = k.matrix.target(prof, plat, tensorflow), k.matrix.target(prof, plat)
    if target is None and tensorflow and here is not None:
        raise UsageError("TensorFlow %s is pinned for another platform, not for %s/%s, which pins %s==%s"
                         % ((tensorflow, prof, plat) + here.tensorflow_pin),
                         fix=fixes.setup(env, *fix_options, "--tensorflow", here.tensorflow_pin[1],
                                         why="this platform's pin"))
    if target is None:
        raise UsageError("the matrix has no %s target for %s%s (known: %s)" % (
            prof, plat, " with TensorFlow %s" % tensorflow if tensorflow else "", ", ".join(
                "%s (%s)" % (t.platform, t.tensorflow_pin[1])
                for t in k.matrix.tensorflow_targets if t.profile == prof)))
    return target


def kept_interpreter(env: Path) -> interpreters.Interpreter | None:
    """The interpreter an environment of ours was set up with (its marker), when it still runs."""
    recorded = ((envdir.read_marker(env) or {}).get("python") or {}).get("path") if env.is_dir() else None
    return interpreters.probe(recorded) if recorded and Path(recorded).exists() else None


def kept_target(k: Knowledge, profile: str, platform: str, env: Path,
                backend: str = matrix.TENSORFLOW) -> Target | None:
    """The target an environment of ours was set up with (its marker's requirements), when it is one of this
    profile and platform: setup without ``--tensorflow`` repairs it as it was chosen, not with the default pair."""
    wanted = (envdir.read_marker(env) or {}).get("requirements") if env.is_dir() else None
    return next((t for t in k.matrix.targets_for(profile, platform, backend)
                 if wanted and list(t.requirements) == wanted), None)


def kept_backend(env: Path) -> str | None:
    """The backend an environment of ours was set up with (its marker, else its owner file: a build interrupted
    before its marker), so setup without ``--backend`` keeps it, and every fix line ``setup --env E`` heals it."""
    if not env.is_dir():
        return None
    found = (envdir.read_marker(env) or {}).get("backend") or envdir.owner_backend(env)
    return str(found) if found else None


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
        "backend": p.target.backend,
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


def up_to_date(p: Plan, marker: dict[str, Any] | None) -> bool:
    """The marker names this plan: its profile, lock (and plugin lock) by sha256, and Python."""
    if not marker:
        return False
    return marker.get("profile") == p.profile \
        and marker.get("lock_sha256") == locks.sha256(p.lock) \
        and marker.get("plugin_lock_sha256") == (locks.sha256(p.plugin_lock) if p.plugin_lock else None) \
        and (marker.get("python") or {}).get("version") == p.interpreter.version


def with_project(k: Knowledge, p: Plan, requirements: Sequence[str], say: Callable[[str], Any],
                 force: bool = False) -> Plan:
    """The plan on the team's project lock (resolved now if its inputs changed), or unchanged without a project."""
    proj = project.declared(requirements, settings.config_path())
    if proj is None:
        refuse_to_drop(p, force)
        return p
    refuse_project_on(p.target, p.plugin_lock)
    try:
        lock = project.ensure_locks(k, proj, p.target, p.interpreter.minor, say=say)
    except project.NotOnIndex as exc:  # the fix: the same setup, once the file names what the index has
        raise UsageError(exc.message, fix=fixes.setup(p.env, *(fixes.requirements_args(proj.files) if proj.source ==
                                                               "--requirements" else []),
                                                      why="once %s names %s as the index does, or drops it"
                                                      % (fixes.shown(exc.file), exc.name))) from None
    problem = locks.malformed(lock)
    if problem:
        raise UsageError("project lock %s is malformed: %s; delete it and run setup again to re-resolve it"
                         % (lock, problem))
    return p._replace(lock=lock, project=proj.to_json(lock, p.lock))


def refuse_project_on(target: Target, plugin_lock: Path | None) -> None:
    """Project requirements on a pair whose plugin is built at install time are not supported yet."""
    if plugin_lock:
        raise UsageError("project requirements on %s (a plugin built at install time) are not supported yet: "
                         "use the default pair, or install them yourself after setup" % target.label)




def refuse_to_drop(p: Plan, force: bool) -> None:
    """Setup without requirements on an environment built with a project's would drop its packages: only with
    ``--force``."""
    marker = envdir.read_marker(p.env) if not force else None
    files = ((marker or {}).get("project") or {}).get("requirements")
    if files:
        raise UsageError("%s was set up with your project's requirements; without them setup would remove their "
                         "packages. Name them again (or pass --force to rebuild without them)" % p.env,
                         fix=fixes.setup(p.env, *fixes.requirements_args(files)))


def can_sync(p: Plan, marker: dict[str, Any] | None) -> bool:
    """A project environment of ours, same profile and Python: install only the difference, keep the rest."""
    if not (p.project and marker):
        return False
    return marker.get("profile") == p.profile and (marker.get("python") or {}).get("version") == p.interpreter.version


class Step(NamedTuple):
    """One thing setup does to the environment; the dry run prints it with the command it runs."""

    kind: str  # remove, create, install, sync, repair, build, owner
    title: str
    lock: Path | None = None
    reinstall: tuple[str, ...] = ()  # repair: distributions rewritten (damaged files, the locked TensorFlow)
    remove: tuple[str, ...] = ()  # repair: distributions uninstalled first (a second TensorFlow)


class Decision(NamedTuple):
    """What setup does with the environment that is there, why, and the steps."""

    action: str  # nothing, owner, repair, sync, fresh
    why: str
    steps: tuple[Step, ...] = ()


def pins(p: Plan) -> dict[str, str]:
    """What the environment must hold: the lock (the project's, when there is one) and the plugin's lock."""
    from checks.completeness import lock_pins

    return lock_pins(p.lock, p.plugin_lock)


def decide(p: Plan, marker: dict[str, Any] | None, state: State | None, force: bool) -> Decision:
    """The one decision of setup and its dry run, from the plan, the marker and ``completeness.judge``'s state
    of the environment (None: there is none, or it is empty)."""
    env = matrix.shown(p.env)
    if state is None or force or not state.own:
        why = ("--force rebuilds it" if force and state is not None else "there is no environment yet"
               if state is None else "; ".join(state.describe()) + ": it is rebuilt, never installed into")
        return Decision("fresh", why, fresh_steps(p, stale=state is not None or _nonempty(p.env), force=force))
    matches = up_to_date(p, marker)
    if matches and state.ok:
        if not envdir.owner_written(p.env):
            return Decision("owner", "complete; its owner file was missing and is written again",
                            (Step("owner", "Write the owner file of %s" % env),))
        return Decision("nothing", "%s is complete and matches %s" % (env, matrix.shown(p.lock)))
    hurt = bool(state.drift.damaged or state.extra_tensorflows)  # a sync neither rewrites files nor keeps shared ones
    if can_sync(p, marker) and not hurt:
        return Decision("sync", "; ".join(state.describe()) or "the project lock changed", sync_steps(p))
    if matches or can_sync(p, marker):
        return Decision("repair", "; ".join(state.describe()), repair_steps(p, state))
    return Decision("fresh", "setup never finished here (no completion marker)" if marker is None else
                    "it was set up from another lock, profile or Python", fresh_steps(p, stale=True, force=False))


def sync_steps(p: Plan) -> tuple[Step, ...]:
    """A project environment of ours brought to its (changed) project lock: only the difference."""
    return (Step("sync", "Sync %s with %s (only the difference, hashes required)" % (p.env, matrix.shown(p.lock)),
                 p.lock),)


def _nonempty(env: Path) -> bool:
    return env.is_dir() and any(env.iterdir())


def fresh_steps(p: Plan, stale: bool, force: bool) -> tuple[Step, ...]:
    out = [Step("remove", "Remove the %s environment at %s" % ("old" if force else "incomplete or outdated",
                                                                p.env))] if stale else []
    out += [Step("create", "Create the environment with %s" % p.manager),
            Step("install", "Install %s (hashes required)" % ("%d pinned packages" % len(locks.pinned(p.lock))
                                                              if p.lock.exists() else "the project lock"), p.lock)]
    return tuple(out) + plugin_steps(p)


def plugin_steps(p: Plan) -> tuple[Step, ...]:
    plugin = p.target.plugin
    if not (p.plugin_lock and plugin):
        return ()
    return (Step("build", "Build %s from its sdist against the installed TensorFlow (%s; it compiles for a while)"
                 % (plugin.name, " ".join(plugin.install_flags)), p.plugin_lock),)


def repair_steps(p: Plan, state: State) -> tuple[Step, ...]:
    """Put a drifted environment back to its lock in place; a plugin built at install time that departs from its
    lock is built again against the repaired TensorFlow; a second TensorFlow is uninstalled and the locked one
    rewritten (the two share their files)."""
    drift = state.drift
    rebuild = bool(plugin_pins(p) & (set(drift.missing) | set(drift.changed) | set(drift.damaged)))
    reinstall = set(reinstalled(p, drift.damaged))
    if state.extra_tensorflows:
        reinstall.add(p.target.tensorflow_pin[0])
    out = (Step("repair", "Repair in place from the lock (hashes required)", p.lock, tuple(sorted(reinstall)),
                state.extra_tensorflows),)
    return out + (plugin_steps(p) if rebuild else ())


def reinstalled(p: Plan, damaged: Iterable[str]) -> tuple[str, ...]:
    """The damaged distributions that the main lock installs again (a plugin built here is built again instead)."""
    return tuple(sorted(set(damaged) & set(locks.pinned(p.lock)) - plugin_pins(p)))


def plugin_pins(p: Plan) -> set[str]:
    """What the lock of a plugin built at install time pins (none without such a plugin)."""
    return set(locks.pinned(p.plugin_lock)) if p.plugin_lock and p.target.plugin else set()


def argvs(p: Plan, step: Step, uv: str, shown: bool = False) -> list[list[str]]:
    """The commands a step runs (``shown``: paths as the user reads them, for the dry run)."""
    env: str | Path = matrix.shown(p.env) if shown else p.env
    lock = Path(matrix.shown(step.lock)) if shown and step.lock else step.lock
    if step.kind == "create":
        return [managers.create_argv(p.manager, env, p.interpreter.path, p.interpreter.minor, uv)]
    if step.kind in ("install", "sync") and lock:
        return [managers.install_argv(p.manager, env, lock, uv)]
    if step.kind == "repair" and lock:
        return managers.repair_argvs(p.manager, env, lock, step.reinstall, step.remove, uv=uv)
    if step.kind == "build" and lock and p.target.plugin:
        return [managers.build_argv(p.manager, env, lock, p.target.plugin.install_flags, uv)]
    return []
