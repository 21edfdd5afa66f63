"""The team's packages beside TensorFlow: each import order in its own process, an abort or a hang named.

The fast tests run the real import children against a stand-in ``tensorflow`` package (a folder on PYTHONPATH);
the slow one installs a real wheel whose module aborts when TensorFlow is loaded into a hard-linked copy of the
session's real TensorFlow environment, and runs the real ``invoke verify`` on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks import clashes, knowledge
from checks.model import Options, Status
from checks.probes import imports
from checks.rules.tensorflow import project_imports
from tests.conftest import ROOT, invoke
from tests.localindex import make_wheel

K = knowledge.load()
ABORTS_AFTER_TF = "import os, sys\nif 'tensorflow' in sys.modules:\n    os.abort()\n"
# the stand-in TensorFlow hangs when this module was imported first (as TensorFlow 2.20 does after pyarrow)
STANDIN_TF = ("import sys, time\nif 'hangs_first' in sys.modules:\n    time.sleep(600)\n"
              "if 'raises_here' in sys.modules:\n    pass\n__version__ = '0.0-standin'\n")


@pytest.fixture()
def standin(tmp_path, monkeypatch):
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(STANDIN_TF)
    (tmp_path / "aborts_after.py").write_text(ABORTS_AFTER_TF)
    (tmp_path / "hangs_first.py").write_text("")
    (tmp_path / "fine.py").write_text("")
    (tmp_path / "raises_here.py").write_text("raise ImportError('needs libfoo.so')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def found(*modules: str) -> dict:
    return {"requirements": ["requirements.txt"], "unreadable": [],
            "distributions": {m.replace("_", "-"): {"version": "1.0", "modules": [m]} for m in modules}}


def judge(pi: dict):
    facts = {"system": {"os": "linux", "hardware_arch": "x86_64", "translated": False, "vm": False},
             "packages": {}, "tensorflow": {"tensorflow": {"version": "2.19.1"}, "project_imports": pi}}
    return project_imports(facts, Options(profile="cpu"), K)


def test_a_module_that_aborts_after_tensorflow_is_named(standin):
    pi = imports.collect(sys.executable, found("fine", "aborts_after"), timeout_s=30)
    after = pi["orders"]["after"]
    assert not after["ok"] and after["stopped_at"] == "aborts_after" and after["process"]["signal"] == "SIGABRT"
    assert pi["orders"]["before"]["ok"]  # imported first, it never sees TensorFlow
    r = judge(pi)
    assert r.status == Status.FAIL and r.fix is None
    assert r.summary.startswith("aborts_after (aborts-after 1.0) aborts the process (SIGABRT) when imported after "
                                "TensorFlow")


def test_a_module_that_makes_tensorflow_hang_is_found_alone_and_named(standin):
    pi = imports.collect(sys.executable, found("fine", "hangs_first"), timeout_s=3)
    before = pi["orders"]["before"]
    assert before["stopped_at"] == "tensorflow" and before["process"]["timed_out"]
    assert [a["modules"] for a in pi["alone"]] == [["fine"], ["hangs_first"]]
    r = judge(pi)
    assert r.status == Status.FAIL
    assert r.summary.startswith("hangs_first (hangs-first 1.0) hangs (timed out after 3 s) when imported before "
                                "TensorFlow")


def test_a_module_that_raises_is_reported_and_the_others_still_tried(standin):
    pi = imports.collect(sys.executable, found("fine", "raises_here"), timeout_s=30)
    assert pi["orders"]["after"]["ok"] and pi["orders"]["after"]["errors"] == {
        "raises_here": "ImportError: needs libfoo.so"}
    assert [m for m, _ in pi["orders"]["after"]["imported"]] == ["tensorflow", "fine"]
    r = judge(pi)
    assert r.status == Status.FAIL and "raises_here (raises-here 1.0) raises when imported beside TensorFlow" in \
        r.summary


def test_modules_that_load_pass_and_no_project_skips(standin):
    r = judge(imports.collect(sys.executable, found("fine"), timeout_s=30))
    assert r.status == Status.PASS and "import after and before TensorFlow: fine" in r.summary
    facts = {"system": {"os": "linux"}, "packages": {}, "tensorflow": {"tensorflow": {"version": "2.19.1"}}}
    assert project_imports(facts, Options(profile="cpu"), K).status == Status.SKIP


def test_top_level_modules_come_from_the_installed_distribution():
    dist = imports.metadata.distribution("packaging")
    assert imports.top_level_modules(dist) == ["packaging"]


def test_the_pyarrow_clash_is_data_and_found_in_pins():
    lines = clashes.found({"tensorflow": "2.21.0", "pyarrow": "21.0.0"}, "macos-arm64")
    assert len(lines) == 1 and "tensorflow/tensorflow/issues/98563" in lines[0] and "tensorflow<2.20" in lines[0]
    assert clashes.found({"tensorflow": "2.19.1", "pyarrow": "21.0.0"}, "macos-arm64") == []
    assert clashes.found({"tensorflow": "2.21.0", "pyarrow": "20.0.0"}, "macos-arm64") == []
    assert clashes.found({"tensorflow-cpu": "2.21.0", "pyarrow": "21.0.0"}, "linux-x86_64") == []


def linked_copy(src: Path, dst: Path) -> Path:
    """A copy of an environment whose files are hard links (uv's cache holds the same inodes: never edit one)."""
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)
    return dst


