"""`invoke setup --backend torch|jax`: Keras 3 on another framework, hash-locked per platform like TensorFlow."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from checks import matrix
from checks.paths import MARKER
from scripts import locks
from tests.conftest import ROOT, invoke


def fix_of(stderr: str) -> str:
    """The one fix line of a one-line error (``error: ...; fix: COMMAND  # why``)."""
    assert stderr.count("\n") <= 1 and "; fix: " in stderr, stderr
    return stderr.split("; fix: ", 1)[1].split("  # ", 1)[0].strip()


def test_every_backend_target_has_hashed_locks_for_each_python_it_admits():
    m = matrix.load()
    backends = [t for t in m.targets if t.backend != matrix.TENSORFLOW]
    assert {t.backend for t in backends} == {"torch", "jax"}
    for t in backends:
        for py in matrix.python_versions(t.python):
            lock = t.lock_path(py)
            assert locks.malformed(lock) is None, lock.name
            pins = locks.pinned(lock)
            assert pins["keras"] == "3.15.1" and t.backend in pins, lock.name
            assert not [n for n in pins if n.startswith("nvidia-")], lock.name  # never the CUDA build


def test_the_linux_torch_lock_is_the_cpu_build_from_the_find_links_it_records():
    lock = matrix.load().target("cpu", "linux-x86_64", backend="torch").lock_path("3.11")  # type: ignore[union-attr]
    text = lock.read_text()
    assert "--find-links /opt/wheels\n" in text and locks.pinned(lock)["torch"] == "2.13.0+cpu"
    assert locks.unhashed(lock) == []  # the option line is not a requirement without a hash


def test_a_dry_run_for_the_mac_names_mps_and_macos_14(tmp_path):
    done = invoke("setup", "--dry-run", "--platform", "macos-arm64", "--backend", "torch", "--env", str(tmp_path / "e"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Keras 3 on torch: the GPU through mps, which needs macOS >=14.0" in out
    assert "macOS >=14.0: `sw_vers -productVersion`" in out  # the preflight, on the Mac
    assert "a native arm64 Python" in out and "torch-mps-macos-arm64-py3.13.txt" in out
    assert not (tmp_path / "e").exists()


def test_jax_on_the_mac_runs_on_the_cpu_and_says_why(tmp_path):
    done = invoke("setup", "--dry-run", "--platform", "macos-arm64", "--backend", "jax", "--env", str(tmp_path / "e"))
    assert done.returncode == 0, done.stderr
    assert "profile  cpu: the jax backend has no GPU path on macos-arm64: " in done.stdout
    assert "jax-metal is abandoned" in done.stdout and "jax-cpu-macos-arm64-py3.13.txt" in done.stdout


@pytest.mark.parametrize("args, words", [
    (["--backend", "mxnet"], "unknown backend 'mxnet': choose one of tensorflow, torch, jax"),
    (["--backend", "jax", "--tensorflow", "2.19.1"], "the jax backend installs none"),
    (["--backend", "jax", "--profile", "metal", "--platform", "macos-arm64"], "the jax backend has no metal target"),
])
def test_bad_backend_requests_are_one_line_errors(tmp_path, args, words):
    done = invoke("setup", "--dry-run", "--env", str(tmp_path / "e"), *args)
    assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_torch_environment_is_built_locked_and_keeps_its_backend(torch_env):
    marker = json.loads((torch_env / MARKER).read_text())
    assert marker["backend"] == "torch" and marker["lock"] == "envs/locks/torch-cpu-linux-x86_64-py3.11.txt"
    run = subprocess.run([str(torch_env / "bin" / "python"), "-c", "import torch, keras; print(torch.__version__, "
                          "keras.__version__, torch.cuda.is_available())"], capture_output=True, text=True,
                         env={"KERAS_BACKEND": "torch"})
    assert run.stdout.split() == ["2.13.0+cpu", "3.15.1", "False"], run.stderr
    again = invoke("setup", "--env", str(torch_env))  # no --backend: the environment keeps its own
    assert again.returncode == 0 and "is complete and matches envs/locks/torch-cpu" in again.stdout + again.stderr


def test_a_jax_environment_is_built_on_a_python_jax_admits(jax_env):
    marker = json.loads((jax_env / MARKER).read_text())
    assert marker["backend"] == "jax" and marker["python"]["version"].split(".")[:2] in (["3", "12"], ["3", "13"])
    run = subprocess.run([str(jax_env / "bin" / "python"), "-c", "import jax; print(jax.default_backend())"],
                         capture_output=True, text=True)
    assert run.stdout.strip() == "cpu", run.stderr


def test_the_fix_for_tensorflow_on_jax_heals_when_pasted(tmp_path):
    env = tmp_path / "j"
    done = invoke("setup", "--backend", "jax", "--tensorflow", "2.19.1", "--env", str(env))
    assert done.returncode == 2 and not env.exists()
    fix = fix_of(done.stderr)
    healed = subprocess.run(["bash", "-c", fix], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert healed.returncode == 0, healed.stderr
    assert json.loads((env / MARKER).read_text())["backend"] == "jax", shlex.quote(fix)


def test_an_environment_interrupted_before_its_marker_keeps_its_backend(tmp_path):
    """The owner file, written before anything is installed, records the backend: `setup --env E` (every fix line
    for an unfinished environment) finishes it as it was begun, never as TensorFlow."""
    env = tmp_path / "j"
    assert invoke("setup", "--backend", "jax", "--env", str(env)).returncode == 0
    (env / MARKER).unlink()  # as an interrupted build leaves it
    plan = invoke("setup", "--dry-run", "--env", str(env))
    assert plan.returncode == 0 and "keras 3.15.1 + jax 0.12.1" in plan.stdout, plan.stdout + plan.stderr
    mac = invoke("setup", "--dry-run", "--platform", "macos-arm64", "--env", str(env))
    assert mac.returncode == 0 and "jax-cpu-macos-arm64" in mac.stdout, mac.stderr
    done = invoke("setup", "--env", str(env))
    assert done.returncode == 0, done.stderr
    assert json.loads((env / MARKER).read_text())["backend"] == "jax"
