"""The training rules on facts from a real run on this machine (tests/fixtures/training-linux.json).

The fixture is the TensorFlow child's real output (tests/record_training.py says how it was made): it
trained on /CPU:0 and, asked for /GPU:0 with soft placement on, on the CPU again, since this machine has
no GPU. Each test below alters one recorded value (or, for a Mac-shaped run, relabels the GPU side's
census from CPU:0 to GPU:0) and says which.
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from checks import knowledge
from checks.model import Status
from checks.rules import training as rules
from tests import machines
from tests.conftest import ROOT
from tests.test_rules import GPU, facts_for, run, side, tf_facts

FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "training-linux.json").read_text(encoding="utf-8"))


def recorded() -> dict:
    """The real training facts, as recorded."""
    return copy.deepcopy(FIXTURE["training"])


def on_gpu(tr: dict) -> dict:
    """What a Mac whose GPU ran the step would record: the GPU side's census relabelled CPU:0 -> GPU:0."""
    census = tr["gpu"]["census"]
    census["by_device"] = {"GPU:0": census["by_device"].pop("CPU:0")}
    census["ops"] = {"GPU:0": census["ops"].pop("CPU:0")}
    return tr


def results(tr: dict, tf_version: str = "2.19.1", **options):
    tf = tf_facts(gpu_side=side(GPU, 0.01))
    tf["tensorflow"]["version"] = tf_version
    tf["training"] = tr
    return run(facts_for(machines.M1_NATIVE, tf=tf), **options)


def test_the_recorded_run_is_what_it_claims():
    tr = recorded()
    assert FIXTURE["tensorflow"]["version"] == "2.19.1" and tr["steps"] == len(tr["cpu"]["losses"]) == 10
    assert tr["gpu"]["requested"] == "/GPU:0" and set(tr["gpu"]["census"]["by_device"]) == {"CPU:0"}
    assert all(math.isfinite(v) for v in tr["cpu"]["losses"] + tr["gpu"]["losses"])
    assert tr["fused"]["fused_op"] and "Fused" in tr["fused"]["fused_op"]  # Grappler fused it: the path under test


def test_a_mac_shaped_run_passes_the_training_family():
    """Altered: the GPU side's census device label only (CPU:0 -> GPU:0)."""
    r, code = results(on_gpu(recorded()))
    for check in ("training.losses", "training.placement", "training.agreement", "training.fused"):
        assert r[check].status == Status.PASS, (check, r[check].summary)
    assert "matmul 6 on GPU:0" in r["training.placement"].details[0]
    assert "largest relative difference" in r["training.agreement"].summary


def test_the_unaltered_recording_is_a_whole_step_on_the_cpu_and_fails_on_metal():
    """Nothing altered: asked for the GPU, TensorFlow ran every op of the step on the CPU (soft placement)."""
    r, code = results(recorded())
    p = r["training.placement"]
    assert code == 1 and p.status == Status.FAIL
    assert "whole training step ran on the CPU" in p.summary and "218 on CPU:0" in p.summary


def test_a_nan_loss_fails_naming_the_step_and_device():
    """Altered: the GPU's 4th loss -> NaN (as the community plugin's optimizer-slot race produced)."""
    tr = on_gpu(recorded())
    tr["gpu"]["losses"][3] = float("nan")
    r, code = results(tr)
    assert code == 1
    assert r["training.losses"].status == Status.FAIL
    assert "GPU:0: loss is nan at step 4 of 10" in r["training.losses"].summary
    assert r["training.agreement"].status == Status.FAIL and "step 4" in r["training.agreement"].summary


def test_a_diverging_trajectory_fails_naming_the_step():
    """Altered: the GPU's 7th loss x 1.001 (1e-3 relative, above the fp32 tolerance of 3.3e-5 there)."""
    tr = on_gpu(recorded())
    tr["gpu"]["losses"][6] *= 1.001
    r, code = results(tr)
    a = r["training.agreement"]
    assert code == 1 and a.status == Status.FAIL
    assert "departs from the CPU's at step 7 of 10" in a.summary and "> fp32 tolerance 3.30e-05" in a.summary
    assert r["training.losses"].status == Status.PASS  # still finite and falling: only the comparison sees it


