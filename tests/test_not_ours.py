"""Setup never touches an interpreter it did not create, and verify says what is wrong once.

A private copy of a pyenv interpreter stands in for the user's own Python (never the machine's own), with a
package of its own; the local index of tests/localindex.py serves the lock offline, with an empty uv cache
of its own. Each printed fix is run verbatim, from the repository root, through a shell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks import envlock
from checks.paths import MARKER, OWNER
from tests import localindex
from tests.conftest import ROOT, invoke, pyenv_python, site_packages


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(params=["with packaging", "without packaging"])
def base(tmp_path: Path, request) -> Path:
    """A private copy of a real interpreter, with a distribution of its own in site-packages (and packaging,
    which the checks need, or not)."""
    real = Path(pyenv_python("3.10")).resolve().parent.parent
    copy = tmp_path / "base"
    shutil.copytree(real, copy, symlinks=True)
    site = next(copy.glob("lib/python3.10/site-packages"))
    if request.param == "with packaging":
        import packaging

        shutil.copytree(Path(packaging.__file__).parent, site / "packaging")
    (site / "users_own.py").write_text("MINE = 1\n")
    info = site / "users_own-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: users-own\nVersion: 1.0\n")
    (info / "RECORD").write_text("users_own.py,,\n")
    return copy


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    environ = localindex.build(tmp_path / "index")
    localindex.add_packaging(environ)
    return environ


def run_fix(line: str, environ: dict[str, str]) -> subprocess.CompletedProcess:
    """A printed fix line, pasted verbatim into a shell at the repository root (the tools' invoke is ours)."""
    assert line.startswith(".tools/bin/invoke "), line
    cmd = line.replace(".tools/bin/invoke", "%s -m invoke" % sys.executable, 1)
    return subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, env=environ, timeout=600)


def with_packaging(env: Path, environ: dict[str, str]) -> None:
    """The checks need packaging; the test index's lock has only TensorFlow: add it beside (extras are the user's)."""
    subprocess.run([str(ROOT / ".tools" / "bin" / "uv"), "pip", "install", "--python", str(env / "bin" / "python"),
                    "--prefix", str(env), "packaging"], check=True, env=environ, capture_output=True)


def next_line(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("next: ")]
    assert lines, out
    return lines[-1][len("next: "):]


def verify_json(env: Path, out: Path, environ: dict[str, str]) -> tuple[subprocess.CompletedProcess, dict]:
    done = invoke("verify", "--env", str(env), "--json", str(out), "--budget", "0.2", "--timeout", "60", env=environ)
    return done, {c["id"]: c for c in json.loads(out.read_text())["checks"]}


def test_a_venv_that_lost_pyvenv_cfg_is_rebuilt_and_its_base_is_never_touched(tmp_path, base, offline):
    env = tmp_path / "env"
    python = str(base / "bin" / "python3.10")
    done = invoke("setup", "--env", str(env), "--python", python, "--manager", "uv", env=offline)
    assert done.returncode == 0, done.stderr
    before = snapshot(base)
    (env / "pyvenv.cfg").unlink()
    # empty uv's interpreter cache (the test index's own), then let uv cache what env/bin/python answers now: the
    # base interpreter. A recreated env/bin/python links to the same file, so uv keeps giving that answer.
    for bucket in Path(offline["UV_CACHE_DIR"]).glob("interpreter-v*"):
        shutil.rmtree(bucket)
    uv = str(ROOT / ".tools" / "bin" / "uv")
    listed = subprocess.run([uv, "pip", "list", "--python", str(env / "bin" / "python")], capture_output=True,
                            text=True, env=offline)
    assert "users-own" in listed.stdout, listed  # it really answers as the base

    if (base / "lib" / "python3.10" / "site-packages" / "packaging").exists():
        done, checks = verify_json(env, tmp_path / "v.json", offline)
        setup = checks["environment.setup"]
        assert setup["status"] == "fail" and "not a virtual environment" in setup["summary"], setup
        assert str(base) in setup["summary"] and "pyvenv.cfg is missing" in setup["summary"]
        others = [c for c in checks.values() if c["id"] != "environment.setup"]
        assert all(c["status"] == "skip" and "not judged" in c["summary"] for c in others), others
    else:  # the checks cannot run there: the one check that can be judged fails, the same way
        done = invoke("verify", "--env", str(env), env=offline)
        assert "[✗] Environment complete: not a virtual environment: %s/bin/python runs as the interpreter at %s " \
               "(its pyvenv.cfg is missing)" % (env, base) in done.stdout, done.stdout + done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    fix = next_line(done.stdout)
    assert fix.startswith(".tools/bin/invoke setup --env %s " % env) and "--force" not in fix, fix

    healed = run_fix(fix, offline)
    assert healed.returncode == 0, healed.stderr
    assert "not a virtual environment" in healed.stderr and "Remove the incomplete or outdated" in healed.stderr
    assert snapshot(base) == before  # not one file of the base interpreter changed, none added
    assert (env / "pyvenv.cfg").exists() and (env / MARKER).exists()
    assert not any(env.glob("lib/python3.10/site-packages/users_own*"))
    with_packaging(env, offline)
    done, checks = verify_json(env, tmp_path / "v2.json", offline)
    assert checks["environment.setup"]["status"] == "pass" and checks["environment.lock"]["status"] == "pass"


