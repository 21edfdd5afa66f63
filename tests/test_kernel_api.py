"""Kernel C API exports for resource variables, judged offline from envs/kernel-c-api.json (from the wheels)."""

from __future__ import annotations

import json

import pytest

from checks import kernel_api, knowledge, views
from checks.abi import ABI_DIR
from checks.matrix import MatrixError
from scripts.kernel_api import declared
from tests.conftest import invoke

# Two declarations as tensorflow/include/tensorflow/c/kernels_experimental.h of the 2.21.0 wheel writes them.
HEADER_SNIPPET = """
TF_CAPI_EXPORT extern void TF_AssignUpdateVariable(
    TF_OpKernelContext* ctx, int input_index, int value_index, int Op,
    int isVariantType,
TF_CAPI_EXPORT extern bool TF_IsRefInput(TF_OpKernelContext* ctx, int i,
                                         TF_Status* status);
"""


K = knowledge.load({})
FACTS = K.kernel_facts


def test_header_declarations_are_read_by_name():
    assert declared(HEADER_SNIPPET) == ["TF_AssignUpdateVariable", "TF_IsRefInput"]


@pytest.mark.parametrize("version,complete", [("2.18.1", True), ("2.19.1", True), ("2.20.0", False),
                                              ("2.21.0", False)])
def test_exports_per_release_as_found_in_the_wheels(version, complete):
    api = K.kernel_c_api(version)
    assert api is not None and api.complete is complete
    assert "TF_AssignUpdateVariable" in api.declared and len(api.declared) == 14
    assert api.missing == ([] if complete else api.declared)


def test_records_name_the_same_wheels_as_the_abi_fingerprints():
    for fact in FACTS["tensorflow"]:
        fp = json.loads((ABI_DIR / ("tensorflow-%s.json" % fact["version"])).read_text(encoding="utf-8"))
        assert (fact["wheel"], fact["sha256"]) == (fp["wheel"], fp["sha256"])


def test_apple_plugin_needs_are_its_recorded_binds():
    apple = next(p for p in FACTS["plugins"] if p["name"] == "tensorflow-metal")
    fp = json.loads((ABI_DIR / "tensorflow-metal-1.2.0.json").read_text(encoding="utf-8"))
    header = K.kernel_c_api("2.21.0").declared
    assert sorted(apple["needs"]) == sorted(b["symbol"][1:] for b in fp["binds"] if b["symbol"][1:] in header)


def test_what_the_gap_means_for_each_plugin():
    community = next(p for p in FACTS["plugins"] if p["name"] == "tensorflow-metal-plugin")
    gap = kernel_api.plugin_effect(community, K.kernel_c_api("2.21.1"))  # patch release: 2.21 line
    assert "run on the host" in gap and "waits for the GPU" in gap and "TF_GetInputTensorFromVariable" in gap
    assert "every entry point" in kernel_api.plugin_effect(community, K.kernel_c_api("2.19.1"))


def test_unrecorded_release_has_no_verdict():
    assert K.kernel_c_api("2.17.1") is None
    assert views.kernel_api_lines(K, "2.22.0") == [
        "Kernel C API for resource variables: TensorFlow 2.22.0 is not recorded in kernel-c-api.json"]


def test_plugins_with_kernel_needs_are_the_matrix_plugins():
    assert sorted(p["name"] for p in FACTS["plugins"]) == sorted(K.matrix.plugin_names)


@pytest.mark.parametrize("damage", [lambda d: d.pop("upstream"), lambda d: d["tensorflow"][0].pop("exported"),
                                    lambda d: d["plugins"][0].pop("needs"), lambda d: d.update(tensorflow=[])])
def test_malformed_facts_are_one_line_usage_errors(tmp_path, damage):
    data = json.loads(kernel_api.DATA_PATH.read_text(encoding="utf-8"))
    damage(data)
    path = tmp_path / "kernel-c-api.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(MatrixError, match="kernel C API facts .*kernel-c-api.json") as info:
        kernel_api.load_facts(path)
    assert info.value.code == 2 and "\n" not in str(info.value)


def test_refresh_names_only_newer_final_releases():
    published = ["2.22.0", "2.21.0", "2.22.0rc1", "2.20.0", "2.23.0.dev1", "not-a-version"]
    assert kernel_api.newer_releases(["2.18.1", "2.21.0"], published) == ["2.22.0"]
    assert kernel_api.newer_releases(["2.21.0"], ["2.21.0", "2.19.1"]) == []


def test_invoke_abi_reports_the_exports():
    done = invoke("abi", "--tensorflow", "2.21.0", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "14 of 14 functions exported by no binary" in done.stdout and "TF_AssignUpdateVariable" in done.stdout
    assert "tensorflow-metal-plugin 0.4.1: lacks" in done.stdout and "#126374" in done.stdout
    done = invoke("abi", "--tensorflow", "2.19.1", timeout=120)
    assert done.returncode == 0 and "all 14 functions exported" in done.stdout


def test_plain_invoke_abi_lists_every_recorded_release():
    done = invoke("abi", timeout=120)
    assert done.returncode == 0, done.stderr
    for line in ("2.18.1      14 of 14", "2.19.1      14 of 14", "2.20.0       0 of 14", "2.21.0       0 of 14"):
        assert line in done.stdout, done.stdout
