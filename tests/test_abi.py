"""Static verdicts from the committed fingerprints (offline), against abi.md and every user report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checks import abi, knowledge, views
from tests.conftest import ROOT

FPS = abi.load_fingerprints()

GRID = json.loads((ROOT / "envs" / "abi-grid.json").read_text())


@pytest.mark.parametrize("tf,metal,expected", [
    ("2.16.2", "1.1.0", "loads"), ("2.16.2", "1.2.0", "loads"),
    ("2.18.1", "1.2.0", "loads"), ("2.19.1", "1.2.0", "loads"),
    ("2.18.1", "1.1.0", "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii"),
    ("2.19.1", "1.1.0", "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii"),
    ("2.20.0", "1.2.0", "Library not loaded: @rpath/_pywrap_tensorflow_internal.so"),
    ("2.21.0", "1.2.0", "Library not loaded: @rpath/_pywrap_tensorflow_internal.so"),
])
def test_reproduces_the_table_of_abi_md(tf, metal, expected):
    v = abi.predict(tf, metal, FPS)
    assert v.short() == expected


def test_library_not_loaded_names_the_install_name_found_instead():
    assert abi.predict("2.20.0", "1.2.0", FPS).found_instead == [
        "bazel-out/darwin_arm64-opt/bin/tensorflow/python/lib__pywrap_tensorflow_16_shared_object.dylib"]
    assert abi.predict("2.21.0", "1.1.0", FPS).found_instead == [
        "bazel-out/darwin_arm64-opt/bin/tensorflow/python/lib__pywrap_tensorflow_12_shared_object.dylib"]


def test_symbol_errors_are_explained_demangled_with_their_image():
    v = abi.predict("2.19.1", "1.1.0", FPS)
    assert v.missing[0]["demangled"] == "tsl::internal::LogMessage::LogMessage(char const*, int, int)"
    assert "in tensorflow/python/_pywrap_tensorflow_internal.so" in v.explain()[0]


def test_flat_namespace_lookups_are_judged_too():
    v = abi.predict("2.11.0", "0.8.0", FPS)  # reported: "symbol not found in flat namespace" (docs/facts/abi.md)
    assert v.error.startswith("symbol not found in flat namespace '_TF_")


def test_every_reported_import_outcome_agrees_or_is_written_down():
    rows = views.compare(knowledge.load())
    written = {(d["tensorflow"], d["metal"]) for d in GRID["disagreements"]}
    assert len(rows) >= 15  # every verified or import-broken pair from 2.11 on is covered
    disagreeing = [r for r in rows if r["agrees"] == "no" and (r["tensorflow"], r["metal"]) not in written]
    assert disagreeing == []


def test_a_patch_release_uses_its_lines_fingerprint_and_unknown_pairs_are_none():
    v = abi.predict("2.19.0", "1.2.0", FPS)
    assert v is not None and v.loads and v.tensorflow == "2.19.1"
    assert abi.predict("2.22.0", "1.2.0", FPS) is None and abi.predict("2.19.1", "9.9.9", FPS) is None


def test_fingerprints_name_their_wheel_and_sha256():
    fps = abi.load_fingerprints()
    assert set(fps["tensorflow"]) == {e["version"] for e in GRID["tensorflow"]}
    assert set(fps["tensorflow-metal"]) == set(GRID["metal"])
    for kind in fps.values():
        for fp in kind.values():
            assert fp["wheel"].endswith("macosx_12_0_arm64.whl") and len(fp["sha256"]) == 64


def _fp(loads, binds, exports, install="@rpath/_pywrap_tensorflow_internal.so", reexports=()):
    tf = {"version": "9.0", "files": [], "loaded": [
        {"path": "tensorflow/python/_pywrap_tensorflow_internal.so", "install_name": install, "loads": [],
         "reexports": list(reexports), "exports": exports, "flat_visible": False},
        {"path": "tensorflow/libtensorflow_framework.2.dylib", "install_name": "@rpath/libfw.dylib", "loads": [],
         "reexports": [], "exports": ["_TF_Flat"], "flat_visible": True}]}
    plugin = {"version": "9.9", "loads": loads, "rpaths": [], "binds": binds}
    return tf, plugin


def test_weak_imports_may_stay_unbound_and_reexports_count():
    bind = {"symbol": "_TF_Gone", "library": "@rpath/_pywrap_tensorflow_internal.so", "class": "standard",
            "weak": True}
    tf, plugin = _fp(["@rpath/_pywrap_tensorflow_internal.so"], [bind], [])
    assert abi.verdict(tf, plugin, {"_TF_Gone"}).loads
    bind["weak"] = False
    assert not abi.verdict(tf, plugin, {"_TF_Gone"}).loads
    tf, plugin = _fp(["@rpath/_pywrap_tensorflow_internal.so"], [bind], [], reexports=["@rpath/libfw.dylib"])
    tf["loaded"][1]["exports"].append("_TF_Gone")
    assert abi.verdict(tf, plugin, {"_TF_Gone"}).loads


def test_flat_lookups_do_not_see_the_extension_module_and_skip_system_symbols():
    binds = [{"symbol": "_TF_OnlyInPywrap", "library": "flat", "class": "lazy", "weak": False},
             {"symbol": "_objc_msgSend", "library": "flat", "class": "standard", "weak": False}]
    tf, plugin = _fp([], binds, ["_TF_OnlyInPywrap"])
    v = abi.verdict(tf, plugin, {"_TF_OnlyInPywrap", "_TF_Flat"})
    assert v.error == "symbol not found in flat namespace '_TF_OnlyInPywrap'"


def test_invoke_abi_prints_one_pair_and_the_grid():
    run = lambda *a: subprocess.run([sys.executable, "-m", "invoke", "abi", *a], cwd=ROOT, capture_output=True,  # noqa: E731
                                    text=True)
    done = run("--tensorflow", "2.19.1", "--metal", "1.1.0")
    assert done.returncode == 1 and "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii" in done.stdout
    assert "tsl::internal::LogMessage::LogMessage(char const*, int, int)" in done.stdout
    assert "reported" in done.stdout and "broken" in done.stdout
    done = run()
    assert done.returncode == 0 and "2.21.0" in done.stdout and "1.2.0" in done.stdout
    assert run("--tensorflow", "abc").returncode == 2
