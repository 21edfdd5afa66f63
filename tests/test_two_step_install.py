"""A plugin built at install time against the environment's TensorFlow: one step fails, two steps work (real uv, pip).

The stand-in sdist of tests/localindex.py imports `tensorflow` in its build backend, as tensorflow-metal-plugin
0.4.1's setup.py does, so build isolation (a fresh build environment without TensorFlow) really breaks it.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checks import knowledge
from checks.paths import ROOT
from scripts.uvtool import find_uv
from tests import localindex


@pytest.fixture(params=["uv", "pip"])
def index(request, tmp_path):
    """(install command prefix, offline environment, the new environment's python)."""
    env = localindex.build(tmp_path / "index")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    if request.param == "uv":
        uv = find_uv()
        if not uv:
            pytest.skip("uv is not installed (make tools)")
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env=env, check=True)
        return [uv, "pip", "install", "--python", str(python)], env, python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], env=env, check=True)
    return [str(python), "-m", "pip", "install", "--no-cache-dir"], env, python


def _install(command, env, *args):
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)


def _site(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def test_one_step_with_build_isolation_fails_for_want_of_tensorflow(index):
    command, env, python = index
    done = _install(command, env, "tensorflow-cpu==2.19.1", "standin-metal-plugin==0.1.0")
    assert done.returncode != 0
    assert "TensorFlow was not found" in done.stderr, done.stderr
    assert "metal-plugin-build-no-tensorflow" in [d.id for d in knowledge.load({}).diagnose(done.stderr)]
    assert not (_site(python) / "tensorflow").exists()  # neither installer installs anything when a build fails


def test_two_steps_without_build_isolation_build_against_step_one(index):
    command, env, python = index
    first = _install(command, env, "tensorflow-cpu==2.19.1")
    assert first.returncode == 0, first.stderr
    isolated = _install(command, env, "standin-metal-plugin==0.1.0")
    assert isolated.returncode != 0 and "TensorFlow was not found" in isolated.stderr  # order alone is not enough
    second = _install(command, env, "--no-build-isolation", "standin-metal-plugin==0.1.0")
    assert second.returncode == 0, second.stderr
    built = _site(python) / "tensorflow-plugins" / "standin_built_against.txt"
    assert built.read_text().strip() == "2.19.1"


# --- the same two steps through `invoke setup` itself (the local index's standin target, chosen by --tensorflow) ---

def _setup(env, path, *args):
    return subprocess.run([str(ROOT / ".tools" / "bin" / "invoke"), "setup", "--tensorflow", "2.21.0", "--env",
                           str(path), *args], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("manager", ["uv", "venv"])
def test_setup_installs_tensorflow_first_then_builds_the_plugin_against_it(tmp_path, manager):
    if manager == "uv" and not find_uv():
        pytest.skip("uv is not installed (make tools)")
    env = localindex.build(tmp_path / "index")
    done = _setup(env, tmp_path / "env", "--manager", manager)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert err.index("Install 1 pinned packages") < err.index("Build standin-metal-plugin from its sdist") \
        < err.index("standin: compiling against TensorFlow 2.21.0")  # the build's own output streams
    assert "--no-build-isolation --no-deps" in err
    built = next((tmp_path / "env").rglob("standin_built_against.txt"))
    assert built.read_text().strip() == "2.21.0"  # built against step one's TensorFlow, not the 2.19.1 default
    marker = json.loads((tmp_path / "env" / ".tfmetal-setup.json").read_text())
    minor = ".".join(marker["python"]["version"].split(".")[:2])
    assert marker["plugin_lock"].endswith("standin-plugin-linux-x86_64-py%s.txt" % minor)
    assert len(marker["plugin_lock_sha256"]) == 64
    again = _setup(env, tmp_path / "env", "--manager", manager)
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_a_removed_plugin_is_rebuilt_by_the_fix_line_setup_without_tensorflow(tmp_path):
    """The plugin's lock counts toward complete, and the setup a fix line runs (``--env`` alone, as verify's
    fixes name it) keeps the environment's pair: it builds the plugin again instead of calling the environment
    complete, or rebuilding it with the default pair."""
    env = localindex.build(tmp_path / "index")
    path = tmp_path / "env"
    assert _setup(env, path).returncode == 0
    marker = json.loads((path / ".tfmetal-setup.json").read_text())
    subprocess.run([find_uv() or "uv", "pip", "uninstall", "--python", str(path / "bin" / "python"),
                    "standin-metal-plugin"], env=env, check=True, capture_output=True)
    assert not list(path.rglob("standin_built_against.txt"))
    dry = subprocess.run([str(ROOT / ".tools" / "bin" / "invoke"), "setup", "--dry-run", "--env", str(path)],
                         env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert dry.returncode == 0 and "nothing to do" not in dry.stdout, dry.stdout  # the dry run agrees with setup
    assert "missing: standin-metal-plugin==0.1.0" in dry.stdout, dry.stdout
    again = subprocess.run([str(ROOT / ".tools" / "bin" / "invoke"), "setup", "--env", str(path)], env=env,
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "keeps tensorflow-cpu 2.21.0" in again.stderr and "missing: standin-metal-plugin==0.1.0" in again.stderr
    assert "Build standin-metal-plugin from its sdist" in again.stderr and "Remove the" not in again.stderr
    assert next(path.rglob("standin_built_against.txt")).read_text().strip() == "2.21.0"
    assert json.loads((path / ".tfmetal-setup.json").read_text())["plugin_lock"] == marker["plugin_lock"]
    quiet = subprocess.run([str(ROOT / ".tools" / "bin" / "invoke"), "setup", "--env", str(path)], env=env,
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert quiet.returncode == 0 and "nothing to do" in quiet.stderr


def test_a_build_failure_is_diagnosed_and_leaves_no_marker(tmp_path):
    env = localindex.build(tmp_path / "index")
    unrelated = localindex.make_wheel(tmp_path / "index" / "wheels", "unrelated", "1.0", {"unrelated/__init__.py": ""})
    digest = hashlib.sha256(unrelated.read_bytes()).hexdigest()
    for lock in (tmp_path / "index" / "locks" / "standin").glob("standin-linux-*.txt"):
        lock.write_text("unrelated==1.0 \\\n    --hash=sha256:%s\n" % digest)  # step one without TensorFlow
    done = _setup(env, tmp_path / "env")
    assert done.returncode == 1, done.stderr
    assert "TensorFlow was not found" in done.stderr
    assert "compiled at install time against the TensorFlow already in the environment" in done.stderr  # diagnosed
    assert not (tmp_path / "env" / ".tfmetal-setup.json").exists()
    again = _setup(env, tmp_path / "env")  # the incomplete environment is ours: rebuilt, and fails the same way
    assert again.returncode == 1 and "incomplete or outdated" in again.stderr


def test_an_unknown_build_failure_says_so_and_leaves_no_marker(tmp_path):
    env = dict(localindex.build(tmp_path / "index"), STANDIN_BUILD_FAILS="1")
    done = _setup(env, tmp_path / "env")
    assert done.returncode == 1
    assert "standin: error: the compiler stopped" in done.stderr  # the build's own output, streamed
    assert "The build of standin-metal-plugin failed without a known cause" in done.stderr
    assert "fix: .tools/bin/invoke setup --env %s --force --tensorflow 2.21.0" % (tmp_path / "env") in done.stderr
    assert not (tmp_path / "env" / ".tfmetal-setup.json").exists()


def test_a_failed_preflight_changes_nothing(tmp_path, monkeypatch):
    """setup's own preflight, on the recorded outputs of a Mac without the Command Line Tools (dwyl/dev-setup#51)."""
    from checks.errors import UsageError
    from scripts import plan as planning
    from scripts import provision
    from tests.test_preflight import MACOS_14_4_1, NO_CLT

    env = localindex.build(tmp_path / "index")
    monkeypatch.setenv("TFM_MATRIX", env["TFM_MATRIX"])
    k = knowledge.load()
    monkeypatch.setattr(provision.sys, "platform", "darwin")
    monkeypatch.setattr(planning, "apple_silicon", lambda: False)
    monkeypatch.setattr(provision.preflight_probe, "probe",
                        lambda wanted: {"sdk": NO_CLT, "make": NO_CLT, "macos": MACOS_14_4_1})
    with pytest.raises(UsageError) as err:
        provision.setup(k, tensorflow="2.21.0", env=str(tmp_path / "env"))
    assert "xcode-select --install" in err.value.fix and "invalid active developer path" in err.value.message
    assert not (tmp_path / "env").exists()


# --- the stand-in made real: the test GPU compiled at install time against the real TensorFlow, then verified ---

@pytest.mark.slow
@pytest.mark.network
def test_setup_compiles_the_test_gpu_against_its_tensorflow_and_verify_finds_the_gpu(tmp_path):
    """Setup's own two steps (provision.install_plugin -> managers.build): step one installs this platform's real
    TensorFlow from its committed lock; step two builds the test GPU's sdist, pinned by sha256 and served from a local
    folder, with g++ against that TensorFlow, without build isolation. TensorFlow then loads the compiled plugin from
    site-packages/tensorflow-plugins/ and verify judges its GPU."""
    from tests.gpu_plugin import build
    from tests.test_gpu_plugin import MIN_SPEEDUP, MIN_TRAIN_SPEEDUP, failed

    if not sys.platform.startswith("linux") or not build.compiler():
        pytest.skip("no test GPU: it is built on Linux with g++ (platform %s, compiler %s)" % (
            sys.platform, build.compiler() or "none"))
    env = localindex.build_test_gpu(tmp_path / "index")
    path = tmp_path / "env"
    invoke = str(ROOT / ".tools" / "bin" / "invoke")
    done = subprocess.run([invoke, "setup", "--env", str(path)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    step_one = re.search(r"Install \d+ pinned packages", err)
    assert step_one and step_one.start() < err.index("Build tfm-suite-test-gpu from its sdist") \
        < err.index("tfm-test-gpu: compiling against TensorFlow 2.19.1")  # the compiler runs in step two
    assert "--no-build-isolation --no-deps" in err
    library = next(path.glob("lib/python3*/site-packages/tensorflow-plugins/" + build.LIBRARY))
    assert library.read_bytes()[:4] == b"\x7fELF"
    marker = json.loads((path / ".tfmetal-setup.json").read_text())
    assert marker["plugin_lock"].endswith("testgpu-plugin-linux-x86_64-py%s.txt" % ".".join(
        marker["python"]["version"].split(".")[:2]))
    out = tmp_path / "out.json"
    verified = subprocess.run([invoke, "verify", "--env", str(path), "--json", str(out), "--budget", "1",
                               "--min-speedup", MIN_SPEEDUP, "--min-train-speedup", MIN_TRAIN_SPEEDUP],
                              env=dict(env, TFM_TEST_GPU="exact"), capture_output=True, text=True, timeout=300,
                              cwd=ROOT)
    checks = {c["id"]: c for c in json.loads(out.read_text(encoding="utf-8"))["checks"]}
    assert failed(checks) == set(), verified.stdout
    assert checks["devices.gpu"]["status"] == "pass" and build.LIBRARY in checks["devices.gpu"]["summary"]
    assert str(library.resolve()) in checks["devices.gpu"]["details"][0]
    for check in ("training.placement", "training.agreement"):
        assert checks[check]["status"] == "pass", checks[check]
    again = subprocess.run([invoke, "setup", "--env", str(path)], env=env, capture_output=True, text=True,
                           timeout=300, cwd=ROOT)
    assert again.returncode == 0 and "nothing to do" in again.stderr  # the plugin's lock counts toward complete