def test_heavy_ops_on_the_cpu_warn_with_the_known_reason():
    """Altered: the optimizer's AssignSubVariableOp moved from GPU:0 to CPU:0 in the GPU side's census."""
    tr = on_gpu(recorded())
    census = tr["gpu"]["census"]
    moved = census["ops"]["GPU:0"].pop("AssignSubVariableOp")
    census["ops"]["CPU:0"] = {"AssignSubVariableOp": moved}
    census["by_device"] = {"CPU:0": moved, "GPU:0": census["by_device"]["GPU:0"] - moved}
    r, code = results(tr, tf_version="2.21.0")
    p = r["training.placement"]
    assert code == 0 and p.status == Status.WARN
    assert "AssignSubVariableOp ×6" in p.summary and "#126374" in p.details[0]
    r, _ = results(tr, tf_version="2.19.1")  # on 2.19 the plugin version gap does not apply: the generic reason
    assert "no GPU kernel" in r["training.placement"].details[0]


def test_a_slow_gpu_warns_with_the_model_size_and_fails_the_gate():
    """Altered: the GPU's median step time -> twice the CPU's."""
    tr = on_gpu(recorded())
    tr["gpu"]["median_step_ms"] = 2 * tr["cpu"]["median_step_ms"]
    r, code = results(tr)
    s = r["training.speed"]
    assert code == 0 and s.status == Status.WARN
    assert "0.50×" in s.summary and "50,618-parameter model, batch 64" in s.summary
    r, code = results(tr, min_train_speedup=1.2)
    assert code == 1 and r["training.speed"].status == Status.FAIL and "--min-train-speedup 1.20" in \
        r["training.speed"].summary
    tr["gpu"]["median_step_ms"] = tr["cpu"]["median_step_ms"] / 0.1996  # rounds to the gate's 0.20 at 2 digits
    r, _ = results(tr, min_train_speedup=0.2)
    assert r["training.speed"].status == Status.FAIL and ": 0.1996× (" in r["training.speed"].summary and \
        r["training.speed"].summary.endswith("below --min-train-speedup 0.2000×")


def test_a_fast_gpu_passes_the_gate():
    """Altered: the GPU's median step time -> a third of the CPU's."""
    tr = on_gpu(recorded())
    tr["gpu"]["median_step_ms"] = tr["cpu"]["median_step_ms"] / 3
    r, _ = results(tr, min_train_speedup=2.0)
    assert r["training.speed"].status == Status.PASS and "3.00×" in r["training.speed"].summary


def test_a_wrong_fused_result_fails_naming_the_graph_path():
    """Altered: the graph-mode (fused) error -> 3e-2, an error of "tens of units" scaled by |x||w|+|b|."""
    tr = on_gpu(recorded())
    tr["fused"]["graph_error"] = 3e-2
    r, code = results(tr)
    f = r["training.fused"]
    assert code == 1 and f.status == Status.FAIL
    assert "graph mode (tf.function, %s)" % tr["fused"]["fused_op"] in f.summary and "3.00e-02" in f.summary


def test_cpu_profile_skips_the_gpu_comparisons_with_the_reason_and_keeps_the_cpu_figures():
    """Nothing altered: the recorded Linux run judged as the cpu profile (its CPU side only)."""
    tr = recorded()
    del tr["gpu"]
    tf = tf_facts(gpus=())
    tf["training"] = tr
    r, code = run(facts_for(machines.M1_NATIVE, tf=tf), profile="cpu")
    assert code == 0
    assert r["training.losses"].status == r["training.placement"].status == r["training.fused"].status == Status.PASS
    assert r["training.agreement"].status == Status.SKIP and "cpu profile" in r["training.agreement"].summary
    assert r["training.speed"].status == Status.SKIP and "ms per step" in r["training.speed"].summary


def test_the_trajectory_tolerance_is_the_derived_bound():
    assert rules.trajectory_tolerance(0) == pytest.approx(2 * math.sqrt(1568) * 2**-24)
    assert rules.trajectory_tolerance(9) == pytest.approx(10 * rules.trajectory_tolerance(0))


