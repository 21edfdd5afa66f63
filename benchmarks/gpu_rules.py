"""Verify's own rules over facts gathered on a real GPU (benchmarks/gpu_facts_torch.py: PyTorch on CUDA).

The machine and package facts are the real Linux recording tests/bundles/linux-x86_64-training; its TensorFlow
facts are replaced by what the GPU run measured: a CUDA GPU listed (as TensorFlow lists one), the matmul on the CPU
and on the GPU, and the training probe's losses and step times on both. Then the same registry, gates and rules
as `invoke verify` judge them, with the default thresholds. What the replica could not measure in TensorFlow's
terms (the op census, the graph-mode fused dense) is judged as "not collected".

Usage: .tools/bin/python -m benchmarks.gpu_rules docs/gpu/h100-torch-fp32.json [docs/gpu/h100-torch-tf32.json]
"""

from __future__ import annotations

import copy
import json
import sys

from benchmarks.common import ROOT
from checks import bundle, knowledge, timing
from checks.cli import replayed
from checks.evaluate import evaluate
from checks.model import Options

FAMILIES = ("devices", "matmul", "training")
NOT_COLLECTED = ("training.placement", "training.fused")  # TensorFlow's census and graph fusion: no replica


def tf_device(torch_device: str) -> str:
    """PyTorch's device of a result (``cuda:0``, ``cpu``) in TensorFlow's words (``.../device:GPU:0``)."""
    kind, _, index = torch_device.partition(":")
    return "/job:localhost/replica:0/task:0/device:%s:%s" % ("GPU" if kind == "cuda" else "CPU", index or "0")


def judge(path: str) -> int:
    k = knowledge.load()
    gathered = json.loads(open(path, encoding="utf-8").read())
    recorded, _ = bundle.read(str(ROOT / "tests" / "bundles" / "linux-x86_64-training"))
    facts = replayed(recorded, "auto", k)
    tf = copy.deepcopy(facts["tensorflow"])
    name = gathered["machine"].split(", ", 1)[-1]
    tf["tensorflow"]["gpus"] = ["/physical_device:GPU:0"]
    tf["tensorflow"]["gpu_details"] = [{"device_name": name, "compute_capability": "(9, 0)"}]
    tf["matmul"] = gathered["matmul"]
    tf["matmul"]["tolerance"] = timing.fp32_tolerance(tf["matmul"]["n"])  # as the TensorFlow probe sets it
    for side in ("cpu", "gpu"):
        run = tf["matmul"][side]
        run["requested"], run["placed"] = "/%s:0" % side.upper(), tf_device(run["placed"])
    tf["training"] = gathered["training"]
    for side in ("cpu", "gpu"):
        tf["training"][side]["requested"] = "/%s:0" % side.upper()
    tf["process"]["stderr"] = ""
    facts["tensorflow"] = tf
    outcomes = evaluate(facts, Options(profile=facts["profile"]), k)
    print("%s (%s)" % (path, gathered["gathered_with"]))
    for o in outcomes:
        if o.check.id in NOT_COLLECTED:
            print("  %-20s ---- not collected by the PyTorch replica" % o.check.id)
        elif o.check.family in FAMILIES:
            print("  %-20s %-4s %s" % (o.check.id, o.result.status.value, o.result.summary[:150]))
    return 0


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        judge(arg)
