"""`invoke refresh` against a local index: a new community plugin release that declares TensorFlow 2.22 is read,
recorded, and becomes exactly one predicted pair; nothing else changes. Offline (a server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from checks import abi, knowledge
from checks.knowledge import judge_pair
from scripts import abi as wheels
from scripts import releases
from tests.conftest import ROOT
from tests.localindex import index_file, make_plugin_sdist, serve_index

COPIED = ("abi", "declared", "abi-grid.json", "kernel-c-api.json", "matrix.json", "releases.json")
PKG_INFO = ("Metadata-Version: 2.4\nName: tensorflow-metal-plugin\nVersion: 0.5.0\nRequires-Python: >=3.10\n"
            "Requires-Dist: tensorflow==2.22.*\n")
PYPROJECT = '[build-system]\nrequires = ["setuptools>=64", "wheel"]\nbuild-backend = "setuptools.build_meta"\n'


def snapshot(envs: Path) -> dict[str, str]:
    return {str(p.relative_to(envs)): p.read_text(encoding="utf-8") for p in sorted(envs.rglob("*.json"))}


@pytest.fixture()
def index(tmp_path, monkeypatch):
    """A copy of envs/, and an index that lists every release already seen plus tensorflow-metal-plugin 0.5.0."""
    envs = tmp_path / "envs"
    for name in COPIED:
        src = ROOT / "envs" / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, envs / name) if envs.exists() else (
            envs.mkdir(), (shutil.copytree if src.is_dir() else shutil.copy)(src, envs / name))
    monkeypatch.setattr(wheels, "CACHE", tmp_path / "cache")
    served = tmp_path / "served"
    served.mkdir()
    sdist = make_plugin_sdist(served, "tensorflow-metal-plugin", "0.5.0", PKG_INFO,
                              {"pyproject.toml": PYPROJECT, "TF_SUPPORTED_VERSION": "2.22.0rc0\n"})
    watched = json.loads((envs / "releases.json").read_text(encoding="utf-8"))["projects"]
    pages = {name: {"meta": {"api-version": "1.1"}, "name": name, "versions": list(entry["seen"]), "files": []}
             for name, entry in watched.items() if entry["seen"]}  # metal-pluggable-device: 404, as on PyPI
    url, stop = serve_index(pages, {sdist.name: sdist})
    pages["tensorflow-metal-plugin"]["versions"].append("0.5.0")
    pages["tensorflow-metal-plugin"]["files"].append(index_file(url, sdist))
    yield releases.Paths(envs=envs, index=url), sdist
    stop()


def test_refresh_adds_exactly_the_new_release(index):
    paths, sdist = index
    before = snapshot(paths.envs)
    result = releases.refresh(lambda line: None, paths)
    after = snapshot(paths.envs)

    assert result.new == {"tensorflow": [], "tensorflow-macos": [], "tensorflow-metal": [],
                          "tensorflow-metal-plugin": ["0.5.0"], "metal-pluggable-device": []}
    changed = sorted(name for name in after if before.get(name) != after[name])
    assert changed == ["declared/tensorflow-metal-plugin-0.5.0.json", "matrix.json", "releases.json"]

    record = json.loads(after["declared/tensorflow-metal-plugin-0.5.0.json"])
    assert (record["tensorflow"], record["build_requires"], record["tf_supported_version"]) == (
        "==2.22.*", ["setuptools>=64", "wheel"], "2.22.0rc0")
    assert record["file"] == sdist.name and record["requires_python"] == ">=3.10"

    old_m, new_m = json.loads(before["matrix.json"]), json.loads(after["matrix.json"])
    assert new_m["pairs"][:-1] == old_m["pairs"]
    target = new_m["targets"][2]  # after the two metal targets: 2.19.1 stays the default
    assert new_m["targets"][:2] + new_m["targets"][3:] == old_m["targets"]
    assert (target["name"], target["locks"], target["requirements"], target["python"], target["macos"]) == (
        "metal-community-2.22", "community-2.22", ["tensorflow==2.22.0rc0", "tensorflow-metal-plugin==0.5.0"],
        ">=3.10,<3.15", ">=15.0")
    assert target["why"].startswith("Predicted, not verified by any user report")
    pair = new_m["pairs"][-1]
    assert (pair["tensorflow"], pair["plugin"], pair["metal"], pair["status"]) == (
        "==2.22.*", "tensorflow-metal-plugin", "0.5.0", "predicted")
    assert pair["python"] == ["3.10", "3.11", "3.12", "3.13", "3.14"]  # the 2.22.0rc0 wheels, Requires-Python
    assert "tensorflow==2.22.*" in pair["evidence"]["declared"]
    assert "14 of 14" in pair["evidence"]["kernel_c_api"] and "issues/4" in pair["evidence"]["upstream"]
    plugin = lambda m: next(p for p in m["plugins"] if p["name"] == "tensorflow-metal-plugin")  # noqa: E731
    assert plugin(new_m)["versions"] == plugin(old_m)["versions"] + ["0.5.0"]
    assert [p for p in new_m["plugins"] if p["name"] != "tensorflow-metal-plugin"] == [
        p for p in old_m["plugins"] if p["name"] != "tensorflow-metal-plugin"]
    # the file keeps its layout: the diff is two lines, not a rewrite
    diff = [ln for ln in set(after["matrix.json"].splitlines()) ^ set(before["matrix.json"].splitlines())]
    assert len(diff) == 6  # versions and the last pair line (now with a comma), old and new; the pair; the target

    seen = json.loads(after["releases.json"])["projects"]["tensorflow-metal-plugin"]["seen"]
    assert seen[-1] == "0.5.0" and seen[:-1] == json.loads(before["releases.json"])["projects"][
        "tensorflow-metal-plugin"]["seen"]

    again = releases.refresh(lambda line: None, paths)
    assert not any(again.new.values()) and snapshot(paths.envs) == after
    assert again.lines()[0].startswith("Nothing new on the index")


def test_the_predicted_pair_is_judged_predicted_and_an_older_release_broken(index, monkeypatch):
    paths, _ = index
    releases.refresh(lambda line: None, paths)
    monkeypatch.setattr(abi, "ABI_DIR", paths.abi)
    k = knowledge.load({"TFM_MATRIX": str(paths.matrix)})
    k = knowledge.Knowledge(k.matrix, k.path, k.fingerprints, k.chips, k.signatures, k.training, k.kernel_facts,
                            abi.load_declared(paths.declared))
    j = judge_pair(k, "2.22.0rc0", "0.5.0", "tensorflow-metal-plugin")
    assert (j.verdict, j.reported.status) == ("predicted", "predicted")
    j = judge_pair(k, "2.22.0rc0", "0.4.1", "tensorflow-metal-plugin")
    assert (j.verdict, j.phase) == ("broken", "install") and "tensorflow==2.21.*" in j.reason


def test_a_release_the_index_lacks_names_the_known_ones(index):
    paths, _ = index
    with pytest.raises(Exception, match=r"tensorflow-metal 0\.4\.1 is a release of tensorflow-metal-plugin"):
        releases.record_plugin("tensorflow-metal", "0.4.1", lambda line: None, paths)
    with pytest.raises(Exception, match=r"known releases of tensorflow-metal: .*1\.2\.0"):
        releases.record_plugin("tensorflow-metal", "9.9.9", lambda line: None, paths)
    with pytest.raises(Exception, match=r"no project metal-pluggable-device \(the community plugin's earlier name.*\); "
                                        r"known releases of tensorflow-metal-plugin: .*0\.4\.1"):
        releases.record_plugin("metal-pluggable-device", "0.3.0", lambda line: None, paths)


def test_with_locks_the_new_target_gets_its_two_step_locks(index, monkeypatch):
    """The plumbing of --locks: the TensorFlow set is resolved by uv (stubbed here: the local index has no
    TensorFlow), the plugin's lock pins the new sdist by its sha256, under the target's own lock names."""
    from scripts import community_locks

    paths, sdist = index
    wheels_222 = ["tensorflow-2.22.0rc0-cp3%d-cp3%d-macosx_12_0_arm64.whl" % (m, m) for m in range(10, 15)]
    monkeypatch.setattr(community_locks, "tensorflow_wheels", lambda requirement: wheels_222)
    resolved = []

    def compile_set(requirements, python, out, header, uv=None):
        resolved.append((python, requirements))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(header + "tensorflow==2.22.0rc0 \\\n    --hash=sha256:%s\n" % ("0" * 64), encoding="utf-8")

    monkeypatch.setattr(community_locks, "compile_set", compile_set)
    result = releases.refresh(lambda line: None, paths, locks=True)
    folder = paths.envs / "locks" / "community-2.22"
    assert "envs/locks/community-2.22/: 10 locks written" in result.files
    assert [p for p, _ in resolved] == ["3.10", "3.11", "3.12", "3.13", "3.14"]
    assert resolved[0][1][:3] == ["tensorflow==2.22.0rc0", "setuptools>=64", "wheel"]
    step2 = (folder / "metal-community-2.22-plugin-macos-arm64-py3.12.txt").read_text(encoding="utf-8")
    assert "tensorflow-metal-plugin==0.5.0 \\\n    --hash=sha256:%s" % hashlib.sha256(sdist.read_bytes()).hexdigest() \
        in step2
    m = knowledge.load({"TFM_MATRIX": str(paths.matrix)}).matrix
    target = m.target("metal", "macos-arm64", "2.22.0rc0")
    assert target.lock_path("3.12").exists() and target.plugin_lock_path("3.12").exists()