@pytest.mark.parametrize("op,kind", [("MatMul", "matmul"), ("_FusedMatMul", "matmul"), ("_MklNativeFusedMatMul",
                                     "matmul"), ("Conv2DBackpropFilter", "conv"), ("ResourceApplyAdam", "optimizer"),
                                     ("AssignSubVariableOp", "optimizer"), ("ReadVariableOp", None), ("Relu", None)])
def test_heavy_ops_are_classified(op, kind):
    assert knowledge.load().training.heavy_kind(op) == kind


def test_a_training_probe_that_failed_as_a_whole_fails_once_and_the_rest_skip():
    """Altered: the whole training record replaced by the error a missing Keras would give."""
    r, code = results({"error": "ModuleNotFoundError: No module named 'keras'"})
    assert code == 1 and r["training.losses"].status == Status.FAIL and "No module named 'keras'" in \
        r["training.losses"].summary
    for check in ("training.placement", "training.agreement", "training.fused", "training.speed"):
        assert r[check].status == Status.SKIP and "see training.losses" in r[check].summary


def test_the_matmul_gets_what_the_training_probe_left_of_the_budget_but_at_least_half():
    from checks.probes.tf_child import matmul_budget

    assert matmul_budget(3.0, 0.9) == pytest.approx(2.1)
    assert matmul_budget(0.5, 0.9) == pytest.approx(0.25)  # a tiny budget overruns by the difference


@pytest.mark.parametrize("text", ['{"heavy_ops": {"matmul": ["MatMul"]}}', "not json",
                                  '{"heavy_ops": {}, "host_reasons": [{"kind": "other"}]}'])
def test_a_malformed_training_table_is_one_line(tmp_path, text):
    from checks.matrix import MatrixError

    path = tmp_path / "training.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MatrixError, match="training .*training.json"):
        knowledge.load_training(path)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_an_infinite_loss_fails_as_a_nan_does(value):
    """Altered: the GPU's 4th loss -> inf, then -inf (an overflow is as wrong as a NaN)."""
    tr = on_gpu(recorded())
    tr["gpu"]["losses"][3] = value
    r, code = results(tr)
    assert code == 1 and r["training.losses"].status == Status.FAIL
    assert "GPU:0: loss is %s at step 4 of 10" % value in r["training.losses"].summary
    assert r["training.agreement"].status == Status.FAIL and "step 4" in r["training.agreement"].summary


def test_a_nan_on_the_gpu_alone_fails_the_agreement():
    """Altered: the GPU's last loss -> NaN; the agreement check says so on its own (NaN is never within)."""
    tr = on_gpu(recorded())
    tr["gpu"]["losses"][-1] = math.nan
    r, _ = results(tr)
    assert r["training.agreement"].status == Status.FAIL and "at step 10 of 10" in r["training.agreement"].summary


def test_a_loss_that_did_not_move_fails():
    """Altered: every loss on the GPU -> the first one (Adam on a fixed batch must lower it)."""
    tr = on_gpu(recorded())
    tr["gpu"]["losses"] = [tr["gpu"]["losses"][0]] * len(tr["gpu"]["losses"])
    r, _ = results(tr)
    assert r["training.losses"].status == Status.FAIL and "did not fall in 10 steps" in r["training.losses"].summary


@pytest.mark.parametrize("key", ["graph_error", "eager_error"])
def test_a_nan_fused_result_fails(key):
    """Altered: the graph (then eager) dense+bias+ReLU error -> NaN."""
    tr = on_gpu(recorded())
    tr["fused"][key] = math.nan
    r, _ = results(tr)
    assert r["training.fused"].status == Status.FAIL and "error nan against float64" in r["training.fused"].summary


def test_the_training_gate_is_inclusive_and_equal_speed_does_not_warn():
    """Altered: the GPU's median step time -> exactly the CPU's / 2 (the gate), then exactly the CPU's."""
    tr = on_gpu(recorded())
    tr["gpu"]["median_step_ms"] = tr["cpu"]["median_step_ms"] / 2
    r, _ = results(tr, min_train_speedup=2.0)
    assert r["training.speed"].status == Status.PASS and "2.00×" in r["training.speed"].summary
    tr["gpu"]["median_step_ms"] = tr["cpu"]["median_step_ms"]
    r, _ = results(tr)
    assert r["training.speed"].status == Status.PASS and "1.00×" in r["training.speed"].summary
