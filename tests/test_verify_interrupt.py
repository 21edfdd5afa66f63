"""Ctrl-C or SIGTERM during the real `invoke verify` ends the TensorFlow child's whole process group and leaves
no temp file. The child imports a fake ``tensorflow`` that starts a process of its own and then hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import ROOT, default_sigint

HANGING_TF = """\
import os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(os.environ["FAKE_TF_READY"], "w") as fh:
    fh.write(str(grandchild.pid))
time.sleep(600)
"""


def gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("sig, whole_group", [
    (signal.SIGINT, True),  # Ctrl-C on a terminal: the terminal signals the foreground process group
    (signal.SIGTERM, False),  # a CI runner or `kill` signals invoke alone
    (signal.SIGINT, False),
])
def test_interrupted_verify_kills_the_tensorflow_child_group_and_removes_temp_files(tmp_path, sig, whole_group):
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(HANGING_TF)
    temp, ready = tmp_path / "tmp", tmp_path / "ready"
    temp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"), TMPDIR=str(temp), FAKE_TF_READY=str(ready))
    # the tools environment has what `python -m checks` needs (packaging, psutil); TensorFlow is the fake
    verify = subprocess.Popen([sys.executable, "-m", "invoke", "verify", "--env", sys.prefix, "--profile", "cpu",
                               "--timeout", "300"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=default_sigint)
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text():
            assert verify.poll() is None and time.monotonic() < deadline, verify.communicate()
            time.sleep(0.05)
        family = psutil.Process(verify.pid).children(recursive=True)
        child = [p for p in family if "checks.probes.tf_child" in " ".join(p.cmdline())]
        grandchild = psutil.Process(int(ready.read_text()))
        assert child and grandchild in family and os.getpgid(grandchild.pid) == child[0].pid  # the child's own group
        assert list(temp.glob("tf-probe-*")), "the probe's temp file exists while it runs"

        started = time.monotonic()
        if whole_group:
            os.killpg(verify.pid, sig)
        else:
            os.kill(verify.pid, sig)
        out, err = verify.communicate(timeout=30)
        assert verify.returncode == 130, (out, err)
        assert time.monotonic() - started < 10
        assert "Traceback" not in err
        deadline = time.monotonic() + 5
        while not all(gone(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(gone(p) for p in family), [(p.pid, p.cmdline()) for p in family if not gone(p)]
        assert list(temp.iterdir()) == []
    finally:  # a failing run leaves no process behind
        for proc in family:
            if not gone(proc):
                proc.kill()
        if verify.poll() is None:
            os.killpg(verify.pid, signal.SIGKILL)
            verify.communicate()
