"""Shared fixtures: one real TensorFlow environment per test run, built by the real `invoke setup`."""

from __future__ import annotations

import os
import shutil
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


def site_packages(env: Path) -> Path:
    """An environment's site-packages (``lib/python3.X/site-packages``)."""
    return next((env / "lib").glob("python3.*/site-packages"))


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


@pytest.fixture(scope="session")
def torch_env(tmp_path_factory) -> Path:
    """A real Keras-on-torch environment (the CPU build of torch on Linux), built by `invoke setup --backend torch`."""
    return _backend_env(tmp_path_factory, "torch")


@pytest.fixture(scope="session")
def jax_env(tmp_path_factory) -> Path:
    """A real Keras-on-JAX environment, built by `invoke setup --backend jax`."""
    return _backend_env(tmp_path_factory, "jax")


def _backend_env(tmp_path_factory, backend: str) -> Path:
    env = tmp_path_factory.mktemp("%s env" % backend) / "venv"
    done = invoke("setup", "--backend", backend, "--env", str(env))
    assert done.returncode == 0, done.stdout + done.stderr
    return env


@pytest.fixture(scope="session")
def test_gpu(request, tmp_path_factory) -> Path:
    """The test GPU (tests/gpu_plugin/test_gpu.cc), built with g++ against the TensorFlow of ``tf_env``; the tests
    that need it skip, naming what is missing, without Linux, a C++ compiler, or TensorFlow's C headers."""
    from tests.gpu_plugin import build

    if not sys.platform.startswith("linux") or not build.compiler():
        pytest.skip("no test GPU: it is built on Linux with g++ (platform %s, compiler %s)" % (
            sys.platform, build.compiler() or "none"))
    env = request.getfixturevalue("tf_env")
    try:
        tf_dir = build.tensorflow_dir(str(env / "bin" / "python"))
        build.check(tf_dir)
    except build.Missing as exc:
        pytest.skip("no test GPU: %s" % exc)
    return build.build(tf_dir, tmp_path_factory.mktemp("test-gpu"))


@pytest.fixture(scope="session")
def gpu_env(tf_env, test_gpu, tmp_path_factory) -> Path:
    """``tf_env`` with the test GPU where tensorflow-metal puts its library, site-packages/tensorflow-plugins/.

    A copy made of hard links (uv's own way, so it takes a second): files are only added to it, never edited."""
    from tests.gpu_plugin import build

    env = tmp_path_factory.mktemp("gpu env") / "venv"
    subprocess.run(["cp", "-al", str(tf_env), str(env)], check=True)
    site = site_packages(env)
    (site / "tensorflow-plugins").mkdir()
    shutil.copy(test_gpu, site / "tensorflow-plugins" / build.LIBRARY)
    return env
