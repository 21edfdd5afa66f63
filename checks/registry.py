"""Every check, in the order it runs and prints, and where each applies. To add a check, add a rule and a line
here.

A check ``needs`` gates: each gate is decided once per run from the facts (``GATES``), and a closed gate
skips every check that needs it with the gate's reason, so the reason is said once, by the check that owns it.
"""

from __future__ import annotations

from typing import Callable

from checks.facts import Facts
from checks.model import Check, Options, Result, skip
from checks.rules import architecture, environment, matmul, packages, tensorflow, training
from checks.rules.common import gpu_gate


def _environment_gate(facts: Facts, options: Options) -> Result | None:
    """The interpreter answers as the environment (environment.setup says why not, and how to rebuild it)."""
    why = environment.not_itself(facts)
    return skip("not judged: %s (environment.setup)" % why, "not judged: %s (environment.setup)" % why) if why \
        else None


GATES: dict[str, Callable[[Facts, Options], Result | None]] = {
    "environment": _environment_gate,
    # a GPU to run on: TensorFlow lists one (any platform), or a Metal one must be there; else skip with the reason
    # (fail with --require-gpu). devices.gpu, training.placement and training.speed ask the same gate themselves:
    # they still say what they saw without a GPU (the devices listed, the CPU's ops and step time)
    "gpu": lambda facts, options: gpu_gate(facts, options, "no GPU to run this check on"),
}
GPU = ("environment", "gpu")

CHECKS: tuple[Check, ...] = (
    Check("environment.setup", "Environment complete", environment.setup_marker, needs=()),
    Check("environment.lock", "Environment matches its lock", environment.lock_match),
    Check("architecture.interpreter", "Interpreter architecture", architecture.interpreter),
    Check("architecture.virtualization", "Bare metal or VM", architecture.virtualization),
    Check("architecture.macos", "macOS version", architecture.macos_version),
    Check("architecture.chip", "Chip and GPU", architecture.chip),
    Check("packages.tensorflow", "TensorFlow version", packages.tensorflow),
    Check("packages.metal", "tensorflow-metal pairing", packages.metal),
    Check("packages.consistency", "Package consistency", packages.consistency),
    Check("packages.project", "Project packages load beside TensorFlow", tensorflow.project_imports),
    Check("devices.import", "TensorFlow imports", tensorflow.imported),
    Check("devices.gpu", "GPU devices", tensorflow.gpus),
    Check("matmul.cpu", "CPU matmul (reference)", matmul.cpu),
    Check("matmul.gpu", "GPU matmul: placement and numbers", matmul.gpu, needs=GPU),
    Check("matmul.speedup", "GPU speedup over CPU", matmul.speedup, needs=GPU),
    Check("matmul.efficiency", "GPU efficiency (share of FP32 peak)", matmul.efficiency, needs=GPU),
    Check("training.losses", "Keras training: losses finite and falling", training.losses),
    Check("training.placement", "Training step: op placement census", training.placement),
    Check("training.agreement", "Training: GPU loss trajectory against the CPU's", training.agreement, needs=GPU),
    Check("training.fused", "Dense+bias+ReLU: graph (fused) vs eager vs float64", training.fused),
    Check("training.speed", "Training step time: GPU against CPU", training.speed),
)
