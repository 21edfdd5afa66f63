"""Each rule over facts derived from real recorded machine outputs (tests/machines.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from checks import knowledge, timing
from checks.evaluate import evaluate
from checks.model import Options, Status
from checks.probes.system import derive
from checks.report import exit_code
from tests import machines

K = knowledge.load()
GPU = "/job:localhost/replica:0/task:0/device:GPU:0"  # TF's device string (docs/facts/errors.md)
CPU = "/job:localhost/replica:0/task:0/device:CPU:0"


def side(placed: str, median: float, err: float = 1e-7, requested: str = "/GPU:0") -> dict[str, Any]:
    return {"requested": requested, "placed": placed, "error_rel": err, "gflops": 2 * 2048**3 / median / 1e9,
            "reps": 10, "median_s": median, "min_s": median, "cv": 0.01, "samples_s": [median] * 10}


def tf_facts(gpus=("/physical_device:GPU:0",), gpu_side=None, cpu_median=0.08) -> dict[str, Any]:
    facts = {"stage": "done", "process": {"returncode": 0, "signal": None, "timed_out": False, "stderr": ""},
             "tensorflow": {"version": "2.19.1", "import_s": 2.0, "gpus": list(gpus),
                            "cpus": ["/physical_device:CPU:0"]},
             "matmul": {"n": 2048, "tolerance": timing.fp32_tolerance(2048),
                        "cpu": side(CPU, cpu_median, requested="/CPU:0")}}
    if gpu_side is not None:
        facts["matmul"]["gpu"] = gpu_side
    return facts


def packages(tf="2.19.1", metal="1.2.0", dist="tensorflow", plugin=True, marker=True) -> dict[str, Any]:
    versions = {d: None for d in ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-metal")}
    versions[dist] = tf
    versions["tensorflow-metal"] = metal
    return {"versions": versions,
            "metal_plugin": "/x/site-packages/tensorflow-plugins/libmetal_plugin.dylib" if plugin and metal else None,
            "environment": {"prefix": "/x", "owned": True, "marker": {"profile": "metal", "lock": "l"} if marker
                            else None, "marker_error": None},
            "lock": {"path": "l", "pinned": 2, "drift": []} if marker else None}


def facts_for(raw, pkgs=None, tf=None) -> dict[str, Any]:
    return {"system": derive(raw), "packages": pkgs or packages(),
            "tensorflow": tf or tf_facts(gpu_side=side(GPU, 0.01))}


def run(facts, **opts):
    options = Options(**{"profile": "metal", **opts})
    outcomes = evaluate(facts, options, K)
    return {o.check.id: o.result for o in outcomes}, exit_code(outcomes, options.strict)


def test_m1_native_verified_pair_passes_everything():
    results, code = run(facts_for(machines.M1_NATIVE))
    assert code == 0
    # These facts have no training probe (tests/test_training_rules.py covers that family): it skips.
    assert {k: r.status for k, r in results.items() if r.status != Status.PASS and not k.startswith("training.")} == {
        "packages.project": Status.SKIP}  # no project requirements in these facts
    assert results["training.losses"].summary.startswith("no training probe in this recording")
    assert "Apple Silicon" in results["architecture.interpreter"].summary
    assert results["matmul.speedup"].facts["speedup"] == pytest.approx(8.0)


def test_m1_derived_facts_read_the_recorded_outputs():
    s = derive(machines.M1_NATIVE)
    assert (s["platform"], s["hardware_arch"], s["translated"], s["vm"]) == ("macos-arm64", "arm64", False, False)
    assert s["macos_version"] == "14.4.1"
    assert s["gpu"] == {"name": "Apple M1", "cores": 7, "metal": "spdisplays_metal3",
                        "vendor": "sppci_vendor_Apple", "paravirtual": False, "source": "system_profiler (json)",
                        "not_collected": ["memory_size", "recommended_working_set", "max_buffer_length"]}


def test_rosetta_interpreter_fails_with_native_python_fix():
    results, code = run(facts_for(machines.ROSETTA))
    r = results["architecture.interpreter"]
    assert code == 1 and r.status == Status.FAIL
    assert "Rosetta" in r.summary and "arm64" in r.fix
    assert results["devices.gpu"].status == Status.SKIP  # no GPU check is meaningful under Rosetta


def test_intel_mac_is_cpu_profile_with_reason():
    f = facts_for(machines.INTEL, pkgs=packages(tf="2.16.2", metal=None), tf=tf_facts(gpus=()))
    results, code = run(f, profile="cpu")
    assert derive(machines.INTEL)["hardware_arch"] == "x86_64" and not derive(machines.INTEL)["translated"]
    assert code == 0
    assert results["architecture.interpreter"].status == Status.PASS
    assert "Intel Mac" in results["devices.gpu"].summary and results["devices.gpu"].status == Status.SKIP
    assert results["packages.tensorflow"].status == Status.PASS  # 2.16.2 is the macos-x86_64 pin


def test_metal_profile_on_intel_fails():
    results, _ = run(facts_for(machines.INTEL))
    assert results["architecture.interpreter"].status == Status.FAIL


def test_github_vm_judges_gpu_correctness_and_never_gates_speed():
    # the GPU 0.5x the CPU: a failure on bare metal, only information in a VM
    results, code = run(facts_for(machines.GITHUB_ARM64_VM, tf=tf_facts(gpu_side=side(GPU, 0.16))))
    assert code == 0
    assert results["architecture.virtualization"].status == Status.PASS
    assert "GPU checks advisory" in results["architecture.virtualization"].summary
    assert results["devices.gpu"].status == Status.PASS and "macOS VM (VirtualMac2,1" in results["devices.gpu"].summary
    assert results["matmul.gpu"].status == Status.PASS and "speed not gated" in results["matmul.gpu"].summary
    for check in ("matmul.speedup", "matmul.efficiency"):
        assert results[check].status == Status.SKIP, check
        assert "not gated in a macOS VM (VirtualMac2,1" in results[check].summary
    assert "GPU 0.50× the CPU" in results["matmul.speedup"].summary  # the figure is still shown


def test_github_vm_still_fails_a_wrong_answer_and_a_cpu_fallback():
    results, code = run(facts_for(machines.GITHUB_ARM64_VM, tf=tf_facts(gpu_side=side(GPU, 0.01, err=1e-2))))
    assert code == 1 and results["matmul.gpu"].status == Status.FAIL
    assert "wrong numbers" in results["matmul.gpu"].summary
    results, code = run(facts_for(machines.GITHUB_ARM64_VM, tf=tf_facts(gpu_side=side(CPU, 0.01))))
    assert code == 1 and "silent CPU fallback" in results["matmul.gpu"].summary


def test_github_vm_without_a_listed_gpu_fails_the_device_check_saying_vm():
    results, code = run(facts_for(machines.GITHUB_ARM64_VM, tf=tf_facts(gpus=())))
    assert code == 1
    r = results["devices.gpu"]
    assert r.status == Status.FAIL and "in this macOS VM (VirtualMac2,1" in r.summary
    assert "--profile cpu" in r.fix


def test_github_vm_fails_under_require_gpu():
    results, code = run(facts_for(machines.GITHUB_ARM64_VM), require_gpu=True)
    assert code == 1
    assert results["architecture.virtualization"].status == Status.FAIL
    assert "--require-gpu needs a bare-metal GPU" in results["architecture.virtualization"].summary


def test_github_vm_on_the_cpu_profile_skips_the_gpu_checks():
    results, code = run(facts_for(machines.GITHUB_ARM64_VM, pkgs=packages(metal=None), tf=tf_facts(gpus=())),
                        profile="cpu")
    assert code == 0 and results["devices.gpu"].status == Status.SKIP
    assert "cpu profile" in results["devices.gpu"].summary


def test_no_gpu_on_a_bare_metal_apple_silicon_mac_looks_sandboxed():
    pkgs = packages()
    pkgs["env"] = {"CODEX_SANDBOX": "seatbelt"}
    results, code = run(facts_for(machines.M1_NATIVE, pkgs=pkgs, tf=tf_facts(gpus=())))
    r = results["devices.gpu"]
    assert code == 1 and r.status == Status.FAIL
    assert "bare-metal Apple Silicon Mac (Apple M1) has a GPU: the process looks sandboxed (CODEX_SANDBOX=seatbelt " \
        "is set)" in r.summary
    assert any("outside the sandbox" in d for d in r.details) and r.facts["sandboxed"] is True
    results, _ = run(facts_for(machines.M1_NATIVE, tf=tf_facts(gpus=())))  # no hint set: still said, no hint
    assert results["devices.gpu"].summary.endswith("the process looks sandboxed")


def test_a_cpu_timing_that_gates_nothing_is_information_not_a_warning():
    disturbed = tf_facts(gpus=())
    disturbed["matmul"]["cpu"]["cv"] = 0.18  # a shared machine: CV 14-20 % seen here
    linux = {"python": {**machines.M1_NATIVE["python"], "system": "Linux", "machine": "x86_64"}, "commands": {},
             "memory": {"total": 2**33}, "linux": {"cpu_flags": "avx2", "product": None}}
    results, code = run(facts_for(linux, pkgs=packages(metal=None, dist="tensorflow-cpu"), tf=disturbed), profile="cpu",
                        strict=True)
    r = results["matmul.cpu"]
    assert code == 0 and r.status == Status.PASS and "information only" in r.details[0]
    results, code = run(facts_for(machines.M1_NATIVE, tf=dict(disturbed, matmul={
        **disturbed["matmul"], "gpu": side(GPU, 0.01)})), strict=True)  # on a Mac the CPU figure gates the speedup
    assert results["matmul.cpu"].status == Status.WARN and code == 1


def test_a_system_command_that_timed_out_is_a_fact_in_the_report():
    raw = copy.deepcopy(machines.M1_NATIVE)
    raw["commands"]["system_profiler"] = {"argv": ["system_profiler", "SPDisplaysDataType", "-json"],
                                          "returncode": None, "stdout": "", "stderr": "", "duration_s": 20.0,
                                          "timed_out": True, "error": "timed out after 20 s"}
    raw["commands"]["sw_vers"] = {"argv": ["sw_vers", "-productVersion"], "returncode": None, "stdout": "",
                                  "stderr": "", "duration_s": 5.0, "timed_out": True, "error": "timed out after 5 s"}
    raw["python"]["mac_ver"] = ""
    results, _ = run(facts_for(raw))
    assert "system_profiler timed out" in results["architecture.chip"].summary
    assert "timed out: system_profiler SPDisplaysDataType -json timed out after 20 s" in results[
        "architecture.chip"].details
    assert results["architecture.macos"].summary == "unknown: sw_vers -productVersion timed out after 5 s"


def test_macos_older_than_12_fails_for_metal():
    results, _ = run(facts_for(machines.OLD_MACOS))
    assert results["architecture.macos"].status == Status.FAIL
    assert "11.7.10" in results["architecture.macos"].summary


def test_the_macos_floor_is_the_installed_pairs():
    """macOS 14.4.1 (a real M1's sw_vers) is enough for Apple's plugin (>=12.0) but not for the community plugin,
    whose record needs macOS 15: the floor comes from the matrix's record of the pair installed."""
    apple, _ = run(facts_for(machines.M1_NATIVE))
    assert apple["architecture.macos"].status == Status.PASS
    pkgs = packages()
    pkgs["versions"].update({"tensorflow-metal": None, "tensorflow-metal-plugin": "0.4.1", "tensorflow": "2.21.0"})
    community, _ = run(facts_for(machines.M1_NATIVE, pkgs=pkgs))
    result = community["architecture.macos"]
    assert result.status == Status.FAIL and ">=15.0" in result.summary and "tensorflow-metal-plugin" in result.summary


def test_macos_compat_mode_10_16_warns():
    raw = copy.deepcopy(machines.M1_NATIVE)
    raw["python"]["mac_ver"] = "10.16"  # pyinstaller PR #6329: Python sees 10.16 in compatibility mode
    results, _ = run(facts_for(raw))
    assert results["architecture.macos"].status == Status.WARN
    assert "SYSTEM_VERSION_COMPAT=0" in results["architecture.macos"].fix


@pytest.mark.parametrize("tf,metal,status,words", [
    ("2.19.1", "1.2.0", Status.PASS, "verified"),
    ("2.19.1", "1.1.0", Status.FAIL, "__ZN3tsl8internal10LogMessageC1EPKcii"),
    ("2.20.0", "1.2.0", Status.FAIL, "Library not loaded"),
    ("2.18.0", "1.2.0", Status.WARN, "apple-claim"),
    ("2.22.0", "1.2.0", Status.WARN, "no record"),
])
def test_metal_pairing_against_the_matrix(tf, metal, status, words):
    results, _ = run(facts_for(machines.M1_NATIVE, pkgs=packages(tf=tf, metal=metal)))
    r = results["packages.metal"]
    assert r.status == status and words in r.summary
    if status != Status.PASS:
        assert "tensorflow==2.19.1 tensorflow-metal==1.2.0" in r.fix


def test_metal_plugin_missing_fails():
    results, _ = run(facts_for(machines.M1_NATIVE, pkgs=packages(metal=None)))
    assert results["packages.metal"].status == Status.FAIL
    assert "no Metal plugin (tensorflow-metal or tensorflow-metal-plugin) is installed" in \
        results["packages.metal"].summary


def test_soft_placement_fallback_fails_naming_both_devices():
    f = facts_for(machines.M1_NATIVE, tf=tf_facts(gpu_side=side(CPU, 0.08)))
    results, code = run(f)
    r = results["matmul.gpu"]
    assert code == 1 and r.status == Status.FAIL
    assert "/GPU:0" in r.summary and "CPU:0" in r.summary


def test_wrong_gpu_numbers_fail_with_error_size():
    f = facts_for(machines.M1_NATIVE, tf=tf_facts(gpu_side=side(GPU, 0.01, err=3e-4)))  # a TF32-sized error
    r = run(f)[0]["matmul.gpu"]
    assert r.status == Status.FAIL and "3.00e-04" in r.summary


def test_speedup_below_threshold_fails():
    f = facts_for(machines.M1_NATIVE, tf=tf_facts(gpu_side=side(GPU, 0.07), cpu_median=0.08))
    r = run(f, min_speedup=1.5)[0]["matmul.speedup"]
    assert r.status == Status.FAIL and "1.14×" in r.summary


def test_no_gpu_listed_fails_on_metal():
    f = facts_for(machines.M1_NATIVE, tf=tf_facts(gpus=(), gpu_side={"requested": "/GPU:0", "error": "boom"}))
    results, _ = run(f)
    assert results["devices.gpu"].status == Status.FAIL
    assert results["matmul.gpu"].status == Status.FAIL and "refused" in results["matmul.gpu"].summary


def test_half_built_environment_fails_and_foreign_one_is_skipped():
    pk = packages(marker=False)
    results, _ = run(facts_for(machines.M1_NATIVE, pkgs=pk))
    assert results["environment.setup"].status == Status.FAIL and "invoke setup" in results["environment.setup"].fix
    pk["environment"]["owned"] = False
    assert run(facts_for(machines.M1_NATIVE, pkgs=pk))[0]["environment.setup"].status == Status.SKIP


@pytest.mark.parametrize("signal_name,timed_out,words", [("SIGSEGV", False, "SIGSEGV"),
                                                          (None, True, "hit its time limit")])
def test_tensorflow_child_crash_or_hang_is_a_failed_check(signal_name, timed_out, words):
    tf = {"stage": "import", "process": {"returncode": None if timed_out else -11, "signal": signal_name,
                                         "timed_out": timed_out, "error": "timed out after 5 s" if timed_out else None,
                                         "stderr": "Fatal Python error: Segmentation fault\n"}}
    results, code = run(facts_for(machines.M1_NATIVE, tf=tf))
    assert code == 1
    assert results["devices.import"].status == Status.FAIL and words in results["devices.import"].summary
    assert results["matmul.cpu"].status == Status.SKIP


def test_a_rule_that_raises_becomes_a_failed_result_not_a_crash():
    f = facts_for(machines.M1_NATIVE)
    f["tensorflow"]["matmul"]["cpu"] = {"placed": CPU}  # malformed: no figures
    results, code = run(f)
    assert code == 1 and "internal error" in results["matmul.cpu"].summary


@pytest.mark.parametrize("versions,env,words", [
    ({"tensorflow": "2.15.0", "tensorflow-macos": "2.16.2"}, {}, "conflicting TensorFlow distributions"),
    ({"tensorflow": "2.19.1", "tensorflow-cpu": "2.19.1"}, {}, "conflicting TensorFlow distributions"),
    ({"tensorflow": "2.19.1", "keras": "2.15.0"}, {}, "needs Keras 3"),
    ({"tensorflow": "2.14.1", "keras": "3.5.0"}, {}, "needs Keras 2.14"),
    ({"tensorflow": "2.19.1", "keras": "3.10.0", "tf-keras": "2.17.0"}, {}, "tf-keras 2.17.0 does not match"),
    ({"tensorflow": "2.19.1", "keras": "3.10.0"}, {"TF_USE_LEGACY_KERAS": "1"}, "tf-keras is not installed"),
])
def test_consistency_finds_conflicts_and_keras_misfits(versions, env, words):
    pk = packages()
    pk["versions"].update(versions)
    pk["env"] = env
    r = run(facts_for(machines.M1_NATIVE, pkgs=pk))[0]["packages.consistency"]
    # TF_USE_LEGACY_KERAS is the user's setting, not setup's to change: no command fixes it, the summary says how
    assert r.status == Status.FAIL and words in r.summary and (r.fix or "unset it" in r.summary)


def test_consistency_reports_unmet_requirements_and_x86_64_binaries_in_an_arm64_env():
    pk = packages()
    pk["unmet"] = ["tensorflow 2.19.1 requires numpy<2.2.0,>=1.26.0, but 2.3.0 is installed"]
    pk["binaries"] = {"numpy": ["x86_64"], "tensorflow": ["arm64"]}
    r = run(facts_for(machines.M1_NATIVE, pkgs=pk))[0]["packages.consistency"]
    assert r.status == Status.FAIL and "numpy<2.2.0" in r.summary
    assert any("numpy (x86_64)" in d for d in r.details)
    assert run(facts_for(machines.M1_NATIVE))[0]["packages.consistency"].status == Status.PASS


def test_github_escaping_follows_actions_toolkit():
    from checks.report import _gh_escape

    assert _gh_escape("50% a\nb\r") == "50%25 a%0Ab%0D"
    assert _gh_escape("a:b,c", prop=True) == "a%3Ab%2Cc"


def test_chip_identification_from_recorded_names():
    from checks import chips

    assert chips.normalise("kHW_AppleM1Item") == "Apple M1"
    assert chips.normalise("kHW_AppleM2MaxItem") == "Apple M2 Max"
    m1 = chips.identify(derive(machines.M1_NATIVE), K.chips)
    assert (m1.name, m1.cores, m1.known) == ("Apple M1", 7, True)
    assert m1.peak_gflops == pytest.approx(7 * 256 * 1.278)  # 2.29 TFLOPS, docs/facts/performance.md "Peak"
    m3 = chips.identify(derive(machines.M3_MAX), K.chips)
    assert m3.peak_gflops == pytest.approx(40 * 256 * 1.380)  # 14.13 TFLOPS
    m5 = chips.identify({"hardware_arch": "arm64", "gpu": {"name": "Apple M5", "cores": 10}}, K.chips)
    assert m5.known and m5.peak_gflops is None and "clock unknown" in m5.note
    new = chips.identify({"hardware_arch": "arm64", "gpu": {"name": "Apple M9 Ultra", "cores": 99}}, K.chips)
    assert not new.known and "'Apple M9 Ultra' is not in envs/chips.json" in new.note


@pytest.mark.parametrize("gflops,status,words", [
    (1700.0, Status.PASS, "74% of the Apple M1's 2.29 TFLOPS"),
    (300.0, Status.WARN, "13% of the Apple M1's"),
])
def test_efficiency_reports_percent_of_peak_and_warns_far_below(gflops, status, words):
    g = side(GPU, 2 * 2048**3 / gflops / 1e9)
    r = run(facts_for(machines.M1_NATIVE, tf=tf_facts(gpu_side=g)))[0]["matmul.efficiency"]
    assert r.status == status and words in r.summary
    assert r.facts["percent_of_peak"] == pytest.approx(100 * gflops / (7 * 256 * 1.278), rel=1e-6)


def test_efficiency_of_an_unknown_chip_gives_figures_without_a_percentage():
    raw = copy.deepcopy(machines.M1_NATIVE)
    raw["commands"]["system_profiler"] = machines.ok('{"SPDisplaysDataType": [{"sppci_model": "Apple M9", '
                                                    '"sppci_cores": "12"}]}')
    results, code = run(facts_for(raw))
    assert code == 0
    assert "not in envs/chips.json" in results["architecture.chip"].summary
    eff = results["matmul.efficiency"]
    assert eff.status == Status.SKIP and "GFLOP/s" in eff.summary and "%" not in eff.summary


def test_a_disturbed_timing_warns_instead_of_passing():
    g = side(GPU, 0.01)
    g["cv"] = 0.30  # as seen here when the shared machine was busy (docs/BENCHMARKS.md)
    r = run(facts_for(machines.M1_NATIVE, tf=tf_facts(gpu_side=g)))[0]["matmul.gpu"]
    assert r.status == Status.WARN and "CV 30% > 10%" in r.summary and "idle machine" in r.fix


def test_an_unrecorded_pair_is_judged_by_the_static_check():
    # TensorFlow 2.15 with tensorflow-metal 1.0.0: no report in the matrix; the wheels say Symbol not found.
    r = run(facts_for(machines.M1_NATIVE, pkgs=packages(tf="2.15.0", metal="1.0.0")))[0]["packages.metal"]
    assert r.status == Status.FAIL and "static check of the wheels" in r.summary
    assert "TensorShapeProto" in r.summary and r.details
    r = run(facts_for(machines.M1_NATIVE, pkgs=packages(tf="2.12.0", metal="1.1.0")))[0]["packages.metal"]
    assert r.status == Status.WARN and "says it loads" in r.summary


def test_no_gpu_where_it_is_not_known_whether_this_is_a_vm_keeps_the_generic_failure():
    results, code = run(facts_for(machines.M3_MAX, tf=tf_facts(gpus=())))  # kern.hv_vmm_present not recorded
    r = results["devices.gpu"]
    assert code == 1 and r.status == Status.FAIL
    assert r.summary == "TensorFlow lists no GPU: the Metal plugin did not register a device" and "--force" in r.fix


def test_the_macos_floor_of_keras_on_torch_is_mps_macos_14():
    """The torch-mps target is a metal one too: its floor (MPS: macOS 14) is judged, not TensorFlow's 12.0."""
    raw = copy.deepcopy(machines.M1_NATIVE)
    raw["commands"]["sw_vers"] = machines.ok("13.6.1")  # the same M1, as if on Ventura
    tf_env, _ = run(facts_for(raw))
    assert tf_env["architecture.macos"].status == Status.PASS
    facts = facts_for(raw)
    facts["backend"] = {"name": "torch", "keras_backend": "torch"}
    torch_env, _ = run(facts)
    result = torch_env["architecture.macos"]
    assert result.status == Status.FAIL and ">=14.0" in result.summary and "torch 2.13.0" in result.summary


def tf_crashed_bundle(tmp_path, stage: str, **process: Any):
    """The recorded linux-x86_64-training bundle, copied and edited into a TensorFlow child that died at ``stage``
    after its import: the stage, the end of its process record, and the results it never saved, removed."""
    import json
    import shutil

    from tests.conftest import ROOT

    path = tmp_path / "bundle"
    shutil.copytree(ROOT / "tests" / "bundles" / "linux-x86_64-training", path)
    tf = json.loads((path / "tensorflow.json").read_text())
    tf["stage"] = stage
    tf["process"].update(process)
    for key in {"training": ("training", "matmul"), "matmul": ("matmul",)}[stage]:
        tf.pop(key, None)
    (path / "tensorflow.json").write_text(json.dumps(tf))
    return path


@pytest.mark.parametrize("stage", ["training", "matmul"])
def test_a_tensorflow_child_that_segfaults_after_its_import_fails_verify(tmp_path, stage):
    from tests.test_replay import replay

    code, checks = replay(tf_crashed_bundle(tmp_path, stage, returncode=-11, signal="SIGSEGV"), tmp_path=tmp_path)
    imp = checks["devices.import"]
    assert code == 1 and imp["status"] == "fail", imp
    assert imp["summary"] == "the TensorFlow probe died from SIGSEGV during stage %s" % stage
    assert imp["fix"].startswith(".tools/bin/invoke report --env ") and "--out probe-crash" in imp["fix"]
    assert checks["matmul.cpu"]["status"] == "skip" and "stage %s" % stage in checks["matmul.cpu"]["summary"]
    losses = checks["training.losses"]
    assert losses["status"] == ("pass" if stage == "matmul" else "skip"), losses
    assert "version without it" not in losses["summary"]


def test_a_tensorflow_child_that_hits_its_time_limit_after_its_import_fails_verify(tmp_path):
    from tests.test_replay import replay

    bundle = tf_crashed_bundle(tmp_path, "matmul", returncode=None, signal=None, timed_out=True)
    code, checks = replay(bundle, tmp_path=tmp_path)
    imp = checks["devices.import"]
    assert code == 1 and imp["status"] == "fail"
    assert imp["summary"].startswith("the TensorFlow probe hit its time limit") and "during stage matmul" in \
        imp["summary"]
    assert imp["fix"].startswith(".tools/bin/invoke verify --env ") and "--timeout 600" in imp["fix"]


@pytest.mark.parametrize("end,words,fix", [
    ({"returncode": -11, "signal": "SIGSEGV"}, "the TensorFlow probe died from SIGSEGV during stage matmul",
     "--out probe-crash"),
    ({"returncode": None, "timed_out": True}, "the TensorFlow probe hit its time limit (--timeout 30 s) during "
     "stage matmul", "--timeout 300")])
def test_a_tensorflow_child_that_died_after_its_import_is_a_failed_import_check(end, words, fix):
    tf = tf_facts(gpu_side=side(GPU, 0.01))
    del tf["matmul"]["gpu"]
    tf.update({"stage": "matmul", "timeout_s": 30.0})
    tf["process"].update(end)
    results, code = run(facts_for(machines.M1_NATIVE, tf=tf))
    imp = results["devices.import"]
    assert code == 1 and imp.status == Status.FAIL and imp.summary == words and fix in (imp.fix or "")
    assert imp.details[0] == "TensorFlow 2.19.1 imported in 2.0 s, before the probe stopped"
    assert results["matmul.cpu"].status == Status.PASS  # what it measured before it died is still judged
    assert results["matmul.gpu"].status == Status.SKIP and "stage matmul" in results["matmul.gpu"].summary
