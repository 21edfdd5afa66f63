"""A plugin built at install time against the environment's TensorFlow: one step fails, two steps work (real uv).

The stand-in sdist of tests/localindex.py imports `tensorflow` in its build backend, as tensorflow-metal-plugin
0.4.1's setup.py does, so build isolation (a fresh build environment without TensorFlow) really breaks it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from checks.diagnose import diagnose
from scripts.uvtool import find_uv
from tests import localindex


@pytest.fixture()
def index(tmp_path):
    uv = find_uv()
    if not uv:
        pytest.skip("uv is not installed (make tools)")
    env = localindex.build(tmp_path / "index")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env=env, check=True)
    return uv, env, venv / "bin" / "python"


def _install(uv, env, python, *args):
    return subprocess.run([uv, "pip", "install", "--python", str(python), *args], env=env, capture_output=True,
                          text=True, timeout=300)


def _site(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def test_one_step_with_build_isolation_fails_for_want_of_tensorflow(index):
    uv, env, python = index
    done = _install(uv, env, python, "tensorflow-cpu==2.19.1", "standin-metal-plugin==0.1.0")
    assert done.returncode != 0
    assert "TensorFlow was not found" in done.stderr, done.stderr
    assert "metal-plugin-build-no-tensorflow" in [d.id for d in diagnose(done.stderr)]
    assert not (_site(python) / "tensorflow").exists()  # uv installs nothing when a build fails


def test_two_steps_without_build_isolation_build_against_step_one(index):
    uv, env, python = index
    first = _install(uv, env, python, "tensorflow-cpu==2.19.1")
    assert first.returncode == 0, first.stderr
    isolated = _install(uv, env, python, "standin-metal-plugin==0.1.0")
    assert isolated.returncode != 0 and "TensorFlow was not found" in isolated.stderr  # order alone is not enough
    second = _install(uv, env, python, "--no-build-isolation", "standin-metal-plugin==0.1.0")
    assert second.returncode == 0, second.stderr
    built = _site(python) / "tensorflow-plugins" / "standin_built_against.txt"
    assert built.read_text().strip() == "2.19.1"
