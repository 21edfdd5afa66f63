"""Every check, in the order it runs and prints, and where each applies. To add a check, add a rule and a line
here.

A check ``needs`` gates: each gate is decided once per run from the facts (``GATES``), and a closed gate
skips every check that needs it with the gate's reason, so the reason is said once, by the check that owns it.

Where Keras runs on PyTorch or JAX (the environment's backend, ``checks.probes.framework.decide``) the same ids judge
that framework: TensorFlow-only checks need the ``tensorflow`` gate, and a check whose facts differ by framework names
both rules (``by_backend``).
"""

from __future__ import annotations

from typing import Callable

from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Check, Options, Result, skip
from checks.rules import architecture, backend, environment, matmul, packages, tensorflow, training
from checks.rules.common import backend_name, framework_label, gpu_gate, is_tensorflow

Rule = Callable[[Facts, Options, Knowledge], Result]


def _environment_gate(facts: Facts, options: Options) -> Result | None:
    """The interpreter answers as the environment (environment.setup says why not, and how to rebuild it)."""
    why = environment.not_itself(facts)
    return skip("not judged: %s (environment.setup)" % why, "not judged: %s (environment.setup)" % why) if why \
        else None


def _tensorflow_gate(facts: Facts, options: Options) -> Result | None:
    """TensorFlow itself is what is checked: not where Keras runs on another framework (the environment's backend)."""
    if is_tensorflow(facts):
        return None
    why = "a TensorFlow check: this environment's Keras runs on %s (backend %s, from %s)" % (
        framework_label(facts), backend_name(facts), (facts.get("backend") or {}).get("decided_by") or "?")
    return skip(why, why)


def by_backend(tensorflow_rule: Rule, other: Rule) -> Rule:
    """A check judged by ``tensorflow_rule`` in a TensorFlow environment and by ``other`` where Keras runs on PyTorch
    or JAX (the same id and meaning, other facts)."""
    def rule(facts: Facts, options: Options, k: Knowledge) -> Result:
        return (tensorflow_rule if is_tensorflow(facts) else other)(facts, options, k)

    rule.__doc__ = "TensorFlow: %s; other backends: %s" % (tensorflow_rule.__doc__, other.__doc__)
    return rule


GATES: dict[str, Callable[[Facts, Options], Result | None]] = {
    "environment": _environment_gate,
    "tensorflow": _tensorflow_gate,
    # a GPU to run on: TensorFlow lists one (any platform), or a Metal one must be there; else skip with the reason
    # (fail with --require-gpu). devices.gpu, training.placement and training.speed ask the same gate themselves:
    # they still say what they saw without a GPU (the devices listed, the CPU's ops and step time)
    "gpu": lambda facts, options: gpu_gate(facts, options, "no GPU to run this check on"),
}
GPU = ("environment", "gpu")
TENSORFLOW = ("environment", "tensorflow")

CHECKS: tuple[Check, ...] = (
    Check("environment.setup", "Environment complete", environment.setup_marker, needs=()),
    Check("environment.lock", "Environment matches its lock", environment.lock_match),
    Check("architecture.interpreter", "Interpreter architecture", architecture.interpreter),
    Check("architecture.virtualization", "Bare metal or VM", architecture.virtualization),
    Check("architecture.macos", "macOS version", architecture.macos_version),
    Check("architecture.chip", "Chip and GPU", architecture.chip),
    Check("packages.tensorflow", "TensorFlow version", by_backend(packages.tensorflow, backend.framework_version),
          backend_title="{framework} and Keras versions"),
    Check("packages.metal", "tensorflow-metal pairing", packages.metal, needs=TENSORFLOW),
    Check("packages.consistency", "Package consistency", packages.consistency),
    Check("packages.project", "Project packages load beside TensorFlow", tensorflow.project_imports,
          needs=TENSORFLOW),
    Check("devices.import", "TensorFlow imports", by_backend(tensorflow.imported, backend.imported),
          backend_title="{framework} imports"),
    Check("devices.gpu", "GPU devices", by_backend(tensorflow.gpus, backend.devices),
          backend_title="GPU devices ({framework})"),
    Check("matmul.cpu", "CPU matmul (reference)", matmul.cpu),
    Check("matmul.gpu", "GPU matmul: placement and numbers", matmul.gpu, needs=GPU),
    Check("matmul.speedup", "GPU speedup over CPU", matmul.speedup, needs=GPU),
    Check("matmul.efficiency", "GPU efficiency (share of FP32 peak)", matmul.efficiency, needs=GPU),
    Check("training.losses", "Keras training: losses finite and falling", training.losses),
    Check("training.placement", "Training step: op placement census", by_backend(training.placement,
                                                                                   backend.placement),
          backend_title="Training step: placement (weights and output; no op census outside TensorFlow)"),
    Check("training.agreement", "Training: GPU loss trajectory against the CPU's", training.agreement, needs=GPU),
    Check("training.fused", "Dense+bias+ReLU: graph (fused) vs eager vs float64", training.fused,
          needs=TENSORFLOW),
    Check("training.speed", "Training step time: GPU against CPU", training.speed),
)
