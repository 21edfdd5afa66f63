"""End to end: the real `invoke setup` and `invoke verify`, real TensorFlow (cpu profile), real JSON."""

from __future__ import annotations

import json
import os
import shutil
import time

import jsonschema
import pytest
import xmlschema

from checks.paths import MARKER, OWNER
from tests.conftest import ROOT, invoke, pyenv_python, site_packages

pytestmark = [pytest.mark.slow, pytest.mark.network]
FAST = ("--budget", "0.5")


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def test_setup_writes_owner_and_marker_last(tf_env):
    marker = read_json(tf_env / MARKER)
    assert (tf_env / OWNER).exists()
    assert marker["profile"] == "cpu" and marker["lock"].startswith("envs/locks/cpu-linux-")
    assert marker["requirements"] == ["tensorflow-cpu==2.19.1"]
    assert (tf_env / "bin" / "python").exists()


def test_rerun_on_a_complete_environment_is_a_noop(tf_env):
    before = os.stat(tf_env / MARKER).st_mtime_ns
    start = time.monotonic()
    done = invoke("setup", "--env", str(tf_env))
    assert done.returncode == 0
    assert "nothing to do" in done.stderr
    assert os.stat(tf_env / MARKER).st_mtime_ns == before
    assert time.monotonic() - start < 30  # generous: a no-op must not reinstall


