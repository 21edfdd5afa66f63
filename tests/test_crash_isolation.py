"""A TensorFlow that crashes, aborts, hangs or raises the real plugin errors is a failed check, never a crash.

A fake ``tensorflow`` package is put first on the path of the real ``python -m checks``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import xmlschema

from tests.conftest import ROOT
from tests.test_diagnose import QUOTES

FAKES = {
    "segfault": ("import ctypes\nctypes.string_at(0)\n", "SIGSEGV", None),
    "abort": ("import os\nos.abort()\n", "SIGABRT", None),
    "sigill": ("import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n", "SIGILL", "illegal-instruction"),
    "plugin-library": ("raise ImportError(%r)\n" % QUOTES["metal-library-not-loaded"], "Library not loaded",
                       "metal-library-not-loaded"),
    "plugin-symbol": ("raise ImportError(%r)\n" % QUOTES["metal-symbol-not-found"], "Symbol not found",
                      "metal-symbol-not-found"),
    "hang": ("import time\ntime.sleep(600)\n", "hit its time limit of 8 s", None),
    # imports, lists no GPU, then crashes in the matmul stage (numpy is faked too: the child imports it next)
    "segfault-after-import": (
        "import ctypes, os, types\n__version__ = '0.0+fake'\n"
        "test = types.SimpleNamespace(is_built_with_cuda=lambda: False)\n"
        "config = types.SimpleNamespace(list_physical_devices=lambda kind: [],\n"
        "                               set_soft_device_placement=lambda on: ctypes.string_at(0))\n",
        "the TensorFlow probe died from SIGSEGV during stage matmul", None),
}
TIMEOUT = 8


def run_checks(tmp_path, fake: str, **extra_env: str) -> tuple[subprocess.CompletedProcess, dict, float]:
    pkg = tmp_path / "fake" / "tensorflow"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKES[fake][0])
    (tmp_path / "fake" / "numpy").mkdir()
    (tmp_path / "fake" / "numpy" / "__init__.py").write_text("")
    out, junit = tmp_path / "out.json", tmp_path / "junit.xml"
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"), **extra_env)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "checks", "--profile", "cpu", "--json", str(out), "--junit",
                           str(junit), "--timeout", str(TIMEOUT), "--budget", "0.2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return done, json.loads(out.read_text()), time.monotonic() - start


@pytest.mark.parametrize("fake", sorted(FAKES))
def test_injected_failure_is_reported_with_its_diagnosis(tmp_path, fake):
    done, data, seconds = run_checks(tmp_path, fake)
    _, words, diagnosis = FAKES[fake]
    checks = {c["id"]: c for c in data["checks"]}
    imp = checks["devices.import"]
    assert done.returncode == 1 and data["exit_code"] == 1
    assert imp["status"] == "fail" and words in imp["summary"] + " ".join(imp["details"]), imp
    if diagnosis:
        assert imp["facts"]["diagnoses"][0]["id"] == diagnosis and imp["fix"]
    assert "Traceback" not in done.stderr  # the suite itself did not crash
    assert checks["matmul.cpu"]["status"] == "skip"  # later checks still ran and reported
    assert seconds < TIMEOUT + 30
    xmlschema.validate(str(tmp_path / "junit.xml"), str(ROOT / "docs" / "schema" / "junit.xsd"))


def test_github_actions_gets_annotations_and_a_step_summary(tmp_path):
    summary = tmp_path / "summary.md"
    done, data, _ = run_checks(tmp_path, "plugin-library", GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    errors = [ln for ln in done.stdout.splitlines() if ln.startswith("::error ")]
    imp = [ln for ln in errors if ln.startswith("::error title=devices.import::")]
    assert imp and "Library not loaded" in imp[0]
    assert "%0Afix%3A" not in imp[0] and "%0Afix: " in imp[0]  # message data escapes newlines, not colons
    table = summary.read_text(encoding="utf-8")
    assert "| ❌ | `devices.import` |" in table and "| ⏭️ | `matmul.cpu` |" in table
