"""``invoke setup``: choose profile, interpreter and lock from the matrix, then build the environment.

An environment is complete only when its marker exists and names the lock it was built from;
a re-run on a complete environment does nothing, an incomplete one of ours is rebuilt.
"""

from __future__ import annotations

import datetime
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from checks import __version__, abi, matrix
from checks.matrix import ROOT, Target
from checks.probes import runner
from scripts import environment, interpreters, locks, managers, network
from scripts.errors import SetupError, usage
from scripts.progress import Steps
from scripts.uvtool import find_uv, uv_env

DEFAULT_ENV = ROOT / ".venv-tf"
PROFILES = ("auto",) + matrix.PROFILES


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


def apple_silicon() -> bool:
    """True on an Apple Silicon Mac, also when this process is translated by Rosetta."""
    if sys.platform != "darwin":
        return False
    done = runner.run(["sysctl", "-n", "hw.optional.arm64"], timeout=5)
    return done.ok and done.stdout.strip() == "1"


def _os_name(interp: interpreters.Interpreter) -> str:
    return {"Darwin": "macos", "Linux": "linux"}.get(interp.system, interp.system.lower())


def platform_of(interp: interpreters.Interpreter) -> str:
    os_name = _os_name(interp)
    arch = "aarch64" if os_name == "linux" and interp.arch == "arm64" else interp.arch
    return "%s-%s" % (os_name, arch)


def choose_profile(requested: str, interp: interpreters.Interpreter, on_apple_silicon: bool):
    """(profile, reason). auto: metal on macOS arm64 with a native interpreter, cpu elsewhere."""
    if requested not in PROFILES:
        raise usage("unknown profile %r: choose one of %s" % (requested, ", ".join(PROFILES)))
    os_name = _os_name(interp)
    if requested == "metal" and not (os_name == "macos" and interp.arch == "arm64"):
        raise usage("--profile metal needs macOS on Apple Silicon with an arm64 Python; this is %s %s"
                    % (os_name, interp.arch))
    if requested != "auto":
        return requested, "asked for with --profile %s" % requested
    if os_name == "macos" and interp.arch == "arm64":
        return "metal", "macOS on Apple Silicon with a native arm64 Python"
    if os_name == "macos" and on_apple_silicon:
        return "metal", "Apple Silicon: an arm64 Python will be looked for (this one is %s)" % interp.arch
    if os_name == "macos":
        return "cpu", "Intel Mac: tensorflow-metal and TensorFlow stopped publishing x86_64 wheels"
    return "cpu", "%s has no Metal GPU (Metal is Apple's GPU API), so TensorFlow runs on the CPU" % (
        os_name.capitalize())


def check_tensorflow_request(m: matrix.Matrix, profile: str, version: str) -> None:
    """Refuse a TensorFlow version the matrix knows to break with the plugin, or does not pin."""
    try:
        Version(version)
    except InvalidVersion:
        raise usage("--tensorflow %r is not a version" % version) from None
    metal_target = m.target("metal", "macos-arm64")
    if profile in ("metal", "auto") and metal_target:
        pin_tf, pin_metal = metal_target.pin("tensorflow"), metal_target.pin("tensorflow-metal")
        pair = m.pair(version, pin_metal)
        static = abi.predict(version, pin_metal)
        if not (pair and pair.status == "broken") and static is not None and not static.loads:
            raise usage("TensorFlow %s cannot load tensorflow-metal %s (static check of the wheels: %s). Working "
                        "alternative: tensorflow==%s tensorflow-metal==%s (invoke setup --tensorflow %s)"
                        % (version, pin_metal, static.short(), pin_tf, pin_metal, pin_tf))
        if pair and pair.status == "broken":
            raise usage("TensorFlow %s does not work with tensorflow-metal %s (%s: %s; %s). Working alternative: "
                        "tensorflow==%s tensorflow-metal==%s (invoke setup --tensorflow %s)"
                        % (version, pin_metal, pair.phase or "import", pair.error, pair.source, pin_tf, pin_metal,
                           pin_tf))
    pins = {t.tensorflow_pin[1] for t in m.targets if profile in ("auto", t.profile)}
    if version not in pins:
        raise usage("TensorFlow %s is not pinned in envs/matrix.json (pinned: %s); to use it, edit the matrix's "
                    "targets and run `invoke lock`" % (version, ", ".join(sorted(pins))))


