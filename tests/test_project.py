"""A team's project on top of the pair: `invoke setup --requirements FILE` (or "requirements" in tfmetal.json).

Offline against the local index (tests/localindex.py): conflicts refused before anything is built, the one-
distribution rule, drift found by verify and repaired by its printed fix, the no-op re-run, changed requirements
installing only the difference. Network (real PyPI, the real matrix): the happy path with locks for the Mac
metal pair and the Linux cpu profile, and a real requirement that needs TensorFlow 2.21.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks.lockfile import canonical, pinned
from checks.paths import MARKER
from scripts import locks
from tests import localindex
from tests.conftest import ROOT, invoke

LOCK = "tfmetal-locks/cpu-linux-x86_64-py%d.%d.txt" % sys.version_info[:2]


def installed_in(env: Path) -> dict[str, str]:
    """name -> version of the distributions in an environment's site-packages, from the ``.dist-info`` names."""
    found = {}
    for info in env.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].rpartition("-")
        found[canonical(name)] = version
    return found


@pytest.fixture
def offline(tmp_path):
    environ = localindex.offline_resolver(localindex.build(tmp_path / "index"))
    localindex.add_packaging(environ)  # python -m checks needs it in the environment
    return environ


@pytest.fixture
def project(tmp_path) -> Path:
    proj = tmp_path / "team project"
    proj.mkdir()
    (proj / "requirements.txt").write_text("plainlib\nwants-tensorflow  # depends on `tensorflow`\npackaging\n")
    return proj


def checks_of(env: Path, environ, tmp_path) -> dict[str, dict]:
    out = tmp_path / "verify.json"
    invoke("verify", "--env", str(env), "--budget", "0.2", "--timeout", "300", "--json", str(out), env=environ)
    return {c["id"]: c for c in json.loads(out.read_text())["checks"]}


