"""Interpreter discovery with real interpreters (pyenv's CPythons on this machine)."""

from __future__ import annotations

import os

import pytest

from checks import knowledge
from checks.errors import UsageError
from scripts import interpreters, provision
from tests.conftest import pyenv_python


def test_probe_reads_version_and_arch_from_the_interpreter_itself():
    interp = interpreters.probe(pyenv_python("3.9"))
    assert interp.minor == "3.9" and interp.arch in ("x86_64", "arm64")


def test_probe_of_a_non_python_is_none(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho not python\n")
    fake.chmod(0o755)
    assert interpreters.probe(str(fake)) is None


def test_a_3_13_default_finds_a_3_12(tmp_path, monkeypatch):
    py313 = pyenv_python("3.13")
    py312 = pyenv_python("3.12")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(py313)  # the default python3 is 3.13
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + "/usr/bin:/bin")
    notes = []
    plan = provision.plan(knowledge.load(), python=str(bin_dir / "python3"), env=str(tmp_path / "env"),
                          say=notes.append)
    assert plan.interpreter.minor == "3.12" and plan.interpreter.path == py312
    assert plan.lock.name == "cpu-linux-x86_64-py3.12.txt"
    assert "3.13 is outside" in notes[0]


def test_no_suitable_python_names_the_command_that_gets_one(tmp_path, monkeypatch):
    py313 = pyenv_python("3.13")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH, no pyenv, no uv-managed Python
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setattr(interpreters, "_uv_managed", lambda: [])
    monkeypatch.setattr(interpreters, "FIXED_PLACES", ())
    with pytest.raises(UsageError) as exc:
        provision.plan(knowledge.load(), python=py313, env=str(tmp_path / "env"))
    assert exc.value.code == 2
    assert "uv python install 3.12" in str(exc.value)


def test_python_given_as_a_version_is_looked_up():
    plan = provision.plan(knowledge.load(), python="3.10", env="/tmp/unused-env-for-plan")
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
    managers.create("conda", tmp_path / "env", pyenv_python("3.10"), knowledge.load().signatures)
    argv = log.read_text().split()
    assert argv[:4] == ["create", "--yes", "--prefix", str(tmp_path / "env")]
    assert "python=3.10" in argv and "conda-forge" in argv
