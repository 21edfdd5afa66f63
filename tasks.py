"""Invoke tasks: the front door. Parse options, call scripts/ and checks/, map errors to exit codes.

Exit codes: 0 success; 1 a check or a step failed; 2 bad usage or an internal error; 130 interrupted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from invoke import Exit, task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from checks import matrix as matrix_mod  # noqa: E402
from checks import settings  # noqa: E402
from scripts import environment, locks, provision  # noqa: E402
from scripts.errors import SetupError  # noqa: E402


def _positive(name: str, value: str | None) -> str | None:
    """Options that take numbers arrive as strings (invoke's own float parsing crashes on 'abc')."""
    if value is None:
        return None
    try:
        settings.positive(value, "--" + name)
    except settings.SettingsError as exc:
        raise Exit("error: %s" % exc, code=2) from None
    return value


@task(help={
    "profile": "auto (default): metal on Apple Silicon with a native arm64 Python, cpu elsewhere; or metal, cpu",
    "manager": "auto (default: uv when available, else venv), uv, venv or conda (conda, mamba or micromamba)",
    "python": "interpreter for the environment: a path, or a version such as 3.12 to look for",
    "env": "environment directory (default: .venv-tf in the repository)",
    "force": "rebuild even if complete; deletes only a directory that invoke setup created",
    "tensorflow": "refuse unless this TensorFlow version is the matrix's pin (known-broken pairs are explained)",
})
def setup(c, profile="auto", manager="auto", python=None, env=None, force=False, tensorflow=None):
    """Create the environment with the matrix's tensorflow / tensorflow-metal pair for this machine."""
    try:
        provision.setup(profile=profile, manager=manager, python=python, env=env, force=force, tensorflow=tensorflow)
    except SetupError as exc:
        raise Exit("error: %s" % exc, code=exc.code) from None
    except matrix_mod.MatrixError as exc:
        raise Exit("error: %s" % exc, code=2) from None
    except KeyboardInterrupt:
        raise Exit("interrupted: run `invoke setup` again to repair the environment", code=130) from None


def _run_checks(env: str | None, args: list[str]) -> int:
    """Run `python -m checks ARGS` with the environment's own interpreter; exit 2 if there is none."""
    env_path = Path(env).expanduser() if env else provision.DEFAULT_ENV
    python = environment.python_of(env_path)
    if not python.exists():
        raise Exit("error: no environment at %s (no bin/python): run `invoke setup` first" % env_path, code=2)
    run_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    try:
        return subprocess.call([str(python), "-m", "checks", *args], env=run_env, stdin=subprocess.DEVNULL)
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None


@task(help={
    "env": "environment to verify (default: .venv-tf in the repository)",
    "json": "also write every result and its facts to this JSON file",
    "junit": "also write JUnit XML to this file (CI test reporters)",
    "require_gpu": "fail, instead of skip, when there is no usable GPU (CI preflight)",
    "min_speedup": "GPU must beat the CPU matmul by this factor (default: 1.5; also TFM_MIN_SPEEDUP, tfmetal.json)",
    "budget": "seconds for the matmuls, warm-ups included, all devices together (default: 3)",
    "trace": "also capture a TensorFlow profiler trace of the timed matmul into this directory",
    "timeout": "seconds before the TensorFlow child is killed (default: 300)",
    "profile": "auto (default: from the setup marker), metal or cpu",
    "strict": "warnings fail the run too",
})
def verify(c, env=None, json=None, junit=None, require_gpu=False, min_speedup=None, budget=None, timeout=None,
           profile="auto", strict=False, trace=None):
    """Run the checks with the environment's own interpreter: architecture, packages, devices, matmul."""
    argv: list[str] = ["--profile", profile]
    for flag, value in (("--min-speedup", _positive("min-speedup", min_speedup)),
                        ("--budget", _positive("budget", budget)), ("--timeout", _positive("timeout", timeout)),
                        ("--json", json), ("--junit", junit), ("--trace", trace)):
        if value is not None:
            argv += [flag, str(value)]
    argv += ["--require-gpu"] * bool(require_gpu) + ["--strict"] * bool(strict)
    code = _run_checks(env, argv)
    if code:
        raise Exit(code=code if code in (1, 2, 130) else 2)


@task(help={"file": "file holding the error text (default: read standard input)"})
def diagnose(c, file=None):
    """Explain an error message (TensorFlow, tensorflow-metal, pip, uv) with its known cause and fix."""
    from checks.cli import diagnose_main

    code = diagnose_main([file] if file else ["-"])
    if code:
        raise Exit(code=code)


@task(help={"env": "environment to report on (default: .venv-tf)", "out": "bundle directory (default: report)"})
def report(c, env=None, out="report"):
    """Run every probe and write a bundle (one file per probe) plus summary.md for a bug report."""
    code = _run_checks(env, ["--record", out, "--json", os.path.join(out, "results.json")])
    if code not in (0, 1):  # a failed check is still a good report
        raise Exit(code=code)


@task
def lock(c):
    """Re-resolve every lock file in envs/locks/ from envs/matrix.json with uv (hashes for every file)."""
    try:
        m = matrix_mod.load()
        print("Resolving %d lock files with uv ..." % len(locks.all_locks(m)))
        locks.write_all(m)
    except SetupError as exc:
        raise Exit("error: %s" % exc, code=exc.code) from None
    except matrix_mod.MatrixError as exc:
        raise Exit("error: %s" % exc, code=2) from None


@task(help={
    "tensorflow": "TensorFlow version (e.g. 2.19.1; a patch release uses its line's fingerprint)",
    "metal": "tensorflow-metal version (e.g. 1.2.0)",
    "refresh": "rebuild the fingerprints in envs/abi/ from the PyPI wheels first (about 2 GB, cached)",
})
def abi(c, tensorflow=None, metal=None, refresh=False):
    """Predict from the wheels' binaries whether tensorflow-metal loads with a TensorFlow (macOS arm64), and
    whether that TensorFlow exports the kernel C API for resource variables."""
    from packaging.version import InvalidVersion, Version

    from checks import abi as abi_mod
    from checks import kernel_api

    for name, value in (("tensorflow", tensorflow), ("metal", metal)):
        if value:
            try:
                Version(value)
            except InvalidVersion:
                raise Exit("error: --%s %r is not a version" % (name, value), code=2) from None
    if refresh:
        from scripts import abi as refresh_mod

        start = time.monotonic()
        changes = refresh_mod.refresh()
        size = sum(p.stat().st_size for p in refresh_mod.CACHE.glob("*.whl"))
        print("refreshed in %.0f s; wheels in %s: %.2f GB" % (time.monotonic() - start, refresh_mod.CACHE, size / 1e9))
        for name, what in changes.items():
            if what != "unchanged":
                print("  %s: %s" % (name, what))
        abi_mod.fingerprints.cache_clear()
        from scripts import kernel_api as kernel_refresh

        print("  %s: %s" % (kernel_api.DATA_PATH.name, kernel_refresh.refresh()))
        kernel_api.load.cache_clear()
    lines = abi_mod.report(matrix_mod.load(), tensorflow, metal)
    if lines is None:
        raise Exit("error: no fingerprint covers that pair; add it to envs/abi-grid.json and run "
                   "`invoke abi --refresh`", code=2)
    if not tensorflow:
        lines += [""] + kernel_api.summary()
    else:
        lines += [""] + (kernel_api.report(tensorflow) or [
            "Kernel C API for resource variables: TensorFlow %s is not recorded in %s" % (
                tensorflow, kernel_api.DATA_PATH.name)])
    print("\n".join(lines))


@task
def matrix(c):
    """Print the compatibility matrix: what setup installs, and every known tensorflow-metal pair."""
    try:
        m = matrix_mod.load()
    except matrix_mod.MatrixError as exc:
        raise Exit("error: %s" % exc, code=2) from None
    print("What `invoke setup` installs:")
    print("  %-7s %-14s %-45s %-12s %s" % ("profile", "platform", "requirements", "python", "macOS"))
    for t in m.targets:
        print("  %-7s %-14s %-45s %-12s %s" % (t.profile, t.platform, " ".join(t.requirements), t.python,
                                               t.macos or "-"))
    print("\nKnown tensorflow / tensorflow-metal pairs:")
    from checks import abi as abi_mod

    print("  %-10s %-7s %-20s %-6s %-12s %-13s %s" % ("tensorflow", "metal", "python", "macOS", "reported", "static",
                                                     "source / error"))
    for p in m.pairs:
        note = p.source + ("  [%s: %s]" % (p.phase or "import", p.error) if p.error else "")
        floor = min(s.version.replace(".*", ".0") for s in p.tensorflow)
        v = abi_mod.predict(floor, str(p.metal))
        static = "-" if v is None else ("loads" if v.loads else {"symbol": "symbol", "library": "no-library"}[v.kind])
        expected = abi_mod.expected_from_report(p)
        if v is not None and expected is not None and not abi_mod.agrees(v, expected):
            static += " (DISAGREES)"
        print("  %-10s %-7s %-20s %-6s %-12s %-13s %s" % (str(p.tensorflow).lstrip("="), p.metal, ",".join(p.python),
                                                         str(p.macos).lstrip(">="), p.status, static, note))
