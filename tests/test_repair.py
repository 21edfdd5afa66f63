"""Breaking a real environment and following the printed fixes verbatim; one setup per environment;
``--env`` links. Real `invoke setup`, real `invoke verify`, real TensorFlow (cpu profile)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time

import pytest

from checks import envlock
from checks.paths import MARKER, OWNER
from tests.conftest import ROOT, invoke, site_packages

pytestmark = [pytest.mark.slow, pytest.mark.network]
FAST = ("--budget", "0.5")


def uv(*args):
    done = subprocess.run([str(ROOT / ".tools" / "bin" / "uv"), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def remove_numpy(env):
    uv("pip", "uninstall", "--python", str(env / "bin" / "python"), "numpy")


def replace_numpy(env):
    uv("pip", "install", "--python", str(env / "bin" / "python"), "numpy==2.0.2")


def truncate_tensorflow_file(env):
    f = site_packages(env) / "tensorflow" / "__init__.py"
    data = f.read_bytes()
    f.unlink()  # uv hard-links files from its cache on Linux: writing in place would break the cache too
    f.write_bytes(data[: len(data) // 2])


BREAKS = {
    "a package removed": remove_numpy,
    "a package replaced by another version": replace_numpy,
    "the marker deleted": lambda env: (env / MARKER).unlink(),
    "the owner file deleted": lambda env: (env / OWNER).unlink(),
    "a file of TensorFlow truncated": truncate_tensorflow_file,
}


def fix_lines(output: str) -> list[str]:
    """The fix lines verify printed under failed checks, each once, in order (a warning's fix, such as a
    longer timing run on this loaded machine, is not a repair)."""
    found, failed = [], False
    for line in output.splitlines():
        if re.match(r"^  \[.\] ", line):
            failed = line.startswith("  [✗]")
        fix = re.match(r"^\s+fix: (.+)$", line)
        if fix and failed:
            found.append(fix.group(1))
    return list(dict.fromkeys(found))


def follow(line: str) -> subprocess.CompletedProcess:
    """Run a fix line verbatim from the repository root: shell words, the explanation after # dropped."""
    return subprocess.run(shlex.split(line, comments=True), cwd=ROOT, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    path = tmp_path_factory.mktemp("repair") / "venv"
    done = invoke("setup", "--env", str(path))
    assert done.returncode == 0, done.stderr
    return path


@pytest.mark.parametrize("how", list(BREAKS))
def test_break_then_follow_each_printed_fix_verbatim_and_verify_passes(env, how):
    BREAKS[how](env)
    broken = invoke("verify", "--env", str(env), *FAST)
    assert broken.returncode == 1, broken.stdout
    lines = fix_lines(broken.stdout)
    assert lines and all(line.startswith(".tools/bin/invoke setup --env %s" % env) for line in lines), lines
    for line in lines:
        done = follow(line)
        assert done.returncode == 0, (line, done.stderr)
    fixed = invoke("verify", "--env", str(env), *FAST)
    assert fixed.returncode == 0, fixed.stdout
    assert fix_lines(fixed.stdout) == []


def test_setup_sees_what_verify_sees_repairs_in_place_and_says_what_changed(env):
    remove_numpy(env)
    marker_before = (env / MARKER).read_text()
    done = invoke("setup", "--env", str(env))
    assert done.returncode == 0, done.stderr
    assert "missing: numpy==2.1.3" in done.stderr and "repaired" in done.stderr
    assert "Remove" not in done.stderr  # in place: nothing rebuilt
    assert (env / MARKER).read_text() != marker_before  # written again once the env answers as locked
    start = time.monotonic()
    again = invoke("setup", "--env", str(env))
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert time.monotonic() - start < 10  # generous under load; docs/BENCHMARKS.md has the figure


def test_a_second_setup_of_the_same_env_exits_2_naming_the_holder(env):
    """The lock held by this process (a real flock): setup stops at once, changes nothing."""
    marker = (env / MARKER).read_bytes()
    with envlock.held(env):
        done = invoke("setup", "--env", str(env), "--force")
    assert done.returncode == 2, done.stderr
    assert "pid %d" % os.getpid() in done.stderr and "Traceback" not in done.stderr
    assert (env / MARKER).read_bytes() == marker


def test_two_real_setups_started_together(tmp_path):
    path = tmp_path / "venv"
    argv = [sys.executable, "-m", "invoke", "setup", "--env", str(path)]
    procs = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL) for _ in range(2)]
    results = [(p.wait(timeout=900), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert all("Traceback" not in err for _, err in results)
    loser = [err for code, err in results if code == 2]
    # Started together, one holds the lock while the other arrives; if the machine is so loaded that the
    # second only starts after the first finished, it finds the environment complete (and says so).
    assert codes == [0, 2] or all("nothing to do" in err for code, err in results if code == 0)
    assert not loser or re.search(r"another `invoke setup` \(pid \d+\) is working on", loser[0])
    assert invoke("verify", "--env", str(path), *FAST).returncode == 0


def test_a_link_to_our_env_is_resolved_before_force_deletes(env, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(env)
    done = invoke("setup", "--env", str(link), "--force")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and (env / MARKER).exists() and (env / "bin" / "python").exists()


def test_a_link_to_something_not_ours_is_refused_and_left_alone(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(theirs)
    done = invoke("setup", "--env", str(link), "--force")
    assert done.returncode == 2 and "not created by invoke setup" in done.stderr
    assert (theirs / "notes.txt").read_text() == "mine" and link.is_symlink()
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    done = invoke("setup", "--env", str(dangling))
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert not (tmp_path / "nowhere").exists()
