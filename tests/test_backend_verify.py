"""Verify on Keras 3 environments whose backend is PyTorch or JAX: the same check ids judge the backend child's facts.

Facts used here are real outputs only:
- tests/bundles/linux-torch-cpu and linux-jax-cpu: `python -m checks --record` in environments built by
  `invoke setup --backend torch|jax` on this Linux machine (no GPU);
- docs/gpu/*-keras-*.json: the same child on a lent NVIDIA GPU (benchmarks/gpu_backends.py), TF32 off and on;
- the Mac machines of tests/machines.py (recorded outputs), combined with the recorded Linux torch child (which found
  no MPS, as a torch without MPS reports it), to exercise why a Mac has no accelerator for each backend.
The end-to-end tests build real environments with `invoke setup --backend` and run `invoke verify` on them.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from checks import knowledge
from checks.bundle import read
from checks.cli import replayed
from checks.diagnose import diagnose
from checks.evaluate import evaluate
from checks.model import Options, Status
from checks.probes import backend_child
from checks.probes.system import derive
from checks.report import exit_code
from checks.rules.common import on_accelerator
from tests import machines
from tests.conftest import ROOT, invoke

K = knowledge.load()
BUNDLES = ROOT / "tests" / "bundles"
GPU_DIR = ROOT / "docs" / "gpu"


def recorded(backend: str) -> dict[str, Any]:
    """The recorded Linux bundle of this backend, replayed into facts as verify derives them."""
    bundle, _ = read(str(BUNDLES / ("linux-%s-cpu" % backend)))
    return replayed(bundle, "auto", K)


def run(facts: dict[str, Any], **opts: Any) -> tuple[dict[str, Any], int]:
    options = Options(**{"profile": facts.get("profile", "cpu"), **opts})
    outcomes = evaluate(facts, options, K)  # type: ignore[arg-type]
    return {o.check.id: o.result for o in outcomes}, exit_code(outcomes, options.strict)


def on_machine(backend: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The recorded Linux child of ``backend`` (no accelerator found) judged on another machine's recorded facts:
    the backend decided for that machine's platform, as verify decides it there."""
    facts = recorded(backend)
    facts["system"] = derive(raw)
    from checks.probes import framework

    facts["backend"] = framework.decide(facts["packages"], facts["system"]["platform"], K.matrix)
    return facts


def gpu_runs(pattern: str) -> list[str]:
    """The recorded GPU runs matching ``pattern`` (docs/gpu/CARD-keras-BACKEND[-tf32].json)."""
    return sorted(p.name for p in GPU_DIR.glob(pattern)) or [pytest.param("", marks=pytest.mark.skip(
        reason="no GPU run of the backend child recorded in docs/gpu"))]


def on_gpu(name: str) -> dict[str, Any]:
    """The recorded Linux bundle of the backend with its child replaced by the one recorded on the GPU machine."""
    child = json.loads((GPU_DIR / name).read_text(encoding="utf-8"))
    facts = recorded(child["backend"])
    facts["framework"] = child
    return facts


# --- recorded Linux environments: CPU parts judged, GPU parts skipped with the reason

@pytest.mark.parametrize("backend, label, reason", [
    ("torch", "PyTorch", "no MPS off macOS, and no CUDA GPU: this torch is built without CUDA"),
    ("jax", "JAX", "JAX lists no GPU here: RuntimeError: Unknown backend: 'gpu' requested"),
])
def test_a_recorded_linux_backend_env_judges_the_cpu_and_says_why_no_gpu(backend, label, reason):
    facts = recorded(backend)
    assert facts["backend"]["name"] == backend and facts["backend"]["decided_by"] == "setup's marker"
    r, code = run(facts)
    assert code == 0
    for check in ("environment.setup", "environment.lock", "packages.tensorflow", "devices.import", "matmul.cpu",
                  "training.losses", "training.placement"):
        assert r[check].status == Status.PASS, (check, r[check].summary)
    lock = r["environment.lock"].summary
    assert lock.startswith("all ") and "%s-cpu-linux" % backend in lock
    assert r["devices.import"].summary.startswith(label + " ")
    assert "no op census on this backend" in r["training.placement"].details[0]
    for check in ("devices.gpu", "matmul.gpu", "matmul.speedup", "training.agreement", "training.speed"):
        assert r[check].status == Status.SKIP and reason in r[check].summary, (check, r[check].summary)
    for check in ("packages.metal", "packages.project", "training.fused"):
        assert r[check].status == Status.SKIP
        assert "this environment's Keras runs on %s (backend %s" % (label, backend) in r[check].summary