def test_setup_refuses_to_install_into_an_interpreter_that_is_not_the_environment(tmp_path, base, offline):
    """The installer's guard on its own: env/bin/python answering as the base is never handed to an installer."""
    from scripts import managers

    env = tmp_path / "env"
    subprocess.run([str(base / "bin" / "python3.10"), "-m", "venv", "--without-pip", str(env)], check=True)
    (env / "pyvenv.cfg").unlink()
    before = snapshot(base)
    with pytest.raises(Exception, match="answers as %s" % base):
        managers.install("venv", env, tmp_path / "no.lock", [])
    assert snapshot(base) == before


def test_a_second_tensorflow_distribution_is_healed_by_the_one_next_line(tmp_path, offline):
    env = tmp_path / "env"
    assert invoke("setup", "--env", str(env), "--manager", "uv", env=offline).returncode == 0
    with_packaging(env, offline)
    wheels = Path(offline["UV_FIND_LINKS"])
    localindex.make_wheel(wheels, "tensorflow", "2.19.1", {"tensorflow/__init__.py": "__version__ = 'other'\n"})
    uv = str(ROOT / ".tools" / "bin" / "uv")
    subprocess.run([uv, "pip", "install", "--python", str(env / "bin" / "python"), "--prefix", str(env),
                    "tensorflow==2.19.1"], check=True, env=offline, capture_output=True)
    done, checks = verify_json(env, tmp_path / "v.json", offline)
    assert done.returncode == 1
    lock = checks["environment.lock"]
    assert lock["status"] == "fail" and "tensorflow is installed beside the locked TensorFlow" in lock["summary"]
    fix = next_line(done.stdout)
    healed = run_fix(fix, offline)
    assert healed.returncode == 0, healed.stderr
    assert "a second TensorFlow distribution: tensorflow" in healed.stderr
    done, checks = verify_json(env, tmp_path / "v2.json", offline)
    assert checks["environment.lock"]["status"] == "pass", checks["environment.lock"]
    assert not list(site_packages(env).glob("tensorflow-2.19.1.dist-info"))
    init = site_packages(env) / "tensorflow" / "__init__.py"
    assert init.read_text() == "__version__ = '2.19.1'\n"  # tensorflow-cpu's own file, rewritten


def test_verify_of_an_interrupted_setup_fails_its_check_and_names_a_running_setup(tmp_path):
    env = tmp_path / "env"
    env.mkdir()
    (env / OWNER).write_text("x")
    subprocess.run([pyenv_python("3.11"), "-m", "venv", "--without-pip", str(env)], check=True)
    done = invoke("verify", "--env", str(env))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[✗] Environment complete: incomplete: setup started here but never finished" in done.stdout
    assert next_line(done.stdout) == ".tools/bin/invoke setup --env %s  # finishes it from the lock" % env
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        envlock.lock_path(env).write_text("%d\n" % sleeper.pid)
        done = invoke("verify", "--env", str(env))
        assert done.returncode == 1
        assert "`invoke setup` (pid %d) is working on this environment now" % sleeper.pid in done.stdout
    finally:
        sleeper.kill()
        sleeper.wait()
    done = invoke("verify", "--env", str(env))  # the pid it left is no longer alive: incomplete again
    assert "never finished" in done.stdout and "pid" not in done.stdout
    os.unlink(envlock.lock_path(env))


def test_a_metal_plugin_in_a_cpu_environment_is_removed_by_the_printed_fix(tmp_path, offline):
    """packages.metal warns about a Metal plugin the cpu profile does not use; its fix, pasted, removes it from
    that environment alone (setup keeps what its lock does not list, so a setup run would not)."""
    env = tmp_path / "env"
    assert invoke("setup", "--env", str(env), "--manager", "uv", env=offline).returncode == 0
    with_packaging(env, offline)
    wheels = Path(offline["UV_FIND_LINKS"])
    name, version = localindex.STANDIN  # the test matrix's GPU plugin, as a wheel here
    localindex.make_wheel(wheels, name, version, {"standin_metal_plugin/__init__.py": ""})
    subprocess.run([str(ROOT / ".tools" / "bin" / "uv"), "pip", "install", "--python", str(env / "bin" / "python"),
                    "--prefix", str(env), "%s==%s" % (name, version)], check=True, env=offline, capture_output=True)
    _, checks = verify_json(env, tmp_path / "v.json", offline)
    metal = checks["packages.metal"]
    assert metal["status"] == "warn" and metal["fix"].startswith(".tools/bin/uv pip uninstall --python "), metal
    done = subprocess.run(["bash", "-c", metal["fix"]], cwd=ROOT, capture_output=True, text=True, env=offline)
    assert done.returncode == 0, done.stderr
    _, checks = verify_json(env, tmp_path / "v2.json", offline)
    assert checks["packages.metal"]["status"] == "skip" and checks["environment.lock"]["status"] == "pass"