def one_line(stderr: str) -> str:
    """The error: one line, the last, after at most the progress lines (``resolving ...``)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: ") and all(ln.startswith("      resolving ") for ln in lines[:-1]), \
        stderr
    return lines[-1]


def test_a_requirement_needing_another_tensorflow_is_refused_and_nothing_is_created(tmp_path, offline, project):
    (project / "requirements.txt").write_text("plainlib\nextralib\nwants-tensorflow\nneeds-new-tf==2.0.0\n")
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), "--requirements", str(project / "requirements.txt"), env=offline)
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    for part in ("needs-new-tf==2.0.0", "tensorflow-cpu>=2.21", "tensorflow-cpu==2.19.1",
                 "the newest needs-new-tf that fits is 1.4.0", "Nothing was created"):
        assert part in line, line
    assert not env.exists() and not (project / "tfmetal-locks").exists()


def test_any_other_resolution_failure_is_one_paragraph(tmp_path, offline, project):
    (project / "requirements.txt").write_text("plainlib>=5\n")
    done = invoke("setup", "--env", str(tmp_path / "env"), "--requirements", str(project / "requirements.txt"),
                  env=offline)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "plainlib>=5" in line and "pinned set for cpu/linux-x86_64" in line, line
    assert not (tmp_path / "env").exists()


def test_a_requirement_the_index_does_not_have_is_named_as_missing_not_a_conflict(tmp_path, offline, project):
    """Issue 18: a misspelt requirement was called a conflict with the pinned set."""
    req = project / "requirements.txt"
    req.write_text("plainlib\nno-such-dist==1.0\n")
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), "--requirements", str(req), env=offline)
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    assert "no-such-dist==1.0 (from requirements.txt) does not exist" in line and "conflict" not in line, line
    fix = line.split("; fix: ", 1)[1]
    assert fix.startswith(".tools/bin/invoke setup --env %s --requirements %s  # once " % (
        env, shlex.quote(str(req)))), fix
    assert not env.exists() and not (project / "tfmetal-locks").exists()
    req.write_text("plainlib\n")  # the name corrected (here: dropped), the fix pasted verbatim builds it
    healed = subprocess.run(fix, shell=True, cwd=ROOT, env=offline, capture_output=True, text=True, timeout=600)
    assert healed.returncode == 0, healed.stderr
    assert installed_in(env)["plainlib"] == "1.1.0"


def test_the_project_env_is_locked_with_one_tensorflow_verifies_and_a_rerun_is_a_noop(tmp_path, offline, project):
    env = tmp_path / "env"
    req = str(project / "requirements.txt")
    done = invoke("setup", "--env", str(env), "--requirements", req, env=offline)
    assert done.returncode == 0, done.stderr
    lock = project / LOCK
    assert locks.malformed(lock) is None  # every pin carries its sha256
    pins = pinned(lock)
    assert pins["tensorflow-cpu"] == "2.19.1" and pins["wants-tensorflow"] == "1.0.0" and "tensorflow" not in pins
    have = installed_in(env)
    assert [d for d in ("tensorflow", "tensorflow-cpu") if d in have] == ["tensorflow-cpu"]
    assert have["plainlib"] == "1.1.0"
    marker = json.loads((env / MARKER).read_text())
    assert marker["project"]["requirements"] == [req] and marker["lock"] == str(lock)
    results = checks_of(env, offline, tmp_path)
    for check in ("environment.setup", "environment.lock", "packages.tensorflow", "packages.consistency"):
        assert results[check]["status"] == "pass", results[check]
    start = time.monotonic()
    again = invoke("setup", "--env", str(env), "--requirements", req, env=offline)
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr
    assert "is up to date" in again.stderr and time.monotonic() - start < 10  # the figure: docs/BENCHMARKS.md


def test_drift_is_found_by_verify_and_its_fix_restores_the_lock_keeping_the_project(tmp_path, offline, project):
    env = tmp_path / "env"
    assert invoke("setup", "--env", str(env), "--requirements", str(project / "requirements.txt"),
                  env=offline).returncode == 0
    uv = str(ROOT / ".tools" / "bin" / "uv")
    subprocess.run([uv, "pip", "install", "-q", "--python", str(env / "bin" / "python"), "plainlib==1.0.0"],
                   env=offline, check=True)
    found = checks_of(env, offline, tmp_path)["environment.lock"]
    assert found["status"] == "fail" and "plainlib 1.0.0 is installed, the lock pins 1.1.0" in found["summary"]
    fix = found["fix"]
    assert fix.startswith(".tools/bin/invoke setup --env ") and "--requirements" in fix and "--force" not in fix
    done = subprocess.run(fix, shell=True, cwd=ROOT, env=offline, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Create the environment" not in done.stderr  # repaired in place, not rebuilt
    have = installed_in(env)
    assert have["plainlib"] == "1.1.0" and have["wants-tensorflow"] == "1.0.0"
    assert checks_of(env, offline, tmp_path)["environment.lock"]["status"] == "pass"


def test_changed_requirements_install_only_the_difference(tmp_path, offline, project):
    env = tmp_path / "env"
    req = project / "requirements.txt"
    assert invoke("setup", "--env", str(env), "--requirements", str(req), env=offline).returncode == 0
    req.write_text(req.read_text() + "extralib\n")
    done = invoke("setup", "--env", str(env), "--requirements", str(req), env=offline)
    assert done.returncode == 0, done.stderr
    assert "resolved" in done.stderr and "Create the environment" not in done.stderr
    assert "Installed 1 package" in done.stderr and "+ extralib==0.5.0" in done.stderr
    assert pinned(project / LOCK)["extralib"] == "0.5.0"


def test_requirements_declared_once_in_the_teams_tfmetal_json(tmp_path, offline, project):
    config = project / "tfmetal.json"
    config.write_text(json.dumps({"requirements": ["requirements.txt"], "min_speedup": 2.0}))
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), env=dict(offline, TFM_CONFIG=str(config)))
    assert done.returncode == 0, done.stderr
    assert (project / LOCK).exists()
    assert json.loads((env / MARKER).read_text())["project"]["source"] == str(config)


@pytest.mark.parametrize("declared,expected", [
    ({"requirements": "requirements.txt"}, "must be a non-empty list"),
    ({"requirements": ["missing.txt"]}, "missing.txt in "),
])
def test_a_bad_declaration_is_one_line_and_exit_2(tmp_path, offline, project, declared, expected):
    config = project / "tfmetal.json"
    config.write_text(json.dumps(declared))
    done = invoke("setup", "--env", str(tmp_path / "env"), env=dict(offline, TFM_CONFIG=str(config)))
    assert done.returncode == 2 and expected in one_line(done.stderr)
    assert not (tmp_path / "env").exists()


@pytest.mark.network
@pytest.mark.slow
def test_real_project_keeps_the_pair_and_locks_the_mac_and_linux(tmp_path):
    """tf-keras depends on `tensorflow`: on Linux, where the profile installs tensorflow-cpu, it must not bring
    the full tensorflow distribution in beside it; on the Mac the lock keeps tensorflow + tensorflow-metal."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "requirements.txt").write_text("tabulate\ntf-keras==2.19.0\n")
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), "--requirements", str(proj / "requirements.txt"))
    assert done.returncode == 0, done.stderr
    py = "py%d.%d" % sys.version_info[:2]
    linux, mac = proj / LOCK, proj / ("tfmetal-locks/metal-macos-arm64-%s.txt" % py)
    for lock in (linux, mac):
        assert locks.malformed(lock) is None
    assert pinned(linux)["tensorflow-cpu"] == "2.19.1" and "tensorflow" not in pinned(linux)
    assert pinned(mac)["tensorflow"] == "2.19.1" and pinned(mac)["tensorflow-metal"] == "1.2.0"
    assert "tensorflow-cpu" not in pinned(mac) and pinned(mac)["tf-keras"] == "2.19.0"
    for lock, base in ((linux, "cpu-linux-x86_64-%s.txt" % py), (mac, "metal-macos-arm64-%s.txt" % py)):
        missing = set(pinned(ROOT / "envs" / "locks" / base)) - set(pinned(lock))
        assert not missing, missing  # the project lock holds the whole base set (psutil, packaging among them)
    have = installed_in(env)
    assert have["tensorflow-cpu"] == "2.19.1" and "tensorflow" not in have and "tabulate" in have
    results = checks_of(env, None, tmp_path)
    for check in ("environment.lock", "packages.tensorflow", "packages.consistency", "devices.import"):
        assert results[check]["status"] == "pass", (results[check]["summary"], results[check]["details"])


