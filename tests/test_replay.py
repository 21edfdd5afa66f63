"""Replaying recorded bundles gives the verdicts of the recorded machines, on any OS."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import make_bundles
from tests.conftest import ROOT, invoke
from tests.machines import BUNDLES

BUNDLE_DIR = ROOT / "tests" / "bundles"


def replay(name_or_path, *flags, tmp_path):
    out = tmp_path / "out.json"
    path = name_or_path if "/" in str(name_or_path) else BUNDLE_DIR / name_or_path
    done = subprocess.run([sys.executable, "-m", "checks", "--replay", str(path), "--json", str(out), *flags],
                          cwd=ROOT, capture_output=True, text=True)
    data = json.loads(out.read_text())
    return done.returncode, {c["id"]: c for c in data["checks"]}


def test_committed_bundles_are_what_machines_py_records(tmp_path):
    for name, (raw, notes) in BUNDLES.items():
        fresh = make_bundles.write(name, raw, notes, root=tmp_path)
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


def test_github_vm_skips_gpu_checks_and_fails_them_under_require_gpu(tmp_path):
    code, checks = replay("github-arm64-vm", tmp_path=tmp_path)
    assert code == 0
    for gpu_check in ("devices.gpu", "matmul.gpu", "matmul.speedup"):
        assert checks[gpu_check]["status"] == "skip" and "MPS" in checks[gpu_check]["summary"]
    code, checks = replay("github-arm64-vm", "--require-gpu", tmp_path=tmp_path)
    assert code == 1 and checks["devices.gpu"]["status"] == "fail"


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
    # matmul.cpu passes, or warns when the shared machine disturbed its timings (CV > 10 %): either way the
    # summary shows the live status
    icon = {"pass": "✅", "warn": "⚠️"}[live["matmul.cpu"][0]]
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
