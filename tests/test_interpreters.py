"""Interpreter discovery with real interpreters (pyenv's CPythons on this machine)."""

from __future__ import annotations

import os

import pytest

from checks import knowledge
from checks.errors import UsageError
from scripts import interpreters
from scripts import plan as planning
from tests.conftest import pyenv_python


def test_probe_reads_version_and_arch_from_the_interpreter_itself():
    interp = interpreters.probe(pyenv_python("3.9"))
    assert interp.minor == "3.9" and interp.arch in ("x86_64", "arm64")


def test_probe_of_a_non_python_is_none(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho not python\n")
    fake.chmod(0o755)
    assert interpreters.probe(str(fake)) is None


def test_a_probe_asked_ahead_is_the_one_read(tmp_path):
    """``ask`` starts the probe; ``probe`` reads that answer (setup's plan does not start a second one): here the
    interpreter is gone by the time it is read, and the answer is still the one it gave."""
    import shutil

    copy = tmp_path / "python3"
    shutil.copy(pyenv_python("3.11"), copy)
    interpreters.ask(str(copy))
    asked = interpreters._ASKED[str(copy)]
    assert asked.proc is not None
    asked.proc.wait(timeout=30)
    copy.unlink()
    found = interpreters.probe(str(copy))
    assert found is not None and found.minor == "3.11" and str(copy) not in interpreters._ASKED
    assert interpreters.probe(str(copy)) is None  # asked once: the next probe runs it again, and it is gone


def test_a_probe_asked_and_never_read_is_stopped_and_reaped(tmp_path):
    """The plan chose another interpreter: ``forget`` stops the unread probe, and nothing is left running."""
    from checks import process

    script = tmp_path / "python3"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    interpreters.ask(str(script))
    asked = interpreters._ASKED[str(script)]
    assert asked.proc is not None and asked.proc.pid in process._RUNNING
    interpreters.forget()
    assert not interpreters._ASKED and asked.proc.returncode is not None
    assert asked.proc.pid not in process._RUNNING


def test_a_3_13_default_finds_a_3_12(tmp_path, monkeypatch):
    py313 = pyenv_python("3.13")
    py312 = pyenv_python("3.12")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(py313)  # the default python3 is 3.13
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + "/usr/bin:/bin")
    notes = []
    plan = planning.plan(knowledge.load(), python=str(bin_dir / "python3"), env=str(tmp_path / "env"),
                          say=notes.append)
    assert plan.interpreter.minor == "3.12" and plan.interpreter.path == py312
    assert plan.lock.name == "cpu-linux-x86_64-py3.12.txt"
    assert "3.13 is outside" in notes[0]


def test_no_suitable_python_names_the_command_that_gets_one(tmp_path, monkeypatch):
    py313 = pyenv_python("3.13")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH, no pyenv, no uv-managed Python
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setattr(interpreters, "_uv_managed", lambda minors=(): [])
    monkeypatch.setattr(interpreters, "FIXED_PLACES", ())
    with pytest.raises(UsageError) as exc:
        planning.plan(knowledge.load(), python=py313, env=str(tmp_path / "env"))
    assert exc.value.code == 2
    assert exc.value.fix.splitlines() == [
        ".tools/bin/uv python install 3.12  # or: brew install python@3.12, or pyenv install 3.12",
        ".tools/bin/invoke setup --env %s --python 3.12" % (tmp_path / "env")]


def test_python_given_as_a_version_outside_the_range_falls_back_as_the_path_form_does():
    """--python 3.13 (a real pyenv 3.13, outside the supported range) is found, then replaced as its path is."""
    py313 = pyenv_python("3.13")
    by_version, by_path = [], []
    a = planning.plan(knowledge.load(), python="3.13", env="/tmp/unused-env-for-plan", say=by_version.append)
    b = planning.plan(knowledge.load(), python=py313, env="/tmp/unused-env-for-plan", say=by_path.append)
    assert a.interpreter == b.interpreter and a.interpreter.minor != "3.13"
    assert by_version == by_path and "3.13 is outside" in by_version[0]


def test_tensorflow_pinned_only_for_another_platform_is_refused_naming_this_platforms_pin():
    k = knowledge.load()
    elsewhere = {t.tensorflow_pin[1] for t in k.matrix.tensorflow_targets if t.platform != "linux-x86_64"}
    here = next(t.tensorflow_pin[1] for t in k.matrix.tensorflow_targets if t.platform == "linux-x86_64")
    assert "2.16.2" in elsewhere and here != "2.16.2"  # the case of issue 11: macOS x86_64's pin
    with pytest.raises(UsageError) as exc:
        planning.plan(k, tensorflow="2.16.2", env="/tmp/unused-env-for-plan")
    assert exc.value.code == 2 and "pins tensorflow-cpu==%s" % here in exc.value.message
    assert "cpu/linux-x86_64" in exc.value.message and "--tensorflow %s" % here in exc.value.fix
    assert planning.plan(k, tensorflow=here, env="/tmp/unused-env-for-plan").target.platform == "linux-x86_64"


def test_python_given_as_a_version_is_looked_up():
    plan = planning.plan(knowledge.load(), python="3.10", env="/tmp/unused-env-for-plan")
    assert plan.interpreter.minor == "3.10"


def test_conda_create_asks_for_the_interpreters_minor_version(tmp_path, monkeypatch):
    """No conda here: a stand-in micromamba records the command that setup runs."""
    from scripts import managers

    log = tmp_path / "argv"
    fake = tmp_path / "bin" / "micromamba"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@" > %s\n' % log)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert managers.resolve("conda") == "conda"
    interp = interpreters.probe(pyenv_python("3.10"))
    assert interp is not None
    managers.create("conda", tmp_path / "env", interp.path, interp.minor, knowledge.load().signatures)
    argv = log.read_text().split()
    assert argv[:4] == ["create", "--yes", "--prefix", str(tmp_path / "env")]
    assert "python=3.10" in argv and "conda-forge" in argv
