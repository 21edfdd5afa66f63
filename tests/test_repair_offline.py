"""The one meaning of complete, as pure comparisons, and the in-place repair with each manager against the
local index of tests/localindex.py (offline, seconds)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from checks import completeness, envdir, knowledge
from checks.lockfile import pins_in
from checks.paths import MARKER, OWNER
from tests import localindex
from tests.conftest import ROOT, invoke, site_packages

K = knowledge.load()


def tensorflow_init(env: Path) -> Path:
    """The stand-in TensorFlow's ``__init__.py`` in ``env``."""
    return site_packages(env) / "tensorflow" / "__init__.py"


def test_lock_pins_are_canonical_names_and_versions():
    text = ("# header\nTensorFlow_CPU==2.19.1 \\\n    --hash=sha256:ab\nkeras[extra]==3.10.0 ; python_version >= '3.9'"
            "\n--index-url x\nml.dtypes==0.5.1\n")
    assert pins_in(text) == {"tensorflow-cpu": "2.19.1", "keras": "3.10.0", "ml-dtypes": "0.5.1"}


def test_drift_counts_missing_other_versions_and_damage_of_locked_distributions_only():
    locked = {"numpy": "2.1.3", "six": "1.17.0", "keras": "3.10.0"}
    installed = {"numpy": "2.0.2", "keras": "3.10", "six": "1.17.0", "jupyter": "1.0"}  # 3.10 is 3.10.0
    d = completeness.drift(locked, installed, {"six": ["six.py"], "jupyter": ["x.py"]})
    assert d.changed == {"numpy": ("2.0.2", "2.1.3")} and d.missing == {} and d.damaged == {"six": ["six.py"]}
    assert not d.ok and d.describe() == ["other versions: numpy 2.0.2 (locked 2.1.3)", "damaged files: six (six.py)"]
    assert completeness.drift(locked, {**installed, "numpy": "2.1.3"}).ok  # the user's jupyter is theirs
    assert completeness.drift(locked, {}).missing == locked
    assert completeness.drift(locked, {"numpy": "2.0.2", "six": "1.17.0"}).pin_phrases() == [
        "keras 3.10.0 is missing", "numpy 2.0.2 is installed, the lock pins 2.1.3"]


def test_verify_reads_the_lock_as_setup_does(tmp_path):
    """verify's environment.lock facts come from the same comparison as setup's completeness: a pin written
    ``X.Y.0`` for an installed ``X.Y`` and a pin with extras are met, as setup finds them."""
    from importlib import metadata

    from checks.probes.packages import lock_state

    version = metadata.version("packaging")
    lock = tmp_path / "lock.txt"
    lock.write_text("packaging[extra]==%s.0 \\\n    --hash=sha256:ab\nnot-installed-here==1.0\n" % version)
    facts = lock_state({"prefix": sys.prefix, "marker": {"lock": str(lock)}}, K.matrix.tensorflows)
    # setup asks this interpreter's environment the same question, through its own interpreter
    setup_view = completeness.state_of(Path(sys.prefix), completeness.lock_pins(lock), K.matrix.tensorflows)
    assert facts is not None and facts["pinned"] == 2
    assert setup_view.own and facts["complete"] is False and not setup_view.ok
    assert facts["drift"] == setup_view.drift.pin_phrases() == ["not-installed-here 1.0 is missing"]


@pytest.fixture
def offline(tmp_path):
    return localindex.build(tmp_path / "index")