def test_verify_passes_honestly_and_json_has_every_family(tf_env, tmp_path):
    out, junit = tmp_path / "out.json", tmp_path / "junit.xml"
    done = invoke("verify", "--env", str(tf_env), "--json", str(out), "--junit", str(junit), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    data = read_json(out)
    jsonschema.validate(data, read_json(ROOT / "docs" / "schema" / "verify-v1.schema.json"))
    xmlschema.validate(str(junit), str(ROOT / "docs" / "schema" / "junit.xsd"))
    assert 'name="training.losses"' in junit.read_text(encoding="utf-8")
    assert data["schema_version"] == "1" and data["exit_code"] == 0
    checks = {c["id"]: c for c in data["checks"]}
    assert {c["family"] for c in checks.values()} == {"environment", "architecture", "packages", "devices", "matmul",
                                                      "training"}
    assert {k for k, c in checks.items() if c["status"] == "pass"} >= {
        "environment.setup", "architecture.interpreter", "packages.tensorflow", "devices.import"}
    # On this shared 2-core machine a short timing can scatter; on the cpu profile that figure gates nothing, so a
    # scatter is a detail line (information), never a warning that --strict would turn into a failure.
    assert checks["matmul.cpu"]["status"] == "pass"
    assert all("information only" in d for d in checks["matmul.cpu"]["details"] if "timing disturbed" in d)
    for gpu_check in ("devices.gpu", "matmul.gpu", "matmul.speedup", "packages.metal"):
        assert checks[gpu_check]["status"] == "skip"
        assert "Metal" in checks[gpu_check]["summary"]
    cpu = checks["matmul.cpu"]["facts"]
    assert cpu["gflops"] > 0 and cpu["error_rel"] <= cpu["tolerance"] and cpu["reps"] >= 5
    assert "CPU:0" in cpu["placed"]
    assert data["facts"]["tensorflow"]["tensorflow"]["version"] == "2.19.1"
    dists = data["facts"]["packages"]["distributions"]  # every installed distribution, not just the short list
    assert dists["tensorflow-cpu"] == "2.19.1" and "absl-py" in dists and "protobuf" in dists
    assert "PYTHONPATH" not in data["facts"]["packages"]["env"]  # invoke's own root is not the user's setting
    for family in ("environment", "architecture", "packages", "devices", "matmul", "training"):
        assert "\n%s\n" % family in done.stdout


def test_verify_trains_a_keras_model_and_the_json_holds_losses_census_and_step_times(tf_env, tmp_path):
    """Real training on this machine (cpu profile): a Keras model, Adam, 10 steps of train_on_batch."""
    out = tmp_path / "out.json"
    done = invoke("verify", "--env", str(tf_env), "--json", str(out), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    data = read_json(out)
    checks = {c["id"]: c for c in data["checks"]}
    tr = data["facts"]["tensorflow"]["training"]
    losses = tr["cpu"]["losses"]
    assert len(losses) == tr["steps"] == 10 and losses[-1] < losses[0]
    assert checks["training.losses"]["status"] == "pass" and "CPU:0" in checks["training.losses"]["summary"]
    census = checks["training.placement"]["facts"]
    assert checks["training.placement"]["status"] == "pass" and set(census["by_device"]) == {"CPU:0"}
    assert census["heavy"]["matmul"]["CPU:0"] >= 3 and census["heavy"]["conv"]["CPU:0"] >= 2
    assert census["heavy"]["optimizer"]["CPU:0"] == 6  # Keras 3's Adam: one assign_sub per weight tensor
    assert len(tr["cpu"]["step_s"]) == 10 and tr["cpu"]["median_step_ms"] > 0
    fused = checks["training.fused"]
    assert fused["status"] == "pass" and fused["facts"]["fused_op"] and "Fused" in fused["facts"]["fused_op"]
    assert checks["training.agreement"]["status"] == "skip" and "Linux has no Metal" in checks[
        "training.agreement"]["summary"]
    assert checks["training.speed"]["status"] == "skip" and "ms per step" in checks["training.speed"]["summary"]
    assert data["options"]["min_train_speedup"] is None


def test_require_gpu_fails_on_a_machine_without_one(tf_env, tmp_path):
    out = tmp_path / "out.json"
    done = invoke("verify", "--env", str(tf_env), "--require-gpu", "--json", str(out), *FAST)
    assert done.returncode == 1
    checks = {c["id"]: c for c in read_json(out)["checks"]}
    # no command gives Linux a Metal GPU: no fix line (never a metal one), the reason in the details
    assert checks["devices.gpu"]["status"] == "fail" and checks["devices.gpu"]["fix"] is None
    assert "bare-metal Apple Silicon Mac" in " ".join(checks["devices.gpu"]["details"])


def test_the_metal_profile_on_linux_prints_no_fix_that_cannot_work(tf_env, tmp_path):
    """No rebuild gives Linux a Metal GPU: no printed fix is a --force rebuild; next: is the cpu profile."""
    out = tmp_path / "out.json"
    done = invoke("verify", "--env", str(tf_env), "--profile", "metal", "--json", str(out), *FAST)
    assert done.returncode == 1
    fixes_printed = [c["fix"] for c in read_json(out)["checks"] if c["fix"]]
    assert not any("--force" in f for f in fixes_printed), fixes_printed
    assert done.stdout.strip().splitlines()[-1].endswith("--profile cpu  # this machine has no Metal GPU")


def test_verify_fails_a_half_built_environment(tf_env, tmp_path):
    """Without its marker (as after an interrupted setup) the environment is not taken as good."""
    hidden = tmp_path / "marker"
    shutil.move(str(tf_env / MARKER), str(hidden))
    try:
        out = tmp_path / "out.json"
        done = invoke("verify", "--env", str(tf_env), "--json", str(out), *FAST)
        checks = {c["id"]: c for c in read_json(out)["checks"]}
    finally:
        shutil.move(str(hidden), str(tf_env / MARKER))
    assert done.returncode == 1
    assert checks["environment.setup"]["status"] == "fail"
    assert "invoke setup" in checks["environment.setup"]["fix"]


def test_python_3_9_environment_runs_the_checks(tmp_path):
    """The checks package runs under Python 3.9, the /usr/bin/python3 of macOS."""
    py39 = pyenv_python("3.9")
    env = tmp_path / "env39"
    done = invoke("setup", "--env", str(env), "--python", py39)
    assert done.returncode == 0, done.stderr
    assert "cpu-linux-x86_64-py3.9.txt" in done.stderr
    out = tmp_path / "out.json"
    done = invoke("verify", "--env", str(env), "--json", str(out), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_json(out)["facts"]["system"]["python_version"].startswith("3.9.")


def test_verify_writes_bytecode_for_what_tensorflow_imports_and_only_that(tf_env, tmp_path):
    """Setup installs without bytecode; the TensorFlow child compiles what it imports, even with
    PYTHONDONTWRITEBYTECODE=1 (the test environment's setting here)."""
    site = site_packages(tf_env)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = invoke("verify", "--env", str(tf_env), *FAST, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((site / "tensorflow" / "__pycache__").glob("__init__.*.pyc"))
    tools = site / "tensorflow" / "python" / "tools"  # a command-line tool, not imported by `import tensorflow`
    assert (tools / "saved_model_cli.py").exists() and not list(tools.rglob("saved_model_cli.*.pyc"))


def test_a_dry_run_on_a_complete_environment_says_nothing_to_do(tf_env):
    before = os.stat(tf_env / MARKER).st_mtime_ns
    done = invoke("setup", "--dry-run", "--env", str(tf_env))
    assert done.returncode == 0, done.stderr
    assert "is complete and matches envs/locks/cpu-linux-" in done.stdout and "nothing to do" in done.stdout
    assert "Steps:" not in done.stdout
    assert os.stat(tf_env / MARKER).st_mtime_ns == before
    forced = invoke("setup", "--dry-run", "--force", "--env", str(tf_env))
    assert "nothing to do" not in forced.stdout and "1. remove the old environment at " in forced.stdout