def test_setup_without_python_keeps_the_python_the_environment_was_set_up_with(tmp_path, offline):
    """A fix line (`setup --env E`, `--force`) names no --python: it must not move E to another Python."""
    env = tmp_path / "env"
    py312 = pyenv_python("3.12")
    assert invoke("setup", "--env", str(env), "--python", py312, env=offline).returncode == 0
    again = invoke("setup", "--env", str(env), env=offline)
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr
    assert "keeps Python 3.12" in again.stderr
    forced = invoke("setup", "--env", str(env), "--force", env=offline)
    assert forced.returncode == 0, forced.stderr
    assert json.loads((env / MARKER).read_text())["python"]["version"].startswith("3.12.")


MICROMAMBA = '''#!%(python)s
"""A stand-in for micromamba's ``create --prefix``: its check of the target folder as libmamba writes it
(mamba-org/mamba, libmamba/src/api/create.cpp: an existing empty folder is used, one holding conda-meta is
offered for overwrite, anything else is refused), then a venv with pip (ensurepip, offline) and conda-meta."""
import os, subprocess, sys
argv = sys.argv[1:]
prefix = argv[argv.index("--prefix") + 1]
if os.path.exists(prefix) and os.listdir(prefix) and not os.path.exists(os.path.join(prefix, "conda-meta")):
    print("critical libmamba Non-conda folder exists at prefix - aborting.", file=sys.stderr)
    sys.exit(1)
if os.environ.get("STANDIN_FAILS"):
    if os.environ["STANDIN_FAILS"] == "after-mkdir":
        os.makedirs(os.path.join(prefix, "conda-meta"))
    print("critical libmamba could not solve the environment", file=sys.stderr)
    sys.exit(1)
subprocess.run([%(base)r, "-m", "venv", prefix], check=True)
os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
'''


@pytest.fixture
def micromamba(tmp_path: Path, offline: dict[str, str]) -> dict[str, str]:
    """``offline`` with a micromamba stand-in first on PATH (the conda tool setup prefers)."""
    bin_dir = tmp_path / "mamba-bin"
    bin_dir.mkdir()
    tool = bin_dir / "micromamba"
    tool.write_text(MICROMAMBA % {"python": sys.executable, "base": pyenv_python("3.11")})
    tool.chmod(0o755)
    return dict(offline, PATH=os.pathsep.join([str(bin_dir), offline["PATH"]]))


def test_conda_manager_creates_into_an_empty_folder_and_claims_it_after(tmp_path, micromamba):
    """micromamba refuses a folder that holds anything but conda's files: setup creates first, then writes its
    owner file, and the environment is built and complete."""
    env = tmp_path / "env"
    done = invoke("setup", "--manager", "conda", "--env", str(env), "--python", pyenv_python("3.11"), env=micromamba)
    assert done.returncode == 0, done.stderr
    assert "Non-conda folder" not in done.stderr and "Environment ready" in done.stderr, done.stderr
    assert (env / OWNER).exists() and (env / MARKER).exists() and (env / "conda-meta").is_dir()


@pytest.mark.parametrize("when", ["after-mkdir", "before-mkdir"])
def test_a_conda_create_that_fails_leaves_an_environment_setup_owns(tmp_path, micromamba, when):
    """Creation failed after the folder appeared (it is claimed all the same) or before (nothing is there): the
    printed fix builds it with uv."""
    env = tmp_path / "env"
    done = invoke("setup", "--manager", "conda", "--env", str(env), "--python", pyenv_python("3.11"),
                  env=dict(micromamba, STANDIN_FAILS=when))
    assert done.returncode == 1 and "could not solve" in done.stderr, done.stderr
    assert (env / OWNER).exists() if when == "after-mkdir" else not env.exists()
    assert not (env / MARKER).exists()
    fix = done.stderr.split("; fix: ")[-1].strip()
    assert fix.startswith(".tools/bin/invoke setup --env %s --manager uv  # builds it with uv" % env), fix
    healed = run_fix(fix, micromamba)
    assert healed.returncode == 0 and (env / MARKER).exists(), fix + "\n" + healed.stderr
