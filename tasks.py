"""Invoke tasks: the front door. Parse options, call scripts/ and checks/, map errors to exit codes.

Exit codes: 0 success; 1 a check or a step failed (for `invoke abi`: the pair does not load; for
`invoke diagnose`: no known diagnosis); 2 bad usage or an internal error; 130 interrupted; 141 the
output pipe was closed (`| head`).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from invoke import Exit, task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

# Only what every task needs: each task imports its own modules (invoke loads this file for every command, and
# `invoke setup` is timed against the bare installer).
from checks import console, envdir, fixes, knowledge, paths, process, settings  # noqa: E402
from checks.errors import UsageError, boundary, error_line  # noqa: E402
from checks.knowledge import Knowledge, judge_pair  # noqa: E402

VERIFY_HELP = {o.name: o.help for o in settings.VERIFY_OPTIONS}

console.install()


def _parse_errors_exit_2() -> None:
    """invoke's own parse errors (an unknown option or task, a missing value) are bad input: exit 2 with invoke's
    one line, as every other bad input of the suite, not invoke's 1. The running program is invoke's
    ``invoke.main.program`` (both ``invoke`` and ``python -m invoke``); its task parsing runs after this file
    is loaded."""
    from invoke import ParseError
    from invoke.main import program

    parse = program.parse_tasks

    def parse_tasks() -> None:
        try:
            parse()
        except ParseError as exc:
            context = getattr(exc, "context", None)
            error = UsageError(str(exc))
            if getattr(context, "name", None) == "diagnose" and getattr(context, "missing_positional_args", None):
                error = UsageError("`invoke diagnose` needs the error text: a FILE that holds it, or - to paste it",
                                   fix=fixes.command("diagnose", "-", why="then paste the error text and press "
                                                                          "Ctrl-D on a line of its own"))
            raise Exit(error_line(error), code=2) from None

    program.parse_tasks = parse_tasks  # type: ignore[method-assign]


_parse_errors_exit_2()


def front_door(interrupted: str = "interrupted") -> Callable[[Callable[..., int | None]], Callable[..., None]]:
    """Every task behind ``errors.boundary``: load the knowledge (``$TFM_MATRIX``) and check the settings file
    (``$TFM_CONFIG``) first, pass the knowledge in as ``k``; the task's return value, if any, is its exit code."""
    def decorate(fn: Callable[..., int | None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def wrapper(c: Any, *args: Any, **kwargs: Any) -> None:
            def run() -> int | None:
                k = knowledge.load()
                settings.load_config(settings.config_path())
                return fn(c, k, *args, **kwargs)

            code = boundary(run, say=lambda line: print(line, file=sys.stderr), interrupted=interrupted)
            if code:
                raise Exit(code=code)

        sig = inspect.signature(fn)
        params = [p for name, p in sig.parameters.items() if name != "k"]
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapper
    return decorate


@task(help={
    "profile": "auto (default): metal on Apple Silicon with a native arm64 Python, cpu elsewhere; or metal, cpu",
    "manager": "auto (default: uv when available, else venv), uv, venv or conda (conda, mamba or micromamba)",
    "python": "interpreter for the environment: a path, or a version such as 3.12 to look for",
    "env": "environment directory (default: .venv-tf in the repository)",
    "force": "rebuild even if complete; deletes only a directory that invoke setup created",
    "tensorflow": "a TensorFlow version the matrix pins: 2.21.0 chooses the community Metal pair "
                  "(tensorflow-metal-plugin, built at install time); known-broken pairs are refused and explained",
    "requirements": "FILE: your project's requirement file, resolved with the pair into hash-pinned locks beside "
                    "it (repeatable: -r FILE -r FILE2; default: \"requirements\" in tfmetal.json)",
    "dry-run": "print what setup would do (the interpreter, locks and project locks, the preflight, each install "
               "step with its hashes and flags, or nothing to do); change nothing",
    "platform": "with --dry-run: plan for another platform (macos-arm64, linux-x86_64, ...; default: this one)",
    "backend": "the framework Keras 3 runs on: tensorflow (default), torch (the mps device on an Apple Silicon Mac, "
               "macOS 14+; the CPU build elsewhere) or jax (CPU: jax-metal is abandoned); an environment keeps its "
               "own backend when this is left out",
}, iterable=["requirements"])
@front_door(interrupted="interrupted before setup changed anything")
def setup(c, k: Knowledge, profile="auto", manager="auto", python=None, env=None, force=False, tensorflow=None,
          requirements=None, dry_run=False, platform=None, backend=None):
    """Create the environment with the matrix's TensorFlow / Metal plugin pair for this machine.

    With your project's requirements too, locked with the pair. With --backend torch or jax: Keras 3 on that
    framework instead, hash-locked the same way (compare them with `invoke compare`)."""
    from scripts import interpreters

    if platform and not dry_run:
        raise UsageError("--platform plans for another machine: use it with --dry-run")
    # The interpreter setup uses unless told or kept, probed while the rest loads (another platform's dry run
    # probes none).
    if python is None and platform is None:
        interpreters.ask(interpreters.current())
    try:
        from scripts import provision

        if dry_run:
            print("\n".join(provision.dry_run(k, platform, profile, manager, python, env, tensorflow,
                                                    requirements or (), force, backend)))
            return
        provision.setup(k, profile=profile, manager=manager, python=python, env=env, force=force,
                        tensorflow=tensorflow, requirements=requirements or (), backend=backend)
    finally:
        interpreters.forget()


def _checks_command(env: str | None, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """`python -m checks ARGS` with the environment's own interpreter, and the environment it runs in; a
    UsageError (exit 2) if there is no interpreter."""
    env_path = Path(env).expanduser() if env else paths.DEFAULT_ENV
    python = envdir.python_of(env_path)
    if not python.exists():
        real = os.path.realpath(env_path) if env_path.is_symlink() else env_path  # a dangling link: its target
        ours = envdir.is_owned(env_path) or not env_path.exists() or (env_path.is_dir() and not any(
            env_path.iterdir()))
        raise UsageError("no environment at %s (no bin/python)%s" % (env_path, "" if ours else
                                                                   ", and it was not created by invoke setup"),
                         fix=fixes.setup(real) if ours else fixes.setup(
                             paths.DEFAULT_ENV, why="a fresh environment from the lock, where setup may build one"))
    run_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return [str(python), "-m", "checks", *args], run_env


def _run_checks(env: str | None, args: list[str]) -> int:
    """Run `python -m checks ARGS` with the environment's own interpreter; exit 2 if there is none."""
    argv, run_env = _checks_command(env, args)
    done = process.stream(argv, env=run_env, passthrough=True)
    return done.returncode if done.returncode in (0, 1, 2, 130, console.PIPE_CLOSED) else 2


@task(help={"env": "environment to verify (default: .venv-tf in the repository)", **VERIFY_HELP})
@front_door()
def verify(c, k: Knowledge, env=None, json=None, junit=None, require_gpu=False, min_speedup=None, budget=None,
           timeout=None, profile="auto", strict=False, trace=None, min_train_speedup=None):
    """Run the checks with the environment's own interpreter: architecture, packages, devices, matmul, training."""
    argv = settings.to_argv(locals())  # verify's parameters are settings.VERIFY_OPTIONS (checked by a test)
    from checks import outputs
    from checks.cli import build_parser  # verify's alone: setup need not import the checks

    build_parser().parse_args(argv)  # the child's own parser: bad options fail here, before any environment
    outputs.check(json=json, junit=junit, trace=trace)  # the outputs, before any probe (the child checks them again)
    return _run_checks(env, argv)


@task(positional=["file"], help={"file": "file holding the error text, or - for standard input (on a "
                                          "terminal: paste it, then press Ctrl-D)"})
@front_door()
def diagnose(c, k: Knowledge, file=None):
    """Explain an error message (TensorFlow, tensorflow-metal, pip, uv): `invoke diagnose FILE`, or - for stdin.

    invoke has no optional positional arguments: `invoke diagnose -` (or `--file -`) reads standard input."""
    from checks.cli import diagnose_main

    if file in ("-h", "--help"):  # invoke hands a positional argument its --help: the task's own help, not the child's
        from invoke.main import program

        program.print_task_help("diagnose")
        return 0
    return diagnose_main([file or "-"], k)


@task(help={"env": "environment to report on (default: .venv-tf)", "out": "bundle directory (default: report)",
            "issue": "then print a paste-ready block for a bug report: versions, machine, the checks not passed, "
                     "where the bundle is"})
@front_door()
def report(c, k: Knowledge, env=None, out="report", issue=False):
    """Run every probe and write a bundle (one file per probe) plus summary.md for a bug report."""
    from checks import outputs

    results = os.path.join(out, "results.json")
    outputs.check(json=results, record=out, record_flag="--out")  # before any probe runs
    code = _run_checks(env, ["--record", out, "--json", results])
    if issue and code in (0, 1):
        from checks import issue as issue_block

        with open(results, encoding="utf-8") as fh:
            print("\nPaste this into the bug report:\n\n" + issue_block.block(json.load(fh), out))
    return 0 if code in (0, 1) else code  # a failed check is still a good report


@task
@front_door()
def lock(c, k: Knowledge):
    """Re-resolve every lock file in envs/locks/ from envs/matrix.json with uv (hashes for every file)."""
    from scripts import community_locks, locks

    out_dir = k.path.parent / "locks"  # beside the matrix in use ($TFM_MATRIX: a team's own)
    print("Resolving %d lock files with uv into %s ..." % (len(locks.all_locks(k.matrix)), out_dir))
    locks.write_all(k.matrix, out_dir=out_dir)
    for target in locks.built_targets(k.matrix):  # a plugin built from its sdist: two locks per Python
        print("Resolving the two-step locks of %s into %s ..." % (target.label, out_dir / target.locks))
        community_locks.write_for(target, list(k.matrix.common), out_dir / target.locks)


@task(help={
    "tensorflow": "TensorFlow version, any on PyPI, prereleases included (e.g. 2.19.1, 2.22.0rc0); one not recorded "
                  "is read from its macOS arm64 wheel (a final patch release uses its line's record)",
    "metal": "tensorflow-metal version (e.g. 1.2.0): the same as --plugin tensorflow-metal==V",
    "plugin": "NAME==VERSION of a Metal plugin: tensorflow-metal, tensorflow-metal-plugin (metal-pluggable-device, "
              "its earlier name); one not recorded is read from the package index",
    "refresh": "re-read every wheel of envs/abi-grid.json first (about 2.4 GB; says how much before downloading)",
})
@front_door()
def abi(c, k: Knowledge, tensorflow=None, metal=None, plugin=None, refresh=False):
    """Predict from the wheels whether a Metal plugin loads with a TensorFlow (macOS arm64), read from PyPI on demand.

    A plugin wheel is judged by the static check of its binaries, a plugin sdist by what it declares; also whether
    that TensorFlow exports the kernel C API for resource variables.

    Exit codes: 0 printed (the pair loads, or the grid); 1 the named pair does not load (or declares another
    TensorFlow), or a download failed; 2 a bad version, a release the index does not have, a malformed matrix."""
    for name, value in (("tensorflow", tensorflow), ("metal", metal)):
        if value and not knowledge.valid_version(value):
            raise UsageError("--%s %r is not a version" % (name, value))
    if metal and plugin:
        raise UsageError("--metal V is --plugin tensorflow-metal==V: give one of them")
    from checks import views
    from scripts import releases

    project, version = releases.parse_plugin(plugin) if plugin else ("tensorflow-metal", metal)
    name = releases.plugin_of(project, releases.Paths()) or project
    if refresh:
        try:
            import lief  # noqa: F401 - only --refresh parses wheels
        except ImportError:
            raise UsageError("invoke abi --refresh needs LIEF, one of the developer tools",
                             fix=fixes.make("dev")) from None
        from scripts import abi as refresh_mod

        start = time.monotonic()
        changes = refresh_mod.refresh()
        size = sum(p.stat().st_size for p in refresh_mod.CACHE.glob("*.whl"))
        print("refreshed in %.0f s; wheels in %s: %.2f GB" % (time.monotonic() - start, refresh_mod.CACHE, size / 1e9))
        for file, what in changes.items():
            if what != "unchanged":
                print("  %s: %s" % (file, what))
        from scripts import kernel_api as kernel_refresh

        print("  %s: %s" % (kernel_refresh.DATA_PATH.name, kernel_refresh.refresh()))
        k = knowledge.load()
    changed = releases.ensure(tensorflow, project if version else None, version, print)
    if changed:
        print("recorded: " + "; ".join(changed) + "\n")
        k = knowledge.load()
    lines = views.abi_lines(k, tensorflow, version, name)
    if lines is None:
        raise UsageError("nothing recorded covers that request", fix=fixes.command("abi", why="what is recorded"))
    print("\n".join(lines))
    if not (tensorflow and version):
        return 0
    j = judge_pair(k, tensorflow, version, name)
    static_fails = j.static is not None and not j.static.loads
    return 1 if static_fails or j.phase == "install" else 0  # like a failed check: the pair does not load


@task(help={"summary": "FILE: write the summary there too (markdown, for a pull request)",
            "locks": "also write the two-step locks of a target the refresh adds (resolves against PyPI with uv)"})
@front_door()
def refresh(c, k: Knowledge, summary=None, locks=False):
    """Read new releases from PyPI, record their facts and add the pairs they predict.

    The projects (envs/releases.json): tensorflow, tensorflow-macos, tensorflow-metal, tensorflow-metal-plugin and
    metal-pluggable-device (its earlier name). Pairs are added with status predicted, never verified; a pair of a
    plugin built from its sdist also gets a target (`invoke setup --tensorflow V`) and, with --locks, its locks."""
    from scripts import releases

    start = time.monotonic()
    result = releases.refresh(print, locks=locks)
    lines = result.lines() + ["(%.0f s)" % (time.monotonic() - start)]
    print("\n".join(lines))
    if summary:
        Path(summary).write_text("\n".join(["## invoke refresh", "", "```"] + lines + ["```", ""]), encoding="utf-8")


@task
@front_door()
def matrix(c, k: Knowledge):
    """Print the compatibility matrix: what setup installs, the plugins, and every known TensorFlow / plugin pair."""
    from checks import views

    print("\n".join(views.matrix_lines(k)))


def _compare_takes_envs_bare() -> None:
    """`invoke compare A B`: invoke has no variable positional arguments, so the words after compare become
    ``--env A --env B`` before invoke parses the tasks (scripts/compare.py, positional_envs)."""
    from invoke.main import program

    parse = program.parse_tasks

    def parse_tasks() -> None:
        if "compare" in program.core.unparsed:  # only then: every other command (setup) need not import compare's
            from scripts.compare import positional_envs

            program.core.unparsed = positional_envs(program.core.unparsed)
        parse()

    program.parse_tasks = parse_tasks  # type: ignore[method-assign]


_compare_takes_envs_bare()


@task(help={"env": "ENV: an environment to verify and compare (repeatable; or give them bare: invoke compare A B)",
            "json": "FILE: also write the table as JSON (every cell with its checks and notes)",
            "budget": VERIFY_HELP["budget"] + "; for each environment",
            "timeout": VERIFY_HELP["timeout"] + "; for each environment"}, iterable=["env"])
@front_door()
def compare(c, k: Knowledge, env=None, json=None, budget=None, timeout=None):
    """Verify each environment in turn and print one table: accelerator, placement, numbers, losses, speed.

    `invoke compare ENV [ENV ...] [--json FILE] [--budget S] [--timeout S]` (compare last on the line). A row per
    environment (its backend and pair): the accelerator found, where the matmul and the training step ran, the GPU
    matmul's error against its tolerance, the GPU losses against the CPU's, the step time, and the speedup over the
    environment's own CPU (matmul and training). A cell with nothing measured refers to a note saying why (a skipped
    check's reason, a failed check, a failed verify). Each verify runs alone (never two at once: timings), through
    `invoke verify --env ENV`'s own command; its output goes to stderr as progress. Also appended to
    $GITHUB_STEP_SUMMARY (markdown) when set.

    Exit codes: 0 every environment verified, however slow (a verify failed only by its speed gates, matmul.speedup
    and training.speed, counts as verified); 1 any environment's verify failed otherwise; 2 bad input (no
    environment, one named twice, a path that is not an environment, a bad option), before any environment runs."""
    from checks.cli import build_parser
    from scripts import compare as comparing

    envs = comparing.check_envs(env or [])
    argv = settings.to_argv({"budget": budget, "timeout": timeout})
    build_parser().parse_args(argv)  # verify's own parser: a bad --budget fails here, before any environment
    if json:
        comparing.check_output(json)
    commands = [(e, *_checks_command(e, argv)) for e in envs]  # each an environment, or exit 2 before any runs
    runs = comparing.run_all(commands)
    return comparing.report(runs, k.matrix, json, {"budget": budget and float(budget),
                                                   "timeout": timeout and float(timeout)})