@pytest.mark.parametrize("manager", ["uv", "venv"])
def test_setup_repairs_a_truncated_file_and_a_removed_package_in_place(tmp_path, offline, manager):
    env = tmp_path / "env"
    assert invoke("setup", "--env", str(env), "--manager", manager, env=offline).returncode == 0
    init = tensorflow_init(env)
    good = init.read_bytes()
    init.write_bytes(good[:5])  # in place: the test index's own uv cache (hard-linked on Linux) is cut too
    done = invoke("setup", "--env", str(env), "--manager", manager, env=offline)
    assert done.returncode == 0, done.stderr
    assert "damaged files: tensorflow-cpu (tensorflow/__init__.py)" in done.stderr and "repaired" in done.stderr
    assert init.read_bytes() == good and (env / MARKER).exists()
    for path in list(site_packages(env).glob("tensorflow_cpu-*.dist-info")):
        for f in path.iterdir():
            f.unlink()
        path.rmdir()
    done = invoke("setup", "--env", str(env), "--manager", manager, env=offline)
    assert done.returncode == 0 and "missing: tensorflow-cpu==2.19.1" in done.stderr, done.stderr
    again = invoke("setup", "--env", str(env), "--manager", manager, env=offline)
    assert again.returncode == 0 and "nothing to do" in again.stderr


def archives(environ: dict[str, str]) -> list[str]:
    """The wheels unpacked in the test index's own uv cache."""
    return sorted(p.name for p in (Path(environ["UV_CACHE_DIR"]) / "archive-v0").iterdir())


@pytest.fixture
def served(offline):
    """The local index's TensorFlow wheel served over HTTP as an index (PyPI's way, which uv caches by URL)."""
    wheel = next(Path(offline["UV_FIND_LINKS"]).glob("tensorflow_cpu-2.19.1-*.whl"))
    pages = {"tensorflow-cpu": {"meta": {"api-version": "1.1"}, "name": "tensorflow-cpu", "versions": ["2.19.1"],
                                "files": []}}
    url, stop = localindex.serve_index(pages, {wheel.name: wheel})
    pages["tensorflow-cpu"]["files"].append(localindex.index_file(url, wheel))
    environ = {k: v for k, v in offline.items() if k not in ("UV_NO_INDEX", "UV_FIND_LINKS")}
    yield dict(environ, UV_DEFAULT_INDEX=url)
    stop()


def test_a_repair_adds_nothing_to_uv_cache(tmp_path, served):
    """A file deleted (the cache's copy intact) comes back from uv's cache, and the cache holds what it held
    (see managers.repair_argvs)."""
    env = tmp_path / "env"
    assert invoke("setup", "--env", str(env), env=served).returncode == 0
    before = archives(served)
    init = tensorflow_init(env)
    good = init.read_bytes()
    init.unlink()
    done = invoke("setup", "--env", str(env), env=served)
    assert done.returncode == 0 and "damaged files: tensorflow-cpu (tensorflow/__init__.py)" in done.stderr, done.stderr
    assert "from the index" not in done.stderr  # the cache's copy was good
    assert init.read_bytes() == good and archives(served) == before


@pytest.mark.parametrize("index", ["offline", "served"])
def test_a_file_damaged_in_uv_cache_is_taken_from_the_index_and_the_printed_line_heals_the_cache(
        request, tmp_path, index):
    """A file edited in place in one environment is edited in uv's cache too (hard links): the repair takes it from
    the index and leaves the cache, the user's, as it is; the line it prints, pasted from the repository root,
    heals the cache, so that a new environment takes a good copy from it."""
    environ = dict(request.getfixturevalue(index), UV_LINK_MODE="hardlink")  # uv's way on Linux, whatever is set
    first, second = tmp_path / "first", tmp_path / "second"
    assert invoke("setup", "--env", str(first), env=environ).returncode == 0
    before = archives(environ)
    init = tensorflow_init(first)
    good = init.read_bytes()
    assert init.stat().st_nlink > 1  # the cache's own file
    init.write_bytes(good[:5])  # in place: the test index's own cache is cut too
    done = invoke("setup", "--env", str(first), env=environ)
    assert done.returncode == 0 and "Reinstall tensorflow-cpu from the index" in done.stderr, done.stderr
    assert init.read_bytes() == good and (first / MARKER).exists() and archives(environ) == before
    between = invoke("setup", "--env", str(tmp_path / "between"), env=environ)  # a new one, before the cache heals
    assert between.returncode == 0 and "Reinstall tensorflow-cpu from the index" in between.stderr, between.stderr
    heal = done.stderr.split("every new one until you run:\n", 1)[1].splitlines()[0].strip()
    pasted = subprocess.run(shlex.split(heal, comments=True), cwd=ROOT, env=environ, capture_output=True, text=True)
    assert pasted.returncode == 0, pasted.stderr
    fresh = invoke("setup", "--env", str(second), env=environ)
    assert fresh.returncode == 0 and "from the index" not in fresh.stderr, fresh.stderr
    assert tensorflow_init(second).read_bytes() == good


