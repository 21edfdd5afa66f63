"""CI recipes: the example workflows in docs/workflows/ pass the schema check (check-jsonschema's built-in
vendor.github-workflows schema) and the security audit (zizmor, offline audits), pin every action by a full commit
SHA, and say what each runner kind gates; `invoke report --issue` prints a paste-ready block."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks import issue
from tests.conftest import ROOT, invoke

EXAMPLES = sorted((ROOT / "docs" / "workflows").glob("*.yml"))
TOOLS = ROOT / ".tools" / "bin"


def tool(name: str) -> str:
    path = TOOLS / name if (TOOLS / name).exists() else shutil.which(name)
    if not path:
        pytest.skip("%s is not installed (a developer tool for Python 3.11+: make dev)" % name)
    return str(path)


def test_there_are_both_example_workflows():
    assert [p.name for p in EXAMPLES] == ["hosted-arm64-preflight.yml", "self-hosted-mac-gpu-gate.yml"]


def test_the_example_workflows_pass_the_schema_check():
    done = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, EXAMPLES)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_example_workflows_pass_the_security_audit():
    done = subprocess.run([tool("zizmor"), "--offline", "--no-progress", *map(str, EXAMPLES)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_audit_bites_on_an_unpinned_action_with_persisted_credentials(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(EXAMPLES[0].read_text(encoding="utf-8").replace(
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n        with:\n"
        "          persist-credentials: false", "actions/checkout@v7"), encoding="utf-8")
    done = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(bad)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "artipacked" in done.stdout + done.stderr


def test_the_hosted_runner_is_advisory_and_the_bare_metal_mac_gates():
    hosted, gate = (p.read_text(encoding="utf-8") for p in EXAMPLES)
    assert "runs-on: macos-15" in hosted and "--require-gpu" not in hosted and "--strict" not in hosted
    assert "actions/cache@" in hosted and "hashFiles('envs/tools.lock'" in hosted and "path: ~/.cache/uv" in hosted
    for text in (hosted, gate):
        assert "--json verify.json --junit verify-junit.xml" in text and "tf-bundle/" in text
        assert "invoke report --out tf-bundle --issue" in text and "persist-credentials: false" in text
    assert "runs-on: [self-hosted, macOS, ARM64]" in gate and "--require-gpu --strict" in gate
    assert "pull_request" not in gate  # a self-hosted runner never runs a fork's code


def test_the_issue_block_names_versions_machine_failed_checks_and_the_bundle(tmp_path):
    out = tmp_path / "r.json"
    bundle = ROOT / "tests" / "bundles" / "github-macos15-no-gpu"
    subprocess.run([sys.executable, "-m", "checks", "--replay", str(bundle), "--json", str(out)], cwd=ROOT,
                   capture_output=True, text=True, timeout=120)
    text = issue.block(json.loads(out.read_text()), "tf-bundle")
    assert text.startswith("<details><summary>") and text.endswith("</details>")
    for expected in ("OS:                     macOS (version not collected), hardware arm64, interpreter arm64",
                     "virtual machine:        yes", "GPU (system_profiler):  Apple Paravirtual device (cores not "
                     "reported, Metal 3)", "TensorFlow (installed): tensorflow 2.19.1",
                     "Metal plugin:           tensorflow-metal 1.2.0", "  [fail] devices.gpu: TensorFlow lists no GPU "
                     "in this macOS VM", "bundle:                 tf-bundle (attach the folder"):
        assert expected in text, expected


@pytest.mark.slow
@pytest.mark.network
def test_invoke_report_issue_prints_the_block(tf_env, tmp_path):
    out = tmp_path / "bundle"
    done = invoke("report", "--env", str(tf_env), "--out", str(out), "--issue")
    assert done.returncode == 0, done.stderr
    block = done.stdout.split("Paste this into the bug report:\n\n", 1)[1]
    assert re.search(r"^TensorFlow \(imported\): +2\.19\.1 in [\d.]+ s$", block, flags=re.M), block
    assert re.search(r"^bundle: +%s \(attach the folder" % re.escape(str(out)), block, flags=re.M), block
    assert (Path(out) / "results.json").is_file()