def plan(profile: str = "auto", manager: str = "auto", python: str | None = None,
         env: str | None = None, say=print, tensorflow: str | None = None) -> Plan:
    """Decide profile, interpreter, lock, manager and path; raise SetupError on bad input."""
    m = matrix.default()
    if profile not in PROFILES:
        raise usage("unknown profile %r: choose one of %s" % (profile, ", ".join(PROFILES)))
    if tensorflow:
        check_tensorflow_request(m, profile, tensorflow)
    env_path = Path(env).expanduser() if env else DEFAULT_ENV
    environment.check_path(env_path)
    if env_path.is_dir() and any(env_path.iterdir()) and not environment.is_owned(env_path):
        raise usage("%s exists and was not created by invoke setup; choose another --env or remove it yourself"
                    % env_path)
    manager = managers.resolve(manager)
    given = _interpreter_from(python)
    on_as = apple_silicon()
    prof, reason = choose_profile(profile, given, on_as)
    arch = "arm64" if (prof == "metal" or on_as and _os_name(given) == "macos") else given.arch
    plat = "%s-%s" % (_os_name(given), "aarch64" if _os_name(given) == "linux" and arch == "arm64" else arch)
    target = m.target(prof, plat)
    if target is None:
        raise usage("the matrix has no %s target for %s (known: %s)" % (prof, plat, ", ".join(m.platforms(prof))))
    interp = given
    if given.arch != arch or not target.python.contains(given.version):
        why = ("an x86_64 Python on Apple Silicon would run under Rosetta" if given.arch != arch else
               "Python %s is outside %s for %s/%s" % (given.minor, target.python, prof, plat))
        found = interpreters.find(target.python, arch, interpreters.candidates())
        newest = matrix.python_versions(target.python)[-1]
        if found is None:
            raise SetupError("%s, and no suitable Python (%s, %s) was found on PATH, pyenv, Homebrew or uv. "
                             "Get one with: %s, then: invoke setup --python %s"
                             % (why, target.python, arch, interpreters.install_hint(newest, _os_name(given)), newest),
                             code=2)
        say("      %s; using %s" % (why, found.describe()))
        interp = found
    lock = target.lock_path(interp.minor)
    if not lock.exists():
        raise usage("no lock file %s: run `invoke lock`" % matrix.shown(lock))
    problem = locks.malformed(lock)
    if problem:
        raise usage("lock file %s is malformed: %s; run `invoke lock` to regenerate it" % (matrix.shown(lock), problem))
    return Plan(prof, reason, target, interp, lock, manager, env_path)


def _interpreter_from(python: str | None) -> interpreters.Interpreter:
    if python and all(part.isdigit() for part in python.split(".")) and python.count(".") == 1:
        spec = SpecifierSet("==%s.*" % python)
        paths = [interpreters.current()] + interpreters.candidates()
        found = next((i for i in map(interpreters.probe, paths) if i and spec.contains(i.version)), None)
        if found is None:
            raise SetupError("--python %s: no such interpreter found. Get one with: %s"
                             % (python, interpreters.install_hint(python, "macos" if sys.platform == "darwin"
                                                                else "linux")), code=2)
        return found
    path = python or interpreters.current()
    interp = interpreters.probe(path)
    if interp is None:
        raise usage("--python %s: not a working Python interpreter" % path)
    return interp


def marker_data(p: Plan, seconds: float) -> dict:
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
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "setup_seconds": round(seconds, 1),
    }


def up_to_date(p: Plan) -> bool:
    marker = environment.read_marker(p.env)
    return bool(marker) and environment.python_of(p.env).exists() and marker.get("profile") == p.profile \
        and marker.get("lock_sha256") == locks.sha256(p.lock) \
        and (marker.get("python") or {}).get("version") == p.interpreter.version


def _index_refuses(p: Plan, url: str) -> str | None:
    """Why the index cannot serve this install, asked with the installer's own trust store (None: it can)."""
    pins = locks.pinned(p.lock)
    if p.manager == "uv" and pins:
        name, version = next(iter(pins.items()))
        return network.unreachable_by_uv(find_uv() or "uv", uv_env(), "%s==%s" % (name, version), p.interpreter.minor)
    return network.unreachable(url)


def setup(profile: str = "auto", manager: str = "auto", python: str | None = None,
          env: str | None = None, force: bool = False, tensorflow: str | None = None) -> Plan:
    """Build (or confirm) the environment. Raises SetupError with a one-line reason on failure."""
    start = time.monotonic()
    notes = []
    p = plan(profile, manager, python, env, say=notes.append, tensorflow=tensorflow)
    steps = Steps(3)
    print("Plan (from envs/matrix.json):", file=sys.stderr)
    for line in notes + ["profile %s: %s" % (p.profile, p.reason), "python  %s" % p.interpreter.describe(),
                         "lock    %s (%s)" % (matrix.shown(p.lock), ", ".join(p.target.requirements)),
                         "env     %s (manager: %s)" % (p.env, p.manager)]:
        steps.note(line.strip())
    if p.env.exists() and not force and up_to_date(p):
        print("Environment %s is complete and matches %s: nothing to do (%.1f s). `--force` rebuilds it."
              % (p.env, matrix.shown(p.lock), time.monotonic() - start), file=sys.stderr)
        return p
    url = network.index_url(p.manager)
    why = _index_refuses(p, url) if url else None
    if why:
        raise SetupError("%s. Nothing was changed%s." % (
            network.refusal(url, why, p.manager), "; %s is untouched" % p.env if p.env.exists() else ""))
    stale = p.env.exists() and any(p.env.iterdir())
    steps.total = 4 if stale else 3
    if stale:
        with steps.step("Remove the %s environment at %s" % ("old" if force else "incomplete or outdated", p.env)):
            environment.remove(p.env)
    environment.claim(p.env)
    with steps.step("Create the environment with %s" % p.manager):
        managers.create(p.manager, p.env, p.interpreter.path)
    with steps.step("Install %d pinned packages (hashes required, bytecode compiled)" % len(locks.pinned(p.lock))):
        managers.install(p.manager, p.env, p.lock)
    environment.write_marker(p.env, marker_data(p, time.monotonic() - start))
    print("Environment ready: %s (%.0f s). Next: invoke verify" % (p.env, time.monotonic() - start),
          file=sys.stderr)
    return p
