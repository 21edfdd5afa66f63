"""Bad input: one clear line on stderr, exit code 2, nothing touched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from checks.paths import OWNER
from tests.conftest import ROOT, invoke
from tests.test_fixes import check_fix_line


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("args,words", [
    (("setup", "--profile", "gpu"), "unknown profile 'gpu'"),
    (("setup", "--manager", "pipenv"), "unknown manager 'pipenv'"),
    (("setup", "--python", "/nonexistent/python3"), "not a working Python"),
    (("verify", "--min-speedup", "abc"), "is not a number"),
    (("verify", "--min-speedup", "-1"), "not a positive number"),
    (("verify", "--min-train-speedup", "fast"), "is not a number"),
    (("verify", "--env", "/nonexistent/env"), "fix: .tools/bin/invoke setup --env /nonexistent/env"),
    (("verify", "--env", "/"), "fix: .tools/bin/invoke setup --env .venv-tf  # a fresh environment"),  # not `/`
    (("verify", "--bogus"), "error: No idea what '--bogus' is!"),  # invoke's own parse errors exit 2 too
    (("nosuchtask",), "error: No idea what 'nosuchtask' is!"),
    (("setup", "--env"), "needed value and was not given"),
    (("diagnose", "/nonexistent/error.txt"), "error: cannot read /nonexistent/error.txt"),
])
def test_bad_task_options(args, words):
    done = invoke(*args)
    assert done.returncode == 2
    assert words in one_line(done.stderr)


def test_verify_of_a_dangling_link_names_its_target_and_the_fix_builds_there(tmp_path):
    link = tmp_path / "L"
    link.symlink_to(tmp_path / "nowhere")
    done = invoke("verify", "--env", str(link))
    assert done.returncode == 2
    assert one_line(done.stderr).endswith("fix: .tools/bin/invoke setup --env %s" % (tmp_path / "nowhere"))


def test_setup_of_an_unpinned_tensorflow_names_a_pinned_one_not_a_lock_rewrite():
    done = invoke("setup", "--tensorflow", "2.18.0")
    assert done.returncode == 2 and "not pinned in envs/matrix.json" in one_line(done.stderr)
    fix = one_line(done.stderr).split("; fix: ", 1)[1]
    assert fix.startswith(".tools/bin/invoke setup --env .venv-tf --tensorflow ") and "invoke lock  #" not in fix


def test_diagnose_of_a_binary_file_says_it_is_not_text(tmp_path):
    binary = tmp_path / "core.bin"
    binary.write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    done = invoke("diagnose", str(binary))
    assert done.returncode == 2 and "is not text (it holds NUL bytes)" in one_line(done.stderr)


def test_env_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("mine")
    done = invoke("setup", "--env", str(f))
    assert done.returncode == 2 and "is a file" in one_line(done.stderr)
    assert f.read_text() == "mine"


def test_force_never_deletes_a_directory_setup_did_not_create(tmp_path):
    d = tmp_path / "precious"
    d.mkdir()
    (d / "thesis.tex").write_text("years of work")
    done = invoke("setup", "--env", str(d), "--force")
    assert done.returncode == 2 and "not created by invoke setup" in one_line(done.stderr)
    assert (d / "thesis.tex").read_text() == "years of work" and not (d / OWNER).exists()


@pytest.mark.parametrize("args,words", [
    (["--min-speedup", "0"], "not a positive number"),
    (["--budget", "soon"], "not a number"),
    (["--min-train-speedup", "-2"], "not a positive number"),
    (["--profile", "gpu"], "invalid choice"),
])
def test_checks_cli_bad_input(args, words):
    done = subprocess.run([sys.executable, "-m", "checks", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and words in one_line(done.stderr)


def test_help_explains_exit_codes():
    done = subprocess.run([sys.executable, "-m", "checks", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "exit codes: 0 nothing failed" in done.stdout


def test_every_task_option_has_help():
    done = invoke("--list", "--list-format", "json")
    import json

    tasks = {t["name"] for t in json.loads(done.stdout)["tasks"]}
    assert {"setup", "verify", "lock", "matrix"} <= tasks
    for name in ("setup", "verify"):
        text = invoke(name, "--help").stdout
        assert "Options:" in text and "STRING" in text
        assert text.count("--") >= 4


@pytest.mark.parametrize("version,words", [
    ("2.20.0", "Library not loaded"),
])
def test_setup_refuses_tensorflow_that_breaks_every_plugin(version, words):
    done = invoke("setup", "--profile", "metal", "--tensorflow", version)
    line = one_line(done.stderr)
    assert done.returncode == 2 and words in line
    assert "Working alternative: tensorflow==2.19.1 tensorflow-metal==1.2.0" in line
    # --profile metal cannot work on this Linux: the fix leaves the profile to the machine (and is run by
    # tests/test_lanes.py's dry-run twin of this case)
    assert line.endswith("fix: .tools/bin/invoke setup --env .venv-tf --tensorflow 2.19.1  # the working pair")


def test_tensorflow_2_21_chooses_the_community_pair_which_needs_a_mac():
    done = invoke("setup", "--profile", "metal", "--tensorflow", "2.21.0")  # pinned: not refused as a broken pair
    assert done.returncode == 2 and "--profile metal needs macOS on Apple Silicon" in one_line(done.stderr)
    done = invoke("setup", "--tensorflow", "2.21.0")  # auto on Linux: cpu, which pins no 2.21
    line = one_line(done.stderr)
    assert done.returncode == 2 and "TensorFlow 2.21.0 is pinned for another platform, not for cpu/linux-x86_64, " \
        "which pins tensorflow-cpu==2.19.1" in line and "fix: .tools/bin/invoke setup --env .venv-tf --tensorflow " \
        "2.19.1  # this platform's pin" in line


def test_a_dry_run_for_a_platform_without_that_tensorflow_names_its_pin_and_the_fix_line():
    done = invoke("setup", "--dry-run", "--platform", "linux-x86_64", "--tensorflow", "2.21.0")
    line = one_line(done.stderr)
    assert done.returncode == 2 and "TensorFlow 2.21.0 is pinned for another platform, not for cpu/linux-x86_64, " \
        "which pins tensorflow-cpu==2.19.1" in line
    fix = line.split("fix: ", 1)[1].split("  #")[0]
    assert fix == ".tools/bin/invoke setup --env .venv-tf --dry-run --platform linux-x86_64 --tensorflow 2.19.1"
    again = invoke(*fix.split()[1:])  # the fix line itself plans this platform's pair
    assert again.returncode == 0 and "tensorflow-cpu 2.19.1" in again.stdout
    done = invoke("setup", "--dry-run", "--platform", "macos-x86_64", "--tensorflow", "2.19.1")
    assert done.returncode == 2 and "which pins tensorflow==2.16.2" in one_line(done.stderr)


def test_setup_platform_only_with_dry_run_and_dry_run_refuses_unknown_platforms():
    done = invoke("setup", "--platform", "macos-arm64")
    assert done.returncode == 2 and "use it with --dry-run" in one_line(done.stderr)
    done = invoke("setup", "--dry-run", "--platform", "windows-arm64")
    assert done.returncode == 2 and "not in the matrix" in one_line(done.stderr)
    done = invoke("setup", "--dry-run", "--platform", "macos-arm64", "--tensorflow", "2.21.0", "--python", "3.9")
    assert done.returncode == 2 and "3.10, 3.11, 3.12, 3.13" in one_line(done.stderr)


def test_setup_refuses_an_unpinned_tensorflow_and_names_the_pins():
    done = invoke("setup", "--tensorflow", "2.18.0")
    assert done.returncode == 2 and "not pinned in envs/matrix.json" in one_line(done.stderr)


def test_checks_in_an_environment_without_packaging_is_one_line_exit_2(tmp_path):
    import venv

    venv.create(tmp_path / "bare", with_pip=False)
    done = subprocess.run([str(tmp_path / "bare" / "bin" / "python"), "-m", "checks"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "no `packaging`" in one_line(done.stderr)
    fix = one_line(done.stderr).split("; fix: ", 1)[1]  # not setup's to repair: the default environment instead
    assert fix.startswith(".tools/bin/invoke setup --env .venv-tf  # ") and check_fix_line(fix) == []
    bare = tmp_path / "bare"
    (bare / ".tfmetal-owner").touch()  # one of ours, never finished: environment.setup fails saying so (exit 1)
    done = subprocess.run([str(bare / "bin" / "python"), "-m", "checks"], cwd=ROOT, capture_output=True, text=True)
    fix = ".tools/bin/invoke setup --env %s  # finishes it from the lock" % bare
    first, second = done.stdout.splitlines()[:2]
    assert done.returncode == 1 and first.endswith(
        " Environment complete: incomplete: setup started here but never finished (no completion marker)"), first
    assert second == "    fix: " + fix
    assert done.stdout.rstrip().endswith("next: " + fix)
    (bare / ".tfmetal-setup.json").write_text("{}")  # complete, and ours: repaired where it is (exit 2, one line)
    done = subprocess.run([str(bare / "bin" / "python"), "-m", "checks"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert one_line(done.stderr).endswith("; fix: .tools/bin/invoke setup --env %s  # repairs it" % bare)


def test_setup_refuses_a_pair_the_static_check_says_cannot_load():
    done = invoke("setup", "--profile", "metal", "--tensorflow", "2.11.0")
    line = one_line(done.stderr)
    assert done.returncode == 2 and "static check of the wheels: symbol not found in flat namespace" in line
    assert "Working alternative: tensorflow==2.19.1 tensorflow-metal==1.2.0" in line


def test_profile_metal_without_metal_is_one_line_whose_fix_builds_the_profile_this_machine_has(tmp_path):
    """`--profile metal` on Linux: exit 2, one line, and a fix (the machine's own profile, the project's files kept)
    that builds the environment when pasted."""
    from tests import localindex
    from tests.test_not_ours import run_fix

    environ = localindex.offline_resolver(localindex.build(tmp_path / "index"))
    req = tmp_path / "requirements.txt"
    req.write_text("plainlib\n")
    env = tmp_path / "env"
    done = invoke("setup", "--profile", "metal", "--env", str(env), "--requirements", str(req), env=environ)
    line = one_line(done.stderr)
    assert done.returncode == 2 and not env.exists() and "--profile metal needs macOS on Apple Silicon" in line
    fix = line.split("; fix: ")[1]
    assert fix.startswith(".tools/bin/invoke setup --env %s --requirements %s  # the cpu profile this machine has: "
                          "Linux has no Metal GPU" % (env, req)), fix
    healed = run_fix(fix, environ)
    assert healed.returncode == 0 and "Environment ready" in healed.stderr, healed.stderr


def test_a_refused_tensorflow_keeps_the_projects_requirements_in_its_fix(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy\n")
    done = invoke("setup", "--env", str(tmp_path / "env"), "--tensorflow", "2.21.0", "--requirements", str(req))
    line = one_line(done.stderr)
    fix = ".tools/bin/invoke setup --env %s --requirements %s --tensorflow 2.19.1  # this platform's pin" % (
        tmp_path / "env", req)
    assert done.returncode == 2 and line.endswith("fix: " + fix), line


def test_setup_fix_lines_keep_the_backend_and_the_projects_files(tmp_path):
    """A fix line is this plan's setup again: a torch environment's names --backend torch (its owner file, which
    would keep it, may not be written yet), a project's names its requirement files whatever declared them."""
    from checks import knowledge
    from scripts import plan as planning
    from scripts.provision import setup_fix_line
    from tests.conftest import pyenv_python

    k = knowledge.load({})
    p = planning.plan(k, env=str(tmp_path / "t"), python=pyenv_python("3.11"), backend="torch", say=lambda _: None)
    assert setup_fix_line(p, "why") == ".tools/bin/invoke setup --env %s --backend torch  # why" % (tmp_path / "t")
    req = tmp_path / "requirements.txt"
    p = planning.plan(k, env=str(tmp_path / "e"), python=pyenv_python("3.11"), say=lambda _: None)._replace(
        project={"requirements": [str(req)], "source": "tfmetal.json"})
    fix = ".tools/bin/invoke setup --env %s --force --requirements %s  # why" % (tmp_path / "e", req)
    assert setup_fix_line(p, "why", "--force") == fix


def test_profile_metal_fix_keeps_another_backend():
    done = invoke("setup", "--profile", "metal", "--backend", "torch")
    line = one_line(done.stderr)
    assert done.returncode == 2 and "fix: .tools/bin/invoke setup --env .venv-torch --backend torch  # the cpu " \
        "profile this machine has" in line, line