def test_remove_never_deletes_through_a_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / OWNER).write_text("x")
    (real / "kept.txt").write_text("kept")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(Exception, match="through the link"):
        envdir.remove(link)
    assert (real / "kept.txt").exists() and os.path.islink(link)
    assert envdir.resolve(link) == real.resolve()


def test_verify_counts_the_plugin_lock_of_a_two_step_pair(tmp_path):
    """A plugin built at install time has its own lock; the marker names it and environment.lock counts it."""
    from checks.probes.packages import lock_state

    lock, plugin = tmp_path / "lock.txt", tmp_path / "plugin.txt"
    lock.write_text("packaging==%s\n" % __import__("importlib.metadata").metadata.version("packaging"))
    plugin.write_text("not-built-here==0.4.1 \\\n    --hash=sha256:ab\n")
    facts = lock_state({"prefix": sys.prefix, "marker": {"lock": str(lock), "plugin_lock": str(plugin)}},
                       K.matrix.tensorflows)
    assert facts is not None and facts["pinned"] == 2 and facts["drift"] == ["not-built-here 0.4.1 is missing"]


def test_a_holder_that_has_not_written_its_pid_yet_is_still_named(tmp_path):
    """The holder takes the lock, then writes its pid: a second setup in between waits for the pid."""
    import fcntl
    import threading

    from checks import envlock
    from checks.errors import UsageError

    env = tmp_path / "env"
    path = envlock.lock_path(env)
    with open(path, "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        late = threading.Timer(0.3, lambda: (holder.write("4242\n"), holder.flush()))
        late.start()
        with pytest.raises(UsageError) as refused:
            with envlock.held(env):
                pass
        late.join()
    assert "pid 4242" in refused.value.message


def test_verify_judges_an_env_that_lost_its_pyvenv_cfg_mid_setup_not_the_base_python(tmp_path):
    """Setup stopped while removing the old env: E keeps setup's owner file and bin/python but no pyvenv.cfg, so
    E/bin/python runs as its base interpreter. verify must still judge E: environment.setup fails saying so, with
    the fix that rebuilds it, and every other check is skipped (nothing the base interpreter says is about E)."""
    import json
    import subprocess
    import sys

    base = getattr(sys, "_base_executable", sys.executable)
    if subprocess.run([base, "-c", "import packaging"], capture_output=True).returncode != 0:
        pytest.skip("the base interpreter has no packaging, which python -m checks needs")
    env = tmp_path / "E"
    subprocess.run([base, "-m", "venv", "--without-pip", str(env)], check=True)
    (env / "pyvenv.cfg").unlink()
    envdir.claim(env)  # the owner file, as setup writes it
    out = tmp_path / "v.json"
    invoke("verify", "--env", str(env), "--json", str(out), "--budget", "0.2", "--timeout", "30")
    checks = {c["id"]: c for c in json.loads(out.read_text())["checks"]}
    setup = checks.pop("environment.setup")
    assert setup["status"] == "fail", setup
    assert setup["summary"].startswith("not a virtual environment: %s/bin/python runs as the interpreter at " % env)
    assert "(its pyvenv.cfg is missing)" in setup["summary"], setup
    assert setup["fix"].startswith(".tools/bin/invoke setup --env %s " % env), setup
    assert {c["status"] for c in checks.values()} == {"skip"}, checks
