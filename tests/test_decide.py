"""Setup's one decision and its corner cases, pure: ``plan.decide`` and ``repair_steps`` over a plan, a marker and
``completeness``'s state, the marker never written on an incomplete environment nor kept while a step changes it,
``completeness.judge``, and the setup lock's holder. Offline; no installer runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks import envdir, envlock, knowledge
from checks.completeness import Answer, Drift, State, drift, judge
from checks.errors import StepFailed
from checks.paths import MARKER, OWNER
from scripts import plan as planning
from scripts import provision
from scripts.interpreters import Interpreter
from scripts.plan import Plan, Step
from scripts.progress import Steps

K = knowledge.load({})
APPLE = next(t for t in K.matrix.targets if t.profile == "metal" and t.plugin and not t.plugin.two_step)
COMMUNITY = next(t for t in K.matrix.targets if t.profile == "metal" and t.plugin and t.plugin.two_step)
PLUGIN = COMMUNITY.plugin.name if COMMUNITY.plugin else ""


def plan_for(target, env: Path, version: str = "3.11.7") -> Plan:
    interp = Interpreter(path="/opt/python/bin/python3.11", version=version, machine="arm64", system="Darwin")
    minor = interp.minor
    return Plan(target.profile, "test", target, interp, target.lock_path(minor), "uv", env,
                target.plugin_lock_path(minor))


def complete(env: Path, **kw) -> State:
    """An environment whose interpreter answers as itself; ``kw``: its drift and extra TensorFlows."""
    extra = kw.pop("extra", ())
    return State(str(env), str(env), Drift(**kw), extra)


@pytest.fixture
def env(tmp_path) -> Path:
    path = tmp_path / "env"
    envdir.claim(path)
    return path


def made(p: Plan) -> dict:
    """The marker setup writes for ``p``, written to its environment too."""
    marker = planning.marker_data(p, 1.0)
    envdir.write_marker(p.env, marker)
    return marker


def test_a_complete_environment_matching_its_lock_needs_nothing(env):
    p = plan_for(APPLE, env)
    assert planning.decide(p, made(p), complete(env), force=False).action == "nothing"


def test_an_environment_that_answers_as_another_interpreter_is_rebuilt_never_repaired(env):
    """A venv that lost pyvenv.cfg runs as its base interpreter: an installer given it would write there."""
    p = plan_for(APPLE, env)
    d = planning.decide(p, made(p), State(str(env), "/opt/python"), force=False)
    assert d.action == "fresh" and [s.kind for s in d.steps][:2] == ["remove", "create"]
    assert "not a virtual environment" in d.why


def test_drift_under_a_matching_marker_is_repaired_in_place(env):
    p = plan_for(APPLE, env)
    d = planning.decide(p, made(p), complete(env, missing={"numpy": "2.1.3"}), force=False)
    assert d.action == "repair" and [s.kind for s in d.steps] == ["repair"]
    assert d.why == "missing: numpy==2.1.3"


def test_a_lost_owner_file_is_written_again_though_the_marker_is_there(env):
    p = plan_for(APPLE, env)
    marker = made(p)
    (env / OWNER).unlink()
    d = planning.decide(p, marker, complete(env), force=False)
    assert d.action == "owner" and [s.kind for s in d.steps] == ["owner"]


def test_a_leftover_directory_without_an_interpreter_is_removed_before_the_build(env, tmp_path):
    p = plan_for(APPLE, env)  # claimed: the owner file is there, no interpreter answered
    assert [s.kind for s in planning.decide(p, None, None, force=False).steps][:2] == ["remove", "create"]
    nothing = plan_for(APPLE, tmp_path / "new")
    assert [s.kind for s in planning.decide(nothing, None, None, force=False).steps][:2] == ["create", "install"]


def test_force_rebuilds_a_complete_environment(env):
    p = plan_for(APPLE, env)
    d = planning.decide(p, made(p), complete(env), force=True)
    assert d.action == "fresh" and d.steps[0].kind == "remove" and d.why == "--force rebuilds it"


def test_a_damaged_plugin_built_at_install_time_is_built_again_not_reinstalled_from_the_main_lock(env):
    p = plan_for(COMMUNITY, env)
    steps = planning.repair_steps(p, complete(env, damaged={PLUGIN: ["libmetal_plugin.dylib"]}))
    assert [s.kind for s in steps] == ["repair", "build"]
    assert steps[0].reinstall == () and steps[1].lock == p.plugin_lock


@pytest.mark.parametrize("kind", ["missing", "changed"])
def test_a_missing_or_other_plugin_built_at_install_time_is_built_again(env, kind):
    p = plan_for(COMMUNITY, env)
    value = {PLUGIN: "0.4.1"} if kind == "missing" else {PLUGIN: ("0.4.0", "0.4.1")}
    assert [s.kind for s in planning.repair_steps(p, complete(env, **{kind: value}))] == ["repair", "build"]


def test_damage_elsewhere_reinstalls_that_distribution_and_builds_nothing(env):
    p = plan_for(COMMUNITY, env)
    steps = planning.repair_steps(p, complete(env, damaged={"numpy": ["numpy/__init__.py"]}))
    assert [s.kind for s in steps] == ["repair"] and steps[0].reinstall == ("numpy",)


def test_a_second_tensorflow_is_uninstalled_and_the_locked_one_rewritten(env):
    p = plan_for(APPLE, env)
    d = planning.decide(p, made(p), complete(env, extra=("tensorflow-cpu",)), force=False)
    assert d.action == "repair"
    (step,) = d.steps
    assert step.remove == ("tensorflow-cpu",) and step.reinstall == (APPLE.tensorflow_pin[0],)


def test_up_to_date_compares_profile_lock_plugin_lock_and_python(env):
    p = plan_for(COMMUNITY, env)
    marker = planning.marker_data(p, 1.0)
    assert planning.up_to_date(p, marker)
    assert not planning.up_to_date(p, None)
    assert not planning.up_to_date(p, {**marker, "profile": "cpu"})
    assert not planning.up_to_date(p, {**marker, "lock_sha256": "0" * 64})
    assert not planning.up_to_date(p, {**marker, "plugin_lock_sha256": "0" * 64})
    assert not planning.up_to_date(p, {**marker, "python": {**marker["python"], "version": "3.11.9"}})


def test_an_environment_of_another_python_is_rebuilt(env):
    p = plan_for(APPLE, env)
    marker = made(plan_for(APPLE, env, version="3.11.9"))
    assert planning.decide(p, marker, complete(env), force=False).action == "fresh"


def test_a_project_environment_is_synced_only_on_the_same_profile_and_python(env):
    p = plan_for(APPLE, env)._replace(project={"requirements": ["requirements.txt"]})
    marker = planning.marker_data(p, 1.0)
    assert planning.can_sync(p, marker)
    assert not planning.can_sync(p, {**marker, "profile": "cpu"})
    assert not planning.can_sync(p, {**marker, "python": {**marker["python"], "version": "3.11.9"}})
    assert not planning.can_sync(p._replace(project=None), marker)


def test_setup_writes_no_marker_on_an_environment_still_missing_a_pin(env, monkeypatch):
    p = plan_for(APPLE, env)
    missing = complete(env, missing={"numpy": "2.1.3"})
    ran: list[str] = []
    monkeypatch.setattr(provision, "look", lambda p: (None, missing))
    monkeypatch.setattr(provision, "run_preflight", lambda p: [])
    monkeypatch.setattr(provision, "_check_index", lambda p: None)
    monkeypatch.setattr(provision, "run_step", lambda k, p, step, steps, found: ran.append(step.kind))
    monkeypatch.setattr(provision.completeness, "state_of", lambda *a: missing)
    with pytest.raises(StepFailed, match="still not complete .*missing: numpy==2.1.3.*no marker was written"):
        provision._build(K, p, False, Steps(3), 0.0)
    assert ran == ["remove", "create", "install"] and not (env / MARKER).exists()


def test_setup_writes_the_marker_once_the_environment_is_complete(env, monkeypatch):
    p = plan_for(APPLE, env)
    monkeypatch.setattr(provision, "look", lambda p: (None, None))
    monkeypatch.setattr(provision, "run_preflight", lambda p: [])
    monkeypatch.setattr(provision, "_check_index", lambda p: None)
    monkeypatch.setattr(provision, "run_step", lambda *a: None)
    monkeypatch.setattr(provision.completeness, "state_of", lambda *a: complete(env))
    provision._build(K, p, False, Steps(3), 0.0)
    assert planning.up_to_date(p, envdir.read_marker(env))


@pytest.mark.parametrize("kind", ["repair", "install", "create"])
def test_a_step_that_changes_the_environment_takes_its_marker_first(env, monkeypatch, kind):
    """Interrupted in the middle of a repair, the environment must not look complete."""
    p = plan_for(APPLE, env)
    made(p)

    def interrupted(*args, **kwargs):
        assert not (env / MARKER).exists() and (env / OWNER).exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(provision.managers, kind, interrupted)
    with pytest.raises(KeyboardInterrupt):
        provision.run_step(K, p, Step(kind, kind.title(), p.lock), Steps(1), [])
    assert not (env / MARKER).exists() and (env / OWNER).exists()


def test_versions_compare_as_versions():
    assert drift({"numpy": "1.0.0"}, {"numpy": "1.0"}).ok
    assert drift({"numpy": "1.0.0"}, {"numpy": "1.0.1"}).changed == {"numpy": ("1.0.1", "1.0.0")}


def test_only_a_tensorflow_beside_the_locked_one_is_a_second_tensorflow(tmp_path):
    pins = {"tensorflow": "2.19.1", "numpy": "1.26.4"}
    names = APPLE.tensorflows
    alone = judge(tmp_path, Answer(str(tmp_path), dict(pins)), pins, names)
    assert alone.extra_tensorflows == () and alone.ok
    two = judge(tmp_path, Answer(str(tmp_path), {**pins, "tensorflow-cpu": "2.19.1"}), pins, names)
    assert two.extra_tensorflows == ("tensorflow-cpu",) and two.drift.ok and not two.ok
    assert two.describe() == ["a second TensorFlow distribution: tensorflow-cpu beside the locked one"]


def test_the_setup_lock_names_its_holder_only_while_held(tmp_path):
    env = tmp_path / "env"
    assert envlock.holder(env) is None
    with envlock.held(env):
        assert envlock.holder(env) == os.getpid()
    assert envlock.holder(env) is None  # let go: no pid is left for verify to report


def test_a_live_setup_of_another_user_is_still_a_holder(tmp_path, monkeypatch):
    env = tmp_path / "env"
    envlock.lock_path(env).write_text("4242\n", encoding="ascii")

    def not_ours(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(envlock.os, "kill", not_ours)
    assert envlock.holder(env) == 4242

    def gone(pid, sig):
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(envlock.os, "kill", gone)
    assert envlock.holder(env) is None


@pytest.mark.parametrize("hurt", [{"damaged": {"numpy": ["numpy/__init__.py"]}}, {"extra": ("tensorflow-cpu",)}])
def test_a_project_environment_with_damaged_files_or_a_second_tensorflow_is_repaired_not_synced(env, hurt):
    """A sync rewrites no damaged file and, removing a second TensorFlow, takes the files it shares with the
    locked one: a project environment so hurt is repaired in place from its project lock."""
    p = plan_for(APPLE, env)._replace(project={"requirements": ["requirements.txt"]})
    marker = made(p)
    d = planning.decide(p, marker, complete(env, **hurt), force=False)
    assert d.action == "repair" and d.steps[0].kind == "repair" and d.steps[0].lock == p.lock
    assert planning.decide(p, marker, complete(env, missing={"numpy": "2.1.3"}), force=False).action == "sync"


def test_an_environment_whose_setup_never_finished_is_rebuilt_and_says_why(env):
    d = planning.decide(plan_for(APPLE, env), None, complete(env), force=False)
    assert d.action == "fresh" and d.why == "setup never finished here (no completion marker)"
    assert [s.kind for s in d.steps][:2] == ["remove", "create"]
