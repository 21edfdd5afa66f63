"""Shared fixtures: one real TensorFlow environment per test run, built by the real `invoke setup`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"


def invoke(*args: str, timeout: float = 900, env=None) -> subprocess.CompletedProcess:
    """Run the real `invoke` of the tools environment in the repository."""
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def default_sigint() -> None:
    """``preexec_fn`` of a child a test interrupts: Ctrl-C's default disposition, also when pytest itself was
    started with SIGINT ignored (``trap '' INT``, ``nohup``-like runners), which a child would inherit; Python
    then never raises KeyboardInterrupt and the test would judge the runner, not the product."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pyenv_python(minor: str) -> str:
    found = sorted(PYENV.glob("%s.*/bin/python%s" % (minor, minor)))
    if not found:
        pytest.skip("no pyenv Python %s on this machine" % minor)
    return str(found[-1])


@pytest.fixture(scope="session")
def tf_env(tmp_path_factory) -> Path:
    """A real cpu-profile environment at a path with a space and a non-ASCII character."""
    env = tmp_path_factory.mktemp("tf env ü") / "venv"
    done = invoke("setup", "--env", str(env))
    assert done.returncode == 0, done.stdout + done.stderr
    return env