def test_the_backend_is_decided_from_the_installed_distributions_without_a_marker():
    facts = recorded("jax")
    facts["packages"]["environment"]["marker"] = None
    from checks.probes import framework

    decided = framework.decide(facts["packages"], "linux-x86_64", K.matrix)
    assert (decided["name"], decided["decided_by"]) == ("jax", "installed distributions")


def test_require_gpu_fails_a_backend_env_without_an_accelerator():
    r, code = run(recorded("torch"), require_gpu=True)
    assert code == 1 and r["devices.gpu"].status == Status.FAIL and "--require-gpu" in r["devices.gpu"].summary
    assert r["matmul.gpu"].status == Status.FAIL


def test_json_keeps_its_shape_and_carries_the_backend(tmp_path):
    from tests.test_replay import replay

    code, checks = replay(BUNDLES / "linux-torch-cpu", tmp_path=tmp_path)
    assert code == 0 and checks["devices.gpu"]["status"] == "skip"
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["facts"]["backend"]["name"] == "torch" and data["facts"]["framework"]["stage"] == "done"
    assert set(data) >= {"schema_version", "checks", "facts", "summary", "exit_code"}


# --- the same child on Mac machines: why there is no accelerator

def test_torch_on_a_bare_metal_apple_silicon_mac_fails_without_mps():
    """M1, macOS 14.4.1, native: MPS should be there; the recorded child found none, so devices.gpu fails."""
    r, _ = run(on_machine("torch", machines.M1_NATIVE))
    assert r["devices.gpu"].status == Status.FAIL and "lists no MPS device" in r["devices.gpu"].summary
    assert "is_built() is False" in r["devices.gpu"].summary


@pytest.mark.parametrize("raw, words", [
    (machines.OLD_MACOS, "MPS needs macOS 14.0 (the matrix's range for PyTorch); this Mac runs macOS 11.7.10"),
    (machines.ROSETTA, "x86_64 Python under Rosetta: MPS needs a native arm64 Python"),
    (machines.GITHUB_ARM64_VM, "macOS VM: PyTorch lists no MPS device; GitHub: 'Nested-virtualization and Metal "
                               "Performance Shaders (MPS) are not supported"),
])
def test_torch_on_a_mac_that_cannot_have_mps_skips_with_the_reason(raw, words):
    r, _ = run(on_machine("torch", raw))
    assert r["devices.gpu"].status == Status.SKIP and words in r["devices.gpu"].summary, r["devices.gpu"].summary
    assert r["matmul.gpu"].status == Status.SKIP


def test_jax_on_a_mac_says_jax_metal_is_abandoned():
    r, _ = run(on_machine("jax", machines.M1_NATIVE))  # packages.consistency fails: Linux binaries on a Mac
    assert r["devices.gpu"].status == Status.SKIP
    assert "no GPU for JAX on a Mac: " in r["devices.gpu"].summary and "jax-metal is abandoned" in r[
        "devices.gpu"].summary


# --- the GPU run: the accelerator branches

@pytest.mark.parametrize("name", gpu_runs("*-keras-torch.json") + gpu_runs("*-keras-jax.json"))
def test_the_gpu_run_passes_the_accelerator_branches(name):
    facts = on_gpu(name)
    r, code = run(facts)
    assert code == 0, {k: v.summary for k, v in r.items() if v.status == Status.FAIL}
    assert r["devices.gpu"].status == Status.PASS and "CUDA (NVIDIA H" in r["devices.gpu"].summary
    for check in ("matmul.gpu", "matmul.speedup", "training.losses", "training.agreement", "training.placement"):
        assert r[check].status == Status.PASS, (check, r[check].summary)
    assert r["training.speed"].status in (Status.PASS, Status.WARN)  # a 50k-parameter model may lose on a GPU
    assert r["matmul.efficiency"].status == Status.SKIP  # the chip table holds Apple GPUs only
    assert all(on_accelerator(w) for w in r["training.placement"].facts["weights"])


