"""Releases on demand and the 2.22 lane: what `invoke abi` and `invoke setup --tensorflow 2.22.0rc0` answer from the
recorded facts (envs/abi/tensorflow-2.22.0rc0.json and envs/kernel-c-api.json, read from the real wheel)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from checks import abi, knowledge, lanes
from scripts import abi as wheels
from scripts import releases
from tests.conftest import ROOT, invoke

K = knowledge.load({})


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_the_dry_run_says_what_exists_for_2_22_and_what_does_not_yet():
    done = invoke("setup", "--dry-run", "--platform", "macos-arm64", "--tensorflow", "2.22.0rc0", timeout=120)
    line = one_line(done.stderr)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "macOS arm64 wheels for CPython 3.10, 3.11, 3.12, 3.13, 3.14" in line
    assert "kernel C API for resource variables: all 14 functions exported" in line
    assert "tensorflow-metal 1.2.0 (Library not loaded: @rpath/_pywrap_tensorflow_internal.so)" in line
    assert "tensorflow-metal-plugin 0.4.1 (it declares tensorflow==2.21.*)" in line
    assert "Not yet: a plugin release that declares TensorFlow 2.22" in line
    assert "`.tools/bin/invoke abi --tensorflow 2.22.0rc0`" in line and "`.tools/bin/invoke refresh`" in line


@pytest.mark.parametrize("args", [
    ("--tensorflow", "2.22.0rc0"), ("--tensorflow", "2.22.0"), ("--tensorflow", "2.22"),
    ("--tensorflow", "2.22.0rc0", "--profile", "cpu"), ("--tensorflow", "2.20.0"),
    ("--tensorflow", "2.22.0rc0", "--platform", "macos-arm64"), ("--tensorflow", "2.20.0", "--platform", "macos-arm64"),
    ("--tensorflow", "2.22.0", "--platform", "macos-arm64", "--profile", "cpu"),
    ("--tensorflow", "2.22.0rc0", "--platform", "linux-x86_64"), ("--tensorflow", "2.20.0", "--profile", "metal"),
    ("--tensorflow", "2.20.0", "--platform", "macos-arm64", "--profile", "metal")])
def test_a_refused_tensorflow_has_one_fix_line_and_it_works_pasted_verbatim(args):
    """Issue 18: the 2.22 lane printed two fix lines (`abi`, `refresh`), neither of which gets a plan."""
    done = invoke("setup", "--dry-run", *args, timeout=120)
    fixes = [ln.split("fix: ", 1)[1] for ln in done.stderr.splitlines() if "fix: " in ln]
    assert done.returncode == 2 and len(fixes) == 1, done.stderr
    assert fixes[0].startswith(".tools/bin/invoke setup --env .venv-tf --dry-run "), fixes[0]
    healed = subprocess.run(fixes[0], shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert healed.returncode == 0 and "Dry run for" in healed.stdout, healed.stderr


def test_an_older_unpinned_tensorflow_is_left_to_setup_and_an_unrecorded_one_is_read_first():
    assert lanes.check(K, "auto", "2.18.0", "FIX") is None  # known pairs cover 2.18: setup's own "not pinned" answers
    assert lanes.check(K, "cpu", "2.22.0rc0", "FIX") is None
    with pytest.raises(Exception, match="nothing is recorded of it for macOS arm64 yet") as info:
        lanes.check(K, "metal", "3.0.0", "FIX")
    assert info.value.fix == "FIX"
    assert "`.tools/bin/invoke abi --tensorflow 3.0.0` reads its wheel" in info.value.message


def test_a_prerelease_stands_only_for_itself():
    assert abi.fingerprint_for("2.22.0rc0", K.fingerprints)["version"] == "2.22.0rc0"
    assert abi.fingerprint_for("2.22.0", K.fingerprints) is None  # the final is not the rc: read its own wheel
    assert abi.fingerprint_for("2.21.1", K.fingerprints)["version"] == "2.21.0"
    assert K.kernel_c_api("2.22.0rc0").complete and K.kernel_c_api("2.22.0") is None


def test_the_2_22_facts_come_from_the_wheel():
    fp = K.fingerprints["tensorflow"]["2.22.0rc0"]
    assert fp["wheel"] == "tensorflow-2.22.0rc0-cp311-cp311-macosx_12_0_arm64.whl" and len(fp["sha256"]) == 64
    api = K.kernel_c_api("2.22.0rc0")
    assert (api.wheel, api.sha256) == (fp["wheel"], fp["sha256"])
    exported = next(f for f in K.kernel_facts["tensorflow"] if f["version"] == "2.22.0rc0")["exported"]
    assert exported["TF_AssignUpdateVariable"] == ["tensorflow/libtensorflow_framework.2.dylib"]


def test_invoke_abi_for_2_21_shows_the_community_plugin_too():
    done = invoke("abi", "--tensorflow", "2.21.0", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "tensorflow-metal-plugin: an sdist compiled at install time" in done.stdout
    assert "0.4.1    ==2.21.*               2.21.0" in done.stdout and "unconfirmed" in done.stdout
    done = invoke("abi", "--tensorflow", "2.22.0rc0", "--plugin", "tensorflow-metal-plugin==0.4.1", timeout=120)
    assert done.returncode == 1 and "Requires-Dist tensorflow==2.21.* excludes 2.22.0rc0" in done.stdout


def test_a_download_says_its_size_first_and_the_cache_is_kept_by_sha256(tmp_path):
    src = tmp_path / "index" / "tensorflow_metal-9.0.0-cp311-cp311-macosx_12_0_arm64.whl"
    src.parent.mkdir()
    src.write_bytes(b"x" * 2_500_000)
    listed = {"filename": src.name, "url": src.as_uri(), "size": 2_500_000,
              "hashes": {"sha256": hashlib.sha256(src.read_bytes()).hexdigest()}}
    said: list[str] = []
    cache = tmp_path / "cache"
    path = wheels.fetch(listed, said.append, fix="x", cache=cache)
    assert said[0] == "  downloading %s (2.5 MB) into %s ..." % (src.name, cache)
    assert path.read_bytes() == b"x" * 2_500_000
    said.clear()
    assert wheels.fetch(listed, said.append, fix="x", cache=cache) == path and said == []  # cached: no line
    path.write_bytes(b"tampered")
    wheels.fetch(listed, said.append, fix="x", cache=cache)  # a cached file whose sha256 differs is fetched again
    assert said and path.read_bytes() == b"x" * 2_500_000


@pytest.mark.network
def test_2_22_is_read_on_demand_with_an_empty_cache(tmp_path, monkeypatch):
    """What `invoke abi --tensorflow 2.22.0rc0` does on a machine that never saw it (245 MB from PyPI)."""
    envs = tmp_path / "envs"
    shutil.copytree(ROOT / "envs", envs, ignore=shutil.ignore_patterns("locks", "conda"))
    (envs / "abi" / "tensorflow-2.22.0rc0.json").unlink()
    kernel = json.loads((envs / "kernel-c-api.json").read_text(encoding="utf-8"))
    kernel["tensorflow"] = [f for f in kernel["tensorflow"] if f["version"] != "2.22.0rc0"]
    (envs / "kernel-c-api.json").write_text(json.dumps(kernel, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    monkeypatch.setattr(wheels, "CACHE", tmp_path / "cache")
    said: list[str] = []
    changes = releases.ensure("2.22.0rc0", None, None, said.append, releases.Paths(envs=envs))
    assert said[1].startswith("  downloading tensorflow-2.22.0rc0-cp311-cp311-macosx_12_0_arm64.whl (245.3 MB)")
    assert changes[0] == "envs/abi/tensorflow-2.22.0rc0.json: new"
    assert (envs / "abi" / "tensorflow-2.22.0rc0.json").read_text() == (
        ROOT / "envs" / "abi" / "tensorflow-2.22.0rc0.json").read_text()
    assert (envs / "kernel-c-api.json").read_text() == (ROOT / "envs" / "kernel-c-api.json").read_text()
