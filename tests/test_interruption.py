"""Setup interrupted mid-install (SIGINT, SIGTERM, SIGKILL): never taken as complete, repaired by a re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from checks.markers import MARKER, OWNER
from tests.conftest import ROOT, invoke

pytestmark = [pytest.mark.slow, pytest.mark.network]


def interrupted_setup(env, sig: int, after: str, delay: float) -> int:
    """Start the real setup in its own process group; signal the group once ``after`` is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "setup", "--env", str(env)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in proc.stderr:
        if after in line:
            break
    time.sleep(delay)
    os.killpg(proc.pid, sig)
    proc.stderr.read()
    return proc.wait(timeout=60)


@pytest.mark.parametrize("sig,after,delay", [
    (signal.SIGINT, "Create the environment", 0.0),
    (signal.SIGTERM, "Install", 1.0),
    (signal.SIGKILL, "Install", 2.0),
])
def test_interrupted_setup_is_incomplete_then_repaired(tmp_path, sig, after, delay):
    env = tmp_path / "env"
    code = interrupted_setup(env, sig, after, delay)
    assert code in (130, -sig), code
    assert (env / OWNER).exists() and not (env / MARKER).exists()
    done = invoke("verify", "--env", str(env), "--budget", "0.2")
    assert done.returncode in (1, 2)  # never 0: 2 when there is no interpreter yet, else a failed check
    if done.returncode == 1:
        assert "incomplete" in done.stdout
    done = invoke("setup", "--env", str(env))
    assert done.returncode == 0, done.stderr
    assert "Remove the incomplete or outdated environment" in done.stderr
    assert (env / MARKER).exists()


def test_unreachable_index_fails_fast_and_leaves_a_good_environment_untouched(tf_env):
    marker = (tf_env / MARKER).read_bytes()
    env = dict(os.environ, UV_INDEX_URL="http://127.0.0.1:9/simple/")
    start = time.monotonic()
    done = invoke("setup", "--env", str(tf_env), "--force", env=env)
    assert done.returncode == 1 and time.monotonic() - start < 30
    assert "cannot reach the package index" in done.stderr and "network problem" in done.stderr
    assert (tf_env / MARKER).read_bytes() == marker and (tf_env / "bin" / "python").exists()
