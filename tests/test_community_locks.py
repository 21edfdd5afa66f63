"""The community pair's committed locks agree with its recorded facts (offline)."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from checks.matrix import load as load_matrix
from scripts import community_locks as cl
from scripts import locks

MATRIX = load_matrix()
TARGET = locks.built_targets(MATRIX)[0]  # the community pair: the matrix's target, the release's declaration
PAIR = next(p for p in MATRIX.pairs if TARGET.plugin and p.plugin == TARGET.plugin.name)
WHEELS = ["tensorflow-2.21.0-cp3%s-cp3%s-macosx_12_0_arm64.whl" % (m, m) for m in ("10", "11", "12", "13")]
DATA = cl.from_declaration(cl.declaration(TARGET), TARGET.tensorflow_pin[1], WHEELS)  # the index's list, offline


def test_pythons_are_tensorflow_wheel_tags_within_requires_python():
    assert cl.supported_pythons(DATA["tensorflow_wheels"], DATA["requires_python"]) == ["3.10", "3.11", "3.12", "3.13"]
    wheels = ["tensorflow-2.21.0-cp39-cp39-macosx_12_0_arm64.whl",
              "tensorflow-2.21.0-cp310-cp310-macosx_12_0_x86_64.whl",
              "tensorflow-2.21.0-cp314-cp314-macosx_12_0_arm64.whl"]
    assert cl.supported_pythons(wheels, ">=3.10") == ["3.14"]


def test_every_python_has_both_locks_and_nothing_else():
    pythons = cl.supported_pythons(DATA["tensorflow_wheels"], DATA["requires_python"])
    expected = {p.name for py in pythons for p in cl.lock_paths(py)}
    assert {p.name for p in cl.COMMUNITY_DIR.glob("*.txt")} == expected


def test_step_one_holds_the_tensorflow_the_plugin_needs_and_its_build_requirements():
    common = list(load_matrix().common)
    for py in cl.supported_pythons(DATA["tensorflow_wheels"], DATA["requires_python"]):
        step1, _ = cl.lock_paths(py)
        pins = locks.pinned(step1)
        assert locks.unhashed(step1) == [], step1.name
        assert "# Inputs: %s\n" % " ".join(cl.tensorflow_set(DATA, common)) in step1.read_text()
        for requirement in DATA["requires_dist"] + DATA["build_requires"]:
            name = requirement.split("=")[0].split(">")[0].strip()
            spec = requirement[len(name):] or ">=0"
            assert Version(pins[name]) in SpecifierSet(spec), (step1.name, requirement, pins.get(name))
        assert "tensorflow-metal-plugin" not in pins and "tensorflow-metal" not in pins


def test_step_two_pins_the_sdist_by_its_sha256():
    for py in cl.supported_pythons(DATA["tensorflow_wheels"], DATA["requires_python"]):
        _, step2 = cl.lock_paths(py)
        assert step2.read_text() == cl.plugin_lock_text(DATA, py)
        assert locks.pinned(step2) == {DATA["plugin"]: DATA["version"]} and locks.unhashed(step2) == []
        assert "--hash=sha256:%s" % DATA["sha256"] in step2.read_text()
        assert "--no-build-isolation --no-deps" in step2.read_text()


@pytest.mark.network
def test_recorded_index_facts_still_hold():
    """The wheel tags and the sdist hash the locks were made from are still what the index lists."""
    wheels = cl.tensorflow_wheels(DATA["tensorflow"])
    assert tuple(cl.supported_pythons(wheels, DATA["requires_python"])) == PAIR.python
    sdist = next(f for f in cl.index_files(DATA["plugin"]) if f["filename"] == DATA["sdist"])
    assert sdist["hashes"]["sha256"] == DATA["sha256"] and sdist.get("requires-python") == DATA["requires_python"]


def test_matrix_records_the_community_plugin_as_its_sdist_says_and_setup_installs_it_on_request():
    from checks import knowledge

    data, k = DATA, knowledge.load({})
    plugin = next(p for p in k.matrix.plugins if p.name == data["plugin"])
    assert (plugin.artifact, str(plugin.python)) == ("sdist", data["requires_python"])
    assert data["sdist"] in plugin.source and data["sha256"] in plugin.source
    pair = next(p for p in k.matrix.pairs if p.plugin == data["plugin"])
    assert str(pair.metal) == data["version"] and pair.status == "unconfirmed"
    assert [str(pair.tensorflow)] == [r.replace("tensorflow", "") for r in data["requires_dist"]]
    assert pair.python == tuple(cl.supported_pythons(data["tensorflow_wheels"], data["requires_python"]))
    assert data["sha256"] in plugin.source  # the matrix's source names the very sdist the declaration records
    target = k.matrix.target("metal", "macos-arm64", data["tensorflow"].split("==")[1])
    assert target is not None and target.plugin is plugin and target.pin(plugin.name) == data["version"]
    assert plugin.build is not None and list(plugin.build.requires) == data["build_requires"]
    assert plugin.install_flags == ("--no-build-isolation", "--no-deps") and "tensorflow-metal" in plugin.conflicts
    assert tuple(cl.supported_pythons(data["tensorflow_wheels"], data["requires_python"])) == tuple(
        v for v in ("3.9", "3.10", "3.11", "3.12", "3.13") if target.python.contains(v + ".0"))
    for py in pair.python:  # setup's two locks are the ones scripts/community_locks.py writes
        assert (target.lock_path(py), target.plugin_lock_path(py)) == cl.lock_paths(py)
    assert k.matrix.target("metal", "macos-arm64").plugin.name == "tensorflow-metal"  # Apple's stays the default
