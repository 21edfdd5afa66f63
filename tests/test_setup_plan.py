"""`invoke setup --dry-run [--platform P]`: the full plan of every profile and platform, on this Linux machine,
creating and downloading nothing."""

from __future__ import annotations

import subprocess

import pytest

from checks import knowledge, matrix
from scripts import locks
from tests.test_bad_input import invoke

K = knowledge.load({})


def dry_run(tmp_path, *args):
    env = tmp_path / "never-created"
    done = invoke("setup", "--dry-run", "--env", str(env), *args)
    assert done.returncode == 0, done.stderr
    assert not env.exists()
    return done.stdout


def test_the_community_pair_plans_two_steps_after_the_preflight(tmp_path):
    before = subprocess.run(["git", "status", "--porcelain"], cwd=matrix.ROOT, capture_output=True, text=True).stdout
    out = dry_run(tmp_path, "--platform", "macos-arm64", "--profile", "metal", "--tensorflow", "2.21.0",
                  "--python", "3.12")
    assert subprocess.run(["git", "status", "--porcelain"], cwd=matrix.ROOT, capture_output=True,
                          text=True).stdout == before  # nothing written in the repository either
    target = K.matrix.target("metal", "macos-arm64", "2.21.0")
    step1, step2 = target.lock_path("3.12"), target.plugin_lock_path("3.12")
    lines = out.splitlines()
    pre = lines.index("Preflight, before any change (on the Mac):")
    steps = lines.index("Steps:")
    assert pre < steps
    checks = "\n".join(lines[pre:steps])
    for probe, fix in (("sw_vers -productVersion", "softwareupdate"), ("xcrun --show-sdk-version", "xcode-select"),
                       ("make --version", "xcode-select"), ("native arm64 Python 3.12", "brew install python@3.12")):
        assert probe in checks and fix in checks
    hashes1 = step1.read_text().count("--hash=sha256:")
    install = next(i for i, ln in enumerate(lines) if matrix.shown(step1) + ":" in ln)
    build = next(i for i, ln in enumerate(lines) if matrix.shown(step2) + ":" in ln)
    assert steps < install < build  # TensorFlow first, then the plugin
    assert "%d pinned packages, %d sha256 hashes" % (len(locks.pinned(step1)), hashes1) in lines[install]
    assert "1 pinned package, 1 sha256 hash" in lines[build]
    assert "--only-binary :all:" in lines[install + 1]
    assert "--no-build-isolation --no-deps" in lines[build + 1] and "--require-hashes" in lines[build + 1]
    assert "tensorflow 2.21.0 + tensorflow-metal-plugin 0.4.1" in out


def test_apples_pair_is_the_default_one_step_plan(tmp_path):
    out = dry_run(tmp_path, "--platform", "macos-arm64")
    assert "tensorflow 2.19.1 + tensorflow-metal 1.2.0" in out and "metal-macos-arm64-py3.12.txt" in out
    assert "xcrun" not in out and "build" not in out.lower().split("steps:")[1]
    assert "sw_vers -productVersion" in out and "macOS >=12.0" in out


@pytest.mark.parametrize("target", [t for t in K.matrix.targets], ids=lambda t: "%s-%s-%s" % (
    t.profile, t.platform, t.tensorflow_pin[1]))
def test_every_profile_and_platform_has_a_plan(tmp_path, target):
    python = matrix.python_versions(target.python)[0]
    out = dry_run(tmp_path, "--platform", target.platform, "--profile", target.profile, "--tensorflow",
                  target.tensorflow_pin[1], "--python", python, "--manager", "venv")
    assert matrix.shown(target.lock_path(python)) in out and "pip install --require-hashes" in out
    assert ("macOS" in out.split("Steps:")[0]) == target.platform.startswith("macos")
