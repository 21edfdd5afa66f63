"""Replaying recorded bundles gives the verdicts of the recorded machines, on any OS."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import make_bundles
from tests.conftest import ROOT, invoke
from tests.machines import BUNDLES, CI_BUNDLES

BUNDLE_DIR = ROOT / "tests" / "bundles"


def replay(name_or_path, *flags, tmp_path):
    out = tmp_path / "out.json"
    path = name_or_path if "/" in str(name_or_path) else BUNDLE_DIR / name_or_path
    done = subprocess.run([sys.executable, "-m", "checks", "--replay", str(path), "--json", str(out), *flags],
                          cwd=ROOT, capture_output=True, text=True)
    data = json.loads(out.read_text())
    return done.returncode, {c["id"]: c for c in data["checks"]}


def test_committed_bundles_are_what_machines_py_records(tmp_path):
    every = {**{k: (raw, notes, None, None) for k, (raw, notes) in BUNDLES.items()}, **CI_BUNDLES}
    for name, (raw, notes, pkgs, tf) in every.items():
        fresh = make_bundles.write(name, raw, notes, root=tmp_path, packages=pkgs, tensorflow=tf)
        committed = BUNDLE_DIR / name
        files = sorted(p.relative_to(fresh) for p in fresh.rglob("*.json"))
        assert files == sorted(p.relative_to(committed) for p in committed.rglob("*.json")), name
        for rel in files:
            assert (fresh / rel).read_text() == (committed / rel).read_text(), (name, rel)


@pytest.mark.parametrize("name", ["m1-native", "m3-max"])
def test_native_apple_silicon_passes_the_architecture_checks(name, tmp_path):
    code, checks = replay(name, tmp_path=tmp_path)
    assert code == 0 and checks["architecture.interpreter"]["status"] == "pass"
    assert checks["devices.import"]["summary"] == "not recorded in this bundle"


def test_rosetta_fails_with_the_fix(tmp_path):
    code, checks = replay("rosetta", tmp_path=tmp_path)
    assert code == 1 and checks["architecture.interpreter"]["status"] == "fail"
    assert "uv python install cpython-3.12-macos-aarch64" in checks["architecture.interpreter"]["fix"]


def test_github_vm_without_tensorflow_facts_fails_only_under_require_gpu(tmp_path):
    code, checks = replay("github-arm64-vm", tmp_path=tmp_path)
    assert code == 0 and checks["architecture.virtualization"]["status"] == "pass"
    code, checks = replay("github-arm64-vm", "--require-gpu", tmp_path=tmp_path)
    assert code == 1 and checks["architecture.virtualization"]["status"] == "fail"
    assert "MPS" in " ".join(checks["architecture.virtualization"]["details"])


def test_hosted_macos15_with_a_gpu_listed_judges_correctness_and_gates_no_speed(tmp_path):
    code, checks = replay("github-macos15-gpu-listed", tmp_path=tmp_path)
    assert code == 0
    chip = checks["architecture.chip"]
    assert "GPU seen by system_profiler (text): Apple Paravirtual device (Metal 3, cores not reported)" in chip[
        "details"]
    assert any(d.startswith("not collected: memory_size, recommended_working_set, max_buffer_length")
               for d in chip["details"])
    assert checks["devices.gpu"]["status"] == "pass" and "in a macOS VM" in checks["devices.gpu"]["summary"]
    assert any(d.startswith("not known: what TensorFlow lists") for d in checks["devices.gpu"]["details"])
    gpu = checks["matmul.gpu"]
    assert gpu["status"] == "pass" and "correctness judged, speed not gated" in gpu["summary"]
    for check in ("matmul.speedup", "matmul.efficiency"):
        assert checks[check]["status"] == "skip" and "not gated in a macOS VM" in checks[check]["summary"]
    # the same bundle with a wrong GPU answer fails: advisory is not lenient on numbers
    bundle = tmp_path / "wrong"
    import shutil

    shutil.copytree(BUNDLE_DIR / "github-macos15-gpu-listed", bundle)
    tf = json.loads((bundle / "tensorflow.json").read_text())
    tf["matmul"]["gpu"]["error_rel"] = 1e-2  # altered: a wrong result
    (bundle / "tensorflow.json").write_text(json.dumps(tf))
    code, checks = replay(bundle, tmp_path=tmp_path)
    assert code == 1 and checks["matmul.gpu"]["status"] == "fail"


def test_hosted_macos15_with_no_gpu_listed_fails_the_device_check_saying_vm(tmp_path):
    code, checks = replay("github-macos15-no-gpu", tmp_path=tmp_path)
    assert code == 1
    gpu = checks["devices.gpu"]
    assert gpu["status"] == "fail" and "TensorFlow lists no GPU in this macOS VM (VirtualMac2,1" in gpu["summary"]


def test_a_sandboxed_apple_silicon_mac_is_said_to_be_sandboxed(tmp_path):
    code, checks = replay("sandboxed-m1", tmp_path=tmp_path)
    gpu = checks["devices.gpu"]
    assert code == 1 and gpu["status"] == "fail" and "the process looks sandboxed" in gpu["summary"]
    assert "CODEX_SANDBOX=seatbelt" in gpu["summary"]
    assert any("outside the sandbox" in d for d in gpu["details"])


def test_a_strict_run_failed_by_a_warning_says_so_everywhere(tmp_path):
    import shutil
    import xml.etree.ElementTree as ET

    bundle = tmp_path / "warned"
    shutil.copytree(BUNDLE_DIR / "linux-x86_64-training", bundle)
    pk = json.loads((bundle / "packages.json").read_text())
    pk["versions"]["tensorflow-cpu"] = "2.19.0"  # altered: a TensorFlow the matrix does not pin warns
    (bundle / "packages.json").write_text(json.dumps(pk))
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run([sys.executable, "-m", "checks", "--replay", str(bundle), "--junit", str(junit)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "failed by --strict" not in done.stdout
    junit.unlink()
    done = subprocess.run([sys.executable, "-m", "checks", "--replay", str(bundle), "--junit", str(junit), "--strict"],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert "1 warning, 0 failed, " in done.stdout
    assert "; failed by --strict: 1 warning counts as a failure (packages.tensorflow)" in done.stdout
    assert "::error title=--strict::failed by --strict" in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("next: .tools/bin/invoke ") and "--strict" not in last  # a setup fix: no --strict
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1"
    case = suite.find(".//testcase[@name='packages.tensorflow']")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "StrictWarning"
    assert "**failed by --strict: 1 warning counts as a failure (packages.tensorflow)**" in summary.read_text()


@pytest.mark.parametrize("name", ["intel-mac", "linux-x86_64"])
def test_intel_and_linux_get_the_cpu_profile(name, tmp_path):
    code, checks = replay(name, tmp_path=tmp_path)
    assert code == 0
    assert checks["devices.gpu"]["status"] == "skip"
    assert ("Intel Mac" if name == "intel-mac" else "Linux") in checks["devices.gpu"]["summary"]


def test_a_bundle_that_is_not_one_is_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "checks", "--replay", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not a bundle" in done.stderr


@pytest.mark.slow
@pytest.mark.network
def test_report_on_this_machine_replays_to_the_same_results(tf_env, tmp_path):
    out = tmp_path / "bundle"
    done = invoke("report", "--env", str(tf_env), "--out", str(out))
    assert done.returncode == 0, done.stderr
    live = {c["id"]: (c["status"], c["summary"]) for c in json.loads((out / "results.json").read_text())["checks"]}
    code, checks = replay(out, tmp_path=tmp_path)
    assert code == 0 and {k: (c["status"], c["summary"]) for k, c in checks.items()} == live
    # matmul.cpu passes on the cpu profile (a disturbed timing gates nothing there: a detail line, not a warning)
    icon = {"pass": "✅"}[live["matmul.cpu"][0]]
    assert "| %s | `matmul.cpu` |" % icon in (out / "summary.md").read_text(encoding="utf-8")


def test_a_bundle_with_an_unknown_chip_and_macos_still_gives_sensible_verdicts(tmp_path):
    import shutil

    bundle = tmp_path / "future-mac"
    shutil.copytree(BUNDLE_DIR / "m1-native", bundle)
    profiler = json.loads((bundle / "commands" / "system_profiler.json").read_text())
    profiler["stdout"] = profiler["stdout"].replace("Apple M1", "Apple M9 Ultra").replace('"7"', '"96"')
    (bundle / "commands" / "system_profiler.json").write_text(json.dumps(profiler))
    sw_vers = json.loads((bundle / "commands" / "sw_vers.json").read_text())
    sw_vers["stdout"] = "31.0\n"
    (bundle / "commands" / "sw_vers.json").write_text(json.dumps(sw_vers))
    code, checks = replay(bundle, tmp_path=tmp_path)
    assert code == 0
    assert checks["architecture.interpreter"]["status"] == "pass"
    assert checks["architecture.macos"]["status"] == "pass" and "31.0" in checks["architecture.macos"]["summary"]
    chip = checks["architecture.chip"]["summary"]
    assert "Apple M9 Ultra, 96 GPU cores" in chip and "'Apple M9 Ultra' is not in envs/chips.json" in chip


def test_a_linux_recording_with_the_training_probe_replays_its_training_family(tmp_path):
    code, checks = replay("linux-x86_64-training", tmp_path=tmp_path)
    assert code == 0
    for check in ("training.losses", "training.placement", "training.fused"):
        assert checks[check]["status"] == "pass", checks[check]
    assert checks["training.agreement"]["status"] == "skip" and "Linux has no Metal" in checks["training.agreement"][
        "summary"]
    assert "ms per step" in checks["training.speed"]["summary"]


def test_a_recording_made_before_the_training_probe_says_so(tmp_path):
    code, checks = replay("linux-x86_64", tmp_path=tmp_path)
    assert code == 0 and checks["training.losses"]["status"] == "skip"
    assert "no training probe in this recording" in checks["training.losses"]["summary"]


def test_a_bundle_whose_losses_are_nan_replays_to_a_failed_training_check(tmp_path):
    import shutil

    bundle = tmp_path / "nan-losses"
    shutil.copytree(BUNDLE_DIR / "linux-x86_64-training", bundle)
    tf = json.loads((bundle / "tensorflow.json").read_text())
    tf["training"]["cpu"]["losses"][4:] = [float("nan")] * 6  # altered: the losses from step 5 on
    (bundle / "tensorflow.json").write_text(json.dumps(tf))
    code, checks = replay(bundle, tmp_path=tmp_path)
    assert code == 1
    losses = checks["training.losses"]
    assert losses["status"] == "fail" and "CPU:0: loss is nan at step 5 of 10" in losses["summary"] and losses["fix"]