@pytest.mark.slow
@pytest.mark.network
def test_a_project_package_that_aborts_beside_tensorflow_fails_verify_naming_it(tf_env, tmp_path):
    env = linked_copy(tf_env, tmp_path / "env")
    wheel = make_wheel(tmp_path, "abort-beside-tf", "1.0", {"abort_beside_tf/__init__.py": ABORTS_AFTER_TF})
    uv = str(ROOT / ".tools" / "bin" / "uv")
    done = subprocess.run([uv, "pip", "install", "--python", str(env / "bin" / "python"), "--no-deps", "--offline",
                           str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("abort-beside-tf\n")
    marker_path = env / ".tfmetal-setup.json"
    marker = json.loads(marker_path.read_text())
    marker["project"] = {"requirements": [str(reqs)], "source": "--requirements", "lock": marker["lock"],
                         "base_lock": marker["lock"]}
    marker_path.unlink()  # a hard link to the session environment's marker: replaced, never edited
    marker_path.write_text(json.dumps(marker))
    out = tmp_path / "verify.json"
    done = invoke("verify", "--env", str(env), "--json", str(out), "--budget", "1",
                  env={k: v for k, v in os.environ.items() if not k.startswith("TFM_")})
    assert done.returncode == 1, done.stdout + done.stderr
    project = next(c for c in json.loads(out.read_text())["checks"] if c["id"] == "packages.project")
    assert project["status"] == "fail", project
    assert project["summary"].startswith("abort_beside_tf (abort-beside-tf 1.0) aborts the process (SIGABRT) when "
                                         "imported after TensorFlow")
    assert "packages.project" in done.stdout or "Project packages load beside TensorFlow" in done.stdout
    shutil.rmtree(env)


def test_setup_warns_at_lock_time_about_a_known_clash(tmp_path):
    from scripts.project import warn_clashes

    lock = tmp_path / "metal-macos-arm64-py3.12.txt"
    lock.write_text("pyarrow==21.0.0 \\\n    --hash=sha256:00\ntensorflow==2.21.0 \\\n    --hash=sha256:00\n")
    said: list[str] = []
    assert warn_clashes(lock, "macos-arm64", said.append) and said[0].startswith("warning: %s: pyarrow 21.0.0 with "
                                                                                 "TensorFlow 2.21.0 on macos-arm64"
                                                                                 % lock)
    assert "fits: tensorflow<2.20" in said[0]
    said.clear()
    assert warn_clashes(lock, "linux-x86_64", said.append) == [] and said == []
