"""`invoke setup --dry-run [--platform P]`: the full plan of every profile and platform, on this Linux machine,
creating and downloading nothing."""

from __future__ import annotations

import subprocess

import pytest

from checks import knowledge, matrix, paths
from scripts import interpreters, locks
from tests.test_bad_input import invoke
from tests.test_fixes import MAC_PROGRAMS, check_fix_line

K = knowledge.load({})


def dry_run(tmp_path, *args):
    env = tmp_path / "never-created"
    done = invoke("setup", "--dry-run", "--env", str(env), *args)
    assert done.returncode == 0, done.stderr
    assert not env.exists()
    return done.stdout


def test_the_community_pair_plans_two_steps_after_the_preflight(tmp_path):
    before = subprocess.run(["git", "status", "--porcelain"], cwd=paths.ROOT, capture_output=True, text=True).stdout
    out = dry_run(tmp_path, "--platform", "macos-arm64", "--profile", "metal", "--tensorflow", "2.21.0",
                  "--python", "3.12")
    assert subprocess.run(["git", "status", "--porcelain"], cwd=paths.ROOT, capture_output=True,
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


@pytest.mark.parametrize("target", [t for t in K.matrix.tensorflow_targets], ids=lambda t: "%s-%s-%s" % (
    t.profile, t.platform, t.tensorflow_pin[1]))
def test_every_profile_and_platform_has_a_plan(tmp_path, target):
    python = matrix.python_versions(target.python)[0]
    out = dry_run(tmp_path, "--platform", target.platform, "--profile", target.profile, "--tensorflow",
                  target.tensorflow_pin[1], "--python", python, "--manager", "venv")
    assert matrix.shown(target.lock_path(python)) in out and "pip install --require-hashes" in out
    assert ("macOS" in out.split("Steps:")[0]) == target.platform.startswith("macos")
    fix_lines = [ln.split("fix: ", 1)[1] for ln in out.splitlines() if ln.strip().startswith("fix: ")]
    assert fix_lines and all(check_fix_line(f, also=MAC_PROGRAMS) == [] for f in fix_lines), fix_lines


@pytest.mark.parametrize("os_name", ["macos", "linux"])
def test_the_ways_to_get_a_python_are_commands(os_name):
    hint = interpreters.install_hint("3.12", os_name)
    assert check_fix_line(hint, also=MAC_PROGRAMS) == [] and "3.12" in hint.split("  # ")[0]
    for line in interpreters.install_fix("3.12", paths.ROOT / ".venv-tf").splitlines():
        assert check_fix_line(line) == [], line


def test_invoke_matrix_shows_both_metal_pairs_with_why_and_how_each_installs():
    out = invoke("matrix").stdout
    lines = out.splitlines()
    flat = " ".join(out.split())  # a long line wraps (invoke matrix keeps to 100 columns)
    apple = lines.index(next(ln for ln in lines if "tensorflow==2.19.1 tensorflow-metal==1.2.0" in ln))
    community = lines.index(next(ln for ln in lines if "tensorflow==2.21.0 tensorflow-metal-plugin==0.4.1" in ln))
    assert lines[apple + 1].strip().startswith("default; why: Newest pair verified")
    assert lines[community + 1].strip().startswith("chosen with --tensorflow 2.21.0; why: The only way to "
                                                   "TensorFlow 2.21")
    assert "install: one step, a prebuilt wheel with TensorFlow" in flat
    assert "install: two steps, TensorFlow first, then the sdist built against it (--no-build-isolation --no-deps); " \
           "the build needs setuptools>=64, wheel, make, xcrun, macOS SDK >=15.0" in flat
    assert "declines metal-plugin-other-tensorflow, metal-plugin-disabled; expected metal-plugin-synchronous" in flat


def test_a_plugin_naming_an_unknown_diagnosis_is_a_one_line_matrix_error(tmp_path):
    import json
    import os

    data = json.loads(paths.MATRIX_PATH.read_text())
    data["plugins"][1]["declines"] = ["no-such-diagnosis"]
    (tmp_path / "matrix.json").write_text(json.dumps(data))
    done = invoke("matrix", env=dict(os.environ, TFM_MATRIX=str(tmp_path / "matrix.json")))
    assert done.returncode == 2 and "lacks: no-such-diagnosis" in done.stderr


def test_invoke_lock_leaves_the_two_step_target_to_its_own_generator():
    from checks.errors import StepFailed
    from scripts import community_locks

    built = locks.built_targets(K.matrix)
    assert [t.label for t in built] == ["tensorflow 2.21.0 + tensorflow-metal-plugin 0.4.1"]
    assert all(t.plugin is None or not t.plugin.two_step for t, _, _ in locks.all_locks(K.matrix))
    apple = K.matrix.target("metal", "macos-arm64")
    with pytest.raises(StepFailed, match="no lock generator"):
        community_locks.write_for(apple, [], paths.LOCK_DIR / "community")


def _plan_python(out):
    return next(ln.split(None, 1)[1] for ln in out.splitlines() if ln.startswith("  python "))


def test_a_dry_run_here_plans_the_interpreter_setup_would_choose(tmp_path):
    """Without --platform the dry run is setup's own plan: the interpreter it picks, its lock, its fallback."""
    from scripts import plan as planning
    chosen = planning.plan(K, env=str(tmp_path / "never-created"), say=lambda _: None)
    out = dry_run(tmp_path)
    assert "Dry run for this machine (linux-x86_64)" in out
    assert _plan_python(out) == chosen.interpreter.describe()
    assert "  lock     %s (" % matrix.shown(chosen.lock) in out
    assert "$ .tools/bin/uv venv --allow-existing --no-project --python %s " % chosen.interpreter.path in out
    # the interpreter setup chose meets its own need: no preflight fix to install a Python it already has
    assert "the interpreter itself" not in out and "uv python install" not in out
    assert "  - nothing left to check: %s meets the target" % chosen.interpreter.describe() in out


def test_a_dry_run_here_with_a_python_outside_the_range_falls_back_as_setup_does(tmp_path):
    from packaging.specifiers import SpecifierSet

    from scripts import interpreters
    if interpreters.find(SpecifierSet("==3.13.*"), "x86_64", interpreters.candidates()) is None:
        pytest.skip("no Python 3.13 on this machine")
    out = dry_run(tmp_path, "--python", "3.13")
    assert "Python 3.13 is outside <3.13,>=3.9 for cpu/linux-x86_64; using " in out
    assert "(CPython 3.12." in _plan_python(out)
    assert "envs/locks/cpu-linux-x86_64-py3.12.txt" in out


def test_a_dry_run_with_requirements_shows_the_project_locks_and_resolves_nothing(tmp_path):
    from scripts import plan as planning
    from scripts import project
    reqs = tmp_path / "proj" / "requirements.txt"
    reqs.parent.mkdir()
    reqs.write_text("tabulate\n", encoding="utf-8")
    python = planning.plan(K, env=str(tmp_path / "never-created"), say=lambda _: None).interpreter.minor
    lock = reqs.parent / "tfmetal-locks" / ("cpu-linux-x86_64-py%s.txt" % python)
    out = dry_run(tmp_path, "--requirements", str(reqs))
    assert "project  %s: its lock %s is resolved first" % (reqs, lock) in out
    assert "and the metal/macos-arm64 lock %s: resolved too" % lock.with_name("metal-macos-arm64-py%s.txt" % python) \
        in out
    assert "install %s: the project lock, once resolved" % lock in out
    assert sorted(p.name for p in reqs.parent.iterdir()) == ["requirements.txt"]  # nothing resolved or written
    # a lock whose recorded inputs digest matches is up to date (setup would not resolve it again)
    proj = project.declared([str(reqs)], tmp_path / "no-config.json")
    target = K.matrix.target("cpu", "linux-x86_64")
    lock.parent.mkdir()
    lock.write_text("# made by setup\n%s%s\n" % (project.DIGEST_LINE, project.digest(proj, target, python)))
    out = dry_run(tmp_path, "--requirements", str(reqs))
    assert "its lock %s is up to date" % lock in out and "install %s: 0 pinned packages" % lock in out
    assert "and the metal/macos-arm64 lock " in out and ": resolved too" in out
    reqs.write_text("tabulate\nrich\n", encoding="utf-8")
    assert "its lock %s is resolved first" % lock in dry_run(tmp_path, "--requirements", str(reqs))


def test_a_dry_run_with_requirements_plans_the_project_lock_and_creates_nothing(tmp_path):
    from scripts import project

    req = tmp_path / "app" / "requirements.txt"
    req.parent.mkdir()
    req.write_text("tabulate\n")
    out = dry_run(tmp_path, "--platform", "linux-x86_64", "--python", "3.12", "--requirements", str(req))
    lock = tmp_path / "app" / "tfmetal-locks" / "cpu-linux-x86_64-py3.12.txt"
    assert "project  %s: its lock %s is resolved first" % (req, lock) in out
    assert "install %s: the project lock, once resolved" % lock in out and "pip sync" in out
    assert not lock.parent.exists()  # nothing resolved, nothing written
    proj = project.declared([str(req)], tmp_path / "no-config.json")
    target = K.matrix.target("cpu", "linux-x86_64")
    lock.parent.mkdir()
    lock.write_text("# made\n%s%s\ntabulate==0.9.0 \\\n    --hash=sha256:ab\n" % (
        project.DIGEST_LINE, project.digest(proj, target, "3.12")))
    out = dry_run(tmp_path, "--platform", "linux-x86_64", "--python", "3.12", "--requirements", str(req))
    assert "its lock %s is up to date" % lock in out and "1 pinned package, 1 sha256 hash" in out


def test_a_dry_run_refuses_requirements_on_the_two_step_pair_as_setup_does(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("tabulate\n")
    done = invoke("setup", "--dry-run", "--platform", "macos-arm64", "--tensorflow", "2.21.0", "--requirements",
                  str(req))
    assert done.returncode == 2 and "not supported yet" in done.stderr
