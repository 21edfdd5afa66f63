"""Setup interrupted (SIGINT, SIGTERM, SIGKILL) is never taken as complete and is repaired by a re-run;
an unreachable index fails fast and leaves a good environment untouched. Offline: a local index of
small wheels built by the tests (tests/localindex.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from checks.paths import MARKER, OWNER
from tests import localindex
from tests.conftest import ROOT, default_sigint, invoke


@pytest.fixture
def offline(tmp_path):
    return localindex.build(tmp_path / "index")


def interrupted_setup(env_dir, environ, sig: int, after: str, delay: float, said: list | None = None,
                      args: tuple[str, ...] = ()) -> int:
    """Start the real setup (with ``args``) in its own process group; signal the group once ``after`` is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "setup", "--env", str(env_dir), *args], cwd=ROOT,
                            env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_sigint)
    for line in proc.stderr:
        if after in line:
            break
    time.sleep(delay)
    os.killpg(proc.pid, sig)
    rest = proc.stderr.read()
    if said is not None:
        said.append(rest)
    return proc.wait(timeout=60)


def test_the_local_index_installs_offline(tmp_path, offline):
    done = invoke("setup", "--env", str(tmp_path / "env"), env=offline)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "env" / MARKER).exists() and "index/locks/cpu-linux-x86_64-py" in done.stderr


@pytest.mark.parametrize("sig,after,delay", [
    (signal.SIGINT, "Create the environment", 0.0),
    (signal.SIGTERM, "Install", 0.05),  # the install step takes 0.3 s or more (tests/localindex.py)
    (signal.SIGKILL, "Install", 0.05),
])
def test_interrupted_setup_is_incomplete_then_repaired(tmp_path, offline, sig, after, delay):
    env = tmp_path / "env"
    said: list[str] = []
    code = interrupted_setup(env, offline, sig, after, delay, said)
    assert code in (130, -sig), code
    if code == 130:  # the last line is the fix, a command naming this env
        assert said[0].strip().splitlines()[-1].endswith(
            "fix: .tools/bin/invoke setup --env %s  # finishes or rebuilds it" % env), said[0]
    assert (env / OWNER).exists() and not (env / MARKER).exists()
    done = invoke("verify", "--env", str(env), "--budget", "0.2", "--timeout", "20", env=offline)
    assert done.returncode in (1, 2)  # never 0
    if done.returncode == 1:  # the checks ran and failed the environment
        assert "incomplete: setup started here but never finished" in done.stdout
    else:  # no interpreter yet, or not even `packaging`: one line naming the fix
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "fix: .tools/bin/invoke setup --env %s" % env in lines[0], done.stderr
    done = invoke("setup", "--env", str(env), env=offline)
    assert done.returncode == 0, done.stderr
    assert "Remove the incomplete or outdated environment" in done.stderr
    assert (env / MARKER).exists()


def test_an_interrupted_project_setup_prints_a_fix_that_keeps_the_project(tmp_path):
    """Ctrl-C while a project's environment installs: the printed fix names the requirement file again, and
    pasted, it finishes the environment with the project's packages (without them it would drop them)."""
    from tests.test_not_ours import run_fix

    environ = localindex.offline_resolver(localindex.build(tmp_path / "index"))
    req = tmp_path / "project" / "requirements.txt"
    req.parent.mkdir()
    req.write_text("plainlib\n")
    env = tmp_path / "env"
    said: list[str] = []
    code = interrupted_setup(env, environ, signal.SIGINT, "Install", 0.05, said, args=("--requirements", str(req)))
    assert code == 130, said
    fix = said[0].strip().splitlines()[-1].split("fix: ", 1)[-1]
    assert fix == ".tools/bin/invoke setup --env %s --requirements %s  # finishes or rebuilds it" % (env, req), fix
    done = run_fix(fix, environ)
    assert done.returncode == 0, done.stderr
    assert json.loads((env / MARKER).read_text())["project"]["requirements"] == [str(req)]
    assert list(env.glob("lib/python*/site-packages/plainlib/__init__.py")), "the project's package is missing"


