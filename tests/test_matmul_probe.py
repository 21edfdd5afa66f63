"""The matmul probe with real TensorFlow on this machine, which has no GPU."""

from __future__ import annotations

import pytest

from checks import knowledge
from checks.evaluate import evaluate
from checks.model import Options, Status
from checks.probes import tensorflow
from checks.probes.system import derive
from tests import machines
from tests.conftest import invoke
from tests.test_rules import packages

pytestmark = [pytest.mark.slow, pytest.mark.network]


def gpu_result(tf_facts):
    facts = {"system": derive(machines.M1_NATIVE), "packages": packages(), "tensorflow": tf_facts}
    return {o.check.id: o.result for o in evaluate(facts, Options(profile="metal"), knowledge.load())}["matmul.gpu"]


def test_soft_placement_trap_is_caught(tf_env):
    """Asked for the GPU with soft placement on (the usual advice), TensorFlow silently used the CPU."""
    tf = tensorflow.collect(budget_s=0.3, gpu=True, timeout_s=120, soft_placement=True, size=256,
                            python=str(tf_env / "bin" / "python"))
    assert tf["matmul"]["gpu"]["placed"].endswith("device:CPU:0")  # the trap, for real
    r = gpu_result(tf)
    assert r.status == Status.FAIL
    assert "requested /GPU:0" in r.summary and "device:CPU:0" in r.summary and "silent CPU fallback" in r.summary


def test_with_soft_placement_off_tensorflow_refuses_and_the_check_says_so(tf_env):
    tf = tensorflow.collect(budget_s=0.3, gpu=True, timeout_s=120, size=256, python=str(tf_env / "bin" / "python"))
    assert "Could not satisfy device specification" in tf["matmul"]["gpu"]["error"]
    r = gpu_result(tf)
    assert r.status == Status.FAIL and "refused to place the matmul on /GPU:0" in r.summary


def test_trace_writes_a_profiler_trace_and_says_how_to_open_it(tf_env, tmp_path):
    trace = tmp_path / "trace dir"
    done = invoke("verify", "--env", str(tf_env), "--budget", "0.3", "--trace", str(trace))
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(trace.rglob("*.xplane.pb")), list(trace.rglob("*"))
    assert "tensorboard --logdir %s" % trace in done.stdout
