"""Build the test GPU (test_gpu.cc) with g++ against an installed TensorFlow's headers and libtensorflow_framework.

Used by the tests (tests/conftest.py, at test time, into a temporary folder) and by the test GPU's sdist, whose
build backend (tests/localindex.py) ships this file and compiles at install time against the TensorFlow already
in the environment, as tensorflow-metal-plugin does. Standard library only; runs on Python 3.9.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().with_name("test_gpu.cc")
LIBRARY = "libtfm_test_gpu.so"
MODE = "TFM_TEST_GPU"  # the plugin's behaviour, read when TensorFlow loads it (test_gpu.cc's header lists them)
PLATFORM = "TFM_TEST_GPU"  # the platform it registers: TensorFlow's device details name it
HEADER = Path("include", "tensorflow", "c", "experimental", "stream_executor", "stream_executor.h")
FRAMEWORK = "libtensorflow_framework.so.2"


class Missing(Exception):
    """What the build needs and this machine lacks (a test skips with it)."""


def tensorflow_dir(python: str) -> Path:
    """The ``tensorflow`` package folder of ``python``'s environment, found without importing TensorFlow."""
    done = subprocess.run([python, "-c", "import importlib.util as u; s = u.find_spec('tensorflow'); "
                           "print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode or not done.stdout.strip():
        raise Missing("TensorFlow was not found by %s" % python)
    return Path(done.stdout.strip())


def compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++")


def check(tf_dir: Path) -> None:
    """Raise Missing naming the first thing the build lacks: Linux, a C++ compiler, TensorFlow's headers or library."""
    if not sys.platform.startswith("linux"):
        raise Missing("the test GPU is built on Linux only (this is %s)" % sys.platform)
    if not compiler():
        raise Missing("no C++ compiler: g++ is not on PATH (Debian/Ubuntu: apt-get install g++)")
    if not (tf_dir / HEADER).is_file():
        raise Missing("TensorFlow at %s ships no C headers (%s)" % (tf_dir, HEADER))
    if not (tf_dir / FRAMEWORK).is_file():
        raise Missing("TensorFlow at %s has no %s" % (tf_dir, FRAMEWORK))


def command(tf_dir: Path, out: Path, source: Path = SOURCE) -> list[str]:
    return [str(compiler()), "-std=c++17", "-O2", "-fPIC", "-shared", "-w", "-I%s" % (tf_dir / "include"),
            str(source), "-o", str(out), str(tf_dir / FRAMEWORK), "-Wl,-rpath,%s" % tf_dir]


def build(tf_dir: Path, out_dir: Path, source: Path = SOURCE) -> Path:
    """Compile the plugin into ``out_dir`` (the compiler's output goes to stderr); Missing or CalledProcessError."""
    check(tf_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / LIBRARY
    subprocess.run(command(tf_dir, out, source), check=True, timeout=600)
    return out