@pytest.mark.network
def test_real_requirement_needing_tensorflow_2_21_is_refused_with_the_version_that_fits(tmp_path):
    (tmp_path / "requirements.txt").write_text("tf-keras==2.21.0\n")
    done = invoke("setup", "--env", str(tmp_path / "env"), "--requirements", str(tmp_path / "requirements.txt"))
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "tf-keras==2.21.0" in line and "tensorflow>=2.21" in line and "==2.19.1" in line, line
    assert "the newest tf-keras that fits is 2.19.0" in line
    assert not (tmp_path / "env").exists() and not (tmp_path / "tfmetal-locks").exists()


def lock_result(lock, project=None, prefix=None):
    from checks import knowledge
    from checks.model import Options
    from checks.rules.environment import lock_match

    marker = {"profile": "cpu", "lock": "l", **({"project": project} if project else {})}
    facts = {"packages": {"versions": {}, "lock": lock,
                          "environment": {"prefix": prefix or str(ROOT / ".venv-tf"), "owned": True, "marker": marker}}}
    return lock_match(facts, Options(profile="cpu"), knowledge.load())  # type: ignore[arg-type]


def test_lock_rule_fix_lines_name_the_env_and_the_requirements_and_never_force_a_project():
    drift = ["a 1 is missing", "b 2 is installed, the lock pins 3", "c 1 is missing", "d 1 is missing"]
    drifted = {"path": "/p/tfmetal-locks/x.txt", "pinned": 40, "drift": drift}
    r = lock_result(drifted, {"requirements": ["/team app/requirements.txt", str(ROOT / "reqs.txt")]})
    assert r.status.value == "fail"
    assert r.summary.startswith("4 of 40 pinned packages differ from /p/tfmetal-locks/x.txt")
    assert r.details == ["d 1 is missing"] and "; ..." in r.summary
    assert r.fix == (".tools/bin/invoke setup --env .venv-tf --requirements '/team app/requirements.txt' "
                     "--requirements reqs.txt  # installs what differs from the project lock, keeps the project's "
                     "packages")
    base = lock_result(dict(drifted, drift=["a 1 is missing"]), prefix="/elsewhere/my env")
    # no project: setup repairs the drift in place from the lock (no --force)
    assert base.fix == ".tools/bin/invoke setup --env '/elsewhere/my env'  # repairs it in place from the lock"
    assert lock_result({"path": "l", "error": "FileNotFoundError: gone"}).status.value == "fail"
    assert lock_result({"path": "l", "pinned": 3, "drift": []}).status.value == "pass"
    assert lock_result(None).status.value == "skip"


