"""A plugin built at install time against the environment's TensorFlow: one step fails, two steps work (real uv, pip).

The stand-in sdist of tests/localindex.py imports `tensorflow` in its build backend, as tensorflow-metal-plugin
0.4.1's setup.py does, so build isolation (a fresh build environment without TensorFlow) really breaks it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from checks import knowledge
from scripts.uvtool import find_uv
from tests import localindex


@pytest.fixture(params=["uv", "pip"])
def index(request, tmp_path):
    """(install command prefix, offline environment, the new environment's python)."""
    env = localindex.build(tmp_path / "index")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    if request.param == "uv":
        uv = find_uv()
        if not uv:
            pytest.skip("uv is not installed (make tools)")
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env=env, check=True)
        return [uv, "pip", "install", "--python", str(python)], env, python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], env=env, check=True)
    return [str(python), "-m", "pip", "install", "--no-cache-dir"], env, python


def _install(command, env, *args):
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)


def _site(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def test_one_step_with_build_isolation_fails_for_want_of_tensorflow(index):
    command, env, python = index
    done = _install(command, env, "tensorflow-cpu==2.19.1", "standin-metal-plugin==0.1.0")
    assert done.returncode != 0
    assert "TensorFlow was not found" in done.stderr, done.stderr
    assert "metal-plugin-build-no-tensorflow" in [d.id for d in knowledge.load({}).diagnose(done.stderr)]
    assert not (_site(python) / "tensorflow").exists()  # neither installer installs anything when a build fails


def test_two_steps_without_build_isolation_build_against_step_one(index):
    command, env, python = index
    first = _install(command, env, "tensorflow-cpu==2.19.1")
    assert first.returncode == 0, first.stderr
    isolated = _install(command, env, "standin-metal-plugin==0.1.0")
    assert isolated.returncode != 0 and "TensorFlow was not found" in isolated.stderr  # order alone is not enough
    second = _install(command, env, "--no-build-isolation", "standin-metal-plugin==0.1.0")
    assert second.returncode == 0, second.stderr
    built = _site(python) / "tensorflow-plugins" / "standin_built_against.txt"
    assert built.read_text().strip() == "2.19.1"