@pytest.mark.parametrize("name", gpu_runs("*-keras-*-tf32.json"))
def test_tf32_on_the_gpu_is_caught_by_the_fp32_tolerances(name):
    """TF32 (JAX's default GPU matmul precision, PyTorch's default cuDNN convolutions) is not fp32."""
    r, code = run(on_gpu(name))
    failed = {c for c in ("matmul.gpu", "training.agreement") if r[c].status == Status.FAIL}
    assert code == 1 and failed, {c: r[c].summary for c in ("matmul.gpu", "training.agreement")}


@pytest.mark.parametrize("name", gpu_runs("*-keras-torch.json"))
def test_a_training_run_left_on_the_cpu_fails_placement(name):
    """The GPU torch run with the accelerator side's placement as the CPU side recorded it (weights on cpu)."""
    facts = on_gpu(name)
    tr = facts["framework"]["training"]
    tr["gpu"]["placement"] = copy.deepcopy(tr["cpu"]["placement"])
    r, _ = run(facts)
    assert r["training.placement"].status == Status.FAIL and "did not place it" in r["training.placement"].summary


# --- MPS fallback: counted from PyTorch's warning, sourced wording

FALLBACK = ("UserWarning: The operator 'aten::_foreach_mul_.Scalar' is not currently supported on the MPS backend and "
            "will fall back to run on the CPU. This may have performance implications.")  # landscape-2026.md; keras's
# torch backend cites this op (keras/src/backend/torch/core.py)


def test_fallback_warnings_are_counted_by_op():
    ops = backend_child.count_fallbacks([FALLBACK, FALLBACK, "another warning"], backend_child.fallback_pattern())
    assert ops == {"aten::_foreach_mul_.Scalar": 2}


@pytest.mark.parametrize("name", gpu_runs("*-keras-torch.json"))
def test_placement_warns_about_ops_that_fell_back_to_the_cpu(name):
    """The GPU torch run as MPS would record it with the fallback above: the device names mps, the ops counted."""
    facts = on_gpu(name)
    fw = facts["framework"]
    fw["devices"]["accelerator"], fw["devices"]["env"] = "mps", {"PYTORCH_ENABLE_MPS_FALLBACK": "1"}
    run_ = fw["training"]["gpu"]
    run_["placement"]["weights"] = [re.sub("cuda:0", "mps:0", w) for w in run_["placement"]["weights"]]
    run_["placement"]["output"] = "mps:0"
    run_["fallback"]["ops"] = backend_child.count_fallbacks([FALLBACK], backend_child.fallback_pattern())
    r, _ = run(facts)  # PyTorch warns once per process (TORCH_WARN_ONCE): one warning, the first op that fell back
    assert r["training.placement"].status == Status.WARN
    assert "ops ran on the CPU instead (PYTORCH_ENABLE_MPS_FALLBACK=1), at least: aten::_foreach_mul_.Scalar" in \
        r["training.placement"].summary


# --- diagnoses of the MPS messages

MPS_ERRORS = {
    "mps-float64": "TypeError: Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support "
                   "float64. Please use float32 instead.",
    "mps-op-not-implemented": "NotImplementedError: The operator 'aten::_linalg_solve_ex.result' is not currently "
                              "implemented for the MPS device. As a temporary fix, you can set the environment "
                              "variable `PYTORCH_ENABLE_MPS_FALLBACK=1` to use the CPU as a fallback for this op.",
}


@pytest.mark.parametrize("text, expected", [
    (MPS_ERRORS["mps-float64"], "mps-float64"),
    (MPS_ERRORS["mps-op-not-implemented"], "mps-op-not-implemented"),
    ("RuntimeError: MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, max allowed: "
     "1.70 GB).", "mps-oom-runner"),
    (FALLBACK, "mps-cpu-fallback"),
])
def test_the_mps_messages_are_diagnosed(text, expected):
    found = diagnose(text, K.signatures)
    assert found and found[0].id == expected, [d.id for d in found]
    if expected == "mps-op-not-implemented":
        assert found[0].fix.startswith("export PYTORCH_ENABLE_MPS_FALLBACK=1  #")
        assert "aten::_linalg_solve_ex.result" in found[0].fix and "CPU" in found[0].fix
    if expected == "mps-cpu-fallback":
        assert found[0].harmless