def test_every_repair_fix_of_a_project_environment_keeps_its_requirement_files(tmp_path):
    """Issue 18: environment.setup's fixes and every fix built by ``fixes.repair`` named `setup --env ENV` alone for
    an environment built with `--requirements FILE`, so pasting one dropped the project's packages."""
    from checks import fixes, knowledge
    from checks.model import Options
    from checks.rules.environment import setup_marker

    req = tmp_path / "team app" / "requirements.txt"
    marker = {"profile": "cpu", "lock": "l", "project": {"requirements": [str(req)]}}
    want = "--requirements %s" % shlex.quote(str(req))

    def env_facts(**env):
        return {"packages": {"versions": {}, "environment": {"prefix": str(tmp_path / "env"), "owned": True,
                                                             "marker": marker, **env}}}

    k, options = knowledge.load(), Options(profile="cpu")
    cases = [env_facts(owned=False),  # the owner file is missing
             env_facts(setup_running=4242),  # another setup holds it
             env_facts(answers_as="/usr")]  # not a venv any more: the fix built by fixes.repair
    for facts in cases:
        r = setup_marker(facts, options, k)  # type: ignore[arg-type]
        assert r.status.value == "fail" and want in (r.fix or ""), r.fix
    assert want in fixes.repair(env_facts(), "--force", why="w")
    assert fixes.repair(env_facts(), "--force", why="w").startswith(".tools/bin/invoke setup --env %s --force " % (
        tmp_path / "env"))
    plain = {"packages": {"environment": {"prefix": str(tmp_path / "env"), "owned": True, "marker": {"lock": "l"}}}}
    assert "--requirements" not in fixes.repair(plain, why="w")  # no project: no files named


def test_the_environment_setup_fix_of_a_project_environment_pasted_verbatim_keeps_its_packages(tmp_path, offline,
                                                                                               project):
    env = tmp_path / "env"
    req = str(project / "requirements.txt")
    assert invoke("setup", "--env", str(env), "--requirements", req, env=offline).returncode == 0
    (env / ".tfmetal-owner").unlink()  # setup would no longer know it as its own
    fix = checks_of(env, offline, tmp_path)["environment.setup"]["fix"]
    assert "--requirements %s" % shlex.quote(req) in fix, fix
    healed = subprocess.run(fix, shell=True, cwd=ROOT, env=offline, capture_output=True, text=True, timeout=600)
    assert healed.returncode == 0, healed.stderr
    assert (env / ".tfmetal-owner").exists() and installed_in(env)["plainlib"] == "1.1.0"
    assert checks_of(env, offline, tmp_path)["environment.setup"]["status"] == "pass"


def test_setup_without_the_requirements_does_not_drop_the_projects_packages(tmp_path, offline, project):
    env = tmp_path / "env"
    req = str(project / "requirements.txt")
    assert invoke("setup", "--env", str(env), "--requirements", req, env=offline).returncode == 0
    marker = (env / MARKER).read_bytes()
    done = invoke("setup", "--env", str(env), env=offline)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "set up with your project's requirements" in line and line.endswith("--requirements %s" % shlex.quote(req))
    assert (env / MARKER).read_bytes() == marker and installed_in(env)["wants-tensorflow"] == "1.0.0"
