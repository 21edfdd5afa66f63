"""Every check, in the order it runs and prints, and where each applies. To add a check, add a rule and a line
here.

A check ``needs`` gates: each gate is decided once per run from the facts (``GATES``), and a closed gate
skips every check that needs it with the gate's reason, so the reason is said once, by the check that owns it.
"""

from __future__ import annotations

from typing import Callable

from checks.facts import Facts
from checks.model import Check
from checks.rules import architecture, environment, matmul, packages, tensorflow, training

GATES: dict[str, Callable[[Facts], str | None]] = {
    # the interpreter answers as the environment (environment.setup says why not, and how to rebuild it)
    "environment": lambda facts: "not judged: %s (environment.setup)" % environment.not_itself(facts)
    if environment.not_itself(facts) else None,
}

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
    Check("matmul.gpu", "GPU matmul: placement and numbers", matmul.gpu),
    Check("matmul.speedup", "GPU speedup over CPU", matmul.speedup),
    Check("matmul.efficiency", "GPU efficiency (share of FP32 peak)", matmul.efficiency),
    Check("training.losses", "Keras training: losses finite and falling", training.losses),
    Check("training.placement", "Training step: op placement census", training.placement),
    Check("training.agreement", "Training: GPU loss trajectory against the CPU's", training.agreement),
    Check("training.fused", "Dense+bias+ReLU: graph (fused) vs eager vs float64", training.fused),
    Check("training.speed", "Training step time: GPU against CPU", training.speed),
)