def test_unreachable_index_fails_fast_and_leaves_a_good_environment_untouched(tmp_path, offline):
    env = tmp_path / "env"
    assert invoke("setup", "--env", str(env), env=offline).returncode == 0
    marker = (env / MARKER).read_bytes()
    unreachable = {k: v for k, v in offline.items() if k != "UV_NO_INDEX"}
    unreachable["UV_INDEX_URL"] = "http://127.0.0.1:9/simple/"
    start = time.monotonic()
    done = invoke("setup", "--env", str(env), "--force", env=unreachable)
    assert done.returncode == 1 and time.monotonic() - start < 30
    assert "cannot reach the package index http://127.0.0.1:9/simple/" in done.stderr
    assert "network problem" in done.stderr and "is untouched" in done.stderr
    assert (env / MARKER).read_bytes() == marker and (env / "bin" / "python").exists()


@pytest.mark.parametrize("lock_text,words", [
    ("tensorflow-cpu==2.19.1\n", "no sha256 hash for tensorflow-cpu==2.19.1"),
    ("# nothing here\n", "no pinned requirement"),
])
def test_malformed_lock_file_is_exit_2_and_touches_nothing(tmp_path, offline, lock_text, words):
    for lock in (tmp_path / "index" / "locks").glob("*.txt"):
        lock.write_text(lock_text)
    done = invoke("setup", "--env", str(tmp_path / "env"), env=offline)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1 and words in lines[0] and "is malformed" in lines[0]
    assert not (tmp_path / "env").exists()


def test_venv_manager_installs_from_the_same_lock_with_pip(tmp_path, offline):
    done = invoke("setup", "--env", str(tmp_path / "env"), "--manager", "venv", env=offline)
    assert done.returncode == 0, done.stderr
    assert "manager: venv" in done.stderr and (tmp_path / "env" / MARKER).exists()


REMOVER = ("import sys\nfrom pathlib import Path\nfrom checks import envdir\nprint('go', flush=True)\n"
           "envdir.remove(Path(sys.argv[1]))\n")


def owned_tree(env, files: int = 5000) -> None:
    """An environment of ours, large enough that deleting it takes a while (a real one has ~5,000 files)."""
    from checks import envdir

    envdir.claim(env)
    for d in range(files // 100):
        (env / "lib" / ("pkg%d" % d)).mkdir(parents=True)
        for f in range(100):
            (env / "lib" / ("pkg%d" % d) / ("m%d.py" % f)).write_text("x = 1\n")
    (env / MARKER).write_text("{}")


def test_ctrl_c_while_removing_leaves_the_environment_whole_or_gone_and_the_rest_is_swept(tmp_path):
    """Issue 18: Ctrl-C during `setup --force`'s removal left a half-deleted environment at the path. The
    removal is interrupted for real (SIGINT to a child process that runs it) at several moments."""
    from checks import envdir

    interrupted = 0
    for n, delay in enumerate((0.05, 0.0, 0.02)):
        env = tmp_path / ("env%d" % n)
        owned_tree(env)
        before = sum(1 for _ in env.rglob("*"))
        proc = subprocess.Popen([sys.executable, "-c", REMOVER, str(env)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
        assert proc.stdout.readline().strip() == "go"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        whole = env.is_dir() and (env / MARKER).exists() and sum(1 for _ in env.rglob("*")) == before
        assert whole or not os.path.lexists(env), (delay, err[-300:])  # never half-removed at its path
        if proc.returncode != 0 and not env.exists():  # stopped once renamed aside (mostly while deleting it)
            interrupted += 1
            assert "it is gone (renamed aside first)" in err, err[-300:]
        left = envdir.asides(env)
        # an aside is never at the environment's path: a hidden sibling of its own name, swept below
        assert all(p.parent == env.parent and p.name.startswith(".%s.tfmetal-removing-" % env.name) for p in left)
        envdir.claim(env)  # the next setup of the same path sweeps what was left beside it
        assert envdir.asides(env) == [] and not [p for p in tmp_path.iterdir() if ".tfmetal-removing-" in p.name]
        envdir.remove(env)
        assert not env.exists()
    assert interrupted, "no run was interrupted while deleting: the tree is too small for this machine"