@pytest.mark.parametrize("name", gpu_runs("*-keras-torch.json"))
def test_an_mps_error_in_training_or_the_matmul_is_diagnosed_in_verify(name):
    """The sourced MPS wordings above as the GPU side's caught errors: the check says the cause and what helps."""
    facts = on_gpu(name)
    fw = facts["framework"]
    fw["training"]["gpu"] = {"requested": "mps", "error": MPS_ERRORS["mps-op-not-implemented"]}
    fw["matmul"]["gpu"] = {"requested": "mps", "error": MPS_ERRORS["mps-float64"]}
    r, code = run(facts)
    losses, matmul = r["training.losses"], r["matmul.gpu"]
    assert code == 1 and losses.status == matmul.status == Status.FAIL
    assert losses.summary.endswith("[mps-op-not-implemented]"), losses.summary
    assert any(d.startswith("what helps: export PYTORCH_ENABLE_MPS_FALLBACK=1") for d in losses.details), losses.details
    assert matmul.summary.endswith("[mps-float64]") and matmul.details[0].startswith("cause: "), matmul.details
    assert [d["id"] for d in losses.facts["diagnoses"]] == ["mps-op-not-implemented"]


# --- end to end: real environments, built by invoke setup --backend

@pytest.mark.parametrize("fixture, label", [("torch_env", "PyTorch"), ("jax_env", "JAX")])
def test_verify_judges_a_real_backend_env(request, tmp_path, fixture, label):
    env = request.getfixturevalue(fixture)
    out = tmp_path / "verify.json"
    done = invoke("verify", "--env", str(env), "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["id"]: c for c in json.loads(out.read_text())["checks"]}
    for check in ("environment.lock", "devices.import", "matmul.cpu", "training.losses", "training.placement"):
        assert checks[check]["status"] == "pass", (check, checks[check]["summary"])
    for check in ("devices.gpu", "matmul.gpu", "training.agreement", "training.fused", "packages.metal"):
        assert checks[check]["status"] == "skip", (check, checks[check]["summary"])
    assert "Keras runs on the CPU" in checks["devices.gpu"]["summary"]
    assert "%s imports" % label in done.stdout and "GPU devices (%s)" % label in done.stdout


# --- a child that imported its framework, then crashed or hung: devices.import fails, later checks say so

def crashed_bundle(tmp_path, stage: str, **process: Any):
    """The recorded linux-torch-cpu bundle, copied and edited into a child that died at ``stage``: the stage, the
    process record's end (``process``) and the results of the stages it never finished, removed."""
    import shutil

    path = tmp_path / "bundle"
    shutil.copytree(BUNDLES / "linux-torch-cpu", path)
    fw = json.loads((path / "framework.json").read_text())
    fw["stage"] = stage
    fw["process"].update(process)
    later = {"import": ("framework", "devices", "precision", "training", "matmul"),
             "devices": ("devices", "precision", "training", "matmul"), "training": ("training", "matmul"),
             "matmul": ("matmul",)}[stage]
    for key in later:
        fw.pop(key, None)
    (path / "framework.json").write_text(json.dumps(fw))
    return path


@pytest.mark.parametrize("stage", ["devices", "training", "matmul"])
def test_a_backend_child_that_segfaults_after_its_import_fails_verify(tmp_path, stage):
    from tests.test_replay import replay

    bundle = crashed_bundle(tmp_path, stage, returncode=-11, signal="SIGSEGV")
    code, checks = replay(bundle, tmp_path=tmp_path)
    imp = checks["devices.import"]
    assert code == 1 and imp["status"] == "fail", imp
    assert imp["summary"] == "the PyTorch probe died from SIGSEGV during stage %s" % stage
    assert imp["fix"].startswith(".tools/bin/invoke report --env ") and "--out probe-crash" in imp["fix"]
    if stage == "matmul":  # the training it finished is still judged
        assert checks["training.losses"]["status"] == "pass"
    for check in ("matmul.cpu",) + (("training.losses",) if stage != "matmul" else ()):
        assert checks[check]["status"] == "skip", checks[check]
        assert "version without it" not in checks[check]["summary"]
        assert "stage %s" % stage in checks[check]["summary"] and "devices.import" in checks[check]["summary"]


def test_a_backend_child_that_hits_its_time_limit_after_its_import_fails_verify(tmp_path):
    from tests.test_replay import replay

    bundle = crashed_bundle(tmp_path, "matmul", returncode=None, signal=None, timed_out=True)
    code, checks = replay(bundle, tmp_path=tmp_path)
    imp = checks["devices.import"]
    assert code == 1 and imp["status"] == "fail"
    assert imp["summary"] == "the PyTorch probe hit its time limit (--timeout 300 s) during stage matmul"
    assert imp["fix"].startswith(".tools/bin/invoke verify --env ") and "--timeout 600" in imp["fix"]


@pytest.mark.parametrize("process, summary, fix", [
    ({"returncode": -11, "signal": "SIGSEGV"}, "the PyTorch probe died from SIGSEGV while importing PyTorch",
     "--force"),
    ({"returncode": None, "signal": None, "timed_out": True},
     "the PyTorch probe hit its time limit of 300 s (--timeout) while importing PyTorch", "--timeout 600"),
])
def test_a_backend_child_that_dies_while_importing_its_framework_fails_verify(tmp_path, process, summary, fix):
    facts = replayed(read(str(crashed_bundle(tmp_path, "import", **process)))[0], "cpu", K)  # in-process: the
    outcomes = evaluate(facts, Options(profile="cpu"), K)  # fix census of tests/test_fixes.py sees these rules
    imp = next(o.result for o in outcomes if o.check.id == "devices.import")
    assert exit_code(outcomes) == 1 and imp.status == Status.FAIL and imp.summary == summary, imp
    assert fix in (imp.fix or "")


def test_a_backend_child_that_exits_non_zero_after_its_import_fails_verify(tmp_path):
    from tests.test_replay import replay

    code, checks = replay(crashed_bundle(tmp_path, "training", returncode=1), tmp_path=tmp_path)
    assert code == 1 and checks["devices.import"]["summary"] == ("the PyTorch probe exited with code 1 during "
                                                                 "stage training")


FAKE_TORCH = ("__version__ = '0.0+fake'\n\n\ndef __getattr__(name):  # the first device query crashes the process\n"
              "    import ctypes\n    ctypes.string_at(0)\n")


def test_a_real_backend_child_crashing_in_its_devices_stage_fails_the_import_check(tmp_path, monkeypatch):
    """The real child, against a fake torch (first on its path) that imports and then segfaults when asked for its
    devices; numpy is faked too, the child imports it after the framework."""
    from checks.probes import framework

    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text(FAKE_TORCH)
    (fake / "numpy").mkdir()
    (fake / "numpy" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    child = framework.collect({"name": "torch"}, budget_s=1.0, timeout_s=60.0)
    assert child["stage"] == "devices" and child["framework"]["version"] == "0.0+fake"
    assert child["process"]["signal"] == "SIGSEGV"
    facts = recorded("torch")
    facts["framework"] = child
    r, code = run(facts)
    assert code == 1 and r["devices.import"].status == Status.FAIL
    assert r["devices.import"].summary == ("the PyTorch probe died from SIGSEGV during stage devices "
                                           "[segmentation-fault]")  # diagnosed from its stderr
    assert any("Fatal Python error: Segmentation fault" in line for line in r["devices.import"].details)
    assert "--out probe-crash" in (r["devices.import"].fix or "")
    assert r["training.losses"].status == Status.SKIP and "stage devices" in r["training.losses"].summary


@pytest.mark.parametrize("name", gpu_runs("*-keras-torch.json"))
def test_a_crash_while_training_on_the_gpu_keeps_the_cpu_run_and_places_nothing(name):
    """The recorded GPU run edited into one that died training on the accelerator: the CPU side it saved first is
    judged, the placement (of a GPU run that never finished) is not passed on the CPU's."""
    facts = on_gpu(name)
    child = facts["framework"]
    child["stage"] = "training"
    child["process"].update(returncode=-11, signal="SIGSEGV")
    del child["training"]["gpu"], child["training"]["spent_s"], child["matmul"]
    r, code = run(facts)
    assert code == 1 and r["devices.import"].summary == "the PyTorch probe died from SIGSEGV during stage training"
    assert r["training.losses"].status == Status.PASS and "cpu" in r["training.losses"].summary
    assert r["training.placement"].status == Status.SKIP and "devices.import" in r["training.placement"].summary
    assert r["matmul.cpu"].status == Status.SKIP and "stage training" in r["matmul.cpu"].summary
