"""Entry point: ``python -m checks``. Needs packaging (and psutil, optional); says so if they are missing."""

import sys

from checks import console

console.install()

try:
    import packaging.version  # noqa: F401 - the one third-party package the checks cannot run without
except ImportError:
    import os
    from pathlib import Path

    from checks import envlock, fixes
    from checks.envdir import read_marker
    from checks.errors import UsageError, error_line
    from checks.paths import DEFAULT_ENV, MARKER, OWNER

    started = os.path.dirname(os.path.dirname(sys.executable))  # E of E/bin/python, even if it runs as its base
    env = next((p for p in (started, sys.prefix) if os.path.exists(os.path.join(p, OWNER))), None)
    project = fixes.project_args(read_marker(Path(env))) if env else []  # a fix without them drops its packages
    if env is None or (os.path.exists(os.path.join(env, MARKER)) and os.path.realpath(sys.prefix) ==
                       os.path.realpath(env)):  # not setup's, or a complete venv of ours that lost packaging
        print(error_line(UsageError("this environment has no `packaging`, which the checks need (in your own "
                                    "environment: install packaging and psutil)", fix=fixes.setup(
                                        env, *project, why="repairs it")
                                    if env else fixes.setup(
                                        DEFAULT_ENV, why="a fresh environment from the lock; %s was not made by "
                                        "invoke setup" % sys.prefix))), file=sys.stderr)
        sys.exit(2)
    # not a venv any more, an interrupted setup, or one still running: the check that says so fails (exit 1)
    from checks.paths import same_path

    pid = envlock.holder(Path(env))
    if not same_path(sys.prefix, env):
        what = "not a virtual environment: %s runs as the interpreter at %s (%s)" % (
            os.path.join(env, "bin", "python"), sys.prefix, "its pyvenv.cfg is missing" if not os.path.exists(
                os.path.join(env, "pyvenv.cfg")) else "its pyvenv.cfg does not make it one")
        fix = fixes.setup(env, *project, why="rebuilds it; setup never installs into another interpreter")
    elif pid:
        what = "`invoke setup` (pid %s) is working on this environment now" % pid
        fix = fixes.setup(env, *project, why="after pid %s ends: finishes it if it did not" % pid)
    else:
        what = "incomplete: setup started here but never finished (no completion marker)"
        fix = fixes.setup(env, why="finishes it from the lock")
    print("[✗] Environment complete: %s\n    fix: %s\nNothing else was checked: this interpreter has no "
          "`packaging`, which the checks need.\n\nnext: %s" % (what, fix, fix))
    sys.exit(1)

from checks import process  # noqa: E402
from checks.cli import main  # noqa: E402 - after the console and packaging guards

process.stop_on_signals()  # Ctrl-C or SIGTERM: the TensorFlow child's whole group is killed, temp files removed
sys.exit(main())
